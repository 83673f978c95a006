"""Element-wise int8 → int8 ops as 256-entry lookup tables: RELU, RELU6, LEAKY_RELU, QUANTIZE
(int8 → int8 requantization), LOGISTIC, TANH, HARD_SWISH.

An int8 → int8 function has only 256 inputs, so each op's TFLM reference arithmetic runs here, in
Python, once per export on every possible input (the functions below name the TFLM code they
reproduce), and the firmware runs one generic kernel, `tas_lut_s8`: one load per element.
tests/test_ops_activation.py compares every table entry with TFLM's own output on all 256 inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from tinyasc.compile import fixedpoint as fp
from tinyasc.compile import quant
from tinyasc.compile.ir import Graph, Op, OpKind, Tensor, require
from tinyasc.compile.ops.common import EmitContext, InPlace, Kernel, OpSpec, int8_activation

INT8_VALUES = np.arange(-128, 128, dtype=np.int32)  # table index i holds f(i - 128)


@dataclass(frozen=True)
class LutParams:
    size: int  # elements to map
    table: np.ndarray  # int8 [256]: output for input value i - 128
    function: str  # what the table computes, for the generated C's comment

    macs = 0  # one table load per element, no multiply-accumulate


def _f32(x: float) -> float:
    return float(np.float32(x))


def _clamp_int8(value: int) -> int:
    return max(-128, min(127, value))


def _table(function: Callable[[int], int]) -> np.ndarray:
    return np.array([_clamp_int8(function(int(x))) for x in INT8_VALUES], dtype=np.int8)


def _io(op: Op, graph: Graph) -> tuple[Tensor, Tensor]:
    x = int8_activation(op, graph.op_inputs(op)[0], "input")
    y = int8_activation(op, graph.op_outputs(op)[0], "output")
    require(x.num_elements == y.num_elements, op,
            f"input {list(x.shape)} and output {list(y.shape)} differ in size")
    return x, y


# ---- the tables: one function per op, each the TFLM reference arithmetic for one int8 input ----


def requantize_table(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int,
                     act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """TFLM's ReluQuantized (activations.cc) and Requantize (reference/requantize.h, QUANTIZE
    int8 → int8): zp_out + MultiplyByQuantizedMultiplier(x − zp_in, scale_in / scale_out), clamped.
    The multiplier comes from the two float32 scales divided in double (Prepare)."""
    multiplier, shift = quant.quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))
    return _table(lambda x: max(act_min, min(act_max, output_zero_point + fp.multiply_by_quantized_multiplier(
        x - input_zero_point, multiplier, shift))))


def relu6_table(input_scale: float, input_zero_point: int) -> np.ndarray:
    """TFLM's Relu6Quantized: a clamp to [zp_in, quantized 6.0] in the *input's* quantization.
    TFLM does not requantize to the output's scale (TFLite does), and bit-exactness with TFLM
    is the contract, so neither do we. 6.0 is quantized with FloatToQuantizedType: float32
    division, std::round, clamped to int8."""
    six = _clamp_int8(quant.bound_steps(6.0, input_scale, "RELU6's bound") + input_zero_point)
    return _table(lambda x: six if x > six else (input_zero_point if x < input_zero_point else x))


def leaky_relu_table(input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int,
                     alpha: float) -> np.ndarray:
    """TFLM's QuantizeLeakyRelu (reference/leaky_relu.h) with the multipliers of
    CalculateOpDataLeakyRelu, the float32 scales and alpha widened to double before the product and
    the quotient (with float32 arithmetic one table entry of 256 was 1 LSB off: fuzz seed 20 graph
    84539; 2 of 8,000 random scale pairs differ so, none in double). A negative alpha is applied
    as TFLM does: multiply by |multiplier|, then negate (rounding differs otherwise)."""
    alpha_real = quant.widened(input_scale) * quant.widened(alpha) / quant.widened(output_scale)
    identity_real = quant.widened(input_scale) / quant.widened(output_scale)
    alpha_multiplier, alpha_shift = quant.quantize_multiplier(alpha_real)
    identity_multiplier, identity_shift = quant.quantize_multiplier(identity_real)

    def leaky(x: int) -> int:
        value = x - input_zero_point
        if value >= 0:
            return output_zero_point + fp.multiply_by_quantized_multiplier(value, identity_multiplier, identity_shift)
        scaled = fp.multiply_by_quantized_multiplier(value, abs(alpha_multiplier), alpha_shift)
        return output_zero_point + (-scaled if alpha_multiplier < 0 else scaled)

    return _table(leaky)


@dataclass(frozen=True)
class SigmoidLikeInput:
    """Logistic/tanh input rescaling of TFLM's Prepare: the input difference x − zp goes to Q4.27
    by MultiplyByQuantizedMultiplier; beyond ±radius the output saturates."""

    multiplier: int
    left_shift: int
    radius: int


INPUT_INTEGER_BITS = 4  # kInputIntegerBits of TFLM's int8 logistic and tanh


def sigmoid_like_input(op: Op, input_scale: float) -> SigmoidLikeInput:
    """CalculateArithmeticOpDataLogistic / TanhPrepare: frexp of scale · 2^27, the mantissa
    rounded to Q0.31 *without* QuantizeMultiplier's 2^31 carry (TFLM does not apply it here)."""
    real = float(np.float32(input_scale)) * float(1 << (31 - INPUT_INTEGER_BITS))
    mantissa, left_shift = math.frexp(real)
    multiplier = int(quant.round_half_away(mantissa * (1 << 31)))
    # A left shift past 30 (an input scale above 8) overflows TFLM's int shifts (1 << left_shift
    # in its input radius, x << left_shift in the kernel): what it then outputs is undefined
    # behaviour, nothing to be bit-exact with (a fuzz finding, issue 18).
    require(multiplier < 2**31 and 0 <= left_shift <= 30, op,
            f"input scale {input_scale} is outside what TFLM's int8 kernel handles; re-quantize the model")
    return SigmoidLikeInput(multiplier, left_shift, fp.calculate_input_radius(INPUT_INTEGER_BITS, left_shift))


