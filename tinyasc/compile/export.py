"""`tinyasc export`: an int8 `.tflite` → `export/<name>/`, ready to build for one board.

The folder holds the `.tflite` and its C-array copy, the generated C (`src/`), the IR as text,
test vectors whose expected outputs come from the TFLM reference interpreter (and the CRC-32 of
every intermediate tensor for the verification build, layer_checks.json), and `manifest.json`
with every figure (layout: tinyasc/artifacts/export_folder.py). The board files are not written
here: `tinyasc build` renders them, once. The folder is written into a temporary folder and
renamed into place, so an interrupted export never leaves half a folder behind.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import tinyasc
from tinyasc.artifacts import export_folder as layout
from tinyasc.artifacts.audio import AudioInput
from tinyasc.artifacts.boards import format_kb, get_board
from tinyasc.compile.c_library import DEFAULT_PREFIX, check_prefix, library_layouts
from tinyasc.compile.codegen import (
    CompiledModel,
    compile_graph,
    render_model_sources,
    render_test_vectors,
    render_tflite_array,
    write_sources,
)
from tinyasc.compile.ir import NUMPY_DTYPES
from tinyasc.compile.layer_checks import layer_check_table
from tinyasc.compile.options import CompileOptions
from tinyasc.compile.pcm_input import pcm_frontend_applies, pcm_test_window, stream_applies, stream_facts
from tinyasc.compile.reference import tflm_minimal_arena, tflm_outputs
from tinyasc.compile.tflite_reader import parse_tflite
from tinyasc.compile.ws_rewrite import rewrite_ws_conv
from tinyasc.errors import DoesNotFitError, TinyascError, naming
from tinyasc.artifacts.manifest import atomic_write_bytes, atomic_write_text, write_manifest

DEFAULT_EXPORT_ROOT = Path("export")
MAX_TEST_VECTORS = 1000  # self-test inputs embedded in flash: a few are enough, thousands do not fit


@dataclass
class ExportResult:
    export_dir: Path
    compiled: CompiledModel
    manifest: dict


def safe_name(text: str) -> str:
    """A folder and C-friendly name: letters, digits, '_' and '-' only, at most MAX_NAME_CHARS."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_-")
    if len(name) > layout.MAX_NAME_CHARS:
        raise TinyascError(f"the export name {name[:40]}... is {len(name)} characters long; give a --name of "
                           f"at most {layout.MAX_NAME_CHARS} (it names the folder and the generated project)")
    return name or "model"


