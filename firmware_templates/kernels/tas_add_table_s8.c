/* tas_add_fast_s8 for large tensors (residual blocks): each input's scaled value depends on its
 * byte alone, so the kernel first tabulates both (2 x 256 int32 in scratch, tas_add_fast_s8's
 * arithmetic, the second table negated for SUB), then per element two loads from the tables, one
 * add, and the output's SMMULR and rounding shift. Same parameters and results as tas_add_s8;
 * output[i] is written after both operands' element i is read. scratch: 512 words. */
#include "tas_kernels.h"
#include "tas_kernel_params.h"
#include "tas_broadcast.h"
#include "tas_requantize.h"

/* table[v + 128] = the scaled value of input byte v: (v + offset)·2^20, high-multiplied, rounded. */
static inline void tas_add_scaled_table(int32_t offset, int32_t multiplier, int32_t shift, int32_t sign, int32_t *table)
{
    const tas_rounding_shift r = tas_rounding_shift_of(shift);
    for (int32_t v = -128; v < 128; ++v) {
        table[v + 128] = sign * tas_rounding_shift_apply(tas_smmulr((int32_t)((uint32_t)(v + offset) << 21), multiplier), r);
    }
}

/* The output stage of one sum of scaled inputs; its right shift is >= 1 (ops/elementwise.py checks). */
typedef struct {
    int32_t multiplier, right, round, offset, act_min, act_max;
} tas_add_output_stage;

static inline int8_t tas_add_output(tas_add_output_stage s, int32_t sum)
{
    const int32_t high = tas_smmulr(2 * sum, s.multiplier);
    return (int8_t)tas_clamp(((high + s.round + (high >> 31)) >> s.right) + s.offset, s.act_min, s.act_max);
}

/* n elements of two operands read contiguously (every residual ADD): pointers step by one. */
static inline void tas_add_table_run(const int8_t *a, const int8_t *c, int8_t *out, int32_t n, const int32_t *table1,
                                     const int32_t *table2, tas_add_output_stage s)
{
    for (const int8_t *end = a + n; a < end; ++a, ++c, ++out) {
        *out = tas_add_output(s, table1[*a] + table2[*c]);
    }
}

TAS_KERNEL void tas_add_table_s8(const tas_add_params *p, const int8_t *input1, const int8_t *input2, int32_t *scratch,
                                 int8_t *output)
{
    const int32_t dims[4] = {p->dim0, p->dim1, p->dim2, p->dim3};
    const int32_t steps1[4] = {p->input1_step0, p->input1_step1, p->input1_step2, p->input1_step3};
    const int32_t steps2[4] = {p->input2_step0, p->input2_step1, p->input2_step2, p->input2_step3};
    const tas_broadcast b = tas_broadcast_merged(dims, steps1, steps2);
    tas_add_scaled_table(p->input1_offset, p->input1_multiplier, p->input1_shift, 1, scratch);
    tas_add_scaled_table(p->input2_offset, p->input2_multiplier, p->input2_shift, p->subtract ? -1 : 1, scratch + 256);
    const int32_t *table1 = scratch + 128, *table2 = scratch + 256 + 128; /* indexed by the signed byte */
    const tas_add_output_stage stage = {p->output_multiplier, -p->output_shift, (int32_t)(1u << (-p->output_shift - 1)),
                                        p->output_offset, p->act_min, p->act_max};
    if (b.steps1[3] == 1 && b.steps2[3] == 1 && b.dims[0] * b.dims[1] * b.dims[2] == 1) {
        tas_add_table_run(input1, input2, output, b.dims[3], table1, table2, stage);
        return;
    }
    int8_t *out = output;
    for (int32_t i0 = 0; i0 < b.dims[0]; ++i0) {
        for (int32_t i1 = 0; i1 < b.dims[1]; ++i1) {
            for (int32_t i2 = 0; i2 < b.dims[2]; ++i2) {
                const int8_t *a = input1 + i0 * b.steps1[0] + i1 * b.steps1[1] + i2 * b.steps1[2];
                const int8_t *c = input2 + i0 * b.steps2[0] + i1 * b.steps2[1] + i2 * b.steps2[2];
                for (int32_t i3 = 0; i3 < b.dims[3]; ++i3, a += b.steps1[3], c += b.steps2[3]) {
                    *out++ = tas_add_output(stage, table1[*a] + table2[*c]);
                }
            }
        }
    }
}
