"""The call of a sparse-weight kernel (CONV_2D or FULLY_CONNECTED) and its constant arrays, in the
format of compile/sparse.py."""

from __future__ import annotations

import numpy as np

from tinyasc.compile.ops.common import EmitContext, Kernel, folded_bias
from tinyasc.compile.sparse import encode_sparse, interleaved_entries


def emit_sparse_call(p, kernel: Kernel, ctx: EmitContext) -> str:
    sparse = encode_sparse(p.weights)
    shape = list(p.weights.shape)
    nonzero = int(np.count_nonzero(p.weights))
    counts = ctx.constant("sparse_counts", sparse.counts, "uint16_t", f"weights {shape}: sparse entries per channel")
    entries = ctx.constant("sparse_entries", _non_empty(interleaved_entries(sparse), np.int8), "int8_t",
                           f"weights {shape}: (input step as uint8, weight) per entry, {nonzero} non-zero weights")
    b = ctx.constant("bias", folded_bias(p.weights, p.bias, p.input_offset), "int32_t", "bias + input_offset * sum(weights)")
    m = ctx.constant("multiplier", p.multipliers, "int32_t", "requantize multipliers")
    s = ctx.constant("shift", p.shifts, "int32_t", "requantize shifts")
    return f"{kernel.name}({ctx.params}, {ctx.input()}, {counts}, {entries}, {b}, {m}, {s}, {ctx.output()})"


def _non_empty(values: np.ndarray, dtype) -> np.ndarray:
    """C has no zero-length arrays: an all-zero layer keeps one unused entry."""
    return values if values.size else np.zeros(1, dtype=dtype)
