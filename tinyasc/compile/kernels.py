"""Which C kernel runs each op: the first of its op's kernel records that applies.

Each op's OpSpec lists its kernels (ops/common.py: Kernel): faster `variants` in order of
preference, then the `reference`, which is always correct. A variant runs when the board's ISA
has every extension it `requires` (boards.yaml `extensions`) and its `applies` predicate holds for
the op's prepared parameters; then the compile options may swap in its sparse-weight variant
(sparse.py). Codegen asks here, and the op's emit function reads the chosen Kernel, so the call
and its constants (for example a folded bias) cannot disagree.
"""

from __future__ import annotations

from tinyasc.compile.ir import OpKind
from tinyasc.compile.ops import REGISTRY
from tinyasc.compile.ops.common import Kernel
from tinyasc.compile.options import CompileOptions
from tinyasc.compile.sparse import choose_sparse

NO_EXTENSIONS: frozenset[str] = frozenset()


def board_extensions(board) -> frozenset[str]:
    """The ISA extensions of the board's core; no board (a host-only compile) has none."""
    return board.extensions if board is not None else NO_EXTENSIONS


def select_dense_kernel(kind: OpKind, params, board=None) -> Kernel | None:
    """The dense-weight kernel for a prepared op on `board` (None: portable kernels only); None for alias ops."""
    spec = REGISTRY[kind]
    extensions = board_extensions(board)
    for kernel in spec.variants:
        if kernel.runs_on(extensions) and kernel.applies(params):
            return kernel
    return spec.reference


def select_kernel(kind: OpKind, params, board=None, options: CompileOptions | None = None) -> Kernel | None:
    """The kernel for a prepared op on `board`: the dense one, or its sparse-weight variant when
    `options.sparse` is "always", or "auto" and sparse.py's cost model says the zeros pay off."""
    dense = select_dense_kernel(kind, params, board)
    return choose_sparse(kind, params, dense, (options or CompileOptions()).sparse) or dense


def all_kernels() -> list[Kernel]:
    """Every kernel record, once: each op's variants, reference and their sparse variants."""
    found: dict[str, Kernel] = {}
    for spec in REGISTRY.values():
        for kernel in (*spec.variants, spec.reference):
            for k in (kernel, kernel.sparse if kernel else None, kernel.rows if kernel else None):
                if k is not None:
                    found.setdefault(k.name, k)
    return list(found.values())
