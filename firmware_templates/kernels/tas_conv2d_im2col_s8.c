/* tas_conv2d_im2col_s8_dsp for cores without the DSP extension (Cortex-M0/M3): the same columns
 * (tas_im2col.h), weight layout and folded bias, the matrix product in plain C, 2 channels x 2
 * pixels per pass so each loaded byte feeds two MACs. Bit-exact with tas_conv2d_s8.
 * scratch: 2·groups·tas_im2col_window bytes (the two columns). */
#include "tas_kernels.h"
#include "tas_conv2d_common.h"
#include "tas_im2col.h"
#include "tas_requantize.h"

typedef struct {
    int32_t depth, output_depth, quant_step;
    const int32_t *folded_bias, *multiplier, *shift;
    int32_t output_offset, act_min, act_max;
} tas_im2col_group;

static inline int8_t tas_im2col_output(const tas_im2col_group *g, int32_t acc, int32_t channel)
{
    const int32_t q = channel * g->quant_step;
    acc = tas_requantize_positive(acc, g->multiplier[q], g->shift[q]) + g->output_offset;
    return (int8_t)tas_clamp(acc, g->act_min, g->act_max);
}

/* Every channel of one group for columns a and b; w: the group's packed weights (blocks of 2
 * channels, per quad channel 0's 4 bytes then channel 1's; an odd last channel alone). */
static inline void tas_im2col_group_outputs(const tas_im2col_group *shape, const int8_t *a, const int8_t *b,
                                            const int8_t *w, int8_t *out_a, int8_t *out_b)
{
    const tas_im2col_group local = *shape, *g = &local; /* a local copy: int8 stores cannot alias it */
    const int32_t paired_end = g->output_depth - g->output_depth % 2; /* bounds up front: see tas_conv2d_rows_s8_dsp.c */
    for (int32_t c = 0; c < paired_end; c += 2) {
        int32_t a0 = g->folded_bias[c], a1 = g->folded_bias[c + 1], b0 = a0, b1 = a1;
        for (int32_t k = 0; k < g->depth; k += 4, w += 8) {
            for (int32_t i = 0; i < 4; ++i) {
                const int32_t xa = a[k + i], xb = b[k + i], w0 = w[i], w1 = w[4 + i];
                a0 += xa * w0;
                b0 += xb * w0;
                a1 += xa * w1;
                b1 += xb * w1;
            }
        }
        out_b[c] = tas_im2col_output(g, b0, c);
        out_b[c + 1] = tas_im2col_output(g, b1, c + 1);
        out_a[c] = tas_im2col_output(g, a0, c); /* after out_b: for an odd last pixel out_b == out_a */
        out_a[c + 1] = tas_im2col_output(g, a1, c + 1);
    }
    if (paired_end < g->output_depth) {
        const int32_t c = paired_end;
        int32_t acc_a = g->folded_bias[c], acc_b = acc_a;
        for (int32_t k = 0; k < g->depth; ++k) {
            acc_a += a[k] * w[k];
            acc_b += b[k] * w[k];
        }
        out_b[c] = tas_im2col_output(g, acc_b, c);
        out_a[c] = tas_im2col_output(g, acc_a, c);
    }
}

TAS_KERNEL void tas_conv2d_im2col_s8(const tas_conv2d_params *p, const int8_t *input, const int32_t *packed_filter,
                                     const int32_t *folded_bias, const int32_t *multiplier, const int32_t *shift,
                                     int32_t quant_step, int32_t *scratch, int8_t *output)
{
    const int32_t window = tas_im2col_window(p), columns = p->groups * window;
    const int32_t group_outputs = p->output_depth / p->groups;
    const int32_t group_bytes = group_outputs * window; /* a word-padded window: no padding between blocks */
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
        const int8_t *in_b = second ? column_b : column_a;
        for (int32_t group = 0; group < p->groups; ++group) {
            const int32_t first = group * group_outputs;
            const tas_im2col_group g = {
                .depth = window, .output_depth = group_outputs, .quant_step = quant_step,
                .folded_bias = folded_bias + first, .multiplier = multiplier + first * quant_step,
                .shift = shift + first * quant_step,
                .output_offset = p->output_offset, .act_min = p->act_min, .act_max = p->act_max,
            };
            tas_im2col_group_outputs(&g, column_a + group * window, in_b + group * window,
                                     (const int8_t *)packed_filter + group * group_bytes, out_a + first, out_b + first);
        }
    }
}
