"""Export-time preparation of each op: everything the kernel needs, computed once in Python.

Like TFLM's Prepare, `prepare(op, graph)` validates the op and computes padding, per-channel
multipliers and shifts, zero-point offsets and the activation clamp; the result is a frozen
dataclass the C template only prints. Kernels at run time read these constants and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyasc.compile import quant
from tinyasc.compile.ir import Graph, Op, OpKind, Tensor, require


@dataclass(frozen=True)
class Conv2DParams:
    input_height: int
    input_width: int
    input_depth: int
    filter_height: int
    filter_width: int
    filter_depth: int  # input channels per group
    output_height: int
    output_width: int
    output_depth: int
    stride_height: int
    stride_width: int
    dilation_height: int
    dilation_width: int
    pad_height: int
    pad_width: int
    groups: int
    input_offset: int  # −input zero point, added to every input byte
    output_offset: int
    act_min: int
    act_max: int
    multipliers: np.ndarray  # int32 [output_depth]
    shifts: np.ndarray  # int32 [output_depth]
    weights: np.ndarray  # int8 OHWI
    bias: np.ndarray | None  # int32 [output_depth]

    @property
    def macs(self) -> int:
        return (
            self.output_height * self.output_width * self.output_depth
            * self.filter_height * self.filter_width * self.filter_depth
        )


@dataclass(frozen=True)
class Pool2DParams:
    input_height: int
    input_width: int
    depth: int
    filter_height: int
    filter_width: int
    output_height: int
    output_width: int
    stride_height: int
    stride_width: int
    pad_height: int
    pad_width: int
    act_min: int
    act_max: int

    macs = 0  # comparisons or additions, not multiply-accumulates


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


@dataclass(frozen=True)
class FullyConnectedParams:
    batches: int
    input_depth: int
    output_depth: int
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    multipliers: np.ndarray  # int32 [output_depth] (a per-tensor multiplier is broadcast)
    shifts: np.ndarray
    weights: np.ndarray  # int8 [output_depth, input_depth]
    bias: np.ndarray | None

    @property
    def macs(self) -> int:
        return self.batches * self.input_depth * self.output_depth


@dataclass(frozen=True)
class AliasParams:
    """RESHAPE: the output is the input's bytes; no code runs."""

    macs: int = 0


def prepare(op: Op, graph: Graph):
    preparer = PREPARERS.get(op.kind)
    require(preparer is not None, op, "no kernel is registered for this op")
    return preparer(op, graph)


# ---- helpers ----


def _int8_activation(op: Op, tensor: Tensor | None, role: str) -> Tensor:
    require(tensor is not None, op, f"the {role} is missing")
    require(tensor.dtype == "int8", op, f"the {role} is {tensor.dtype}; only int8 activations are supported")
    require(tensor.quantization is not None and not tensor.quantization.per_channel, op,
            f"the {role} needs per-tensor quantization")
    return tensor


def _nhwc(op: Op, tensor: Tensor, role: str) -> tuple[int, int, int]:
    require(len(tensor.shape) == 4 and tensor.shape[0] == 1, op,
            f"the {role} must be NHWC with batch 1, got shape {list(tensor.shape)}")
    return tensor.shape[1], tensor.shape[2], tensor.shape[3]


