/* A contiguous run of tas_add_fast_s8 (a residual ADD, or one row of it in a row chain) in about a
 * third of its general walk's instructions, bit-exact with it:
 * - the input of the larger scale has multiplier 2^30 and shift 0 (its real rescale is exactly 0.5),
 *   and its high multiply of x·2^21 is exactly x·2^19: one multiply-add, no rounding (the "exact" input);
 * - the other input's rounding shift (r >= 1) reads its sign from x·2^21 rather than from the high
 *   product (they differ only where the product is 0, which rounds to 0 either way), so the product
 *   and the rounding half are one SMMLAR (tas_requant_channel_apply);
 * - the output's doubled sum is that shift-add, and its rounding half and the output offset (times
 *   2^r, r <= 21: no overflow with |sum| < 2^28) are the SMMLAR's addend;
 * - on DSP cores, four outputs saturated to int8, packed, clamped to the activation range by SSUB8
 *   and SEL, and stored as one word.
 * tas_add_run_of says when it applies; output[i] is written after element i of both operands is read. */
#ifndef TAS_ADD_RUN_H
#define TAS_ADD_RUN_H

#include <stdint.h>
#include "tas_dsp.h"
#include "tas_kernel_params.h"
#include "tas_requantize.h"

#define TAS_ADD_EXACT_MULTIPLIER (1 << 30) /* QuantizeMultiplier(0.5) */
#define TAS_ADD_MAX_OUTPUT_RIGHT 21        /* (128 + 1)·2^21 + 2^28 < 2^31 */

#define TAS_ADD_EXACT_NEGATIVE 1
#define TAS_ADD_SCALED_NEGATIVE 2
#define TAS_ADD_BOTH_EXACT 4

typedef struct {
    int32_t applies;
    int32_t exact_first;        /* input1 is the exact input (else input2) */
    int32_t exact_negative;     /* SUB with the exact input second: the doubled sum subtracts it */
    int32_t scaled_negative;    /* SUB with the scaled input second */
    int32_t both_exact;         /* ADD of equal input scales: both inputs exact */
    int32_t exact_base;         /* the doubled offset terms of the exact input(s): ±offset·2^20 */
    int32_t scaled_offset;      /* the scaled input's offset·2^21 */
    int32_t scaled_multiplier, scaled_round, scaled_right;
    int32_t output_multiplier, output_addend, output_right;
    int32_t act_min, act_max;
} tas_add_run;

static inline int32_t tas_add_is_exact(int32_t multiplier, int32_t shift)
{
    return multiplier == TAS_ADD_EXACT_MULTIPLIER && shift == 0;
}

static inline tas_add_run tas_add_run_of(const tas_add_params *p)
{
    tas_add_run k = {0};
    const int32_t exact1 = tas_add_is_exact(p->input1_multiplier, p->input1_shift);
    const int32_t exact2 = tas_add_is_exact(p->input2_multiplier, p->input2_shift);
    const int32_t right_out = -p->output_shift;
    if (p->left_shift != 20 || !(exact1 || exact2) || right_out < 1 || right_out > TAS_ADD_MAX_OUTPUT_RIGHT) {
        return k;
    }
    const int32_t sign2 = p->subtract ? -1 : 1;
    k.exact_first = exact1;
    k.exact_negative = !exact1 && p->subtract;
    k.exact_base = (exact1 ? p->input1_offset : sign2 * p->input2_offset) * (1 << 20);
    if (exact1 && exact2 && !p->subtract) {
        k.both_exact = 1;
        k.exact_base += p->input2_offset * (1 << 20);
    } else {
        const int32_t shift = exact1 ? p->input2_shift : p->input1_shift;
        if (shift > -1) {
            return k; /* a rescale of at least 0.5 on the smaller scale (equal scales of a SUB) */
        }
        k.scaled_negative = exact1 && p->subtract;
        k.scaled_offset = (int32_t)((uint32_t)(exact1 ? p->input2_offset : p->input1_offset) << 21);
        k.scaled_multiplier = exact1 ? p->input2_multiplier : p->input1_multiplier;
        k.scaled_right = -shift;
        k.scaled_round = 1 << (k.scaled_right - 1);
    }
    k.output_multiplier = p->output_multiplier;
    k.output_right = right_out;
    k.output_addend = (1 << (right_out - 1)) + (int32_t)((uint32_t)p->output_offset << right_out);
    k.act_min = p->act_min;
    k.act_max = p->act_max;
    k.applies = 1;
    return k;
}

