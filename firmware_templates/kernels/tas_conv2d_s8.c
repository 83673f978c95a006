/* int8 2-D convolution, TFLite reference semantics (grouped when filter_depth < input_depth).
 * input  [1, input_height, input_width, input_depth]      int8, NHWC
 * filter [output_depth, filter_height, filter_width, filter_depth] int8, OHWI, symmetric
 * bias   [output_depth] int32 or NULL; multiplier/shift [output_depth] per-channel requantization
 * output [1, output_height, output_width, output_depth]   int8
 * Out-of-image taps are skipped: padding contributes (zero_point − zero_point) = 0. */
#include "tas_kernels.h"
#include "tas_conv2d_common.h"
#include "tas_requantize.h"

TAS_KERNEL void tas_conv2d_s8(const tas_conv2d_params *p, const int8_t *input, const int8_t *filter,
                              const int32_t *bias, const int32_t *multiplier, const int32_t *shift,
                              int8_t *output)
{
    const int32_t outputs_per_group = p->output_depth / p->groups;
    const int32_t filter_size = p->filter_height * p->filter_width * p->filter_depth;
    for (int32_t out_y = 0; out_y < p->output_height; ++out_y) {
        const int32_t in_y_origin = out_y * p->stride_height - p->pad_height;
        for (int32_t out_x = 0; out_x < p->output_width; ++out_x) {
            const int32_t in_x_origin = out_x * p->stride_width - p->pad_width;
            for (int32_t out_c = 0; out_c < p->output_depth; ++out_c) {
                const int32_t first_in_c = (out_c / outputs_per_group) * p->filter_depth;
                const int8_t *filter_c = filter + out_c * filter_size;
                /* |acc| ≤ filter_size · 128 · 255: fits int32 for any filter under 65k taps. */
                int32_t acc = 0;
                for (int32_t filter_y = 0; filter_y < p->filter_height; ++filter_y) {
                    const int32_t in_y = in_y_origin + p->dilation_height * filter_y;
                    if (in_y < 0 || in_y >= p->input_height) {
                        continue;
                    }
                    for (int32_t filter_x = 0; filter_x < p->filter_width; ++filter_x) {
                        const int32_t in_x = in_x_origin + p->dilation_width * filter_x;
                        if (in_x < 0 || in_x >= p->input_width) {
                            continue;
                        }
                        const int8_t *in = input + (in_y * p->input_width + in_x) * p->input_depth + first_in_c;
                        const int8_t *w = filter_c + (filter_y * p->filter_width + filter_x) * p->filter_depth;
                        for (int32_t in_c = 0; in_c < p->filter_depth; ++in_c) {
                            acc += (int32_t)w[in_c] * ((int32_t)in[in_c] + p->input_offset);
                        }
                    }
                }
                if (bias) {
                    acc += bias[out_c];
                }
                acc = tas_requantize(acc, multiplier[out_c], shift[out_c]) + p->output_offset;
                output[(out_y * p->output_width + out_x) * p->output_depth + out_c] =
                    (int8_t)tas_clamp(acc, p->act_min, p->act_max);
            }
        }
    }
}
