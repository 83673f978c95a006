/* int8 2-D convolution of any kernel size, stride, dilation, padding and grouping for cores with the
 * DSP extension: two output pixels' receptive fields gathered into int8 columns (tas_im2col.h), then
 * per group the matrix product of the pixel pair with the group's weights, 2 channels x 2 pixels per
 * pass with SMLAD (tas_mat_mult_two_rows in tas_mat_mult_dsp.h: int8 weights widened on the fly).
 * Same layouts (NHWC, OHWI) and the same bit-exact results as tas_conv2d_s8.
 * packed_filter: per group, the group's [output_depth / groups, tas_im2col_window] weights (the
 * window zero-padded to a word) in blocks of 2 channels (weight_packing.py: pack_im2col_weights);
 * folded_bias [output_depth] = bias + input_offset·Σ weights; multiplier and shift [output_depth],
 * or one pair when quant_step is 0. scratch: 2·groups·window bytes of columns, then 4·window bytes
 * of the widened pair (tinyasc/compile/ops/conv.py: im2col_scratch_bytes). */
#include "tas_kernels.h"
#include "tas_conv2d_common.h"
#include "tas_im2col.h"
#include "tas_im2col_widened.h"
#include "tas_mat_mult_dsp.h"

/* One group, filter depth a multiple of 4: each pixel pair gathered straight into the widened
 * scratch (tas_im2col_widened.h); the window has no tail bytes. */
static void tas_conv2d_im2col_s8_dsp_widened(const tas_conv2d_params *p, const int8_t *input, const tas_mat_mult *m,
                                             int32_t *widened, int8_t *output)
{
    const int32_t pixels = p->output_height * p->output_width;
    const int8_t *no_tail = (const int8_t *)widened; /* never read: depth % 4 == 0 */
    int32_t y = 0, x = 0; /* output pixel `pixel`, row-major */
    for (int32_t pixel = 0; pixel < pixels; pixel += 2) {
        const int32_t second = pixel + 1 < pixels; /* an odd last pixel runs as a pair with itself */
        tas_im2col_pixel_widened(p, input, y, x, widened);
        if (second && ++x == p->output_width) {
            x = 0;
            ++y;
        }
        tas_im2col_pixel_widened(p, input, y, x, widened + 2);
        if (++x == p->output_width) {
            x = 0;
            ++y;
        }
        int8_t *out_a = output + pixel * p->output_depth, *out_b = out_a + second * p->output_depth;
        tas_mat_mult_widened_pair(m, widened, no_tail, no_tail, out_a, out_b);
    }
}

TAS_KERNEL void tas_conv2d_im2col_s8_dsp(const tas_conv2d_params *p, const int8_t *input, const int32_t *packed_filter,
                                         const int32_t *folded_bias, const int32_t *multiplier, const int32_t *shift,
                                         int32_t quant_step, int32_t *scratch, int8_t *output)
{
    const int32_t window = tas_im2col_window(p), columns = p->groups * window;
    if (tas_im2col_widened_applies(p)) {
        const tas_mat_mult m = {
            .depth = window, .output_depth = p->output_depth, .packed_weights = packed_filter,
            .folded_bias = folded_bias, .multiplier = multiplier, .shift = shift, .quant_step = quant_step,
            .output_offset = p->output_offset, .act_min = p->act_min, .act_max = p->act_max,
        };
        tas_conv2d_im2col_s8_dsp_widened(p, input, &m, scratch + columns / 2, output);
        return;
    }
    const int32_t group_outputs = p->output_depth / p->groups;
    const int32_t group_words = (group_outputs / 2) * (window / 2) + (group_outputs % 2) * (window / 4);
    int8_t *column_a = (int8_t *)scratch, *column_b = column_a + columns;
    int32_t *widened = scratch + columns / 2; /* after both columns: 2·columns bytes */
    const int32_t pixels = p->output_height * p->output_width;
    int32_t y = 0, x = 0; /* output pixel `pixel`, row-major */
    for (int32_t pixel = 0; pixel < pixels; pixel += 2) {
        const int32_t second = pixel + 1 < pixels; /* an odd last pixel runs as a pair with itself */
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
        const int8_t *in_b = second ? column_b : column_a;
        for (int32_t group = 0; group < p->groups; ++group) {
            const int32_t first = group * group_outputs;
            const tas_mat_mult m = {
                .depth = window, .output_depth = group_outputs, .packed_weights = packed_filter + group * group_words,
                .folded_bias = folded_bias + first, .multiplier = multiplier + first * quant_step,
                .shift = shift + first * quant_step, .quant_step = quant_step,
                .output_offset = p->output_offset, .act_min = p->act_min, .act_max = p->act_max,
            };
            tas_mat_mult_two_rows(&m, column_a + group * window, in_b + group * window, widened, out_a + first,
                                  out_b + first);
        }
    }
}
