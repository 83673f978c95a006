"""`tinyasc emulate --audio PATH EXPORT`: audio files through the firmware's own PCM front-end and
network in the board's QEMU twin, and the same windows through the host build, compared bit for bit.

    evaluate_audio(export_dir, path)   files → int16 PCM windows (audio_files.py) → eval-pcm mode in
                                       QEMU and on the host → per-file predictions (the mean of the
                                       outputs over a file's windows, as training scores a
                                       recording), accuracy / macro-F1 / confusion when labelled,
                                       instructions and the real-time factor; the manifest's
                                       "audio_evaluation" section

Instruction counts come from SysTick under -icount (exact to a tick); times are ESTIMATES,
instructions / the board's clock: QEMU does not model cycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyasc.artifacts.audio import AudioInput
from tinyasc.artifacts.boards import get_board
from tinyasc.artifacts.export_folder import elf_path
from tinyasc.artifacts.manifest import read_manifest, update_manifest
from tinyasc.emulate.audio_files import PcmWindows, audio_items, pcm_windows, treatment_text
from tinyasc.emulate.qemu import PcmBatchResult, run_pcm_batch_in_qemu
from tinyasc.errors import TinyascError

MANIFEST_SECTION = "audio_evaluation"
MANIFEST_PREDICTIONS = 200  # per-file rows kept in the manifest; the console shows them all


@dataclass(frozen=True)
class DeviceCost:
    """What the device spends on audio, from the eval-pcm run's instruction counts."""

    window_seconds: float
    frontend_instructions_per_window: float  # mean over the windows
    network_instructions_per_inference: float  # mean over the windows
    network_instructions_first: int
    clock_hz: int

    @property
    def frontend_instructions_per_second(self) -> float:
        return self.frontend_instructions_per_window / self.window_seconds

    @property
    def real_time_factor(self) -> float:
        """Time to process one second of audio / 1 s, at the board's clock (an estimate)."""
        per_window = self.frontend_instructions_per_window + self.network_instructions_per_inference
        return per_window / self.clock_hz / self.window_seconds


@dataclass(frozen=True)
class AudioEvaluation:
    windows: PcmWindows
    labels: list[str]
    outputs: np.ndarray  # QEMU's outputs, [windows, classes]
    window_host_equal: np.ndarray  # bool [windows]: QEMU's outputs equal the host build's, bit for bit
    file_scores: np.ndarray  # [files, classes]: dequantized outputs, mean over each file's windows
    metrics: object | None  # report.metrics.RecordingMetrics when every file is labelled
    cost: DeviceCost
    board: str
    machine: str
    treatment: list[str]

    @property
    def host_equal(self) -> np.ndarray:
        """bool [files]: QEMU equals the host build on every window of the file."""
        return np.array([self.window_host_equal[f.first_window:f.first_window + f.windows].all()
                         for f in self.windows.files])

    @property
    def predicted(self) -> np.ndarray:
        return self.file_scores.argmax(axis=1)

    @property
    def window_predicted(self) -> np.ndarray:
        return self.outputs.argmax(axis=1)

    @property
    def file_levels_db(self) -> np.ndarray:
        """[files]: RMS dBFS of the PCM windows each file gave the device (report/levels.py)."""
        from tinyasc.report.levels import rms_dbfs

        return np.array([rms_dbfs(self.windows.pcm[f.first_window:f.first_window + f.windows].reshape(1, -1)
                                  / 32768.0)[0] for f in self.windows.files])

    def accuracy_by_level(self) -> dict | None:
        """Accuracy per input-level bucket of QEMU's per-file predictions; None when unlabelled."""
        if self.metrics is None:
            return None
        from tinyasc.report.levels import accuracy_by_level

        labels = np.array([f.item.label for f in self.windows.files])
        return accuracy_by_level(self.predicted, labels, self.file_levels_db)


# ---- the export's audio facts ----------------------------------------------------------------------

def pcm_audio_facts(export_dir: Path, manifest: dict) -> AudioInput:
    """The export's AudioInput, when it has a PCM front-end; else a TinyascError saying what to do."""
    audio = AudioInput.from_dict(manifest.get("audio"))
    if not (export_dir / "src" / "pcm_input.c").is_file() or audio.kind is None or not audio.input_samples:
        raise TinyascError(
            f"{export_dir} has no PCM front-end (src/pcm_input.c): its manifest "
            f"{'knows nothing about the audio' if not audio.is_known else 'lacks the input kind or window'} "
            "(an export of a bare --tflite has no sample rate and does not say whether the input is a "
            "waveform or log-mel features; a model with float input takes no PCM). Export from the training "
            "run instead: `tinyasc export --run RUN_DIR`, then `tinyasc build EXPORT_DIR`; or feed int8 inputs "
            "with `tinyasc emulate EXPORT_DIR` (self-test) or tinyasc.emulate.qemu.run_batch_in_qemu."
        )
    if audio.sample_rate is None:  # the PCM front-end exists, so the manifest lost it (hand edit)
        from tinyasc.artifacts.manifest_schema import RERUN

        raise TinyascError(f"{export_dir / 'manifest.json'}: the key 'audio.sample_rate' is missing or null; {RERUN}")
    return audio


def _output_dequantizer(manifest: dict):
    output = manifest.get("export", {}).get("output", {})
    if output.get("dtype", "int8") != "int8" or output.get("scale") is None:
        return lambda values: values.astype(np.float64)
    scale, zero_point = float(output["scale"]), int(output.get("zero_point", 0))
    return lambda values: scale * (values.astype(np.float64) - zero_point)


