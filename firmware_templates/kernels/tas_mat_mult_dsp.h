/* The int8 matrix product of the DSP fully connected and 1x1 conv kernels: every output channel of
 * one or two input rows (batches or pixels), output[row][c] = requantize(Σ_k w[c][k]·x[row][k] +
 * folded_bias[c]), with the input zero point folded into the bias at export time
 * (folded_bias = bias + input_offset·Σ_k w[c][k], as in tas_conv2d_rows_s8).
 *
 * Weights stay int8 (one byte each, plus at most 3 bytes of padding per block) and are widened on
 * the fly: SXTB16 turns a word of four bytes (b0, b1, b2, b3) into the halfword pairs (b0, b2) and,
 * rotated by 8, (b1, b3). Input words are widened the same way, so the lanes line up without
 * re-ordering bytes inside a word, and each SMLAD does two MACs.
 * Packed layout (tinyasc/compile/weight_packing.py: pack_mat_mult_weights), int32 words: for each
 * block of B channels, per group of 4 inputs (quad) the B channels' words in turn, then the depth % 4
 * tail bytes of channel 0, 1, .. B-1, padded to a word; the output_depth % B channels left over follow
 * one at a time, each its quads' words and its tail bytes padded to a word.
 * One row (fully connected, B = 4): each input word, widened, feeds 4 channels: 8 SMLADs per LDR and
 * 2 LDRDs, no scratch RAM. Two rows (1x1 conv, B = 2): the pixel pair is widened once into scratch
 * for every channel block, and each widened weight word feeds both rows: 8 SMLADs per 3 LDRDs. */
#ifndef TAS_MAT_MULT_DSP_H
#define TAS_MAT_MULT_DSP_H

#include <stdint.h>
#include "tas_dsp.h"
#include "tas_requantize.h"

/* Channels per block of the packed weights: 4 for one row (fully connected), 2 for two rows (1x1
 * conv: 2 channels x 2 pixels keep their 4 sums, 4 widened inputs and a widened weight in registers). */
#define TAS_MAT_MULT_BLOCK_ONE_ROW 4
#define TAS_MAT_MULT_BLOCK_TWO_ROWS 2

typedef struct {
    int32_t depth;        /* MACs per output: input bytes per row */
    int32_t output_depth; /* output channels per row */
    const int32_t *packed_weights;
    const int32_t *folded_bias;
    const int32_t *multiplier, *shift; /* multipliers >= 0 */
    int32_t quant_step;                /* 1: one multiplier and shift per channel; 0: one pair for all */
    int32_t output_offset, act_min, act_max;
} tas_mat_mult;

/* A word of four int8 as its two widened halfword pairs: bytes 0, 2 (even) and bytes 1, 3 (odd). */
typedef struct {
    int32_t even, odd;
} tas_widened;

static inline tas_widened tas_widen(int32_t word)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    /* GCC 12 does not fold the rotation into __sxtb16's operand: one instruction, not two. */
    int32_t odd;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(odd) : "r"(word));
    const tas_widened w = {tas_sxtb16(word), odd};
#else
    const tas_widened w = {tas_sxtb16(word), tas_sxtb16(tas_ror8(word))};
#endif
    return w;
}

/* Two consecutive words, and the pointer moved past them: one LDRD with write-back on the DSP
 * cores (GCC 12 splits such loads into LDR + LDRD pairs in the mat-mult loop). */
static inline tas_widened tas_load_pair(const int32_t **p)
{
    tas_widened pair;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    __asm__("ldrd %0, %1, [%2], #8"
            : "=&r"(pair.even), "=&r"(pair.odd), "+r"(*p)
            : "m"(*(const int32_t(*)[2])*p));
#else
    pair.even = (*p)[0];
    pair.odd = (*p)[1];
    *p += 2;
#endif
    return pair;
}

/* acc + the 4 MACs of one weight word with one input word, both widened. */
static inline int32_t tas_mac4(tas_widened w, tas_widened x, int32_t acc)
{
    return tas_smlad(w.odd, x.odd, tas_smlad(w.even, x.even, acc));
}

/* Sums of 2 channels (c0, c1) for rows a and b. */
typedef struct {
    int32_t a0, a1, b0, b1;
} tas_mat_acc2x2;

/* Rows a and b widened once for every channel block: per quad the words a.even, a.odd, b.even, b.odd
 * (4·quads words of scratch), so the inner loop loads them and widens weights only. */
