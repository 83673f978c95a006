"""MEAN and SUM: int8 reductions over constant, contiguous axes, requantized.

TFLM runs two integer algorithms (reduce_common.cc), and tinyasc matches each:
- QuantizedMeanOrSum (the general case): subtract the input zero point from the sum, requantize
  with a multiplier that, for MEAN, already folds 1/reduced in; SUM keeps s_in/s_out.
- MEAN with identical input and output quantization: divide the raw sum, truncating.
keep_dims changes only the output shape. (Older TFLM sent int8 keep_dims means over axes 1 and 2
of a 4-D tensor to reference_integer_ops::Mean, which requantizes first and divides after; the
TFLM this project verifies against no longer does: measured against it, that algorithm was off
by one on 0.2 to 9 % of the outputs of tests/test_ops_structural.py, so tinyasc takes the general
path.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyasc.compile import quant
from tinyasc.compile.ir import Graph, Op, OpKind, require
from tinyasc.compile.ops.common import EmitContext, Kernel, OpSpec, int8_activation


@dataclass(frozen=True)
class MeanParams:
    """Mean over a contiguous run of axes, seen as [outer, reduced, inner]."""

    outer: int
    reduced: int
    inner: int
    input_zero_point: int
    output_zero_point: int
    multiplier: int  # MEAN: folds 1/reduced in, as TFLM's QuantizedMeanOrSum does
    shift: int

    macs = 0  # additions and one requantization per output, not multiply-accumulates


def _reduction_axes(op: Op, graph: Graph) -> list[int]:
    """The sorted non-negative reduction axes, checked constant and contiguous."""
    inputs = graph.op_inputs(op)
    axes_tensor = inputs[1] if len(inputs) > 1 else None
    require(axes_tensor is not None and axes_tensor.is_constant, op, "the axes must be a constant tensor")
    rank = len(inputs[0].shape)
    written = [int(a) for a in axes_tensor.data.reshape(-1)]
    require(len(written) > 0, op, "an empty axes list is not supported")
    axes = sorted({a % rank for a in written})
    require(axes == list(range(axes[0], axes[-1] + 1)), op, f"reduction axes {axes} must be contiguous")
    return axes


def fold_count_into_multiplier(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """QuantizedMeanOrSum folds 1/count into the multiplier with a bounded extra shift."""
    extra = min(count.bit_length() - 1, 32, 31 + shift)
    return int((multiplier << extra) // count), shift - extra


def prepare(op: Op, graph: Graph) -> MeanParams:
    x = int8_activation(op, graph.op_inputs(op)[0], "input")
    y = int8_activation(op, graph.op_outputs(op)[0], "output")
    axes = _reduction_axes(op, graph)
    outer = int(np.prod(x.shape[: axes[0]], dtype=np.int64))
    reduced = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    inner = int(np.prod(x.shape[axes[-1] + 1 :], dtype=np.int64))
    in_q, out_q = x.quantization, y.quantization
    multiplier, shift = quant.quantize_multiplier(float(np.float32(in_q.scale)) / float(np.float32(out_q.scale)))
    if op.kind == OpKind.MEAN:
        multiplier, shift = fold_count_into_multiplier(multiplier, shift, reduced)
    return MeanParams(
        outer=outer, reduced=reduced, inner=inner,
        input_zero_point=in_q.zero_point, output_zero_point=out_q.zero_point,
        multiplier=multiplier, shift=shift,
    )


def emit(p: MeanParams, kernel: Kernel, ctx: EmitContext) -> str:
    return f"{kernel.name}({ctx.params}, {ctx.input()}, {ctx.output()})"


MEAN_KERNEL = Kernel("tas_mean_s8", ("tas_mean_s8.c",))  # MEAN and SUM

SPEC = OpSpec(
    kind=OpKind.MEAN,
    prepare=prepare,
    reference=MEAN_KERNEL,
    params_ctype="tas_mean_params",
    emit=emit,
    describe=lambda p: f"mean of {p.reduced} values, {p.outer}x{p.inner} outputs",
)

SUM_SPEC = OpSpec(
    kind=OpKind.SUM,
    prepare=prepare,
    reference=MEAN_KERNEL,
    params_ctype="tas_mean_params",
    emit=emit,
    describe=lambda p: f"sum of {p.reduced} values, {p.outer}x{p.inner} outputs",
)
