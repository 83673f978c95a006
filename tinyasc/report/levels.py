"""Accuracy by input level: quiet, medium and loud clips, so a quiet-clip failure of int8 is visible
(DESIGN §8: one input scale is set by the loudest calibration clips; issue 17).

A clip's level is its RMS in dBFS over the whole clip as loaded (float samples, full scale 1.0, the
channels together), computed from the audio itself, so it needs no dataset column and is the same
for training (float, int8 host) and `tinyasc emulate --audio` (QEMU). The bucket edges are fixed:

    quiet   RMS < -45 dBFS
    medium  -45 <= RMS < -30 dBFS
    loud    RMS >= -30 dBFS

Why these edges: speech peaks 15-25 dB above its RMS, so the spoken-digits set's peaks, uniform
from -40 to 0 dBFS, put roughly a third of its clips in each bucket; and a -45 dBFS RMS is about
one int8 step (1/128 of full scale = -42 dBFS) when the input scale is set by a full-scale clip.
Plain numpy: used by training, `emulate --audio` and the HTML report alike.
"""

from __future__ import annotations

import numpy as np

LEVEL_BUCKETS = (("quiet", -np.inf, -45.0), ("medium", -45.0, -30.0), ("loud", -30.0, np.inf))
LEVEL_BUCKET_TEXT = {"quiet": "RMS < -45 dBFS", "medium": "-45 to -30 dBFS", "loud": "RMS >= -30 dBFS"}
SILENCE_DBFS = -120.0  # an all-zero clip's level, instead of -inf


def rms_dbfs(waveforms: np.ndarray) -> np.ndarray:
    """[N, T] or [N, T, C] float waveforms (full scale 1.0) → [N] RMS levels in dBFS."""
    x = np.asarray(waveforms, dtype=np.float64).reshape(len(waveforms), -1)
    rms = np.sqrt(np.mean(x * x, axis=1)) if x.shape[1] else np.zeros(len(x))
    return np.maximum(20 * np.log10(np.maximum(rms, 1e-300)), SILENCE_DBFS)


def level_bucket_names(levels_db: np.ndarray) -> np.ndarray:
    """The bucket name of each level."""
    levels_db = np.asarray(levels_db, dtype=np.float64)
    names = np.empty(len(levels_db), dtype=object)
    for name, low, high in LEVEL_BUCKETS:
        names[(levels_db >= low) & (levels_db < high)] = name
    return names


def accuracy_by_level(predicted: np.ndarray, labels: np.ndarray, levels_db: np.ndarray) -> dict:
    """{bucket: {"clips", "accuracy" (None when the bucket is empty), "range"}} for every bucket."""
    correct = np.asarray(predicted) == np.asarray(labels)
    names = level_bucket_names(levels_db)
    result = {}
    for name, _, _ in LEVEL_BUCKETS:
        mask = names == name
        result[name] = {"clips": int(mask.sum()), "accuracy": float(correct[mask].mean()) if mask.any() else None,
                        "range": LEVEL_BUCKET_TEXT[name]}
    return result


def level_line(by_level: dict) -> str:
    """'quiet 0.812 (40) · medium 0.950 (60) · loud 0.975 (40)': accuracy (clips) per bucket."""
    def one(name: str) -> str:
        bucket = by_level.get(name) or {}
        accuracy = bucket.get("accuracy")
        return f"{name} {'-' if accuracy is None else f'{accuracy:.3f}'} ({bucket.get('clips', 0)})"

    return " · ".join(one(name) for name, _, _ in LEVEL_BUCKETS)
