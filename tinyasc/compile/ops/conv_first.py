"""First-layer CONV_2D on DSP cores (tas_conv2d_first_s8_dsp.c): one group and 1-4 input channels
(RGB images, spectrograms), and any other one-group conv whose widened weights stay small (conv.py
selects it for those too). The weights are stored widened to int16 pairs and each channel's
requantization terms precomputed, so the kernel's inner loop is LDRD + SMLAD only; both cost
flash only in proportion to a first layer's few hundred weights."""

from __future__ import annotations

import numpy as np

from tinyasc.compile import kernel_costs
from tinyasc.compile.ops.common import EmitContext, Kernel, folded_bias, folds_into_int32
from tinyasc.compile.ops.fully_connected_dsp import fast_requantization_holds

FIRST_LAYER_DEPTH = 4  # input channels up to this count
BLOCK4_MIN_QUADS = 12  # windows of at least this many quads: channels in blocks of 4 (TAS_FIRST_BLOCK4_MIN_QUADS)
# Bytes of int16 weights (up to a 3x3 conv of 32 to 32 channels): beyond, the int8 im2col kernel keeps flash small.
WIDENED_WEIGHTS_LIMIT = 18432


def first_window(p) -> int:
    """Bytes of one im2col column: the filter window padded to a word (tas_im2col_window)."""
    return (p.filter_height * p.filter_width * p.filter_depth + 3) // 4 * 4


def has_small_widened_filter(p) -> bool:
    """One group, the folded bias in int32 and weights that stay small widened (the kernel's int16 pairs)."""
    paired = p.output_depth + p.output_depth % 2
    return p.groups == 1 and 2 * paired * first_window(p) <= WIDENED_WEIGHTS_LIMIT and folds_into_int32(p)


def is_first_layer(p) -> bool:
    """A small widened filter over 1-4 input channels."""
    return p.input_depth <= FIRST_LAYER_DEPTH and has_small_widened_filter(p)


def pack_first_weights(weights: np.ndarray) -> np.ndarray:
    """OHWI int8 weights → int32 words of int16 halves, the lanes SXTB16 gives an input word: even =
    (w0, w2), odd = (w1, w3) per quad of the word-padded window. Channels (an odd count padded with a
    zero channel) in blocks of 4 while at least 3 are left (windows of BLOCK4_MIN_QUADS quads or more),
    per quad c0..c3.even then c0..c3.odd; the rest in pairs, per quad c0.even, c1.even, c0.odd, c1.odd."""
    rows = np.asarray(weights, dtype=np.int8).reshape(weights.shape[0], -1).astype(np.int16)
    rows = np.pad(rows, ((0, rows.shape[0] % 2), (0, -rows.shape[1] % 4)))
    block_rows = 4 * ((weights.shape[0] + 1) // 4) if rows.shape[1] // 4 >= BLOCK4_MIN_QUADS else 0
    blocks = rows[:block_rows].reshape(block_rows // 4, 4, rows.shape[1] // 4, 4)  # [block, channel, quad, byte]
    even, odd = blocks[..., [0, 2]].transpose(0, 2, 1, 3), blocks[..., [1, 3]].transpose(0, 2, 1, 3)
    quads = rows[block_rows:].reshape(-1, 2, rows.shape[1] // 4, 4)  # [pair, channel, quad, byte]
    pair_even, pair_odd = quads[..., [0, 2]], quads[..., [1, 3]]  # [pair, channel, quad, 2]
    pairs = np.stack([pair_even[:, 0], pair_even[:, 1], pair_odd[:, 0], pair_odd[:, 1]], axis=2)  # [pair, quad, word, 2]
    halves = np.concatenate([np.concatenate([even, odd], axis=2).reshape(-1), pairs.reshape(-1)])
    return np.ascontiguousarray(halves).astype("<i2").view("<i4").reshape(-1).astype(np.int32)


def fast_requantization(p) -> bool:
    """The fast output stage is exact for every int8 input (the fully connected kernel's proof)."""
    folded = folded_bias(p.weights, p.bias, p.input_offset)
    return fast_requantization_holds(p.weights, folded, p.multipliers, p.shifts, p.output_offset)


def channel_table(p, fast: bool) -> np.ndarray:
    """Per output channel (an odd count padded with a copy of the last): the folded bias, then in the
    fast form multiplier, r - 1 and add = 2^(r-1)·(2·output_offset + 1) for the right shift r, else
    tas_requant_channel_of's terms (multiplier, left, right, round, negative_mask)."""
    bias = folded_bias(p.weights, p.bias, p.input_offset).astype(np.int64)
    multipliers = np.broadcast_to(np.asarray(p.multipliers, dtype=np.int64), bias.shape)
    shifts = np.broadcast_to(np.asarray(p.shifts, dtype=np.int64), bias.shape)
    if fast:
        right_less_one = -shifts - 1
        add = (2 * p.output_offset + 1) * (np.int64(1) << right_less_one)
        table = np.stack([bias, multipliers, right_less_one, add], axis=1)
    else:
        left = np.maximum(shifts, 0)
        right = left - shifts
        rounding = (np.int64(1) << right) >> 1
        table = np.stack([bias, multipliers, left, right, rounding, np.where(right > 0, -1, 0)], axis=1)
    if table.shape[0] % 2:
        table = np.concatenate([table, table[-1:]])
    return table.reshape(-1).astype(np.int32)


def emit_first_call(p, kernel: Kernel, ctx: EmitContext) -> str:
    w = ctx.constant("filter", pack_first_weights(p.weights), "int32_t",
                     f"weights {list(p.weights.shape)} widened to int16, per channel pair and quad even/odd lanes")
    fast = fast_requantization(p)
    terms = "multiplier, right shift - 1, rounding + offset term" if fast else "multiplier, left, right, round, negative mask"
    table = ctx.constant("channels", channel_table(p, fast), "int32_t",
                         f"per channel: bias + input_offset * sum(weights), {terms}")
    scratch = f"(int32_t *)(void *)({ctx.scratch()})"
    return f"{kernel.name}({ctx.params}, {ctx.input()}, {w}, {table}, {int(fast)}, {scratch}, {ctx.output()})"


CONV2D_FIRST_DSP = Kernel(
    "tas_conv2d_first_s8_dsp",
    ("tas_dsp.h", "tas_conv2d_common.h", "tas_im2col.h", "tas_mat_mult_dsp.h", "tas_conv2d_first_s8_dsp.c"),
    applies=is_first_layer, requires=("dsp",), row_loop=True, folds_input_offset=True, weight_layout="first_pairs",
    scratch_bytes=lambda p: 6 * first_window(p) + 8,  # two int8 columns with a word of room each, the pair widened
    cost=kernel_costs.first_dsp,
)
