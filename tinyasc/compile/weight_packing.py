"""Weight layouts the DSP kernels read: int8 weights packed as int16 pairs for SMLAD (the rows
conv) and for SMLABB/SMLATT (depthwise convs, channels in lanes), or kept int8 in channel blocks and
widened on the fly (the fully connected and 1x1 kernels).

Kept apart from the op modules so the sparse cost model (sparse.py), which compares a layer's
dense bytes against its sparse bytes, can size the packed layout without importing an op.
"""

from __future__ import annotations

import numpy as np

DSP_CHANNEL_BLOCK = 4  # TAS_DSP_CHANNEL_BLOCK in tas_conv2d_rows_s8_dsp.c


def _halfword_pairs(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """int32 words holding two int16 values: `low` in bits 0-15, `high` in bits 16-31."""
    words = (low.astype(np.int64) & 0xFFFF) | (high.astype(np.int64) << 16)
    return words.astype(np.int32)


def _pack_block(windows: np.ndarray) -> np.ndarray:
    """One block of B channels' windows [B, K] as the int32 words tas_conv2d_rows_s8_dsp reads:
    per group of 4 taps, per channel the words (w0 | w2 << 16), (w1 | w3 << 16) (matching the
    halfwords SXTB16 makes of an input word), then the K % 4 tail taps, per tap all B channels,
    one sign-extended weight per word."""
    channels, window = windows.shape
    quads = window // 4
    body = windows[:, : quads * 4].reshape(channels, quads, 4)
    pairs = np.stack([_halfword_pairs(body[..., 0], body[..., 2]), _halfword_pairs(body[..., 1], body[..., 3])], axis=-1)
    tail = windows[:, quads * 4 :].T  # [tail taps, B]
    return np.concatenate([pairs.transpose(1, 0, 2).reshape(-1), tail.reshape(-1).astype(np.int32)])


def pack_rows_dsp_weights(weights: np.ndarray, block: int = DSP_CHANNEL_BLOCK) -> np.ndarray:
    """OHWI int8 weights → int32 words, in blocks of `block` channels then one channel at a time."""
    windows = weights.reshape(weights.shape[0], -1).astype(np.int32)
    full = windows.shape[0] // block * block
    blocks = [_pack_block(windows[c : c + block]) for c in range(0, full, block)]
    blocks += [_pack_block(windows[c : c + 1]) for c in range(full, windows.shape[0])]
    return np.concatenate(blocks).astype(np.int32)


DEPTHWISE_CHANNEL_BLOCK = 4  # TAS_DEPTHWISE_DSP_BLOCK in tas_depthwise_conv2d_s8_dsp.c


def pack_depthwise_dsp_weights(weights: np.ndarray, block: int = DEPTHWISE_CHANNEL_BLOCK) -> np.ndarray:
    """Depthwise weights [C, H, W, 1] (a channel's taps, row-major) → the int32 words
    tas_depthwise_conv2d_s8_dsp reads, each weight doubled (2·w fits the int16 lane, and the kernel's
    output stage wants doubled sums: pack_depthwise_dsp_requantization): per block of 4 channels,
    per tap, (2w[c,t] | 2w[c+2,t] << 16) and (2w[c+1,t] | 2w[c+3,t] << 16), the lanes SXTAB16 makes
    of an input word holding channels c..c+3; then the C % 4 tail channels, per channel all its
    taps, one sign-extended doubled weight per word."""
    taps = 2 * weights.reshape(weights.shape[0], -1).astype(np.int32)  # [C, taps]
    full = taps.shape[0] // block * block
    blocks = [
        np.stack([_halfword_pairs(taps[c], taps[c + 2]), _halfword_pairs(taps[c + 1], taps[c + 3])], axis=-1).reshape(-1)
        for c in range(0, full, block)
    ]
    return np.concatenate(blocks + [taps[full:].reshape(-1)]).astype(np.int32)


INT32_MAX = 2**31 - 1


def depthwise_sum_bounds(weights: np.ndarray, bias: np.ndarray | None, input_offset: int) -> np.ndarray:
    """Per channel the largest |bias + Σ (x + input_offset)·w| over int8 inputs and any part of
    the window (the padded edges sum fewer taps)."""
    rows = np.abs(weights.reshape(weights.shape[0], -1).astype(np.int64)).sum(axis=1)
    widest = max(abs(-128 + input_offset), abs(127 + input_offset))
    return (np.abs(bias.astype(np.int64)) if bias is not None else 0) + widest * rows


def depthwise_doubled_sums_fit(weights: np.ndarray, bias: np.ndarray | None, input_offset: int) -> bool:
    """Whether twice every sum fits int32, as the DSP kernel's doubled weights need."""
    return bool(np.all(2 * depthwise_sum_bounds(weights, bias, input_offset) <= INT32_MAX))


DEPTHWISE_DSP_REQUANT_WORDS = 3  # TAS_DEPTHWISE_DSP_REQUANT_WORDS in tas_depthwise_s8_dsp.h


def pack_depthwise_dsp_requantization(weights: np.ndarray, bias: np.ndarray | None, input_offset: int,
                                      multipliers, shifts, output_offset: int) -> np.ndarray:
    """The DSP depthwise kernel's table, for sums doubled (depthwise_doubled_sums_fit): per channel
    3 words, (multiplier, r, 2^(r-1)·(2·output_offset + 1)) when the right shift r is 1..31 and the
    SMMLAR form is exact (tas_depthwise_s8_dsp.h: its sum of the high word, |high| <= |sum|, and
    the rounding term fits int32), else (multiplier, -1, shift); then 1 if every channel has the
    first form, else 0."""
    bounds = depthwise_sum_bounds(weights, bias, input_offset)
    words = []
    for multiplier, shift, bound in zip(np.asarray(multipliers, np.int64), np.asarray(shifts, np.int64), bounds):
        right = -int(shift)
        add = 2 ** (right - 1) * (2 * output_offset + 1) if right >= 1 else 0
        if 1 <= right <= 31 and int(bound) + abs(add) + 1 <= INT32_MAX:
            words.append((int(multiplier), right, add))
        else:
            words.append((int(multiplier), -1, int(shift)))
    all_fast = all(w[1] >= 0 for w in words)
    flat = np.array([v for w in words for v in w] + [int(all_fast)], dtype=np.int64)
    return flat.astype(np.int32)


FOLDED_RIGHT_SHIFT_LIMIT = 22  # tas_depthwise_common.h: larger shifts would overflow the 64-bit sum


def pack_depthwise_requantization(multipliers: np.ndarray, shifts: np.ndarray, output_offset: int) -> np.ndarray:
    """Per channel the 6 int32 words of the depthwise kernels' requantization table
    (tas_depthwise_common.h): for a right shift 1 <= r <= 22 (shift = -r), the multiplier, r - 1
    and the 64-bit nudges 2^30 + 2^(30 + r) + output_offset·2^(31 + r) (sums >= 0) and that less
    2^31 (sums < 0), each as its low and high words; for other shifts, the multiplier, -1, the
    shift and zeros."""
    rows = []
    for multiplier, shift in zip(np.asarray(multipliers, np.int64), np.asarray(shifts, np.int64)):
        right = -int(shift)
        if 1 <= right <= FOLDED_RIGHT_SHIFT_LIMIT:
            positive = 2**30 + 2 ** (30 + right) + output_offset * 2 ** (31 + right)
            negative = positive - 2**31
            rows.append((int(multiplier), right - 1, positive & 0xFFFFFFFF, positive >> 32,
                         negative & 0xFFFFFFFF, negative >> 32))
        else:
            rows.append((int(multiplier), -1, int(shift), 0, 0, 0))
    words = np.array(rows, dtype=np.int64) & 0xFFFFFFFF  # high words of negative nudges: two's complement
    return words.astype(np.uint32).view(np.int32).reshape(-1, 6)


# tas_mat_mult_dsp.h: TAS_MAT_MULT_BLOCK_ONE_ROW (fully connected), TAS_MAT_MULT_BLOCK_TWO_ROWS (1x1 conv)
MAT_MULT_BLOCK_ONE_ROW = 4
MAT_MULT_BLOCK_TWO_ROWS = 2
# tas_mat_mult_s8.h: TAS_MAT_MULT_S8_BLOCK (the portable rows and im2col convolutions)
MAT_MULT_BLOCK_PORTABLE = 4


def _padded_to_word(values: np.ndarray) -> np.ndarray:
    return np.concatenate([values, np.zeros(-values.size % 4, dtype=np.int8)])


def pack_mat_mult_weights(weights: np.ndarray, block: int) -> np.ndarray:
    """[out, ...] int8 weights → the int32 words tas_mat_mult_dsp.h reads, still one byte per weight:
    per block of `block` channels, per group of 4 inputs the block's words (4 bytes of one channel
    each, in memory order: SXTB16 widens input and weight words alike), then each channel's depth % 4
    tail bytes; the channels left over follow one at a time, each padded to a whole word."""
    rows = np.asarray(weights, dtype=np.int8).reshape(weights.shape[0], -1)
    quads = rows.shape[1] // 4
    full = rows.shape[0] // block * block
    chunks = []
    for c in range(0, full, block):
        body = rows[c : c + block, : 4 * quads].reshape(block, quads, 4).transpose(1, 0, 2)
        chunks.append(_padded_to_word(np.concatenate([body.reshape(-1), rows[c : c + block, 4 * quads :].reshape(-1)])))
    chunks += [_padded_to_word(rows[c]) for c in range(full, rows.shape[0])]
    return np.concatenate(chunks).view("<i4").astype(np.int32)


def pack_im2col_weights(weights: np.ndarray, groups: int, block: int = MAT_MULT_BLOCK_TWO_ROWS) -> np.ndarray:
    """OHWI int8 weights → the int32 words tas_conv2d_im2col_s8[_dsp] reads: per group, its output
    channels' windows (filter_height·filter_width·filter_depth bytes, zero-padded to a word, as
    tas_im2col.h pads the columns) packed by pack_mat_mult_weights in blocks of `block` channels
    (2 for the DSP kernel, MAT_MULT_BLOCK_PORTABLE for the portable one)."""
    rows = np.asarray(weights, dtype=np.int8).reshape(weights.shape[0], -1)
    padded = np.concatenate([rows, np.zeros((rows.shape[0], -rows.shape[1] % 4), dtype=np.int8)], axis=1)
    per_group = rows.shape[0] // groups
    return np.concatenate([pack_mat_mult_weights(padded[g * per_group : (g + 1) * per_group], block)
                           for g in range(groups)])
