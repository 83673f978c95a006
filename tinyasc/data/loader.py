"""Load a `path,label[,split]` CSV of audio files into memory as fixed-length waveforms: mono, or
as many channels as the model takes (binaural models get a stereo file's two real channels).

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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from tinyasc.data.audio_checks import check_decoded_audio, check_rate_and_length, check_samples, check_wav_header
from tinyasc.data.layouts import check_unique_columns, csv_cell_value, csv_errors_named, csv_record_line
from tinyasc.data.splits import carve_validation, group_column
from tinyasc.errors import DatasetError

REQUIRED_COLUMNS = ("path", "label")  # "split" is optional
KNOWN_SPLITS = ("train", "val", "test")
LINE_KEY = "_line"  # each row's line in the CSV, for error messages


@dataclass
class AudioDataset:
    """Waveforms and labels: in memory, or streamed from disk (load_csv_dataset(stream=True)).

    x: float32 [N, T] mono waveforms in [-1, 1], all T = round(sample_rate * duration_s) samples;
       [N, T, C] when loaded with channels=C > 1. Either a numpy array or a data.clips.ClipReader,
       which indexes like one but decodes (or reads from its cache) only the clips asked for.
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
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why) left out by skip_bad_files

    @property
    def channels(self) -> int:
        """1 for [N, T] mono waveforms, else C of [N, T, C]."""
        return int(self.x.shape[2]) if self.x.ndim == 3 else 1

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
    sample_rate: int,
    duration_s: float = 1.0,
    labels: list[str] | tuple[str, ...] | None = None,
    channels: int = 1,
    skip_bad_files: bool = False,
    stream: bool = False,
    cache_dir: str | os.PathLike | None = None,
) -> AudioDataset:
    """Read every clip listed in `csv_path` (paths relative to the CSV's folder), at `sample_rate`
    (the model's rate: there is no default, so no caller gets 16 kHz by accident).

    channels=1: each clip is mixed to mono, x is [N, T]. channels=C > 1: x is [N, T, C]; a file
    with C channels keeps them, a mono file is repeated into each, any other count is an error.
    Clips are resampled to `sample_rate` when their own rate differs, and cropped or zero-padded at
    the end to `round(sample_rate * duration_s)` samples.
    skip_bad_files: a missing, unreadable or empty file (or one with the wrong channel count) is left
    out and listed in `skipped` instead of stopping the load; CSV errors still stop it.
    stream: x is a data.clips.ClipReader that decodes each clip when it is read, so memory does not
    grow with the dataset; files are only probed (header) now, so skip_bad_files catches missing,
    unreadable, empty and wrongly channelled files and lying headers (float files are decoded once for
    NaN/Inf, then dropped), and a file whose samples fail to decode later
    stops training with a DatasetError naming it. cache_dir (with stream): decoded clips are kept
    there in memory-mapped shards (data/cache.py), built as they are first read.
    """
    if channels < 1:
        raise DatasetError(f"channels must be >= 1; received: {channels}")
    csv_path = Path(csv_path)
    rows = _read_rows(csv_path)
    labels = _resolve_labels(rows, labels, csv_path)
    label_ids = {label: i for i, label in enumerate(labels)}
    num_samples = int(round(sample_rate * duration_s))

    if stream:
        x, kept, paths, skipped = _stream_rows(rows, csv_path, sample_rate, num_samples, channels, skip_bad_files,
                                               cache_dir)
    else:
        x, kept, paths, skipped = _decode_rows(rows, csv_path, sample_rate, num_samples, channels, skip_bad_files)
    if not kept:
        raise DatasetError(f"{csv_path}: none of the {len(rows)} audio files could be read; first error: {skipped[0][1]}")
    return AudioDataset(
        x=x,
        y=np.array([label_ids[row["label"]] for row in kept], dtype=np.int64),
        labels=list(labels),
        split=np.array([row["split"] for row in kept], dtype=str),
        paths=paths,
        sample_rate=int(sample_rate),
        skipped=skipped,
    )


def _decode_rows(rows, csv_path: Path, sample_rate: int, num_samples: int, channels: int, skip_bad_files: bool):
    """Every clip decoded into one float32 array: (x, kept rows, their paths, skipped)."""
    x = np.zeros((len(rows), num_samples) + ((channels,) if channels > 1 else ()), dtype=np.float32)
    paths, kept, skipped = [], [], []
    for row in rows:
        audio_path = csv_path.parent / row["path"]
        try:
            x[len(kept)] = decode_clip(audio_path, sample_rate, num_samples, channels)
        except DatasetError as error:
            if not skip_bad_files:
                raise
            skipped.append((str(audio_path), str(error)))
            continue
        kept.append(row)
        paths.append(str(audio_path))
    return x[: len(kept)], kept, paths, skipped


