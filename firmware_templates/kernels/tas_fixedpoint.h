/* gemmlowp's fixed-point helpers (fixedpoint/fixedpoint.h) that int8 SOFTMAX needs at run time,
 * on int32 raw values: a value with m integer bits stands for raw / 2^(31 - m). Each reproduces
 * the named gemmlowp function bit for bit; the Python twins are in tinyasc/compile/fixedpoint.py. */
#ifndef TAS_FIXEDPOINT_H
#define TAS_FIXEDPOINT_H

#include <stdint.h>
#include "tas_requantize.h"

/* gemmlowp::RoundingHalfSum<int32_t>: (a + b) / 2, rounded away from zero. */
static inline int32_t tas_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* gemmlowp::SaturatingRoundingMultiplyByPOT<exponent> for 0 < exponent < 31: a left shift that
 * saturates instead of overflowing. */
static inline int32_t tas_saturating_left_shift(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* gemmlowp::one_over_one_plus_x_for_x_in_0_1: 1 / (1 + a), a and the result in Q0.31, by three
 * Newton-Raphson steps in Q2.29 from the initial guess 48/17 - 32/17 * d (d = (1 + a) / 2). */
static inline int32_t tas_one_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    const int32_t half_denominator = tas_rounding_half_sum(a, INT32_MAX); /* Q0.31, INT32_MAX = 1.0 */
    const int32_t one_q2 = 1 << 29;
    int32_t x = 1515870810 + tas_saturating_rounding_doubling_high_mul(half_denominator, -1010580540);
    for (int i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = tas_saturating_rounding_doubling_high_mul(half_denominator, x);
        const int32_t one_minus_half_denominator_times_x = one_q2 - half_denominator_times_x;
        /* Q2 * Q2 is Q4; back to Q2 with a saturating shift of 2. */
        const int32_t correction_q4 = tas_saturating_rounding_doubling_high_mul(x, one_minus_half_denominator_times_x);
        x += tas_saturating_left_shift(correction_q4, 2);
    }
    /* x / 2 read as Q1.30 (the same raw bits), then to Q0.31. */
    return tas_saturating_left_shift(x, 1);
}

/* Leading zero bits of a non-zero value (TFLite's CountLeadingZeros). */
static inline int32_t tas_count_leading_zeros(uint32_t x)
{
    return (int32_t)__builtin_clz(x);
}

#endif /* TAS_FIXEDPOINT_H */
