/* int8 ADD and SUB with TFLite's arithmetic (tas_add_s8: offset inputs shifted left by 20, each
 * scaled to 2·max(s1, s2), summed, requantized), bit-exact, in about a quarter of the instructions:
 * - a gemmlowp doubling high multiply of (x + offset)·2^20 by a multiplier m >= 0 equals
 *   floor(((x + offset)·2^21·m + 2^31) / 2^32) (tas_requantize.h), one SMMULR on DSP cores, and
 *   the output's does the same on 2·sum (|sum| < 2^28);
 * - the rounding right shift by r is (h + 2^(r-1) - [h < 0]) >> r: no mask, no compare;
 * - per-op constants (the offsets already shifted, the rounding terms) computed once per call;
 * - axes both inputs read contiguously merged (tas_broadcast.h), so a residual ADD is one loop;
 * - innermost runs both inputs read contiguously go through tas_add_run.h when it applies (one
 *   input's rescale exactly 0.5, as add_sub_multipliers makes it), a third of the instructions.
 * Same parameters and layouts as tas_add_s8; output[i] is written after both operands' element i
 * is read, so the output may overwrite an operand of its shape. */
#include "tas_kernels.h"
#include "tas_kernel_params.h"
#include "tas_broadcast.h"
#include "tas_requantize.h"
#include "tas_add_run.h"

TAS_KERNEL void tas_add_fast_s8(const tas_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const int32_t dims[4] = {p->dim0, p->dim1, p->dim2, p->dim3};
    const int32_t steps1[4] = {p->input1_step0, p->input1_step1, p->input1_step2, p->input1_step3};
    const int32_t steps2[4] = {p->input2_step0, p->input2_step1, p->input2_step2, p->input2_step3};
    const tas_broadcast b = tas_broadcast_merged(dims, steps1, steps2);
    /* x·2^21 for the high multiply: the offset shifted once; |x + offset| <= 255 fits in 2^29. */
    const int32_t offset1 = (int32_t)((uint32_t)p->input1_offset << (p->left_shift + 1));
    const int32_t offset2 = (int32_t)((uint32_t)p->input2_offset << (p->left_shift + 1));
    const int32_t shift_in = p->left_shift + 1;
    const tas_rounding_shift r1 = tas_rounding_shift_of(p->input1_shift), r2 = tas_rounding_shift_of(p->input2_shift);
    const tas_rounding_shift ro = tas_rounding_shift_of(p->output_shift);
    const int32_t m1 = p->input1_multiplier, m2 = p->input2_multiplier, mo = p->output_multiplier;
    const int32_t sign = p->subtract ? -1 : 1;
    const int32_t output_offset = p->output_offset, act_min = p->act_min, act_max = p->act_max;
    const tas_add_run run = tas_add_run_of(p);
    const int32_t runs = run.applies && b.steps1[3] == 1 && b.steps2[3] == 1;
    int8_t *out = output;
    for (int32_t i0 = 0; i0 < b.dims[0]; ++i0) {
        for (int32_t i1 = 0; i1 < b.dims[1]; ++i1) {
            for (int32_t i2 = 0; i2 < b.dims[2]; ++i2) {
                const int8_t *a = input1 + i0 * b.steps1[0] + i1 * b.steps1[1] + i2 * b.steps1[2];
                const int8_t *c = input2 + i0 * b.steps2[0] + i1 * b.steps2[1] + i2 * b.steps2[2];
                if (runs) {
                    tas_add_run_contiguous(&run, a, c, out, b.dims[3]);
                    out += b.dims[3];
                    continue;
                }
                for (int32_t i3 = 0; i3 < b.dims[3]; ++i3, a += b.steps1[3], c += b.steps2[3]) {
                    const int32_t scaled1 = tas_rounding_shift_apply(tas_smmulr((int32_t)((uint32_t)*a << shift_in) + offset1, m1), r1);
                    const int32_t scaled2 = tas_rounding_shift_apply(tas_smmulr((int32_t)((uint32_t)*c << shift_in) + offset2, m2), r2);
                    const int32_t sum = scaled1 + sign * scaled2;
                    const int32_t value = tas_rounding_shift_apply(tas_smmulr(2 * sum, mo), ro) + output_offset;
                    *out++ = (int8_t)tas_clamp(value, act_min, act_max);
                }
            }
        }
    }
}
