/* int8 max pooling, four channels per instruction pair: SSUB8 + SEL is a per-byte signed max of
 * two words. For windows that never leave the image (no padding, every window inside), so no
 * clipping is needed; same results as tas_max_pool2d_s8 (NHWC, batch 1). */
#include "tas_kernels.h"
#include "tas_dsp.h"
#include "tas_pool2d_common.h"
#include "tas_requantize.h"

static inline int32_t tas_clamp_s8x4(int32_t v, int32_t low4, int32_t high4)
{
    return tas_min_s8x4(tas_max_s8x4(v, low4), high4);
}

/* One output pixel: the max over the window's pixels, `depth` channels each. */
static inline void tas_max_pool_pixel(const tas_pool2d_params *p, const int8_t *window, int8_t *out,
                                      int32_t low4, int32_t high4)
{
    const int32_t row_step = p->input_width * p->depth;
    const int32_t blocked_end = p->depth & ~3; /* bounds up front: see tas_conv2d_rows_s8_dsp.c */
    for (int32_t c = 0; c < blocked_end; c += 4) {
        int32_t max4 = tas_splat_s8x4(-128);
        for (int32_t filter_y = 0; filter_y < p->filter_height; ++filter_y) {
            const int8_t *row = window + filter_y * row_step + c;
            for (int32_t filter_x = 0; filter_x < p->filter_width; ++filter_x) {
                max4 = tas_max_s8x4(max4, tas_read_word(row + filter_x * p->depth));
            }
        }
        tas_write_word(out + c, tas_clamp_s8x4(max4, low4, high4));
    }
    for (int32_t c = blocked_end; c < p->depth; ++c) { /* channel tail */
        int32_t max = -128;
        for (int32_t filter_y = 0; filter_y < p->filter_height; ++filter_y) {
            for (int32_t filter_x = 0; filter_x < p->filter_width; ++filter_x) {
                const int32_t value = window[filter_y * row_step + filter_x * p->depth + c];
                max = value > max ? value : max;
            }
        }
        out[c] = (int8_t)tas_clamp(max, p->act_min, p->act_max);
    }
}

TAS_KERNEL void tas_max_pool2d_s8_dsp(const tas_pool2d_params *p, const int8_t *input, int8_t *output)
{
    const int32_t low4 = tas_splat_s8x4(p->act_min), high4 = tas_splat_s8x4(p->act_max);
    for (int32_t out_y = 0; out_y < p->output_height; ++out_y) {
        for (int32_t out_x = 0; out_x < p->output_width; ++out_x) {
            const int32_t in_y = out_y * p->stride_height, in_x = out_x * p->stride_width;
            const int8_t *window = input + (in_y * p->input_width + in_x) * p->depth;
            tas_max_pool_pixel(p, window, output + (out_y * p->output_width + out_x) * p->depth, low4, high4);
        }
    }
}
