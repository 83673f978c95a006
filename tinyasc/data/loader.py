"""Load a `path,label[,split]` CSV of audio files into memory as fixed-length mono waveforms.

Every dataset (synthetic, user folders, ESC-50, UrbanSound8K, TAU) ends up as such a CSV, so this
one loader is the only place that reads audio for training. Broken input is reported as a
DatasetError naming the file and what to do, never as a libsndfile traceback.

Class ids: when `labels` is given, a label's id is its index in `labels`. Otherwise labels are
numbered in order of first appearance in the CSV; the synthetic dataset writes its rows in
SYNTHETIC_CLASSES order, so its ids follow that order.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tinyasc.errors import DatasetError

REQUIRED_COLUMNS = ("path", "label")  # "split" is optional
KNOWN_SPLITS = ("train", "val", "test")


@dataclass
class AudioDataset:
    """Waveforms and labels held in memory: small enough for tinyML-sized datasets.

    x: float32 [N, T] mono waveforms in [-1, 1], all T = round(sample_rate * duration_s) samples.
    y: int64 [N] class ids, indexes into `labels`.
    split: str [N], one of "train", "val", "test".
    paths: the audio file of each row, as resolved on disk.
    """

    x: np.ndarray
    y: np.ndarray
    labels: list[str]
    split: np.ndarray
    paths: list[str]
    sample_rate: int

    @property
    def num_samples(self) -> int:
        """Samples per clip (T)."""
        return int(self.x.shape[1])

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, split: str) -> "AudioDataset":
        """The rows of one split ("train", "val" or "test"); may be empty, keeps all labels."""
        if split not in KNOWN_SPLITS:
            raise DatasetError(f"unknown split {split!r}; expected one of {', '.join(KNOWN_SPLITS)}")
        keep = self.split == split
        return AudioDataset(
            x=self.x[keep],
            y=self.y[keep],
            labels=list(self.labels),
            split=self.split[keep],
            paths=[p for p, k in zip(self.paths, keep) if k],
            sample_rate=self.sample_rate,
        )


def load_csv_dataset(
    csv_path: str | os.PathLike,
    sample_rate: int = 16000,
    duration_s: float = 1.0,
    labels: list[str] | tuple[str, ...] | None = None,
) -> AudioDataset:
    """Read every clip listed in `csv_path` (paths relative to the CSV's folder).

    Each clip is mixed to mono, resampled to `sample_rate` when its own rate differs, and cropped
    or zero-padded at the end to `round(sample_rate * duration_s)` samples.
    """
    csv_path = Path(csv_path)
    rows = _read_rows(csv_path)
    labels = _resolve_labels(rows, labels, csv_path)
    label_ids = {label: i for i, label in enumerate(labels)}
    num_samples = int(round(sample_rate * duration_s))

    x = np.zeros((len(rows), num_samples), dtype=np.float32)
    paths = []
    for i, row in enumerate(rows):
        audio_path = csv_path.parent / row["path"]
        x[i] = fit_length(read_mono(audio_path, sample_rate), num_samples)
        paths.append(str(audio_path))
    return AudioDataset(
        x=x,
        y=np.array([label_ids[row["label"]] for row in rows], dtype=np.int64),
        labels=list(labels),
        split=np.array([row["split"] for row in rows], dtype=str),
        paths=paths,
        sample_rate=int(sample_rate),
    )


def _read_rows(csv_path: Path) -> list[dict[str, str]]:
    """The CSV's rows, after checking its columns and split names. Without a split column, each
    label's rows are split 70/15/15 train/val/test, deterministically (see `_assign_default_splits`)."""
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: dataset CSV not found; give the path of a path,label,split CSV")
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise DatasetError(
                f"{csv_path}: missing column(s) {', '.join(missing)}; the header must contain "
                f"{','.join(REQUIRED_COLUMNS)} (and optionally split). Received: {','.join(header)}"
            )
        rows = [{c: (row.get(c) or "").strip() for c in REQUIRED_COLUMNS + ("split",)} for row in reader]
    if not rows:
        raise DatasetError(f"{csv_path}: the CSV lists no audio files; add one row per clip")
    if "split" not in header:
        _assign_default_splits(rows)
    for line, row in enumerate(rows, start=2):
        if row["split"] not in KNOWN_SPLITS:
            raise DatasetError(
                f"{csv_path}, line {line}: split {row['split']!r} is not one of {', '.join(KNOWN_SPLITS)}"
            )
        if not row["path"] or not row["label"]:
            raise DatasetError(f"{csv_path}, line {line}: empty path or label")
    return rows


def _assign_default_splits(rows: list[dict[str, str]]) -> None:
    """Stratified ~70/15/15 split per label, seeded by the label's order of appearance, so the same
    CSV always gives the same split (same rule as the synthetic dataset)."""
    from tinyasc.data.synthetic import assign_splits

    by_label: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(row)
    for index, label_rows in enumerate(by_label.values()):
        splits = assign_splits(len(label_rows), np.random.default_rng([0, index]))
        for row, split in zip(label_rows, splits):
            row["split"] = split


def _resolve_labels(rows, labels, csv_path: Path) -> list[str]:
    """`labels` as given (checking every row's label is in it), or labels by first appearance."""
    if labels is None:
        return list(dict.fromkeys(row["label"] for row in rows))
    known = set(labels)
    for line, row in enumerate(rows, start=2):
        if row["label"] not in known:
            raise DatasetError(
                f"{csv_path}, line {line}: label {row['label']!r} is not one of the model's classes "
                f"({', '.join(labels)}); fix the CSV or train a model with this class"
            )
    return list(labels)


def read_mono(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """One audio file as float32 mono at `sample_rate`, with a DatasetError naming a bad file."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: audio file not found; fix the path in the dataset CSV or restore the file")
    try:
        audio, file_rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise DatasetError(
            f"{path}: cannot read audio ({err}); the file is corrupt or not a supported format "
            "(WAV, FLAC, OGG, MP3): re-export it or remove it from the CSV"
        ) from err
    if audio.shape[0] == 0:
        raise DatasetError(f"{path}: the audio file has no samples; remove it from the CSV or replace it")
    mono = audio.mean(axis=1)
    if file_rate != sample_rate:
        mono = _resample(mono, file_rate, sample_rate)
    return mono.astype(np.float32)


def _resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    # librosa is imported here because its import is slow and most datasets need no resampling.
    import librosa

    return librosa.resample(audio, orig_sr=from_rate, target_sr=to_rate)


def fit_length(audio: np.ndarray, num_samples: int) -> np.ndarray:
    """Crop the end off, or zero-pad the end, so the clip has exactly `num_samples` samples."""
    if len(audio) >= num_samples:
        return audio[:num_samples]
    return np.pad(audio, (0, num_samples - len(audio)))
