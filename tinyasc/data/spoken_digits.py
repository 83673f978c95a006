"""Spoken digits (and optionally ten command words) synthesised offline by espeak-ng.

Why it exists: the built-in synthetic set is too easy to show what int8 does to real speech (DESIGN
§8): its levels span 10 dB and no class is speech. This set is speech with the difficulties of real
recordings: many voices (English accents and other languages' voices saying the English word, each
with espeak-ng's male and female variants), random pitch and speed, a peak level uniform from −40 to
0 dBFS, background noise of random colour at a random SNR, and a simple room (an exponentially
decaying noise tail convolved) on most clips. The split is by speaker, so test accuracy measures
generalisation to voices the model never heard.

Layout written by `make_spoken_digits_dataset(out_dir)`:

    out_dir/metadata.csv        path,label,split,speaker,level_db (path relative to out_dir;
                                speaker = voice+variant, level_db = the clip's peak in dBFS)
    out_dir/spoken_digits.json  the generation parameters; written last, it marks a complete dataset
    out_dir/audio/<word>/<word>_<voice>+<variant>_<take>.wav   16-bit PCM mono

Deterministic by seed on one espeak-ng version: each clip draws from its own random stream keyed by
(seed, speaker, word, take), so a smaller set of speakers or takes holds the same clips as a larger one.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from tinyasc.data.staging import commit, is_complete, new_staging_dir
from tinyasc.errors import DatasetError

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
COMMAND_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")  # Speech Commands' core ten
# English accents, then other languages' voices reading the English word (an accent, not a translation).
# en-us-nyc is left out: it says most words exactly as en-us does, a near-duplicate speaker across splits.
ENGLISH_VOICES = ("en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029")
ACCENT_VOICES = ("de", "fr-fr", "es", "it", "nl", "pl", "sv", "pt-br")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4")
DEFAULT_SPEAKERS = tuple(f"{voice}+{variant}" for voice in ENGLISH_VOICES + ACCENT_VOICES for variant in VARIANTS)
DEFAULT_TAKES = 2  # per speaker and word: 165 speakers × 10 digits × 2 = 3,300 clips

# Bump when the synthesis changes, so cached datasets on disk are regenerated.
GENERATOR_VERSION = 1
PARAMS_FILE = "spoken_digits.json"
CSV_FILE = "metadata.csv"
CSV_COLUMNS = ("path", "label", "split", "speaker", "level_db")
SPLIT_FRACTIONS = {"val": 0.15, "test": 0.15}  # of the speakers; the rest is train

PITCH_RANGE = (25, 75)  # espeak-ng -p, 0–99 (50 is the voice's own)
SPEED_RANGE = (120, 220)  # espeak-ng -s, words per minute (175 is its default)
PEAK_DBFS_RANGE = (-40.0, 0.0)  # uniform: a third of the clips are quieter than -26 dBFS
SNR_DB_RANGE = (5.0, 40.0)
NOISE_SLOPE_RANGE = (0.0, 2.0)  # power spectrum ∝ 1/f^slope: 0 white, 1 pink, 2 brown
ROOM_PROBABILITY = 0.7  # the rest are close-talking, dry
RT60_RANGE_S = (0.15, 0.7)
DIRECT_TO_REVERB_DB_RANGE = (0.0, 12.0)
FULL_SCALE = 32768  # int16 full scale, as soundfile reads PCM_16 back (sample / 32768)


@dataclass(frozen=True)
class ClipSpec:
    """One clip to synthesise: who says which word, which take, into which file."""

    speaker: str  # "voice+variant", as espeak-ng's -v takes it
    word: str
    take: int
    split: str

    @property
    def path(self) -> str:
        return f"audio/{self.word}/{self.word}_{self.speaker}_{self.take}.wav"


# --------------------------------------------------------------------------------------------
# espeak-ng


def require_espeak() -> str:
    """The espeak-ng executable, or a DatasetError saying how to install it."""
    executable = shutil.which("espeak-ng")
    if executable is None:
        raise DatasetError(
            "espeak-ng is not installed; it synthesises the spoken-digits set offline: "
            "apt-get install espeak-ng (Debian/Ubuntu), then run again"
        )
    return executable


def speak(executable: str, speaker: str, word: str, pitch: int, speed: int) -> tuple[np.ndarray, int]:
    """(float32 waveform, sample rate) of espeak-ng saying `word`, read from its WAV on stdout."""
    command = [executable, "--stdout", "-v", speaker, "-p", str(pitch), "-s", str(speed), word]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0 or len(result.stdout) < 64:
        why = result.stderr.decode(errors="replace").strip()
        raise DatasetError(f"espeak-ng failed for voice {speaker!r} ({why}); `espeak-ng --voices` lists the installed voices")
    return _parse_wav(result.stdout)


def _parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Samples and rate of espeak-ng's 16-bit mono WAV. Parsed by hand: on a pipe espeak-ng cannot
    seek back to write the chunk sizes, so they are placeholders that soundfile would trust."""
    rate = int.from_bytes(data[24:28], "little")
    start = data.find(b"data", 12) + 8
    samples = np.frombuffer(data[start : start + (len(data) - start) // 2 * 2], dtype="<i2")
    return samples.astype(np.float32) / FULL_SCALE, rate


# --------------------------------------------------------------------------------------------
# One clip: speech → room → placed in the clip → background noise → peak level.


def trim_silence(speech: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """The speech between the first and last sample above `threshold` × its peak (espeak-ng pads
    ~0.1 s of silence each side; trimmed, the random offset alone decides where the word sits)."""
    loud = np.flatnonzero(np.abs(speech) > threshold * np.max(np.abs(speech)))
    return speech[loud[0] : loud[-1] + 1] if len(loud) else speech


def resample(x: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate:
        return x
    common = np.gcd(from_rate, to_rate)
    return signal.resample_poly(x, to_rate // common, from_rate // common)


@dataclass(frozen=True)
class ClipParams:
    """Everything random about one clip except the noise samples. Drawn first, from the clip's own
    stream, so a clip has the same voice, position, room, SNR and level at 8 and at 16 kHz."""

    pitch: int
    speed: int
    offset_fraction: float  # where the word starts, as a fraction of the room it has in the clip
    rt60_s: float | None  # None: a dry, close-talking clip
    direct_to_reverb_db: float
    snr_db: float
    noise_slope: float
    peak_dbfs: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "ClipParams":
        return cls(
            pitch=int(rng.integers(*PITCH_RANGE, endpoint=True)),
            speed=int(rng.integers(*SPEED_RANGE, endpoint=True)),
            offset_fraction=float(rng.random()),
            rt60_s=float(rng.uniform(*RT60_RANGE_S)) if rng.random() < ROOM_PROBABILITY else None,
            direct_to_reverb_db=float(rng.uniform(*DIRECT_TO_REVERB_DB_RANGE)),
            snr_db=float(rng.uniform(*SNR_DB_RANGE)),
            noise_slope=float(rng.uniform(*NOISE_SLOPE_RANGE)),
            peak_dbfs=float(rng.uniform(*PEAK_DBFS_RANGE)),
        )


def room_response(rng: np.random.Generator, rt60_s: float, direct_to_reverb_db: float, sample_rate: int) -> np.ndarray:
    """A direct path plus an exponentially decaying noise tail: energy falls 60 dB in RT60 seconds,
    the tail's energy below the direct path's by the direct-to-reverberant ratio."""
    n = int(rt60_s * sample_rate)
    tail = rng.standard_normal(n) * np.exp(-6.91 * np.arange(n) / n)  # 6.91 = ln(1000): 60 dB
    tail *= 10 ** (-direct_to_reverb_db / 20) / np.sqrt(np.sum(tail**2))
    tail[0] = 1.0
    return tail


def colored_noise(rng: np.random.Generator, n: int, slope: float) -> np.ndarray:
    """Unit-RMS noise whose power spectrum falls as 1/f^slope (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    frequency = np.maximum(np.arange(len(spectrum)), 1.0)
    noise = np.fft.irfft(spectrum / frequency ** (slope / 2), n)
    return noise / np.sqrt(np.mean(noise**2) + 1e-20)


def synthesize_clip(executable: str, spec: ClipSpec, seed: int, sample_rate: int, num_samples: int):
    """(int16 clip, peak level in dBFS) for one ClipSpec; the same spec and seed give the same clip."""
    key = zlib.crc32(f"{spec.speaker}|{spec.word}|{spec.take}".encode())
    params = ClipParams.draw(np.random.default_rng([seed, key]))
    noise_rng = np.random.default_rng([seed, key, 1])  # sample arrays, whose length depends on the rate
    speech, espeak_rate = speak(executable, spec.speaker, spec.word, params.pitch, params.speed)
    speech = resample(trim_silence(speech), espeak_rate, sample_rate)
    speech_rms = np.sqrt(np.mean(speech**2) + 1e-20)  # of the dry word, so the SNR means the same with a room
    # The dry word fits when it can; the reverb tail (or a word longer than the clip) is cut at the end.
    offset = int(params.offset_fraction * (max(0, num_samples - len(speech)) + 1))
    if params.rt60_s is not None:
        room = room_response(noise_rng, params.rt60_s, params.direct_to_reverb_db, sample_rate)
        speech = signal.fftconvolve(speech, room)
    clip = np.zeros(num_samples)
    speech = speech[: num_samples - offset]
    clip[offset : offset + len(speech)] = speech
    clip += colored_noise(noise_rng, num_samples, params.noise_slope) * speech_rms * 10 ** (-params.snr_db / 20)
    peak_counts = round(10 ** (params.peak_dbfs / 20) * (FULL_SCALE - 1))
    # ±1-LSB triangular dither, as a real converter's noise floor: without it a quiet clip's faint
    # noise rounds to runs of exact zeros that no microphone produces. Rescaled after, so the
    # loudest sample still lands exactly on the drawn peak level.
    clip = clip * (peak_counts / np.max(np.abs(clip))) + noise_rng.triangular(-1.0, 0.0, 1.0, num_samples)
    pcm = np.round(clip * (peak_counts / np.max(np.abs(clip)))).astype(np.int16)
    level_db = 20 * np.log10(max(int(np.max(np.abs(pcm.astype(np.int32)))), 1) / FULL_SCALE)
    return pcm, round(float(level_db), 2)


# --------------------------------------------------------------------------------------------
# The set: speakers split into train/val/test, every clip written, then committed atomically.


def assign_speaker_splits(speakers: tuple[str, ...], seed: int) -> dict[str, str]:
    """Each speaker's split: ~70/15/15 of the speakers, shuffled by seed. With fewer than three
    speakers there is no room for all splits: the first is test, a second is train."""
    order = [speakers[i] for i in np.random.default_rng(seed).permutation(len(speakers))]
    if len(order) < 3:
        return dict(zip(order, ("test", "train")))
    n_test = max(1, round(len(order) * SPLIT_FRACTIONS["test"]))
    n_val = max(1, round(len(order) * SPLIT_FRACTIONS["val"]))
    splits = ["test"] * n_test + ["val"] * n_val + ["train"] * (len(order) - n_test - n_val)
    return dict(zip(order, splits))


def clip_specs(words: tuple[str, ...], speakers: tuple[str, ...], takes: int, seed: int) -> list[ClipSpec]:
    """Every clip of the set, word by word (so label ids follow `words`), then speaker, then take."""
    split_of = assign_speaker_splits(speakers, seed)
    return [ClipSpec(speaker, word, take, split_of[speaker]) for word in words for speaker in speakers
            for take in range(takes)]


def make_spoken_digits_dataset(
    out_dir: str | os.PathLike,
    sample_rate: int = 16000,
    duration_s: float = 1.0,
    speakers: tuple[str, ...] = DEFAULT_SPEAKERS,
    takes: int = DEFAULT_TAKES,
    commands: bool = False,
    seed: int = 0,
    progress: bool = False,
) -> Path:
    """Write the spoken-digits set under `out_dir` and return the path of its metadata.csv.

    speakers: espeak-ng voices with a variant ("en-us+f2"); takes: clips per speaker and word, each
    with its own pitch, speed, room, noise, offset and level; commands: add COMMAND_WORDS as ten
    more classes. A complete set with the same parameters is returned untouched (no espeak-ng
    needed then); otherwise it is generated into a hidden folder and moved into place, the
    parameters file last, so a killed run never leaves a set that looks complete.
    """
    if takes < 1 or not speakers:
        raise DatasetError(f"need at least one speaker and one take; received: speakers={len(speakers)}, takes={takes}")
    if sample_rate < 4000 or duration_s <= 0:
        raise DatasetError(f"spoken digits need sample_rate >= 4000 and duration_s > 0; "
                           f"received: sample_rate={sample_rate}, duration_s={duration_s}")
    out_dir = Path(out_dir)
    params = {
        "generator_version": GENERATOR_VERSION,
        "words": list(DIGITS + (COMMAND_WORDS if commands else ())),
        "speakers": list(speakers),
        "takes": int(takes),
        "sample_rate": int(sample_rate),
        "duration_s": float(duration_s),
        "seed": int(seed),
    }
    csv_path = out_dir / CSV_FILE
    if is_complete(out_dir, params, PARAMS_FILE, CSV_FILE):
        return csv_path
    executable = require_espeak()  # before any folder is made
    staging = new_staging_dir(out_dir)
    try:
        _write_clips_and_csv(staging, params, executable, progress)
        commit(staging, out_dir, params, PARAMS_FILE, entries=("audio", CSV_FILE))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return csv_path


def _write_clips_and_csv(folder: Path, params: dict, executable: str, progress: bool) -> None:
    """Synthesise every clip into folder/audio/<word>/ and write folder/metadata.csv."""
    specs = clip_specs(tuple(params["words"]), tuple(params["speakers"]), params["takes"], params["seed"])
    sample_rate = params["sample_rate"]
    num_samples = int(round(sample_rate * params["duration_s"]))
    for word in params["words"]:
        (folder / "audio" / word).mkdir(parents=True)

    def write(spec: ClipSpec) -> tuple:
        pcm, level_db = synthesize_clip(executable, spec, params["seed"], sample_rate, num_samples)
        sf.write(folder / spec.path, pcm, sample_rate, subtype="PCM_16")
        return spec.path, spec.word, spec.split, spec.speaker, f"{level_db:.2f}"

    # Two threads: espeak-ng runs as a subprocess and numpy releases the GIL, so they overlap;
    # each clip has its own random stream, so the result does not depend on the scheduling.
    with _GenerationProgress(progress, len(specs), folder.parent, sample_rate) as advance, \
            ThreadPoolExecutor(max_workers=2) as pool:
        rows = []
        for row in pool.map(write, specs):
            rows.append(row)
            advance()
    with open(folder / CSV_FILE, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)


class _GenerationProgress:
    """A rich progress bar over the clips (a context giving an `advance()` callable), or nothing."""

    def __init__(self, enabled: bool, total: int, out_dir: Path, sample_rate: int):
        self.enabled, self.total, self.out_dir, self.sample_rate = enabled, total, out_dir, sample_rate
        self.progress = None

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        print(f"synthesising the spoken-digits set with espeak-ng (once): {self.total} clips at "
              f"{self.sample_rate} Hz into {self.out_dir}", flush=True)
        self.progress = Progress(TextColumn("spoken digits"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        self.progress.start()
        task = self.progress.add_task("clips", total=self.total)
        return lambda: self.progress.advance(task)

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()
        return False


def spoken_dataset_dir(work_dir: str | os.PathLike, name: str, sample_rate: int, duration_s: float) -> Path:
    """work_dir/data/<name>-<rate>hz, with -<duration>s when clips are not 1 s long."""
    suffix = "" if duration_s == 1.0 else f"-{duration_s:g}s"
    return Path(work_dir) / "data" / f"{name}-{sample_rate}hz{suffix}"
