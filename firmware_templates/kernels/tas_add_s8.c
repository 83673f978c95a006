/* int8 ADD and SUB, TFLite reference semantics (integer_ops/add.h, sub.h) with 4-D broadcasting.
 * input1, input2: int8, read at i0·input*_step0 + … + i3·input*_step3 (a step of 0 repeats the
 *                 operand along that axis: TFLite's broadcasting of a size-1 axis)
 * output        : int8 [dim0, dim1, dim2, dim3], row-major
 * Each offset input (|x| ≤ 255) is shifted left by left_shift (20: fits int32), scaled to the
 * common scale 2·max(s1, s2) by a multiplier below one, the two are added (or subtracted when
 * `subtract`), and the sum is requantized to the output, offset and clamped. */
#include "tas_kernels.h"
#include "tas_kernel_params.h"
#include "tas_requantize.h"

TAS_KERNEL void tas_add_s8(const tas_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    int8_t *out = output;
    for (int32_t i0 = 0; i0 < p->dim0; ++i0) {
        for (int32_t i1 = 0; i1 < p->dim1; ++i1) {
            for (int32_t i2 = 0; i2 < p->dim2; ++i2) {
                const int8_t *row1 = input1 + i0 * p->input1_step0 + i1 * p->input1_step1 + i2 * p->input1_step2;
                const int8_t *row2 = input2 + i0 * p->input2_step0 + i1 * p->input2_step1 + i2 * p->input2_step2;
                for (int32_t i3 = 0; i3 < p->dim3; ++i3) {
                    const int32_t a = row1[i3 * p->input1_step3];
                    const int32_t b = row2[i3 * p->input2_step3];
                    const int32_t shifted_a = (a + p->input1_offset) * (1 << p->left_shift);
                    const int32_t shifted_b = (b + p->input2_offset) * (1 << p->left_shift);
                    const int32_t scaled_a = tas_requantize(shifted_a, p->input1_multiplier, p->input1_shift);
                    const int32_t scaled_b = tas_requantize(shifted_b, p->input2_multiplier, p->input2_shift);
                    const int32_t raw = p->subtract ? scaled_a - scaled_b : scaled_a + scaled_b;
                    const int32_t value = tas_requantize(raw, p->output_multiplier, p->output_shift) + p->output_offset;
                    *out++ = (int8_t)tas_clamp(value, p->act_min, p->act_max);
                }
            }
        }
    }
}
