"""Train a Keras classifier on an AudioDataset, with checkpoints that survive a kill.

What a run directory holds after each finished epoch (all written atomically):

    run_dir/ckpt/ckpt-<epoch>.*   TF checkpoint: weights + optimizer state (Adam moments, step)
    run_dir/state.json            epochs done, the checkpoint that goes with them, history, best val acc
    run_dir/history.csv           one row per epoch: epoch, loss, accuracy, val_loss, val_accuracy,
                                  learning_rate (at the epoch's end)
    run_dir/model.h5              the model with the best validation accuracy so far

`state.json` is written last and names its checkpoint, so a kill at any moment leaves a consistent
pair to resume from. Each epoch's shuffle order and augmentation depend only on (seed, epoch), and
the plateau schedule and early stopping only on the history, so a resumed run sees the same batches
and rates, and stops at the same epoch, as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import errno
import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from tinyasc.data.augment import AugmentSettings
from tinyasc.data.pipeline import InputTimes
from tinyasc.data.loader import AudioDataset
from tinyasc.errors import DatasetError, TinyascError
from tinyasc.tf_env import import_tf
from tinyasc.train.progress import HISTORY_KEYS, epoch_progress, epoch_timer, progress_bar
from tinyasc.train.schedules import PlateauSchedule, should_stop_early

STATE_FILE = "state.json"
HISTORY_FILE = "history.csv"
BEST_MODEL_FILE = "model.h5"
CHECKPOINT_DIR = "ckpt"
EVALUATION_CHUNK = 32  # clips read, featurised and scored at once by the evaluations
THROUGHPUT_KEY = "throughput"  # state.json: one record per epoch (train/progress.py epoch_timer); not history


@dataclass
class TrainResult:
    """The trained model (best validation weights), its history and where it was saved."""

    model: object
    history: dict[str, list[float]]
    best_path: Path
    val_accuracy: float
    throughput: list[dict] | None = None  # per epoch: clips/s and seconds per stage (progress.epoch_timer)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and TF, and make TF ops deterministic. Call before building a model
    so that its initial weights are reproducible too."""
    tf, keras = import_tf()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def as_model_input(x: np.ndarray) -> np.ndarray:
    """[N, T] (or [N, T, C]) waveforms → [N, T, 1, 1] ([N, T, 1, C]) float32, the 2-D form every
    tinyasc model takes."""
    x = np.asarray(x, dtype=np.float32)
    return x.reshape(len(x), x.shape[1], 1, -1)


