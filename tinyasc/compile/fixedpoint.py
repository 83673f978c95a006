"""gemmlowp's fixed-point arithmetic on scalar Python ints: the export-time twin of the arithmetic
TFLite's int8 LOGISTIC, TANH, HARD_SWISH and SOFTMAX kernels run.

Every function here reproduces one gemmlowp (`fixedpoint/fixedpoint.h`) or TFLite helper bit for
bit, on int32 (or int16 where named) values held in Python ints. A raw value `a` with `integer_bits`
m stands for a / 2^(31 - m) (gemmlowp's FixedPoint<int32_t, m>). The C side needs only the few
helpers softmax runs per inference (`firmware_templates/kernels/tas_fixedpoint.h`); everything
element-wise becomes a 256-entry table computed here, and tests compare each table with TFLM on
all 256 int8 inputs.
"""

from __future__ import annotations

import math

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1


def wrap32(x: int) -> int:
    """Two's-complement int32 wrap-around, as C's non-saturating add/sub/shift behave."""
    return (x + 2**31) % 2**32 - 2**31


def wrap16(x: int) -> int:
    return (x + 2**15) % 2**16 - 2**15


def _truncating_div(a: int, b: int) -> int:
    """C integer division (rounds toward zero); Python's // floors."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


# ---- primitives (gemmlowp part 1) ----


def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    """gemmlowp::SaturatingRoundingDoublingHighMul<int32_t> (ARM VQRDMULH)."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _truncating_div(ab + nudge, 1 << 31)


def saturating_rounding_doubling_high_mul_16(a: int, b: int) -> int:
    """gemmlowp::SaturatingRoundingDoublingHighMul<int16_t>."""
    if a == b == INT16_MIN:
        return INT16_MAX
    ab = a * b
    nudge = (1 << 14) if ab >= 0 else 1 - (1 << 14)
    return wrap16(_truncating_div(ab + nudge, 1 << 15))


def saturating_doubling_high_mul_16(a: int, b: int) -> int:
    """TFLite's reference_ops::SaturatingDoublingHighMul (hard_swish.h): like the above but
    truncating toward zero instead of rounding (ARM SQDMULH)."""
    if a == b == INT16_MIN:
        return INT16_MAX
    return wrap16(_truncating_div(a * b, 1 << 15))


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """gemmlowp::RoundingDivideByPOT: a right shift rounding to nearest, ties away from zero.
    Python's & and >> act on negative ints as two's complement, like the C operators."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def saturating_rounding_multiply_by_pot(x: int, exponent: int, bits: int = 32) -> int:
    """gemmlowp::SaturatingRoundingMultiplyByPOT<exponent>: a saturating left shift, or a rounding
    right shift for a negative exponent."""
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (bits - 1 - exponent)) - 1
    if x > threshold:
        return (1 << (bits - 1)) - 1
    if x < -threshold:
        return -(1 << (bits - 1))
    return x << exponent


def rounding_half_sum(a: int, b: int) -> int:
    """gemmlowp::RoundingHalfSum<int32_t>: (a + b) / 2 rounded away from zero."""
    total = a + b
    return _truncating_div(total + (1 if total >= 0 else -1), 2)


def rescale(x: int, src_integer_bits: int, dst_integer_bits: int) -> int:
    """gemmlowp::Rescale<dst>(FixedPoint<int32_t, src>)."""
    return saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier with its default double rounding (scalar form of
    tinyasc.compile.quant.multiply_by_quantized_multiplier)."""
    left = max(shift, 0)
    right = max(-shift, 0)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(wrap32(x << left), multiplier), right)


