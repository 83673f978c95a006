"""Shrink a fuzz finding to a minimal model and save it as a regression case.

A finding's graph is cut into windows of consecutive ops (the first op's input becomes the graph
input, the last op's output the graph output: fuzz graphs are chains, and a window that would
read a second activation is skipped). Windows are tried shortest first, each on SHRINK_INPUTS
fresh random inputs; the first that fails the same way is the minimal model. It is saved under the cases folder as `<name>.tflite`, the inputs that show it
(`<name>.inputs.npy`) and `<name>.json` (board, compile options, the finding, where it was
drawn); tests/test_fuzz_graphs.py replays every saved case.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from tinyasc.compile.fuzz.run import Finding, FuzzStats, check_batch
from tinyasc.compile.fuzz.spec import FuzzGraph, to_tflite

SHRINK_INPUTS = 32


def still_fails(graph: FuzzGraph, rng: np.random.Generator) -> Finding | None:
    """The finding this graph alone shows on SHRINK_INPUTS random inputs, or None."""
    findings = check_batch([(graph, "shrinking")], rng, FuzzStats(), inputs_per_graph=SHRINK_INPUTS)
    return findings[0] if findings else None


def shrink(finding: Finding, seed: int = 0) -> Finding:
    """The smallest window of the finding's graph that still fails (the finding itself if none)."""
    rng = np.random.default_rng(seed)
    graph = finding.graph
    windows = sorted(((first, last) for first in range(len(graph.ops)) for last in range(first, len(graph.ops))),
                     key=lambda w: (w[1] - w[0], w[0]))
    for first, last in windows:
        if (first, last) == (0, len(graph.ops) - 1):
            break
        candidate = graph.subgraph(first, last)
        if candidate is None:
            continue
        found = still_fails(candidate, rng)
        if found is not None and found.kind == finding.kind:
            found.where = f"{finding.where}, ops {first}..{last}"
            return found
    return finding


def save_case(finding: Finding, folder: Path) -> Path:
    """Write the finding as a regression case; returns the .tflite path."""
    folder.mkdir(parents=True, exist_ok=True)
    data = to_tflite(finding.graph)
    kinds = "_".join(dict.fromkeys(op.name.lower() for op in finding.graph.ops))[:60]
    name = f"{kinds}_{hashlib.sha256(data).hexdigest()[:10]}"
    path = folder / f"{name}.tflite"
    path.write_bytes(data)
    if finding.inputs is not None:
        np.save(folder / f"{name}.inputs.npy", finding.inputs[:8])
    meta = {"board": finding.graph.board, "options": finding.graph.options, "kind": finding.kind,
            "detail": finding.detail[:2000], "where": finding.where, "ops": finding.graph.describe().splitlines()}
    (folder / f"{name}.json").write_text(json.dumps(meta, indent=1) + "\n")
    return path
