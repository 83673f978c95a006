"""CONCATENATION: int8 inputs joined along one axis.

TFLM's int8 kernel copies bytes (reference_ops::Concatenation, not ConcatenationWithScaling) and
refuses, at Prepare, an input whose scale or zero point differs from the output's. tinyasc copies
and refuses the same models (the TFLite converter gives concatenation inputs the output's
quantization, so converted models pass). The tensor is seen as [outer, axis·inner]: for each
outer index, each input contributes one contiguous run of bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyasc.compile.ir import Graph, Op, OpKind, require
from tinyasc.compile.ops.common import EmitContext, Kernel, OpSpec, int8_activation

MAX_INPUTS = 10  # TFLM's kMaxInputNum


@dataclass(frozen=True)
class ConcatParams:
    outer: int  # product of the axes before the concatenation axis
    num_inputs: int
    copy_sizes: np.ndarray  # int32 [num_inputs]: bytes each input contributes per outer index
    constants: tuple  # per input: int8 data when it is a constant tensor, else None

    macs = 0


def prepare(op: Op, graph: Graph) -> ConcatParams:
    inputs = graph.op_inputs(op)
    y = int8_activation(op, graph.op_outputs(op)[0], "output")
    require(1 <= len(inputs) <= MAX_INPUTS, op, f"{len(inputs)} inputs; TFLM concatenates at most {MAX_INPUTS}")
    require(op.options.get("activation", "none") == "none", op, "a fused activation on CONCATENATION is not supported")
    rank = len(y.shape)
    axis = int(op.options.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    require(0 <= axis < rank, op, f"axis {op.options.get('axis')} is out of range for rank {rank}")
    sizes = []
    for position, tensor in enumerate(inputs):
        x = int8_activation(op, tensor, f"input {position}")
        require(x.quantization == y.quantization, op,
                f"input {position} is quantized differently from the output (scale {x.quantization.scale:.6g} "
                f"zero point {x.quantization.zero_point} vs {y.quantization.scale:.6g}, {y.quantization.zero_point}); "
                "TFLM refuses this too: give all parts the output's quantization (the TFLite converter does)")
        require(len(x.shape) == rank and all(x.shape[a] == y.shape[a] for a in range(rank) if a != axis), op,
                f"input {position} shape {list(x.shape)} does not match the output {list(y.shape)} off axis {axis}")
        sizes.append(int(np.prod(x.shape[axis:], dtype=np.int64)))
    require(sum(sizes) * int(np.prod(y.shape[:axis], dtype=np.int64)) == y.num_elements, op,
            "the inputs do not add up to the output along the axis")
    return ConcatParams(
        outer=int(np.prod(y.shape[:axis], dtype=np.int64)),
        num_inputs=len(inputs),
        copy_sizes=np.array(sizes, dtype=np.int32),
        constants=tuple(t.data.astype(np.int8).reshape(-1) if t.is_constant else None for t in inputs),
    )


def emit(p: ConcatParams, kernel: Kernel, ctx: EmitContext) -> str:
    pointers = []
    for position, constant in enumerate(p.constants):
        if constant is None:
            pointers.append(ctx.input(position))
        else:  # the name avoids "input": codegen looks for that word to know the model reads `input`
            pointers.append(ctx.constant(f"part{position}", constant, "int8_t", f"constant part {position}"))
    sizes = ctx.constant("copy_sizes", p.copy_sizes, "int32_t", "bytes per part and outer index")
    parts = "(const int8_t *const[]){" + ", ".join(pointers) + "}"
    return f"{kernel.name}({ctx.params}, {parts}, {sizes}, {ctx.output()})"


SPEC = OpSpec(
    kind=OpKind.CONCATENATION,
    prepare=prepare,
    reference=Kernel("tas_concatenation_s8", ("tas_concatenation_s8.c",)),
    params_ctype="tas_concatenation_params",
    emit=emit,
    describe=lambda p: f"{p.num_inputs} parts of {[int(size) for size in p.copy_sizes]} bytes, {p.outer} times",
)
