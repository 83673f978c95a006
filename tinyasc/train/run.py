"""A training run on disk: data → trained model → int8 `.tflite`, in one folder.

`runs/<name>/` holds the Keras checkpoints and best model (train/loop.py), `model_int8.tflite`,
`test_set.npz` (the test split already quantized to the model's int8 input, with labels) and
`run.json` (labels, accuracies, file names, the audio facts). The folder's reader and writer are
tinyasc/artifacts/run.py, which `tinyasc export --run runs/<name>` uses without this module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
from pathlib import Path

import numpy as np

from tinyasc.artifacts.audio import AudioInput
from tinyasc.artifacts.run import RUN_FILE, TFLITE_FILE, write_run  # noqa: F401 (RUN_FILE: the run folder's names)
from tinyasc.errors import TinyascError
SYNTHETIC_DIR = "data/synthetic"
CACHE_DIR = "cache"  # the waveform cache's default place, inside the run folder
TEST_CHUNK = 32  # test clips turned into int8 device inputs at once


def resolve_dataset(data: str, work_dir: Path, run_dir: Path, clips_per_class: int = 40,
                    sample_rate: int = 16000, duration_s: float = 1.0, channels: int = 1,
                    skip_bad_files: bool = False, stream: bool = False, cache_dir: Path | None = None):
    """'synthetic' → the built-in set (generated once under work_dir/data/synthetic); 'spoken-digits'
    or 'spoken-commands' → espeak-ng speech (once, under work_dir/data/spoken-digits-<rate>hz); a CSV; or a
    dataset root (folder per class, ESC-50, UrbanSound8K, TAU; see tinyasc/data/layouts.py).
    Clips are resampled to `sample_rate` and cut or padded to `duration_s`; channels > 1 keeps a
    stereo file's channels (and repeats a mono file's). stream: clips are read as they are used
    (data/clips.py), through a waveform cache in `cache_dir` when given (data/cache.py)."""
    from tinyasc.data import load_csv_dataset, make_synthetic_dataset
    from tinyasc.data.layouts import dataset_csv

    if data == "synthetic":
        # Made at the config's own rate and length, so a 10-s 18-kHz config trains on 10-s clips.
        csv = make_synthetic_dataset(synthetic_dir(work_dir, sample_rate, duration_s), clips_per_class=clips_per_class,
                                     sample_rate=sample_rate, duration_s=duration_s)
    elif data in ("spoken-digits", "spoken-commands"):
        # espeak-ng speech at the config's rate and length (tinyasc/data/spoken_digits.py), made once.
        from tinyasc.data import spoken_digits

        csv = spoken_digits.make_spoken_digits_dataset(
            spoken_digits.spoken_dataset_dir(work_dir, data, sample_rate, duration_s), sample_rate=sample_rate,
            duration_s=duration_s, commands=data == "spoken-commands", progress=True)
    else:
        csv = dataset_csv(data, run_dir)
    return load_csv_dataset(csv, sample_rate=sample_rate, duration_s=duration_s, channels=channels,
                            skip_bad_files=skip_bad_files, stream=stream, cache_dir=cache_dir if stream else None)


def cache_dataset(data: str = "synthetic", run_dir: Path = Path("runs/demo"), config=None, cache_dir=None,
                  work_dir: Path = Path("."), clips_per_class: int = 40, skip_bad_files: bool = False,
                  workers: int = 2, progress: bool = True) -> dict:
    """Decode every clip of a dataset into the waveform cache `train_run` would read (data/cache.py),
    with a progress bar; shards already there are kept. Returns what the cache holds."""
    from tinyasc.data.cache import WaveformCache

    config = _resolved_config(config, "anchor_cnn", 3e-3, None, None, None)
    run_dir = Path(run_dir)
    cache_dir = Path(cache_dir) if cache_dir else run_dir / CACHE_DIR
    dataset = _streamed_dataset(config, data, work_dir, run_dir, clips_per_class, skip_bad_files, cache_dir)
    cache: WaveformCache = dataset.x.cache
    with _shard_progress(progress) as report:
        built = cache.build(workers=workers, progress=report)
    return {"folder": str(cache.folder), "clips": len(cache.paths), "shards": cache.shard_count, "built": built,
            "bytes": cache.size_bytes()}


@contextlib.contextmanager
def _shard_progress(enabled: bool):
    """A callback(done, total) drawing a rich bar on a terminal, a line per 10 % elsewhere."""
    import sys

    if not enabled:
        yield None
        return
    if sys.stdout.isatty():
        from rich.progress import Progress

        with Progress() as bar:
            task = bar.add_task("decoding into the cache (shards)", total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total)
        return

    def lines(done: int, total: int) -> None:
        if total and (done == total or done % max(1, total // 10) == 0):
            print(f"cache: {done}/{total} shards", flush=True)

    yield lines


def synthetic_dir(work_dir: Path, sample_rate: int, duration_s: float) -> Path:
    """data/synthetic for the demo's 1-s 16-kHz clips; other rates and lengths get folders of their own."""
    from tinyasc.data.synthetic import SYNTHETIC_SAMPLE_RATE

    if (sample_rate, duration_s) == (SYNTHETIC_SAMPLE_RATE, 1.0):
        return Path(work_dir) / SYNTHETIC_DIR
    return Path(work_dir) / f"{SYNTHETIC_DIR}-{sample_rate}hz-{duration_s:g}s"


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
    skip_bad_files: bool = False,
    cache_dir: Path | None = None,
    cache: bool = True,
) -> dict:
    """Dataset → trained model → int8 .tflite, test set and run.json in `run_dir`.

    config: an ExperimentConfig or the path of a YAML file (configs/*.yaml); it then decides the
    model, data, features, recipe and strategy, and model_name/learning_rate are ignored. Without
    it, the legacy recipe (`legacy_config`). epochs, batch_size and seed override either when given.
    skip_bad_files: unreadable audio files are left out and counted in run.json instead of stopping.
    Clips are streamed from disk (memory does not grow with the dataset) through a cache of decoded
    waveforms in `cache_dir` (default: run_dir/cache); cache=False decodes every clip every epoch.
    In a multi-worker run only the chief evaluates, converts and writes run.json; the other workers
    return {"worker": index} once training ends.
    """
    config = _resolved_config(config, model_name, learning_rate, epochs, batch_size, seed)

    from tinyasc.train import make_strategy, seed_everything, train_model
    from tinyasc.train.evaluate import evaluate_recordings
    from tinyasc.train.loop import worker_role
    from tinyasc.train.prune import prune_configured

    recipe = config.training
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    dataset = _streamed_dataset(config, data, work_dir, run_dir, clips_per_class, skip_bad_files,
                                (Path(cache_dir) if cache_dir else run_dir / CACHE_DIR) if cache else None)
    test = _test_split(dataset, data)
    augmentation = augment_settings(config)
    # Trained on random crops, the model takes crops; recordings are scored by averaging over crops.
    model_samples = (augmentation.crop_samples if augmentation else None) or dataset.num_samples
    input_fn, input_kwargs = model_input(config, model_samples)
    strategy = make_strategy(config.distribution.strategy)
    seed_everything(recipe.seed)
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = build_configured_model(config, len(dataset.labels), input_kwargs)
    trained = train_model(
        model, dataset, run_dir, epochs=recipe.epochs, batch_size=recipe.batch_size,
        learning_rate=learning_rate_for(config, len(dataset.subset("train"))), seed=recipe.seed,
        progress=progress, resume=resume, optimizer=recipe.optimizer, weight_decay=recipe.weight_decay,
        strategy=strategy, input_fn=input_fn, augmentation=augmentation,
        early_stopping_patience=recipe.early_stopping_patience, feature_key=_feature_key(config, model_samples),
    )
    chief, task_id = worker_role(strategy)
    if not chief:
        return {"worker": task_id, "epochs_done": len(trained.history["loss"])}
    # Pruning (when configured) fine-tunes the trained model; everything after sees the pruned one.
    trained, pruning_report = prune_configured(config, trained, dataset, run_dir, input_fn=input_fn,
                                               augmentation=augmentation, progress=progress, resume=resume)
    test_metrics = evaluate_recordings(trained.model, test, crop_samples=model_samples, input_fn=input_fn)
    tflite, test_inputs, conversion_report = _calibrate_and_convert(config, trained.model, dataset, run_dir,
                                                                    input_fn, model_samples, progress)
    summary = {
        "model": config.model.name, "data": data, "labels": list(dataset.labels),
        "skipped_files": [{"file": path, "why": why} for path, why in dataset.skipped],
        "parameters": int(trained.model.count_params()),
        **pruning_report,
        "epochs": recipe.epochs, "epochs_done": len(trained.history["loss"]), "input_samples": model_samples,
        "audio": audio_input(config, model_samples).to_dict(),
        "val_accuracy": trained.val_accuracy, "throughput": trained.throughput or [],
        "float_test_accuracy": test_metrics.accuracy, "float_test_metrics": test_metrics.as_dict(),
        **conversion_report, "test_clips": len(test),
        **_tflite_figures(trained.model, run_dir, tflite),
        "config": dataclasses.asdict(config),
    }
    write_run(run_dir, summary, test_inputs, test.y)
    return {**summary, "tflite": str(tflite)}