def _stream_rows(rows, csv_path: Path, sample_rate: int, num_samples: int, channels: int, skip_bad_files: bool,
                 cache_dir):
    """A lazy ClipReader over the rows whose headers read: (reader, kept rows, their paths, skipped)."""
    from tinyasc.data.clips import ClipReader

    paths, kept, skipped = [], [], []
    for row in rows:
        audio_path = csv_path.parent / row["path"]
        try:
            probe_audio(audio_path, channels)
        except DatasetError as error:
            if not skip_bad_files:
                raise
            skipped.append((str(audio_path), str(error)))
            continue
        kept.append(row)
        paths.append(str(audio_path))
    reader = ClipReader(paths, sample_rate, num_samples, channels, cache_dir=cache_dir) if kept else None
    return reader, kept, paths, skipped


def decode_clip(path: str | os.PathLike, sample_rate: int, num_samples: int, channels: int = 1) -> np.ndarray:
    """One file as the loader holds it: float32 [num_samples] (channels=1, mixed to mono) or
    [num_samples, channels], resampled to `sample_rate`, cropped or zero-padded at the end."""
    seconds = num_samples / sample_rate  # only the start of a long recording is read: the clip is its first seconds
    audio = read_mono(path, sample_rate, seconds) if channels == 1 else read_channels(path, sample_rate, channels, seconds)
    return fit_length(audio, num_samples)


FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")


def _not_a_file(path: Path) -> str:
    if path.is_symlink():
        return "a symbolic link to nothing (or a link loop), not an audio file"
    return "a folder, not an audio file" if path.is_dir() else "audio file not found"


