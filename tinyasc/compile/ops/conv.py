"""CONV_2D: int8 NHWC convolution, OHWI per-channel weights, int32 bias, fused activation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from tinyasc.compile import kernel_costs, quant
from tinyasc.compile.ir import Graph, Op, OpKind, require
from tinyasc.compile.ops.common import (
    EmitContext,
    Kernel,
    OpSpec,
    constant_bias,
    folded_bias,
    folds_into_int32,
    int8_activation,
    int8_weights,
    nhwc,
    optional_input,
    same_padding,
)
from tinyasc.compile.ops.conv_first import CONV2D_FIRST_DSP, emit_first_call, has_small_widened_filter, is_first_layer
from tinyasc.compile.ops.mat_mult_call import emit_mat_mult_call
from tinyasc.compile.ops.sparse_call import emit_sparse_call
from tinyasc.compile.weight_packing import pack_rows_dsp_weights


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


def prepare(op: Op, graph: Graph) -> Conv2DParams:
    x = int8_activation(op, graph.op_inputs(op)[0], "input")
    w = int8_weights(op, optional_input(graph, op, 1))
    y = int8_activation(op, graph.op_outputs(op)[0], "output")
    in_h, in_w, in_c = nhwc(op, x, "input")
    out_h, out_w, out_c = nhwc(op, y, "output")
    require(len(w.shape) == 4 and w.shape[0] == out_c, op, f"filter shape {list(w.shape)} is not OHWI")
    _, f_h, f_w, f_c = w.shape
    require(in_c % f_c == 0 and out_c % (in_c // f_c) == 0, op,
            f"input channels {in_c} do not split into groups of {f_c}")
    o = op.options
    stride_h, stride_w = o.get("strideH", 1), o.get("strideW", 1)
    dil_h, dil_w = o.get("dilationHFactor", 1), o.get("dilationWFactor", 1)
    multipliers, shifts = quant.conv_multipliers(x.quantization.scale, w.quantization.scales, y.quantization.scale, out_c)
    act_min, act_max = quant.activation_range(o.get("activation", "none"), y.quantization.scale, y.quantization.zero_point)
    padding = o.get("padding", "valid")
    if in_h == out_h == f_h == 1 and (in_w, f_w) != (1, 1):
        # Keras Conv1D lowered by TFLite (EXPAND_DIMS → CONV_2D over [1, 1, W, C] with a 1×k filter
        # → RESHAPE): the same bytes read as [1, W, 1, C] with a k×1 filter (OHWI [O, 1, k, I] and
        # [O, k, 1, I] are one array). Swapping H and W makes it the (k, 1) convolution the
        # contiguous-row kernels run natively; arithmetic and MACs are unchanged.
        in_h, in_w, out_h, out_w, f_h, f_w = in_w, 1, out_w, 1, f_w, 1
        stride_h, stride_w, dil_h, dil_w = stride_w, 1, dil_w, 1
    if f_h == f_w == 1 and stride_h == stride_w == 1 and in_c == f_c:
        # A pointwise conv is a 1-D conv over the H·W pixels (each reads C contiguous bytes): say
        # so, and the contiguous-window kernels run it. Same arithmetic, same MACs.
        in_h, in_w, out_h, out_w = in_h * in_w, 1, out_h * out_w, 1
    return Conv2DParams(
        input_height=in_h, input_width=in_w, input_depth=in_c,
        filter_height=f_h, filter_width=f_w, filter_depth=f_c,
        output_height=out_h, output_width=out_w, output_depth=out_c,
        stride_height=stride_h, stride_width=stride_w,
        dilation_height=dil_h, dilation_width=dil_w,
        pad_height=same_padding(padding, in_h, f_h, stride_h, dil_h, out_h),
        pad_width=same_padding(padding, in_w, f_w, stride_w, dil_w, out_w),
        groups=in_c // f_c,
        input_offset=-x.quantization.zero_point,
        output_offset=y.quantization.zero_point,
        act_min=act_min, act_max=act_max,
        multipliers=multipliers, shifts=shifts,
        weights=w.data.astype(np.int8),
        bias=constant_bias(op, optional_input(graph, op, 2), out_c),
    )


def _weights_constant(p: Conv2DParams, kernel: Kernel, ctx: EmitContext) -> str:
    if kernel.weight_layout == "dsp_pairs":
        packed = pack_rows_dsp_weights(p.weights)
        return ctx.constant("filter", packed, "int32_t", f"weights {list(p.weights.shape)} packed as int16 pairs for SMLAD")
    return ctx.constant("filter", p.weights, "int8_t", f"weights {list(p.weights.shape)}")


def emit(p: Conv2DParams, kernel: Kernel, ctx: EmitContext) -> str:
    if kernel.weight_layout == "sparse":
        return emit_sparse_call(p, kernel, ctx)
    if kernel.weight_layout == "first_pairs":
        return emit_first_call(p, kernel, ctx)
    if kernel.weight_layout in ("mat_mult_blocks", "im2col_blocks"):
        return emit_mat_mult_call(p, kernel, ctx)
    w = _weights_constant(p, kernel, ctx)
    if kernel.folds_input_offset:
        b = ctx.constant("bias", folded_bias(p.weights, p.bias, p.input_offset), "int32_t", "bias + input_offset * sum(weights)")
    elif p.bias is not None:
        b = ctx.constant("bias", p.bias, "int32_t", "bias")
    else:
        b = "NULL"
    m = ctx.constant("multiplier", p.multipliers, "int32_t", "requantize multipliers")
    s = ctx.constant("shift", p.shifts, "int32_t", "requantize shifts")
    return f"{kernel.name}({ctx.params}, {ctx.input()}, {w}, {b}, {m}, {s}, {ctx.output()})"


def describe(p: Conv2DParams) -> str:
    return (
        f"{p.filter_height}x{p.filter_width}x{p.filter_depth} -> {p.output_depth}, "
        f"stride {p.stride_height}x{p.stride_width}, out {p.output_height}x{p.output_width}x{p.output_depth}"
    )


def reads_contiguous_rows(p: Conv2DParams) -> bool:
    """Each output row's receptive field is one contiguous run of input bytes (a 1-D conv in
    2-D form: no padding, dilation 1, one group, a filter as wide as the input). pad_height is the
    top padding only: SAME puts an odd extra row at the bottom, so the last window must also end
    inside the input (a fuzz finding, issue 18: it read past the input). A filter dilated across
    the width is as wide as the input in taps, not in columns (fuzz seed 20 graph 5721)."""
    return (
        p.pad_height == 0 and p.pad_width == 0
        and (p.output_height - 1) * p.stride_height + p.filter_height <= p.input_height
        and p.dilation_height == 1 and p.dilation_width == 1 and p.groups == 1
        and p.filter_width == p.input_width and p.output_width == 1
    )


def is_pointwise(p: Conv2DParams) -> bool:
    """A 1x1 conv (any stride) without padding, one group, whose bias folds into int32: each output
    pixel is one input vector times the [output_depth, input_depth] weights."""
    return (
        p.filter_height == p.filter_width == 1 and p.groups == 1
        and p.pad_height == 0 and p.pad_width == 0 and folds_into_int32(p)
    )


# Every conv kernel loops over output rows from the input pointer, so fusion.py can run it on a
# block of rows. The sparse kernel stores only non-zero weights (sparse.py chooses it). The kernels
# with a cost (kernel_costs.py) compete: of those that apply, the cheapest runs (kernels.py), so a
# 1-D conv runs the rows kernel, the first-layer kernel or im2col, whichever the shape favours.
CONV2D_SPARSE = Kernel(
    "tas_conv2d_sparse_s8", ("tas_conv2d_common.h", "tas_sparse_common.h", "tas_conv2d_sparse_s8.c"),
    row_loop=True, folds_input_offset=True, weight_layout="sparse",
)
CONV2D = Kernel("tas_conv2d_s8", ("tas_conv2d_common.h", "tas_conv2d_s8.c"), row_loop=True)
CONV2D_ROWS = Kernel(
    "tas_conv2d_rows_s8", ("tas_conv2d_common.h", "tas_mat_mult_s8.h", "tas_conv2d_rows_s8.c"),
    applies=reads_contiguous_rows, row_loop=True, sparse=CONV2D_SPARSE, folds_input_offset=True,
    weight_layout="mat_mult_blocks", cost=kernel_costs.rows_portable,
)
CONV2D_ROWS_DSP = Kernel(
    "tas_conv2d_rows_s8_dsp", ("tas_dsp.h", "tas_conv2d_common.h", "tas_conv2d_rows_s8_dsp.c"),
    applies=reads_contiguous_rows, requires=("dsp",), row_loop=True, sparse=CONV2D_SPARSE,
    folds_input_offset=True, weight_layout="dsp_pairs", cost=kernel_costs.rows_dsp,
)

# A 1x1 conv whose pixels are contiguous rows (stride 1, canonicalised by prepare) has the sparse
# variant too; a strided one (ResNet shortcuts) runs the dense kernel only.
_1X1_DSP_FILES = ("tas_dsp.h", "tas_conv2d_common.h", "tas_mat_mult_dsp.h", "tas_mat_mult_triples_dsp.h",
                  "tas_conv2d_1x1_dsp.h")
CONV2D_1X1_DSP = Kernel(
    "tas_conv2d_1x1_s8_dsp", (*_1X1_DSP_FILES, "tas_conv2d_1x1_s8_dsp.c"),
    applies=lambda p: is_pointwise(p) and reads_contiguous_rows(p), requires=("dsp",), row_loop=True,
    sparse=CONV2D_SPARSE, folds_input_offset=True, weight_layout="mat_mult_blocks",
    scratch_bytes=lambda p: max(16, 24 * (p.input_depth // 4)),  # three pixels' inputs widened to int16
    # One step of a row stream whose steps hold an odd number of pixels (rowstream.py: pairs_across_steps).
    rows=Kernel("tas_conv2d_1x1_s8_dsp_step", (*_1X1_DSP_FILES, "tas_conv2d_1x1_s8_dsp_step.c"),
                applies=lambda p: is_pointwise(p) and reads_contiguous_rows(p) and p.input_depth % 4 == 0,
                requires=("dsp",), folds_input_offset=True, weight_layout="mat_mult_blocks",
                scratch_bytes=lambda p: max(16, 24 * (p.input_depth // 4))),
)
# Other one-group convs whose weights stay small widened (ResNet-8's 3x3 convs up to 32 -> 32 channels)
# take the first-layer kernel too: its int16 weights, channel table and
# 4-channel blocks spare the im2col kernel's weight widening and per-channel requantization set-up
# (ResNet-8 on the M4 twin, op at a time: 16 -> 16 channels 1.35 -> 1.05 insns/MAC, 32 -> 32 1.11 ->
# 0.89). Contiguous-row convs (1-D convs) keep the rows kernels; strided 1x1 shortcuts keep the 1x1
# kernel, whose three-pixel blocks tie with this one on ResNet-8 (13,404,040 vs 13,407,880 instructions
# on the M4 twin) and store int8 weights.
CONV2D_SMALL_FILTER_DSP = dataclasses.replace(
    CONV2D_FIRST_DSP, applies=lambda p: has_small_widened_filter(p) and not reads_contiguous_rows(p)
    and not is_pointwise(p))
CONV2D_1X1_STRIDED_DSP = dataclasses.replace(CONV2D_1X1_DSP, applies=is_pointwise, sparse=None, rows=None)
# A 1x1 conv over 1-4 channels (WSNet's denser-sampling projections, 4 -> 2) has at most 4 MACs per
# output: the mat-mult's per-call setup would cost more than its sums, the first-layer kernel's
# precomputed tables and in-place windows less.
CONV2D_1X1_FEW_INPUTS_DSP = dataclasses.replace(
    CONV2D_FIRST_DSP, applies=lambda p: is_pointwise(p) and is_first_layer(p))


def im2col_window(p: Conv2DParams) -> int:
    """Bytes of one group's im2col column: the filter window padded to a word (tas_im2col.h)."""
    return (p.filter_height * p.filter_width * p.filter_depth + 3) // 4 * 4


