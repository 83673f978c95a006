"""PAD and PADV2: constant padding of an int8 tensor of up to 4 dimensions.

As TFLM's pad.cc: PAD fills with the output zero point (a real 0), PADV2 with its int8
constant_values; the bytes that come from the input are copied unchanged (input and output share
quantization). Shapes are extended to 4-D on the left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyasc.compile.ir import Graph, Op, OpKind, require
from tinyasc.compile.ops.common import EmitContext, Kernel, OpSpec, int8_activation


@dataclass(frozen=True)
class PadParams:
    output_dim0: int
    output_dim1: int
    output_dim2: int
    output_dim3: int
    input_dim0: int
    input_dim1: int
    input_dim2: int
    input_dim3: int
    pad_before0: int
    pad_before1: int
    pad_before2: int
    pad_before3: int
    pad_value: int

    macs = 0


def _paddings(op: Op, graph: Graph, rank: int) -> np.ndarray:
    tensor = graph.op_inputs(op)[1] if len(op.inputs) > 1 else None
    require(tensor is not None and tensor.is_constant, op, "the paddings must be a constant tensor")
    require(tensor.dtype in ("int32", "int64") and tuple(tensor.shape) == (rank, 2), op,
            f"the paddings must be an int32 [{rank}, 2] tensor, got {tensor.dtype} {list(tensor.shape)}")
    paddings = tensor.data.astype(np.int64)
    require(bool(np.all(paddings >= 0)), op, "negative paddings are not supported")
    return paddings


def _pad_value(op: Op, graph: Graph, y) -> int:
    if op.kind == OpKind.PAD or len(op.inputs) < 3 or op.inputs[2] < 0:
        return y.quantization.zero_point
    value = graph.tensor(op.inputs[2])
    require(value.is_constant and value.dtype == "int8" and value.num_elements == 1, op,
            "constant_values must be one constant int8 value")
    return int(value.data.reshape(-1)[0])


def prepare(op: Op, graph: Graph) -> PadParams:
    x = int8_activation(op, graph.op_inputs(op)[0], "input")
    require(not x.is_constant, op, "the input is a constant; fold the op away (the TFLite converter does)")
    y = int8_activation(op, graph.op_outputs(op)[0], "output")
    rank = len(x.shape)
    require(1 <= rank <= 4, op, f"the input has {rank} dimensions; 1 to 4 are supported")
    require(x.quantization == y.quantization, op, "input and output must share quantization (TFLM requires it)")
    paddings = _paddings(op, graph, rank)
    extra = 4 - rank
    in_dims = (1,) * extra + tuple(x.shape)
    before = (0,) * extra + tuple(int(b) for b in paddings[:, 0])
    out_dims = (1,) * extra + tuple(int(d + b + a) for d, (b, a) in zip(x.shape, paddings))
    require(out_dims[extra:] == tuple(y.shape), op, f"padded shape {list(out_dims[extra:])} != output {list(y.shape)}")
    fields = {}
    for axis in range(4):
        fields[f"output_dim{axis}"] = out_dims[axis]
        fields[f"input_dim{axis}"] = in_dims[axis]
        fields[f"pad_before{axis}"] = before[axis]
    return PadParams(**fields, pad_value=_pad_value(op, graph, y))


def emit(p: PadParams, kernel: Kernel, ctx: EmitContext) -> str:
    return f"{kernel.name}({ctx.params}, {ctx.input()}, {ctx.output()})"


def describe(p: PadParams) -> str:
    return (f"{p.input_dim0}x{p.input_dim1}x{p.input_dim2}x{p.input_dim3} -> "
            f"{p.output_dim0}x{p.output_dim1}x{p.output_dim2}x{p.output_dim3} with {p.pad_value}")


KERNEL = Kernel("tas_pad_s8", ("tas_pad_s8.c",))
PAD_SPEC = OpSpec(kind=OpKind.PAD, prepare=prepare, reference=KERNEL, params_ctype="tas_pad_params",
                  emit=emit, describe=describe)
PADV2_SPEC = OpSpec(kind=OpKind.PADV2, prepare=prepare, reference=KERNEL, params_ctype="tas_pad_params",
                    emit=emit, describe=describe)
