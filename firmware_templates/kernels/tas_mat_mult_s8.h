/* The matrix product of the portable convolution kernels (tas_conv2d_rows_s8.c, tas_conv2d_im2col_s8.c),
 * for cores without the DSP extension (Cortex-M0/M3): two input vectors (two output pixels) times
 * the packed int8 weights, 4 channels x 2 pixels per pass. Each loaded weight byte feeds two MLAs and
 * each input byte four, so a MAC costs about one MLA and 0.75 loads (the M3's MLA is single-issue,
 * 32x32; there is no SIMD to do better). The input zero point is folded into the bias at export time
 * (folded_bias = bias + input_offset·Σ w), so padding and the offset cost nothing here.
 * Weights: tinyasc/compile/weight_packing.py pack_mat_mult_weights(weights, 4): per block of 4
 * channels, per group of 4 inputs the 4 channels' 4 bytes in turn, then each channel's depth % 4 tail
 * bytes; the channels left over follow one at a time, each padded to a word. */
#ifndef TAS_MAT_MULT_S8_H
#define TAS_MAT_MULT_S8_H

#include <stdint.h>
#include "tas_requantize.h"

#define TAS_MAT_MULT_S8_BLOCK 4
#define TAS_MAT_MULT_S8_INLINE static inline __attribute__((always_inline))

/* The output stage's constants, copied into locals by the caller: int8 stores may alias anything,
 * so values read through a pointer would be reloaded after each store. */
typedef struct {
    const int32_t *folded_bias, *multiplier, *shift;
    int32_t quant_step; /* 1: per-channel requantization, 0: one pair for every channel */
    int32_t output_offset, act_min, act_max;
} tas_mat_mult_s8_stage;

/* Eight sums: 4 channels for pixel a, the same 4 for pixel b. */
typedef struct {
    int32_t a0, a1, a2, a3, b0, b1, b2, b3;
} tas_mat_mult_s8_acc;

/* Input byte i of both pixels times the 4 channels' weights w[i], w[stride + i], ... */
TAS_MAT_MULT_S8_INLINE tas_mat_mult_s8_acc tas_mat_mult_s8_tap(tas_mat_mult_s8_acc s, int32_t xa, int32_t xb,
                                                               const int8_t *w, int32_t stride)
{
    int32_t wt = w[0];
    s.a0 += xa * wt;
    s.b0 += xb * wt;
    wt = w[stride];
    s.a1 += xa * wt;
    s.b1 += xb * wt;
    wt = w[2 * stride];
    s.a2 += xa * wt;
    s.b2 += xb * wt;
    wt = w[3 * stride];
    s.a3 += xa * wt;
    s.b3 += xb * wt;
    return s;
}

/* Requantize, add the output offset, clamp: tas_requantize_positive's result through the
 * per-channel terms worked out once for both pixels (tas_requant_channel). */
TAS_MAT_MULT_S8_INLINE int8_t tas_mat_mult_s8_out(const tas_mat_mult_s8_stage *o, const tas_requant_channel *r, int32_t acc)
{
    return (int8_t)tas_clamp(tas_requant_channel_apply(acc, r) + o->output_offset, o->act_min, o->act_max);
}

TAS_MAT_MULT_S8_INLINE void tas_mat_mult_s8_store(const tas_mat_mult_s8_stage *o, int32_t c, int32_t acc_a,
                                                  int32_t acc_b, int8_t *out_a, int8_t *out_b)
{
    const int32_t q = c * o->quant_step;
    const tas_requant_channel r = tas_requant_channel_of(o->multiplier[q], o->shift[q]);
    out_b[c] = tas_mat_mult_s8_out(o, &r, acc_b);
    out_a[c] = tas_mat_mult_s8_out(o, &r, acc_a);
}

