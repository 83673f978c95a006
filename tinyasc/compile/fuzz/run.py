"""The differential fuzzer: random graphs through tinyasc's host build and TFLM, bit for bit.

Graph `i` of seed `s` is drawn from its own generator (seed [s, i]), so any one graph can be drawn
again alone. A batch of graphs goes through the compiler (a TinyascError is an honest refusal,
counted by reason; any other exception is a finding), TFLM in a child process (a refusal or crash
there is counted, not compared), and one host executable built with sanitizers. A finding (outputs
that differ, a C build error, a sanitizer report, a compiler exception) is shrunk (shrink.py) and
saved as a regression case.
"""

from __future__ import annotations

import collections
import functools
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyasc.compile.fuzz.batch import build_merged, run_batch
from tinyasc.compile.fuzz.draw import draw_graph
from tinyasc.compile.fuzz.oracle import case_paths, tflm_batch
from tinyasc.compile.fuzz.spec import FuzzGraph, to_tflite
from tinyasc.errors import TinyascError

FUZZ_BOARDS = ("microbit-v1", "cortex-m3", "nrf52840", "cortex-m7", "corstone-300")
INPUTS_PER_GRAPH = 8


@dataclass
class Finding:
    graph: FuzzGraph
    kind: str  # "mismatch", "C build", "sanitizer or crash", "compiler exception"
    detail: str
    inputs: np.ndarray | None = None  # inputs that show it (mismatches)
    where: str = ""  # seed and index that drew it


@dataclass
class FuzzStats:
    graphs: int = 0
    compared: int = 0  # graphs both sides ran, compared bit for bit
    sanitized: int = 0  # graphs whose host build had ASan and UBSan
    inputs_compared: int = 0
    refused: collections.Counter = field(default_factory=collections.Counter)  # tinyasc's refusals by reason
    tflm_refused: collections.Counter = field(default_factory=collections.Counter)
    ops: collections.Counter = field(default_factory=collections.Counter)  # ops of the compared graphs
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    layer_tensors: int = 0  # intermediate tensors compared by the twin's per-layer check (layers=True)

    def figures(self) -> dict:
        """The counts as a JSON-ready dict (a campaign's --summary)."""
        return {"graphs": self.graphs, "sanitized": self.sanitized, "compared": self.compared,
                "inputs_compared": self.inputs_compared, "seconds": round(self.seconds, 1),
                "findings": len(self.findings), **({"layer_tensors_compared": self.layer_tensors} if self.layer_tensors else {}),
                "refused_by_tinyasc": dict(self.refused.most_common()),
                "refused_by_tflm": dict(self.tflm_refused.most_common()), "ops_compared": dict(self.ops.most_common())}

    def summary(self) -> str:
        return (f"{self.graphs} graphs in {self.seconds:.0f} s ({self.sanitized} under ASan+UBSan): "
                f"{self.compared} compared bit for bit on "
                f"{self.inputs_compared} inputs, {sum(self.refused.values())} refused by tinyasc, "
                f"{sum(self.tflm_refused.values())} refused by TFLM, {len(self.findings)} findings")


@functools.cache
def _board(name: str):
    from tinyasc.artifacts.boards import get_board

    return get_board(name)  # boards.yaml is read once per process, not once per graph


def compiled_sources(graph: FuzzGraph):
    """(IR graph, {file: C text}, kernel library files) of a fuzz graph, compiled as `tinyasc export` would for its board."""
    from tinyasc.compile.codegen import compile_graph, render_model_sources
    from tinyasc.compile.options import CompileOptions
    from tinyasc.compile.tflite_reader import parse_tflite

    ir = parse_tflite(to_tflite(graph), source="fuzz.tflite")
    board = _board(graph.board) if graph.board else None
    compiled = compile_graph(ir, board=board, options=CompileOptions(**graph.options))
    return ir, render_model_sources(compiled, "fuzz.tflite", []), compiled.kernel_files


def refusal_reason(error: Exception) -> str:
    """A refusal's message without the numbers: refusals of one kind count together."""
    text = str(error).split(": ", 1)[-1]
    return " ".join(word for word in text.split() if not any(ch.isdigit() for ch in word))[:120]


@dataclass
class FuzzCase:
    position: int
    graph: FuzzGraph
    ir: object
    sources: dict
    kernel_files: list
    inputs: np.ndarray
    where: str


def prepare_cases(graphs: list[tuple[FuzzGraph, str]], rng: np.random.Generator, stats: FuzzStats, folder: Path,
                  inputs_per_graph: int) -> list[FuzzCase]:
    from tinyasc.compile.export import random_model_inputs

    cases = []
    for graph, where in graphs:
        try:
            ir, sources, kernel_files = compiled_sources(graph)
        except TinyascError as error:
            stats.refused[refusal_reason(error)] += 1
            continue
        except Exception:  # noqa: BLE001 - a compiler bug is exactly what the fuzzer looks for
            stats.findings.append(Finding(graph, "compiler exception", traceback.format_exc(limit=4), where=where))
            continue
        position = len(cases)
        inputs = random_model_inputs(ir, inputs_per_graph, rng)
        model_path, inputs_path, _ = case_paths(folder, position)
        model_path.write_bytes(to_tflite(graph))
        np.save(inputs_path, inputs)
        cases.append(FuzzCase(position, graph, ir, sources, kernel_files, inputs, where))
    return cases


