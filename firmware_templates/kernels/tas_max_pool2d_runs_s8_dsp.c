/* int8 max pooling of 1 or 2 channels whose windows are whole rows (a filter as wide as the input:
 * 1-D pools over time, WSNet's after 2-channel convs), for cores with the DSP extension. Each window
 * is one run of bytes whose word lanes repeat the channels (lane j holds channel j % depth), so the
 * run is maxed four bytes at a time with SSUB8 + SEL, the lanes folded onto the first `depth`, and
 * the run's last bytes (fewer than a word) taken one by one; tas_max_pool2d_s8_dsp would run a
 * byte-at-a-time channel tail per channel over every tap. No padding, every window inside (one
 * output column); same results as tas_max_pool2d_s8 (NHWC, batch 1). */
#include "tas_kernels.h"
#include "tas_dsp.h"
#include "tas_pool2d_common.h"
#include "tas_requantize.h"

/* x rotated right by `bits` (8 or 16): its byte lanes moved down. */
static inline int32_t tas_pool_ror(int32_t x, int32_t bits)
{
    return (int32_t)(((uint32_t)x >> bits) | ((uint32_t)x << (32 - bits)));
}

/* One output pixel: the max over the `bytes` bytes of its window, per channel. */
static inline void tas_max_pool_run(const int8_t *window, int32_t bytes, int32_t depth, int32_t act_min,
                                    int32_t act_max, int8_t *out)
{
    const int32_t words_end = bytes & ~3;
    int32_t max4 = tas_splat_s8x4(-128);
    for (int32_t i = 0; i < words_end; i += 4) {
        max4 = tas_max_s8x4(max4, tas_read_word(window + i));
    }
    max4 = tas_max_s8x4(max4, tas_pool_ror(max4, 16)); /* lanes 0, 1: channels 0, 1 (depth 2) */
    if (depth == 1) {
        max4 = tas_max_s8x4(max4, tas_pool_ror(max4, 8)); /* lane 0: the one channel */
    }
    for (int32_t c = 0; c < depth; ++c) {
        int32_t max = (int8_t)(uint8_t)((uint32_t)max4 >> (8 * c));
        for (int32_t i = words_end + c; i < bytes; i += depth) { /* words_end is a multiple of depth */
            max = window[i] > max ? window[i] : max;
        }
        out[c] = (int8_t)tas_clamp(max, act_min, act_max);
    }
}

TAS_KERNEL void tas_max_pool2d_runs_s8_dsp(const tas_pool2d_params *p, const int8_t *input, int8_t *output)
{
    const int32_t depth = p->depth, act_min = p->act_min, act_max = p->act_max, rows = p->output_height;
    const int32_t row_bytes = p->input_width * depth, bytes = p->filter_height * row_bytes;
    const int32_t step = p->stride_height * row_bytes;
    for (int32_t out_y = 0; out_y < rows; ++out_y) {
        tas_max_pool_run(input + out_y * step, bytes, depth, act_min, act_max, output + out_y * depth);
    }
}