def _sigmoid_like_table(rescaling: SigmoidLikeInput, input_zero_point: int, function, output_bits: int,
                        output_offset: int) -> np.ndarray:
    """TFLM's int8 LOGISTIC and TANH share one shape: saturate outside the input radius, rescale
    to Q4.27, apply the gemmlowp fixed-point function, then shift Q0.31 down to `output_bits`."""

    def entry(x: int) -> int:
        value = x - input_zero_point
        if value <= -rescaling.radius:
            return -128
        if value >= rescaling.radius:
            return 127
        q4 = fp.multiply_by_quantized_multiplier(value, rescaling.multiplier, rescaling.left_shift)
        return fp.rounding_divide_by_pot(function(q4, INPUT_INTEGER_BITS), 31 - output_bits) + output_offset

    return _table(entry)


def logistic_table(rescaling: SigmoidLikeInput, input_zero_point: int) -> np.ndarray:
    """reference_integer_ops::Logistic (int8): gemmlowp::logistic on the Q4.27 input, then Q0.31 →
    Q0.8 with a rounding shift of 23 and the fixed output zero point −128 (scale 1/256)."""
    return _sigmoid_like_table(rescaling, input_zero_point, fp.logistic, output_bits=8, output_offset=-128)


def tanh_table(rescaling: SigmoidLikeInput, input_zero_point: int) -> np.ndarray:
    """reference_integer_ops::Tanh (int8): gemmlowp::tanh on the Q4.27 input, then Q0.31 → Q0.7
    with a rounding shift of 24; TFLM assumes output scale 1/128, zero point 0."""
    return _sigmoid_like_table(rescaling, input_zero_point, fp.tanh, output_bits=7, output_offset=0)


