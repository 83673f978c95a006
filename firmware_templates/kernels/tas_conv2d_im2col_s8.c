/* tas_conv2d_im2col_s8_dsp for cores without the DSP extension (Cortex-M0/M3): the same columns
 * (tas_im2col.h) and folded bias, the matrix product in plain C (tas_mat_mult_s8.h: 4 channels x 2
 * pixels per pass, weights per group packed by pack_im2col_weights(weights, groups, 4)).
 * Bit-exact with tas_conv2d_s8. scratch: 2·groups·tas_im2col_window bytes (the two columns). */
#include "tas_kernels.h"
#include "tas_conv2d_common.h"
#include "tas_im2col.h"
#include "tas_mat_mult_s8.h"

TAS_KERNEL void tas_conv2d_im2col_s8(const tas_conv2d_params *p, const int8_t *input, const int32_t *packed_filter,
                                     const int32_t *folded_bias, const int32_t *multiplier, const int32_t *shift,
                                     int32_t quant_step, int32_t *scratch, int8_t *output)
{
    const int32_t window = tas_im2col_window(p), columns = p->groups * window;
    const int32_t group_outputs = p->output_depth / p->groups;
    int8_t *column_a = (int8_t *)scratch, *column_b = column_a + columns;
    const int32_t pixels = p->output_height * p->output_width;
    int32_t y = 0, x = 0;
    for (int32_t pixel = 0; pixel < pixels; pixel += 2) {
        const int32_t second = pixel + 1 < pixels;
        tas_im2col_pixel(p, input, y, x, column_a);
        int8_t *out_a = output + pixel * p->output_depth, *out_b = out_a + second * p->output_depth;
        if (++x == p->output_width) {
            x = 0;
            ++y;
        }
        if (second) {
            tas_im2col_pixel(p, input, y, x, column_b);
            if (++x == p->output_width) {
                x = 0;
                ++y;
            }
        }
        const int8_t *w = (const int8_t *)packed_filter;
        for (int32_t group = 0; group < p->groups; ++group) {
            const int32_t first = group * group_outputs;
            const tas_mat_mult_s8_stage stage = {folded_bias + first, multiplier + first * quant_step,
                                                 shift + first * quant_step, quant_step,
                                                 p->output_offset, p->act_min, p->act_max};
            w = second ? tas_mat_mult_s8_two_pixels(&stage, column_a + group * window, column_b + group * window,
                                                    window, group_outputs, w, out_a + first, out_b + first)
                       : tas_mat_mult_s8_one_pixel(&stage, column_a + group * window, window, group_outputs, w,
                                                   out_a + first);
        }
    }
}
