/* Three rows (pixels) at a time through the 1x1 conv's matrix product (tas_mat_mult_dsp.h has the
 * arithmetic and the weight layout: blocks of 2 channels, int8 widened on the fly by SXTB16).
 * A 2 channels x 3 pixels block per quad: one LDRD of weights, 4 SXTB16 and, per pixel, one LDRD of
 * its widened inputs and 4 SMLADs: 20 instructions for 24 MACs, against 14 for 16 in the 2 x 2 block,
 * and each channel pair's requantization terms are loaded once for three outputs, not two. Six
 * accumulators, four widened weights, two input words and two pointers fill the 14 registers, so
 * the loop over channel pairs (with the fast requantization, tas_mat_fast_requantize, and the
 * packed, clamped halfword stores of tas_mat_store_2x2_int8) is one naked function in assembly;
 * tas_mat_triples_c is its plain-C twin for the host.
 * Used when the export proved the fast requantization exact, per-channel constants (quant_step 1),
 * depth a multiple of 4 and at least one channel pair; the caller runs a last odd channel. */
#ifndef TAS_MAT_MULT_TRIPLES_DSP_H
#define TAS_MAT_MULT_TRIPLES_DSP_H

#include "tas_mat_mult_dsp.h"

/* The assembly's arguments: words 0-13 copied onto its stack as they are (offsets in the comments). */
typedef struct {
    const int32_t *widened;     /* 0: three rows widened, per quad a.even, a.odd, b.even, b.odd, c.even, c.odd */
    const int32_t *widened_end; /* 4 */
    const int32_t *multiplier;  /* 8: per channel */
    const int32_t *shift;       /* 12: r - 1 per channel */
    const int32_t *bias;        /* 16: folded bias per channel */
    int8_t *out_a, *out_b, *out_c; /* 20, 24, 28: each row's channel 0 */
    const int8_t *out_a_end;    /* 32: out_a + 2·pairs */
    int32_t round_base;         /* 36: 2·output_offset + 1 (tas_mat_fast_add) */
    int32_t entry;              /* 40: quads % 8 (the assembly keeps its loop entry here) */
    int32_t clamp;              /* 44: 0 when the activation range is all of int8 */
    int32_t range_low, range_high; /* 48, 52: act_min, act_max in all four byte lanes */
    const int32_t *weights;     /* 56 */
} tas_mat_triples;

static inline int32_t tas_mat_triples_apply(const tas_mat_mult *m)
{
    return m->fast_requant && m->quant_step == 1 && m->depth % 4 == 0 && m->depth > 0 && m->output_depth >= 2;
}

