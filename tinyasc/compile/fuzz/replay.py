"""Replay a saved fuzz case through the user's path: `export` for its board and compile options
(its saved inputs as the test vectors), then the host check of `verify` (-O1, ASan + UBSan)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# A board without ISA extensions: the portable kernels a host-only fuzz graph (board None) used.
PORTABLE_BOARD = "microbit-v1"


def case_meta(path: Path) -> dict:
    return json.loads(Path(path).with_suffix(".json").read_text())


def replay_case(path: Path, out_root: Path, num_random: int = 32, board: str | None = None) -> dict:
    """verify_on_host's report for the saved case at `path` (a .tflite beside its .json and
    .inputs.npy); `board` overrides the saved one."""
    from tinyasc.compile.export import export_model
    from tinyasc.compile.options import CompileOptions
    from tinyasc.compile.verify import verify_on_host

    path = Path(path)
    meta = case_meta(path)
    inputs_path = path.with_suffix(".inputs.npy")
    inputs = np.load(inputs_path) if inputs_path.is_file() else None
    result = export_model(path, board or meta["board"] or PORTABLE_BOARD, out_root=out_root, name=path.stem,
                          test_inputs=inputs, num_test_vectors=len(inputs) if inputs is not None else 4,
                          options=CompileOptions(**meta["options"]))
    return verify_on_host(result.export_dir, num_random=num_random)
