"""DEPTHWISE_CONV_2D: each input channel convolved alone into `depth_multiplier` output channels.

TFLite's depthwise conv is the grouped conv with one input channel per group: output channel
`in_c · depth_multiplier + m` reads input channel `in_c` only, which is exactly the channel mapping
of the grouped reference conv kernel (`tas_conv2d_s8`, outputs_per_group = depth_multiplier).
So prepare turns the [1, H, W, out_c] filter into OHWI [out_c, H, W, 1] and reuses Conv2DParams;
that kernel is the reference, correct for every multiplier and dilation. Depth multiplier 1 with
dilation 1 (every depthwise-separable block: DS-CNN, MobileNet) runs the depthwise kernels, which
keep channels side by side as NHWC stores them: portable C with 4 channels in registers, and on
DSP cores 4 channels in SIMD lanes (SXTAB16 widens them and adds the input offset, SMLABB/SMLATT
accumulate each lane). Integer sums are exact, so the order of the taps cannot change a result.
The requantization is PopulateConvolutionQuantizationParams, as for CONV_2D.
"""

from __future__ import annotations

import numpy as np

from tinyasc.compile import quant
from tinyasc.compile.ir import Graph, Op, OpKind, require
from tinyasc.compile.ops.common import (
    EmitContext,
    Kernel,
    OpSpec,
    constant_bias,
    folded_bias,
    int8_activation,
    int8_weights,
    nhwc,
    optional_input,
    same_padding,
)
from tinyasc.compile.ops import conv
from tinyasc.compile.ops.conv import Conv2DParams
from tinyasc.compile.weight_packing import (
    depthwise_doubled_sums_fit,
    pack_depthwise_dsp_requantization,
    pack_depthwise_dsp_weights,
    pack_depthwise_requantization,
)


