/* int8 convolution when every output row reads one contiguous input window: no padding,
 * dilation 1, one group, and a filter as wide as the input (a 1-D convolution in 2-D form).
 * Then window k of output row y is input[y * stride_height * input_width * input_depth + k] and
 * the filter is stored in the same order, so the dot product runs over one flat array.
 * The input zero point is folded into the bias at export time:
 *   Σ w·(x + input_offset) = Σ w·x + input_offset·Σ w  →  folded_bias = bias + input_offset·Σ w.
 * Same layouts and the same bit-exact results as tas_conv2d_s8. */
#include "tas_kernels.h"
#include "tas_conv2d_common.h"
#include "tas_requantize.h"

TAS_KERNEL void tas_conv2d_rows_s8(const tas_conv2d_params *p, const int8_t *input, const int8_t *filter,
                                   const int32_t *folded_bias, const int32_t *multiplier, const int32_t *shift,
                                   int8_t *output)
{
    const int32_t window = p->filter_height * p->filter_width * p->filter_depth;
    const int32_t row_step = p->stride_height * p->input_width * p->input_depth;
    for (int32_t out_y = 0; out_y < p->output_height; ++out_y) {
        const int8_t *in = input + out_y * row_step;
        int8_t *out = output + out_y * p->output_depth;
        for (int32_t out_c = 0; out_c < p->output_depth; ++out_c) {
            const int8_t *w = filter + out_c * window;
            int32_t acc = folded_bias[out_c];
            const int32_t unrolled_end = window & ~3; /* bounds up front: see tas_conv2d_rows_s8_dsp.c */
            for (int32_t k = 0; k < unrolled_end; k += 4) { /* four taps per iteration: less loop overhead */
                acc += (int32_t)w[k] * in[k] + (int32_t)w[k + 1] * in[k + 1]
                     + (int32_t)w[k + 2] * in[k + 2] + (int32_t)w[k + 3] * in[k + 3];
            }
            for (int32_t k = unrolled_end; k < window; ++k) {
                acc += (int32_t)w[k] * in[k];
            }
            acc = tas_requantize(acc, multiplier[out_c], shift[out_c]) + p->output_offset;
            out[out_c] = (int8_t)tas_clamp(acc, p->act_min, p->act_max);
        }
    }
}
