"""How to compile a graph: the user's choices (the CLI's flags), validated once.

They travel as one argument, export → compile_graph → kernel selection, the planner and the op
modules that read them (OpSpec.with_options); they never change the IR.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyasc.errors import TinyascError

PLANNERS = ("greedy", "linear")  # plan.py
SPARSE_MODES = ("auto", "never", "always")  # sparse.py
WS_KERNELS = ("auto", "integral", "direct")  # ops/ws_conv.py
ROW_CHAIN_MODES = ("auto", "never", "always")  # rowchain.py
PATCH_MODES = ("auto", "never", "always")  # patches.py
ROW_STREAM_MODES = ("auto", "always")  # rowstream.py, memory_choice.py (fuse=False: none)


@dataclass(frozen=True)
class CompileOptions:
    planner: str = "greedy"  # the arena planner: greedy (TFLM's algorithm) or linear (the baseline)
    sparse: str = "auto"  # sparse-weight kernels: where they pay off (auto), never, or wherever they apply
    ws_kernel: str = "auto"  # WS_CONV: the cheaper kernel by the fitted instruction model (auto), integral or direct
    fuse: bool = True  # run a conv and the max-pool reading it block by block (fusion.py)
    row_chains: str = "auto"  # convs and ADDs row by row (rowchain.py): where the arena shrinks, never or always
    patches: str = "auto"  # the first stages patch by patch (patches.py): where the arena shrinks, never or always
    row_streams: str = "auto"  # depthwise (+ 1×1) row by row (rowstream.py): where the arena needs it, or every one

    def __post_init__(self):
        if self.planner not in PLANNERS:
            raise TinyascError(f"unknown memory planner {self.planner!r}; use one of: {', '.join(PLANNERS)}")
        if self.sparse not in SPARSE_MODES:
            raise TinyascError(f"unknown sparse mode {self.sparse!r}; use one of: {', '.join(SPARSE_MODES)}")
        if self.ws_kernel not in WS_KERNELS:
            raise TinyascError(f"unknown WS_CONV kernel {self.ws_kernel!r}; choose one of {', '.join(WS_KERNELS)}")
        if self.row_chains not in ROW_CHAIN_MODES:
            raise TinyascError(f"unknown row chain mode {self.row_chains!r}; use one of: {', '.join(ROW_CHAIN_MODES)}")
        if self.row_streams not in ROW_STREAM_MODES:
            raise TinyascError(f"unknown row stream mode {self.row_streams!r}; use one of: {', '.join(ROW_STREAM_MODES)}")
        if self.patches not in PATCH_MODES:
            raise TinyascError(f"unknown patch mode {self.patches!r}; use one of: {', '.join(PATCH_MODES)}")
