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
 * for every channel block, and each widened weight word feeds both rows: 8 SMLADs per LDM + LDRD. */
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
    int32_t fast_requant; /* 1: shift[] holds r - 1 for the right shift r >= 1 (tas_mat_fast_requantize) */
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
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    /* Written out: the 4 widened input words in one LDM (r8-r11 in register order: a.even, a.odd,
     * b.even, b.odd), not two LDRDs: LDM + LDRD + 4 SXTB16 + 8 SMLAD for 16 MACs. */
    register int32_t xa_even __asm__("r8"), xa_odd __asm__("r9"), xb_even __asm__("r10"), xb_odd __asm__("r11");
    int32_t w0, w1, widened_w;
    __asm__("ldmia %[x]!, {r8, r9, r10, r11}\n\t"
            "ldrd %[w0], %[w1], [%[w]], #8\n\t"
            "sxtb16 %[t], %[w0]\n\t"
            "smlad %[a0], %[t], %[xae], %[a0]\n\t"
            "smlad %[b0], %[t], %[xbe], %[b0]\n\t"
            "sxtb16 %[t], %[w0], ror #8\n\t"
            "smlad %[a0], %[t], %[xao], %[a0]\n\t"
            "smlad %[b0], %[t], %[xbo], %[b0]\n\t"
            "sxtb16 %[t], %[w1]\n\t"
            "smlad %[a1], %[t], %[xae], %[a1]\n\t"
            "smlad %[b1], %[t], %[xbe], %[b1]\n\t"
            "sxtb16 %[t], %[w1], ror #8\n\t"
            "smlad %[a1], %[t], %[xao], %[a1]\n\t"
            "smlad %[b1], %[t], %[xbo], %[b1]"
            : [a0] "+r"(acc.a0), [a1] "+r"(acc.a1), [b0] "+r"(acc.b0), [b1] "+r"(acc.b1), [x] "+r"(*widened),
              [w] "+r"(*w), [xae] "=&r"(xa_even), [xao] "=&r"(xa_odd), [xbe] "=&r"(xb_even), [xbo] "=&r"(xb_odd),
              [w0] "=&r"(w0), [w1] "=&r"(w1), [t] "=&r"(widened_w)
            :
            : "memory");
    return acc;
#else
    const tas_widened xa = tas_load_pair(widened), xb = tas_load_pair(widened);
    const tas_widened words = tas_load_pair(w); /* channel 0's word, channel 1's word */
    tas_widened wc = tas_widen(words.even);
    acc.a0 = tas_mac4(wc, xa, acc.a0);
    acc.b0 = tas_mac4(wc, xb, acc.b0);
    wc = tas_widen(words.odd);
    acc.a1 = tas_mac4(wc, xa, acc.a1);
    acc.b1 = tas_mac4(wc, xb, acc.b1);
    return acc;
#endif
}

/* Rows a and b: quads from `widened` (tas_mat_widen_rows), the depth % 4 tail bytes from tail_a, tail_b.
 * Always inlined: outlined (GCC 12 does once two loops call it) its sums go through the stack. */
static inline __attribute__((always_inline)) tas_mat_acc2x2 tas_mat_dot_2ch_2rows(const int32_t *widened, const int8_t *tail_a, const int8_t *tail_b,
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

/* x saturated to int8: one SSAT on DSP cores. */
static inline int32_t tas_mat_ssat8(int32_t x)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    return __ssat(x, 8);
#else
    return tas_clamp(x, -128, 127);
#endif
}

/* x >> 1 saturated to int8: one SSAT with its ASR #1 on DSP cores. */
static inline int32_t tas_mat_ssat8_asr1(int32_t x)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    int32_t result;
    __asm__("ssat %0, #8, %1, asr #1" : "=r"(result) : "r"(x));
    return result;
#else
    return tas_clamp(x >> 1, -128, 127);
#endif
}

/* The fast requantization (the fully connected kernel's, chosen at export when exact for every
 * input: compile/ops/fully_connected_dsp.py, fast_requantization_holds): requantize(acc) +
 * output_offset saturated to int8 is (SMMLAR(2·acc, m, add) - [acc < 0]) >> r with
 * add = 2^(r-1)·(2·output_offset + 1) (tas_fully_connected_s8_dsp.c has the derivation); 5
 * instructions per value once a channel's add is formed. right_less_one is r - 1. */
static inline int32_t tas_mat_fast_requantize(int32_t acc, int32_t multiplier, int32_t add, int32_t right_less_one)
{
    return tas_mat_ssat8_asr1((tas_smmlar(acc + acc, multiplier, add) + (acc >> 31)) >> right_less_one);
}

/* The fast form's rounding and offset term of a channel whose shift word is r - 1. */
static inline int32_t tas_mat_fast_add(const tas_mat_mult *m, int32_t right_less_one)
{
    return (int32_t)((uint32_t)(2 * m->output_offset + 1) << right_less_one);
}