def _streamed_dataset(config, data: str, work_dir: Path, run_dir: Path, clips_per_class: int, skip_bad_files: bool,
                      cache_dir: Path | None):
    """The config's dataset, streamed from disk through the waveform cache in cache_dir (None: no cache)."""
    # Log-mel features are computed from mono audio, so only raw-waveform models load channels.
    channels = config.data.channels if config.features.kind == "raw" else 1
    return resolve_dataset(data, work_dir, run_dir, clips_per_class, config.data.sample_rate, config.data.duration_s,
                           channels, skip_bad_files, stream=True, cache_dir=cache_dir)


def _feature_key(config, model_samples: int) -> str | None:
    """What the log-mel input_fn computes, as the features cache's key; None for raw waveforms,
    whose input is (nearly) the cached waveform already."""
    if config.features.kind != "logmel":
        return None
    import json

    return json.dumps([dataclasses.asdict(config.features), config.data.sample_rate, model_samples], sort_keys=True)


def _test_split(dataset, data: str):
    test = dataset.subset("test")
    if len(test) == 0:
        raise TinyascError(f"{data}: the dataset has no 'test' split; add a split column with train/val/test")
    return test


def _calibrate_and_convert(config, model, dataset, run_dir: Path, input_fn, model_samples: int, progress: bool):
    """Calibration (fused into the final dense layer), then PTQ and maybe QAT into the int8 .tflite
    (train/ptq.py); returns (its path, the test split as int8 model inputs, the reports for run.json,
    accuracy by input level included). One model input per
    test recording: its first crop when the model takes crops."""
    from tinyasc.artifacts.tflm import quantize_input, tflite_io_details
    from tinyasc.convert.quantize import check_finite_weights
    from tinyasc.train.calibrate import calibrate_configured
    from tinyasc.train.ptq import quantize_configured

    check_finite_weights(model)  # a diverged run stops here, not in the calibrator or the int8 converter
    calibration_report = calibrate_configured(config, model, dataset, input_fn, model_samples)
    representative = input_fn(dataset.subset("train").x[:100, :model_samples])
    tflite, quantization_report = quantize_configured(
        config, model, dataset, run_dir, run_dir / TFLITE_FILE, representative, input_fn, model_samples,
        progress=progress,
    )
    io = tflite_io_details(tflite)["input"]
    test = dataset.subset("test")
    chunks = []
    for first in range(0, len(test), TEST_CHUNK):  # a streamed test split is read a chunk at a time
        clips = np.asarray(test.x[first:first + TEST_CHUNK], dtype=np.float32)[:, :model_samples]
        inputs = device_inputs(config, clips, io)
        if inputs is None:
            inputs = quantize_input(input_fn(clips), io.scale, io.zero_point).reshape(len(clips), -1)
        chunks.append(inputs)
    by_level = test_accuracy_by_level(model, tflite, test, model_samples, input_fn)
    return tflite, np.concatenate(chunks), {**calibration_report, **quantization_report, "accuracy_by_level": by_level}


