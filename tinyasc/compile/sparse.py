"""Sparse weights in the generated C: pruned layers store only their non-zero weights and skip the zeros.

TFLite stores pruned weights dense, so a pruned model is as big and as slow as the unpruned one under
TFLM. tinyasc writes its own C, so a CONV_2D (the contiguous-window cases: 1-D convolutions in 2-D
form and 1x1 convolutions) or FULLY_CONNECTED layer may store its weights in a sparse format and
run a kernel that does one multiply-accumulate per non-zero weight:

    encode_sparse(weights)           per output channel: entry count (uint16), then per entry a
                                     one-byte forward step within the window and the int8 weight
                                     (gaps over 255 bytes take extra entries of weight 0); the C
                                     reads them interleaved (interleaved_entries)
    estimate(kind, params, dense)    the cost model: estimated instructions per inference and bytes of
                                     weights, the dense kernel `dense` vs the sparse kernel
    choose_sparse(kind, params, dense, mode, sparse)   the sparse kernel `sparse` (default: the
                                     dense kernel's Kernel.sparse) when mode is "always", or "auto"
                                     and the cost model says it pays off against `dense` (>= 5 %
                                     fewer instructions and <= 10 % more flash, or half the
                                     instructions), else None

The sparse kernels' records live with their ops (ops/conv.py, ops/fully_connected.py) and their
call is written by ops/sparse_call.py: this module imports no op.

The instruction constants are measured in QEMU on the anchor model (benchmarks/sparsity.py):
they rank dense against sparse; the real counts come from `tinyasc emulate --profile`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyasc.compile.ir import OpKind
from tinyasc.compile.weight_packing import pack_rows_dsp_weights
from tinyasc.errors import TinyascError

MAX_STEP = 255  # one byte per step
MAX_ENTRIES_PER_CHANNEL = 2**16 - 1  # uint16 counts

# Estimated instructions, fitted to per-layer QEMU counts (-icount, `tinyasc emulate --profile`) of
# the anchor model on the Cortex-M4 and M3 twins at 0-75 % sparsity (benchmarks/sparsity.py): a cost
# per MAC (dense) or per entry and output row (sparse), plus a cost per output value
# (requantization, channel loop). They only rank dense against sparse; the real counts come from QEMU.
# A dense kernel with a cost model (Kernel.cost: the conv kernels, compile/kernel_costs.py) is
# estimated by it; these cover the others.
DENSE_CONV = (4.21, 68.0)  # tas_conv2d_s8-like byte loop (fitted on the Cortex-M3 twin before tas_mat_mult_s8.h)
DENSE_FULLY_CONNECTED = (6.9, 0.0)  # tas_fully_connected_s8 (adds the input offset per MAC)
# tas_mat_mult_dsp.h kernels (Cortex-M4 twin, `benchmarks/matmul_layers.py`): 2 channels x 2 rows
# per pass (1x1 convs), 4 channels x 1 row (fully connected)
DENSE_MAT_MULT_DSP_PAIRS = (1.1, 40.0)  # tas_conv2d_1x1_s8_dsp
DENSE_MAT_MULT_DSP_ONE_ROW = (1.15, 17.0)  # tas_fully_connected_s8_dsp (input rows widened once; ~1.26 past 256 inputs)
DENSE_FULLY_CONNECTED_BLOCKED = (2.75, 46.0)  # tas_fully_connected_blocked_s8 (portable; Cortex-M3 twin)
# The sparse kernel decodes each entry once per group of 8, 4, 2 or 1 rows. A conv fused with its max
# pool (compile/fusion.py) runs blocks of pool-height rows (4 on the anchor): the conv estimate uses
# that 4-row cost (3.5 per entry and row, 38 per output) for every conv, so the choice does not
# depend on the row count and the whole layer and its fused block get the same kernel (fusion needs
# that). Unfused convs run faster (8-row groups: 2.75 and 32): the estimate is conservative there.
SPARSE_CONV_PER_ENTRY = 3.5
SPARSE_CONV_PER_OUTPUT = 38.0
SPARSE_FULLY_CONNECTED_PER_ENTRY = 8.0  # one batch row: no row shares the decoding
SPARSE_FULLY_CONNECTED_PER_OUTPUT = 52.0
# The sparse kernel is inlined per layer (its row step becomes an immediate offset): each sparse
# layer adds about this much code (measured: Cortex-M3/M4, GCC 12 -O2, anchor model).
SPARSE_CODE_BYTES = 900
# "Pays off": at least 5 % fewer estimated instructions (the estimates land within a few % of QEMU
# per layer) and at most 10 % more flash for the layer (weights + its inlined kernel code), or, when
# the layer's instructions at least halve (portable cores), whatever the flash.
MIN_INSTRUCTION_GAIN = 0.05
MAX_BYTES_GROWTH = 0.10


@dataclass(frozen=True)
class SparseWeights:
    counts: np.ndarray  # uint16 [output channels]: entries per channel
    steps: np.ndarray  # uint8 [entries]: forward step of the input pointer before each weight
    values: np.ndarray  # int8 [entries]

    @property
    def nbytes(self) -> int:
        return self.counts.nbytes + self.steps.nbytes + self.values.nbytes


def encode_sparse(weights: np.ndarray) -> SparseWeights:
    """[output channels, ...] int8 weights → the sparse format of tas_sparse_common.h (each channel's
    window flattened in memory order)."""
    windows = np.asarray(weights, dtype=np.int8).reshape(weights.shape[0], -1)
    counts, steps, values = [], [], []
    for window in windows:
        position, entries = 0, 0
        for offset in np.flatnonzero(window):
            gap = int(offset) - position
            while gap > MAX_STEP:  # a zero weight carries the pointer across a long gap
                steps.append(MAX_STEP)
                values.append(0)
                gap -= MAX_STEP
                entries += 1
            steps.append(gap)
            values.append(int(window[offset]))
            position = int(offset)
            entries += 1
        counts.append(entries)
    if max(counts, default=0) > MAX_ENTRIES_PER_CHANNEL:
        raise TinyascError(f"a channel needs {max(counts):,} sparse entries, more than {MAX_ENTRIES_PER_CHANNEL:,}")
    return SparseWeights(
        counts=np.array(counts, dtype=np.uint16),
        steps=np.array(steps, dtype=np.uint8),
        values=np.array(values, dtype=np.int8),
    )


def decode_sparse(sparse: SparseWeights, window: int) -> np.ndarray:
    """The dense [output channels, window] weights back (tests check the round trip)."""
    dense = np.zeros((len(sparse.counts), window), dtype=np.int8)
    entry = 0
    for channel, count in enumerate(sparse.counts):
        position = 0
        for _ in range(int(count)):
            position += int(sparse.steps[entry])
            dense[channel, position] += sparse.values[entry]
            entry += 1
    return dense


def entries_needed(weights: np.ndarray) -> int:
    """Entries encode_sparse would write, without building them."""
    windows = np.asarray(weights).reshape(weights.shape[0], -1)
    total = 0
    for window in windows:
        offsets = np.flatnonzero(window)
        if offsets.size:
            gaps = np.diff(np.concatenate([[0], offsets]))
            total += offsets.size + int(np.sum(np.maximum(gaps - 1, 0) // MAX_STEP))
    return total


def _window(params) -> int:
    return int(np.prod(params.weights.shape[1:]))


def _rows(kind: OpKind, params) -> int:
    return params.output_height * params.output_width if kind == OpKind.CONV_2D else params.batches


# ---- the cost model ----


@dataclass(frozen=True)
class SparseEstimate:
    weights: int  # all weights, zeros included
    nonzero_weights: int
    entries: int  # non-zero weights + zero-weight entries that cross long gaps
    dense_bytes: int  # weight bytes of the dense kernel's layout (bias and requantization excluded: both keep them)
    sparse_bytes: int
    dense_instructions: int
    sparse_instructions: int

    @property
    def sparsity(self) -> float:
        return 1 - self.nonzero_weights / self.weights if self.weights else 0.0

    @property
    def pays_off(self) -> bool:
        if self.sparse_instructions > (1 - MIN_INSTRUCTION_GAIN) * self.dense_instructions:
            return False
        halves = self.sparse_instructions <= 0.5 * self.dense_instructions
        return halves or self.sparse_bytes + SPARSE_CODE_BYTES <= (1 + MAX_BYTES_GROWTH) * self.dense_bytes


def _dense_weight_bytes(kind: OpKind, params, dense) -> int:
    if dense.weight_layout == "dsp_pairs":
        return pack_rows_dsp_weights(params.weights).nbytes
    padded = (_window(params) + 3) // 4 * 4  # per channel the window padded to a word
    if dense.weight_layout == "first_pairs":  # widened to int16, an odd channel count padded
        return 2 * (params.output_depth + params.output_depth % 2) * padded
    if dense.weight_layout == "im2col_blocks":
        return params.output_depth * padded
    if dense.weight_layout == "mat_mult_blocks":
        return params.weights.size + 4 * params.output_depth  # int8, a word of padding at most per channel
    return params.weights.size


def _dense_instructions(kind: OpKind, params, dense) -> float:
    if dense.cost is not None:
        return dense.cost(params)
    if dense.weight_layout == "mat_mult_blocks" and "dsp" not in dense.requires:
        per_mac, per_output = DENSE_FULLY_CONNECTED_BLOCKED
    elif dense.weight_layout == "mat_mult_blocks":
        per_mac, per_output = DENSE_MAT_MULT_DSP_PAIRS if _rows(kind, params) > 1 else DENSE_MAT_MULT_DSP_ONE_ROW
    elif kind == OpKind.FULLY_CONNECTED:
        per_mac, per_output = DENSE_FULLY_CONNECTED
    else:
        per_mac, per_output = DENSE_CONV
    return params.macs * per_mac + _rows(kind, params) * params.output_depth * per_output


def _sparse_instructions(kind: OpKind, params, entries: int) -> float:
    if kind == OpKind.FULLY_CONNECTED:
        per_entry, per_output = SPARSE_FULLY_CONNECTED_PER_ENTRY, SPARSE_FULLY_CONNECTED_PER_OUTPUT
    else:
        per_entry, per_output = SPARSE_CONV_PER_ENTRY, SPARSE_CONV_PER_OUTPUT
    rows = _rows(kind, params)
    return rows * (entries * per_entry + params.output_depth * per_output)


def estimate(kind: OpKind, params, dense) -> SparseEstimate:
    """Dense (`dense`: the kernel select_kernel would run) against sparse, for one prepared op."""
    entries = entries_needed(params.weights)
    return SparseEstimate(
        weights=int(params.weights.size),
        nonzero_weights=int(np.count_nonzero(params.weights)),
        entries=entries,
        dense_bytes=_dense_weight_bytes(kind, params, dense),
        sparse_bytes=2 * params.output_depth + 2 * entries,
        dense_instructions=round(_dense_instructions(kind, params, dense)),
        sparse_instructions=round(_sparse_instructions(kind, params, entries)),
    )


def choose_sparse(kind: OpKind, params, dense, mode: str = "auto", sparse=None):
    """The sparse kernel `sparse` (default: `dense`'s sparse variant) when `mode` asks for it
    ("always") or it pays off against `dense` ("auto"), else None. `dense` is the Kernel
    select_dense_kernel chose (or None: an alias op)."""
    if mode == "never" or dense is None:
        return None
    kernel = sparse or dense.sparse
    # An empty window has nothing to skip; a huge one could overflow a channel's uint16 entry count.
    if kernel is None or not 0 < _window(params) <= MAX_ENTRIES_PER_CHANNEL * MAX_STEP // (MAX_STEP + 1):
        return None
    if np.any(np.asarray(params.multipliers) < 0):  # the kernel's requantization assumes multipliers >= 0
        return None
    if not _bias_folds(params):  # the sparse kernels take bias + input_offset·Σw in int32
        return None
    if mode == "always":
        return kernel
    return kernel if estimate(kind, params, dense).pays_off else None


def _bias_folds(params) -> bool:
    sums = params.weights.reshape(params.weights.shape[0], -1).astype(np.int64).sum(axis=1)
    bias = params.bias.astype(np.int64) if params.bias is not None else 0
    return bool(np.all(np.abs(bias + params.input_offset * sums) < 2**31))


def layer_report(kind: OpKind, params, kernel, dense, sparse=None) -> dict:
    """Per-layer fields of the export manifest: format, non-zero weights, bytes and estimated
    instructions saved against the dense kernel (negative when sparse costs more). `kernel` runs
    the layer; `dense` is the dense kernel it would run otherwise; `sparse` the sparse kernel it
    could run (default: `dense`'s)."""
    if kernel is None or dense is None or (sparse or dense.sparse) is None:
        return {}
    e = estimate(kind, params, dense)
    is_sparse = kernel.weight_layout == "sparse"
    return {
        "weight_format": "sparse" if is_sparse else "dense",
        "nonzero_weights": e.nonzero_weights,
        "sparsity": round(e.sparsity, 4),
        "sparse_bytes_saved": e.dense_bytes - e.sparse_bytes if is_sparse else 0,
        "sparse_instructions_saved_estimate": e.dense_instructions - e.sparse_instructions if is_sparse else 0,
    }


# ---- the C arrays ----


def interleaved_entries(sparse: SparseWeights) -> np.ndarray:
    """The kernel's one entry array: per entry its step (the uint8's bits as int8) then its weight."""
    pairs = np.stack([sparse.steps.view(np.int8), sparse.values], axis=1)
    return pairs.reshape(-1)