# ---- the runs --------------------------------------------------------------------------------------

def _host_outputs(export_dir: Path, pcm: np.ndarray, output_size: int, output_dtype) -> np.ndarray:
    """The same windows through the host build of the same C (ASan + UBSan)."""
    from tinyasc.compile.host import EVAL_PCM_MODE, build_host_runner, run_host

    runner = build_host_runner(export_dir / "src", export_dir / "build" / "host_runner")
    return run_host(runner, pcm, output_size, input_dtype=np.int16, output_dtype=output_dtype, mode=EVAL_PCM_MODE)


def _device_cost(device: PcmBatchResult, windows: int, audio: AudioInput, clock_hz: int) -> DeviceCost:
    return DeviceCost(
        window_seconds=int(audio.input_samples) / audio.sample_rate,
        frontend_instructions_per_window=device.frontend_instructions_total / windows,
        network_instructions_per_inference=device.network_instructions_total / windows,
        network_instructions_first=device.network_instructions_first,
        clock_hz=clock_hz,
    )


def _file_scores(windows: PcmWindows, outputs: np.ndarray) -> np.ndarray:
    """[files, classes]: the mean of each file's window outputs, as training scores a recording."""
    return np.stack([outputs[f.first_window:f.first_window + f.windows].mean(axis=0) for f in windows.files])


def evaluate_audio(export_dir, path, split: str | None = None, timeout_s: float = 600) -> AudioEvaluation:
    """Run the files PATH names through the built firmware in QEMU and through the host build; the
    result also goes to the manifest's "audio_evaluation" section."""
    export_dir = Path(export_dir).resolve()
    manifest = read_manifest(export_dir)
    audio = pcm_audio_facts(export_dir, manifest)
    if not elf_path(export_dir).is_file():  # before reading the files, which may take long
        raise TinyascError(f"{elf_path(export_dir)} does not exist; run `tinyasc build {export_dir}` first.")
    labels = list(manifest.get("export", {}).get("labels") or [])
    board = get_board(manifest.get("build", {}).get("board") or manifest.get("board"))
    items, source, split = audio_items(path, labels, split)
    windows = pcm_windows(items, audio, source, split)
    device = run_pcm_batch_in_qemu(export_dir, windows.pcm, timeout_s)
    host = _host_outputs(export_dir, windows.pcm, device.outputs.shape[1], device.outputs.dtype)
    same = np.all(device.outputs.view(np.uint8).reshape(len(host), -1) == host.view(np.uint8).reshape(len(host), -1), axis=1)
    labels = labels or [f"class {index}" for index in range(device.outputs.shape[1])]
    scores = _file_scores(windows, _output_dequantizer(manifest)(device.outputs))
    metrics = None
    if all(f.item.label is not None for f in windows.files):
        from tinyasc.report.metrics import recording_metrics

        metrics = recording_metrics(scores, np.array([f.item.label for f in windows.files]), len(labels))
    evaluation = AudioEvaluation(
        windows=windows, labels=labels, outputs=device.outputs, window_host_equal=same,
        file_scores=scores, metrics=metrics, cost=_device_cost(device, len(windows.pcm), audio, board.clock_hz),
        board=board.name, machine=board.emulator_machine, treatment=treatment_text(windows, audio),
    )
    update_manifest(export_dir, MANIFEST_SECTION, manifest_section(evaluation))
    return evaluation


# ---- the manifest's section ------------------------------------------------------------------------

def manifest_section(evaluation: AudioEvaluation) -> dict:
    cost, windows = evaluation.cost, evaluation.windows
    rows = [{"file": str(f.item.path), "windows": f.windows, "predicted": evaluation.labels[predicted],
             **({"label": evaluation.labels[f.item.label]} if f.item.label is not None else {}),
             "qemu_equals_host": bool(equal)}
            for f, predicted, equal in zip(windows.files, evaluation.predicted, evaluation.host_equal)]
    section = {
        "source": windows.source,
        "split": windows.split,
        "files": len(windows.files),
        "windows": len(windows.pcm),
        "treatment": evaluation.treatment,
        "machine": evaluation.machine,
        "qemu_equals_host": bool(evaluation.host_equal.all()),
        "files_differing_from_host": [str(f.item.path) for f, equal in zip(windows.files, evaluation.host_equal)
                                      if not equal][:20],
        "window_seconds": cost.window_seconds,
        "frontend_instructions_per_window": round(cost.frontend_instructions_per_window),
        "frontend_instructions_per_second_of_audio": round(cost.frontend_instructions_per_second),
        "network_instructions_per_inference": round(cost.network_instructions_per_inference),
        "clock_hz": cost.clock_hz,
        "real_time_factor_estimate": round(cost.real_time_factor, 5),
        "instruction_count_method": "SysTick ticks around tinyasc_input_from_pcm and tinyasc_invoke in the "
                                    "firmware's eval-pcm mode under -icount, summed over the windows and divided "
                                    "by their number; the time is an estimate, instructions / board clock",
        "predictions": rows[:MANIFEST_PREDICTIONS],
    }
    if evaluation.metrics is not None:
        section.update(labels=evaluation.labels, accuracy=evaluation.metrics.accuracy,
                       macro_f1=evaluation.metrics.macro_f1, confusion=evaluation.metrics.confusion.tolist(),
                       accuracy_by_level=evaluation.accuracy_by_level(),
                       level="RMS dBFS of each file's PCM windows, as the device received them")
    return section