static inline void tas_mat_widen_rows(const int8_t *in_a, const int8_t *in_b, int32_t quads, int32_t *widened)
{
    for (int32_t quad = 0; quad < quads; ++quad) {
        const tas_widened a = tas_widen(tas_read_word(in_a + 4 * quad)), b = tas_widen(tas_read_word(in_b + 4 * quad));
        widened[0] = a.even;
        widened[1] = a.odd;
        widened[2] = b.even;
        widened[3] = b.odd;
        widened += 4;
    }
}

/* acc + one quad of rows a and b (widened, 4 words at *widened) with 2 channels (a word each at *w);
 * both pointers move past what they read. */
static inline tas_mat_acc2x2 tas_mat_quad_2ch_2rows(const int32_t **widened, const int32_t **w, tas_mat_acc2x2 acc)
{
    const tas_widened xa = tas_load_pair(widened), xb = tas_load_pair(widened);
    const tas_widened words = tas_load_pair(w); /* channel 0's word, channel 1's word */
    tas_widened wc = tas_widen(words.even);
    acc.a0 = tas_mac4(wc, xa, acc.a0);
    acc.b0 = tas_mac4(wc, xb, acc.b0);
    wc = tas_widen(words.odd);
    acc.a1 = tas_mac4(wc, xa, acc.a1);
    acc.b1 = tas_mac4(wc, xb, acc.b1);
    return acc;
}

/* Rows a and b: quads from `widened` (tas_mat_widen_rows), the depth % 4 tail bytes from tail_a, tail_b. */
static inline tas_mat_acc2x2 tas_mat_dot_2ch_2rows(const int32_t *widened, const int8_t *tail_a, const int8_t *tail_b,
                                                   const int32_t *w, int32_t quads, int32_t tail, tas_mat_acc2x2 acc)
{
    /* Four quads per pass: the loop's counter and branch are paid once per 64 MACs, not per 16. */
    int32_t quad = quads;
    for (; quad >= 4; quad -= 4) {
        acc = tas_mat_quad_2ch_2rows(&widened, &w, acc);
        acc = tas_mat_quad_2ch_2rows(&widened, &w, acc);
        acc = tas_mat_quad_2ch_2rows(&widened, &w, acc);
        acc = tas_mat_quad_2ch_2rows(&widened, &w, acc);
    }
    for (; quad > 0; --quad) {
        acc = tas_mat_quad_2ch_2rows(&widened, &w, acc);
    }
    const int8_t *tail_w = (const int8_t *)w; /* channel c's tail byte t at tail_w[c * tail + t] */
    for (int32_t t = 0; t < tail; ++t) {
        const int32_t xa = tail_a[t], xb = tail_b[t];
        acc.a0 += xa * tail_w[t];
        acc.b0 += xb * tail_w[t];
        acc.a1 += xa * tail_w[tail + t];
        acc.b1 += xb * tail_w[tail + t];
    }
    return acc;
}

/* Sums of 4 channels for one row. */
typedef struct {
    int32_t c0, c1, c2, c3;
} tas_mat_acc4;

/* acc + one quad of 4 channels: the row's 4 bytes at *in, the 4 channels' weight words at *w; both
 * pointers move past what they read. */
static inline tas_mat_acc4 tas_mat_quad_4ch(const int8_t **in, const int32_t **w, tas_mat_acc4 acc)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    /* Written out because GCC 12 hoists all four weight loads and spills accumulators here:
     * LDR + LDM + 10 SXTB16 + 8 SMLAD for 16 MACs, no scratch RAM. The LDM fills r8-r11 in register
     * order, channel 0's word first. */
    register int32_t w0 __asm__("r8"), w1 __asm__("r9"), w2 __asm__("r10"), w3 __asm__("r11");
    int32_t x_even, x_odd, widened_w;
    __asm__("ldr %[xe], [%[x]], #4\n\t" /* unaligned LDR: legal on Cortex-M4 */
            "sxtb16 %[xo], %[xe], ror #8\n\t"
            "sxtb16 %[xe], %[xe]\n\t"
            "ldmia %[w]!, {r8, r9, r10, r11}\n\t"
            "sxtb16 %[t], %[w0]\n\t"
            "smlad %[c0], %[t], %[xe], %[c0]\n\t"
            "sxtb16 %[t], %[w0], ror #8\n\t"
            "smlad %[c0], %[t], %[xo], %[c0]\n\t"
            "sxtb16 %[t], %[w1]\n\t"
            "smlad %[c1], %[t], %[xe], %[c1]\n\t"
            "sxtb16 %[t], %[w1], ror #8\n\t"
            "smlad %[c1], %[t], %[xo], %[c1]\n\t"
            "sxtb16 %[t], %[w2]\n\t"
            "smlad %[c2], %[t], %[xe], %[c2]\n\t"
            "sxtb16 %[t], %[w2], ror #8\n\t"
            "smlad %[c2], %[t], %[xo], %[c2]\n\t"
            "sxtb16 %[t], %[w3]\n\t"
            "smlad %[c3], %[t], %[xe], %[c3]\n\t"
            "sxtb16 %[t], %[w3], ror #8\n\t"
            "smlad %[c3], %[t], %[xo], %[c3]"
            : [c0] "+r"(acc.c0), [c1] "+r"(acc.c1), [c2] "+r"(acc.c2), [c3] "+r"(acc.c3), [x] "+r"(*in),
              [w] "+r"(*w), [xe] "=&r"(x_even), [xo] "=&r"(x_odd), [w0] "=&r"(w0), [w1] "=&r"(w1),
              [w2] "=&r"(w2), [w3] "=&r"(w3), [t] "=&r"(widened_w)
            :
            : "memory");
