"""The differential fuzzer on a core twin: random graphs cross-compiled for a board, DSP assembly
included, self-tested in QEMU against TFLM's outputs, bit for bit.

The host fuzzer (tinyasc/compile/fuzz) builds every kernel's plain-C twin with the host compiler, so
the inline assembly of the DSP kernels and the cross compiler's register allocation are outside
what it checks. This one draws the same graphs (same seeds), compiles them for `board`'s core as
`tinyasc export` would, and for each graph builds the firmware (arm-none-eabi-gcc, the release
flags) with TFLM's outputs on the graph's random inputs as its test vectors, and runs the
self-test in the board's QEMU twin. A graph that does not fit the board is a refusal; a firmware
that does not build, faults or mismatches is a finding, saved as a case (not shrunk: shrinking
runs on the host, where the assembly is not). With `layers=True` each graph's verification build
also compares every intermediate tensor it holds whole with TFLM's (emulate/layer_check.py), so an
error a later op hides (a ReLU, a pool, a saturating softmax) is a finding too.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/fuzz_twin.py --graphs 200 --seed 5 --board nrf52840
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from tinyasc.artifacts.export_folder import LAYER_CHECKS
from tinyasc.artifacts.manifest import write_manifest
from tinyasc.compile.codegen import render_test_vectors, write_sources
from tinyasc.compile.fuzz.oracle import tflm_batch
from tinyasc.compile.fuzz.run import Finding, FuzzStats, draw_batch, prepare_cases, refusal_reason
from tinyasc.compile.fuzz.spec import to_tflite
from tinyasc.errors import DoesNotFitError, TinyascError

TWIN_INPUTS_PER_GRAPH = 4  # embedded in flash as the self-test's vectors
TWIN_TIMEOUT_S = 120


def _firmware_folder(folder: Path, board: str, sources: dict, inputs: np.ndarray, expected: np.ndarray,
                     layer_table: dict | None = None) -> Path:
    """An export-shaped folder (src/ and a manifest naming the board) that build_firmware accepts;
    with `layer_table`, its layer_checks.json too."""
    folder.mkdir(parents=True)
    write_sources(sources, folder / "src")
    write_sources(render_test_vectors(inputs, expected), folder / "src")
    write_manifest(folder, {"name": folder.name, "board": board})
    if layer_table is not None:
        (folder / LAYER_CHECKS).write_text(json.dumps(layer_table))
    return folder


def _layer_table(case, board: str) -> dict:
    """The graph compiled again as compiled_sources compiled it, and TFLM's CRC-32 of each tensor."""
    from tinyasc.artifacts.boards import get_board
    from tinyasc.compile.codegen import compile_graph
    from tinyasc.compile.layer_checks import layer_check_table
    from tinyasc.compile.options import CompileOptions
    from tinyasc.compile.tflite_reader import parse_tflite

    model_bytes = to_tflite(case.graph)
    compiled = compile_graph(parse_tflite(model_bytes, source="fuzz.tflite"), board=get_board(board),
                             options=CompileOptions(**case.graph.options))
    return layer_check_table(compiled, model_bytes, case.inputs)


def _check_layers_on_twin(folder: Path, stats) -> str | None:
    from tinyasc.emulate.layer_check import check_layers, layer_check_line

    try:
        check = check_layers(folder, timeout_s=TWIN_TIMEOUT_S, store=False)
    except TinyascError as error:
        return f"per-layer check on the twin: {str(error)[:2000]}"
    stats.layer_tensors += check.checked
    return None if check.passed is not False else f"per-layer check on the twin: {layer_check_line(check)}"


def _run_on_twin(folder: Path, board: str, stats=None) -> str | None:
    """None when the firmware builds and its self-test passes; else what went wrong. DoesNotFitError
    (the graph is too big for the board) propagates: it is a refusal, not a finding."""
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    try:
        build_firmware(folder, board)
    except DoesNotFitError:
        raise
    except TinyascError as error:
        return f"C build on the twin: {str(error)[-2000:]}"
    try:
        result = run_firmware(folder, timeout_s=TWIN_TIMEOUT_S)
    except TinyascError as error:
        return f"QEMU: {str(error)[:2000]}"
    if not result.passed:
        return f"self-test on the twin: {result.failure}"
    return _check_layers_on_twin(folder, stats) if stats is not None and (folder / LAYER_CHECKS).is_file() else None


def check_batch_on_twin(graphs, rng: np.random.Generator, stats: FuzzStats, board: str,
                        inputs_per_graph: int = TWIN_INPUTS_PER_GRAPH, layers: bool = False) -> list[Finding]:
    """Graphs (graph, where it was drawn), compiled for `board` whatever board they were drawn for;
    counted in stats; returns the new findings (also in stats.findings). `layers`: check every
    intermediate tensor too (a second, verification build per graph)."""
    before = len(stats.findings)
    stats.graphs += len(graphs)
    graphs = [(dataclasses.replace(graph, board=board), where) for graph, where in graphs]
    with tempfile.TemporaryDirectory(prefix="tinyasc-fuzz-twin-") as work:
        folder = Path(work)
        cases = prepare_cases(graphs, rng, stats, folder, inputs_per_graph)
        expected = tflm_batch(folder, [case.position for case in cases])
        for case in cases:
            wanted = expected[case.position]
            if isinstance(wanted, str):
                stats.tflm_refused[refusal_reason(Exception(wanted))] += 1
                continue
            try:
                table = _layer_table(case, board) if layers else None
            except TinyascError as error:  # TFLM with every tensor kept refused what it ran before
                stats.tflm_refused[refusal_reason(error)] += 1
                continue
            try:
                problem = _run_on_twin(_firmware_folder(folder / f"twin{case.position}", board, case.sources,
                                                        case.inputs, wanted, table), board, stats)
            except DoesNotFitError as error:
                stats.refused[refusal_reason(error)] += 1
                continue
            stats.compared += 1
            stats.inputs_compared += len(case.inputs)
            stats.ops.update(op.name for op in case.graph.ops)
            if problem:
                kind = "C build" if problem.startswith("C build") else "mismatch"
                stats.findings.append(Finding(case.graph, kind, problem, case.inputs, f"{case.where} on {board}"))
    return stats.findings[before:]


def fuzz_on_twin(count: int, seed: int, board: str, first: int = 0, batch_size: int = 20,
                 on_batch=None, layers: bool = False) -> FuzzStats:
    """Graphs first..first+count-1 of `seed` on `board`'s twin; `on_batch(stats, findings)` after each batch."""
    from tinyasc.artifacts.boards import get_board

    get_board(board)  # an unknown board is one clear error, not every graph refused
    stats = FuzzStats()
    start = time.monotonic()
    rng = np.random.default_rng([seed, 1 << 31])
    for batch_first in range(first, first + count, batch_size):
        size = min(batch_size, first + count - batch_first)
        findings = check_batch_on_twin(draw_batch(seed, batch_first, size), rng, stats, board, layers=layers)
        stats.seconds = time.monotonic() - start
        if on_batch is not None:
            on_batch(stats, findings)
    return stats
