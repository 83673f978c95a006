"""Audio files → int16 PCM windows for the firmware's eval-pcm mode, treated as training treats them.

    audio_items(path, labels, split)   the files PATH names: one audio file (unlabelled), a labels
                                       CSV (path,label[,split]), a folder of class sub-folders, or a
                                       folder holding a metadata.csv (a dataset tinyasc made)
    pcm_windows(items, audio)          each file read as training reads it (tinyasc/data/loader.py:
                                       resampled to the model's rate, mixed to its channels), cut
                                       into consecutive windows (the last flush with the file's end,
                                       as training scores a recording) or zero-padded to one window,
                                       and written as the int16 PCM a 16-bit ADC would give
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyasc.artifacts.audio import AudioInput
from tinyasc.data.layouts import csv_cell_value, csv_errors_named, csv_record_line
from tinyasc.data.loader import crop_starts, fit_length, read_channels, read_mono
from tinyasc.errors import DatasetError
from tinyasc.frontend.level import to_pcm16

DATASET_CSV = "metadata.csv"  # what tinyasc's own datasets (synthetic, spoken digits) write
SPLITS = ("train", "val", "test")
# Every window of every file is held as int16 PCM for one QEMU run: a file is at most 10 minutes
# (decoded whole, resampled and windowed: ~0.2 GB at 48 kHz stereo), all windows at most 1 GiB.
MAX_FILE_SECONDS = 600
MAX_PCM_BYTES = 1 << 30


@dataclass(frozen=True)
class AudioItem:
    path: Path
    label: int | None = None  # index into the model's labels; None for an unlabelled file


@dataclass(frozen=True)
class LoadedFile:
    """One file as the device saw it: where its windows are among all windows, and what was done."""

    item: AudioItem
    file_rate: int
    file_channels: int
    seconds: float  # the file's own duration
    first_window: int
    window_starts_s: tuple[float, ...]  # start of each window in the file, in seconds
    padded: bool  # shorter than one window: zero-padded at the end

    @property
    def windows(self) -> int:
        return len(self.window_starts_s)


@dataclass(frozen=True)
class PcmWindows:
    pcm: np.ndarray  # int16 [windows, TINYASC_PCM_SAMPLES], channels interleaved
    files: list[LoadedFile]
    source: str  # what PATH was, in words
    split: str | None  # the split evaluated, when the list had one


# ---- which files -----------------------------------------------------------------------------------

def _label_index(label: str, labels: list[str], where: str) -> int:
    if label not in labels:
        raise DatasetError(f"{where}: label {label!r} is not one of the model's classes ({', '.join(labels)}); "
                           "fix the label or evaluate with a model trained on it")
    return labels.index(label)


def _csv_items(csv_path: Path, labels: list[str], split: str | None) -> tuple[list[AudioItem], str | None]:
    """The rows of a path,label[,split] CSV (paths relative to its folder). With a split column the
    test split is taken unless `split` says otherwise ("all": every row)."""
    with open(csv_path, newline="", encoding="utf-8-sig") as handle, csv_errors_named(csv_path):
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        if "path" not in header or "label" not in header:
            raise DatasetError(f"{csv_path}: a labels CSV needs the columns path,label[,split]. "
                               f"Received: {','.join(header)[:200] or 'an empty file'}")
        rows = [(csv_record_line(reader, row), row) for row in reader]
    if "split" in header and split != "all":
        split = split or "test"
        rows = [(line, row) for line, row in rows if (row.get("split") or "").strip() == split]
    elif split not in (None, "all"):
        raise DatasetError(f"{csv_path} has no split column; leave out --split or pass --split all")
    else:
        split = None
    if not rows:
        hint = "; pass --split all (or train, val)" if split else ""
        raise DatasetError(f"{csv_path}: no rows{f' of split {split!r}' if split else ''} to evaluate{hint}")
    items = [AudioItem(csv_path.parent / csv_cell_value(row["path"].strip()),
                       _label_index(csv_cell_value(row["label"].strip()), labels, f"{csv_path}, line {line}"))
             for line, row in rows]
    return items, split


def audio_items(path, labels: list[str], split: str | None = None) -> tuple[list[AudioItem], str, str | None]:
    """(items, what PATH is in words, the split evaluated or None)."""
    from tinyasc.data.layouts import folder_rows

    path = Path(path)
    if split not in (None, "all", *SPLITS):
        raise DatasetError(f"split must be one of all, {', '.join(SPLITS)}. Received: split={split!r}")
    if path.is_dir() and (path / DATASET_CSV).is_file():
        items, split = _csv_items(path / DATASET_CSV, labels, split)
        return items, f"the labels CSV {path / DATASET_CSV}", split
    if path.is_dir():
        rows = folder_rows(path)
        items = [AudioItem(Path(row["path"]), _label_index(row["label"], labels, row["path"])) for row in rows]
        return items, f"the folder of class sub-folders {path}", None
    if path.suffix.lower() == ".csv":
        if not path.is_file():
            raise DatasetError(f"{path}: labels CSV not found")
        items, split = _csv_items(path, labels, split)
        return items, f"the labels CSV {path}", split
    if not path.exists():
        raise DatasetError(f"{path}: no such audio file, folder or labels CSV")
    return [AudioItem(path)], f"the audio file {path}", None


# ---- reading and windowing -------------------------------------------------------------------------

def model_channels(audio: AudioInput) -> int:
    """Channels of the PCM the front-end takes: a raw model's own, one for log-mel."""
    return (audio.channels or 1) if audio.kind == "raw" else 1


