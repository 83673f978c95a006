"""A training run on disk: data → trained model → int8 `.tflite`, in one folder.

`runs/<name>/` holds the Keras checkpoints and best model (train/loop.py), `model_int8.tflite`,
`test_set.npz` (the test split already quantized to the model's int8 input, with labels) and
`run.json` (labels, accuracies, file names). `tinyasc export --run runs/<name>` reads it back.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
from pathlib import Path

import numpy as np

from tinyasc.errors import TinyascError
from tinyasc.manifest import atomic_write_text

RUN_FILE = "run.json"
TFLITE_FILE = "model_int8.tflite"
TEST_SET_FILE = "test_set.npz"
SYNTHETIC_DIR = "data/synthetic"


def resolve_dataset(data: str, work_dir: Path, run_dir: Path, clips_per_class: int = 40,
                    sample_rate: int = 16000, duration_s: float = 1.0):
    """'synthetic' → the built-in set (generated once under work_dir/data/synthetic); a CSV; or a
    dataset root (folder per class, ESC-50, UrbanSound8K, TAU; see tinyasc/data/layouts.py).
    Clips are resampled to `sample_rate` and cut or padded to `duration_s`."""
    from tinyasc.data import load_csv_dataset, make_synthetic_dataset
    from tinyasc.data.layouts import dataset_csv

    if data == "synthetic":
        csv = make_synthetic_dataset(Path(work_dir) / SYNTHETIC_DIR, clips_per_class=clips_per_class)
    else:
        csv = dataset_csv(data, run_dir)
    return load_csv_dataset(csv, sample_rate=sample_rate, duration_s=duration_s)


def legacy_config(model_name: str = "anchor_cnn", epochs: int = 12, batch_size: int = 32,
                  learning_rate: float = 3e-3, seed: int = 0):
    """The config `train_run` used before configs existed: raw 16-kHz 1-s mono clips, Adam at a
    constant rate, one device."""
    from tinyasc.config import ExperimentConfig, LearningRateConfig, ModelConfig, TrainingConfig

    return ExperimentConfig(
        model=ModelConfig(name=model_name),
        training=TrainingConfig(
            epochs=epochs, batch_size=batch_size, seed=seed,
            learning_rate=LearningRateConfig(schedule="constant", max=learning_rate),
        ),
    )


def train_run(
    data: str = "synthetic",
    run_dir: Path = Path("runs/demo"),
    model_name: str = "anchor_cnn",
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float = 3e-3,
    seed: int | None = None,
    resume: bool = False,
    progress: bool = True,
    work_dir: Path = Path("."),
    clips_per_class: int = 40,
    config=None,
) -> dict:
    """Dataset → trained model → int8 .tflite, test set and run.json in `run_dir`.

    config: an ExperimentConfig or the path of a YAML file (configs/*.yaml); it then decides the
    model, data, features, recipe and strategy, and model_name/learning_rate are ignored. Without
    it, the legacy recipe (`legacy_config`). epochs, batch_size and seed override either when given.
    """
    import dataclasses

    from tinyasc.config import ExperimentConfig, load_config

    if config is None:
        config = legacy_config(model_name, learning_rate=learning_rate)
    elif not isinstance(config, ExperimentConfig):
        config = load_config(config)  # before TensorFlow is imported: a typo fails in a second

    from tinyasc.convert import quantize_input, quantize_int8, tflite_io_details
    from tinyasc.train import make_strategy, seed_everything, train_model
    from tinyasc.train.evaluate import evaluate_recordings

    overrides = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size), ("seed", seed)) if v is not None}
    config = dataclasses.replace(config, training=dataclasses.replace(config.training, **overrides))
    recipe = config.training

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    dataset = resolve_dataset(data, work_dir, run_dir, clips_per_class, config.data.sample_rate, config.data.duration_s)
    test = dataset.subset("test")
    if len(test) == 0:
        raise TinyascError(f"{data}: the dataset has no 'test' split; add a split column with train/val/test")
    input_fn, input_kwargs = model_input(config, dataset.num_samples)
    strategy = make_strategy(config.distribution.strategy)
    seed_everything(recipe.seed)
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = build_configured_model(config, len(dataset.labels), input_kwargs)
    trained = train_model(
        model, dataset, run_dir, epochs=recipe.epochs, batch_size=recipe.batch_size,
        learning_rate=learning_rate_for(config, len(dataset.subset("train"))), seed=recipe.seed,
        progress=progress, resume=resume, optimizer=recipe.optimizer, weight_decay=recipe.weight_decay,
        strategy=strategy, input_fn=input_fn,
    )
    test_metrics = evaluate_recordings(trained.model, test, input_fn=input_fn)
    tflite = quantize_int8(trained.model, input_fn(dataset.subset("train").x[:100]), run_dir / TFLITE_FILE)
    io = tflite_io_details(tflite)["input"]
    test_inputs = quantize_input(input_fn(test.x), io.scale, io.zero_point).reshape(len(test), -1)
    np.savez_compressed(run_dir / TEST_SET_FILE, inputs=test_inputs, labels=test.y)
    summary = {
        "model": config.model.name,
        "data": data,
        "labels": list(dataset.labels),
        "parameters": int(trained.model.count_params()),
        "epochs": recipe.epochs,
        "val_accuracy": trained.val_accuracy,
        "float_test_accuracy": test_metrics.accuracy,
        "float_test_metrics": test_metrics.as_dict(),
        "test_clips": len(test),
        "tflite": TFLITE_FILE,
        "tflite_bytes": tflite.stat().st_size,
        "config": dataclasses.asdict(config),
    }
    atomic_write_text(run_dir / RUN_FILE, json.dumps(summary, indent=2) + "\n")
    return {**summary, "tflite": str(tflite)}


def model_input(config, num_samples: int):
    """(input_fn, model kwargs) for the config's features: input_fn maps [N, T] mono waveforms to
    the model's input; the kwargs tell the model builder that input's shape."""
    channels = config.data.channels
    if config.features.kind == "raw":
        def raw_input(x: np.ndarray) -> np.ndarray:
            # Mono datasets (tinyasc's loader mixes to mono) feed a binaural model the same signal twice.
            x = np.asarray(x, dtype=np.float32).reshape(len(x), -1, 1, 1)
            return np.repeat(x, channels, axis=-1) if channels > 1 else x

        return raw_input, {"input_samples": num_samples, "channels": channels}

    from tinyasc.features import frame_count, log_mel, mean_normalize_over_time, preset

    settings = preset(config.features.preset)
    if settings.sample_rate != config.data.sample_rate:
        raise TinyascError(
            f"log-mel preset {config.features.preset!r} expects {settings.sample_rate}-Hz audio but "
            f"data.sample_rate is {config.data.sample_rate}; make them equal in the config"
        )

    def log_mel_input(x: np.ndarray) -> np.ndarray:
        return mean_normalize_over_time(log_mel(x, settings))[..., np.newaxis]

    return log_mel_input, {"input_shape": (frame_count(num_samples, settings), settings.n_mels, 1)}


def build_configured_model(config, num_classes: int, input_kwargs: dict):
    """The config's model with the input shape derived from data and features; a model that takes
    one channel (the anchor) is given no `channels` argument, and refuses more than one."""
    from tinyasc.models import MODELS, build_model

    name = config.model.name
    accepted = inspect.signature(MODELS[name]).parameters
    kwargs = {"num_classes": num_classes, **input_kwargs}
    if "channels" not in accepted:
        if kwargs.pop("channels", 1) != 1:
            raise TinyascError(f"model {name} takes one input channel; set data.channels: 1")
    kwargs.update(config.model.kwargs)
    refused = [key for key in kwargs if key not in accepted]
    if refused:
        raise TinyascError(
            f"model {name} takes no {', '.join(refused)} (it takes {', '.join(accepted)}); raw-waveform models "
            "take input_samples and log-mel models input_shape: check features.kind and model.kwargs"
        )
    return build_model(name, **kwargs)


def learning_rate_for(config, train_clips: int):
    """The config's rate: a float, or a triangular2 schedule with its half cycle in optimizer steps."""
    rate = config.training.learning_rate
    if rate.schedule == "constant":
        return rate.max
    from tinyasc.train.schedules import triangular2_schedule

    steps_per_epoch = math.ceil(train_clips / config.training.batch_size)
    return triangular2_schedule(rate.min, rate.max, max(1, round(rate.half_cycle_epochs * steps_per_epoch)))


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