def test_accuracy_by_level(model, tflite: Path, test, crop_samples: int, input_fn) -> dict:
    """Test accuracy per input-level bucket (report/levels.py: each clip's RMS dBFS) of the float
    model and of the int8 model in TFLM's interpreter, scored per recording as the metrics are."""
    from tinyasc.artifacts.tflm import dequantize, predict_int8_tflm, tflite_io_details
    from tinyasc.report.levels import LEVEL_BUCKET_TEXT, accuracy_by_level, rms_dbfs
    from tinyasc.train.evaluate import recording_logits

    output = tflite_io_details(tflite)["output"]

    def float_and_int8(crops):  # the features once (the fixed-point log-mel twin is slow), both models on them
        inputs = input_fn(crops)
        int8 = dequantize(predict_int8_tflm(tflite, inputs).reshape(len(crops), -1), output.scale, output.zero_point)
        return np.concatenate([model.predict(inputs, batch_size=64, verbose=0), int8], axis=1)

    levels = np.concatenate([rms_dbfs(test.x[first:first + TEST_CHUNK]) for first in range(0, len(test), TEST_CHUNK)])
    both = recording_logits(float_and_int8, test.x, crop_samples)
    float_logits, int8_logits = np.split(both, 2, axis=1)
    return {"level": "RMS dBFS of each test clip as loaded", "buckets": LEVEL_BUCKET_TEXT,
            "float": accuracy_by_level(float_logits.argmax(axis=1), test.y, levels),
            "int8_host": accuracy_by_level(int8_logits.argmax(axis=1), test.y, levels)}