@dataclass(frozen=True)
class HardSwishMultipliers:
    """HardSwishPrepare's two Q0.15 multipliers and exponents."""

    output_multiplier: int
    output_exponent: int
    reluish_multiplier: int
    reluish_exponent: int


def hard_swish_multipliers(input_scale: float, output_scale: float) -> HardSwishMultipliers:
    """HardSwishPrepare: the input on a 'high-resolution' scale (x·2^7), the output multiplier and
    the 'relu-ish' multiplier mapping [-3, 3] to [-1, 1] in Q0.15. The scales are float32, their
    ratios taken in double: the interpreter's output multiplier was 19209, not float32's 19210, on
    a ratio whose Q0.31 value sits on a Q0.15 rounding boundary (fuzz seed 30 graph 57648)."""
    hires_input_scale = float(np.float32(1.0 / 128.0) * np.float32(input_scale))  # exact: a power of two
    reluish_scale = float(np.float32(3.0) / np.float32(32768.0))
    output_multiplier, output_exponent = quant.quantize_multiplier(hires_input_scale / float(np.float32(output_scale)))
    reluish_multiplier, reluish_exponent = quant.quantize_multiplier(hires_input_scale / reluish_scale)
    return HardSwishMultipliers(
        fp.down_scale_int32_to_int16_multiplier(output_multiplier), output_exponent,
        fp.down_scale_int32_to_int16_multiplier(reluish_multiplier), reluish_exponent,
    )


def hard_swish_table(m: HardSwishMultipliers, input_zero_point: int, output_zero_point: int) -> np.ndarray:
    """reference_ops::HardSwish (quantized, hard_swish.h), in its int16 arithmetic."""

    def hard_swish(x: int) -> int:
        hires = fp.wrap16((x - input_zero_point) * (1 << 7))
        preshift_output = fp.saturating_rounding_doubling_high_mul_16(hires, m.output_multiplier)
        reluish = hires
        if m.reluish_exponent > 0:
            reluish = fp.saturating_left_shift_16(reluish, m.reluish_exponent - 1)
        reluish = fp.saturating_rounding_doubling_high_mul_16(reluish, m.reluish_multiplier)
        if m.reluish_exponent > 0:
            reluish = fp.saturating_left_shift_16(reluish, 1)
        if m.reluish_exponent < 0:
            reluish = fp.rounding_divide_by_pot(reluish, -m.reluish_exponent)
        reluish = fp.wrap16((reluish + (1 << 15)) >> 1)  # [-1, 1] → [0, 1]
        preshift_output_value = fp.saturating_doubling_high_mul_16(reluish, preshift_output)
        output = fp.rounding_divide_by_pot(preshift_output_value, -m.output_exponent)
        return fp.wrap16(output + output_zero_point)

    return _table(hard_swish)


# ---- prepare: validate like TFLM's Prepare, then build the table ----


def _params(x: Tensor, table: np.ndarray, function: str) -> LutParams:
    return LutParams(size=x.num_elements, table=table, function=function)


def prepare_relu(op: Op, graph: Graph) -> LutParams:
    x, y = _io(op, graph)
    xq, yq = x.quantization, y.quantization
    # CalculateReluOpData: act_min = zp_out + roundf(0 / scale_out) = zp_out; no upper bound.
    table = requantize_table(xq.scale, xq.zero_point, yq.scale, yq.zero_point, act_min=max(-128, yq.zero_point))
    return _params(x, table, "relu")


def prepare_relu6(op: Op, graph: Graph) -> LutParams:
    x, _ = _io(op, graph)
    return _params(x, relu6_table(x.quantization.scale, x.quantization.zero_point), "relu6")


