"""Built-in synthetic dataset: ten procedurally generated sound classes, no download needed.

Why it exists: every stage (train → convert → compile → emulate) needs a dataset that is small,
deterministic and available offline, so tests and `tinyasc demo` run anywhere in seconds. The
classes differ in spectrum and temporal pattern, never in loudness: each clip is RMS-normalised and
then given a random level drawn from one distribution shared by all classes, so a classifier can
only succeed by listening, not by reading the volume.

Layout written by `make_synthetic_dataset(out_dir)`:

    out_dir/metadata.csv        path,label,split   (path relative to out_dir)
    out_dir/synthetic.json      the generation parameters; written last, it marks a complete dataset
    out_dir/audio/<label>/<label>_0000.wav      16-bit PCM mono
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
from scipy import signal

from tinyasc.data.staging import commit, is_complete, new_staging_dir
from tinyasc.errors import DatasetError

SYNTHETIC_CLASSES: tuple[str, ...] = (
    "hum",
    "chirp",
    "rain",
    "babble",
    "rumble",
    "tweets",
    "siren",
    "engine",
    "bell",
    "footsteps",
)

# Bump when the generators change, so cached datasets on disk are regenerated.
GENERATOR_VERSION = 1
SYNTHETIC_SAMPLE_RATE = 16000  # Hz of the built-in clips: the anchor model's rate (DESIGN §6)
PARAMS_FILE = "synthetic.json"
CSV_FILE = "metadata.csv"
SPLIT_FRACTIONS = {"val": 0.15, "test": 0.15}  # the rest is train

# Every clip's RMS level in dBFS is uniform in this range, for every class. Loud enough that an int8
# input (step ≈ 1/128 of full scale) keeps ~30 dB SNR at the quiet end; quiet enough for headroom.
LEVEL_DBFS_RANGE = (-28.0, -18.0)
SNR_DB_RANGE = (10.0, 30.0)
CREST_LIMIT = 5.0  # peak/RMS a class sound may have before the soft limiter bends it (≈ 14 dB)
PEAK_LIMIT = 0.99

Generator = Callable[[np.random.Generator, np.ndarray, int], np.ndarray]


# --------------------------------------------------------------------------------------------
# Signal building blocks. Each takes the time axis t (seconds) and the sample rate.


def _harmonics(t: np.ndarray, f0: np.ndarray | float, count: int, rng, rolloff: float = 1.0):
    """Sum of `count` harmonics of f0 (constant or per-sample) with 1/k^rolloff amplitudes."""
    phase = 2 * np.pi * np.cumsum(np.broadcast_to(f0, t.shape)) / _rate(t)
    out = np.zeros_like(t)
    for k in range(1, count + 1):
        out += np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k**rolloff
    return out


def _rate(t: np.ndarray) -> float:
    """Sample rate recovered from the time axis (t[1] = 1/sr)."""
    return 1.0 / t[1]


def _bandpass(x: np.ndarray, low_hz: float, high_hz: float, sr: int, order: int = 2) -> np.ndarray:
    nyquist = sr / 2
    sos = signal.butter(order, [low_hz / nyquist, min(high_hz / nyquist, 0.99)], "bandpass", output="sos")
    return signal.sosfilt(sos, x)


def _lowpass(x: np.ndarray, cutoff_hz: float, sr: int, order: int = 4) -> np.ndarray:
    sos = signal.butter(order, cutoff_hz / (sr / 2), "lowpass", output="sos")
    return signal.sosfilt(sos, x)


def _highpass(x: np.ndarray, cutoff_hz: float, sr: int, order: int = 2) -> np.ndarray:
    sos = signal.butter(order, cutoff_hz / (sr / 2), "highpass", output="sos")
    return signal.sosfilt(sos, x)


def _resonator(x: np.ndarray, freq_hz: float, bandwidth_hz: float, sr: int) -> np.ndarray:
    """Two-pole resonance: how formants, bodies and struck objects colour an excitation."""
    r = np.exp(-np.pi * bandwidth_hz / sr)
    a = [1.0, -2 * r * np.cos(2 * np.pi * freq_hz / sr), r * r]
    return signal.lfilter([1.0 - r], a, x)


def _decay(n: int, sr: int, time_constant_s: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (sr * time_constant_s))


def _place(out: np.ndarray, event: np.ndarray, start: int) -> None:
    """Add `event` into `out` at sample `start`, cutting what runs past the end."""
    end = min(len(out), start + len(event))
    if start < end:
        out[start:end] += event[: end - start]


# --------------------------------------------------------------------------------------------
# One generator per class: (rng, t, sr) -> waveform (any level; it is normalised later).


def _hum(rng, t, sr):
    """Mains/transformer hum: steady harmonic series on a low fundamental."""
    f0 = rng.uniform(90, 160) * (1 + 0.002 * np.sin(2 * np.pi * rng.uniform(0.1, 1) * t))
    return _harmonics(t, f0, count=12, rng=rng, rolloff=0.8)


def _chirp(rng, t, sr):
    """One or two rising exponential sweeps (think radar or a sweeping synth)."""
    out = np.zeros_like(t)
    for _ in range(rng.integers(1, 3)):
        length = int(sr * rng.uniform(0.3, 0.6))
        f_start, f_end = rng.uniform(300, 800), rng.uniform(2500, 5000)
        tau = np.arange(length) / sr
        freq = f_start * (f_end / f_start) ** (tau / tau[-1])
        sweep = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.hanning(length) ** 0.3
        _place(out, sweep, int(rng.integers(0, max(1, len(t) - length // 2))))
    return out


def _rain(rng, t, sr):
    """Dense random droplets: short bright noise bursts over a hiss bed."""
    out = 0.5 * _highpass(rng.standard_normal(len(t)), 2000, sr)
    drop_len = int(0.01 * sr)
    envelope = _decay(drop_len, sr, 0.003)
    for start in rng.integers(0, len(t), size=int(rng.uniform(300, 500) * t[-1])):
        _place(out, rng.uniform(0.3, 1.0) * rng.standard_normal(drop_len) * envelope, int(start))
    return _highpass(out, 1000, sr)


def _babble(rng, t, sr):
    """Speech-like: a glottal pulse train through formants that jump every syllable."""
    f0 = rng.uniform(100, 220) * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(2, 5) * t))
    phase = np.cumsum(f0) / sr
    pulses = np.diff(np.floor(phase), prepend=0.0)
    out = np.zeros_like(t)
    syllable = int(sr * rng.uniform(0.12, 0.22))
    for start in range(0, len(t), syllable):
        piece = pulses[start : start + syllable]
        f1, f2 = rng.uniform(300, 900), rng.uniform(900, 2500)
        voiced = _resonator(piece, f1, 80, sr) + 0.6 * _resonator(piece, f2, 120, sr)
        out[start : start + len(piece)] = voiced * np.hanning(len(piece))
    return out


def _rumble(rng, t, sr):
    """Distant thunder/traffic: low-passed noise with a slow swell."""
    cutoff = rng.uniform(80, 250)
    swell = 1 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t + rng.uniform(0, 2 * np.pi))
    return _lowpass(rng.standard_normal(len(t)), cutoff, sr) * swell


def _tweets(rng, t, sr):
    """Bird-like: several short, fast downward FM sweeps at high pitch."""
    out = np.zeros_like(t)
    for _ in range(rng.integers(6, 12)):
        length = int(sr * rng.uniform(0.05, 0.1))
        tau = np.arange(length) / length
        freq = rng.uniform(4000, 7000) - rng.uniform(1000, 2500) * tau
        freq += 300 * np.sin(2 * np.pi * rng.uniform(20, 60) * tau * length / sr)
        tweet = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.hanning(length)
        _place(out, tweet, int(rng.integers(0, len(t) - length)))
    return out


def _siren(rng, t, sr):
    """Emergency siren: a few harmonics under slow, deep sinusoidal FM."""
    centre, depth = rng.uniform(600, 1100), rng.uniform(200, 400)
    f0 = centre + depth * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t + rng.uniform(0, 2 * np.pi))
    return _harmonics(t, f0, count=3, rng=rng, rolloff=1.5)


def _engine(rng, t, sr):
    """Combustion engine: firing pulses at 25–60 Hz ringing a mid-frequency body resonance."""
    firing = rng.uniform(25, 60) * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.2, 1) * t))
    pulses = np.diff(np.floor(np.cumsum(firing) / sr), prepend=0.0)
    body = _resonator(pulses, rng.uniform(250, 700), rng.uniform(60, 150), sr)
    return body + 0.3 * _lowpass(rng.standard_normal(len(t)), 600, sr) * np.abs(body).mean()


def _bell(rng, t, sr):
    """Struck bell: inharmonic partials (church-bell ratios) decaying exponentially."""
    out = np.zeros_like(t)
    f0 = rng.uniform(400, 1000)
    for _ in range(rng.integers(1, 4)):
        start = int(rng.integers(0, len(t) // 2))
        tau = t[: len(t) - start]
        strike = np.zeros_like(tau)
        for ratio, amp in ((1.0, 1.0), (2.76, 0.6), (5.40, 0.4), (8.93, 0.25)):
            strike += amp * np.sin(2 * np.pi * f0 * ratio * tau) * np.exp(-tau * ratio * rng.uniform(2, 5))
        _place(out, strike, start)
    return out


def _footsteps(rng, t, sr):
    """Footsteps on gravel: a regular walk of damped low-mid crunches with a bright edge."""
    out = np.zeros_like(t)
    step = rng.uniform(0.18, 0.3)
    start = rng.uniform(0, step)
    length = int(0.15 * sr)
    envelope = np.minimum(1.0, np.arange(length) / (0.01 * sr)) * _decay(length, sr, 0.04)
    while start < t[-1]:
        excitation = rng.standard_normal(length) * envelope
        thud = _resonator(excitation, rng.uniform(150, 400), 150, sr) + 0.1 * excitation
        _place(out, thud, int(start * sr))
        start += step * rng.uniform(0.9, 1.1)
    return out


GENERATORS: dict[str, Generator] = {
    "hum": _hum,
    "chirp": _chirp,
    "rain": _rain,
    "babble": _babble,
    "rumble": _rumble,
    "tweets": _tweets,
    "siren": _siren,
    "engine": _engine,
    "bell": _bell,
    "footsteps": _footsteps,
}
assert tuple(GENERATORS) == SYNTHETIC_CLASSES


# --------------------------------------------------------------------------------------------
# Clips: class sound + background noise, then a level that carries no class information.


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)) + 1e-20))


def _limit_crest(sound: np.ndarray) -> np.ndarray:
    """Unit-RMS copy of `sound` whose peaks are softly limited to about CREST_LIMIT × RMS.

    Without it, impulsive classes (footsteps, rain) would need scaling down to avoid clipping at the
    loud end of LEVEL_DBFS_RANGE, and their level distribution would differ from the others'.
    """
    sound = sound / _rms(sound)
    sound = CREST_LIMIT * np.tanh(sound / CREST_LIMIT)
    return sound / _rms(sound)


def _background(rng, n: int, sr: int) -> np.ndarray:
    """Pink-ish background noise (white noise through a gentle low-pass), unit RMS."""
    noise = rng.standard_normal(n) + _lowpass(rng.standard_normal(n), rng.uniform(300, 3000), sr, order=1)
    return noise / _rms(noise)


def synthesize_clip(label: str, rng: np.random.Generator, sample_rate: int, num_samples: int) -> np.ndarray:
    """One float32 clip of class `label`: sound + background at a random SNR, at a random level.

    The level is drawn from LEVEL_DBFS_RANGE for every class, so loudness says nothing about the
    class. Only a clip whose peak would clip is scaled down (rare; impulsive classes).
    """
    if label not in GENERATORS:
        raise DatasetError(f"unknown synthetic class {label!r}; known: {', '.join(SYNTHETIC_CLASSES)}")
    t = np.arange(num_samples) / sample_rate
    sound = _limit_crest(GENERATORS[label](rng, t, sample_rate))
    snr_db = rng.uniform(*SNR_DB_RANGE)
    mix = sound + _background(rng, num_samples, sample_rate) * 10 ** (-snr_db / 20)
    level = 10 ** (rng.uniform(*LEVEL_DBFS_RANGE) / 20)
    clip = mix * (level / _rms(mix))
    peak = np.max(np.abs(clip))
    if peak > PEAK_LIMIT:
        clip *= PEAK_LIMIT / peak
    return clip.astype(np.float32)


def assign_splits(count: int, rng: np.random.Generator) -> list[str]:
    """Split labels for `count` clips of one class: ~70/15/15 train/val/test, shuffled by rng."""
    n_val = round(count * SPLIT_FRACTIONS["val"])
    n_test = round(count * SPLIT_FRACTIONS["test"])
    splits = ["val"] * n_val + ["test"] * n_test + ["train"] * (count - n_val - n_test)
    return [splits[i] for i in rng.permutation(count)]


# --------------------------------------------------------------------------------------------
# Writing the dataset to disk, idempotently and atomically.


def make_synthetic_dataset(
    out_dir: str | os.PathLike,
    clips_per_class: int = 40,
    sample_rate: int = SYNTHETIC_SAMPLE_RATE,
    duration_s: float = 1.0,
    seed: int = 0,
) -> Path:
    """Write the synthetic dataset under `out_dir` and return the path of its metadata.csv.

    Deterministic by `seed`. If `out_dir` already holds a complete dataset made with the same
    parameters it is returned untouched. The clips are first written to a hidden temporary folder
    inside `out_dir` and moved into place at the end; the parameters file is written last, so a
    run killed half-way leaves no dataset that looks complete.
    """
    if clips_per_class < 1:
        raise DatasetError(f"clips_per_class must be at least 1, received: clips_per_class={clips_per_class}")
    out_dir = Path(out_dir)
    params = {
        "generator_version": GENERATOR_VERSION,
        "classes": list(SYNTHETIC_CLASSES),
        "clips_per_class": int(clips_per_class),
        "sample_rate": int(sample_rate),
        "duration_s": float(duration_s),
        "seed": int(seed),
    }
    csv_path = out_dir / CSV_FILE
    if is_complete(out_dir, params, PARAMS_FILE, CSV_FILE):
        return csv_path

    staging = new_staging_dir(out_dir)
    try:
        _write_clips_and_csv(staging, params)
        commit(staging, out_dir, params, PARAMS_FILE, entries=("audio", CSV_FILE))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return csv_path


def _write_clips_and_csv(folder: Path, params: dict) -> None:
    """Generate every clip into folder/audio/<label>/ and write folder/metadata.csv."""
    sr = params["sample_rate"]
    num_samples = int(round(sr * params["duration_s"]))
    rows = []
    for class_index, label in enumerate(SYNTHETIC_CLASSES):
        # One independent stream per class: changing one generator leaves the others' clips alone.
        rng = np.random.default_rng([params["seed"], class_index])
        splits = assign_splits(params["clips_per_class"], rng)
        (folder / "audio" / label).mkdir(parents=True)
        for i, split in enumerate(splits):
            relative = f"audio/{label}/{label}_{i:04d}.wav"
            clip = synthesize_clip(label, rng, sr, num_samples)
            sf.write(folder / relative, clip, sr, subtype="PCM_16")
            rows.append((relative, label, split))
    with open(folder / CSV_FILE, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("path", "label", "split"))
        writer.writerows(rows)