def train_model(
    model,
    dataset: AudioDataset,
    run_dir: str | os.PathLike,
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
    resume: bool = False,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    strategy=None,
    input_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    callbacks: tuple = (),
    augmentation: AugmentSettings | None = None,
    early_stopping_patience: int | None = None,
    feature_key: str | None = None,
) -> TrainResult:
    """Train `model` on the dataset's train split, validating on its val split, for `epochs` epochs.

    Adam on sparse categorical cross-entropy from logits. With resume=True and a previous run in
    `run_dir`, continue after its last finished epoch (weights, optimizer and history restored);
    otherwise start from the model's current weights. Returns the best-validation model.

    learning_rate: a float, a keras LearningRateSchedule (train/schedules.py; it is a function of
    the optimizer step, which the checkpoint restores) or a PlateauSchedule (a function of the
    validation losses so far, which state.json restores). optimizer: "adam", where weight_decay is an
    L2 penalty on kernels as PyTorch's Adam(weight_decay=) applies it (IDLab's recipe), or "adamw",
    decoupled decay. strategy: a tf.distribute.Strategy (see `make_strategy`) under whose scope
    `model` was built, or None. input_fn: [N, T] waveforms → model inputs (default: the 2-D form
    [N, T, 1, 1]). callbacks: extra Keras callbacks for every epoch's fit.

    augmentation: the training split goes through augment.tf_dataset (validation never does); labels
    become one-hot (mixup and CutMix mix them) and the loss categorical cross-entropy. With random
    crops the model sees crops: validation scores every crop of each validation clip
    (back to back, evaluate.crop_starts). early_stopping_patience: stop once that many epochs brought no lower
    validation loss. feature_key: a description of what input_fn computes (the feature settings);
    given, with no augmentation and a dataset streamed through a cache, the model inputs are
    computed once and cached next to the waveforms instead of every epoch.
    """
    tf, _ = import_tf()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    train, val = _train_val(dataset)
    seed_everything(seed)
    chief, write_dir = _write_dir(run_dir, strategy, resume)
    plateau = learning_rate if isinstance(learning_rate, PlateauSchedule) else None
    optimizer = _compile_for_training(model, strategy, optimizer, plateau.initial_rate if plateau else learning_rate,
                                      weight_decay, one_hot_labels=augmentation is not None)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    manager = tf.train.CheckpointManager(checkpoint, write_dir / CHECKPOINT_DIR, max_to_keep=2)
    state = (_restore(run_dir, checkpoint) if resume else None) or _fresh_state()
    best_weights = _load_best_weights(run_dir) if state["epochs_done"] else None
    input_shape, times = tuple(model.input_shape[1:]), InputTimes()
    train, val, batch_input_fn = _feature_cached(train, val, input_fn or as_model_input, input_shape, feature_key,
                                                 augmentation, times)
    validation = _validation_batches(val, len(dataset.labels), augmentation, batch_input_fn, input_shape, batch_size,
                                     times)
    with progress_bar(progress) as bar:
        for epoch in range(state["epochs_done"], epochs):
            if should_stop_early(state["history"]["val_loss"], early_stopping_patience):
                break
            if plateau:
                optimizer.learning_rate = plateau.rate_after(state["history"]["val_loss"])
            timer = epoch_timer(len(train), times)
            epoch_callbacks = [timer] + ([epoch_progress(bar, epoch, epochs, timer)] if bar else []) + list(callbacks)
            batches = _train_batches(train, len(dataset.labels), epoch, batch_size, seed, augmentation,
                                     batch_input_fn, input_shape, times)
            fit = model.fit(batches, epochs=epoch + 1, initial_epoch=epoch, validation_data=validation, verbose=0,
                            callbacks=epoch_callbacks)
            best_weights = _commit_epoch(model, optimizer, manager, state, fit.history, timer.last, write_dir,
                                         epoch) or best_weights

    if not chief:
        shutil.rmtree(write_dir, ignore_errors=True)
    if best_weights is not None:
        model.set_weights(best_weights)
    return TrainResult(model=model, history=state["history"], best_path=run_dir / BEST_MODEL_FILE,
                       val_accuracy=float(state["best_val_accuracy"]), throughput=state.get(THROUGHPUT_KEY))


def _feature_cached(train: AudioDataset, val: AudioDataset, input_fn, input_shape: tuple, feature_key: str | None,
                    augmentation, times):
    """(train, val, the input_fn batches still need): the splits as cached model inputs when that is
    possible (see train_model's feature_key), else as they are with input_fn."""
    from tinyasc.data.clips import ClipReader

    if not feature_key or augmentation or not all(isinstance(p.x, ClipReader) and p.x.cache for p in (train, val)):
        return train, val, input_fn
    parts = []
    for part in (train, val):
        reader = part.x.with_features(input_fn, feature_key, input_shape)
        reader.cache.times = times
        parts.append(dataclasses.replace(part, x=reader))
    return parts[0], parts[1], None


def _commit_epoch(model, optimizer, manager, state: dict, fit_history: dict, throughput: dict, write_dir: Path,
                  epoch: int):
    """Record the epoch, save the best model, the checkpoint, history.csv and state.json (last: it
    commits the epoch); returns the weights when this epoch is the best so far, else None."""
    best = None
    if _record_epoch(state, {**fit_history, "learning_rate": [_current_rate(optimizer)]}):
        best = model.get_weights()
        with _disk_full_is_an_error(write_dir, epoch):
            _save_model_atomically(model, write_dir / BEST_MODEL_FILE)
    state.setdefault(THROUGHPUT_KEY, []).append({"epoch": epoch + 1, **throughput})
    with _disk_full_is_an_error(write_dir, epoch):
        state["checkpoint"] = Path(manager.save(checkpoint_number=epoch + 1)).name
        _write_history_csv(write_dir / HISTORY_FILE, state["history"])
        _write_json_atomically(write_dir / STATE_FILE, state)  # last: it commits the epoch
    return best


def _write_dir(run_dir: Path, strategy, resume: bool) -> tuple[bool, Path]:
    """(chief, where this process saves). Every worker of a multi-worker run saves (saving takes
    part in collectives): the chief into run_dir, the others into a scratch folder deleted at the
    end. All of them resume from run_dir; a fresh run forgets the earlier one's state."""
    chief, task_id = worker_role(strategy)
    write_dir = run_dir if chief else run_dir / f".worker-{task_id}"
    if not resume or not chief:
        _forget_previous_run(write_dir)
    return chief, write_dir


