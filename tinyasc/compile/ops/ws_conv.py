"""WS_CONV: WSNet's weight-sampling convolution, a CUSTOM op (docs/ws_conv.md).

Inputs x (int8 [1, T, 1, M]), Φ (int8 [L*, M*], one symmetric scale), bias (int32 [N] or omitted);
FlexBuffer options kernel_size, filters, sampling_stride, channel_repeat, stride, padding,
activation. Prepared like CONV_2D on the sampled kernel K[n, l, 0, m] = Φ[n·s + l, m mod M*]:
multipliers from s_x·s_Φ/s_y per output channel, TFLite's SAME padding, the fused activation's clamp.

Two algorithms, the one with fewer modelled instructions on the board's core
(`wsconv.estimated_instructions`, with or without the DSP extension: each kernel record's `applies`
asks for its own ISA) unless the compile options force one (`CompileOptions.ws_kernel`, the CLI's
--ws-kernel: "integral" or "direct"; `with_options`):
- integral image (`tas_ws_conv_integral_s8[_dsp]`): reads Φ only, its int32 rows and ring live in a
  planned scratch buffer (`integral_scratch_words` / `integral_dsp_scratch_words` words);
- direct: K expanded at export time into flash, run by the general convolution's im2col kernels
  (DSP or portable; the reference conv kernel when the folded bias would not fit int32).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from tinyasc.compile import quant, wsconv
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
    requantization_constants,
)
from tinyasc.compile.ops.mat_mult_call import mat_mult_block
from tinyasc.compile.weight_packing import pack_im2col_weights


@dataclass(frozen=True)
class WSConvParams:
    # The int32 fields are tas_ws_conv_params, in its order (firmware_templates/kernels/tas_ws_conv_common.h).
    input_length: int
    input_channels: int
    condensed_length: int
    condensed_channels: int
    kernel_size: int
    filters: int
    sampling_stride: int
    stride: int
    pad_before: int
    output_length: int
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    algorithm: str  # "auto" (by modelled instructions on the board's core) | "integral" | "direct" (forced)
    multipliers: np.ndarray
    shifts: np.ndarray
    condensed: np.ndarray  # int8 Φ [L*, M*]
    bias: np.ndarray | None

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the convolution on the sampled kernel (L·M·N per output step), whichever
        kernel runs: the work the layer does, so instructions per MAC compare with other convolutions."""
        return self.output_length * self.kernel_size * self.input_channels * self.filters

    def shape(self) -> wsconv.WSConvShape:
        """The layer's shape, padding included (for the cost model)."""
        valid = wsconv.WSConvShape(**{**self._counting_shape().__dict__, "padding": "valid"})
        padding = "valid" if valid.output_length == self.output_length and self.pad_before == 0 else "same"
        return wsconv.WSConvShape(**{**valid.__dict__, "padding": padding})

    def _counting_shape(self) -> wsconv.WSConvShape:
        return wsconv.WSConvShape(self.input_length, self.input_channels, self.kernel_size, self.filters,
                                  self.sampling_stride, self.input_channels // self.condensed_channels, self.stride)


def prepare(op: Op, graph: Graph) -> WSConvParams:
    x = int8_activation(op, graph.op_inputs(op)[0], "input")
    phi = int8_weights(op, optional_input(graph, op, 1))
    y = int8_activation(op, graph.op_outputs(op)[0], "output")
    o = op.options
    in_h, in_w, in_c = nhwc(op, x, "input")
    out_h, out_w, out_c = nhwc(op, y, "output")
    require(in_w == 1 and out_w == 1, op, f"WS_CONV runs over time only: input and output width must be 1, "
            f"got {in_w} and {out_w}")
    require(len(phi.shape) == 2 and not phi.quantization.per_channel, op,
            f"the condensed filter must be 2-D [L*, M*] with one scale, got shape {list(phi.shape)} "
            f"and {len(phi.quantization.scales)} scales")
    length, channels = phi.shape
    kernel, filters, step, repeat = o["kernel_size"], o["filters"], o["sampling_stride"], o["channel_repeat"]
    require(out_c == filters, op, f"the output has {out_c} channels but the options say filters={filters}")
    require(channels * repeat == in_c, op,
            f"the condensed filter has {channels} channels × channel_repeat {repeat} ≠ {in_c} input channels")
    require(length == kernel + (filters - 1) * step, op,
            f"the condensed filter has {length} rows; kernel_size {kernel}, filters {filters} and "
            f"sampling_stride {step} need {kernel + (filters - 1) * step}")
    shape = wsconv.WSConvShape(in_h, in_c, kernel, filters, step, repeat, o["stride"], o["padding"])
    require(shape.output_length == out_h, op,
            f"the output has {out_h} steps but input {in_h}, kernel {kernel}, stride {o['stride']} and "
            f"{o['padding']} padding give {shape.output_length}")
    multipliers, shifts = quant.conv_multipliers(x.quantization.scale, phi.quantization.scales, y.quantization.scale, out_c)
    act_min, act_max = quant.activation_range(o.get("activation", "none"), y.quantization.scale, y.quantization.zero_point)
    return WSConvParams(
        input_length=in_h, input_channels=in_c, condensed_length=length, condensed_channels=channels,
        kernel_size=kernel, filters=filters, sampling_stride=step, stride=o["stride"],
        pad_before=shape.pad_before, output_length=out_h,
        input_offset=-x.quantization.zero_point, output_offset=y.quantization.zero_point,
        act_min=act_min, act_max=act_max, algorithm="auto",
        multipliers=multipliers, shifts=shifts, condensed=phi.data.astype(np.int8),
        bias=constant_bias(op, optional_input(graph, op, 2), out_c),
    )


def with_options(p: WSConvParams, options) -> WSConvParams:
    """The algorithm `options.ws_kernel` forces ("integral", "direct"), else "auto" (chosen per core)."""
    return p if options.ws_kernel == "auto" else dataclasses.replace(p, algorithm=options.ws_kernel)


def integral_scratch_bytes(p: WSConvParams) -> int:
    """The integral image's int32 rows and ring."""
    return 4 * wsconv.integral_scratch_words(p._counting_shape())


def chosen_algorithm(p: WSConvParams, dsp: bool) -> str:
    """The forced algorithm, else the one with fewer modelled instructions on a core with (dsp) or
    without the DSP extension."""
    return p.algorithm if p.algorithm != "auto" else wsconv.cheaper_algorithm(p.shape(), dsp)


def uses_direct(p: WSConvParams, dsp: bool = False) -> bool:
    return chosen_algorithm(p, dsp) == "direct"


def sampled_weights(p: WSConvParams) -> np.ndarray:
    """The sampled kernel K, OHWI int8 [filters, kernel_size, 1, input_channels]."""
    return wsconv.sampled_kernel(p.condensed, p._counting_shape())


def im2col_window(p: WSConvParams) -> int:
    """Bytes of the im2col column of one output step: kernel_size · input_channels, padded to a word."""
    return (p.kernel_size * p.input_channels + 3) // 4 * 4


def runs_direct_im2col(p: WSConvParams, dsp: bool = False) -> bool:
    """Direct, with bias + input_offset·ΣK in int32 and multipliers >= 0 (the im2col kernels' terms)."""
    if not uses_direct(p, dsp) or np.any(np.asarray(p.multipliers) < 0):
        return False
    sums = sampled_weights(p).reshape(p.filters, -1).astype(np.int64).sum(axis=1)
    bias = p.bias.astype(np.int64) if p.bias is not None else 0
    return bool(np.all(np.abs(bias + p.input_offset * sums) < 2**31))


def _emit_im2col(p: WSConvParams, kernel: Kernel, ctx: EmitContext) -> str:
    full = sampled_weights(p)
    block = mat_mult_block(kernel)
    k = ctx.constant("filter", pack_im2col_weights(full, 1, block), "int32_t",
                     f"sampled kernel {list(full.shape)} (expanded from Φ), int8 windows padded to a word, blocks of {block}")
    b = ctx.constant("bias", folded_bias(full, p.bias, p.input_offset), "int32_t", "bias + input_offset * sum(weights)")
    m, s, quant_step = requantization_constants(ctx, p.multipliers, p.shifts)
    return f"{kernel.name}({ctx.params}, {ctx.input()}, {k}, {b}, {m}, {s}, {quant_step}, (int32_t *)({ctx.scratch()}), {ctx.output()})"


def emit(p: WSConvParams, kernel: Kernel, ctx: EmitContext) -> str:
    if kernel.weight_layout == "im2col_blocks":
        return _emit_im2col(p, kernel, ctx)
    b = ctx.constant("bias", p.bias, "int32_t", "bias") if p.bias is not None else "NULL"
    if kernel is INTEGRAL_DSP:  # per-tensor requantization stored once (quant_step 0)
        m, s, quant_step = requantization_constants(ctx, p.multipliers, p.shifts)
        requant = f"{m}, {s}, {quant_step}"
    else:
        m = ctx.constant("multiplier", p.multipliers, "int32_t", "requantize multipliers")
        s = ctx.constant("shift", p.shifts, "int32_t", "requantize shifts")
        requant = f"{m}, {s}"
    if kernel is DIRECT:
        full = sampled_weights(p)
        k = ctx.constant("filter", full, "int8_t", f"sampled kernel {list(full.shape)} (expanded from Φ)")
        return f"{kernel.name}({ctx.params}, {ctx.input()}, {k}, {b}, {requant}, {ctx.output()})"
    if kernel is INTEGRAL_DSP:  # in slabs of 8 channels where the kernel reads Φ in place (wsconv.integral_dsp_slabs)
        layout = " in slabs of 8 channels" if wsconv.integral_dsp_slabs(p.shape()) else ""
        phi = ctx.constant("condensed", wsconv.integral_dsp_condensed(p.condensed, p.shape()), "int8_t",
                           f"condensed filter {list(p.condensed.shape)}{layout}")
    else:
        phi = ctx.constant("condensed", p.condensed, "int8_t", f"condensed filter {list(p.condensed.shape)}")
    scratch = f"(int32_t *)(void *)({ctx.scratch()})"
    return f"{kernel.name}({ctx.params}, {ctx.input()}, {phi}, {b}, {requant}, {scratch}, {ctx.output()})"


def describe(p: WSConvParams) -> str:
    return (
        f"WS {'integral/direct by modelled instructions' if p.algorithm == 'auto' else p.algorithm}: L={p.kernel_size} N={p.filters} s={p.sampling_stride} "
        f"C={p.input_channels // p.condensed_channels} Φ {p.condensed_length}x{p.condensed_channels}, "
        f"stride {p.stride}, out {p.output_length}x{p.filters}"
    )


INTEGRAL = Kernel(
    "tas_ws_conv_integral_s8", ("tas_ws_conv_common.h", "tas_ws_conv_integral_s8.c"),
    scratch_bytes=integral_scratch_bytes,
)
INTEGRAL_DSP = Kernel(  # two channels per SMLAD; Φ widened to int16 pairs in scratch once per call
    "tas_ws_conv_integral_s8_dsp", ("tas_dsp.h", "tas_ws_conv_common.h", "tas_ws_conv_integral_s8_dsp.c"),
    applies=lambda p: not uses_direct(p, dsp=True) and p.input_channels // p.condensed_channels <= 128,  # F' in int16
    requires=("dsp",), scratch_bytes=lambda p: 4 * wsconv.integral_dsp_scratch_words(p._counting_shape()),
)
DIRECT = Kernel(  # K expanded into flash, run by the grouped conv's loops
    "tas_ws_conv_direct_s8",
    ("tas_conv2d_common.h", "tas_conv2d_s8.c", "tas_ws_conv_common.h", "tas_ws_conv_direct_s8.c"),
    applies=uses_direct,
)

# The direct path on the general convolution's fast kernels (tas_conv2d_im2col_s8[_dsp]).
DIRECT_IM2COL_DSP = Kernel(
    "tas_ws_conv_im2col_s8_dsp",
    ("tas_dsp.h", "tas_conv2d_common.h", "tas_im2col.h", "tas_mat_mult_dsp.h", "tas_im2col_widened.h", "tas_conv2d_im2col_s8_dsp.c",
     "tas_ws_conv_common.h", "tas_ws_conv_im2col_s8_dsp.c"),
    applies=lambda p: runs_direct_im2col(p, dsp=True), requires=("dsp",), folds_input_offset=True,
    weight_layout="im2col_blocks",
    scratch_bytes=lambda p: 6 * im2col_window(p),  # two columns and the pair widened
)
DIRECT_IM2COL = Kernel(
    "tas_ws_conv_im2col_s8",
    ("tas_dsp.h", "tas_conv2d_common.h", "tas_im2col.h", "tas_mat_mult_s8.h", "tas_conv2d_im2col_s8.c",
     "tas_ws_conv_common.h", "tas_ws_conv_im2col_s8.c"),
    applies=runs_direct_im2col, folds_input_offset=True, weight_layout="im2col_blocks",
    scratch_bytes=lambda p: 2 * im2col_window(p),
)

SPEC = OpSpec(
    kind=OpKind.WS_CONV,
    prepare=prepare,
    reference=INTEGRAL,
    variants=(INTEGRAL_DSP, DIRECT_IM2COL_DSP, DIRECT_IM2COL, DIRECT),
    params_ctype="tas_ws_conv_params",
    emit=emit,
    describe=describe,
    with_options=with_options,
)
