"""Features: raw waveform, or log mel-filterbank energies (librosa), with saved normalisation.

The log-mel front-end is defined by a frozen `LogMelSettings`; the IDLab preset (DCASE 2021 task 1a)
is 44.1 kHz audio, 30 ms Hann windows every 10 ms, a 4096-point DFT, magnitudes mapped to 128 mel
bands, log amplitudes, then mean normalisation over time per crop. Frames are not centred (no
reflection padding), so a device that sees a stream computes exactly the same frames.
Normalisation statistics are stored as JSON next to the model, so export and the device use the
numbers training used.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from tinyasc.errors import TinyascError
from tinyasc.artifacts.manifest import atomic_write_text


@dataclass(frozen=True)
class LogMelSettings:
    sample_rate: int
    n_mels: int = 128
    window_s: float = 0.030
    hop_s: float = 0.010
    n_fft: int = 4096
    fmin: float = 0.0
    fmax: float | None = None  # None: sample_rate / 2
    log_floor: float = 1e-6  # log(max(energy, floor)): silence stays finite

    @property
    def window_length(self) -> int:
        return int(round(self.window_s * self.sample_rate))

    @property
    def hop_length(self) -> int:
        return int(round(self.hop_s * self.sample_rate))

    def __post_init__(self):
        nyquist = self.sample_rate / 2
        problems = [
            (self.n_mels < 1, f"n_mels must be >= 1; received: {self.n_mels}"),
            (self.window_length < 1 or self.hop_length < 1,
             f"window_s and hop_s must each be at least one sample at {self.sample_rate} Hz; "
             f"received: window_s={self.window_s}, hop_s={self.hop_s}"),
            (self.window_length > self.n_fft,
             f"log-mel window of {self.window_length} samples is longer than the {self.n_fft}-point DFT; "
             f"received: window_s={self.window_s}, sample_rate={self.sample_rate}, n_fft={self.n_fft}"),
            (self.fmax is not None and self.fmax > nyquist,
             f"fmax {self.fmax} Hz is above the Nyquist frequency of {self.sample_rate}-Hz audio ({nyquist:g} Hz)"),
            (not 0 <= self.fmin < (self.fmax or nyquist), f"fmin must be >= 0 and below fmax; received: fmin={self.fmin}"),
        ]
        for failed, message in problems:
            if failed:
                raise TinyascError(message)


PRESETS = {
    "idlab": LogMelSettings(sample_rate=44100),
    "idlab-16k": LogMelSettings(sample_rate=16000, n_fft=1024),  # the same analysis at tinyasc's 16 kHz
}


def preset(name: str) -> LogMelSettings:
    if name not in PRESETS:
        raise TinyascError(f"unknown log-mel preset {name!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[name]


# The analysis fields a config may set (features: in configs/*.yaml); the rate is data.sample_rate.
ANALYSIS_FIELDS = ("n_mels", "window_s", "hop_s", "n_fft", "fmin", "fmax")


def logmel_settings(features_config, sample_rate: int) -> LogMelSettings:
    """The log-mel analysis a config's `features:` section asks for at `sample_rate`: its preset
    (whose rate must be the data's) with the fields it gives replaced, or, without a preset, the
    defaults with those fields and the smallest power-of-two DFT that holds the window."""
    overrides = {name: getattr(features_config, name) for name in ANALYSIS_FIELDS
                 if getattr(features_config, name) is not None}
    if features_config.preset:
        base = preset(features_config.preset)
        if base.sample_rate != sample_rate:
            raise TinyascError(
                f"log-mel preset {features_config.preset!r} expects {base.sample_rate}-Hz audio but "
                f"data.sample_rate is {sample_rate}; make them equal, or leave the preset out and give "
                f"the analysis ({', '.join(ANALYSIS_FIELDS)})"
            )
        return replace(base, **overrides)
    if "n_fft" not in overrides:
        window = LogMelSettings(sample_rate=sample_rate, n_fft=1 << 30, **overrides).window_length
        overrides["n_fft"] = 1 << max(window - 1, 1).bit_length()
    return LogMelSettings(sample_rate=sample_rate, **overrides)


def frame_count(num_samples: int, settings: LogMelSettings) -> int:
    """Frames of a clip: one per hop while a full DFT frame fits (no centring)."""
    if num_samples < settings.n_fft:
        raise TinyascError(f"a clip of {num_samples} samples is shorter than one {settings.n_fft}-point frame")
    return 1 + (num_samples - settings.n_fft) // settings.hop_length


def log_mel(waveforms: np.ndarray, settings: LogMelSettings) -> np.ndarray:
    """float32 [N, T] (or [T]) waveforms → float32 [N, frames, n_mels] log mel energies."""
    import librosa

    x = np.atleast_2d(np.asarray(waveforms, dtype=np.float32))
    mel = librosa.feature.melspectrogram(
        y=x, sr=settings.sample_rate, n_fft=settings.n_fft, hop_length=settings.hop_length,
        win_length=settings.window_length, window="hann", center=False, power=1.0,
        n_mels=settings.n_mels, fmin=settings.fmin, fmax=settings.fmax,
    )  # [N, n_mels, frames]
    features = np.log(np.maximum(mel, settings.log_floor)).transpose(0, 2, 1)
    return features.astype(np.float32)


def mean_normalize_over_time(features: np.ndarray) -> np.ndarray:
    """IDLab's per-crop normalisation: subtract each band's mean over the crop's frames."""
    return (features - features.mean(axis=-2, keepdims=True)).astype(np.float32)


@dataclass
class FeatureStats:
    """Per-band mean and standard deviation over a training set, saved with the model."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, min_std: float = 1e-5) -> "FeatureStats":
        flat = features.reshape(-1, features.shape[-1]).astype(np.float64)
        return cls(mean=flat.mean(axis=0).astype(np.float32), std=np.maximum(flat.std(axis=0), min_std).astype(np.float32))

    def apply(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.std).astype(np.float32)

    def save(self, path: Path, settings: LogMelSettings | None = None) -> None:
        data = {"mean": self.mean.tolist(), "std": self.std.tolist()}
        if settings is not None:
            data["settings"] = asdict(settings)
        atomic_write_text(Path(path), json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> "FeatureStats":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            return cls(mean=np.asarray(data["mean"], np.float32), std=np.asarray(data["std"], np.float32))
        except (OSError, KeyError, ValueError) as e:
            raise TinyascError(f"{path}: cannot read feature statistics ({e}); retrain or restore the file") from None