#else
    const tas_widened x = tas_widen(tas_read_word(*in));
    *in += 4;
    acc.c0 = tas_mac4(tas_widen((*w)[0]), x, acc.c0);
    acc.c1 = tas_mac4(tas_widen((*w)[1]), x, acc.c1);
    acc.c2 = tas_mac4(tas_widen((*w)[2]), x, acc.c2);
    acc.c3 = tas_mac4(tas_widen((*w)[3]), x, acc.c3);
    *w += TAS_MAT_MULT_BLOCK_ONE_ROW;
#endif
    return acc;
}

static inline tas_mat_acc4 tas_mat_dot_4ch_1row(const int8_t *in, const int32_t *w, int32_t quads, int32_t tail,
                                                tas_mat_acc4 acc)
{
    int32_t quad = quads;
    for (; quad >= 4; quad -= 4) { /* as tas_mat_dot_2ch_2rows: one counter and branch per 64 MACs */
        acc = tas_mat_quad_4ch(&in, &w, acc);
        acc = tas_mat_quad_4ch(&in, &w, acc);
        acc = tas_mat_quad_4ch(&in, &w, acc);
        acc = tas_mat_quad_4ch(&in, &w, acc);
    }
    for (; quad > 0; --quad) {
        acc = tas_mat_quad_4ch(&in, &w, acc);
    }
    const int8_t *tail_in = in;
    const int8_t *tail_w = (const int8_t *)w;
    for (int32_t t = 0; t < tail; ++t) {
        const int32_t x = tail_in[t];
        acc.c0 += x * tail_w[t];
        acc.c1 += x * tail_w[tail + t];
        acc.c2 += x * tail_w[2 * tail + t];
        acc.c3 += x * tail_w[3 * tail + t];
    }
    return acc;
}

/* acc + Σ in·w for one channel packed alone (its quads' words, then its tail bytes). */
static inline int32_t tas_mat_dot_1ch(const int8_t *in, const int32_t *w, int32_t quads, int32_t tail, int32_t acc)
{
    for (int32_t quad = 0; quad < quads; ++quad) {
        acc = tas_mac4(tas_widen(w[quad]), tas_widen(tas_read_word(in + 4 * quad)), acc);
    }
    const int8_t *tail_w = (const int8_t *)(w + quads);
    for (int32_t t = 0; t < tail; ++t) {
        acc += in[4 * quads + t] * tail_w[t];
    }
    return acc;
}

/* Words of one channel packed alone. */
static inline int32_t tas_mat_single_channel_words(int32_t quads, int32_t tail)
{
    return quads + (tail > 0 ? 1 : 0);
}

static inline int8_t tas_mat_output(const tas_mat_mult *m, int32_t acc, int32_t channel)
{
    const int32_t q = channel * m->quant_step;
    acc = tas_requantize_positive_one_floor(acc, m->multiplier[q], m->shift[q]) + m->output_offset;
    return (int8_t)tas_clamp(acc, m->act_min, m->act_max);
}

/* A requantized value as the int8 output: plus the output offset, clamped to the activation range. */
static inline int8_t tas_mat_store(const tas_mat_mult *m, int32_t requantized)
{
    return (int8_t)tas_clamp(requantized + m->output_offset, m->act_min, m->act_max);
}