static inline int8_t tas_mat_output(const tas_mat_mult *m, int32_t acc, int32_t channel)
{
    const int32_t q = channel * m->quant_step;
    if (m->fast_requant) {
        const int32_t r = m->shift[q];
        return (int8_t)tas_clamp(tas_mat_fast_requantize(acc, m->multiplier[q], tas_mat_fast_add(m, r), r), m->act_min,
                                 m->act_max);
    }
    acc = tas_requantize_positive_one_floor(acc, m->multiplier[q], m->shift[q]) + m->output_offset;
    return (int8_t)tas_clamp(acc, m->act_min, m->act_max);
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

/* Channels c, c + 1 of rows a and b, with the output offset and saturated to int8 (the fast
 * requantization's values), clamped to `range` at out_a[0..1] and out_b[0..1]: on DSP cores packed
 * into one word, clamped by two SSUB8/SEL pairs and stored as two halfwords. */
static inline void tas_store_2x2_in_range(tas_mat_range4 range, int32_t a0, int32_t a1, int32_t b0, int32_t b1,
                                          int8_t *out_a, int8_t *out_b)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    const int32_t packed = tas_min_s8x4(tas_max_s8x4(tas_pack_s8x4(a0, a1, b0, b1), range.low), range.high);
    const uint16_t pair_a = (uint16_t)packed, pair_b = (uint16_t)((uint32_t)packed >> 16);
    memcpy(out_a, &pair_a, sizeof pair_a); /* when out_b == out_a (a pixel paired with itself) both are equal */
    memcpy(out_b, &pair_b, sizeof pair_b);
#else
    const int32_t low = (int8_t)range.low, high = (int8_t)range.high;
    out_a[0] = (int8_t)tas_clamp(a0, low, high);
    out_a[1] = (int8_t)tas_clamp(a1, low, high);
    out_b[0] = (int8_t)tas_clamp(b0, low, high);
    out_b[1] = (int8_t)tas_clamp(b1, low, high);
#endif
}

static inline void tas_mat_store_2x2_int8(const tas_mat_mult *m, tas_mat_range4 range, int32_t a0, int32_t a1,
                                          int32_t b0, int32_t b1, int8_t *out_a, int8_t *out_b)
{
    (void)m;
    tas_store_2x2_in_range(range, a0, a1, b0, b1, out_a, out_b);
}

/* As tas_mat_store_2x2_int8 for values requantized, the output offset not yet added: about 14
 * instructions for the four, not 4 compare-and-select clamps and 4 byte stores with their spills. */
static inline void tas_mat_store_2x2(const tas_mat_mult *m, tas_mat_range4 range, int32_t a0, int32_t a1, int32_t b0,
                                     int32_t b1, int8_t *out_a, int8_t *out_b)
{
    const int32_t offset = m->output_offset;
    tas_mat_store_2x2_int8(m, range, tas_mat_ssat8(a0 + offset), tas_mat_ssat8(a1 + offset), tas_mat_ssat8(b0 + offset),
                           tas_mat_ssat8(b1 + offset), out_a, out_b);
}

/* tas_mat_mult_widened_pair's channel pairs with the fast requantization (m->fast_requant): each
 * channel's multiplier, r - 1 and add once for both rows, 5 instructions per value. Returns the
 * weights past the pairs. */
static inline const int32_t *tas_mat_pairs_fast(const tas_mat_mult *m, const int32_t *widened, const int8_t *tail_a,
                                                const int8_t *tail_b, int8_t *out_a, int8_t *out_b)
{
    const int32_t quads = m->depth / 4, tail = m->depth % 4;
    const int32_t *w = m->packed_weights;
    const int32_t *bias = m->folded_bias;
    const int32_t blocked_end = m->output_depth - m->output_depth % TAS_MAT_MULT_BLOCK_TWO_ROWS;
    const tas_mat_range4 range = tas_mat_range4_of(m);
    const int32_t step = m->quant_step;
    const int32_t *multiplier = m->multiplier, *right_less_one = m->shift;
    for (int32_t c = 0; c < blocked_end; c += TAS_MAT_MULT_BLOCK_TWO_ROWS) {
        const tas_mat_acc2x2 start = {bias[c], bias[c + 1], bias[c], bias[c + 1]};
        const tas_mat_acc2x2 acc = tas_mat_dot_2ch_2rows(widened, tail_a, tail_b, w, quads, tail, start);
        const int32_t r0 = right_less_one[0], m0 = multiplier[0], add0 = tas_mat_fast_add(m, r0);
        const int32_t a0 = tas_mat_fast_requantize(acc.a0, m0, add0, r0), b0 = tas_mat_fast_requantize(acc.b0, m0, add0, r0);
        const int32_t r1 = right_less_one[step], m1 = multiplier[step], add1 = tas_mat_fast_add(m, r1);
        const int32_t a1 = tas_mat_fast_requantize(acc.a1, m1, add1, r1), b1 = tas_mat_fast_requantize(acc.b1, m1, add1, r1);
        tas_mat_store_2x2_int8(m, range, a0, a1, b0, b1, out_a + c, out_b + c);
        multiplier += 2 * step;
        right_less_one += 2 * step;
        w += TAS_MAT_MULT_BLOCK_TWO_ROWS * quads + (2 * tail + 3) / 4;
    }
    return w;
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
    if (m->fast_requant) {
        w = tas_mat_pairs_fast(m, widened, tail_a, tail_b, out_a, out_b);
    } else for (int32_t c = 0; c < blocked_end; c += TAS_MAT_MULT_BLOCK_TWO_ROWS) {
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
        out[c] = tas_mat_output(m, acc.c0, c);
        out[c + 1] = tas_mat_output(m, acc.c1, c + 1);
        w += TAS_MAT_MULT_BLOCK_TWO_ROWS * quads + (2 * tail + 3) / 4;
    }
    if (blocked_end < m->output_depth) {
        out[blocked_end] = tas_mat_output(m, tas_mat_dot_1ch(in, w, quads, tail, bias[blocked_end]), blocked_end);
    }
}

#endif /* TAS_MAT_MULT_DSP_H */