def worker_role(strategy) -> tuple[bool, int]:
    """(whether this process writes the run, its worker index): the chief of a multi-worker
    strategy's $TF_CONFIG cluster (the "chief" task, else worker 0), or the only process."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    task_id = int(getattr(resolver, "task_id", 0) or 0)
    if task_type in (None, "chief"):
        return True, task_id
    has_chief = "chief" in (resolver.cluster_spec().as_dict() if resolver else {})
    return task_type == "worker" and task_id == 0 and not has_chief, task_id


def _validation_batches(val: AudioDataset, num_classes: int, augmentation: AugmentSettings | None, input_fn,
                        input_shape: tuple, batch_size: int, times):
    """Batches of the val split, read clip by clip: every crop of each clip when training on random
    crops, labels one-hot when augmentation mixes them."""
    from tinyasc.data.pipeline import waveform_batches

    return waveform_batches(val.x, val.y, batch_size, input_fn=input_fn, input_shape=input_shape, times=times,
                            num_classes=num_classes if augmentation else None,
                            crop_samples=augmentation.crop_samples if augmentation else None)


def _compile_for_training(model, strategy, optimizer: str, learning_rate, weight_decay: float, one_hot_labels: bool):
    """Compile `model` with the optimizer (built, so a checkpoint can restore Adam's moments) and
    cross-entropy from logits (categorical when mixup or CutMix make the labels one-hot)."""
    tf, keras = import_tf()
    with (strategy or tf.distribute.get_strategy()).scope():
        optimizer = _make_optimizer(optimizer, learning_rate, weight_decay, model)
        loss = (keras.losses.CategoricalCrossentropy(from_logits=True) if one_hot_labels
                else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
        optimizer.build(model.trainable_variables)
    return optimizer


def _train_batches(train: AudioDataset, num_classes: int, epoch: int, batch_size: int, seed: int,
                   augmentation: AugmentSettings | None, input_fn, input_shape: tuple, times):
    """The batches of epoch `epoch`, read clip by clip. They depend on (seed, epoch) only, so a
    resumed run sees the same ones: augmented batches from augment.tf_dataset, else the clips in a
    seeded order."""
    if augmentation:
        from tinyasc.data.augment import tf_dataset

        return tf_dataset(train.x, train.y, num_classes, augmentation, batch_size, seed, epoch,
                          input_fn=input_fn, input_shape=input_shape, times=times)
    from tinyasc.data.pipeline import waveform_batches

    order = np.random.default_rng([seed, epoch]).permutation(len(train))
    return waveform_batches(train.x, train.y, batch_size, order=order, input_fn=input_fn, input_shape=input_shape,
                            times=times)


STRATEGY_NAMES = ("none", "mirrored", "multi_worker_mirrored")


def make_strategy(name: str):
    """The tf.distribute strategy a config names: "none" (None: TF's default, one device),
    "mirrored" (every local GPU, or the logical CPUs set up before TF initialises) or
    "multi_worker_mirrored" (the workers in $TF_CONFIG; one worker when it is unset).
    Build the model under `strategy.scope()` and pass the strategy to train_model."""
    if name not in STRATEGY_NAMES:
        raise TinyascError(f"unknown distribution strategy {name!r}; expected one of {', '.join(STRATEGY_NAMES)}")
    if name == "none":
        return None
    tf, _ = import_tf()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MultiWorkerMirroredStrategy()


def _make_optimizer(name: str, learning_rate, weight_decay: float, model):
    """Adam with weight decay the way `name` says (see train_model). Coupled L2 is added to the
    model's losses once: loss + wd/2·Σw² has the gradient wd·w that PyTorch's Adam adds."""
    tf, keras = import_tf()
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay)
    if name != "adam":
        raise TinyascError(f"unknown optimizer {name!r}; expected adam or adamw")
    if weight_decay > 0 and not getattr(model, "_tinyasc_l2", False):
        kernels = [w for w in model.trainable_weights if "kernel" in w.name]
        model.add_loss(lambda: 0.5 * weight_decay * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels]))
        model._tinyasc_l2 = True
    return keras.optimizers.Adam(learning_rate=learning_rate)


def _current_rate(optimizer) -> float:
    """The rate the optimizer uses now (a schedule's value at the current step)."""
    rate = optimizer.learning_rate
    if callable(rate):
        rate = rate(optimizer.iterations)
    return float(np.asarray(rate))


def _fresh_state() -> dict:
    return {"epochs_done": 0, "history": {k: [] for k in HISTORY_KEYS}, "best_val_accuracy": -1.0}


def _record_epoch(state: dict, fit_history: dict) -> bool:
    """Append one epoch's metrics to state; True when its val accuracy is the best so far."""
    for key in HISTORY_KEYS:
        state["history"].setdefault(key, []).append(float(fit_history[key][-1]))
    state["epochs_done"] += 1
    val_accuracy = state["history"]["val_accuracy"][-1]
    if val_accuracy > state["best_val_accuracy"]:
        state["best_val_accuracy"] = val_accuracy
        return True
    return False


def evaluate_float(model, dataset: AudioDataset, batch_size: int = 64, input_fn=None) -> float:
    """Top-1 accuracy of the float model on every clip of `dataset` (pass a subset to pick a split)."""
    if len(dataset) == 0:
        raise DatasetError("cannot evaluate on an empty dataset; check the CSV has clips in this split")
    input_fn = input_fn or as_model_input
    correct = 0
    for start in range(0, len(dataset), EVALUATION_CHUNK):  # chunks: a streamed dataset stays on disk
        clips = np.asarray(dataset.x[start:start + EVALUATION_CHUNK], dtype=np.float32)
        logits = model.predict(input_fn(clips), batch_size=batch_size, verbose=0)
        correct += int(np.sum(np.argmax(logits, axis=1) == dataset.y[start:start + EVALUATION_CHUNK]))
    return correct / len(dataset)


def _train_val(dataset: AudioDataset) -> tuple[AudioDataset, AudioDataset]:
    train, val = dataset.subset("train"), dataset.subset("val")
    for name, part in (("train", train), ("val", val)):
        if len(part) == 0:
            raise DatasetError(
                f"the dataset has no clips in split {name!r}; give some rows split={name} in its CSV"
            )
    return train, val


def _forget_previous_run(run_dir: Path) -> None:
    """Delete an earlier run's resume state, so a fresh run killed in its first epoch can't later
    be "resumed" from the old run's checkpoint."""
    (run_dir / STATE_FILE).unlink(missing_ok=True)
    shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)


def _restore(run_dir: Path, checkpoint) -> dict | None:
    """Load state.json and the checkpoint it names; None when there is nothing to resume."""
    state_path = run_dir / STATE_FILE
    if not state_path.is_file():
        return None
    tf, _ = import_tf()
    state = json.loads(state_path.read_text())
    try:
        checkpoint.restore(str(run_dir / CHECKPOINT_DIR / state["checkpoint"])).assert_existing_objects_matched()
    except (AssertionError, ValueError, KeyError, tf.errors.OpError) as err:
        raise TinyascError(
            f"{run_dir}: cannot resume, its checkpoint does not match this model or is damaged ({err}); "
            "train with resume=False or into a new run directory"
        ) from err
    return state


def _load_best_weights(run_dir: Path) -> list | None:
    """Weights of the best model saved by an earlier (resumed) run, without disturbing `model`."""
    best = run_dir / BEST_MODEL_FILE
    if not best.is_file():
        return None
    _, keras = import_tf()
    return keras.models.load_model(best, compile=False).get_weights()


def _save_model_atomically(model, path: Path) -> None:
    """Save as .h5 (DESIGN §3: QAT models do not reload from .keras), via a temporary file."""
    tmp = path.with_name(path.stem + ".tmp.h5")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*HDF5 file.*legacy", category=UserWarning)
            model.save(tmp, include_optimizer=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


DISK_FULL_TEXTS = ("No space left on device", "Disk quota exceeded")


@contextlib.contextmanager
def _disk_full_is_an_error(run_dir: Path, epoch: int):
    """A full disk while saving an epoch (TensorFlow, h5py and Python each say it differently) is a
    one-line TinyascError; half-written temporaries are removed, the last committed epoch stays."""
    try:
        yield
    except Exception as error:
        full = getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or any(
            text in str(error) for text in DISK_FULL_TEXTS)
        if not full:
            raise
        for temporary in (run_dir / CHECKPOINT_DIR).glob("*_temp*"):
            shutil.rmtree(temporary, ignore_errors=True)
        raise TinyascError(f"{run_dir}: no space left on device while saving epoch {epoch + 1}; the run keeps its "
                           "last complete epoch: free some space, then continue with --resume") from None


def _write_json_atomically(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def _write_history_csv(path: Path, history: dict[str, list[float]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("epoch",) + HISTORY_KEYS)
        for epoch, values in enumerate(zip(*(history[k] for k in HISTORY_KEYS)), start=1):
            writer.writerow((epoch,) + tuple(f"{v:.6f}" for v in values))
    os.replace(tmp, path)
