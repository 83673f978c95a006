"""MAX_POOL_2D and AVERAGE_POOL_2D: int8 windows over H and W; input and output share quantization."""

from __future__ import annotations

from dataclasses import dataclass

from tinyasc.compile import quant
from tinyasc.compile.ir import Graph, Op, OpKind, require
from tinyasc.compile.ops.common import EmitContext, InPlace, Kernel, OpSpec, int8_activation, nhwc, same_padding


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


def prepare(op: Op, graph: Graph) -> Pool2DParams:
    x = int8_activation(op, graph.op_inputs(op)[0], "input")
    y = int8_activation(op, graph.op_outputs(op)[0], "output")
    in_h, in_w, in_c = nhwc(op, x, "input")
    out_h, out_w, out_c = nhwc(op, y, "output")
    require(in_c == out_c, op, "pooling must keep the channel count")
    require(x.quantization == y.quantization, op, "pooling input and output must share quantization")
    o = op.options
    f_h, f_w = o["filterHeight"], o["filterWidth"]
    stride_h, stride_w = o.get("strideH", 1), o.get("strideW", 1)
    act_min, act_max = quant.activation_range(o.get("activation", "none"), y.quantization.scale, y.quantization.zero_point)
    padding = o.get("padding", "valid")
    return Pool2DParams(
        input_height=in_h, input_width=in_w, depth=in_c,
        filter_height=f_h, filter_width=f_w,
        output_height=out_h, output_width=out_w,
        stride_height=stride_h, stride_width=stride_w,
        pad_height=same_padding(padding, in_h, f_h, stride_h, 1, out_h),
        pad_width=same_padding(padding, in_w, f_w, stride_w, 1, out_w),
        act_min=act_min, act_max=act_max,
    )


def emit(p: Pool2DParams, kernel: Kernel, ctx: EmitContext) -> str:
    return f"{kernel.name}({ctx.params}, {ctx.input()}, {ctx.output()})"


def describe(p: Pool2DParams) -> str:
    return f"{p.filter_height}x{p.filter_width} stride {p.stride_height}x{p.stride_width}, out {p.output_height}x{p.output_width}x{p.depth}"


def windows_inside_image(p: Pool2DParams) -> bool:
    """No padding and every pooling window lies wholly inside the input: no clipping needed."""
    return (
        p.pad_height == 0 and p.pad_width == 0
        and (p.output_height - 1) * p.stride_height + p.filter_height <= p.input_height
        and (p.output_width - 1) * p.stride_width + p.filter_width <= p.input_width
    )


# Each pooled byte is written after its window is read, and windows move forward in row-major
# order: unpadded, the output may overwrite the input (plan.py).
MAX_POOL2D = Kernel(
    "tas_max_pool2d_s8", ("tas_pool2d_common.h", "tas_max_pool2d_s8.c"), in_place=InPlace.FORWARD_WINDOWS,
)
MAX_POOL2D_DSP = Kernel(
    "tas_max_pool2d_s8_dsp", ("tas_dsp.h", "tas_pool2d_common.h", "tas_max_pool2d_s8_dsp.c"),
    applies=windows_inside_image, requires=("dsp",), in_place=InPlace.FORWARD_WINDOWS,
)


def runs_of_few_channels(p: Pool2DParams) -> bool:
    """1 or 2 channels in windows of whole rows (one output column): each window is one run of
    bytes, maxed a word at a time (tas_max_pool2d_runs_s8_dsp.c)."""
    return windows_inside_image(p) and p.depth <= 2 and p.filter_width == p.input_width and p.output_width == 1


MAX_POOL2D_RUNS_DSP = Kernel(
    "tas_max_pool2d_runs_s8_dsp", ("tas_dsp.h", "tas_pool2d_common.h", "tas_max_pool2d_runs_s8_dsp.c"),
    applies=runs_of_few_channels, requires=("dsp",), in_place=InPlace.FORWARD_WINDOWS,
)
AVG_POOL2D = Kernel(
    "tas_avg_pool2d_s8", ("tas_pool2d_common.h", "tas_avg_pool2d_s8.c"), in_place=InPlace.FORWARD_WINDOWS,
)
# Channels in SIMD lanes (SXTAB16 sums); each output channel group is written after its window's
# channels are read, as the reference kernel writes each channel, so it may run in place the same way.
AVG_POOL2D_DSP = Kernel(
    "tas_avg_pool2d_s8_dsp", ("tas_dsp.h", "tas_pool2d_common.h", "tas_avg_pool2d_s8_dsp.c"),
    requires=("dsp",), in_place=InPlace.FORWARD_WINDOWS,
)

MAX_SPEC = OpSpec(
    kind=OpKind.MAX_POOL_2D,
    prepare=prepare,
    reference=MAX_POOL2D,
    variants=(MAX_POOL2D_RUNS_DSP, MAX_POOL2D_DSP),
    params_ctype="tas_pool2d_params",
    emit=emit,
    describe=describe,
)
AVERAGE_SPEC = OpSpec(
    kind=OpKind.AVERAGE_POOL_2D,
    prepare=prepare,
    reference=AVG_POOL2D,
    variants=(AVG_POOL2D_DSP,),
    params_ctype="tas_pool2d_params",
    emit=emit,
    describe=describe,
)