def _resolved_config(config, model_name: str, learning_rate: float, epochs, batch_size, seed):
    """The ExperimentConfig a run trains with: the given one, a YAML file's (read before TensorFlow
    is imported, so a typo fails in a second) or the legacy recipe, with the CLI's overrides."""
    from tinyasc.config import ExperimentConfig, check_config_values, load_config

    if config is None:
        config = legacy_config(model_name, learning_rate=learning_rate)
    elif not isinstance(config, ExperimentConfig):
        config = load_config(config)
    overrides = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size), ("seed", seed)) if v is not None}
    config = dataclasses.replace(config, training=dataclasses.replace(config.training, **overrides))
    check_config_values(config, "the command line")  # --epochs/--batch-size/--seed/--model, with the config's bounds
    return config


def _tflite_figures(model, run_dir: Path, tflite: Path) -> dict:
    """The int8 file's name and size, and the measured float16 and float32 .tflite sizes of the
    same model (the papers compare those)."""
    from tinyasc.convert.float16 import tflite_sizes

    return {"tflite": TFLITE_FILE, "tflite_bytes": tflite.stat().st_size,
            "tflite_sizes": tflite_sizes(model, run_dir, tflite)}


def audio_input(config, model_samples: int) -> AudioInput:
    """The audio facts of the config's model input, for run.json, the manifest and model.h."""
    if config.features.kind == "raw":
        level = raw_level(config)
        return AudioInput(sample_rate=config.data.sample_rate, kind="raw", channels=config.data.channels,
                          input_samples=model_samples, level=level.to_dict() if level else None)
    from dataclasses import asdict

    from tinyasc.frontend.logmel import logmel_settings

    settings = logmel_settings(config.features, config.data.sample_rate)
    log_mel = {**({"preset": config.features.preset} if config.features.preset else {}), **asdict(settings),
               "hop_length": settings.hop_length, "window_length": settings.window_length}
    return AudioInput(sample_rate=config.data.sample_rate, kind="logmel", channels=1,
                      input_samples=model_samples, log_mel=log_mel)


def model_input(config, num_samples: int):
    """(input_fn, model kwargs) for the config's features: input_fn maps [N, T] mono or [N, T, C]
    waveforms to the model's input; the kwargs tell the model builder that input's shape."""
    channels = config.data.channels
    if config.features.kind == "raw":
        level = raw_level(config)

        def raw_input(x: np.ndarray) -> np.ndarray:
            from tinyasc.frontend.level import normalize

            x = raw_layout(x, channels)
            return normalize(x, level) if level else x

        return raw_input, {"input_samples": num_samples, "channels": channels}

    if channels != 1:
        raise TinyascError(
            f"log-mel features are computed from mono audio, but data.channels is {channels}; "
            "set data.channels: 1, or features.kind: raw for a binaural model"
        )
    from tinyasc.frontend.logmel import frame_count, logmel_settings
    from tinyasc.frontend.logmel_input import model_features

    settings = logmel_settings(config.features, config.data.sample_rate)

    def log_mel_input(x: np.ndarray) -> np.ndarray:
        # The device's fixed-point front-end (its numpy twin), not librosa: the network trains on
        # exactly what the board computes from the microphone.
        return model_features(x, settings)

    return log_mel_input, {"input_shape": (frame_count(num_samples, settings), settings.n_mels, 1)}


