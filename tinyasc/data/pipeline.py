"""tf.data batches read clip by clip: the input pipeline of training and validation.

Element i of an epoch is clip order[i], read from AudioDataset.x (a numpy array or a lazy
clips.ClipReader), transformed per clip (augmentation) on PARALLEL_CLIPS threads in a fixed order,
batched, transformed per batch (mixup, CutMix, crops of a recording), then turned into model
inputs (input_fn: level normalisation, log-mel features). Every random choice is drawn by the
caller's functions from (seed, epoch, element or batch index), never from the thread that runs
it, so the batches are the same however the work is scheduled, and a resumed run sees the same
ones. At most PARALLEL_CLIPS clips and PREFETCH_BATCHES + 1 batches are in memory at once.

`InputTimes` adds up where the input's time goes (seconds over all threads): reading (decode or
cache), per-clip augmentation, per-batch work and features.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

PARALLEL_CLIPS = 4
PREFETCH_BATCHES = 2
STAGES = ("decode", "augment", "features")


@dataclass
class InputTimes:
    """Seconds spent per input stage, summed over the pipeline's threads, and clips read."""

    seconds: dict = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    clips: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, stage: str, seconds: float, clips: int = 0) -> None:
        with self._lock:
            self.seconds[stage] += seconds
            self.clips += clips

    def take(self) -> dict:
        """The totals so far, rounded for a log, and reset to zero."""
        with self._lock:
            totals = {f"{stage}_s": round(value, 3) for stage, value in self.seconds.items()}
            totals["clips_read"] = self.clips
            self.seconds, self.clips = dict.fromkeys(STAGES, 0.0), 0
        return totals


def waveform_batches(x, labels: np.ndarray, batch_size: int, *, order=None, clip_fn=None, batch_fn=None,
                     input_fn=None, input_shape=None, clip_shape=None, num_classes: int | None = None,
                     crop_samples: int | None = None, times: InputTimes | None = None):
    """A tf.data.Dataset of (inputs, labels) batches over the clips of `x`.

    order: clip index of each element (default: 0..N-1). clip_fn(waveform, i) → waveform of
    clip_shape (default: a clip's shape) for element i; batch_fn(bx, by, k) → (bx, by) for batch k.
    num_classes: labels one-hot float32 (mixup mixes them) instead of int64 ids. crop_samples: each
    clip becomes all its back-to-back crops (loader.crop_starts), each with the clip's label, as a
    recording is validated. input_fn maps a batch of waveforms to model inputs of input_shape per example.
    """
    from tinyasc.tf_env import import_tf

    tf, _ = import_tf()
    labels = np.asarray(labels)
    order = np.arange(len(labels)) if order is None else np.asarray(order)
    times = times or InputTimes()
    clip_shape = list(clip_shape or x.shape[1:])
    label_shape = [num_classes] if num_classes else []
    label_type = tf.float32 if num_classes else tf.int64
    one_hot = np.eye(num_classes, dtype=np.float32) if num_classes else None

    def read_clip(element):
        i = int(element)
        start = time.perf_counter()
        clip = np.asarray(x[int(order[i])], dtype=np.float32)
        middle = time.perf_counter()
        times.add("decode", middle - start, clips=1)
        if clip_fn is not None:
            clip = clip_fn(clip, i)
            times.add("augment", time.perf_counter() - middle)
        label = labels[order[i]]
        return clip.astype(np.float32), (one_hot[label] if num_classes else np.int64(label))

    def make_inputs(k, bx, by):
        start = time.perf_counter()
        if batch_fn is not None:
            bx, by = batch_fn(bx, by, int(k))
        if crop_samples:
            bx, by = _recording_crops(bx, by, crop_samples)
        if input_fn is not None:
            bx = input_fn(bx)
        times.add("features", time.perf_counter() - start)
        return np.asarray(bx, dtype=np.float32), np.asarray(by).astype(label_type.as_numpy_dtype)

    example_shape = list(input_shape) if input_shape is not None else (
        [crop_samples, *clip_shape[1:]] if crop_samples else clip_shape)
    dataset = tf.data.Dataset.range(len(order)).map(
        lambda i: tf.numpy_function(read_clip, [i], (tf.float32, label_type), stateful=False),
        num_parallel_calls=PARALLEL_CLIPS, deterministic=True,
    )
    dataset = dataset.map(lambda a, b: (tf.ensure_shape(a, clip_shape), tf.ensure_shape(b, label_shape)))
    dataset = dataset.batch(batch_size).enumerate().map(
        lambda k, batch: tf.numpy_function(make_inputs, [k, batch[0], batch[1]], (tf.float32, label_type),
                                           stateful=False)
    )
    dataset = dataset.map(lambda a, b: (tf.ensure_shape(a, [None, *example_shape]),
                                        tf.ensure_shape(b, [None, *label_shape])))
    options = tf.data.Options()
    # Each worker of a multi-worker run builds the same pipeline and keeps its share of every batch.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.prefetch(PREFETCH_BATCHES).with_options(options)


def _recording_crops(x: np.ndarray, y: np.ndarray, crop_samples: int):
    """Every crop of every clip of a batch, each with its clip's label."""
    from tinyasc.data.loader import crop_starts

    starts = crop_starts(x.shape[1], crop_samples)
    crops = np.stack([x[:, s:s + crop_samples] for s in starts], axis=1)
    return crops.reshape((-1, crop_samples) + x.shape[2:]), np.repeat(y, len(starts), axis=0)