/* requantized acc of one channel as its int8 output, the channel's terms worked out here. */
static inline int8_t tas_mat_requant_store(const tas_mat_mult *m, int32_t acc, const tas_requant_channel *r)
{
    return tas_mat_store(m, tas_requant_channel_apply(acc, r));
}

/* Every output channel of one input row; weights packed in blocks of 4 channels. */
static inline void tas_mat_mult_one_row(const tas_mat_mult *shape, const int8_t *in, int8_t *out)
{
    const tas_mat_mult local = *shape, *m = &local; /* a local copy: int8 stores cannot alias it */
    const int32_t quads = m->depth / 4, tail = m->depth % 4;
    const int32_t *w = m->packed_weights;
    const int32_t *bias = m->folded_bias;
    const int32_t step = m->quant_step;
    /* Per-tensor requantization (step 0): its terms once for every channel. */
    const tas_requant_channel every = tas_requant_channel_of(m->multiplier[0], m->shift[0]);
    /* Bounds up front: see tas_conv2d_rows_s8_dsp.c. */
    const int32_t blocked_end = m->output_depth - m->output_depth % TAS_MAT_MULT_BLOCK_ONE_ROW;
    for (int32_t c = 0; c < blocked_end; c += TAS_MAT_MULT_BLOCK_ONE_ROW) {
        const tas_mat_acc4 start = {bias[c], bias[c + 1], bias[c + 2], bias[c + 3]};
        const tas_mat_acc4 acc = tas_mat_dot_4ch_1row(in, w, quads, tail, start);
        const int32_t *multiplier = m->multiplier + c * step, *shift = m->shift + c * step;
        tas_requant_channel r = step ? tas_requant_channel_of(multiplier[0], shift[0]) : every;
        out[c] = tas_mat_requant_store(m, acc.c0, &r);
        r = step ? tas_requant_channel_of(multiplier[1], shift[1]) : every;
        out[c + 1] = tas_mat_requant_store(m, acc.c1, &r);
        r = step ? tas_requant_channel_of(multiplier[2], shift[2]) : every;
        out[c + 2] = tas_mat_requant_store(m, acc.c2, &r);
        r = step ? tas_requant_channel_of(multiplier[3], shift[3]) : every;
        out[c + 3] = tas_mat_requant_store(m, acc.c3, &r);
        w += TAS_MAT_MULT_BLOCK_ONE_ROW * quads + tail;
    }
    for (int32_t c = blocked_end; c < m->output_depth; ++c) {
        out[c] = tas_mat_output(m, tas_mat_dot_1ch(in, w, quads, tail, bias[c]), c);
        w += tas_mat_single_channel_words(quads, tail);
    }
}

/* acc + Σ x·w for one channel packed alone and one widened row: its quads' words at lane[4·quad]
 * and lane[4·quad + 1] (tas_mat_widen_rows' layout, row a at widened, row b at widened + 2), its
 * depth % 4 tail bytes at tail_x. */
static inline int32_t tas_mat_dot_1ch_lane(const int32_t *lane, const int8_t *tail_x, const int32_t *w, int32_t quads,
                                           int32_t tail, int32_t acc)
{
    for (int32_t quad = 0; quad < quads; ++quad, lane += 4) {
        const tas_widened x = {lane[0], lane[1]};
        acc = tas_mac4(tas_widen(w[quad]), x, acc);
    }
    const int8_t *tail_w = (const int8_t *)(w + quads);
    for (int32_t t = 0; t < tail; ++t) {
        acc += tail_x[t] * tail_w[t];
    }
    return acc;
}

/* The activation range in all four byte lanes (tas_mat_store_2x2). */
typedef struct {
    int32_t low, high;
} tas_mat_range4;

static inline tas_mat_range4 tas_mat_range4_of(const tas_mat_mult *m)
{
    const tas_mat_range4 r = {tas_splat_s8x4(m->act_min), tas_splat_s8x4(m->act_max)};
    return r;
}

/* Channels c, c + 1 of rows a and b, requantized (the output offset not yet added), as int8 at
 * out_a[0..1] and out_b[0..1]. On DSP cores the four are saturated to int8, packed into one word,
 * clamped to the activation range by two SSUB8/SEL pairs and stored as two halfwords: about 14
 * instructions for the four, not 4 compare-and-select clamps and 4 byte stores with their spills. */
