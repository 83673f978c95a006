"""MEAN: int8 mean over constant, contiguous axes (global average pooling), requantized."""

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
    same_quantization: bool  # TFLM then divides the raw sum (truncating), no requantization
    input_zero_point: int
    output_zero_point: int
    multiplier: int  # already folds 1/reduced in, as TFLM's QuantizedMeanOrSum does
    shift: int

    macs = 0  # additions and one requantization per output, not multiply-accumulates


def prepare(op: Op, graph: Graph) -> MeanParams:
    inputs = graph.op_inputs(op)
    x = int8_activation(op, inputs[0], "input")
    y = int8_activation(op, graph.op_outputs(op)[0], "output")
    axes_tensor = inputs[1] if len(inputs) > 1 else None
    require(axes_tensor is not None and axes_tensor.is_constant, op, "the axes must be a constant tensor")
    rank = len(x.shape)
    axes = sorted({int(a) % rank for a in axes_tensor.data.reshape(-1)})
    require(axes == list(range(axes[0], axes[-1] + 1)), op, f"reduction axes {axes} must be contiguous")
    keep_dims = bool(op.options.get("keepDims", False))
    # TFLM runs a different integer algorithm for 4-D keep_dims means over H and W.
    require(not (keep_dims and rank == 4 and axes == [1, 2]), op,
            "MEAN with keep_dims over axes 1 and 2 is not supported yet; use keepdims=False")
    outer = int(np.prod(x.shape[: axes[0]], dtype=np.int64))
    reduced = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    inner = int(np.prod(x.shape[axes[-1] + 1 :], dtype=np.int64))
    in_q, out_q = x.quantization, y.quantization
    multiplier, shift = quant.quantize_multiplier(float(np.float32(in_q.scale)) / float(np.float32(out_q.scale)))
    # QuantizedMeanOrSum folds 1/reduced into the multiplier with a bounded extra shift.
    extra = min(reduced.bit_length() - 1, 32, 31 + shift)
    multiplier = int((multiplier << extra) // reduced)
    shift -= extra
    return MeanParams(
        outer=outer, reduced=reduced, inner=inner,
        same_quantization=(in_q.scale == out_q.scale and in_q.zero_point == out_q.zero_point),
        input_zero_point=in_q.zero_point, output_zero_point=out_q.zero_point,
        multiplier=multiplier, shift=shift,
    )


def emit(p: MeanParams, kernel: Kernel, ctx: EmitContext) -> str:
    return f"{kernel.name}({ctx.params}, {ctx.input()}, {ctx.output()})"


SPEC = OpSpec(
    kind=OpKind.MEAN,
    prepare=prepare,
    reference=Kernel("tas_mean_s8", ("tas_mean_s8.c",)),
    params_ctype="tas_mean_params",
    emit=emit,
    describe=lambda p: f"mean of {p.reduced} values, {p.outer}x{p.inner} outputs",
)
