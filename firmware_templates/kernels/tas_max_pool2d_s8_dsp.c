/* int8 max pooling, four channels per instruction pair: SSUB8 + SEL is a per-byte signed max of
 * two words. For windows that never leave the image (no padding, every window inside), so no
 * clipping is needed; same results as tas_max_pool2d_s8 (NHWC, batch 1). One or two channels in
 * windows of whole rows (1-D pools) are maxed a word of the run at a time (tas_max_pool_run). */
#include "tas_kernels.h"
#include "tas_dsp.h"
#include "tas_pool2d_common.h"
#include "tas_requantize.h"

static inline int32_t tas_clamp_s8x4(int32_t v, int32_t low4, int32_t high4)
{
    return tas_min_s8x4(tas_max_s8x4(v, low4), high4);
}

/* x rotated right by `bits` (8 or 16): its byte lanes moved down. */
static inline int32_t tas_pool_ror(int32_t x, int32_t bits)
{
    return (int32_t)(((uint32_t)x >> bits) | ((uint32_t)x << (32 - bits)));
}

/* One output pixel of 1 or 2 channels whose window is one run of bytes (rows as wide as the input:
 * a 1-D pool over time, WSNet's after 2-channel convs). The run's word lanes repeat the channels
 * (lane j holds channel j % depth), so whole words are maxed four bytes at a time, the lanes folded
 * onto the first `depth`, and the run's last bytes (fewer than a word) taken one by one. Per byte
 * the general loop below would run a channel-tail pass per channel over every tap. */
static inline void tas_max_pool_run(const tas_pool2d_params *p, const int8_t *window, int8_t *out)
{
    const int32_t bytes = p->filter_height * p->input_width * p->depth, words_end = bytes & ~3;
    int32_t max4 = tas_splat_s8x4(-128);
    for (int32_t i = 0; i < words_end; i += 4) {
        max4 = tas_max_s8x4(max4, tas_read_word(window + i));
    }
    max4 = tas_max_s8x4(max4, tas_pool_ror(max4, 16)); /* lanes 0, 1: channels 0, 1 (depth 2) */
    if (p->depth == 1) {
        max4 = tas_max_s8x4(max4, tas_pool_ror(max4, 8)); /* lane 0: the one channel */
    }
    for (int32_t c = 0; c < p->depth; ++c) {
        int32_t max = (int8_t)(uint8_t)((uint32_t)max4 >> (8 * c));
        for (int32_t i = words_end + c; i < bytes; i += p->depth) { /* words_end is a multiple of depth */
            max = window[i] > max ? window[i] : max;
        }
        out[c] = (int8_t)tas_clamp(max, p->act_min, p->act_max);
    }
}

/* One output pixel: the max over the window's pixels, `depth` channels each. */
static inline void tas_max_pool_pixel(const tas_pool2d_params *p, const int8_t *window, int8_t *out,
                                      int32_t low4, int32_t high4)
{
    if (p->depth <= 2 && p->filter_width == p->input_width) {
        tas_max_pool_run(p, window, out);
        return;
    }
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
