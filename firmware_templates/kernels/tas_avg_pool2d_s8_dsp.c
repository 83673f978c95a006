/* int8 average pooling for cores with the DSP extension, bit-exact with tas_avg_pool2d_s8 (TFLite's
 * reference: the mean over the window clipped to the image, rounded half away from zero). Channels
 * go in SIMD lanes: a word of four channels of one pixel adds to two halfword-pair sums with
 * SXTAB16 (channels 0, 2) and SXTAB16 ROR #8 (channels 1, 3), so a pixel of 8 channels costs two
 * loads and four adds, not eight loads, adds and index sums. A halfword holds the sum of up to 256
 * int8 values (|sum| <= 128 · 256), so windows of more pixels are summed in runs of whole window rows
 * of at most 256 pixels, each run's lanes added to int32 totals. */
#include "tas_kernels.h"
#include "tas_dsp.h"
#include "tas_pool2d_common.h"
#include "tas_requantize.h"

#define TAS_AVG_POOL_LANE_PIXELS 256

/* The halfword sums of 8 channels (words at pixel, pixel + 4) over `rows` x `cols` pixels: sums[0]
 * channels 0, 2; sums[1] 1, 3; sums[2] 4, 6; sums[3] 5, 7. */
static inline void tas_avg_pool_sum8(const int8_t *pixel, int32_t rows, int32_t cols, int32_t depth,
                                     int32_t row_step, int32_t sums[4])
{
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int32_t row = 0; row < rows; ++row, pixel += row_step) {
        const int8_t *at = pixel;
        for (int32_t col = 0; col < cols; ++col, at += depth) {
            const int32_t low = tas_read_word(at), high = tas_read_word(at + 4);
            s0 = tas_sxtab16(s0, low);
            s1 = tas_sxtab16_ror8(s1, low);
            s2 = tas_sxtab16(s2, high);
            s3 = tas_sxtab16_ror8(s3, high);
        }
    }
    sums[0] = s0;
    sums[1] = s1;
    sums[2] = s2;
    sums[3] = s3;
}

/* The same for 4 channels (one word a pixel). */
static inline void tas_avg_pool_sum4(const int8_t *pixel, int32_t rows, int32_t cols, int32_t depth,
                                     int32_t row_step, int32_t sums[2])
{
    int32_t s0 = 0, s1 = 0;
    for (int32_t row = 0; row < rows; ++row, pixel += row_step) {
        const int8_t *at = pixel;
        for (int32_t col = 0; col < cols; ++col, at += depth) {
            const int32_t word = tas_read_word(at);
            s0 = tas_sxtab16(s0, word);
            s1 = tas_sxtab16_ror8(s1, word);
        }
    }
    sums[0] = s0;
    sums[1] = s1;
}

/* TFLite's rounded mean of `sum` over `count` values, clamped to the activation range. */
static inline int8_t tas_avg_pool_mean(int32_t sum, int32_t count, const tas_pool2d_params *p)
{
    const int32_t mean = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
    return (int8_t)tas_clamp(mean, p->act_min, p->act_max);
}

/* Adds the halfword lanes of `words` sums (tas_avg_pool_sum8's order: word k holds channels
 * 4·(k / 2) + k % 2 and that + 2) to the int32 totals of 2·words channels. */
static inline void tas_avg_pool_add_lanes(const int32_t *lanes, int32_t words, int32_t *totals)
{
    for (int32_t k = 0; k < words; ++k) {
        const int32_t first = 4 * (k / 2) + k % 2;
        totals[first] += (int16_t)(lanes[k] & 0xffff);
        totals[first + 2] += (int16_t)((uint32_t)lanes[k] >> 16);
    }
}

/* The output pixel's channels [c, c + width) (width 8 or 4) from its window of rows x cols pixels at
 * `window`, in runs of at most TAS_AVG_POOL_LANE_PIXELS pixels. */
static inline void tas_avg_pool_group(const tas_pool2d_params *p, const int8_t *window, int32_t rows, int32_t cols,
                                      int32_t width, int8_t *out)
{
    const int32_t row_step = p->input_width * p->depth;
    const int32_t run_rows = TAS_AVG_POOL_LANE_PIXELS / cols;
    int32_t totals[8] = {0, 0, 0, 0, 0, 0, 0, 0}, lanes[4];
    for (int32_t row = 0; row < rows; row += run_rows, window += run_rows * row_step) {
        const int32_t run = rows - row < run_rows ? rows - row : run_rows;
        if (width == 8) {
            tas_avg_pool_sum8(window, run, cols, p->depth, row_step, lanes);
        } else {
            tas_avg_pool_sum4(window, run, cols, p->depth, row_step, lanes);
        }
        tas_avg_pool_add_lanes(lanes, width / 2, totals);
    }
    for (int32_t k = 0; k < width; ++k) {
        out[k] = tas_avg_pool_mean(totals[k], rows * cols, p);
    }
}

TAS_KERNEL void tas_avg_pool2d_s8_dsp(const tas_pool2d_params *p, const int8_t *input, int8_t *output)
{
    for (int32_t out_y = 0; out_y < p->output_height; ++out_y) {
        const int32_t in_y_origin = out_y * p->stride_height - p->pad_height;
        int32_t y_start, y_end;
        tas_pool_window(in_y_origin, p->filter_height, p->input_height, &y_start, &y_end);
        for (int32_t out_x = 0; out_x < p->output_width; ++out_x) {
            const int32_t in_x_origin = out_x * p->stride_width - p->pad_width;
            int32_t x_start, x_end;
            tas_pool_window(in_x_origin, p->filter_width, p->input_width, &x_start, &x_end);
            int32_t rows = y_end - y_start, cols = x_end - x_start;
            const int8_t *window = input + ((in_y_origin + y_start) * p->input_width + in_x_origin + x_start) * p->depth;
            int8_t *out = output + (out_y * p->output_width + out_x) * p->depth;
            const int32_t count = rows * cols;
            if (cols == p->input_width && count <= TAS_AVG_POOL_LANE_PIXELS) { /* whole rows: one run */
                rows = 1;
                cols = count;
            }
            int32_t c = 0;
            if (cols <= TAS_AVG_POOL_LANE_PIXELS) {
                for (; c + 8 <= p->depth; c += 8) {
                    tas_avg_pool_group(p, window + c, rows, cols, 8, out + c);
                }
                for (; c + 4 <= p->depth; c += 4) {
                    tas_avg_pool_group(p, window + c, rows, cols, 4, out + c);
                }
            }
            for (; c < p->depth; ++c) { /* the last depth % 4 channels (or rows too long for lanes) */
                int32_t sum = 0;
                for (int32_t row = 0; row < rows; ++row) {
                    for (int32_t col = 0; col < cols; ++col) {
                        sum += window[(row * p->input_width + col) * p->depth + c];
                    }
                }
                out[c] = tas_avg_pool_mean(sum, rows * cols, p);
            }
        }
    }
}
