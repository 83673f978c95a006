"""Level normalisation of a raw-waveform input, the same on the device as in training (DESIGN §8).

With one int8 input scale set by the loudest calibration clips, a quiet clip spans a few
quantization steps and int8 accuracy falls on it. So each input window (one model input: all its
samples and channels) is scaled until its peak, or its RMS, reaches a target level; the gain is
capped (`max_gain_db`) so that silence is not blown up into full-scale noise.

Two forms of one arithmetic:
- `normalize`: float waveforms in, float waveforms out, what the Keras model trains on;
- `pcm_to_model_input`: int16 PCM in, the int8 model input out, in integers only. It is the
  numpy twin of the generated C (`firmware_templates/frontend/pcm_input.c.j2`), bit for bit: the
  window's level L in Q4 (peak |p|, or the integer square root of the mean of p² in Q8, at least
  the floor the gain cap sets), one 64-bit reciprocal R = round(K·2^32 / L) per window with
  K = target / scale in Q16, then q = clamp(((p·R + 2^31) >> 32) + zero_point) per sample. It equals
  round(normalize(p / 32768) / scale) + zero_point up to the rounding of K and of the RMS.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from tinyasc.errors import TinyascError

LEVEL_MODES = ("none", "peak", "rms")
PCM_FULL_SCALE = 32768  # int16 PCM: p / 32768 is the waveform in [-1, 1)
K_FRACTION_BITS = 16  # K = target / scale is carried in Q16
LEVEL_FRACTION_BITS = 4  # L is carried in Q4: an RMS's fraction matters for quiet windows
RECIPROCAL_SHIFT = 32  # q = (p · R) >> 32, R = K · 2^32 / L


@dataclass(frozen=True)
class LevelSettings:
    mode: str = "none"  # "peak" or "rms" scale each window to target_dbfs; "none" passes it as it is
    target_dbfs: float = -1.0  # level the window's peak (or RMS) is scaled to, in dB of full scale
    max_gain_db: float = 40.0  # the most a window is amplified: quieter ones stay quieter
    # Streaming only (pcm_stream.c): 0 normalises each window by its own level, as training does;
    # N > 0 by a level that follows the windows' levels slowly (an AGC): L += (L_window - L) / N.
    stream_agc_windows: int = 0

    def __post_init__(self):
        if self.mode not in LEVEL_MODES:
            raise TinyascError(f"level mode must be one of {', '.join(LEVEL_MODES)}; received: {self.mode!r}")
        if not -60.0 <= self.target_dbfs <= 0.0:
            raise TinyascError(f"level target_dbfs must be between -60 and 0 dB; received: {self.target_dbfs}")
        if not 0.0 <= self.max_gain_db <= 60.0:
            raise TinyascError(f"level max_gain_db must be between 0 and 60 dB; received: {self.max_gain_db}")
        if not 0 <= self.stream_agc_windows <= 1000 or (self.stream_agc_windows and self.mode == "none"):
            raise TinyascError("level stream_agc_windows must be 0 (off) to 1000 windows, with mode peak or rms; "
                               f"received: {self.stream_agc_windows} with mode {self.mode!r}")

    @property
    def target(self) -> float:
        """The target level as a fraction of full scale."""
        return 10.0 ** (self.target_dbfs / 20.0)

    @property
    def floor(self) -> float:
        """The lowest level a window is treated as having: target / max gain."""
        return self.target / 10.0 ** (self.max_gain_db / 20.0)

    @property
    def floor_q4(self) -> int:
        """The floor as an int16-PCM level in Q4, the integers' form of it."""
        return max(1, round(self.floor * PCM_FULL_SCALE * (1 << LEVEL_FRACTION_BITS)))

    def to_dict(self) -> dict:
        return asdict(self)


def _windows(x: np.ndarray) -> np.ndarray:
    """[N, ...] → [N, samples]: each model input is one window, channels included."""
    return x.reshape(len(x), -1)


