/* Sparse int8 weights: each output channel keeps only its non-zero weights, so the kernel does
 * one multiply-accumulate per non-zero weight instead of one per weight (pruned models).
 *
 * Format (tinyasc/compile/sparse.py: encode_sparse), per output channel c in order:
 *   counts[c]          entries of channel c (uint16)
 *   entries[2e], entries[2e + 1]   for each entry: how many bytes (0-255, stored as uint8) the input
 *                      pointer moves forward within the window before this weight (the first
 *                      entry's step is its offset from the window's start), and the int8 weight;
 *                      one array, so one pointer walks both.
 * A gap longer than 255 bytes is crossed by extra entries of step 255 and weight 0, so one byte
 * per step serves any window. The input zero point is folded into the bias at export time
 * (bias + input_offset·Σw), as in the dense rows kernels: zero weights contribute nothing to Σw. */
#ifndef TAS_SPARSE_COMMON_H
#define TAS_SPARSE_COMMON_H

#include <stdint.h>
#include "tas_requantize.h"

typedef struct {
    int32_t rows, row_step, output_depth;  /* windows row_step bytes apart, one output row each */
    int32_t output_offset, act_min, act_max;
    const uint16_t *counts;
    const int8_t *entries;  /* per entry: the step (read as uint8) then the weight */
    const int32_t *folded_bias, *multiplier, *shift;
} tas_sparse_rows;

/* Requantization constants of one channel, decoded once for all its rows. */
typedef struct {
    int32_t multiplier, left_shift, right_shift, output_offset, act_min, act_max;
} tas_sparse_channel;

/* Requantize (tas_requantize_positive_split, with the channel's shifts decoded once), then the
 * output offset and the activation clamp. */
static inline int8_t tas_sparse_output(tas_sparse_channel ch, int32_t acc)
{
    const int32_t value = tas_requantize_positive_split(acc, ch.multiplier, ch.left_shift, ch.right_shift);
    return (int8_t)tas_clamp(value + ch.output_offset, ch.act_min, ch.act_max);
}

static inline tas_sparse_channel tas_sparse_channel_at(const tas_sparse_rows *s, int32_t c)
{
    const int32_t shift = s->shift[c];
    const tas_sparse_channel ch = {
        s->multiplier[c], shift > 0 ? shift : 0, shift > 0 ? 0 : -shift, s->output_offset, s->act_min, s->act_max,
    };
    return ch;
}

/* Rows row..row+N-1 of every channel (N = 8, 4 or 1): each (step, weight) entry is decoded once for
 * N rows. The accumulators are named variables, not an array, so they stay in registers; with
 * row_step a constant of the layer (the kernel is inlined per call) every load has an immediate
 * offset. */
#define TAS_SPARSE_GROUP_BEGIN                                                              \
    const int8_t *entry = s->entries;                                                       \
    for (int32_t c = 0; c < depth; ++c) {                                                   \
        const int32_t bias = folded_bias[c];                                                \
        const int8_t *x = input + row * step;                                               \
        const int8_t *const end = entry + 2 * counts[c];

#define TAS_SPARSE_NEXT_ENTRY(w)                                                            \
        x += (uint8_t)entry[0];                                                             \
        const int32_t w = entry[1];                                                         \
        entry += 2;

#define TAS_SPARSE_STORE(r, acc) output[(row + (r)) * depth + c] = tas_sparse_output(ch, (acc));

static inline __attribute__((always_inline)) void tas_sparse_rows_8(const tas_sparse_rows *s, const int8_t *input,
                                                                    int8_t *output, int32_t row)
{
    const int32_t step = s->row_step, depth = s->output_depth;
    const uint16_t *const counts = s->counts;
    const int32_t *const folded_bias = s->folded_bias;
    TAS_SPARSE_GROUP_BEGIN
        int32_t a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias;
        while (entry < end) {
            TAS_SPARSE_NEXT_ENTRY(w)
            a0 += w * x[0];
            a1 += w * x[step];
            a2 += w * x[2 * step];
            a3 += w * x[3 * step];
            a4 += w * x[4 * step];
            a5 += w * x[5 * step];
            a6 += w * x[6 * step];
            a7 += w * x[7 * step];
        }
        const tas_sparse_channel ch = tas_sparse_channel_at(s, c);
        TAS_SPARSE_STORE(0, a0) TAS_SPARSE_STORE(1, a1) TAS_SPARSE_STORE(2, a2) TAS_SPARSE_STORE(3, a3)
        TAS_SPARSE_STORE(4, a4) TAS_SPARSE_STORE(5, a5) TAS_SPARSE_STORE(6, a6) TAS_SPARSE_STORE(7, a7)
    }
}