def device_inputs(config, waveforms: np.ndarray, io):
    """The int8 inputs the device's PCM front-end computes from these clips as int16 PCM, in its
    own integers (frontend/level.py, frontend/logmel_input.py); None for a raw model without level
    normalisation, whose int8 input is the float input quantized."""
    from tinyasc.frontend.level import pcm_to_model_input, to_pcm16

    if config.features.kind == "logmel":
        from tinyasc.frontend.logmel import logmel_settings
        from tinyasc.frontend.logmel_input import pcm_to_logmel_input

        settings = logmel_settings(config.features, config.data.sample_rate)
        return pcm_to_logmel_input(to_pcm16(waveforms), settings, io.scale, io.zero_point)
    level = raw_level(config)
    if level is None:
        return None
    return pcm_to_model_input(to_pcm16(raw_layout(waveforms, config.data.channels)), level, io.scale, io.zero_point)


def raw_level(config):
    """The config's level normalisation as frontend.level.LevelSettings, or None when it has none."""
    if config.features.level is None:
        return None
    from tinyasc.frontend.level import LevelSettings

    return LevelSettings(**dataclasses.asdict(config.features.level))


def raw_layout(x: np.ndarray, channels: int) -> np.ndarray:
    """[N, T] mono or [N, T, C] waveforms → [N, T, 1, channels], the raw models' 2-D form; mono data
    feeds a binaural model the same signal in each channel."""
    from tinyasc.train.loop import as_model_input

    x = as_model_input(x)
    if x.shape[-1] == channels:
        return x
    if x.shape[-1] == 1:
        return np.repeat(x, channels, axis=-1)
    raise TinyascError(
        f"the data has {x.shape[-1]} channels but data.channels is {channels}; "
        "load it with as many channels as the model takes"
    )


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
    if config.model.kwargs.get("num_classes", num_classes) != num_classes:
        raise TinyascError(f"model.kwargs.num_classes is {config.model.kwargs['num_classes']} but the dataset has "
                           f"{num_classes} classes; leave num_classes out (the dataset decides)")
    kwargs.update(config.model.kwargs)
    refused = [key for key in kwargs if key not in accepted]
    if refused:
        raise TinyascError(
            f"model {name} takes no {', '.join(refused)} (it takes {', '.join(accepted)}); raw-waveform models "
            "take input_samples and log-mel models input_shape: check features.kind and model.kwargs"
        )
    try:
        return build_model(name, **kwargs)
    except ValueError as error:  # Keras: an input too short for the model's strides, a bad kwarg value
        first_line = (str(error).strip() or type(error).__name__).splitlines()[0]
        first_line = first_line if len(first_line) <= 200 else first_line[:197] + "..."
        raise TinyascError(f"model {name} cannot be built for input {input_kwargs} ({first_line}); "
                           "use longer clips (data.duration_s) or other model.kwargs") from None


def augment_settings(config):
    """The config's augmentation section as augment.AugmentSettings, or None when it switches
    nothing on (then training is exactly the plain, unaugmented loop)."""
    from tinyasc.data.augment import AugmentSettings

    a = config.augmentation
    crop_samples = round(a.random_crop_s * config.data.sample_rate) if a.random_crop_s else None
    settings = AugmentSettings(
        sample_rate=config.data.sample_rate, crop_samples=crop_samples, speed=a.speed_perturbation,
        temporal_mask_probability=a.temporal_mask_probability, fir_probability=a.fir_filter_probability,
        noise_probability=a.noise_probability, noise_snr_db=(a.noise_min_snr_db, a.noise_max_snr_db),
        mixup_alpha=a.mixup_alpha, cutmix_alpha=a.cutmix_alpha,
    )
    return None if settings == AugmentSettings(sample_rate=config.data.sample_rate) else settings


def learning_rate_for(config, train_clips: int):
    """The config's rate: a float, a triangular2 schedule with its half cycle in optimizer steps, or
    a PlateauSchedule (halve on a stalled validation loss)."""
    rate = config.training.learning_rate
    if rate.schedule == "constant":
        return rate.max
    if rate.schedule == "plateau":
        from tinyasc.train.schedules import PlateauSchedule

        return PlateauSchedule(rate.max, factor=rate.factor, patience=rate.patience, min_rate=rate.min)
    from tinyasc.train.schedules import triangular2_schedule

    steps_per_epoch = math.ceil(train_clips / config.training.batch_size)
    return triangular2_schedule(rate.min, rate.max, max(1, round(rate.half_cycle_epochs * steps_per_epoch)))