static inline void tas_mat_store_2x2(const tas_mat_mult *m, tas_mat_range4 range, int32_t a0, int32_t a1, int32_t b0,
                                     int32_t b1, int8_t *out_a, int8_t *out_b)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    const int32_t offset = m->output_offset;
    int32_t packed = __ssat(a0 + offset, 8);
    const int32_t v1 = __ssat(a1 + offset, 8), v2 = __ssat(b0 + offset, 8), v3 = __ssat(b1 + offset, 8);
    __asm__("bfi %0, %1, #8, #8\n\tbfi %0, %2, #16, #8\n\tbfi %0, %3, #24, #8" : "+&r"(packed) : "r"(v1), "r"(v2), "r"(v3));
    packed = tas_min_s8x4(tas_max_s8x4(packed, range.low), range.high);
    const uint16_t pair_a = (uint16_t)packed, pair_b = (uint16_t)((uint32_t)packed >> 16);
    memcpy(out_a, &pair_a, sizeof pair_a); /* when out_b == out_a (a pixel paired with itself) both are equal */
    memcpy(out_b, &pair_b, sizeof pair_b);
#else
    (void)range;
    out_a[0] = tas_mat_store(m, a0);
    out_b[0] = tas_mat_store(m, b0);
    out_a[1] = tas_mat_store(m, a1);
    out_b[1] = tas_mat_store(m, b1);
#endif
}

/* Every output channel of rows a and b already widened (`widened`: tas_mat_widen_rows' layout, or a
 * gather that writes it directly, tas_im2col_widened.h), their depth % 4 tail bytes at tail_a and
 * tail_b; weights packed in blocks of 2. */
static inline void tas_mat_mult_widened_pair(const tas_mat_mult *shape, const int32_t *widened, const int8_t *tail_a,
                                             const int8_t *tail_b, int8_t *out_a, int8_t *out_b)
{
    const tas_mat_mult local = *shape, *m = &local; /* a local copy: int8 stores cannot alias it */
    const int32_t quads = m->depth / 4, tail = m->depth % 4;
    const int32_t *w = m->packed_weights;
    const int32_t *bias = m->folded_bias;
    const int32_t blocked_end = m->output_depth - m->output_depth % TAS_MAT_MULT_BLOCK_TWO_ROWS;
    const tas_mat_range4 range = tas_mat_range4_of(m);
    for (int32_t c = 0; c < blocked_end; c += TAS_MAT_MULT_BLOCK_TWO_ROWS) {
        const tas_mat_acc2x2 start = {bias[c], bias[c + 1], bias[c], bias[c + 1]};
        const tas_mat_acc2x2 acc = tas_mat_dot_2ch_2rows(widened, tail_a, tail_b, w, quads, tail, start);
        /* Each channel's requantization terms once for both rows, one channel at a time (fewer live
         * registers). When in_b == in_a, out_b == out_a and both stores write the same value. */
        const int32_t q0 = c * m->quant_step, q1 = q0 + m->quant_step;
        const tas_requant_channel r0 = tas_requant_channel_of(m->multiplier[q0], m->shift[q0]);
        const int32_t a0 = tas_requant_channel_apply(acc.a0, &r0), b0 = tas_requant_channel_apply(acc.b0, &r0);
        const tas_requant_channel r1 = tas_requant_channel_of(m->multiplier[q1], m->shift[q1]);
        const int32_t a1 = tas_requant_channel_apply(acc.a1, &r1), b1 = tas_requant_channel_apply(acc.b1, &r1);
        tas_mat_store_2x2(m, range, a0, a1, b0, b1, out_a + c, out_b + c);
        w += TAS_MAT_MULT_BLOCK_TWO_ROWS * quads + (2 * tail + 3) / 4;
    }
    if (blocked_end < m->output_depth) {
        const int32_t c = blocked_end;
        out_b[c] = tas_mat_output(m, tas_mat_dot_1ch_lane(widened + 2, tail_b, w, quads, tail, bias[c]), c);
        out_a[c] = tas_mat_output(m, tas_mat_dot_1ch_lane(widened, tail_a, w, quads, tail, bias[c]), c);
    }
}

/* Every output channel of input rows a and b (in_b may equal in_a); weights packed in blocks of 2;
 * `widened`: scratch of 4·(depth / 4) words. */
static inline void tas_mat_mult_two_rows(const tas_mat_mult *shape, const int8_t *in_a, const int8_t *in_b,
                                         int32_t *widened, int8_t *out_a, int8_t *out_b)
{
    const int32_t quads = shape->depth / 4;
    tas_mat_widen_rows(in_a, in_b, quads, widened);
    tas_mat_mult_widened_pair(shape, widened, in_a + 4 * quads, in_b + 4 * quads, out_a, out_b);
}

