"""The call of a tas_mat_mult_dsp.h-layout kernel (FULLY_CONNECTED, DSP or portable, a 1x1
CONV_2D or a general one through im2col) and its constant arrays: int8 weights in channel blocks (weight_packing.py), the folded
bias, requantization stored once when per-tensor."""

from __future__ import annotations

from tinyasc.compile.ops.common import EmitContext, Kernel, folded_bias, requantization_constants
from tinyasc.compile.weight_packing import (
    MAT_MULT_BLOCK_ONE_ROW,
    MAT_MULT_BLOCK_TWO_ROWS,
    pack_im2col_weights,
    pack_mat_mult_weights,
)


def mat_mult_block(kernel: Kernel) -> int:
    """Channels per packed block: the fully connected kernels run one row, the 1x1 conv two."""
    return MAT_MULT_BLOCK_ONE_ROW if kernel.name.startswith("tas_fully_connected") else MAT_MULT_BLOCK_TWO_ROWS


def emit_mat_mult_call(p, kernel: Kernel, ctx: EmitContext) -> str:
    """`kernel`'s call on the prepared op `p` (FullyConnectedParams or Conv2DParams)."""
    if kernel.weight_layout == "im2col_blocks":  # a general CONV_2D: per group, windows padded to a word
        packed = pack_im2col_weights(p.weights, p.groups)
        layout = f"int8, per group of {p.output_depth // p.groups} channels windows padded to a word, in blocks of 2"
    else:
        block = mat_mult_block(kernel)
        packed = pack_mat_mult_weights(p.weights, block)
        layout = f"int8, in blocks of {block} channels, 4 per word"
    w = ctx.constant("filter", packed, "int32_t", f"weights {list(p.weights.shape)} {layout}")
    b = ctx.constant("bias", folded_bias(p.weights, p.bias, p.input_offset), "int32_t", "bias + input_offset * sum(weights)")
    m, s, quant_step = requantization_constants(ctx, p.multipliers, p.shifts)
    scratch = f"(int32_t *)({ctx.scratch()}), " if kernel.scratch_bytes else ""
    return f"{kernel.name}({ctx.params}, {ctx.input()}, {w}, {b}, {m}, {s}, {quant_step}, {scratch}{ctx.output()})"
