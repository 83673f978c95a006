"""The streaming API (`tinyasc_stream_push`) run for real, against its offline twin.

    chunk_records(pcm, sizes)                  the chunks as the runners read them
    stream_on_host(export_dir, pcm, sizes)     the host build (ASan + UBSan), runner's stream mode
    stream_in_qemu(export_dir, pcm, sizes)     the firmware's stream mode in the board's QEMU twin,
                                               with the instructions spent in tinyasc_stream_push
    stream_offline(export_dir, pcm)            the twin: the signal cut into the stream's windows,
                                               the offline input path (tinyasc/frontend/stream.py),
                                               the TFLM reference interpreter, the same smoothing

Instruction counts come from SysTick under -icount (exact to a tick).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyasc.artifacts.audio import AudioInput
from tinyasc.artifacts.manifest import read_manifest
from tinyasc.errors import TinyascError

STREAM_MODE = "stream"


@dataclass(frozen=True)
class StreamResults:
    values: np.ndarray  # int8 [results, classes]: the smoothed outputs
    posteriors: np.ndarray  # float32 [results, classes]
    push_instructions: int | None = None  # QEMU only: instructions spent in tinyasc_stream_push
    samples: int = 0
    stack_used: int = 0


def chunk_records(pcm: np.ndarray, sizes) -> bytes:
    """Each chunk as a little-endian uint32 count and its int16 samples; the sizes must cover pcm."""
    pcm = np.asarray(pcm, "<i2").reshape(-1)
    if sum(sizes) != len(pcm):
        raise TinyascError(f"chunk sizes add up to {sum(sizes)} samples, the signal has {len(pcm)}")
    parts, start = [], 0
    for size in sizes:
        parts += [np.uint32(size).astype("<u4").tobytes(), pcm[start:start + size].tobytes()]
        start += size
    return b"".join(parts)


def _manifest_stream(export_dir: Path) -> tuple[dict, dict]:
    manifest = read_manifest(export_dir)
    if "stream" not in manifest or not (export_dir / "src" / "pcm_stream.c").is_file():
        raise TinyascError(f"{export_dir} has no stream (src/pcm_stream.c); re-export it from a training run")
    return manifest, manifest["stream"]


def _parse_results(data: bytes, classes: int) -> tuple[np.ndarray, np.ndarray]:
    record = np.dtype([("values", "i1", classes), ("posteriors", "<f4", classes)])
    if len(data) % record.itemsize:
        raise TinyascError(f"the stream wrote {len(data)} bytes, not whole results of {record.itemsize}")
    rows = np.frombuffer(data, dtype=record)
    return rows["values"].reshape(-1, classes).copy(), rows["posteriors"].reshape(-1, classes).copy()


def _classes(manifest: dict) -> int:
    return int(np.prod(manifest["export"]["output"]["shape"]))


def stream_on_host(export_dir, pcm: np.ndarray, sizes) -> StreamResults:
    import subprocess

    from tinyasc.compile.host import build_host_runner

    export_dir = Path(export_dir).resolve()
    manifest, _ = _manifest_stream(export_dir)
    runner = build_host_runner(export_dir / "src", export_dir / "build" / "host_runner")
    completed = subprocess.run([str(runner), STREAM_MODE], input=chunk_records(pcm, sizes), capture_output=True,
                               timeout=600, env={"ASAN_OPTIONS": "detect_leaks=0", "PATH": "/usr/bin:/bin"})
    if completed.returncode != 0:
        raise TinyascError(f"the host stream run failed (exit {completed.returncode}): "
                           f"{completed.stderr.decode(errors='replace')[-2000:]}")
    return StreamResults(*_parse_results(completed.stdout, _classes(manifest)), samples=len(np.reshape(pcm, -1)))


def stream_in_qemu(export_dir, pcm: np.ndarray, sizes, timeout_s: float = 600) -> StreamResults:
    from tinyasc.artifacts.twin import instructions_per_tick
    from tinyasc.emulate.qemu import _built_board_and_elf, _parse_tagged_line, _run_eval_mode

    export_dir = Path(export_dir).resolve()
    manifest, _ = _manifest_stream(export_dir)
    board, elf = _built_board_and_elf(export_dir)
    written, log = _run_eval_mode(board, elf, STREAM_MODE, chunk_records(pcm, sizes), len(sizes), timeout_s)
    figures = _parse_tagged_line("TINYASC_STREAM", log)
    values, posteriors = _parse_results(written, _classes(manifest))
    return StreamResults(values, posteriors, round(figures.get("push_ticks", 0) * instructions_per_tick(board)),
                         figures.get("samples", 0), figures.get("stack_used", 0))


def stream_offline(export_dir, pcm: np.ndarray) -> StreamResults:
    """What the stream must return for `pcm`, from the offline path and the reference interpreter."""
    from tinyasc.compile.reference import tflm_outputs
    from tinyasc.frontend.stream import StreamSettings, smoothed_results, stream_inputs, stream_layout

    export_dir = Path(export_dir).resolve()
    manifest, facts = _manifest_stream(export_dir)
    audio = AudioInput.from_dict(manifest["audio"])
    settings = StreamSettings(**{key: facts[key] for key in StreamSettings.__dataclass_fields__})
    x, y = manifest["export"]["input"], manifest["export"]["output"]
    inputs = stream_inputs(pcm, audio, stream_layout(audio, settings), x["scale"], x["zero_point"])
    model_bytes = (export_dir / "model.tflite").read_bytes()
    outputs = tflm_outputs(model_bytes, inputs, x["shape"]) if len(inputs) else np.zeros((0, _classes(manifest)), np.int8)
    values, posteriors = smoothed_results(outputs.reshape(len(inputs), -1), settings.smoothing, y["scale"], y["zero_point"])
    return StreamResults(values, posteriors, samples=len(np.reshape(pcm, -1)))