def tool_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"tinyasc": tinyasc.__version__, "python": platform.python_version()}
    for package in ("tflite-micro", "tensorflow-cpu", "numpy", "jinja2"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            pass
    return versions


def _check_fits(compiled: CompiledModel, board, tflite_path: str) -> None:
    """Refuse early when the activations or weights alone cannot fit the board."""
    if compiled.plan.arena_size > board.ram_size:
        raise DoesNotFitError(
            f"{tflite_path}: the model needs {compiled.plan.arena_size:,} bytes of activation memory, "
            f"{compiled.plan.arena_size - board.ram_size:,} more than {board.name}'s {format_kb(board.ram_size)} RAM. "
            "Use a smaller model (fewer channels, more pooling early) or a board with more RAM."
        )
    if compiled.weight_bytes > board.flash_size:
        raise DoesNotFitError(
            f"{tflite_path}: the weights take {compiled.weight_bytes:,} bytes, "
            f"{compiled.weight_bytes - board.flash_size:,} more than {board.name}'s {format_kb(board.flash_size)} flash."
        )


def random_model_inputs(graph, count: int, rng: np.random.Generator) -> np.ndarray:
    """Random inputs [count, input size] of the model's input type: every int8 value, or for a
    float32 input, reals spread over 1.25x the range its QUANTIZE can represent (so clamping
    and rounding at both ends are exercised)."""
    x = graph.tensors[graph.inputs[0]]
    if x.dtype != "float32":
        return rng.integers(-128, 128, size=(count, x.num_elements), dtype=np.int8)
    quantize = next(op for op in graph.ops if op.inputs and op.inputs[0] == x.index)
    q = graph.tensors[quantize.outputs[0]].quantization
    low, high = q.scale * (-128 - q.zero_point), q.scale * (127 - q.zero_point)
    middle, half = (low + high) / 2, (high - low) / 2 * 1.25
    return rng.uniform(middle - half, middle + half, size=(count, x.num_elements)).astype(np.float32)


def _test_vectors(model_bytes: bytes, graph, test_inputs, count: int, seed: int):
    x = graph.tensors[graph.inputs[0]]
    if test_inputs is None:
        test_inputs = random_model_inputs(graph, count, np.random.default_rng(seed))
    test_inputs = np.asarray(test_inputs, dtype=NUMPY_DTYPES[x.dtype]).reshape(-1, x.num_elements)[:count]
    expected = tflm_outputs(model_bytes, test_inputs, x.shape)
    return test_inputs, expected


def _replace_folder(staging: Path, target: Path) -> None:
    """Swap a fully written staging folder into place."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)


def export_model(
    tflite_path: str | Path,
    board_name: str = "nrf52840",
    out_root: str | Path = DEFAULT_EXPORT_ROOT,
    name: str | None = None,
    labels: list[str] | None = None,
    test_inputs: np.ndarray | None = None,
    num_test_vectors: int = 4,
    seed: int = 0,
    options: CompileOptions | None = None,
    audio: AudioInput | None = None,
    stream=None,
    c_prefix: str = DEFAULT_PREFIX,
    run_metrics: dict | None = None,
) -> ExportResult:
    """`options`: how to compile (planner, sparse weights, WS_CONV kernel, fusion); default CompileOptions().
    `audio`: what the model's input stands for (a run's sample rate, input kind...); it goes to the
    manifest's "audio" section and model.h when known. None: unknown, nothing is assumed.
    `c_prefix`: the prefix of every external C name in targets/ (the C library layouts).
    `run_metrics`: what the training run measured (run.json), kept as the manifest's "run" section.
    `stream`: the streaming API's stride and smoothing (tinyasc.frontend.stream.StreamSettings;
    default StreamSettings(): half-window stride, no smoothing), for a model with a PCM front-end."""
    from tinyasc.frontend.stream import StreamSettings

    stream = stream or StreamSettings()
    tflite_path = Path(tflite_path)
    check_prefix(c_prefix)
    if not tflite_path.is_file():
        raise TinyascError(f"{tflite_path}: no such .tflite file")
    if not 1 <= num_test_vectors <= MAX_TEST_VECTORS:
        raise TinyascError(f"--test-vectors must be between 1 and {MAX_TEST_VECTORS} (they are embedded in "
                           f"the firmware's flash); received: {num_test_vectors}")
    board = get_board(board_name)
    name = safe_name(name or tflite_path.stem)
    with naming(tflite_path):  # what the compiler refuses is about this file
        # A QAT'd WSNet converts to GATHER…CONV_2D chains: each becomes one WS_CONV op (DESIGN §4).
        model_bytes, _ = rewrite_ws_conv(tflite_path.read_bytes(), source=str(tflite_path))
        graph = parse_tflite(model_bytes, source=str(tflite_path))
        compiled = compile_graph(graph, board=board, options=options)
        _check_fits(compiled, board, str(tflite_path))
        output_size = graph.tensors[graph.outputs[0]].num_elements
        labels = list(labels) if labels else [f"class_{i}" for i in range(output_size)]
        vectors_in, vectors_out = _test_vectors(model_bytes, graph, test_inputs, num_test_vectors, seed)

    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    target = out_root / name
    with layout.export_lock(out_root, name):
        layout.clean_stale_staging(out_root, name)  # left by an export killed mid-write
        staging = Path(tempfile.mkdtemp(prefix=layout.staging_prefix(name), dir=out_root))
        try:
            manifest = _fill_staging(staging, name, board, compiled, graph, model_bytes, tflite_path, labels,
                                     (vectors_in, vectors_out), audio, stream, c_prefix, run_metrics)
            write_manifest(staging, manifest)
            os.chmod(staging, 0o755)
            _replace_folder(staging, target)
        except OSError as error:
            shutil.rmtree(staging, ignore_errors=True)
            if error.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise TinyascError(f"{target}: {error.strerror} while writing the export; nothing was changed "
                               f"({'the previous export is intact' if target.exists() else 'no folder was made'}); "
                               "free some space and export again") from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return ExportResult(export_dir=target, compiled=compiled, manifest=manifest)


def _fill_staging(staging: Path, name: str, board, compiled, graph, model_bytes: bytes, tflite_path: Path,
                  labels: list[str], vectors, audio, stream, c_prefix: str, run_metrics) -> dict:
    """Write the export's files into `staging`; returns its manifest (written by the caller)."""
    vectors_in, vectors_out = vectors
    atomic_write_bytes(staging / layout.MODEL_TFLITE, model_bytes)
    atomic_write_text(staging / layout.MODEL_TFLITE_ARRAY, render_tflite_array(model_bytes))
    atomic_write_text(staging / layout.IR_TEXT, graph.dump())
    model_sources = render_model_sources(compiled, tflite_path.name, labels, audio, stream)
    write_sources(model_sources, staging / layout.SRC_DIR)
    write_sources(library_layouts(model_sources, name, c_prefix, board.name, compiled.plan.arena_size),
                  staging / layout.TARGETS_DIR)
    pcm_window = pcm_test_window(audio, graph) if pcm_frontend_applies(audio, graph) else None
    write_sources(render_test_vectors(vectors_in, vectors_out, pcm_window), staging / layout.SRC_DIR)
    np.save(staging / layout.TEST_INPUTS, vectors_in)
    np.save(staging / layout.TEST_OUTPUTS, vectors_out)
    # The verification build's per-layer checks (compile/layer_checks.py): checksums, not tensors.
    atomic_write_text(staging / layout.LAYER_CHECKS, json.dumps(layer_check_table(compiled, model_bytes, vectors_in)))
    manifest = {
        "name": name,
        "board": board.name,
        "c_prefix": c_prefix,
        **({"run": run_metrics} if run_metrics else {}),
        **({"audio": audio.to_dict()} if audio is not None and audio.is_known else {}),
        "export": export_figures(compiled, model_bytes, tflite_path, labels, len(vectors_in)),
        **({"stream": {**stream.to_dict(), **stream_facts(audio, graph, stream)}}
           if stream_applies(audio, graph) else {}),
        "versions": tool_versions(),
    }
    return manifest


