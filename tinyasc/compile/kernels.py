"""Which C kernel runs each op: one `select_kernel` built from named predicates.

The reference kernel of every op is always correct; a faster variant is chosen only when its
predicate holds for the op's prepared parameters. Codegen asks here, so the emitted call and the
constants it needs (for example a folded bias) cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyasc.compile.ir import OpKind
from tinyasc.compile.ops import Conv2DParams


@dataclass(frozen=True)
class Kernel:
    name: str  # the C function
    files: tuple[str, ...]  # kernel sources it needs, shared headers first
    folds_input_offset: bool = False  # takes bias + input_offset·Σw instead of bias


REFERENCE = {
    OpKind.CONV_2D: Kernel("tas_conv2d_s8", ("tas_conv2d_common.h", "tas_conv2d_s8.c")),
    OpKind.MAX_POOL_2D: Kernel("tas_max_pool2d_s8", ("tas_pool2d_common.h", "tas_max_pool2d_s8.c")),
    OpKind.AVERAGE_POOL_2D: Kernel("tas_avg_pool2d_s8", ("tas_pool2d_common.h", "tas_avg_pool2d_s8.c")),
    OpKind.MEAN: Kernel("tas_mean_s8", ("tas_mean_s8.c",)),
    OpKind.FULLY_CONNECTED: Kernel("tas_fully_connected_s8", ("tas_fully_connected_s8.c",)),
}
CONV2D_ROWS = Kernel("tas_conv2d_rows_s8", ("tas_conv2d_common.h", "tas_conv2d_rows_s8.c"), folds_input_offset=True)


def reads_contiguous_rows(p: Conv2DParams) -> bool:
    """Each output row's receptive field is one contiguous run of input bytes."""
    return (
        p.pad_height == 0 and p.pad_width == 0
        and p.dilation_height == 1 and p.groups == 1
        and p.filter_width == p.input_width and p.output_width == 1
    )


def select_kernel(kind: OpKind, params) -> Kernel | None:
    """The kernel for a prepared op; None for ops that need no code (aliases)."""
    if kind == OpKind.CONV_2D and reads_contiguous_rows(params):
        return CONV2D_ROWS
    return REFERENCE.get(kind)


def folded_bias(params) -> np.ndarray:
    """bias + input_offset·Σw per output channel, in int32 as the kernel accumulates."""
    weights = params.weights.reshape(params.weights.shape[0], -1).astype(np.int64)
    bias = params.bias.astype(np.int64) if params.bias is not None else np.zeros(len(weights), np.int64)
    folded = bias + params.input_offset * weights.sum(axis=1)
    assert np.all(np.abs(folded) < 2**31), "folded bias overflows int32"
    return folded.astype(np.int32)
