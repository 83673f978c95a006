"""TRANSPOSE (and, in slice.py, STRIDED_SLICE): int8 bytes gathered by an affine index.

Both ops read output element (i0, i1, i2, i3) from input offset
`base + i0·step0 + i1·step1 + i2·step2 + i3·step3`: a transpose permutes the input's row-major
steps, a strided slice starts at `base` and multiplies each step by its stride. One kernel,
`tas_strided_copy_s8`, runs both; shapes are extended to 4-D on the left.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyasc.compile.ir import Graph, Op, OpKind, require
from tinyasc.compile.ops.common import EmitContext, Kernel, OpSpec, int8_activation


@dataclass(frozen=True)
class StridedCopyParams:
    dim0: int  # output extents
    dim1: int
    dim2: int
    dim3: int
    step0: int  # input elements between neighbours along each output axis
    step1: int
    step2: int
    step3: int
    base: int  # input offset of output element 0

    macs = 0


def row_major_steps(shape) -> list[int]:
    steps, step = [], 1
    for extent in reversed(tuple(shape)):
        steps.insert(0, step)
        step *= extent
    return steps


def strided_copy(dims, steps, base: int = 0) -> StridedCopyParams:
    """Params for up to 4 output axes (outermost first), padded on the left to 4."""
    extra = 4 - len(dims)
    dims = (1,) * extra + tuple(int(d) for d in dims)
    steps = (0,) * extra + tuple(int(s) for s in steps)
    return StridedCopyParams(*dims, *steps, base=int(base))


def prepare(op: Op, graph: Graph) -> StridedCopyParams:
    inputs = graph.op_inputs(op)
    x = int8_activation(op, inputs[0], "input")
    require(not x.is_constant, op, "the input is a constant; fold the op away (the TFLite converter does)")
    y = int8_activation(op, graph.op_outputs(op)[0], "output")
    rank = len(x.shape)
    require(1 <= rank <= 4, op, f"the input has {rank} dimensions; 1 to 4 are supported")
    require(x.quantization == y.quantization, op, "input and output must share quantization")
    perm_tensor = inputs[1] if len(inputs) > 1 else None
    require(perm_tensor is not None and perm_tensor.is_constant, op, "the permutation must be a constant tensor")
    perm = [int(a) % rank for a in perm_tensor.data.reshape(-1)]
    require(sorted(perm) == list(range(rank)), op, f"{perm} is not a permutation of {rank} axes")
    in_steps = row_major_steps(x.shape)
    dims = [x.shape[a] for a in perm]
    require(tuple(dims) == tuple(y.shape), op, f"permuted shape {dims} != output {list(y.shape)}")
    return strided_copy(dims, [in_steps[a] for a in perm])


def emit(p: StridedCopyParams, kernel: Kernel, ctx: EmitContext) -> str:
    return f"{kernel.name}({ctx.params}, {ctx.input()}, {ctx.output()})"


def describe(p: StridedCopyParams) -> str:
    return f"out {p.dim0}x{p.dim1}x{p.dim2}x{p.dim3}, steps {p.step0},{p.step1},{p.step2},{p.step3} from {p.base}"


KERNEL = Kernel("tas_strided_copy_s8", ("tas_strided_copy_s8.c",))
SPEC = OpSpec(kind=OpKind.TRANSPOSE, prepare=prepare, reference=KERNEL, params_ctype="tas_strided_copy_params",
              emit=emit, describe=describe)
