"""RESHAPE, SQUEEZE, EXPAND_DIMS: same bytes, new shape. Aliases: the planner gives the output the
input's buffer; no code runs."""

from __future__ import annotations

from dataclasses import dataclass

from tinyasc.compile.ir import Graph, Op, OpKind, require
from tinyasc.compile.ops.common import OpSpec


@dataclass(frozen=True)
class AliasParams:
    macs: int = 0


def prepare(op: Op, graph: Graph) -> AliasParams:
    x, y = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    require(x is not None and x.nbytes == y.nbytes and x.dtype == y.dtype, op, "reshape must keep size and type")
    require(x.quantization == y.quantization, op, "reshape must keep quantization")
    return AliasParams()


SPEC = OpSpec(kind=OpKind.RESHAPE, prepare=prepare, reference=None)
SQUEEZE_SPEC = OpSpec(kind=OpKind.SQUEEZE, prepare=prepare, reference=None)
EXPAND_DIMS_SPEC = OpSpec(kind=OpKind.EXPAND_DIMS, prepare=prepare, reference=None)
