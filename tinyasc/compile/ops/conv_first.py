"""First-layer CONV_2D on DSP cores (tas_conv2d_first_s8_dsp.c): one group and 1-4 input channels
(RGB images, spectrograms). The weights are stored widened to int16 pairs and each channel's
requantization terms precomputed, so the kernel's inner loop is LDRD + SMLAD only; both cost
flash only in proportion to a first layer's few hundred weights."""

from __future__ import annotations

import numpy as np

from tinyasc.compile import kernel_costs
from tinyasc.compile.ops.common import EmitContext, Kernel, folded_bias, folds_into_int32
from tinyasc.compile.ops.fully_connected_dsp import fast_requantization_holds

FIRST_LAYER_DEPTH = 4  # input channels up to this count
WIDENED_WEIGHTS_LIMIT = 16384  # bytes of int16 weights: beyond it the int8 im2col kernel keeps flash small


def first_window(p) -> int:
    """Bytes of one im2col column: the filter window padded to a word (tas_im2col_window)."""
    return (p.filter_height * p.filter_width * p.filter_depth + 3) // 4 * 4


def is_first_layer(p) -> bool:
    """One group over 1-4 input channels, the folded bias in int32 and weights that stay small widened."""
    paired = p.output_depth + p.output_depth % 2
    return (
        p.groups == 1 and p.input_depth <= FIRST_LAYER_DEPTH
        and 2 * paired * first_window(p) <= WIDENED_WEIGHTS_LIMIT and folds_into_int32(p)
    )


def pack_first_weights(weights: np.ndarray) -> np.ndarray:
    """OHWI int8 weights → int32 words: per pair of output channels (an odd count padded with a zero
    channel), per quad of the word-padded window c0.even, c1.even, c0.odd, c1.odd, each two int16
    halves: even = (w0, w2), odd = (w1, w3), the lanes SXTB16 gives an input word."""
    rows = np.asarray(weights, dtype=np.int8).reshape(weights.shape[0], -1).astype(np.int16)
    rows = np.pad(rows, ((0, rows.shape[0] % 2), (0, -rows.shape[1] % 4)))
    quads = rows.reshape(rows.shape[0] // 2, 2, -1, 4)  # [pair, channel, quad, byte]
    even, odd = quads[..., [0, 2]], quads[..., [1, 3]]  # [pair, channel, quad, 2]
    words = np.stack([even[:, 0], even[:, 1], odd[:, 0], odd[:, 1]], axis=2)  # [pair, quad, word, 2]
    return np.ascontiguousarray(words).astype("<i2").view("<i4").reshape(-1).astype(np.int32)


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
