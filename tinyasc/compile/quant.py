"""TFLite's integer requantization, in Python: the twin of `tas_requantize` in the generated C.

We match TFLite's default *double rounding* (`MultiplyByQuantizedMultiplier` without
TFLITE_SINGLE_ROUNDING): a saturating rounding doubling high multiply, then a rounding right shift.
Multipliers are computed in double from float32 scales, exactly as TFLM's Prepare does, so the
int32 constants we print into C are the ones TFLM would compute at run time.
"""

from __future__ import annotations

import math

import numpy as np

from tinyasc.errors import UnsupportedModelError

INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def round_half_away(x: float) -> float:
    """std::round / TfLiteRound: halves go away from zero (Python's round() goes to even)."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """(multiplier, shift) with real ≈ multiplier · 2^(shift − 31); TFLite's QuantizeMultiplier."""
    if real_multiplier == 0.0:
        return 0, 0
    mantissa, shift = math.frexp(real_multiplier)
    q_fixed = int(round_half_away(mantissa * (1 << 31)))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:  # every bit would be shifted out: TFLite flushes to zero
        return 0, 0
    if shift > 30:
        # The integer kernels shift the int32 accumulator left by `shift` before multiplying; past
        # 30 bits every value overflows (and a C shift by 32 or more is undefined). Real models
        # have scale ratios far below 2^30: this is a damaged or hand-edited file.
        raise UnsupportedModelError(
            f"a requantization scale of {real_multiplier:.3g} is out of range (at most 2^30): "
            "the model's quantization scales are corrupted; re-quantize the model"
        )
    return q_fixed, shift


def conv_multipliers(input_scale: float, filter_scales, output_scale: float, channels: int):
    """Per-channel (multiplier, shift) arrays as TFLM's PopulateConvolutionQuantizationParams.

    A per-tensor filter scale is broadcast to every output channel."""
    scales = list(filter_scales) if len(filter_scales) > 1 else [filter_scales[0]] * channels
    pairs = [
        quantize_multiplier(float(np.float32(input_scale)) * float(np.float32(s)) / float(np.float32(output_scale)))
        for s in scales
    ]
    return (
        np.array([m for m, _ in pairs], dtype=np.int32),
        np.array([s for _, s in pairs], dtype=np.int32),
    )


def fully_connected_multiplier(input_scale: float, filter_scale: float, output_scale: float):
    """TFLM's per-tensor FULLY_CONNECTED multiplier (GetQuantizedConvolutionMultipler with a bias
    tensor): input_scale · filter_scale / output_scale, every float32 scale widened to double
    first, as for conv. Older TFLite took the product in float32; the TFLM we check against does
    not, and that last bit of the multiplier flips about one output in 10^5 (issue 18, and
    tests/test_exactness.py)."""
    return quantize_multiplier(widened(input_scale) * widened(filter_scale) / widened(output_scale))


def widened(scale: float) -> float:
    """A scale (or alpha) as the model stores it (float32), widened exactly to double."""
    return float(np.float32(scale))


def bound_steps(value: float, scale: float, what: str) -> int:
    """round(value / scale) in float32, as TFLite quantizes an activation bound before casting it to
    int32; a quotient beyond int32 makes that cast undefined (TFLM's bounds are garbage then: fuzz
    seed 20 graph 79384), so such a model is refused."""
    steps = round_half_away(float(np.float32(value) / np.float32(scale)))
    if abs(steps) >= 2**31:
        raise UnsupportedModelError(
            f"{what} {value:g} is {abs(steps):.3g} steps of the scale {scale:.3g}, beyond int32, where TFLite's "
            "activation range is undefined; quantize the tensor with a larger scale")
    return int(steps)


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized for int8 outputs."""

    def quantize(value: float) -> int:
        return zero_point + bound_steps(value, scale, f"the {activation} bound")

    if activation == "none":
        return INT8_MIN, INT8_MAX
    if activation == "relu":
        return max(INT8_MIN, quantize(0.0)), INT8_MAX
    if activation == "relu6":
        return max(INT8_MIN, quantize(0.0)), min(INT8_MAX, quantize(6.0))
    if activation == "relu_n1_to_1":
        return max(INT8_MIN, quantize(-1.0)), min(INT8_MAX, quantize(1.0))
    raise ValueError(f"fused activation {activation!r} has no integer range")


# ---- the requantization arithmetic itself (vectorised twin of the C helpers) ----


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    total = ab + nudge
    # C's int64 division truncates toward zero.
    high = np.where(total >= 0, total // (1 << 31), -((-total) // (1 << 31)))
    return np.where(overflow, INT32_MAX, high).astype(np.int64)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, multiplier, shift) -> np.ndarray:
    """int32 x · multiplier · 2^shift with TFLite's double rounding; wraps like C on x << shift."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = ((x << left) + 2**31) % 2**32 - 2**31  # int32 wrap-around of x * (1 << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)
