/* int8 softmax over the last axis (input viewed as [outer, depth]), TFLite's reference Softmax
 * for int8 in and out (output scale 1/256, zero point -128). exp_of_difference[d] is, computed at
 * export time, gemmlowp's exp_on_negative_values of the input difference -d rescaled to Q5.26 by
 * beta * input scale, or 0 where TFLM skips the difference (below diff_min): a skipped element
 * then adds nothing to the sum and comes out as -128, exactly as in TFLM.
 * Per row: sum the exps in Q12.19, take the reciprocal with gemmlowp's Newton-Raphson
 * (GetReciprocal), scale each exp by it and round to Q0.8. */
#include "tas_kernels.h"
#include "tas_fixedpoint.h"
#include "tas_kernel_params.h"
#include "tas_requantize.h"

TAS_KERNEL void tas_softmax_s8(const tas_softmax_params *p, const int32_t *exp_of_difference,
                               const int8_t *input, int8_t *output)
{
    for (int32_t row = 0; row < p->outer; ++row) {
        const int8_t *in = input + row * p->depth;
        int8_t *out = output + row * p->depth;
        int32_t max_in_row = -128;
        for (int32_t c = 0; c < p->depth; ++c) {
            max_in_row = in[c] > max_in_row ? in[c] : max_in_row;
        }
        /* Each exp is at most 1.0 = 2^19 in Q12.19; depth < 512 (checked at export) keeps the sum
         * below 2^28, which also keeps the output shift within 31 as TFLM requires. */
        int32_t sum_of_exps = 0;
        for (int32_t c = 0; c < p->depth; ++c) {
            sum_of_exps += tas_rounding_divide_by_pot(exp_of_difference[max_in_row - in[c]], 31 - 19);
        }
        /* GetReciprocal: normalise the sum to [1, 2), 1/(1 + x) for the part above 1. */
        const int32_t headroom_plus_one = tas_count_leading_zeros((uint32_t)sum_of_exps);
        const int32_t num_bits_over_unit = 12 - headroom_plus_one;
        const int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - (1u << 31));
        const int32_t shifted_scale = tas_one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
        const int32_t exponent = num_bits_over_unit + 31 - 8;
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t exp_in_q0 = exp_of_difference[max_in_row - in[c]];
            const int32_t scaled = tas_saturating_rounding_doubling_high_mul(shifted_scale, exp_in_q0);
            const int32_t value = tas_rounding_divide_by_pot(scaled, exponent);
            out[c] = (int8_t)tas_clamp(value - 128, -128, 127);
        }
    }
}