def check_batch(graphs: list[tuple[FuzzGraph, str]], rng: np.random.Generator, stats: FuzzStats,
                inputs_per_graph: int = INPUTS_PER_GRAPH, jobs: int = 1, sanitize: bool = True) -> list[Finding]:
    """Run graphs (graph, where it was drawn) through both sides; count them in stats and return
    the new findings (also appended to stats.findings). `sanitize`: build with ASan and UBSan
    (three times slower to compile; the outputs are the same without unless the C has UB)."""
    before = len(stats.findings)
    stats.graphs += len(graphs)
    stats.sanitized += len(graphs) if sanitize else 0
    with tempfile.TemporaryDirectory(prefix="tinyasc-fuzz-") as work:
        folder = Path(work)
        cases = prepare_cases(graphs, rng, stats, folder, inputs_per_graph)
        expected = tflm_batch(folder, [case.position for case in cases])
        runnable = []
        for case in cases:
            if isinstance(expected[case.position], str):
                stats.tflm_refused[refusal_reason(Exception(expected[case.position]))] += 1
            else:
                runnable.append(case)
        _compare(runnable, expected, folder / "host", stats, jobs, sanitize)
    return stats.findings[before:]


def _compare(cases: list[FuzzCase], expected: dict, folder: Path, stats: FuzzStats, jobs: int, sanitize: bool) -> None:
    from tinyasc.compile.host import model_io_dtypes

    # -O0: the arithmetic is the same at every level (UBSan reports what would make it differ) and
    # the sanitizer build takes half the time of -O1.
    runner = build_merged([case.sources for case in cases], [case.kernel_files for case in cases], folder,
                          jobs=jobs, opt="-O0", sanitize=sanitize)
    for n, message in runner.build_errors.items():  # n: a case's place in `cases`, the batch position
        stats.findings.append(Finding(cases[n].graph, "C build", message, cases[n].inputs, cases[n].where))
    dtypes = {n: model_io_dtypes(cases[n].ir)[1] for n in runner.models}
    sizes = {n: cases[n].ir.tensors[cases[n].ir.outputs[0]].num_elements for n in runner.models}
    outputs, failure = run_batch(runner, [(n, cases[n].inputs) for n in runner.models], dtypes, sizes)
    for n in runner.models:
        case = cases[n]
        if n not in outputs:
            alone, alone_failure = run_batch(runner, [(n, case.inputs)], dtypes, sizes)
            if alone_failure:
                stats.findings.append(Finding(case.graph, "sanitizer or crash", alone_failure, case.inputs, case.where))
                continue
            outputs.update(alone)
        actual, wanted = outputs[n], expected[case.position]
        stats.compared += 1
        stats.inputs_compared += len(case.inputs)
        stats.ops.update(op.name for op in case.graph.ops)
        differs = np.any(actual.view(np.uint8).reshape(len(actual), -1) != wanted.view(np.uint8).reshape(len(wanted), -1),
                         axis=1)
        if differs.any():
            stats.findings.append(Finding(case.graph, "mismatch", _difference(actual, wanted, differs),
                                          case.inputs[differs], case.where))
    if failure and runner.models and all(n in outputs for n in runner.models):
        last = cases[runner.models[-1]]
        stats.findings.append(Finding(last.graph, "sanitizer or crash", failure, last.inputs, last.where))


def _difference(actual: np.ndarray, wanted: np.ndarray, differs: np.ndarray) -> str:
    wide = np.float64
    gap = np.abs(actual.astype(wide) - wanted.astype(wide))
    return (f"{int(differs.sum())} of {len(differs)} inputs differ; {int(np.sum(gap > 0))} values, "
            f"largest difference {gap.max():g}")


def draw_batch(seed: int, first: int, count: int) -> list[tuple[FuzzGraph, str]]:
    """Graphs first..first+count-1 of `seed`, each from its own generator."""
    return [(draw_graph(np.random.default_rng([seed, index]), FUZZ_BOARDS), f"seed {seed} graph {index}")
            for index in range(first, first + count)]


def fuzz(count: int, seed: int = 0, batch_size: int = 60, jobs: int = 1, on_batch=None,
         inputs_per_graph: int = INPUTS_PER_GRAPH, first: int = 0, sanitize_every: int = 1) -> FuzzStats:
    """Run `count` random graphs of `seed` (graphs first.. first+count-1); `on_batch(stats, findings)`
    is called after each batch (progress, shrinking and saving findings). One batch in
    `sanitize_every` is built with the sanitizers (all of them by default)."""
    stats = FuzzStats()
    start = time.monotonic()
    rng = np.random.default_rng([seed, 1 << 30])
    for number, batch_first in enumerate(range(first, first + count, batch_size)):
        size = min(batch_size, first + count - batch_first)
        findings = check_batch(draw_batch(seed, batch_first, size), rng, stats, inputs_per_graph, jobs,
                               sanitize=number % max(1, sanitize_every) == 0)
        stats.seconds = time.monotonic() - start
        if on_batch is not None:
            on_batch(stats, findings)
    return stats
