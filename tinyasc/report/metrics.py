"""Scores of a classifier's outputs against labels, per recording: accuracy, macro-F1, log loss and
the confusion matrix. Plain numpy: training (tinyasc/train/evaluate.py) and `tinyasc emulate
--audio` (the device's own outputs) score with the same function, neither needing TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyasc.errors import DatasetError

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
