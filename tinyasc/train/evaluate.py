"""Evaluation per recording: a model trained on crops scores a whole recording by averaging its
logits over the recording's crops (IDLab train on 3-s crops and test on 10-s clips; the DCASE
metrics are per recording). Metrics: accuracy, macro-F1, log loss, confusion matrix.

The metrics are plain numpy (tinyasc/report/metrics.py `recording_metrics`), shared with
`tinyasc emulate --audio`, which scores the device's outputs without TensorFlow; so is the
windowing (tinyasc/data/loader.py `crop_starts`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from tinyasc.data.loader import crop_starts
from tinyasc.report.metrics import RecordingMetrics, recording_metrics

RECORDING_CHUNK = 32  # recordings read and scored at once (memory: a chunk, whatever the split's size)

__all__ = ["RecordingMetrics", "crop_starts", "evaluate_recordings", "recording_logits", "recording_metrics"]


def recording_logits(
    predict: Callable[[np.ndarray], np.ndarray],
    waveforms: np.ndarray,
    crop_samples: int,
    hop_samples: int | None = None,
) -> np.ndarray:
    """[N, T] (or [N, T, C]) recordings → [N, classes] logits, the mean of `predict` over each
    recording's crops.

    predict: [M, crop_samples] waveforms → [M, classes] logits (features and model together).
    """
    starts = crop_starts(waveforms.shape[1], crop_samples, hop_samples)
    means = []
    # A chunk of recordings at a time, so a streamed dataset (data/clips.py) is never all in memory.
    for first in range(0, len(waveforms), RECORDING_CHUNK):
        chunk = np.asarray(waveforms[first:first + RECORDING_CHUNK], dtype=np.float32)
        crops = np.stack([chunk[:, s:s + crop_samples] for s in starts], axis=1)  # [n, crops, crop(, C)]
        logits = np.asarray(predict(crops.reshape((-1, crop_samples) + chunk.shape[2:])))
        means.append(logits.reshape(len(chunk), len(starts), -1).mean(axis=1))
    return np.concatenate(means)


def evaluate_recordings(
    model,
    dataset,
    crop_samples: int | None = None,
    hop_samples: int | None = None,
    input_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    batch_size: int = 64,
) -> RecordingMetrics:
    """Score every recording of `dataset` (an AudioDataset; pass a subset to pick a split) with the
    float Keras model, averaging logits over crops of `crop_samples` (default: the whole clip)."""
    from tinyasc.train.loop import as_model_input

    input_fn = input_fn or as_model_input
    crop_samples = crop_samples or dataset.x.shape[1]

    def predict(crops: np.ndarray) -> np.ndarray:
        return model.predict(input_fn(crops), batch_size=batch_size, verbose=0)

    logits = recording_logits(predict, dataset.x, crop_samples, hop_samples)
    return recording_metrics(logits, dataset.y, len(dataset.labels))