/* Rows a, b and c widened once for every channel pair (6·quads words). */
static inline void tas_mat_widen_three_rows(const int8_t *in_a, const int8_t *in_b, const int8_t *in_c,
                                            int32_t quads, int32_t *widened)
{
    for (int32_t quad = 0; quad < quads; ++quad, widened += 6) {
        const tas_widened a = tas_widen(tas_read_word(in_a + 4 * quad));
        const tas_widened b = tas_widen(tas_read_word(in_b + 4 * quad));
        const tas_widened c = tas_widen(tas_read_word(in_c + 4 * quad));
        widened[0] = a.even;
        widened[1] = a.odd;
        widened[2] = b.even;
        widened[3] = b.odd;
        widened[4] = c.even;
        widened[5] = c.odd;
    }
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* One quad of the block: r6 weights, r7 widened inputs, r0-r5 the sums (a0 a1 b0 b1 c0 c1), r8-r11
 * the two channels' widened words (0 even, 0 odd, 1 even, 1 odd), ip/lr one pixel's input words. */
#define TAS_MAT_TRIPLE_PIXEL(acc0, acc1)                                                                  \
    "ldrd ip, lr, [r7], #8\n\t"                                                                           \
    "smlad " acc0 ", r8, ip, " acc0 "\n\t"                                                                \
    "smlad " acc0 ", r9, lr, " acc0 "\n\t"                                                                \
    "smlad " acc1 ", r10, ip, " acc1 "\n\t"                                                               \
    "smlad " acc1 ", r11, lr, " acc1 "\n\t"
#define TAS_MAT_TRIPLE_QUAD                                                                               \
    "ldrd r8, r10, [r6], #8\n\t"                                                                          \
    "sxtb16 r9, r8, ror #8\n\t"                                                                           \
    "sxtb16 r8, r8\n\t"                                                                                   \
    "sxtb16 r11, r10, ror #8\n\t"                                                                         \
    "sxtb16 r10, r10\n\t" TAS_MAT_TRIPLE_PIXEL("r0", "r1") TAS_MAT_TRIPLE_PIXEL("r2", "r3")               \
        TAS_MAT_TRIPLE_PIXEL("r4", "r5")
/* The fast requantization of the sum in `acc` (tas_mat_fast_requantize): m the multiplier, add the
 * rounding and offset term, r the shift word (r - 1); r8 is free. */
#define TAS_MAT_TRIPLE_REQUANT(acc, m, add, r)                                                            \
    "lsl r8, " acc ", #1\n\t"                                                                             \
    "smmlar r8, r8, " m ", " add "\n\t"                                                                   \
    "add " acc ", r8, " acc ", asr #31\n\t"                                                               \
    "asr " acc ", " acc ", " r "\n\t"                                                                     \
    "ssat " acc ", #8, " acc ", asr #1\n\t"
/* The next pair's sums start at its biases. */
#define TAS_MAT_TRIPLE_BIAS                                                                               \
    "ldr r8, [sp, #16]\n\t"                                                                               \
    "ldrd r0, r1, [r8], #8\n\t"                                                                           \
    "str r8, [sp, #16]\n\t"                                                                               \
    "mov r2, r0\n\t"                                                                                      \
    "mov r3, r1\n\t"                                                                                      \
    "mov r4, r0\n\t"                                                                                      \
    "mov r5, r1\n\t"                                                                                      \
    "ldr r7, [sp, #0]\n\t"

/* Every channel pair of three widened rows; eight quads an iteration (every instruction of a quad
 * is a 32-bit one: 80 bytes), entered at quad 8 − quads mod 8. */
__attribute__((naked, noinline, unused)) static void tas_mat_triples_dsp(__attribute__((unused)) const tas_mat_triples *t)
{
    __asm__ volatile(
        "push {r4-r11, lr}\n\t"
        "ldr r6, [r0, #52]\n\t"
        "push {r6}\n\t" /* range_high, at sp + 52 after the next push */
        "ldr r6, [r0, #56]\n\t" /* the weights pointer stays in r6 */
        "ldm r0, {r0-r5, r7-r12, lr}\n\t"
        "push {r0-r5, r7-r12, lr}\n\t" /* the arguments at sp + 0 .. 48 */
        "ldr r1, [sp, #40]\n\t" /* quads % 8: enter at quad (8 - quads % 8) % 8, 80 bytes each */
        "rsb r1, r1, #8\n\t"
        "and r1, r1, #7\n\t"
        "mov r3, #80\n\t"
        "adr r2, 1f\n\t"
        "mla r2, r1, r3, r2\n\t"
        "orr r2, r2, #1\n\t" /* a Thumb address */
        "str r2, [sp, #40]\n\t" TAS_MAT_TRIPLE_BIAS
        "ldr pc, [sp, #40]\n\t"
        "1:\n\t" TAS_MAT_TRIPLE_QUAD "2:\n\t"
        ".ifne (2b - 1b) - 80\n\t.error \"a quad is not 80 bytes\"\n\t.endif\n\t" TAS_MAT_TRIPLE_QUAD TAS_MAT_TRIPLE_QUAD TAS_MAT_TRIPLE_QUAD
        TAS_MAT_TRIPLE_QUAD TAS_MAT_TRIPLE_QUAD TAS_MAT_TRIPLE_QUAD TAS_MAT_TRIPLE_QUAD
        "ldr ip, [sp, #4]\n\t"
        "cmp r7, ip\n\t"
        "bne 1b\n\t"
        /* requantize: r9, r10 the multipliers, r11, ip the shift words, r7, lr the adds */
        "ldrd r7, r8, [sp, #8]\n\t"
        "ldrd r9, r10, [r7], #8\n\t"
        "ldrd r11, ip, [r8], #8\n\t"
        "strd r7, r8, [sp, #8]\n\t"
        "ldr lr, [sp, #36]\n\t"
        "lsl r7, lr, r11\n\t"
        "lsl lr, lr, ip\n\t" TAS_MAT_TRIPLE_REQUANT("r0", "r9", "r7", "r11")
            TAS_MAT_TRIPLE_REQUANT("r2", "r9", "r7", "r11") TAS_MAT_TRIPLE_REQUANT("r4", "r9", "r7", "r11")
                TAS_MAT_TRIPLE_REQUANT("r1", "r10", "lr", "ip") TAS_MAT_TRIPLE_REQUANT("r3", "r10", "lr", "ip")
                    TAS_MAT_TRIPLE_REQUANT("r5", "r10", "lr", "ip")
        "bfi r0, r1, #8, #8\n\t"
        "bfi r0, r2, #16, #8\n\t"
        "bfi r0, r3, #24, #8\n\t" /* a0 a1 b0 b1 */
        "bfi r4, r5, #8, #8\n\t"  /* c0 c1 */
        "ldr r7, [sp, #44]\n\t"
        "cbz r7, 5f\n\t"
        "ldrd r7, r8, [sp, #48]\n\t"
        "ssub8 r9, r0, r7\n\t"
        "sel r0, r0, r7\n\t"
        "ssub8 r9, r0, r8\n\t"
        "sel r0, r8, r0\n\t"
        "ssub8 r9, r4, r7\n\t"
        "sel r4, r4, r7\n\t"
        "ssub8 r9, r4, r8\n\t"
        "sel r4, r8, r4\n\t"
        "5:\n\t"
        "add r7, sp, #20\n\t"
        "ldm r7, {r8-r11}\n\t" /* out_a, out_b, out_c, out_a_end */
        "lsr ip, r0, #16\n\t"
        "strh r0, [r8], #2\n\t"
        "strh ip, [r9], #2\n\t"
        "strh r4, [r10], #2\n\t"
        "stm r7, {r8-r10}\n\t"
        "cmp r8, r11\n\t"
        "beq 6f\n\t" TAS_MAT_TRIPLE_BIAS
        "ldr pc, [sp, #40]\n\t"
        "6:\n\t"
        "add sp, #56\n\t"
        "pop {r4-r11, pc}\n\t");
}
#else
/* The plain-C twin of tas_mat_triples_dsp: the same sums, requantization, clamp and stores. */
__attribute__((unused)) static void tas_mat_triples_c(const tas_mat_triples *t)
{
    const int32_t quads = (int32_t)(t->widened_end - t->widened) / 6;
    const int32_t *w = t->weights;
    const int32_t act_min = (int8_t)t->range_low, act_max = (int8_t)t->range_high;
    int8_t *out[3] = {t->out_a, t->out_b, t->out_c};
    for (int32_t c = 0; out[0] != t->out_a_end; c += 2) {
        int32_t acc[3][2];
        for (int32_t row = 0; row < 3; ++row) {
            acc[row][0] = t->bias[c];
            acc[row][1] = t->bias[c + 1];
        }
        for (int32_t quad = 0; quad < quads; ++quad, w += 2) {
            const tas_widened w0 = tas_widen(w[0]), w1 = tas_widen(w[1]);
            for (int32_t row = 0; row < 3; ++row) {
                const tas_widened x = {t->widened[6 * quad + 2 * row], t->widened[6 * quad + 2 * row + 1]};
                acc[row][0] = tas_mac4(w0, x, acc[row][0]);
                acc[row][1] = tas_mac4(w1, x, acc[row][1]);
            }
        }
        for (int32_t k = 0; k < 2; ++k) {
            const int32_t r = t->shift[c + k], add = (int32_t)((uint32_t)t->round_base << r);
            for (int32_t row = 0; row < 3; ++row) {
                const int32_t value = tas_mat_fast_requantize(acc[row][k], t->multiplier[c + k], add, r);
                out[row][k] = (int8_t)(t->clamp ? tas_clamp(value, act_min, act_max) : value);
            }
        }
        for (int32_t row = 0; row < 3; ++row) {
            out[row] += 2;
        }
    }
}
#endif

/* One row widened into its lanes of the triple layout: lane = widened + 2·row. */
static inline void tas_mat_widen_lane3(const int8_t *in, int32_t quads, int32_t *lane)
{
    for (int32_t quad = 0; quad < quads; ++quad, lane += 6) {
        const tas_widened x = tas_widen(tas_read_word(in + 4 * quad));
        lane[0] = x.even;
        lane[1] = x.odd;
    }
}

/* Every output channel of three rows already widened (tas_mat_triples_apply holds). */
static inline void tas_mat_mult_widened_triple(const tas_mat_mult *m, const int32_t *widened, int8_t *out_a,
                                               int8_t *out_b, int8_t *out_c)
{
    const int32_t quads = m->depth / 4, pairs = m->output_depth / 2;
    const tas_mat_range4 range = tas_mat_range4_of(m);
    const tas_mat_triples t = {
        .widened = widened, .widened_end = widened + 6 * quads, .multiplier = m->multiplier, .shift = m->shift,
        .bias = m->folded_bias, .out_a = out_a, .out_b = out_b, .out_c = out_c, .out_a_end = out_a + 2 * pairs,
        .round_base = 2 * m->output_offset + 1, .entry = quads % 8,
        .clamp = m->act_min > -128 || m->act_max < 127, .range_low = range.low, .range_high = range.high,
        .weights = m->packed_weights,
    };
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    tas_mat_triples_dsp(&t);
#else
    tas_mat_triples_c(&t);
#endif
    if (m->output_depth % 2) { /* the last channel, packed alone after the pairs */
        const int32_t c = m->output_depth - 1;
        const int32_t *w = m->packed_weights + 2 * quads * pairs;
        int8_t *outs[3] = {out_a, out_b, out_c};
        for (int32_t row = 0; row < 3; ++row) {
            int32_t acc = m->folded_bias[c];
            for (int32_t quad = 0; quad < quads; ++quad) {
                const tas_widened x = {widened[6 * quad + 2 * row], widened[6 * quad + 2 * row + 1]};
                acc = tas_mac4(tas_widen(w[quad]), x, acc);
            }
            outs[row][c] = tas_mat_output(m, acc, c);
        }
    }
}

/* Every output channel of input rows a, b, c (tas_mat_triples_apply holds); `widened`: scratch of
 * 6·(depth / 4) words; outputs at out, out + out_stride, out + 2·out_stride. */
static inline void tas_mat_mult_three_rows(const tas_mat_mult *m, const int8_t *in_a, const int8_t *in_b,
                                           const int8_t *in_c, int32_t *widened, int8_t *out, int32_t out_stride)
{
    tas_mat_widen_three_rows(in_a, in_b, in_c, m->depth / 4, widened);
    tas_mat_mult_widened_triple(m, widened, out, out + out_stride, out + 2 * out_stride);
}

#endif /* TAS_MAT_MULT_TRIPLES_DSP_H */