def _io_figures(tensor) -> dict:
    """Shape and type of the graph input or output; scale and zero point for int8 (None for float32)."""
    q = tensor.quantization
    return {"shape": list(tensor.shape), "dtype": tensor.dtype,
            "scale": q.scale if q else None, "zero_point": q.zero_point if q else None}


def export_figures(compiled: CompiledModel, model_bytes: bytes, tflite_path: Path, labels, num_vectors: int) -> dict:
    graph = compiled.graph
    x = graph.tensors[graph.inputs[0]]
    y = graph.tensors[graph.outputs[0]]
    parameters = sum(
        t.num_elements for t in graph.tensors
        if t.is_constant and t.dtype in ("int8", "int32") and t.quantization is not None
    )
    return {
        "source": str(tflite_path),
        "tflite_bytes": len(model_bytes),
        "parameters": int(parameters),
        "macs": int(compiled.macs),
        "weight_bytes": int(compiled.weight_bytes),
        "sparse_layers": sum(1 for s in compiled.steps if s.sparsity.get("weight_format") == "sparse"),
        "ops": [op.kind.value for op in graph.ops],
        "input": _io_figures(x),
        "output": _io_figures(y),
        "labels": list(labels),
        "memory_plan": compiled.plan.to_dict(),
        "arena_bytes": compiled.plan.arena_size,
        "arena_lower_bound_bytes": compiled.plan.lower_bound,
        "tflm_arena_bytes": tflm_minimal_arena(model_bytes),  # TFLM's figure for the same model
        "layers": compiled.layers(),
        "test_vectors": num_vectors,
    }