static inline __attribute__((always_inline)) void tas_sparse_rows_4(const tas_sparse_rows *s, const int8_t *input,
                                                                    int8_t *output, int32_t row)
{
    const int32_t step = s->row_step, depth = s->output_depth;
    const uint16_t *const counts = s->counts;
    const int32_t *const folded_bias = s->folded_bias;
    TAS_SPARSE_GROUP_BEGIN
        int32_t a0 = bias, a1 = bias, a2 = bias, a3 = bias;
        while (entry < end) {
            TAS_SPARSE_NEXT_ENTRY(w)
            a0 += w * x[0];
            a1 += w * x[step];
            a2 += w * x[2 * step];
            a3 += w * x[3 * step];
        }
        const tas_sparse_channel ch = tas_sparse_channel_at(s, c);
        TAS_SPARSE_STORE(0, a0) TAS_SPARSE_STORE(1, a1) TAS_SPARSE_STORE(2, a2) TAS_SPARSE_STORE(3, a3)
    }
}

static inline __attribute__((always_inline)) void tas_sparse_rows_2(const tas_sparse_rows *s, const int8_t *input,
                                                                    int8_t *output, int32_t row)
{
    const int32_t step = s->row_step, depth = s->output_depth;
    const uint16_t *const counts = s->counts;
    const int32_t *const folded_bias = s->folded_bias;
    TAS_SPARSE_GROUP_BEGIN
        int32_t a0 = bias, a1 = bias;
        while (entry < end) {
            TAS_SPARSE_NEXT_ENTRY(w)
            a0 += w * x[0];
            a1 += w * x[step];
        }
        const tas_sparse_channel ch = tas_sparse_channel_at(s, c);
        TAS_SPARSE_STORE(0, a0) TAS_SPARSE_STORE(1, a1)
    }
}

static inline __attribute__((always_inline)) void tas_sparse_rows_1(const tas_sparse_rows *s, const int8_t *input,
                                                                    int8_t *output, int32_t row)
{
    const int32_t step = s->row_step, depth = s->output_depth;
    const uint16_t *const counts = s->counts;
    const int32_t *const folded_bias = s->folded_bias;
    TAS_SPARSE_GROUP_BEGIN
        int32_t a0 = bias;
        while (entry < end) {
            TAS_SPARSE_NEXT_ENTRY(w)
            a0 += w * x[0];
        }
        const tas_sparse_channel ch = tas_sparse_channel_at(s, c);
        TAS_SPARSE_STORE(0, a0)
    }
}

/* output[row][c] = requantize(folded_bias[c] + Σ_entries w·window_row[offset]) for every row and
 * channel: eight rows at a time (one step load, one weight load and a pointer add serve eight
 * multiply-accumulates), then four, two, one. The row count is a constant of the layer (or of the
 * fused conv+pool block), so the compiler keeps only the groups that run. */
static inline __attribute__((always_inline)) void tas_sparse_rows_s8(const tas_sparse_rows *s, const int8_t *input,
                                                                     int8_t *output)
{
    const int32_t rows = s->rows;
    /* bounds up front: see tas_conv2d_rows_s8_dsp.c */
    const int32_t rows_by_8 = rows - rows % 8, rows_by_4 = rows - rows % 4, rows_by_2 = rows - rows % 2;
    int32_t row = 0;
    for (; row < rows_by_8; row += 8) {
        tas_sparse_rows_8(s, input, output, row);
    }
    for (; row < rows_by_4; row += 4) {
        tas_sparse_rows_4(s, input, output, row);
    }
    for (; row < rows_by_2; row += 2) {
        tas_sparse_rows_2(s, input, output, row);
    }
    for (; row < rows; ++row) {
        tas_sparse_rows_1(s, input, output, row);
    }
}

#endif /* TAS_SPARSE_COMMON_H */
