"""What a decoded audio file must satisfy before tinyasc trains or evaluates on it.

libsndfile decodes what it can and says nothing about what it could not: a float WAV may hold
NaN or infinite samples (training then diverges and the int8 converter crashes), a WAV header may
claim far more audio than the file holds (a truncated download, or a stream whose header was
never fixed), a file may hold a handful of samples or claim a sample rate no recording has. Each
is a DatasetError naming the file, so `--skip-bad-files` leaves it out like any unreadable file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from tinyasc.errors import DatasetError

MIN_FRAMES = 8  # fewer samples than this hold no sound to learn from (a one-frame WAV)
MIN_FILE_RATE, MAX_FILE_RATE = 1000, 768_000  # Hz: below, no audio; above, no audio interface
MAX_ABS_SAMPLE = 1000.0  # float files may exceed full scale a little, not by 60 dB
RIFF_CHUNK_HEADER = 8


def check_wav_header(path: Path) -> None:
    """A RIFF/WAVE file's data chunk must fit in the file: its header is not trusted by soundfile's
    caller otherwise. RIFX (big-endian sizes) and RF64 (the data size in its ds64 chunk) are checked
    the same way; other formats (FLAC, OGG, MP3) are left to their decoders."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] not in WAV_MAGICS or head[8:12] != b"WAVE":
                return
            _check_data_chunk(path, f, ">" if head[:4] == b"RIFX" else "<", path.stat().st_size)
    except OSError as e:
        raise DatasetError(f"{path}: cannot read audio ({e.strerror})") from None


WAV_MAGICS = (b"RIFF", b"RIFX", b"RF64")
RF64_SIZE_IN_DS64 = 0xFFFFFFFF  # an RF64 chunk size meaning "see the ds64 chunk"


def _check_data_chunk(path: Path, f, order: str, file_size: int) -> None:
    position, ds64_data_size = 12, None
    while position + RIFF_CHUNK_HEADER <= file_size:
        f.seek(position)
        chunk_id, chunk_size = struct.unpack(order + "4sI", f.read(RIFF_CHUNK_HEADER))
        if chunk_id == b"ds64" and chunk_size >= 16:
            ds64_data_size = struct.unpack("<Q", f.read(16)[8:16])[0]
        if chunk_id == b"data":
            if chunk_size == RF64_SIZE_IN_DS64 and ds64_data_size is not None:
                chunk_size = ds64_data_size
            held = file_size - position - RIFF_CHUNK_HEADER
            if chunk_size > held:
                raise DatasetError(
                    f"{path}: the WAV header says {chunk_size:,} bytes of audio but the file holds "
                    f"{held:,} (truncated, or written by a stream that never fixed its header); "
                    "re-export the file or leave it out (--skip-bad-files)")
            return
        position += RIFF_CHUNK_HEADER + chunk_size + (chunk_size & 1)


def check_decoded_audio(path: Path, audio: np.ndarray, file_rate: int) -> None:
    """Samples [T, channels] as decoded: enough of them, finite, in a sane range, at a real rate."""
    check_rate_and_length(path, audio.shape[0], file_rate)
    check_samples(path, audio)


def check_samples(path: Path, audio: np.ndarray, first_sample: int = 0) -> None:
    """Samples [T, channels] (starting at `first_sample` of the file) finite and in a sane range."""
    finite = np.isfinite(audio)
    if not finite.all():
        bad = int(audio.size - np.count_nonzero(finite))
        first = first_sample + int(np.flatnonzero(~finite.all(axis=1))[0])
        raise DatasetError(f"{path}: {bad:,} sample(s) are NaN or infinite (the first at sample {first:,}); "
                           "the file is corrupt: re-export it or leave it out (--skip-bad-files)")
    peak = float(np.max(np.abs(audio)))
    if peak > MAX_ABS_SAMPLE:
        raise DatasetError(f"{path}: samples reach {peak:.3g}, far beyond full scale (1.0); integers written "
                           "into a float WAV? Scale them to -1..1 or leave the file out (--skip-bad-files)")


def check_rate_and_length(path: Path, frames: int, file_rate: int) -> None:
    """What a header alone can show: a real sample rate and more than a handful of frames."""
    if not MIN_FILE_RATE <= file_rate <= MAX_FILE_RATE:
        raise DatasetError(f"{path}: the file says its sample rate is {file_rate:,} Hz, outside "
                           f"{MIN_FILE_RATE:,}..{MAX_FILE_RATE:,} Hz; the header is broken: re-export the file")
    if frames < MIN_FRAMES:
        raise DatasetError(f"{path}: the file holds {frames} sample(s) per channel, fewer than "
                           f"{MIN_FRAMES}: no sound to learn from; remove it from the dataset or replace it")
