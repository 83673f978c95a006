"""Test signals for the front-end and its error against the float64 reference.

    probe_signals(settings, level_dbfs, count, seed)   noise, tone, chirp, speech-like burst windows
    edge_signals(settings)                             silence, DC, full-scale square waves, clipping
    quantization_floor(settings)                       per-band log-mel of int16 rounding noise
    error_above_floor(q10, windows, settings)          max |twin - float64| on bands above that floor

"Above the noise floor" is measured from the input format itself: int16 PCM carries rounding noise
of 1/sqrt(12) LSB, whose float64 log-mel is the floor of each band; bands at least
FLOOR_MARGIN (natural-log units, 8.7 dB) above it count. Below it the input holds no information.
"""

from __future__ import annotations

import numpy as np

from tinyasc.frontend.fixed_point import dequantize
from tinyasc.frontend.float_reference import log_mel_of_windows
from tinyasc.frontend.logmel import LogMelSettings

FLOOR_MARGIN = 1.0
SIGNAL_KINDS = ("noise", "tone", "chirp", "speech")


def _to_pcm(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def probe_signals(settings: LogMelSettings, level_dbfs: float, count: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """int16 [count, window_length] windows per kind, peak near `level_dbfs` (noise: 4-sigma peak)."""
    rng = np.random.default_rng(seed)
    length, rate = settings.window_length, settings.sample_rate
    nyquist = rate / 2
    amplitude = 32767 * 10 ** (level_dbfs / 20)
    t = np.arange(length) / rate
    duration = t[-1]
    tone_hz = rng.uniform(50, 0.9 * nyquist, (count, 1))
    start_hz, stop_hz = rng.uniform(50, 500, (count, 1)), rng.uniform(1000, 0.95 * nyquist, (count, 1))
    pitch = rng.uniform(90, 250, (count, 1))
    envelope = np.exp(-(((t - duration / 2) / (duration / 4)) ** 2))
    harmonics = sum(np.sin(2 * np.pi * k * pitch * t + k) / k for k in range(1, 30) if k * 250 < nyquist)
    speech = envelope * harmonics / np.abs(harmonics).max(axis=1, keepdims=True)
    return {
        "noise": _to_pcm(rng.normal(0, amplitude / 4, (count, length))),
        "tone": _to_pcm(amplitude * np.sin(2 * np.pi * tone_hz * t + rng.uniform(0, 2 * np.pi, (count, 1)))),
        "chirp": _to_pcm(amplitude * np.sin(2 * np.pi * (start_hz * t + (stop_hz - start_hz) * t**2 / (2 * duration)))),
        "speech": _to_pcm(amplitude * speech),
    }


def edge_signals(settings: LogMelSettings) -> dict[str, np.ndarray]:
    """Inputs that break careless fixed point: extremes, constants, alternating full scale."""
    n = np.arange(settings.window_length)
    square = lambda period: np.where((n // period) % 2 == 0, 32767, -32768)  # noqa: E731
    rows = {
        "silence": np.zeros_like(n),
        "dc_positive": np.full_like(n, 32767),
        "dc_negative": np.full_like(n, -32768),
        "one_lsb": np.where(n % 7 == 0, 1, 0),
        "minus_one_lsb": np.full_like(n, -1),
        "square_nyquist": square(1),
        "square_slow": square(16),
        "impulse": np.where(n == settings.window_length // 2, -32768, 0),
    }
    return {name: row.astype(np.int16)[None, :] for name, row in rows.items()}


def quantization_floor(settings: LogMelSettings, frames: int = 400, seed: int = 0) -> np.ndarray:
    """float64 [n_mels]: mean log-mel of uniform ±0.5 LSB noise, the int16 format's own floor."""
    rounding = np.random.default_rng(seed).uniform(-0.5, 0.5, (frames, settings.window_length))
    return log_mel_of_windows(rounding, settings).mean(axis=0)


def error_above_floor(q10: np.ndarray, windows: np.ndarray, settings: LogMelSettings,
                      floor: np.ndarray | None = None) -> tuple[float, float]:
    """(max error on bands >= floor + FLOOR_MARGIN, max error on all bands), natural-log units."""
    reference = log_mel_of_windows(windows, settings)
    error = np.abs(dequantize(q10).astype(np.float64) - reference)
    floor = quantization_floor(settings) if floor is None else floor
    above = reference >= floor + FLOOR_MARGIN
    return (float(error[above].max()) if above.any() else 0.0), float(error.max())