/* The output of one element before the activation clamp: e and s the exact and scaled inputs' bytes;
 * the signs are constants of each caller, so each term is one shift-add. */
static inline __attribute__((always_inline)) int32_t tas_add_run_value(const tas_add_run *k, int32_t e, int32_t s,
                                                                        int32_t signs)
{
    const int32_t exact = signs & TAS_ADD_EXACT_NEGATIVE ? k->exact_base - (int32_t)((uint32_t)e << 20)
                                                         : k->exact_base + (int32_t)((uint32_t)e << 20);
    int32_t doubled;
    if (signs & TAS_ADD_BOTH_EXACT) {
        doubled = exact + (int32_t)((uint32_t)s << 20);
    } else {
        const int32_t x = (int32_t)((uint32_t)s << 21) + k->scaled_offset;
        const int32_t scaled = (tas_smmlar(x, k->scaled_multiplier, k->scaled_round) + (x >> 31)) >> k->scaled_right;
        doubled = signs & TAS_ADD_SCALED_NEGATIVE ? exact - 2 * scaled : exact + 2 * scaled;
    }
    return (tas_smmlar(doubled, k->output_multiplier, k->output_addend) + (doubled >> 31)) >> k->output_right;
}

static inline __attribute__((always_inline)) void tas_add_run_apply(const tas_add_run *shape, const int8_t *e,
                                                                     const int8_t *s, int8_t *out, int32_t n,
                                                                     int32_t signs)
{
    const tas_add_run local = *shape, *k = &local; /* a local copy: int8 stores cannot alias it */
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    const int32_t low = tas_splat_s8x4(k->act_min), high = tas_splat_s8x4(k->act_max);
    for (; i + 4 <= n; i += 4) {
        const int32_t packed = tas_pack_s8x4(__ssat(tas_add_run_value(k, e[i], s[i], signs), 8), __ssat(tas_add_run_value(k, e[i + 1], s[i + 1], signs), 8),
                                             __ssat(tas_add_run_value(k, e[i + 2], s[i + 2], signs), 8), __ssat(tas_add_run_value(k, e[i + 3], s[i + 3], signs), 8));
        tas_write_word(out + i, tas_min_s8x4(tas_max_s8x4(packed, low), high));
    }
#endif
    for (; i < n; ++i) {
        out[i] = (int8_t)tas_clamp(tas_add_run_value(k, e[i], s[i], signs), k->act_min, k->act_max);
    }
}

/* n elements of input1 and input2, both contiguous. Without the first scheduling pass: it hoists
 * all eight loads of a 4-output pass and spills the shifts (GCC 12: 24 instructions an output, not 17). */
__attribute__((noinline, optimize("no-schedule-insns"))) static void tas_add_run_contiguous(const tas_add_run *k, const int8_t *input1, const int8_t *input2,
                                          int8_t *output, int32_t n)
{
    const int8_t *e = k->exact_first ? input1 : input2, *s = k->exact_first ? input2 : input1;
    if (k->both_exact) {
        tas_add_run_apply(k, e, s, output, n, TAS_ADD_BOTH_EXACT);
    } else if (k->scaled_negative) {
        tas_add_run_apply(k, e, s, output, n, TAS_ADD_SCALED_NEGATIVE);
    } else if (k->exact_negative) {
        tas_add_run_apply(k, e, s, output, n, TAS_ADD_EXACT_NEGATIVE);
    } else {
        tas_add_run_apply(k, e, s, output, n, 0);
    }
}

#endif /* TAS_ADD_RUN_H */