def multiply_by_quantized_multiplier_greater_than_one(x: int, multiplier: int, left_shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplierGreaterThanOne: left shift in int32, then one
    rounding doubling high multiply."""
    return saturating_rounding_doubling_high_mul(wrap32(x << left_shift), multiplier)


# ---- math functions (gemmlowp part 3), on raw int32 values ----

ONE_Q0 = INT32_MAX  # FixedPoint<int32_t, 0>::One(): 1.0 is not representable, the raw maximum stands in


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    """exp(a) for a in [-1/4, 0), both Q0.31: a Taylor expansion around -1/8."""
    exp_minus_one_eighth = 1895147668
    one_third = 715827883
    x = wrap32(a + (1 << 28))  # a + 1/8
    x2 = saturating_rounding_doubling_high_mul(x, x)
    x3 = saturating_rounding_doubling_high_mul(x2, x)
    x4 = saturating_rounding_doubling_high_mul(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    poly = saturating_rounding_multiply_by_pot(
        wrap32(saturating_rounding_doubling_high_mul(wrap32(x4_over_4 + x3), one_third) + x2), -1
    )
    return wrap32(exp_minus_one_eighth + saturating_rounding_doubling_high_mul(exp_minus_one_eighth, wrap32(x + poly)))


# exp(-2^k) in Q0.31 for the barrel shifter of exp_on_negative_values, k = -2 … 4.
_EXP_OF_MINUS_POWERS_OF_TWO = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
                               (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a: int, integer_bits: int) -> int:
    """gemmlowp::exp_on_negative_values: exp(a) in Q0.31 for a <= 0 given with `integer_bits`."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0)
    )
    remainder = wrap32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_OF_MINUS_POWERS_OF_TWO:
        if integer_bits > exponent and remainder & (1 << (fractional_bits + exponent)):
            result = saturating_rounding_doubling_high_mul(result, multiplier)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):  # below -32: exp rounds to 0
        result = 0
    return ONE_Q0 if a == 0 else result


def _newton_raphson_reciprocal_q2(half_denominator: int) -> int:
    """The three Newton-Raphson steps gemmlowp shares between 1/(1+x) and (1-x)/(1+x):
    returns 1/half_denominator in Q2.29 (half_denominator in Q0.31, within [1/2, 1))."""
    one_q2 = 1 << 29
    x = wrap32(1515870810 + saturating_rounding_doubling_high_mul(half_denominator, -1010580540))  # 48/17 - 32/17·d
    for _ in range(3):
        half_denominator_times_x = saturating_rounding_doubling_high_mul(half_denominator, x)
        one_minus_half_denominator_times_x = wrap32(one_q2 - half_denominator_times_x)
        correction = saturating_rounding_doubling_high_mul(x, one_minus_half_denominator_times_x)
        x = wrap32(x + rescale(correction, 4, 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    """gemmlowp::one_over_one_plus_x_for_x_in_0_1, Q0.31 in and out."""
    x = _newton_raphson_reciprocal_q2(rounding_half_sum(a, ONE_Q0))
    return rescale(x, 1, 0)  # ExactMulByPot<-1> turns Q2 into Q1 with the same raw bits


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    """gemmlowp::one_minus_x_over_one_plus_x_for_x_in_0_1, Q0.31 in and out."""
    x = _newton_raphson_reciprocal_q2(rounding_half_sum(a, ONE_Q0))
    return rescale(wrap32(x - (1 << 29)), 2, 0)


def tanh(a: int, integer_bits: int) -> int:
    """gemmlowp::tanh: tanh(a) in Q0.31."""
    if a == 0:
        return 0
    negative = a if a < 0 else wrap32(-a)
    # ExactMulByPot<1>: the same raw value read with one more integer bit is 2·negative.
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(negative, integer_bits + 1))
    return wrap32(-t) if a < 0 else t


def logistic(a: int, integer_bits: int) -> int:
    """gemmlowp::logistic: 1 / (1 + exp(-a)) in Q0.31."""
    if a == 0:
        return 1 << 30
    magnitude = a if a > 0 else wrap32(-a)
    if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap32(-magnitude), integer_bits))
    return if_positive if a > 0 else wrap32(ONE_Q0 - if_positive)


# ---- TFLite's export-time helpers ----


def calculate_input_radius(input_integer_bits: int, input_left_shift: int, total_signed_bits: int = 31) -> int:
    """TFLite's CalculateInputRadius: the largest |input| whose rescaled value cannot overflow."""
    largest_input = (1 << input_integer_bits) - 1
    max_input_rescaled = (
        1.0 * largest_input * (1 << (total_signed_bits - input_integer_bits)) / (1 << input_left_shift)
    )
    return int(math.floor(max_input_rescaled))


def down_scale_int32_to_int16_multiplier(multiplier: int) -> int:
    """TFLite's DownScaleInt32ToInt16Multiplier: round a Q0.31 multiplier to Q0.15."""
    if multiplier >= INT32_MAX - (1 << 15):
        return INT16_MAX
    return (multiplier + (1 << 15)) >> 16


def saturating_left_shift_16(value: int, amount: int) -> int:
    """TFLite's reference_ops::SaturatingLeftShift (hard_swish.h) on int16."""
    return max(INT16_MIN, min(INT16_MAX, value * (1 << amount)))
