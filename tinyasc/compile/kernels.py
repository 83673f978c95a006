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
from tinyasc.compile.ops.pool import Pool2DParams
from tinyasc.compile.ops import ws_conv
from tinyasc.compile.ops.quantize import QUANTIZE_F32_KERNEL, is_float_input

CONV2D_ROWS = Kernel("tas_conv2d_rows_s8", ("tas_conv2d_common.h", "tas_conv2d_rows_s8.c"), folds_input_offset=True)
CONV2D_ROWS_DSP = Kernel(
    "tas_conv2d_rows_s8_dsp", ("tas_dsp.h", "tas_conv2d_common.h", "tas_conv2d_rows_s8_dsp.c"),
    folds_input_offset=True, weight_layout="dsp_pairs",
)
MAX_POOL2D_DSP = Kernel("tas_max_pool2d_s8_dsp", ("tas_dsp.h", "tas_pool2d_common.h", "tas_max_pool2d_s8_dsp.c"))

def has_dsp_extension(board) -> bool:
    """The board's core executes the DSP instructions (boards.yaml `extensions`); no board (a
    host-only compile) means no."""
    return board is not None and "dsp" in board.extensions


def any_board(board) -> bool:
    """Portable C: runs on every core and on the host."""
    return True


def reads_contiguous_rows(p: Conv2DParams) -> bool:
    """Each output row's receptive field is one contiguous run of input bytes (a 1-D conv in
    2-D form: no padding, dilation 1, one group, a filter as wide as the input)."""
    return (
        p.pad_height == 0 and p.pad_width == 0
        and p.dilation_height == 1 and p.groups == 1
        and p.filter_width == p.input_width and p.output_width == 1
    )


def windows_inside_image(p: Pool2DParams) -> bool:
    """No padding and every pooling window lies wholly inside the input: no clipping needed."""
    return (
        p.pad_height == 0 and p.pad_width == 0
        and (p.output_height - 1) * p.stride_height + p.filter_height <= p.input_height
        and (p.output_width - 1) * p.stride_width + p.filter_width <= p.input_width
    )


# (op kind, board predicate, op predicate, kernel): the first whose predicates both hold wins;
# else the reference kernel.
FAST_VARIANTS = [
    (OpKind.CONV_2D, has_dsp_extension, reads_contiguous_rows, CONV2D_ROWS_DSP),
    (OpKind.CONV_2D, any_board, reads_contiguous_rows, CONV2D_ROWS),
    (OpKind.MAX_POOL_2D, has_dsp_extension, windows_inside_image, MAX_POOL2D_DSP),
    (OpKind.WS_CONV, any_board, ws_conv.uses_direct, ws_conv.DIRECT),  # else the integral image
    # Not faster: QUANTIZE of a float32 graph input runs the float boundary kernel, not the int8 table.
    (OpKind.QUANTIZE, any_board, is_float_input, QUANTIZE_F32_KERNEL),
]


def select_dense_kernel(kind: OpKind, params, board=None) -> Kernel | None:
    """The dense-weight kernel for a prepared op on `board` (None: portable kernels only); None for alias ops."""
    for variant_kind, board_allows, applies, kernel in FAST_VARIANTS:
        if variant_kind == kind and board_allows(board) and applies(params):
            return kernel
    return REGISTRY[kind].reference


def select_kernel(kind: OpKind, params, board=None, sparse: str = "auto") -> Kernel | None:
    """The kernel for a prepared op on `board`; a sparse-weight kernel (tinyasc/compile/sparse.py)
    when `sparse` is "always" or "auto" and its cost model says the layer's zeros pay off."""
    from tinyasc.compile.sparse import choose_sparse

    dense = select_dense_kernel(kind, params, board)
    return choose_sparse(kind, params, dense, sparse) or dense