def _padding(padding: str, in_size: int, filter_size: int, stride: int, dilation: int, out_size: int) -> int:
    """TFLite's ComputePaddingHeightWidth: SAME puts the odd extra pixel at the end."""
    if padding == "valid":
        return 0
    effective = (filter_size - 1) * dilation + 1
    return max(0, ((out_size - 1) * stride + effective - in_size) // 2)


def _bias(op: Op, tensor: Tensor | None, channels: int) -> np.ndarray | None:
    if tensor is None:
        return None
    require(tensor.is_constant and tensor.dtype == "int32", op, "the bias must be a constant int32 tensor")
    require(tensor.num_elements == channels, op, f"the bias has {tensor.num_elements} values for {channels} channels")
    return tensor.data.reshape(-1).astype(np.int32)


def _weights(op: Op, tensor: Tensor | None) -> Tensor:
    require(tensor is not None and tensor.is_constant, op, "the weights must be a constant tensor")
    require(tensor.dtype == "int8", op,
            f"the weights are {tensor.dtype}; quantize weights to int8 (full-integer quantization)")
    require(tensor.quantization is not None, op, "the weights have no quantization")
    require(all(z == 0 for z in tensor.quantization.zero_points), op, "int8 weights must be symmetric (zero point 0)")
    return tensor


# ---- per-op preparers ----


def prepare_conv2d(op: Op, graph: Graph) -> Conv2DParams:
    inputs = graph.op_inputs(op)
    x = _int8_activation(op, inputs[0], "input")
    w = _weights(op, inputs[1])
    y = _int8_activation(op, graph.op_outputs(op)[0], "output")
    in_h, in_w, in_c = _nhwc(op, x, "input")
    out_h, out_w, out_c = _nhwc(op, y, "output")
    require(len(w.shape) == 4 and w.shape[0] == out_c, op, f"filter shape {list(w.shape)} is not OHWI")
    _, f_h, f_w, f_c = w.shape
    require(in_c % f_c == 0 and out_c % (in_c // f_c) == 0, op,
            f"input channels {in_c} do not split into groups of {f_c}")
    o = op.options
    stride_h, stride_w = o.get("strideH", 1), o.get("strideW", 1)
    dil_h, dil_w = o.get("dilationHFactor", 1), o.get("dilationWFactor", 1)
    multipliers, shifts = quant.conv_multipliers(
        x.quantization.scale, w.quantization.scales, y.quantization.scale, out_c
    )
    act_min, act_max = quant.activation_range(o.get("activation", "none"), y.quantization.scale, y.quantization.zero_point)
    return Conv2DParams(
        input_height=in_h, input_width=in_w, input_depth=in_c,
        filter_height=f_h, filter_width=f_w, filter_depth=f_c,
        output_height=out_h, output_width=out_w, output_depth=out_c,
        stride_height=stride_h, stride_width=stride_w,
        dilation_height=dil_h, dilation_width=dil_w,
        pad_height=_padding(o.get("padding", "valid"), in_h, f_h, stride_h, dil_h, out_h),
        pad_width=_padding(o.get("padding", "valid"), in_w, f_w, stride_w, dil_w, out_w),
        groups=in_c // f_c,
        input_offset=-x.quantization.zero_point,
        output_offset=y.quantization.zero_point,
        act_min=act_min, act_max=act_max,
        multipliers=multipliers, shifts=shifts,
        weights=w.data.astype(np.int8),
        bias=_bias(op, inputs[2] if len(inputs) > 2 else None, out_c),
    )


def prepare_pool2d(op: Op, graph: Graph) -> Pool2DParams:
    x = _int8_activation(op, graph.op_inputs(op)[0], "input")
    y = _int8_activation(op, graph.op_outputs(op)[0], "output")
    in_h, in_w, in_c = _nhwc(op, x, "input")
    out_h, out_w, out_c = _nhwc(op, y, "output")
    require(in_c == out_c, op, "pooling must keep the channel count")
    require(x.quantization == y.quantization, op, "pooling input and output must share quantization")
    o = op.options
    f_h, f_w = o["filterHeight"], o["filterWidth"]
    stride_h, stride_w = o.get("strideH", 1), o.get("strideW", 1)
    act_min, act_max = quant.activation_range(o.get("activation", "none"), y.quantization.scale, y.quantization.zero_point)
    return Pool2DParams(
        input_height=in_h, input_width=in_w, depth=in_c,
        filter_height=f_h, filter_width=f_w,
        output_height=out_h, output_width=out_w,
        stride_height=stride_h, stride_width=stride_w,
        pad_height=_padding(o.get("padding", "valid"), in_h, f_h, stride_h, 1, out_h),
        pad_width=_padding(o.get("padding", "valid"), in_w, f_w, stride_w, 1, out_w),
        act_min=act_min, act_max=act_max,
    )


def prepare_mean(op: Op, graph: Graph) -> MeanParams:
    inputs = graph.op_inputs(op)
    x = _int8_activation(op, inputs[0], "input")
    y = _int8_activation(op, graph.op_outputs(op)[0], "output")
    axes_tensor = inputs[1]
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


def prepare_fully_connected(op: Op, graph: Graph) -> FullyConnectedParams:
    inputs = graph.op_inputs(op)
    x = _int8_activation(op, inputs[0], "input")
    w = _weights(op, inputs[1])
    y = _int8_activation(op, graph.op_outputs(op)[0], "output")
    require(len(w.shape) == 2, op, f"weights shape {list(w.shape)} is not [out, in]")
    out_depth, in_depth = w.shape
    require(x.num_elements % in_depth == 0, op, f"input of {x.num_elements} values does not split into rows of {in_depth}")
    require(y.num_elements == x.num_elements // in_depth * out_depth, op, "output size does not match")
    if w.quantization.per_channel:
        multipliers, shifts = quant.conv_multipliers(x.quantization.scale, w.quantization.scales, y.quantization.scale, out_depth)
    else:
        m, s = quant.fully_connected_multiplier(x.quantization.scale, w.quantization.scale, y.quantization.scale)
        multipliers = np.full(out_depth, m, dtype=np.int32)
        shifts = np.full(out_depth, s, dtype=np.int32)
    act_min, act_max = quant.activation_range(op.options.get("activation", "none"), y.quantization.scale, y.quantization.zero_point)
    return FullyConnectedParams(
        batches=x.num_elements // in_depth, input_depth=in_depth, output_depth=out_depth,
        input_offset=-x.quantization.zero_point, output_offset=y.quantization.zero_point,
        act_min=act_min, act_max=act_max,
        multipliers=multipliers, shifts=shifts,
        weights=w.data.astype(np.int8),
        bias=_bias(op, inputs[2] if len(inputs) > 2 else None, out_depth),
    )


def prepare_alias(op: Op, graph: Graph) -> AliasParams:
    x, y = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    require(x is not None and x.nbytes == y.nbytes and x.dtype == y.dtype, op, "reshape must keep size and type")
    require(x.quantization == y.quantization, op, "reshape must keep quantization")
    return AliasParams()


PREPARERS = {
    OpKind.CONV_2D: prepare_conv2d,
    OpKind.MAX_POOL_2D: prepare_pool2d,
    OpKind.AVERAGE_POOL_2D: prepare_pool2d,
    OpKind.MEAN: prepare_mean,
    OpKind.FULLY_CONNECTED: prepare_fully_connected,
    OpKind.RESHAPE: prepare_alias,
}