def _file_shape(path: Path) -> tuple[int, int]:
    import soundfile

    info = soundfile.info(str(path))
    return int(info.samplerate), int(info.channels)


def _check_duration(path: Path) -> None:
    """Refuse, from the header, a file longer than MAX_FILE_SECONDS: every window of a file is run,
    so the whole file is decoded (and resampled) at once; a damaged header is left to the loader."""
    import soundfile

    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, ValueError):
        return
    if info.samplerate > 0 and info.frames / info.samplerate > MAX_FILE_SECONDS:
        raise DatasetError(f"{path}: {info.frames / info.samplerate:,.0f} s of audio; emulate --audio takes files of "
                           f"at most {MAX_FILE_SECONDS // 60} minutes (each is decoded whole); split it, e.g. "
                           f"sox in.wav part.wav trim 0 {MAX_FILE_SECONDS} : newfile : restart")


def _load_one(item: AudioItem, audio: AudioInput, first_window: int) -> tuple[LoadedFile, np.ndarray]:
    """A file's windows as float [windows, frames(, channels)], and what was done to it."""
    rate, channels, frames = audio.sample_rate, model_channels(audio), int(audio.input_samples)
    _check_duration(item.path)
    waveform = read_mono(item.path, rate) if channels == 1 else read_channels(item.path, rate, channels)
    file_rate, file_channels = _file_shape(item.path)
    padded = len(waveform) < frames
    fitted = fit_length(waveform, frames) if padded else waveform
    starts = crop_starts(len(fitted), frames)
    windows = np.stack([fitted[start:start + frames] for start in starts])
    loaded = LoadedFile(item=item, file_rate=file_rate, file_channels=file_channels, seconds=len(waveform) / rate,
                        first_window=first_window, window_starts_s=tuple(s / rate for s in starts), padded=padded)
    return loaded, windows


def pcm_windows(items: list[AudioItem], audio: AudioInput, source: str = "", split: str | None = None) -> PcmWindows:
    """Every item's windows as int16 PCM, in order; a file that cannot be read stops with a
    DatasetError naming it."""
    files, chunks, first_window, held = [], [], 0, 0
    for item in items:
        loaded, windows = _load_one(item, audio, first_window)
        files.append(loaded)
        chunks.append(to_pcm16(windows).reshape(len(windows), -1))  # [frames, channels] rows: interleaved
        first_window += loaded.windows
        held += chunks[-1].nbytes
        if held > MAX_PCM_BYTES:
            raise DatasetError(f"{item.path}: with this file the windows of {len(files):,} file(s) take "
                               f"{held / 2**20:,.0f} MiB of PCM (limit {MAX_PCM_BYTES >> 20:,} MiB, "
                               f"{first_window:,} windows); evaluate fewer files at a time")
    return PcmWindows(pcm=np.concatenate(chunks), files=files, source=source, split=split)


def treatment_text(windows: PcmWindows, audio: AudioInput) -> list[str]:
    """What was done to the files, in sentences, for the console and the manifest."""
    rate, channels = audio.sample_rate, model_channels(audio)
    window_s = int(audio.input_samples) / rate
    resampled = sorted({f.file_rate for f in windows.files if f.file_rate != rate})
    mixed = sorted({f.file_channels for f in windows.files if f.file_channels != channels})
    lines = [f"files are treated as training treats them: read at {rate:,} Hz, {channels} channel(s), "
             f"cut into consecutive {window_s:g}-s windows (the last flush with the file's end) or zero-padded "
             "to one window, as int16 PCM through the firmware's own front-end and network"]
    if resampled:
        lines.append(f"resampled to {rate:,} Hz from {', '.join(f'{r:,}' for r in resampled)} Hz")
    if mixed:
        how = "mixed to mono" if channels == 1 else f"repeated into {channels} channels"
        lines.append(f"{how} from {', '.join(map(str, mixed))} channel(s)")
    padded = sum(f.padded for f in windows.files)
    if padded:
        lines.append(f"{padded} file(s) shorter than one window zero-padded at the end")
    longer = sum(f.windows > 1 for f in windows.files)
    if longer:
        lines.append(f"{longer} file(s) longer than one window cut into windows, each predicted on its own")
    return lines