def probe_audio(path: str | os.PathLike, channels: int = 1) -> None:
    """Check from its header alone that a file exists, is audio with samples, and has a channel
    count the model can take (1, or `channels`); a DatasetError naming it otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: {_not_a_file(path)}; fix the path in the dataset CSV or restore the file")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise DatasetError(
            f"{path}: cannot read audio ({err}); the file is corrupt or not a supported format "
            "(WAV, FLAC, OGG, MP3): re-export it or remove it from the CSV"
        ) from err
    if info.frames == 0:
        raise DatasetError(f"{path}: the audio file has no samples; remove it from the CSV or replace it")
    if info.subtype in FLOAT_SUBTYPES:
        scan_float_samples(path)  # only float samples can be NaN, Inf or far beyond full scale: read in blocks, keep nothing
    else:
        check_wav_header(path)  # a header claiming more audio than the file holds
        check_rate_and_length(path, info.frames, info.samplerate)
    if channels > 1 and info.channels not in (1, channels):
        raise DatasetError(
            f"{path}: the file has {info.channels} channels but the model takes {channels}; "
            f"set data.channels to 1 (mix to mono) or {info.channels}, or convert the file"
        )


def _read_rows(csv_path: Path) -> list[dict[str, str]]:
    """The CSV's rows, after checking its columns and split names. Without a split column, each
    label's rows are split 70/15/15 train/val/test, deterministically (see `_assign_default_splits`).
    With train rows but no val rows (an official train/test split), validation is carved from train:
    whole speakers or recordings when the CSV names them (splits.GROUP_COLUMNS), said on the console."""
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: dataset CSV not found; give the path of a path,label,split CSV")
    with open(csv_path, newline="", encoding="utf-8-sig") as f, csv_errors_named(csv_path):
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise DatasetError(
                f"{csv_path}: missing column(s) {', '.join(missing)}; the header must contain "
                f"{','.join(REQUIRED_COLUMNS)} (and optionally split). Received: {','.join(header)[:200]}"
            )
        check_unique_columns(csv_path, header)
        group_key = group_column(header)
        kept_columns = REQUIRED_COLUMNS + ("split",) + ((group_key,) if group_key else ())
        rows = [{**{c: csv_cell_value((row.get(c) or "").strip()) for c in kept_columns},
                 LINE_KEY: csv_record_line(reader, row)}
                for row in reader]
    if not rows:
        raise DatasetError(f"{csv_path}: the CSV lists no audio files; add one row per clip")
    if "split" not in header:
        _assign_default_splits(rows)
    for row in rows:
        line = row[LINE_KEY]
        if row["split"] not in KNOWN_SPLITS:
            raise DatasetError(
                f"{csv_path}, line {line}: split {row['split']!r} is not one of {', '.join(KNOWN_SPLITS)}"
            )
        if not row["path"] or not row["label"]:
            raise DatasetError(f"{csv_path}, line {line}: empty path or label")
    _warn_about_repeated_paths(rows, csv_path)
    splits = {row["split"] for row in rows}
    if "train" in splits and "val" not in splits:
        print(f"{csv_path}: {carve_validation(rows, group_key)}", flush=True)
    return rows


def _warn_about_repeated_paths(rows: list[dict[str, str]], csv_path: Path) -> None:
    """A file listed twice is trained on twice, or tested on what was trained on, or given two labels:
    allowed (tests reuse one clip), but said, with the lines of the first repeat."""
    first_line: dict[str, int] = {}
    repeats = []
    for row in rows:
        if row["path"] in first_line:
            repeats.append((row, first_line[row["path"]]))
        first_line.setdefault(row["path"], row[LINE_KEY])
    if repeats:
        row, line = repeats[0]
        print(f"{csv_path}: warning: {len(repeats):,} row(s) repeat a path listed earlier (the first: line "
              f"{row[LINE_KEY]} repeats {str(row['path'])[:80]!r} of line {line}); a clip in two splits "
              "inflates test accuracy, one with two labels teaches both", flush=True)


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
    for row in rows:
        if row["label"] not in known:
            raise DatasetError(
                f"{csv_path}, line {row[LINE_KEY]}: label {row['label']!r} is not one of the model's classes "
                f"({', '.join(labels)}); fix the CSV or train a model with this class"
            )
    return list(labels)


def read_mono(path: str | os.PathLike, sample_rate: int, seconds: float | None = None) -> np.ndarray:
    """One audio file (its first `seconds`, at least, when given) as float32 mono at `sample_rate`,
    with a DatasetError naming a bad file."""
    audio, file_rate = _read_audio(Path(path), seconds)
    mono = audio.mean(axis=1)
    if file_rate != sample_rate:
        mono = _resample(mono, file_rate, sample_rate)
    return mono.astype(np.float32)


def read_channels(path: str | os.PathLike, sample_rate: int, channels: int, seconds: float | None = None) -> np.ndarray:
    """One audio file (its first `seconds`, at least, when given) as float32 [T, channels] at
    `sample_rate`: its own channels when it has that many, a mono file repeated into each; any other
    channel count is a DatasetError."""
    path = Path(path)
    audio, file_rate = _read_audio(path, seconds)
    if audio.shape[1] == 1:
        audio = np.repeat(audio, channels, axis=1)
    elif audio.shape[1] != channels:
        raise DatasetError(
            f"{path}: the file has {audio.shape[1]} channels but the model takes {channels}; "
            f"set data.channels to 1 (mix to mono) or {audio.shape[1]}, or convert the file"
        )
    if file_rate != sample_rate:
        audio = _resample(audio.T, file_rate, sample_rate).T  # librosa resamples along the last axis
    return np.ascontiguousarray(audio, dtype=np.float32)


# Read past the clip's end when resampling, so the resampler's filter sees the same input around the
# cut as it would in the whole file (its support is a few ms; a tenth of a second is ample).
RESAMPLE_MARGIN_S = 0.1


def _read_audio(path: Path, seconds: float | None = None) -> tuple[np.ndarray, int]:
    """(float32 [T, channels], sample rate) of one file, or of its first `seconds` (plus the
    resampler's margin): a one-hour recording feeding a 10-s clip is not decoded whole. A
    DatasetError names a bad file."""
    if not path.is_file():
        raise DatasetError(f"{path}: {_not_a_file(path)}; fix the path in the dataset CSV or restore the file")
    check_wav_header(path)  # a header claiming more audio than the file holds
    try:
        with sf.SoundFile(path) as f:
            file_rate = f.samplerate
            frames = -1 if seconds is None else int(np.ceil((seconds + RESAMPLE_MARGIN_S) * file_rate))
            audio = f.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise DatasetError(
            f"{path}: cannot read audio ({err}); the file is corrupt or not a supported format "
            "(WAV, FLAC, OGG, MP3): re-export it or remove it from the CSV"
        ) from err
    if audio.shape[0] == 0:
        raise DatasetError(f"{path}: the audio file has no samples; remove it from the CSV or replace it")
    check_decoded_audio(path, audio, file_rate)  # NaN/Inf, a handful of samples, an impossible rate
    return audio, file_rate


def scan_float_samples(path: Path, block_frames: int = 1 << 16) -> None:
    """check_decoded_audio over a whole float file, read in blocks (memory stays one block)."""
    check_wav_header(path)
    try:
        with sf.SoundFile(path) as f:
            rate, offset = f.samplerate, 0
            check_rate_and_length(path, f.frames, rate)
            for block in f.blocks(block_frames, dtype="float32", always_2d=True):
                check_samples(path, block, first_sample=offset)
                offset += len(block)
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise DatasetError(f"{path}: cannot read audio ({err}); the file is corrupt or not a supported format "
                           "(WAV, FLAC, OGG, MP3): re-export it or remove it from the CSV") from err


def _resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    # librosa is imported here because its import is slow and most datasets need no resampling.
    import librosa

    return librosa.resample(audio, orig_sr=from_rate, target_sr=to_rate)


def fit_length(audio: np.ndarray, num_samples: int) -> np.ndarray:
    """Crop the end off, or zero-pad the end, so the clip ([T] or [T, C]) has exactly `num_samples` samples."""
    if len(audio) >= num_samples:
        return audio[:num_samples]
    return np.pad(audio, [(0, num_samples - len(audio))] + [(0, 0)] * (audio.ndim - 1))


def crop_starts(num_samples: int, crop_samples: int, hop_samples: int | None = None) -> list[int]:
    """Start offsets of crops covering a recording: every hop (default: the crop length, no
    overlap), plus a last crop flush with the end so no tail is ignored."""
    if crop_samples > num_samples:
        raise DatasetError(
            f"crops of {crop_samples} samples do not fit recordings of {num_samples}; use a shorter crop"
        )
    hop = hop_samples or crop_samples
    starts = list(range(0, num_samples - crop_samples + 1, hop))
    if starts[-1] != num_samples - crop_samples:
        starts.append(num_samples - crop_samples)
    return starts
