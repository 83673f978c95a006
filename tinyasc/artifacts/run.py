"""A training run folder, `runs/<name>/`: what `tinyasc train` leaves and `tinyasc export --run` reads.

    run.json            labels, accuracies, sizes, the audio facts and a copy of the config
    model_int8.tflite   the int8 model
    test_set.npz        the test split already quantized to the model's input, with its labels

Reading a run needs only json and numpy: `tinyasc export --run` loads no audio or TensorFlow code.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyasc.artifacts.audio import AudioInput
from tinyasc.artifacts.manifest import atomic_write_bytes, atomic_write_text
from tinyasc.errors import TinyascError

RUN_FILE = "run.json"
TFLITE_FILE = "model_int8.tflite"
TEST_SET_FILE = "test_set.npz"


@dataclass(frozen=True, eq=False)
class RunFolder:
    path: Path
    labels: tuple[str, ...]
    tflite: Path
    test_inputs: np.ndarray  # [N, model input size], the model's input type
    test_labels: np.ndarray  # [N] class indices
    audio: AudioInput
    config: dict | None  # the ExperimentConfig as a dict; None for runs made before configs
    summary: dict = field(repr=False)  # run.json as written (accuracies, sizes, ...)


def write_run(run_dir: Path, summary: dict, test_inputs: np.ndarray, test_labels: np.ndarray) -> Path:
    """The test set, then run.json (last: its presence marks a finished run); both atomically."""
    run_dir = Path(run_dir)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, inputs=test_inputs, labels=test_labels)
    atomic_write_bytes(run_dir / TEST_SET_FILE, buffer.getvalue())
    path = run_dir / RUN_FILE
    atomic_write_text(path, json.dumps(summary, indent=2) + "\n")
    return path


def audio_of(summary: dict) -> AudioInput:
    """run.json's "audio"; runs written before it existed get what their config copy says."""
    if "audio" in summary:
        return AudioInput.from_dict(summary["audio"])
    config = summary.get("config")
    if not config:
        return AudioInput(input_samples=summary.get("input_samples"))
    kind = config["features"]["kind"]
    preset = config["features"].get("preset")
    return AudioInput(
        sample_rate=config["data"]["sample_rate"],
        kind=kind,
        channels=config["data"]["channels"] if kind == "raw" else 1,
        input_samples=summary.get("input_samples"),
        log_mel={"preset": preset} if kind == "logmel" and preset else None,
    )


def read_run(run_dir: Path) -> RunFolder:
    run_dir = Path(run_dir)
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise TinyascError(f"{run_dir} is not a finished training run (no {RUN_FILE}); run `tinyasc train --out {run_dir}`")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise TinyascError(f"{path} is not valid JSON ({str(e)[:120]}); re-run `tinyasc train --out {run_dir}`") from None
    test_set_path = run_dir / TEST_SET_FILE
    if not test_set_path.is_file():
        raise TinyascError(f"{run_dir} has no {TEST_SET_FILE}; re-run `tinyasc train --out {run_dir}`")
    # A damaged or hand-edited run folder: a missing key, a wrong type, a broken archive (no pickles).
    try:
        with np.load(test_set_path, allow_pickle=False) as test_set:
            test_inputs, test_labels = test_set["inputs"], test_set["labels"]
        labels = summary["labels"]
        if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
            raise ValueError("'labels' must be a non-empty list of class names")
        return RunFolder(
            path=run_dir,
            labels=tuple(labels),
            tflite=run_dir / Path(str(summary.get("tflite", TFLITE_FILE))).name,
            test_inputs=test_inputs,
            test_labels=test_labels,
            audio=audio_of(summary),
            config=summary.get("config"),
            summary=summary,
        )
    except (KeyError, TypeError, ValueError, AttributeError, OSError, zipfile.BadZipFile) as e:
        raise TinyascError(f"{run_dir} is a damaged training run ({type(e).__name__}: {str(e)[:120]}); "
                           f"re-run `tinyasc train --out {run_dir}`") from None


def training_section(summary: dict) -> dict:
    """What the export's manifest keeps of a run (its "run" section, shown by the HTML report): test accuracy and log loss,
    float and int8 (TFLM's interpreter), how the int8 model was made, and accuracy per input level."""
    float_metrics = summary.get("float_test_metrics") or {}
    int8_metrics = (summary.get("int8_test_metrics") or summary.get("qat_test_metrics")
                    or summary.get("ptq_test_metrics") or {})
    calibration = summary.get("ptq_calibration") or {}
    return {
        "float_test_accuracy": float_metrics.get("accuracy"), "float_test_log_loss": float_metrics.get("log_loss"),
        "int8_test_accuracy": int8_metrics.get("accuracy"), "int8_test_log_loss": int8_metrics.get("log_loss"),
        "quantization": summary.get("quantization"),
        "ptq_input_range": calibration.get("chosen"),
        "ptq_candidates": calibration.get("candidates"),
        "qat_decision": summary.get("qat_decision"),
        "accuracy_by_level": summary.get("accuracy_by_level"),
    }
