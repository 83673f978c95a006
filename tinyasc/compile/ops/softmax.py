"""SOFTMAX: int8 softmax over the last axis with TFLite's reference arithmetic (gemmlowp fixed point).

TFLM's reference rescales each difference x − max(row) by beta · input scale into Q5.26 and takes
gemmlowp's exp_on_negative_values of it. That exp depends only on the difference, an integer in
[−255, 0], so we compute all 256 exps here (a 1 KB int32 table, 0 where TFLM skips the
difference) and the C kernel keeps only what depends on the whole row: the sum, its reciprocal
(gemmlowp's Newton-Raphson) and the final rounding (`tas_softmax_s8.c`, `tas_fixedpoint.h`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyasc.compile import fixedpoint as fp
from tinyasc.compile import quant
from tinyasc.compile.ir import Graph, Op, OpKind, require
from tinyasc.compile.ops.common import EmitContext, Kernel, OpSpec, int8_activation

SCALED_DIFF_INTEGER_BITS = 5  # kScaledDiffIntegerBits: the exp input is Q5.26
# Each exp adds at most 2^19 (1.0 in Q12.19) to the row's sum; TFLM's output shift stays within
# 31 only while the sum is below 2^28, which any input guarantees when depth < 2^9.
MAX_DEPTH = 511


@dataclass(frozen=True)
class SoftmaxParams:
    outer: int  # rows
    depth: int  # classes per row (the last axis)
    exp_of_difference: np.ndarray  # int32 [256]: Q0.31 exp for the difference −d, 0 if skipped

    @property
    def macs(self) -> int:
        return 0  # two fixed-point multiplies per element, no multiply-accumulate


def softmax_input_scaling(beta: float, input_scale: float) -> tuple[int, int, int]:
    """TFLite's PreprocessSoftmaxScaling and the diff_min of SoftmaxPrepare: (multiplier,
    left_shift, diff_min) with beta · scale · 2^26 computed in double from the float32 values."""
    real = min(float(np.float32(beta)) * float(np.float32(input_scale)) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)),
               float(2**31 - 1))
    multiplier, left_shift = quant.quantize_multiplier(real)
    diff_min = -fp.calculate_input_radius(SCALED_DIFF_INTEGER_BITS, left_shift)
    return multiplier, left_shift, diff_min


def exp_of_difference_table(beta: float, input_scale: float) -> np.ndarray:
    """Entry d: exp(beta · scale · (−d)) as TFLM's reference computes it, in Q0.31, or 0 when the
    difference −d is below diff_min (TFLM leaves it out of the sum and outputs −128)."""
    multiplier, left_shift, diff_min = softmax_input_scaling(beta, input_scale)
    table = []
    for d in range(256):
        if -d < diff_min:
            table.append(0)
            continue
        rescaled = fp.multiply_by_quantized_multiplier_greater_than_one(-d, multiplier, left_shift)
        table.append(fp.exp_on_negative_values(rescaled, SCALED_DIFF_INTEGER_BITS))
    return np.array(table, dtype=np.int32)


def prepare(op: Op, graph: Graph) -> SoftmaxParams:
    x = int8_activation(op, graph.op_inputs(op)[0], "input")
    y = int8_activation(op, graph.op_outputs(op)[0], "output")
    require(len(x.shape) >= 1 and x.shape == y.shape, op,
            f"input {list(x.shape)} and output {list(y.shape)} must have one shape")
    # SoftmaxPrepare's checks for int8 output.
    require(y.quantization.zero_point == -128 and np.float32(y.quantization.scale) == np.float32(1.0 / 256), op,
            f"int8 softmax needs output scale 1/256 and zero point -128, the model has "
            f"{y.quantization.scale} and {y.quantization.zero_point}; re-convert it with the TFLite converter")
    beta = float(op.options.get("beta", 1.0))
    # Checked before the scaling is computed: below 1 its left shift is negative (TFLM aborts).
    too_small = f"beta {beta} times input scale {x.quantization.scale} is too small for TFLM's int8 softmax"
    require(beta * x.quantization.scale * 2**26 > 1.0, op, too_small)
    multiplier, left_shift, _ = softmax_input_scaling(beta, x.quantization.scale)
    require(multiplier > 0 and left_shift >= 0, op, too_small)
    depth = x.shape[-1]
    require(depth <= MAX_DEPTH, op,
            f"softmax over {depth} classes: TFLM's int8 softmax overflows above {MAX_DEPTH}; "
            "use fewer classes per softmax or a LOGISTIC output")
    return SoftmaxParams(outer=x.num_elements // depth, depth=depth,
                         exp_of_difference=exp_of_difference_table(beta, x.quantization.scale))


def emit(p: SoftmaxParams, kernel: Kernel, ctx: EmitContext) -> str:
    table = ctx.constant("exp", p.exp_of_difference, "int32_t", "softmax exp of each difference from the row max")
    return f"{kernel.name}({ctx.params}, {table}, {ctx.input()}, {ctx.output()})"


SPEC = OpSpec(
    kind=OpKind.SOFTMAX,
    prepare=prepare,
    reference=Kernel("tas_softmax_s8", ("tas_fixedpoint.h", "tas_softmax_s8.c")),
    params_ctype="tas_softmax_params",
    emit=emit,
    describe=lambda p: f"softmax over {p.depth} classes x{p.outer}",
)