def normalize(waveforms: np.ndarray, settings: LevelSettings) -> np.ndarray:
    """Float waveforms [N, ...] (values in [-1, 1)) → each window scaled to the target level."""
    x = np.asarray(waveforms, dtype=np.float32)
    if settings.mode == "none":
        return x
    flat = _windows(x).astype(np.float64)
    if settings.mode == "peak":
        level = np.abs(flat).max(axis=1)
    else:
        level = np.sqrt(np.mean(flat * flat, axis=1))
    gain = settings.target / np.maximum(level, settings.floor)
    return (flat * gain[:, np.newaxis]).astype(np.float32).reshape(x.shape)


def to_pcm16(waveforms: np.ndarray) -> np.ndarray:
    """Float waveforms in [-1, 1) → int16 PCM, as a 16-bit ADC or WAV file holds them."""
    return np.clip(np.round(np.asarray(waveforms, np.float64) * PCM_FULL_SCALE), -32768, 32767).astype(np.int16)


def scale_in_q16(settings: LevelSettings, input_scale: float) -> int:
    """K = target / input scale in Q16 (for mode none the target is full scale: q = p / 32768 / scale)."""
    target = settings.target if settings.mode != "none" else 1.0
    k = round(target / input_scale * (1 << K_FRACTION_BITS))
    if not 0 < k < 1 << 31:
        raise TinyascError(f"the model's input scale {input_scale:g} is outside what the PCM front-end supports")
    return k


def window_level(pcm: np.ndarray, settings: LevelSettings) -> np.ndarray:
    """The integer level L (Q4) of each int16 window [N, samples], as the C computes it."""
    p = pcm.astype(np.int64)
    one = 1 << LEVEL_FRACTION_BITS
    if settings.mode == "none":
        return np.full(len(p), PCM_FULL_SCALE * one, dtype=np.int64)
    if settings.mode == "peak":
        level = np.abs(p).max(axis=1) * one
    else:  # sum of squares < 2^49 for 2^19 samples; in Q8 < 2^57: int64 holds it
        mean_square_q8 = ((p * p).sum(axis=1) << (2 * LEVEL_FRACTION_BITS)) // p.shape[1]
        level = np.array([math.isqrt(int(m)) for m in mean_square_q8], dtype=np.int64)
    return np.maximum(level, settings.floor_q4)


def pcm_to_model_input(pcm: np.ndarray, settings: LevelSettings, input_scale: float, zero_point: int) -> np.ndarray:
    """int16 PCM windows [N, ...] → int8 model inputs [N, samples], exactly as the device does."""
    p = _windows(np.asarray(pcm, dtype=np.int16)).astype(np.int64)
    return model_input_at_levels(p, window_level(p, settings), settings, input_scale, zero_point)


def tracked_levels(levels: np.ndarray, windows: int) -> np.ndarray:
    """The stream's AGC: L_0 = the first window's level, then L += (L_window - L) / windows with
    C's division (truncated toward zero), in integers as pcm_stream.c computes it."""
    tracked, current = [], 0
    for level in map(int, levels):
        step = level - current
        current = level if current == 0 else current + (abs(step) // windows) * (1 if step >= 0 else -1)
        tracked.append(current)
    return np.array(tracked, dtype=np.int64)


def model_input_at_levels(pcm: np.ndarray, level_q4: np.ndarray, settings: LevelSettings, input_scale: float,
                          zero_point: int) -> np.ndarray:
    """int16 windows [N, samples] scaled as if each had the level L (Q4) given → int8 model inputs."""
    p = np.asarray(pcm).astype(np.int64)
    reciprocal = _reciprocal(scale_in_q16(settings, input_scale), np.asarray(level_q4, dtype=np.int64))
    scaled = (p * reciprocal[:, np.newaxis] + (1 << (RECIPROCAL_SHIFT - 1))) >> RECIPROCAL_SHIFT
    return np.clip(scaled + zero_point, -128, 127).astype(np.int8)


def _reciprocal(k_q16: int, level_q4: np.ndarray) -> np.ndarray:
    """R = round(K · 2^32 / L) with K in Q16 and L in Q4, in 64-bit integers."""
    shift = RECIPROCAL_SHIFT - K_FRACTION_BITS + LEVEL_FRACTION_BITS
    return ((k_q16 << shift) + level_q4 // 2) // level_q4