/* tas_mat_mult_s8_two_pixels for one pixel (a lone last row or pixel): 4 channels x 1 pixel per pass. */
static inline const int8_t *tas_mat_mult_s8_one_pixel(const tas_mat_mult_s8_stage *stage, const int8_t *a, int32_t depth,
                                                      int32_t channels, const int8_t *w, int8_t *out)
{
    const tas_mat_mult_s8_stage local = *stage, *o = &local;
    const int32_t quad_bytes = depth & ~3, tail = depth & 3;
    const int32_t blocked_end = channels & ~(TAS_MAT_MULT_S8_BLOCK - 1);
    for (int32_t c = 0; c < blocked_end; c += TAS_MAT_MULT_S8_BLOCK) {
        const int32_t *bias = o->folded_bias + c;
        int32_t acc0 = bias[0], acc1 = bias[1], acc2 = bias[2], acc3 = bias[3];
        const int8_t *pa = a;
        for (const int8_t *end = a + quad_bytes; pa < end; pa += 4, w += 16) {
            const int32_t x0 = pa[0], x1 = pa[1], x2 = pa[2], x3 = pa[3];
            acc0 += x0 * w[0] + x1 * w[1] + x2 * w[2] + x3 * w[3];
            acc1 += x0 * w[4] + x1 * w[5] + x2 * w[6] + x3 * w[7];
            acc2 += x0 * w[8] + x1 * w[9] + x2 * w[10] + x3 * w[11];
            acc3 += x0 * w[12] + x1 * w[13] + x2 * w[14] + x3 * w[15];
        }
        for (int32_t t = 0; t < tail; ++t) {
            const int32_t x = pa[t];
            acc0 += x * w[t];
            acc1 += x * w[tail + t];
            acc2 += x * w[2 * tail + t];
            acc3 += x * w[3 * tail + t];
        }
        w += 4 * tail;
        tas_mat_mult_s8_store(o, c, acc0, acc0, out, out);
        tas_mat_mult_s8_store(o, c + 1, acc1, acc1, out, out);
        tas_mat_mult_s8_store(o, c + 2, acc2, acc2, out, out);
        tas_mat_mult_s8_store(o, c + 3, acc3, acc3, out, out);
    }
    for (int32_t c = blocked_end; c < channels; ++c) {
        int32_t acc = o->folded_bias[c];
        for (int32_t k = 0; k < depth; ++k) {
            acc += a[k] * w[k];
        }
        w += (depth + 3) & ~3;
        tas_mat_mult_s8_store(o, c, acc, acc, out, out);
    }
    return w;
}

/* Channels 0 .. channels-1 of pixels a and b (depth bytes each) from weights w (the layout above); returns the byte after the weights. */
static inline const int8_t *tas_mat_mult_s8_two_pixels(const tas_mat_mult_s8_stage *stage, const int8_t *a,
                                                       const int8_t *b, int32_t depth, int32_t channels,
                                                       const int8_t *w, int8_t *out_a, int8_t *out_b)
{
    const tas_mat_mult_s8_stage local = *stage, *o = &local;
    const int32_t quad_bytes = depth & ~3, tail = depth & 3;
    const int32_t blocked_end = channels & ~(TAS_MAT_MULT_S8_BLOCK - 1); /* bounds up front: see tas_conv2d_rows_s8_dsp.c */
    for (int32_t c = 0; c < blocked_end; c += TAS_MAT_MULT_S8_BLOCK) {
        const int32_t *bias = o->folded_bias + c;
        tas_mat_mult_s8_acc s = {bias[0], bias[1], bias[2], bias[3], bias[0], bias[1], bias[2], bias[3]};
        const int8_t *pa = a, *pb = b;
        for (const int8_t *end = a + quad_bytes; pa < end; pa += 4, pb += 4, w += 16) {
            s = tas_mat_mult_s8_tap(s, pa[0], pb[0], w, 4);
            s = tas_mat_mult_s8_tap(s, pa[1], pb[1], w + 1, 4);
            s = tas_mat_mult_s8_tap(s, pa[2], pb[2], w + 2, 4);
            s = tas_mat_mult_s8_tap(s, pa[3], pb[3], w + 3, 4);
        }
        for (int32_t t = 0; t < tail; ++t) {
            s = tas_mat_mult_s8_tap(s, pa[t], pb[t], w + t, tail);
        }
        w += 4 * tail;
        tas_mat_mult_s8_store(o, c, s.a0, s.b0, out_a, out_b);
        tas_mat_mult_s8_store(o, c + 1, s.a1, s.b1, out_a, out_b);
        tas_mat_mult_s8_store(o, c + 2, s.a2, s.b2, out_a, out_b);
        tas_mat_mult_s8_store(o, c + 3, s.a3, s.b3, out_a, out_b);
    }
    for (int32_t c = blocked_end; c < channels; ++c) {
        int32_t acc_a = o->folded_bias[c], acc_b = acc_a;
        for (int32_t k = 0; k < depth; ++k) {
            const int32_t wt = w[k];
            acc_a += a[k] * wt;
            acc_b += b[k] * wt;
        }
        w += (depth + 3) & ~3;
        tas_mat_mult_s8_store(o, c, acc_a, acc_b, out_a, out_b);
    }
    return w;
}

#endif /* TAS_MAT_MULT_S8_H */