/* One row alone with the weights packed in blocks of 2 (the 1x1 conv's odd pixel, e.g. the last
 * pixel of each 5-pixel row a fused row stream hands the kernel): the row widened once into
 * `widened` (2 words per quad), then per quad of a channel pair 4 SMLADs for 2 LDRDs, about two
 * thirds of a pair's cost rather than all of it. Same sums and requantization as the pair. */
typedef struct {
    int32_t c0, c1;
} tas_mat_acc2;

static inline tas_mat_acc2 tas_mat_quad_2ch_1row(const int32_t **widened, const int32_t **w, tas_mat_acc2 acc)
{
    const tas_widened x = tas_load_pair(widened);
    const tas_widened words = tas_load_pair(w); /* channel 0's word, channel 1's word */
    acc.c0 = tas_mac4(tas_widen(words.even), x, acc.c0);
    acc.c1 = tas_mac4(tas_widen(words.odd), x, acc.c1);
    return acc;
}

static inline tas_mat_acc2 tas_mat_dot_2ch_1row(const int32_t *widened, const int8_t *tail_x, const int32_t *w,
                                                int32_t quads, int32_t tail, tas_mat_acc2 acc)
{
    int32_t quad = quads;
    for (; quad >= 4; quad -= 4) {
        acc = tas_mat_quad_2ch_1row(&widened, &w, acc);
        acc = tas_mat_quad_2ch_1row(&widened, &w, acc);
        acc = tas_mat_quad_2ch_1row(&widened, &w, acc);
        acc = tas_mat_quad_2ch_1row(&widened, &w, acc);
    }
    for (; quad > 0; --quad) {
        acc = tas_mat_quad_2ch_1row(&widened, &w, acc);
    }
    const int8_t *tail_w = (const int8_t *)w; /* channel c's tail byte t at tail_w[c * tail + t] */
    for (int32_t t = 0; t < tail; ++t) {
        acc.c0 += tail_x[t] * tail_w[t];
        acc.c1 += tail_x[t] * tail_w[tail + t];
    }
    return acc;
}

/* Every output channel of one input row; weights packed in blocks of 2 (as tas_mat_mult_two_rows);
 * `widened`: scratch of 2·(depth / 4) words. */
static inline void tas_mat_mult_one_row_pairs(const tas_mat_mult *shape, const int8_t *in, int32_t *widened,
                                              int8_t *out)
{
    const tas_mat_mult local = *shape, *m = &local; /* a local copy: int8 stores cannot alias it */
    const int32_t quads = m->depth / 4, tail = m->depth % 4;
    for (int32_t quad = 0; quad < quads; ++quad) {
        const tas_widened x = tas_widen(tas_read_word(in + 4 * quad));
        widened[2 * quad] = x.even;
        widened[2 * quad + 1] = x.odd;
    }
    const int32_t *w = m->packed_weights;
    const int32_t *bias = m->folded_bias;
    const int32_t blocked_end = m->output_depth - m->output_depth % TAS_MAT_MULT_BLOCK_TWO_ROWS;
    for (int32_t c = 0; c < blocked_end; c += TAS_MAT_MULT_BLOCK_TWO_ROWS) {
        const tas_mat_acc2 start = {bias[c], bias[c + 1]};
        const tas_mat_acc2 acc = tas_mat_dot_2ch_1row(widened, in + 4 * quads, w, quads, tail, start);
        const int32_t q0 = c * m->quant_step, q1 = q0 + m->quant_step;
        const tas_requant_channel r0 = tas_requant_channel_of(m->multiplier[q0], m->shift[q0]);
        out[c] = tas_mat_requant_store(m, acc.c0, &r0);
        const tas_requant_channel r1 = tas_requant_channel_of(m->multiplier[q1], m->shift[q1]);
        out[c + 1] = tas_mat_requant_store(m, acc.c1, &r1);
        w += TAS_MAT_MULT_BLOCK_TWO_ROWS * quads + (2 * tail + 3) / 4;
    }
    if (blocked_end < m->output_depth) {
        out[blocked_end] = tas_mat_output(m, tas_mat_dot_1ch(in, w, quads, tail, bias[blocked_end]), blocked_end);
    }
}

#endif /* TAS_MAT_MULT_DSP_H */