def prepare(op: Op, graph: Graph) -> Conv2DParams:
    x = int8_activation(op, graph.op_inputs(op)[0], "input")
    require(not x.is_constant, op, "the input is a constant; fold the op away (the TFLite converter does)")
    w = int8_weights(op, optional_input(graph, op, 1))
    y = int8_activation(op, graph.op_outputs(op)[0], "output")
    in_h, in_w, in_c = nhwc(op, x, "input")
    out_h, out_w, out_c = nhwc(op, y, "output")
    require(len(w.shape) == 4 and w.shape[0] == 1 and w.shape[3] == out_c, op,
            f"depthwise filter shape {list(w.shape)} is not [1, H, W, {out_c}]")
    require(out_c % in_c == 0, op, f"{out_c} output channels are not a multiple of {in_c} input channels")
    o = op.options
    multiplier = o.get("depthMultiplier", out_c // in_c)
    require(multiplier * in_c == out_c, op, f"depth_multiplier {multiplier} disagrees with {in_c} -> {out_c} channels")
    _, f_h, f_w, _ = w.shape
    stride_h, stride_w = o.get("strideH", 1), o.get("strideW", 1)
    dil_h, dil_w = o.get("dilationHFactor", 1), o.get("dilationWFactor", 1)
    in_q, w_q, out_q = x.quantization, w.quantization, y.quantization
    multipliers, shifts = quant.conv_multipliers(in_q.scale, w_q.scales, out_q.scale, out_c)
    act_min, act_max = quant.activation_range(o.get("activation", "none"), out_q.scale, out_q.zero_point)
    padding = o.get("padding", "valid")
    return Conv2DParams(
        input_height=in_h, input_width=in_w, input_depth=in_c,
        filter_height=f_h, filter_width=f_w, filter_depth=1,
        output_height=out_h, output_width=out_w, output_depth=out_c,
        stride_height=stride_h, stride_width=stride_w,
        dilation_height=dil_h, dilation_width=dil_w,
        pad_height=same_padding(padding, in_h, f_h, stride_h, dil_h, out_h),
        pad_width=same_padding(padding, in_w, f_w, stride_w, dil_w, out_w),
        groups=in_c,
        input_offset=-x.quantization.zero_point,
        output_offset=y.quantization.zero_point,
        act_min=act_min, act_max=act_max,
        multipliers=multipliers, shifts=shifts,
        weights=np.ascontiguousarray(np.transpose(w.data.astype(np.int8), (3, 1, 2, 0))),  # [1,H,W,O] -> OHWI
        bias=constant_bias(op, optional_input(graph, op, 2), out_c),
    )


def describe(p: Conv2DParams) -> str:
    return (
        f"depthwise {p.filter_height}x{p.filter_width}, x{p.output_depth // p.input_depth}, "
        f"stride {p.stride_height}x{p.stride_width}, out {p.output_height}x{p.output_width}x{p.output_depth}"
    )


def multiplier_one_undilated(p: Conv2DParams) -> bool:
    """One output channel per input channel, taps next to each other, and multipliers >= 0
    (tas_requantize_positive; QuantizeMultiplier makes no other)."""
    return (
        p.output_depth == p.input_depth == p.groups and p.filter_depth == 1
        and p.dilation_height == p.dilation_width == 1
        and bool(np.all(np.asarray(p.multipliers) >= 0))
    )


def multiplier_one_doubled(p: Conv2DParams) -> bool:
    """The DSP kernel's condition: multiplier_one_undilated, and twice every sum fits int32 (its
    weights are doubled for the SMMLAR output stage); otherwise the portable kernel runs."""
    return multiplier_one_undilated(p) and depthwise_doubled_sums_fit(p.weights, p.bias, p.input_offset)


def emit(p: Conv2DParams, kernel: Kernel, ctx: EmitContext, row_range: tuple[str, str] | None = None) -> str:
    """The reference runs the grouped conv's call; the depthwise kernels take their own filter
    layout, always a bias array, and a requantization table prepared for their output stage.
    `row_range` (C expressions: first row, end row) calls the kernel's `rows` variant."""
    if kernel.weight_layout == "natural":
        return conv.emit(p, kernel, ctx)
    shape = [p.filter_height, p.filter_width, p.output_depth]
    if kernel.weight_layout == "depthwise_dsp_pairs":
        w = ctx.constant("filter", pack_depthwise_dsp_weights(p.weights), "int32_t",
                         f"depthwise weights {shape} doubled, packed as int16 channel pairs for SMLABB/SMLATT")
    else:  # "depthwise_hwc": TFLite's [H, W, C]
        w = ctx.constant("filter", np.ascontiguousarray(np.transpose(p.weights[..., 0], (1, 2, 0))), "int8_t",
                         f"depthwise weights {shape}")
    bias = p.bias if p.bias is not None else np.zeros(p.output_depth, np.int32)
    if kernel.weight_layout == "depthwise_hwc":  # the portable kernel's whole windows take bias + input_offset·Σw
        bias = np.concatenate([bias, folded_bias(p.weights, p.bias, p.input_offset)])
        b = ctx.constant("bias", bias, "int32_t", "bias, then bias + input_offset * sum(weights)")
        table = pack_depthwise_requantization(p.multipliers, p.shifts, p.output_offset)
        what = "requantization per channel: multiplier, right shift - 1, 64-bit nudges for sums >= 0 and < 0"
    else:  # the DSP kernel's doubled sums
        b = ctx.constant("bias", (2 * bias.astype(np.int64)).astype(np.int32), "int32_t", "bias, doubled")
        table = pack_depthwise_dsp_requantization(p.weights, p.bias, p.input_offset, p.multipliers, p.shifts,
                                                  p.output_offset)
        what = ("requantization per channel: multiplier, right shift r, 2^(r-1)*(2*output_offset+1) "
                "(or multiplier, -1, shift); then 1 if every channel has the first form")
    q = ctx.constant("requantization", table, "int32_t", what)
    rows = f", {row_range[0]}, {row_range[1]}" if row_range else ""
    return f"{kernel.name}({ctx.params}, {ctx.input()}, {w}, {b}, {q}, {ctx.output()}{rows})"


# Neither runs in place by its access order alone (with padding, output row r overwrites input
# row r while row r + 1 still reads it): their `rows` variants, one output row per call, let a row
# stream (compile/rowstream.py) hold back the rows whose input is still needed.
_PORTABLE_FILES = ("tas_conv2d_common.h", "tas_depthwise_common.h", "tas_depthwise_v6m.h", "tas_depthwise_s8.h")
_DSP_FILES = ("tas_dsp.h", "tas_conv2d_common.h", "tas_depthwise_common.h", "tas_depthwise_s8_dsp.h")
DEPTHWISE = Kernel(
    "tas_depthwise_conv2d_s8", (*_PORTABLE_FILES, "tas_depthwise_conv2d_s8.c"),
    applies=multiplier_one_undilated, weight_layout="depthwise_hwc",
    rows=Kernel("tas_depthwise_conv2d_s8_rows", (*_PORTABLE_FILES, "tas_depthwise_conv2d_s8_rows.c"),
                applies=multiplier_one_undilated, weight_layout="depthwise_hwc"),
)
DEPTHWISE_DSP = Kernel(
    "tas_depthwise_conv2d_s8_dsp", (*_DSP_FILES, "tas_depthwise_conv2d_s8_dsp.c"),
    applies=multiplier_one_doubled, requires=("dsp",), weight_layout="depthwise_dsp_pairs",
    rows=Kernel("tas_depthwise_conv2d_s8_dsp_rows", (*_DSP_FILES, "tas_depthwise_conv2d_s8_dsp_rows.c"),
                applies=multiplier_one_doubled, requires=("dsp",), weight_layout="depthwise_dsp_pairs"),
)

SPEC = OpSpec(
    kind=OpKind.DEPTHWISE_CONV_2D,
    prepare=prepare,
    reference=conv.CONV2D,  # the grouped conv kernel: any multiplier, any dilation
    variants=(DEPTHWISE_DSP, DEPTHWISE),
    params_ctype="tas_conv2d_params",
    emit=emit,
    describe=describe,
)
