"""The call of tas_fully_connected_s8_dsp and its constants: rows padded to whole words in blocks of 4
channels, the folded bias, the requantization words (5 bytes a channel; the fast form when it is exact for every input)
and the widened-input scratch (capped, so a wide layer does not grow the arena)."""

from __future__ import annotations

import numpy as np

from tinyasc.compile.ops.common import EmitContext, folded_bias
from tinyasc.compile.weight_packing import MAT_MULT_BLOCK_ONE_ROW, pack_mat_mult_weights

# Bytes of scratch for the widened input row (8 per quad of 4 inputs): 512 widens the first 256
# inputs. Past it the kernel widens on the way (2 more instructions per quad of a 4-channel block),
# so a 640-input layer stays near its own tensors' RAM.
WIDENED_SCRATCH_CAP = 512
INT32_MAX = 2**31 - 1


def padded_quads(p) -> int:
    return (p.input_depth + 3) // 4


def widened_quads(p) -> int:
    """Quads of each row the kernel widens once into scratch: all of them, or as many as the cap holds."""
    return min(padded_quads(p), WIDENED_SCRATCH_CAP // 8)


def scratch_bytes(p) -> int:
    return 8 * widened_quads(p)


def offset_in_widening(p) -> bool:
    """The layer has no bias (or a zero one) and its whole row is widened into scratch: the kernel
    then adds the input offset as it widens (SXTAB16, same instructions), Σ (x + offset)·w needs no
    input_offset·Σw term, and the stream holds no bias words (4 bytes a channel saved)."""
    no_bias = p.bias is None or not np.any(p.bias)
    return bool(no_bias and widened_quads(p) == padded_quads(p))


def pack_weight_stream(weights: np.ndarray, folded: np.ndarray | None) -> np.ndarray:
    """[out, in] int8 weights and the folded biases → the kernel's int32 stream: rows zero-padded to a
    multiple of 4; per block of 4 channels their 4 biases, then per quad the 4 channels' words
    (pack_mat_mult_weights' layout, with no tail bytes); per channel left over, its bias and its row.
    `folded` None (offset_in_widening): no bias words."""
    rows = np.asarray(weights, dtype=np.int8).reshape(weights.shape[0], -1)
    padded = np.zeros((rows.shape[0], 4 * ((rows.shape[1] + 3) // 4)), dtype=np.int8)
    padded[:, : rows.shape[1]] = rows
    block, full = MAT_MULT_BLOCK_ONE_ROW, rows.shape[0] // MAT_MULT_BLOCK_ONE_ROW * MAT_MULT_BLOCK_ONE_ROW
    biases = np.zeros((rows.shape[0], 0), np.int64) if folded is None else np.asarray(folded, np.int64).reshape(-1, 1)
    chunks = []
    for c in range(0, full, block):
        chunks += [biases[c : c + block].reshape(-1), pack_mat_mult_weights(padded[c : c + block], block)]
    for c in range(full, rows.shape[0]):
        chunks += [biases[c], padded[c].view("<i4")]
    return np.concatenate([np.asarray(chunk, dtype=np.int64) for chunk in chunks]).astype(np.int32)


def fast_requantization_holds(weights: np.ndarray, folded: np.ndarray, multipliers, shifts, output_offset: int) -> bool:
    """The kernel's fast form is exact for every int8 input: right shifts r >= 1 only, and with
    |acc| <= |folded bias| + 128·Σ|w| per channel, 2·acc fits int32 and so does SMMLAR's sum
    (|high| <= |acc|) plus the rounding and offset term 2^(r-1)·(2·output_offset + 1)."""
    shifts = np.asarray(shifts, dtype=np.int64)
    if np.any(shifts > -1) or np.any(shifts < -31) or np.any(np.asarray(multipliers) < 0):
        return False
    rows = np.asarray(weights, dtype=np.int64).reshape(weights.shape[0], -1)
    bound = np.abs(folded.astype(np.int64)) + 128 * np.abs(rows).sum(axis=1)
    add = np.abs((2 * output_offset + 1) * 2 ** (-shifts - 1))
    return bool(np.all(2 * bound <= INT32_MAX) and np.all(bound + add + 1 <= INT32_MAX))


FC_REQUANT_BLOCK_WORDS = 5  # TAS_FC_REQUANT_BLOCK_WORDS in tas_fully_connected_s8_dsp.c


def pack_fc_requantization(multipliers, shifts, fast: bool) -> tuple[np.ndarray, int]:
    """The kernel's requantization words and its step. Its second value per channel is r - 1 in the
    fast form, else TFLite's shift; both fit a byte (shifts are -31..31). Every channel the same
    (per-tensor weights): one pair (multiplier, second), step 0. Otherwise step 1: per block of 4
    channels their 4 multipliers and one word of their 4 second values (byte k for channel k), 5
    bytes a channel; then per channel left over, the pair (multiplier, second)."""
    multipliers, shifts = np.asarray(multipliers, np.int64), np.asarray(shifts, np.int64)
    second = -shifts - 1 if fast else shifts
    if np.all(multipliers == multipliers[0]) and np.all(shifts == shifts[0]):
        return np.array([multipliers[0], second[0]], dtype=np.int64).astype(np.int32), 0
    block = MAT_MULT_BLOCK_ONE_ROW
    full = multipliers.size // block * block
    words = []
    for c in range(0, full, block):
        bytes_word = sum((int(v) & 0xFF) << (8 * k) for k, v in enumerate(second[c : c + block]))
        words += [*multipliers[c : c + block], bytes_word - (1 << 32 if bytes_word >= 1 << 31 else 0)]
    for c in range(full, multipliers.size):
        words += [multipliers[c], second[c]]
    return np.array(words, dtype=np.int64).astype(np.int32), 1


def emit_fully_connected_dsp(p, kernel, ctx: EmitContext) -> str:
    folded = folded_bias(p.weights, p.bias, p.input_offset)
    with_bias = not offset_in_widening(p)
    stream = pack_weight_stream(p.weights, folded if with_bias else None)
    layout = (f"in blocks of {MAT_MULT_BLOCK_ONE_ROW} channels, each after its bias + input_offset * sum(weights)"
              if with_bias else f"in blocks of {MAT_MULT_BLOCK_ONE_ROW} channels (no bias: the input offset is "
              "added as the input is widened)")
    w = ctx.constant("filter", stream, "int32_t", f"weights {list(p.weights.shape)} int8, rows padded to a word, {layout}")
    fast = fast_requantization_holds(p.weights, folded, p.multipliers, p.shifts, p.output_offset)
    words, step = pack_fc_requantization(p.multipliers, p.shifts, fast)
    form = "right shift - 1" if fast else "shift"
    what = (f"per block of 4 channels 4 multipliers and their {form} bytes in a word, then (multiplier, {form}) "
            "per channel left over" if step else f"(multiplier, {form}) for every channel")
    q = ctx.constant("requant", words, "int32_t", f"requantization: {what}")
    quads = widened_quads(p)
    scratch = f"(int32_t *)(void *)({ctx.scratch()})" if quads else "NULL"
    return (f"{kernel.name}({ctx.params}, {ctx.input()}, {w}, {int(with_bias)}, {q}, {step}, {int(fast)}, {quads}, "
            f"{scratch}, {ctx.output()})")
