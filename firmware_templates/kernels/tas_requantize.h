/* Integer requantization exactly as TFLite's MultiplyByQuantizedMultiplier with its default
 * double rounding: a saturating rounding doubling high multiply, then a rounding right shift.
 * Python twin: tinyasc/compile/quant.py (tests keep the two in agreement). */
#ifndef TAS_REQUANTIZE_H
#define TAS_REQUANTIZE_H

#include <stdint.h>

static inline int32_t tas_saturating_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX; /* the one product that does not fit */
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / (1LL << 31)); /* division truncates toward zero, as in gemmlowp */
}

static inline int32_t tas_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    /* exponent is in [0, 31] (QuantizeMultiplier's shifts are >= -31): a 32-bit mask, no 64-bit shift. */
    const int32_t mask = (int32_t)((1u << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t tas_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int32_t left_shift = shift > 0 ? shift : 0;
    const int32_t right_shift = shift > 0 ? 0 : -shift;
    /* TFLite computes x * (1 << left_shift) in int32; do it in uint32 so the wrap is defined. */
    const int32_t shifted = (int32_t)((uint32_t)acc << left_shift);
    return tas_rounding_divide_by_pot(tas_saturating_rounding_doubling_high_mul(shifted, multiplier), right_shift);
}

/* tas_requantize in fewer instructions, for multipliers >= 0 (every one QuantizeMultiplier makes:
 * 0 or [2^30, 2^31)), with the shift already split into its two sides. The kernels whose
 * requantization is a large share of their work use it (the DSP rows conv, the integral-image
 * WS_CONV, the sparse kernels). gemmlowp's doubling high multiply, (a·b + nudge) / 2^31 truncated
 * with nudge = 2^30 or 1 - 2^30 by sign, equals floor((a·b + 2^30) / 2^31) for every a when b >= 0
 * (never the saturating INT32_MIN · INT32_MIN case): one SMLAL and a shift
 * (tests/test_kernels_dsp.py checks the identity). The rounding right shift is tas_requantize's. */
static inline int32_t tas_requantize_positive_split(int32_t acc, int32_t multiplier, int32_t left_shift,
                                                    int32_t right_shift)
{
    const int32_t shifted = (int32_t)((uint32_t)acc << left_shift);
    const int32_t high = (int32_t)(((int64_t)shifted * multiplier + (1LL << 30)) >> 31);
    return tas_rounding_divide_by_pot(high, right_shift);
}

static inline int32_t tas_requantize_positive(int32_t acc, int32_t multiplier, int32_t shift)
{
    return tas_requantize_positive_split(acc, multiplier, shift > 0 ? shift : 0, shift > 0 ? 0 : -shift);
}

/* tas_requantize_positive with one floor instead of two, for kernels that requantize after a few
 * MACs per output (depthwise). For multipliers >= 0, with x = acc << left_shift and r >= 1 the
 * right shift: the high multiply is h = floor((x·m + 2^30) / 2^31), and the rounding shift is
 * floor((h + 2^(r-1) - [h < 0]) / 2^r). Nested floors make one:
 * floor((x·m + 2^30 - 2^31·[h < 0] + 2^(30+r)) / 2^(31+r)), and [h < 0] may be read as [x < 0]
 * (they differ only when -2^30 <= x·m < 0, where both give 0). The nudges are one SMLAL's initial
 * value and the floor is the high word shifted by r - 1. tests/test_kernels_depthwise.py checks it
 * against tas_requantize. */
static inline int32_t tas_requantize_positive_one_floor(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int32_t left_shift = shift > 0 ? shift : 0, right_shift = left_shift - shift;
    const int32_t x = (int32_t)((uint32_t)acc << left_shift);
    if (right_shift == 0) {
        return (int32_t)(((int64_t)x * multiplier + (1LL << 30)) >> 31);
    }
    const int64_t half = (int64_t)((uint64_t)(1u << (right_shift - 1)) << 31); /* 2^(30 + r) */
    const int64_t sum = (int64_t)x * multiplier + half + (x < 0 ? -(1LL << 30) : (1LL << 30));
    return (int32_t)(sum >> 32) >> (right_shift - 1);
}

/* floor((a·b + 2^31) / 2^32): the high word of a rounded 64-bit product, one SMMULR on DSP cores.
 * For b >= 0 and a = x·2 it is gemmlowp's doubling high multiply of x by b (floor((x·b + 2^30) /
 * 2^31), see tas_requantize_positive_split) whenever 2·x fits int32. */
static inline int32_t tas_smmulr(int32_t a, int32_t b)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    int32_t high;
    __asm__("smmulr %0, %1, %2" : "=r"(high) : "r"(a), "r"(b));
    return high;
#else
    return (int32_t)(((int64_t)a * b + 0x80000000LL) >> 32);
#endif
}

/* gemmlowp's rounding right shift by r (tas_rounding_divide_by_pot) as (h + 2^(r-1) - [h < 0]) >> r,
 * its terms computed once per op: no mask and no compare per value. r = 0 leaves h as it is. */
typedef struct {
    int32_t right, round, negative_mask;
} tas_rounding_shift;

static inline tas_rounding_shift tas_rounding_shift_of(int32_t shift) /* a TFLite shift <= 0 */
{
    const int32_t right = -shift;
    const tas_rounding_shift r = {right, right > 0 ? (int32_t)(1u << (right - 1)) : 0, right > 0 ? -1 : 0};
    return r;
}

static inline int32_t tas_rounding_shift_apply(int32_t h, tas_rounding_shift r)
{
    return (h + r.round + ((h >> 31) & r.negative_mask)) >> r.right; /* |h| < 2^30 here: no overflow */
}

