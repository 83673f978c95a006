"""A log-mel model's input from int16 PCM, in the device's integers.

The fixed-point front-end (fixed_point.py) gives each frame's log-mel in Q10 natural-log units;
each band's mean over the window is subtracted (IDLab's per-crop normalisation, what training
applies), then the value becomes int8 with the model's input scale. Every step is an integer
operation the generated C (`firmware_templates/frontend/logmel_input.c.j2`) repeats bit for bit:

    mean_b = sum_f x[f, b] / F, rounded half away from zero (C's division truncates: both signs
             are handled explicitly)
    q      = ((x - mean_b) · M + 2^23) >> 24 + zero_point, clamped; M = round(2^24 / (1024 · scale))

Training feeds the network (x - mean_b) / 1024 (`model_features`), exactly the values the int8
input stands for before its own rounding.
"""

from __future__ import annotations

import numpy as np

from tinyasc.errors import TinyascError
from tinyasc.frontend.fixed_point import frame_windows, logmel_frames_q10, pcm_from_float
from tinyasc.frontend.fixed_point_tables import frontend_tables
from tinyasc.frontend.logmel import LogMelSettings

Q10 = 1 << 10
MULTIPLIER_SHIFT = 24


def features_q10(pcm: np.ndarray, settings: LogMelSettings) -> np.ndarray:
    """int16 (or float, converted as a 16-bit ADC would) [N, T] → int32 [N, frames, n_mels], Q10."""
    pcm = np.asarray(pcm)
    if pcm.dtype != np.int16:
        pcm = pcm_from_float(pcm)
    tables = frontend_tables(settings)
    clips = np.atleast_2d(pcm)
    return np.stack([logmel_frames_q10(frame_windows(clip, settings), tables) for clip in clips]).astype(np.int32)


def centred_q10(features: np.ndarray) -> np.ndarray:
    """Each band minus its mean over the window's frames (rounded half away from zero), Q10."""
    frames = features.shape[-2]
    sums = features.astype(np.int64).sum(axis=-2, keepdims=True)
    means = np.where(sums >= 0, (sums + frames // 2) // frames, -((-sums + frames // 2) // frames))
    return (features - means).astype(np.int32)


def model_features(waveforms: np.ndarray, settings: LogMelSettings) -> np.ndarray:
    """[N, T] waveforms → float32 [N, frames, n_mels, 1]: what the network trains on."""
    return (centred_q10(features_q10(waveforms, settings)) / Q10).astype(np.float32)[..., np.newaxis]


def scale_multiplier(input_scale: float) -> int:
    """M = round(2^24 / (1024 · scale)): Q10 log-mel → int8 steps, as one multiply and shift."""
    multiplier = round((1 << MULTIPLIER_SHIFT) / (Q10 * input_scale))
    if not 0 < multiplier < 1 << 31:
        raise TinyascError(f"the model's input scale {input_scale:g} is outside what the log-mel front-end supports")
    return multiplier


def pcm_to_logmel_input(pcm: np.ndarray, settings: LogMelSettings, input_scale: float, zero_point: int) -> np.ndarray:
    """int16 PCM windows [N, T] → int8 model inputs [N, frames · n_mels], exactly as the device does."""
    centred = centred_q10(features_q10(pcm, settings)).astype(np.int64)
    scaled = (centred * scale_multiplier(input_scale) + (1 << (MULTIPLIER_SHIFT - 1))) >> MULTIPLIER_SHIFT
    return np.clip(scaled + zero_point, -128, 127).astype(np.int8).reshape(len(centred), -1)


def settings_from_facts(log_mel: dict) -> LogMelSettings:
    """The LogMelSettings recorded in a run's audio facts (extra keys such as hop_length ignored)."""
    fields = LogMelSettings.__dataclass_fields__
    return LogMelSettings(**{key: value for key, value in log_mel.items() if key in fields})

