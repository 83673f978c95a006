/* tinyasc's int8 kernels as a library: every kernel declared once, with external linkage.
 * Each kernel is defined in the .c file of its name, whose header comment gives its layouts,
 * dtypes and ranges; names follow tas_<op>[_<variant>]_<in>[_<out>]. All are batch 1, NHWC,
 * bit-exact with TFLM's reference kernels. tests/test_kernel_library.py builds the library with
 * the host's gcc and with arm-none-eabi-gcc (DSP and non-DSP cores), warnings as errors.
 *
 * A generated model.c does not include this header: it pastes the kernels it calls, and the
 * headers they include, into its one translation unit with TAS_KERNEL defined as `static`, so the
 * compiler inlines and specializes each kernel at its call (tinyasc/compile/kernel_library.py). */
#ifndef TAS_KERNELS_H
#define TAS_KERNELS_H

#include <stdint.h>

#include "tas_conv2d_common.h"
#include "tas_float_boundary.h"
#include "tas_kernel_params.h"
#include "tas_pool2d_common.h"
#include "tas_ws_conv_common.h"

/* How each kernel is defined: an external function in the library (a model defines it as static). */
#ifndef TAS_KERNEL
#define TAS_KERNEL
#endif
/* The sparse kernels, which a model always inlines so that each call's row step is a constant, and
 * the depthwise and first-layer conv kernels, inlined so that each layer's shape and channel count are
 * (a model calls the first-layer kernel for several layers: a static function would not be specialised). */
#ifndef TAS_KERNEL_INLINE
#define TAS_KERNEL_INLINE
#endif

/* ---- convolution and fully connected ---- */
void tas_conv2d_s8(const tas_conv2d_params *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
                   const int32_t *multiplier, const int32_t *shift, int8_t *output);
void tas_conv2d_rows_s8(const tas_conv2d_params *p, const int8_t *input, const int32_t *packed_filter,
                        const int32_t *folded_bias, const int32_t *multiplier, const int32_t *shift,
                        int32_t quant_step, int8_t *output);
void tas_conv2d_rows_s8_dsp(const tas_conv2d_params *p, const int8_t *input, const int32_t *packed_filter,
                            const int32_t *folded_bias, const int32_t *multiplier, const int32_t *shift,
                            int8_t *output);
void tas_conv2d_1x1_s8_dsp(const tas_conv2d_params *p, const int8_t *input, const int32_t *packed_filter,
                           const int32_t *folded_bias, const int32_t *multiplier, const int32_t *shift,
                           int32_t quant_step, int32_t fast_requant, int32_t *scratch, int8_t *output);
void tas_conv2d_1x1_s8_dsp_step(const tas_conv2d_params *p, const int8_t *input, const int32_t *packed_filter,
                                const int32_t *folded_bias, const int32_t *multiplier, const int32_t *shift,
                                int32_t quant_step, int32_t fast_requant, int32_t *scratch, int8_t *output,
                                int8_t *carry_output, int32_t step, int32_t steps);
void tas_conv2d_im2col_s8(const tas_conv2d_params *p, const int8_t *input, const int32_t *packed_filter,
                          const int32_t *folded_bias, const int32_t *multiplier, const int32_t *shift,
                          int32_t quant_step, int32_t *scratch, int8_t *output);
void tas_conv2d_im2col_s8_dsp(const tas_conv2d_params *p, const int8_t *input, const int32_t *packed_filter,
                              const int32_t *folded_bias, const int32_t *multiplier, const int32_t *shift,
                              int32_t quant_step, int32_t *scratch, int8_t *output);
void tas_conv2d_first_s8_dsp(const tas_conv2d_params *p, const int8_t *input, const int32_t *widened_filter,
                             const int32_t *channels, int32_t fast_requant, int32_t *scratch, int8_t *output);
void tas_conv2d_sparse_s8(const tas_conv2d_params *p, const int8_t *input, const uint16_t *counts,
                          const int8_t *entries, const int32_t *folded_bias, const int32_t *multiplier,
                          const int32_t *shift, int8_t *output);
void tas_depthwise_conv2d_s8(const tas_conv2d_params *p, const int8_t *input, const int8_t *filter, const int32_t *bias,
                             const int32_t *requantization, int8_t *output);
void tas_depthwise_conv2d_s8_dsp(const tas_conv2d_params *p, const int8_t *input, const int32_t *packed_filter,
                                 const int32_t *bias, const int32_t *requantization, int8_t *output);
void tas_depthwise_conv2d_s8_rows(const tas_conv2d_params *p, const int8_t *input, const int8_t *filter,
                                  const int32_t *bias, const int32_t *requantization, int8_t *output,
                                  int32_t first_row, int32_t end_row);
