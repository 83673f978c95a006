"""Hostile-input corpus, part 5: very long recordings. A one-hour WAV (a sparse file: it takes no
disk) feeding a 1-s training clip is not decoded whole; a float one is checked for NaN/Inf in
blocks; `emulate --audio`, which runs every window of a file, refuses files over 10 minutes from
the header, before decoding anything."""

import os
import struct
import tracemalloc

import numpy as np
import pytest

from tinyasc.artifacts.audio import AudioInput
from tinyasc.data.loader import decode_clip, probe_audio
from tinyasc.emulate.audio_files import MAX_FILE_SECONDS, AudioItem, pcm_windows
from tinyasc.errors import DatasetError

RATE = 16000
HOUR = 3600


def sparse_wav(path, seconds: float, rate: int = RATE, channels: int = 1, float32: bool = False, head=None):
    """A WAV of `seconds` whose audio after `head` (the first samples, interleaved) is a hole in the
    file: the header and size are true, the disk holds only the head."""
    width = 4 if float32 else 2
    data_bytes = int(seconds * rate) * channels * width
    fmt = struct.pack("<HHIIHH", 3 if float32 else 1, channels, rate, rate * channels * width, channels * width, 8 * width)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + data_bytes) + b"WAVE")
        f.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_bytes))
        if head is not None:
            f.write(np.asarray(head, np.float32 if float32 else np.int16).tobytes())
        f.truncate(f.tell() - (len(head) * width if head is not None else 0) + data_bytes)
    return path


def _peak_bytes(function, *args):
    tracemalloc.start()
    try:
        result = function(*args)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("rate", [RATE, 48000])  # the model's own rate, and one that needs resampling
def test_a_one_hour_wav_gives_its_first_second_without_being_decoded_whole(tmp_path, rate):
    head = (np.random.default_rng(0).standard_normal(2 * rate) * 3000).astype(np.int16)
    path = sparse_wav(tmp_path / "hour.wav", HOUR, rate, head=head)
    assert os.path.getsize(path) > HOUR * rate * 2 > os.stat(path).st_blocks * 512 * 100  # an hour, stored sparse
    decode_clip(sparse_wav(tmp_path / "warm.wav", 2.5, rate, head=head), RATE, RATE)  # imports (librosa) not counted
    clip, peak = _peak_bytes(decode_clip, path, RATE, RATE)
    assert clip.shape == (RATE,) and np.abs(clip).max() > 0.05
    assert peak < 32 * 2**20, f"{peak / 2**20:.0f} MiB for a 1-s clip of a {HOUR * rate * 4 / 2**20:.0f} MiB float decode"
    short = sparse_wav(tmp_path / "short.wav", 2.5, rate, head=head)  # the same start, a short file
    assert np.array_equal(clip, decode_clip(short, RATE, RATE))


def test_a_one_hour_float_wav_is_checked_for_nan_in_blocks(tmp_path):
    head = np.zeros(RATE, np.float32)
    path = sparse_wav(tmp_path / "hour.wav", HOUR, float32=True, head=head)
    _, peak = _peak_bytes(probe_audio, path)
    assert peak < 16 * 2**20, f"{peak / 2**20:.0f} MiB to probe a {HOUR * RATE * 4 / 2**20:.0f} MiB float file"
    head[RATE - 3] = np.nan
    bad = sparse_wav(tmp_path / "nan.wav", 10, float32=True, head=np.concatenate([np.zeros(70_000, np.float32), head]))
    with pytest.raises(DatasetError, match=r"nan.wav: 1 sample\(s\) are NaN or infinite \(the first at sample 85,997\)"):
        probe_audio(bad)


@pytest.mark.parametrize("seconds, refused", [(HOUR, True), (MAX_FILE_SECONDS + 1, True), (MAX_FILE_SECONDS - 1, False)])
def test_emulate_audio_refuses_a_file_over_ten_minutes_from_its_header(tmp_path, seconds, refused):
    path = sparse_wav(tmp_path / "long.wav", seconds)
    audio = AudioInput(sample_rate=RATE, kind="raw", channels=1, input_samples=RATE * 30)
    if refused:
        with pytest.raises(DatasetError, match=rf"long.wav: {seconds:,} s of audio; emulate --audio takes files of at "
                                               "most 10 minutes .* sox in.wav part.wav trim 0 600"):
            _peak_bytes(pcm_windows, [AudioItem(path)], audio)
        return
    windows, peak = _peak_bytes(pcm_windows, [AudioItem(path)], audio)
    assert windows.pcm.shape == (20, RATE * 30) and peak < 200 * 2**20
