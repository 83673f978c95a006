"""Which C kernel runs each op: one `select_kernel` built from named predicates.

The reference kernel of every op (declared by its op module) is always correct; a faster variant
is chosen only when its predicate holds for the op's prepared parameters. Codegen asks here, and
the op's emit function reads the chosen Kernel, so the call and its constants (for example a
folded bias) cannot disagree.
"""

from __future__ import annotations

from tinyasc.compile.ir import OpKind
from tinyasc.compile.ops import REGISTRY
from tinyasc.compile.ops.common import Kernel
from tinyasc.compile.ops.conv import Conv2DParams

CONV2D_ROWS = Kernel("tas_conv2d_rows_s8", ("tas_conv2d_common.h", "tas_conv2d_rows_s8.c"), folds_input_offset=True)


def reads_contiguous_rows(p: Conv2DParams) -> bool:
    """Each output row's receptive field is one contiguous run of input bytes (a 1-D conv in
    2-D form: no padding, dilation 1, one group, a filter as wide as the input)."""
    return (
        p.pad_height == 0 and p.pad_width == 0
        and p.dilation_height == 1 and p.groups == 1
        and p.filter_width == p.input_width and p.output_width == 1
    )


# (op kind, predicate, kernel): the first whose predicate holds wins; else the reference kernel.
FAST_VARIANTS = [
    (OpKind.CONV_2D, reads_contiguous_rows, CONV2D_ROWS),
]


def select_kernel(kind: OpKind, params) -> Kernel | None:
    """The kernel for a prepared op; None for alias ops that need no code."""
    for variant_kind, applies, kernel in FAST_VARIANTS:
        if variant_kind == kind and applies(params):
            return kernel
    return REGISTRY[kind].reference