void tas_depthwise_conv2d_s8_dsp_rows(const tas_conv2d_params *p, const int8_t *input, const int32_t *packed_filter,
                                      const int32_t *bias, const int32_t *requantization, int8_t *output,
                                      int32_t first_row, int32_t end_row);
void tas_fully_connected_s8(const tas_fully_connected_params *p, const int8_t *input, const int8_t *weights,
                            const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output);
void tas_fully_connected_s8_dsp(const tas_fully_connected_params *p, const int8_t *input, const int32_t *stream,
                                int32_t with_bias, const int32_t *requant, int32_t requant_step, int32_t fast_requant,
                                int32_t widened_quads, int32_t *widened, int8_t *output);
void tas_fully_connected_blocked_s8(const tas_fully_connected_params *p, const int8_t *input,
                                    const int32_t *packed_weights, const int32_t *folded_bias,
                                    const int32_t *multiplier, const int32_t *shift, int32_t quant_step,
                                    int8_t *output);
void tas_fully_connected_sparse_s8(const tas_fully_connected_sparse_params *p, const int8_t *input,
                                   const uint16_t *counts, const int8_t *entries, const int32_t *folded_bias,
                                   const int32_t *multiplier, const int32_t *shift, int8_t *output);
void tas_ws_conv_im2col_s8(const tas_ws_conv_params *p, const int8_t *input, const int32_t *packed_kernel,
                           const int32_t *folded_bias, const int32_t *multiplier, const int32_t *shift,
                           int32_t quant_step, int32_t *scratch, int8_t *output);
void tas_ws_conv_im2col_s8_dsp(const tas_ws_conv_params *p, const int8_t *input, const int32_t *packed_kernel,
                               const int32_t *folded_bias, const int32_t *multiplier, const int32_t *shift,
                               int32_t quant_step, int32_t *scratch, int8_t *output);
void tas_ws_conv_direct_s8(const tas_ws_conv_params *p, const int8_t *input, const int8_t *kernel,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *output);
void tas_ws_conv_integral_s8(const tas_ws_conv_params *p, const int8_t *input, const int8_t *condensed,
                             const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                             int32_t *scratch, int8_t *output);
void tas_ws_conv_integral_s8_dsp(const tas_ws_conv_params *p, const int8_t *input, const int8_t *condensed,
                                 const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                                 int32_t quant_step, int32_t *scratch, int8_t *output);

/* ---- pooling and reduction ---- */
void tas_max_pool2d_s8(const tas_pool2d_params *p, const int8_t *input, int8_t *output);
void tas_max_pool2d_s8_dsp(const tas_pool2d_params *p, const int8_t *input, int8_t *output);
void tas_max_pool2d_runs_s8_dsp(const tas_pool2d_params *p, const int8_t *input, int8_t *output);
void tas_avg_pool2d_s8(const tas_pool2d_params *p, const int8_t *input, int8_t *output);
void tas_avg_pool2d_s8_dsp(const tas_pool2d_params *p, const int8_t *input, int8_t *output);
void tas_mean_s8(const tas_mean_params *p, const int8_t *input, int8_t *output);

/* ---- element-wise and activations ---- */
void tas_add_s8(const tas_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output);
void tas_mul_s8(const tas_mul_params *p, const int8_t *input1, const int8_t *input2, int8_t *output);
void tas_add_fast_s8(const tas_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output);
void tas_add_lut_s8(const tas_add_params *p, const int8_t *input1, const int8_t *input2, const int32_t *table,
                    int32_t exact_first, int32_t exact_negative, int8_t *output);
void tas_add_table_s8(const tas_add_params *p, const int8_t *input1, const int8_t *input2, int32_t *scratch,
                      int8_t *output);
void tas_mul_fast_s8(const tas_mul_params *p, const int8_t *input1, const int8_t *input2, int8_t *output);
void tas_lut_s8(const tas_lut_params *p, const int8_t *table, const int8_t *input, int8_t *output);
void tas_softmax_s8(const tas_softmax_params *p, const int32_t *exp_of_difference, const int8_t *input,
                    int8_t *output);

/* ---- data movement ---- */
void tas_concatenation_s8(const tas_concatenation_params *p, const int8_t *const *parts, const int32_t *copy_sizes,
                          int8_t *output);
void tas_pad_s8(const tas_pad_params *p, const int8_t *input, int8_t *output);
void tas_strided_copy_s8(const tas_strided_copy_params *p, const int8_t *input, int8_t *output);

/* ---- the float32 boundary of a model with float input/output ---- */
void tas_quantize_f32_s8(const tas_float_boundary_params *p, float scale, const float *input, int8_t *output);
void tas_dequantize_s8_f32(const tas_float_boundary_params *p, float scale, const int8_t *input, float *output);

#endif /* TAS_KERNELS_H */
