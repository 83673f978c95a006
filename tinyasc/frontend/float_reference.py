"""float64 reference of the log-mel analysis (librosa's `log_mel` without its float32 steps).

Same framing (center=False), periodic Hann of window_length centred in the n_fft frame, power 1
magnitudes, librosa's Slaney mel filterbank and natural log with the settings' floor, all in
float64: the yardstick for the fixed-point twin's error.
"""

from __future__ import annotations

import numpy as np

from tinyasc.frontend.logmel import LogMelSettings


def mel_filterbank(settings: LogMelSettings) -> np.ndarray:
    """librosa's filterbank in float64: [n_mels, n_fft // 2 + 1]."""
    import librosa

    return librosa.filters.mel(sr=settings.sample_rate, n_fft=settings.n_fft, n_mels=settings.n_mels,
                               fmin=settings.fmin, fmax=settings.fmax, dtype=np.float64)


def log_mel_of_windows(windows: np.ndarray, settings: LogMelSettings) -> np.ndarray:
    """PCM windows [F, window_length] (int16 or float in int16 units) → float64 [F, n_mels]."""
    frames = np.asarray(windows, np.float64) / 32768.0
    length = settings.window_length
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)
    padded = np.zeros((frames.shape[0], settings.n_fft))
    offset = (settings.n_fft - length) // 2
    padded[:, offset:offset + length] = frames * hann
    magnitudes = np.abs(np.fft.rfft(padded, axis=1))
    mel = magnitudes @ mel_filterbank(settings).T
    return np.log(np.maximum(mel, settings.log_floor))