# Any other conv (padding, stride, dilation, groups, first layers of 1-3 channels): two pixels'
# receptive fields gathered into int8 columns, then a 2 channels x 2 pixels matrix product. Scratch:
# the two columns, and on DSP cores the pair widened to int16 (tas_mat_mult_two_rows).
CONV2D_IM2COL_DSP = Kernel(
    "tas_conv2d_im2col_s8_dsp",
    ("tas_dsp.h", "tas_conv2d_common.h", "tas_im2col.h", "tas_mat_mult_dsp.h", "tas_im2col_widened.h", "tas_conv2d_im2col_s8_dsp.c"),
    applies=folds_into_int32, requires=("dsp",), row_loop=True, folds_input_offset=True, weight_layout="im2col_blocks",
    scratch_bytes=lambda p: 2 * p.groups * im2col_window(p) + 4 * im2col_window(p), cost=kernel_costs.im2col_dsp,
)
CONV2D_IM2COL = Kernel(
    "tas_conv2d_im2col_s8",
    ("tas_dsp.h", "tas_conv2d_common.h", "tas_im2col.h", "tas_mat_mult_s8.h", "tas_conv2d_im2col_s8.c"),
    applies=folds_into_int32, row_loop=True, folds_input_offset=True, weight_layout="im2col_blocks",
    scratch_bytes=lambda p: 2 * p.groups * im2col_window(p), cost=kernel_costs.im2col_portable,
)

SPEC = OpSpec(
    kind=OpKind.CONV_2D,
    prepare=prepare,
    reference=CONV2D,
    variants=(CONV2D_1X1_FEW_INPUTS_DSP, CONV2D_1X1_DSP, CONV2D_SMALL_FILTER_DSP, CONV2D_1X1_STRIDED_DSP, CONV2D_ROWS_DSP, CONV2D_ROWS, CONV2D_FIRST_DSP, CONV2D_IM2COL_DSP,
              CONV2D_IM2COL),
    params_ctype="tas_conv2d_params",
    emit=emit,
    describe=describe,
)
