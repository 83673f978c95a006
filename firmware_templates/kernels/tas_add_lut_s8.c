/* int8 ADD and SUB of two operands of the output's shape (a residual ADD, or one row of it in a row
 * chain), bit-exact with tas_add_s8, in about 10 instructions an element on DSP cores (tas_add_run.h:
 * about 17). The larger-scale input's rescale is exactly 0.5, so its doubled scaled value is
 * (x + offset)·2^20: one shift-add. The other input's doubled scaled value, offset term of the exact
 * input included, depends on its byte alone and is read from a table made at export time
 * (tinyasc/compile/ops/elementwise.py: scaled_table, TFLite's arithmetic):
 *   doubled = table[s + 128] ± (e << 20)
 * The output stage is tas_add_run.h's (one SMMLAR with the rounding half and the output offset in its
 * addend, exact for an output right shift in [1, 21]); on DSP cores four outputs are saturated, packed,
 * clamped to the activation range by SSUB8/SEL and stored as one word.
 * e: the exact input (input1 when exact_first, else input2), s: the other one; exact_negative: a SUB
 * whose exact input is the second operand. output[i] is written after element i of both operands is
 * read, so the output may overwrite either operand. table: 256 int32. */
#include "tas_kernels.h"
#include "tas_kernel_params.h"
#include "tas_dsp.h"
#include "tas_requantize.h"

typedef struct {
    const int32_t *table; /* indexed by the byte, -128..127 */
    int32_t multiplier, addend, right, act_min, act_max;
} tas_add_lut;

static inline __attribute__((always_inline)) int32_t tas_add_lut_value(const tas_add_lut *k, int32_t e, int32_t s,
                                                                       int32_t negative)
{
    const int32_t shifted = (int32_t)((uint32_t)e << 20);
    const int32_t doubled = negative ? k->table[s] - shifted : k->table[s] + shifted;
    return (tas_smmlar(doubled, k->multiplier, k->addend) + (doubled >> 31)) >> k->right;
}

static inline __attribute__((always_inline)) void tas_add_lut_apply(const tas_add_lut *k, const int8_t *e,
                                                                    const int8_t *s, int8_t *out, int32_t n,
                                                                    int32_t negative)
{
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    const int32_t low = tas_splat_s8x4(k->act_min), high = tas_splat_s8x4(k->act_max);
    for (; i + 4 <= n; i += 4) {
        const int32_t packed = tas_pack_s8x4(__ssat(tas_add_lut_value(k, e[i], s[i], negative), 8), __ssat(tas_add_lut_value(k, e[i + 1], s[i + 1], negative), 8),
                                             __ssat(tas_add_lut_value(k, e[i + 2], s[i + 2], negative), 8), __ssat(tas_add_lut_value(k, e[i + 3], s[i + 3], negative), 8));
        tas_write_word(out + i, tas_min_s8x4(tas_max_s8x4(packed, low), high));
    }
#endif
    for (; i < n; ++i) {
        out[i] = (int8_t)tas_clamp(tas_add_lut_value(k, e[i], s[i], negative), k->act_min, k->act_max);
    }
}

/* Without the first scheduling pass, as tas_add_run_contiguous: it would hoist a pass's loads and spill. */
__attribute__((noinline, optimize("no-schedule-insns"))) static void tas_add_lut_run(const tas_add_lut *shape,
        const int8_t *e, const int8_t *s, int8_t *out, int32_t n, int32_t negative)
{
    const tas_add_lut local = *shape, *k = &local; /* a local copy: int8 stores cannot alias it */
    if (negative) {
        tas_add_lut_apply(k, e, s, out, n, 1);
    } else {
        tas_add_lut_apply(k, e, s, out, n, 0);
    }
}

TAS_KERNEL void tas_add_lut_s8(const tas_add_params *p, const int8_t *input1, const int8_t *input2,
                               const int32_t *table, int32_t exact_first, int32_t exact_negative, int8_t *output)
{
    const int32_t right = -p->output_shift; /* 1..21 (elementwise.py: add_run_applies) */
    const tas_add_lut k = {
        .table = table + 128, .multiplier = p->output_multiplier,
        .addend = (1 << (right - 1)) + (int32_t)((uint32_t)p->output_offset << right),
        .right = right, .act_min = p->act_min, .act_max = p->act_max,
    };
    const int32_t n = p->dim0 * p->dim1 * p->dim2 * p->dim3;
    tas_add_lut_run(&k, exact_first ? input1 : input2, exact_first ? input2 : input1, output, n, exact_negative);
}