def prepare_leaky_relu(op: Op, graph: Graph) -> LutParams:
    x, y = _io(op, graph)
    alpha = op.options.get("alpha")
    require(alpha is not None, op, "the op has no alpha option")
    xq, yq = x.quantization, y.quantization
    table = leaky_relu_table(xq.scale, xq.zero_point, yq.scale, yq.zero_point, _f32(alpha))
    return _params(x, table, f"leaky relu alpha={_f32(alpha):g}")


def prepare_quantize(op: Op, graph: Graph) -> LutParams:
    source = graph.op_inputs(op)[0]
    require(source is not None and source.dtype == "int8", op,
            f"only int8 -> int8 requantization is supported, the input is "
            f"{source.dtype if source is not None else 'missing'}; convert the model with int8 "
            "input/output types (converter.inference_input_type = tf.int8)")
    x, y = _io(op, graph)
    xq, yq = x.quantization, y.quantization
    return _params(x, requantize_table(xq.scale, xq.zero_point, yq.scale, yq.zero_point), "requantize")


def prepare_logistic(op: Op, graph: Graph) -> LutParams:
    x, y = _io(op, graph)
    require(y.quantization.zero_point == -128, op,
            f"TFLM's int8 LOGISTIC needs output zero point -128, the model has {y.quantization.zero_point}")
    rescaling = sigmoid_like_input(op, x.quantization.scale)
    return _params(x, logistic_table(rescaling, x.quantization.zero_point), "logistic")


def prepare_tanh(op: Op, graph: Graph) -> LutParams:
    x, _ = _io(op, graph)  # TFLM assumes output scale 1/128, zero point 0 without checking
    rescaling = sigmoid_like_input(op, x.quantization.scale)
    return _params(x, tanh_table(rescaling, x.quantization.zero_point), "tanh")


def prepare_hard_swish(op: Op, graph: Graph) -> LutParams:
    x, y = _io(op, graph)
    m = hard_swish_multipliers(x.quantization.scale, y.quantization.scale)
    require(-15 <= m.output_exponent <= 0 and m.reluish_exponent >= -15, op,
            f"output scale {y.quantization.scale} against input scale {x.quantization.scale} is outside "
            "what TFLM's int8 HARD_SWISH handles; re-quantize the model")
    return _params(x, hard_swish_table(m, x.quantization.zero_point, y.quantization.zero_point), "hard swish")


# ---- emit: one kernel for all ----

LUT_KERNEL = Kernel("tas_lut_s8", ("tas_lut_s8.c",), in_place=InPlace.SAME_INDEX)  # output[i] = T[input[i]]


def emit(p: LutParams, kernel: Kernel, ctx: EmitContext) -> str:
    table = ctx.constant("table", p.table, "int8_t", f"{p.function} table, entry i = f(i - 128)")
    return f"{kernel.name}({ctx.params}, {table}, {ctx.input()}, {ctx.output()})"


def _spec(kind: OpKind, prepare: Callable) -> OpSpec:
    return OpSpec(kind=kind, prepare=prepare, reference=LUT_KERNEL, params_ctype="tas_lut_params", emit=emit,
                  describe=lambda p: f"{p.function} table on {p.size} values")


RELU_SPEC = _spec(OpKind.RELU, prepare_relu)
RELU6_SPEC = _spec(OpKind.RELU6, prepare_relu6)
LEAKY_RELU_SPEC = _spec(OpKind.LEAKY_RELU, prepare_leaky_relu)
QUANTIZE_SPEC = _spec(OpKind.QUANTIZE, prepare_quantize)
LOGISTIC_SPEC = _spec(OpKind.LOGISTIC, prepare_logistic)
TANH_SPEC = _spec(OpKind.TANH, prepare_tanh)
HARD_SWISH_SPEC = _spec(OpKind.HARD_SWISH, prepare_hard_swish)
SPECS = (RELU_SPEC, RELU6_SPEC, LEAKY_RELU_SPEC, QUANTIZE_SPEC, LOGISTIC_SPEC, TANH_SPEC, HARD_SWISH_SPEC)