/* tas_requantize_positive for many accumulators of one channel, its terms worked out once
 * (tas_requant_channel_of) so each value costs a shift, SMMLAR, an AND, an ADD and an ASR.
 * With x = acc << left: SMMLAR(2x, m, round) = round + floor((x·m + 2^30) / 2^31), the doubling high
 * multiply h plus the rounding shift's half (tas_smmulr), whenever 2x fits int32 (checked: else
 * tas_requantize_positive_split). The shift's - [h < 0] term may read [x < 0] instead: they differ
 * only when h = 0, where both round to 0 (tas_requantize_positive_one_floor). */
typedef struct {
    int32_t multiplier, left, right, round, negative_mask;
} tas_requant_channel;

static inline tas_requant_channel tas_requant_channel_of(int32_t multiplier, int32_t shift)
{
    /* Branch-free: 2^right / 2 is 2^(right - 1), or 0 for right = 0; -right >> 31 is -1 for right > 0. */
    const int32_t left = shift & ~(shift >> 31), right = left - shift;
    const tas_requant_channel c = {multiplier, left, right, (int32_t)((1u << right) >> 1), -right >> 31};
    return c;
}

static inline int32_t tas_smmlar(int32_t a, int32_t b, int32_t add)
{
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
    int32_t result;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(result) : "r"(a), "r"(b), "r"(add));
    return result;
#else
    return (int32_t)(((int64_t)add * 0x100000000LL + (int64_t)a * b + 0x80000000LL) >> 32); /* add may be < 0 */
#endif
}

/* floor((x·m + 2^30) / 2^31) for m >= 0 (gemmlowp's doubling high multiply, never saturating), from
 * 16 x 16-bit products: for cores without a 32 x 32 -> 64-bit multiply (ARMv6-M: Cortex-M0/M0+, where
 * the int64 product is a call to __aeabi_lmul of some 40 instructions). Exact for every int32 x:
 * with M = 2m < 2^32 in halves mh·2^16 + ml and x = xh·2^16 + xl (xh signed), x·M + 2^31 is
 * 2^32·(xh·mh + (mid >> 16)) + 2^16·(xl·mh + (mid & 0xffff) + 2^15) + ((xl·ml) & 0xffff) with
 * mid = xh·ml + (xl·ml >> 16); no partial sum leaves its 32 bits (tests/test_requant_halves.py). */
static inline int32_t tas_doubling_high_mul_halves(int32_t x, int32_t m)
{
    const uint32_t doubled = (uint32_t)m << 1, ml = doubled & 0xffffu, mh = doubled >> 16;
    const uint32_t xl = (uint32_t)x & 0xffffu;
    const int32_t xh = x >> 16;
    const int32_t mid = xh * (int32_t)ml + (int32_t)((xl * ml) >> 16);
    const uint32_t low = xl * mh + ((uint32_t)mid & 0xffffu) + 0x8000u;
    return (int32_t)((uint32_t)(xh * (int32_t)mh) + (uint32_t)(mid >> 16) + (low >> 16));
}

#if defined(__ARM_ARCH_6M__) || defined(TAS_REQUANT_HALVES)
#define TAS_REQUANT_USES_HALVES 1
#endif

/* (int64_t)a · m for 0 <= m < 2^31 from the same 16 x 16-bit products: high word
 * xh·mh + (mid >> 16) + (low >> 16), low word low << 16 | (xl·ml) & 0xffff, with mid as above and
 * low = xl·mh + (mid & 0xffff) (below 2^32). The ARMv6-M kernels' 64-bit sums use it in place of
 * __aeabi_lmul; the adds and shifts after it are GCC's two-register ones. */
static inline int64_t tas_mul_64_halves(int32_t a, int32_t m)
{
    const uint32_t ml = (uint32_t)m & 0xffffu, mh = (uint32_t)m >> 16, al = (uint32_t)a & 0xffffu;
    const int32_t ah = a >> 16;
    const uint32_t ll = al * ml;
    const int32_t mid = ah * (int32_t)ml + (int32_t)(ll >> 16);
    const uint32_t low = al * mh + ((uint32_t)mid & 0xffffu);
    const uint32_t high = (uint32_t)(ah * (int32_t)mh) + (uint32_t)(mid >> 16) + (low >> 16);
    return (int64_t)(((uint64_t)high << 32) | (low << 16) | (ll & 0xffffu));
}

static inline int32_t tas_requant_channel_apply(int32_t acc, const tas_requant_channel *c)
{
    const int32_t x = (int32_t)((uint32_t)acc << c->left);
#ifdef TAS_REQUANT_USES_HALVES
    /* No SMMLAR to emulate: the high multiply is exact for any x, so the overflow test only guards
     * the rounding shift's add (|h| < 2^30 when 2x fits; else gemmlowp's exact rounding shift). */
    const int32_t high = tas_doubling_high_mul_halves(x, c->multiplier);
    int32_t doubled;
    if (__builtin_expect(__builtin_add_overflow(x, x, &doubled), 0)) {
        return tas_rounding_divide_by_pot(high, c->right);
    }
    return (high + c->round + ((x >> 31) & c->negative_mask)) >> c->right;
#else
    int32_t doubled;
    if (__builtin_expect(__builtin_add_overflow(x, x, &doubled), 0)) {
        return tas_requantize_positive_split(acc, c->multiplier, c->left, c->right);
    }
    const int32_t rounded_half = tas_smmlar(doubled, c->multiplier, c->round);
    return (rounded_half + ((x >> 31) & c->negative_mask)) >> c->right;
#endif
}

static inline int32_t tas_clamp(int32_t value, int32_t low, int32_t high)
{
    return value < low ? low : (value > high ? high : value);
}

#endif /* TAS_REQUANTIZE_H */
