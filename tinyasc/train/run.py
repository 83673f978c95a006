"""A training run on disk: data → trained model → int8 `.tflite`, in one folder.

`runs/<name>/` holds the Keras checkpoints and best model (train/loop.py), `model_int8.tflite`,
`test_set.npz` (the test split already quantized to the model's int8 input, with labels) and
`run.json` (labels, accuracies, file names). `tinyasc export --run runs/<name>` reads it back.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tinyasc.errors import TinyascError
from tinyasc.manifest import atomic_write_text

RUN_FILE = "run.json"
TFLITE_FILE = "model_int8.tflite"
TEST_SET_FILE = "test_set.npz"
SYNTHETIC_DIR = "data/synthetic"


def resolve_dataset(data: str, work_dir: Path, run_dir: Path, clips_per_class: int = 40):
    """'synthetic' → the built-in set (generated once under work_dir/data/synthetic); a CSV; or a
    dataset root (folder per class, ESC-50, UrbanSound8K, TAU; see tinyasc/data/layouts.py)."""
    from tinyasc.data import load_csv_dataset, make_synthetic_dataset
    from tinyasc.data.layouts import dataset_csv

    if data == "synthetic":
        csv = make_synthetic_dataset(Path(work_dir) / SYNTHETIC_DIR, clips_per_class=clips_per_class)
    else:
        csv = dataset_csv(data, run_dir)
    return load_csv_dataset(csv)


def train_run(
    data: str = "synthetic",
    run_dir: Path = Path("runs/demo"),
    model_name: str = "anchor_cnn",
    epochs: int = 12,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    work_dir: Path = Path("."),
    clips_per_class: int = 40,
) -> dict:
    from tinyasc.convert import quantize_input, quantize_int8, tflite_io_details
    from tinyasc.models import build_model
    from tinyasc.train import evaluate_float, seed_everything, train_model

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    dataset = resolve_dataset(data, work_dir, run_dir, clips_per_class)
    test = dataset.subset("test")
    if len(test) == 0:
        raise TinyascError(f"{data}: the dataset has no 'test' split; add a split column with train/val/test")
    seed_everything(seed)
    model = build_model(model_name, num_classes=len(dataset.labels), input_samples=dataset.x.shape[1])
    trained = train_model(
        model, dataset, run_dir, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        seed=seed, progress=progress, resume=resume,
    )
    float_accuracy = evaluate_float(trained.model, test)
    tflite = quantize_int8(trained.model, dataset.subset("train").x, run_dir / TFLITE_FILE)
    io = tflite_io_details(tflite)["input"]
    test_inputs = quantize_input(test.x, io.scale, io.zero_point).reshape(len(test), -1)
    np.savez_compressed(run_dir / TEST_SET_FILE, inputs=test_inputs, labels=test.y)
    summary = {
        "model": model_name,
        "data": data,
        "labels": list(dataset.labels),
        "parameters": int(trained.model.count_params()),
        "epochs": epochs,
        "val_accuracy": trained.val_accuracy,
        "float_test_accuracy": float_accuracy,
        "test_clips": len(test),
        "tflite": TFLITE_FILE,
        "tflite_bytes": tflite.stat().st_size,
    }
    atomic_write_text(run_dir / RUN_FILE, json.dumps(summary, indent=2) + "\n")
    return {**summary, "tflite": str(tflite)}


def load_run(run_dir: Path) -> dict:
    """run.json plus absolute paths and the int8 test set, for export and evaluation."""
    run_dir = Path(run_dir)
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise TinyascError(f"{run_dir} is not a finished training run (no {RUN_FILE}); run `tinyasc train --out {run_dir}`")
    run = json.loads(path.read_text())
    test_set = np.load(run_dir / TEST_SET_FILE)
    return {
        **run,
        "tflite": run_dir / run["tflite"],
        "test_inputs": test_set["inputs"],
        "test_labels": test_set["labels"],
    }
