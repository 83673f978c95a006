"""Evaluation per recording: a model trained on crops scores a whole recording by averaging its
logits over the recording's crops (IDLab train on 3-s crops and test on 10-s clips; the DCASE
metrics are per recording). Metrics: accuracy, macro-F1, log loss, confusion matrix.

The metrics are plain numpy (`recording_metrics`), so they are tested without TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from tinyasc.errors import DatasetError, TinyascError

LOG_LOSS_FLOOR = 1e-15  # clip probabilities as scikit-learn's log_loss does: one wrong 0 is not infinite


@dataclass(frozen=True)
class RecordingMetrics:
    """Per-recording scores. confusion[i, j]: recordings of class i predicted as class j."""

    accuracy: float
    macro_f1: float
    log_loss: float
    confusion: np.ndarray
    recordings: int

    def as_dict(self) -> dict:
        return {
            "accuracy": self.accuracy, "macro_f1": self.macro_f1, "log_loss": self.log_loss,
            "confusion": self.confusion.tolist(), "recordings": self.recordings,
        }


def crop_starts(num_samples: int, crop_samples: int, hop_samples: int | None = None) -> list[int]:
    """Start offsets of crops covering a recording: every hop (default: the crop length, no
    overlap), plus a last crop flush with the end so no tail is ignored."""
    if crop_samples > num_samples:
        raise TinyascError(
            f"crops of {crop_samples} samples do not fit recordings of {num_samples}; use a shorter crop"
        )
    hop = hop_samples or crop_samples
    starts = list(range(0, num_samples - crop_samples + 1, hop))
    if starts[-1] != num_samples - crop_samples:
        starts.append(num_samples - crop_samples)
    return starts


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
    waveforms = np.asarray(waveforms, dtype=np.float32)
    starts = crop_starts(waveforms.shape[1], crop_samples, hop_samples)
    crops = np.stack([waveforms[:, s:s + crop_samples] for s in starts], axis=1)  # [N, crops, crop(, C)]
    logits = np.asarray(predict(crops.reshape((-1, crop_samples) + waveforms.shape[2:])))
    return logits.reshape(len(waveforms), len(starts), -1).mean(axis=1)


def recording_metrics(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> RecordingMetrics:
    """Accuracy, macro-F1 (mean over classes of 2·TP / (2·TP + FP + FN); a class that is neither
    present nor predicted counts as F1 = 1), log loss of softmax(logits), confusion matrix."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        raise DatasetError("cannot evaluate zero recordings; check the split has clips")
    predicted = logits.argmax(axis=1)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)

    true_positives = np.diag(confusion).astype(np.float64)
    errors = confusion.sum(axis=0) + confusion.sum(axis=1) - 2 * true_positives  # FP + FN
    denominator = 2 * true_positives + errors
    f1 = np.where(denominator > 0, 2 * true_positives / np.maximum(denominator, 1), 1.0)

    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    true_log_probability = np.maximum(log_probabilities[np.arange(len(labels)), labels], np.log(LOG_LOSS_FLOOR))
    return RecordingMetrics(
        accuracy=float(np.mean(predicted == labels)),
        macro_f1=float(f1.mean()),
        log_loss=float(-true_log_probability.mean()),
        confusion=confusion,
        recordings=len(labels),
    )


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
