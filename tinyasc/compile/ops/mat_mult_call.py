"""The call of a tas_mat_mult_dsp.h-layout kernel (FULLY_CONNECTED, DSP or portable, a 1x1
CONV_2D or a general one through im2col) and its constant arrays: int8 weights in channel blocks (weight_packing.py), the folded
bias, requantization stored once when per-tensor."""

from __future__ import annotations

import numpy as np

from tinyasc.compile.ops.common import EmitContext, Kernel, folded_bias, requantization_constants
from tinyasc.compile.ops.fully_connected_dsp import fast_requantization_holds
from tinyasc.compile.weight_packing import (
    MAT_MULT_BLOCK_ONE_ROW,
    MAT_MULT_BLOCK_PORTABLE,
    MAT_MULT_BLOCK_TWO_ROWS,
    pack_im2col_weights,
    pack_mat_mult_weights,
)


# Kernels that take a fast_requant flag after quant_step (tas_mat_mult_dsp.h: tas_mat_fast_requantize).
FAST_REQUANT_KERNELS = ("tas_conv2d_1x1_s8_dsp", "tas_conv2d_1x1_s8_dsp_step")


def mat_mult_block(kernel: Kernel) -> int:
    """Channels per packed block: the fully connected kernels run one row, the DSP 1x1 and im2col
    convs two, the portable convs (tas_mat_mult_s8.h) 4 channels x 2 pixels."""
    if kernel.name.startswith("tas_fully_connected"):
        return MAT_MULT_BLOCK_ONE_ROW
    return MAT_MULT_BLOCK_TWO_ROWS if "dsp" in kernel.requires else MAT_MULT_BLOCK_PORTABLE


def emit_mat_mult_call(p, kernel: Kernel, ctx: EmitContext) -> str:
    """`kernel`'s call on the prepared op `p` (FullyConnectedParams or Conv2DParams)."""
    if kernel.weight_layout == "im2col_blocks":  # a general CONV_2D: per group, windows padded to a word
        block = mat_mult_block(kernel)
        packed = pack_im2col_weights(p.weights, p.groups, block)
        layout = f"int8, per group of {p.output_depth // p.groups} channels windows padded to a word, in blocks of {block}"
    else:
        block = mat_mult_block(kernel)
        packed = pack_mat_mult_weights(p.weights, block)
        layout = f"int8, in blocks of {block} channels, 4 per word"
    w = ctx.constant("filter", packed, "int32_t", f"weights {list(p.weights.shape)} {layout}")
    folded = folded_bias(p.weights, p.bias, p.input_offset)
    b = ctx.constant("bias", folded, "int32_t", "bias + input_offset * sum(weights)")
    scratch = f"(int32_t *)({ctx.scratch()}), " if kernel.scratch_bytes else ""
    if kernel.name in FAST_REQUANT_KERNELS:  # the fast form when it is exact for every input, as the DSP FC
        fast = fast_requantization_holds(p.weights, folded, p.multipliers, p.shifts, p.output_offset)
        shifts = -np.asarray(p.shifts, dtype=np.int64) - 1 if fast else p.shifts
        m, s, quant_step = requantization_constants(ctx, p.multipliers, shifts, "right shift - 1" if fast else "shift")
        return (f"{kernel.name}({ctx.params}, {ctx.input()}, {w}, {b}, {m}, {s}, {quant_step}, {int(fast)}, "
                f"{scratch}{ctx.output()})")
    m, s, quant_step = requantization_constants(ctx, p.multipliers, p.shifts)
    return f"{kernel.name}({ctx.params}, {ctx.input()}, {w}, {b}, {m}, {s}, {quant_step}, {scratch}{ctx.output()})"
