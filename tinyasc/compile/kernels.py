"""Which C kernel runs each op: the cheapest of its op's kernel records that apply.

Each op's OpSpec lists its kernels (ops/common.py: Kernel): faster `variants` in order of
preference, then the `reference`, which is always correct. A variant can run when the board's ISA
has every extension it `requires` (boards.yaml `extensions`) and its `applies` predicate holds for
the op's prepared parameters. The first such variant runs, unless it has a cost model
(`Kernel.cost`, compile/kernel_costs.py: estimated instructions): then, of the runnable variants
with a cost that need the most ISA extensions, the cheapest runs (ties: the earlier). Portable
kernels compete only where no kernel for the board's extensions applies: their costs are fitted
on cores without them. A 1-D conv, for example,
may run the contiguous-rows kernel, the first-layer kernel or im2col; each costs differently per
shape. Then the compile options may swap in a sparse-weight variant (sparse.py). Codegen asks here,
and the op's emit function reads the chosen Kernel, so the call and its constants (for example a
folded bias) cannot disagree.
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


def runnable_variants(kind: OpKind, params, board=None) -> list[Kernel]:
    """The op's variants that can run it on `board`, in the OpSpec's order of preference."""
    extensions = board_extensions(board)
    return [k for k in REGISTRY[kind].variants if k.runs_on(extensions) and k.applies(params)]


def select_dense_kernel(kind: OpKind, params, board=None) -> Kernel | None:
    """The dense-weight kernel for a prepared op on `board` (None: portable kernels only); None for alias ops."""
    runnable = runnable_variants(kind, params, board)
    if not runnable:
        return REGISTRY[kind].reference
    if runnable[0].cost is None:
        return runnable[0]
    costed = [k for k in runnable if k.cost is not None]
    # Kernels for more of the board's extensions compete among themselves: a portable kernel's cost
    # is fitted on a core without them, so it runs only where none of those applies.
    widest = max(len(k.requires) for k in costed)
    return min((k for k in costed if len(k.requires) == widest), key=lambda k: k.cost(params))  # first of equals


def sparse_candidate(kind: OpKind, params, board=None) -> Kernel | None:
    """The sparse-weight kernel that could run the op: that of the first runnable variant having one
    (the dense kernel chosen by cost may have none: im2col)."""
    return next((k.sparse for k in runnable_variants(kind, params, board) if k.sparse is not None), None)


def select_kernel(kind: OpKind, params, board=None, options: CompileOptions | None = None) -> Kernel | None:
    """The kernel for a prepared op on `board`: the dense one, or a sparse-weight variant when
    `options.sparse` is "always", or "auto" and sparse.py's cost model says the zeros pay off
    against the dense kernel."""
    dense = select_dense_kernel(kind, params, board)
    mode = (options or CompileOptions()).sparse
    sparse = sparse_candidate(kind, params, board) if dense is not None and mode != "never" else None
    return choose_sparse(kind, params, dense, mode, sparse) or dense


def all_kernels() -> list[Kernel]:
    """Every kernel record, once: each op's variants, reference and their sparse variants."""
    found: dict[str, Kernel] = {}
    for spec in REGISTRY.values():
        for kernel in (*spec.variants, spec.reference):
            for k in (kernel, kernel.sparse if kernel else None, kernel.rows if kernel else None):
                if k is not None:
                    found.setdefault(k.name, k)
    return list(found.values())
