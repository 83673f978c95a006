/* int8 MUL with TFLite's arithmetic (tas_mul_s8: the product of the offset inputs requantized once),
 * bit-exact, in about a third of the instructions: the doubling high multiply as one SMMULR of
 * 2·product·2^left_shift (|product| <= 255², so it fits int32 for left shifts up to 14: the
 * compiler checks, ops/elementwise.py), the rounding right shift without mask or compare, per-op
 * constants once per call (tas_requantize.h), and the axes both inputs read contiguously merged
 * (tas_broadcast.h): an SE gate [1, 1, 1, C] scaling [1, H, W, C] is one loop over the pixels and
 * one over the channels. Same parameters and layouts as tas_mul_s8; output[i] is written after
 * both operands' element i is read. */
#include "tas_kernels.h"
#include "tas_kernel_params.h"
#include "tas_broadcast.h"
#include "tas_requantize.h"

typedef struct {
    int32_t offset1, offset2, left, multiplier;
    tas_rounding_shift right;
    int32_t output_offset, act_min, act_max;
} tas_mul_stage;

static inline int8_t tas_mul_output(const tas_mul_stage *s, int32_t x, int32_t y)
{
    const int32_t product = (x + s->offset1) * (y + s->offset2);
    const int32_t high = tas_smmulr((int32_t)((uint32_t)product << s->left), s->multiplier);
    return (int8_t)tas_clamp(tas_rounding_shift_apply(high, s->right) + s->output_offset, s->act_min, s->act_max);
}

/* n elements, both operands read contiguously (an SE gate's channels, a plain product). */
static inline void tas_mul_run(const tas_mul_stage *stage, const int8_t *a, const int8_t *c, int32_t n, int8_t *out)
{
    const tas_mul_stage s = *stage; /* a local copy: the int8 stores cannot alias it */
    for (int32_t i = 0; i < n; ++i) {
        out[i] = tas_mul_output(&s, a[i], c[i]);
    }
}

TAS_KERNEL void tas_mul_fast_s8(const tas_mul_params *p, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    const int32_t dims[4] = {p->dim0, p->dim1, p->dim2, p->dim3};
    const int32_t steps1[4] = {p->input1_step0, p->input1_step1, p->input1_step2, p->input1_step3};
    const int32_t steps2[4] = {p->input2_step0, p->input2_step1, p->input2_step2, p->input2_step3};
    const tas_broadcast b = tas_broadcast_merged(dims, steps1, steps2);
    const tas_mul_stage s = {
        .offset1 = p->input1_offset, .offset2 = p->input2_offset,
        .left = (p->output_shift > 0 ? p->output_shift : 0) + 1, /* + 1: the doubling */
        .multiplier = p->output_multiplier, .right = tas_rounding_shift_of(p->output_shift > 0 ? 0 : p->output_shift),
        .output_offset = p->output_offset, .act_min = p->act_min, .act_max = p->act_max,
    };
    const int32_t contiguous = b.steps1[3] == 1 && b.steps2[3] == 1;
    int8_t *out = output;
    for (int32_t i0 = 0; i0 < b.dims[0]; ++i0) {
        for (int32_t i1 = 0; i1 < b.dims[1]; ++i1) {
            for (int32_t i2 = 0; i2 < b.dims[2]; ++i2) {
                const int8_t *a = input1 + i0 * b.steps1[0] + i1 * b.steps1[1] + i2 * b.steps1[2];
                const int8_t *c = input2 + i0 * b.steps2[0] + i1 * b.steps2[1] + i2 * b.steps2[2];
                if (contiguous) {
                    tas_mul_run(&s, a, c, b.dims[3], out);
                    out += b.dims[3];
                    continue;
                }
                for (int32_t i3 = 0; i3 < b.dims[3]; ++i3, a += b.steps1[3], c += b.steps2[3]) {
                    *out++ = tas_mul_output(&s, *a, *c);
                }
            }
        }
    }
}
