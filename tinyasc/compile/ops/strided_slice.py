"""STRIDED_SLICE with constant begin, end and strides: an affine gather (see transpose.py).

Start and stop per axis follow TFLite's strided_slice_logic.h (StridedSliceStartForAxis /
StridedSliceEndForAxis): negative indices count from the end, values are clamped to the axis,
begin_mask/end_mask take the whole axis, shrink_axis_mask keeps one element and drops the axis,
`offset` makes end relative to begin. Ellipsis and new-axis masks are refused.
"""

from __future__ import annotations

from tinyasc.compile.ir import Graph, Op, OpKind, require
from tinyasc.compile.ops.common import OpSpec, int8_activation
from tinyasc.compile.ops.transpose import KERNEL, describe, emit, row_major_steps, strided_copy


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def start_for_axis(begin: int, stride: int, size: int, begin_masked: bool) -> int:
    if begin_masked:
        return 0 if stride > 0 else size - 1
    start = begin + size if begin < 0 else begin
    return _clamp(start, 0, size) if stride > 0 else _clamp(start, -1, size - 1)


def stop_for_axis(end: int, start: int, stride: int, size: int, end_masked: bool, shrink: bool, offset: bool) -> int:
    if shrink:
        return start if start >= size else start + 1
    if end_masked:
        return size if stride > 0 else -1
    end = end + start if offset else end
    end = end + size if end < 0 else end
    return _clamp(end, 0, size) if stride > 0 else _clamp(end, -1, size - 1)


def _constant_vector(op: Op, graph: Graph, position: int, name: str, rank: int) -> list[int]:
    tensor = graph.op_inputs(op)[position] if len(op.inputs) > position else None
    require(tensor is not None and tensor.is_constant, op, f"{name} must be a constant tensor")
    values = [int(v) for v in tensor.data.reshape(-1)]
    require(len(values) == rank, op, f"{name} has {len(values)} values for {rank} dimensions")
    return values


def prepare(op: Op, graph: Graph):
    x = int8_activation(op, graph.op_inputs(op)[0], "input")
    require(not x.is_constant, op, "the input is a constant; fold the op away (the TFLite converter does)")
    y = int8_activation(op, graph.op_outputs(op)[0], "output")
    rank = len(x.shape)
    require(1 <= rank <= 4, op, f"the input has {rank} dimensions; 1 to 4 are supported")
    require(x.quantization == y.quantization, op, "input and output must share quantization")
    o = op.options
    require(not o.get("ellipsisMask", 0) and not o.get("newAxisMask", 0), op,
            "ellipsis_mask and new_axis_mask are not supported; slice with explicit begin/end per axis")
    begin = _constant_vector(op, graph, 1, "begin", rank)
    end = _constant_vector(op, graph, 2, "end", rank)
    strides = _constant_vector(op, graph, 3, "strides", rank)
    require(all(s != 0 for s in strides), op, "a stride of 0 is invalid")
    in_steps = row_major_steps(x.shape)
    dims, steps, base, kept = [], [], 0, []
    for axis, size in enumerate(x.shape):
        bit = 1 << axis
        shrink = bool(o.get("shrinkAxisMask", 0) & bit)
        start = start_for_axis(begin[axis], strides[axis], size, bool(o.get("beginMask", 0) & bit))
        stop = stop_for_axis(end[axis], start, strides[axis], size, bool(o.get("endMask", 0) & bit), shrink,
                             bool(o.get("offset", False)))
        count = len(range(start, stop, strides[axis]))
        dims.append(count)
        steps.append(strides[axis] * in_steps[axis])
        base += (start * in_steps[axis]) if count else 0
        if not shrink:
            kept.append(count)
    require(tuple(kept) == tuple(y.shape) or (not kept and y.num_elements == 1), op,
            f"the slice has shape {kept}, the output {list(y.shape)}")
    require(all(d > 0 for d in dims), op, "the slice is empty")
    return strided_copy(dims, steps, base)


SPEC = OpSpec(kind=OpKind.STRIDED_SLICE, prepare=prepare, reference=KERNEL, params_ctype="tas_strided_copy_params",
              emit=emit, describe=describe)
