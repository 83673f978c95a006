"""The papers' waveform augmentations, deterministic by seed, and a tf.data pipeline that runs them.

Per clip (IDLab, Pajusco): random crop, speed perturbation (85/100/115 %), temporal masking, the
Pajusco FIR filter bank, additive white noise at 6–32 dB SNR. Per batch: time-domain mixup
(α = 0.2, IDLab) and CutMix (α = 1, Pajusco). Each function takes a numpy Generator, so the same
seed gives the same augmented data; the tf.data pipeline derives one generator per (seed, epoch,
example) and so stays deterministic whatever the batching.

A clip is [T] (mono) or [T, C] (binaural: every channel gets the same crop, speed, mask, filter and
SNR, so the interaural cues survive); batches are [B, T] or [B, T, C].
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from tinyasc.errors import TinyascError

SPEED_RATES = (0.85, 1.0, 1.15)
FIR_TAPS = 101
# Pajusco et al. §2.2: three low-pass, three high-pass and two band-pass FIR filters.
FIR_BANK = {
    "lowpass_300": ("lowpass", (300.0,)),
    "lowpass_1000": ("lowpass", (1000.0,)),
    "lowpass_2000": ("lowpass", (2000.0,)),
    "highpass_300": ("highpass", (300.0,)),
    "highpass_1000": ("highpass", (1000.0,)),
    "highpass_2000": ("highpass", (2000.0,)),
    "bandpass_1200_3400": ("bandpass", (1200.0, 3400.0)),
    "bandpass_340_3400": ("bandpass", (340.0, 3400.0)),
}

FIR_BANK_HIGHEST_CUTOFF_HZ = max(max(cutoffs) for _, cutoffs in FIR_BANK.values())


# ---- per clip ----


def random_crop(x: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """A random window of `length` samples (IDLab: 3 s); shorter clips are zero-padded."""
    if len(x) <= length:
        return _pad_time(x, length)
    start = int(rng.integers(0, len(x) - length + 1))
    return x[start : start + length]


def change_speed(x: np.ndarray, rate: float) -> np.ndarray:
    """Play `rate` times faster (resampled to len/rate samples), then crop or zero-pad back to the
    original length, as IDLab does after resampling each crop."""
    if rate == 1.0:
        return x.copy()
    from scipy.signal import resample_poly

    ratio = Fraction(rate).limit_denominator(100)
    y = resample_poly(x, ratio.denominator, ratio.numerator, axis=0).astype(np.float32)
    return y[: len(x)] if len(y) >= len(x) else _pad_time(y, len(x))


def _pad_time(x: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad the time axis (axis 0) at the end to `length` samples."""
    return np.pad(x, [(0, length - len(x))] + [(0, 0)] * (x.ndim - 1))


def random_speed(x: np.ndarray, rng: np.random.Generator, rates=SPEED_RATES) -> np.ndarray:
    return change_speed(x, float(rng.choice(rates)))


def temporal_mask(x: np.ndarray, rng: np.random.Generator, mean_fraction: float = 0.4,
                  std_fraction: float = 0.1, positions: int = 1000) -> np.ndarray:
    """Pajusco §2.1: keep a rectangular window of the signal, zero the rest; the window length is
    Gaussian (4 s ± 1 s of a 10 s clip, i.e. 40 % ± 10 %) at one of `positions` positions."""
    n = len(x)
    length = int(np.clip(rng.normal(mean_fraction, std_fraction) * n, 1, n))
    start = int(rng.integers(0, positions) * (n - length) / max(positions - 1, 1))
    masked = np.zeros_like(x)
    masked[start : start + length] = x[start : start + length]
    return masked


def fir_coefficients(name: str, sample_rate: int, taps: int = FIR_TAPS) -> np.ndarray:
    from scipy.signal import firwin

    if name not in FIR_BANK:
        raise TinyascError(f"unknown FIR filter {name!r}; the bank has {', '.join(FIR_BANK)}")
    kind, cutoffs = FIR_BANK[name]
    if max(cutoffs) >= sample_rate / 2:
        raise TinyascError(f"FIR filter {name} needs a sample rate above {2 * max(cutoffs):.0f} Hz; received {sample_rate}")
    pass_zero = {"lowpass": "lowpass", "highpass": "highpass", "bandpass": "bandpass"}[kind]
    return firwin(taps, cutoffs if len(cutoffs) > 1 else cutoffs[0], pass_zero=pass_zero, fs=sample_rate)


def fir_filter(x: np.ndarray, name: str, sample_rate: int) -> np.ndarray:
    """One filter of the bank, zero phase delay (the linear-phase FIR's delay is removed)."""
    from scipy.signal import fftconvolve

    taps = fir_coefficients(name, sample_rate).reshape((-1,) + (1,) * (x.ndim - 1))
    return fftconvolve(x, taps, mode="same", axes=0).astype(np.float32)


def random_fir_filter(x: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    return fir_filter(x, str(rng.choice(list(FIR_BANK))), sample_rate)


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise scaled so that 10·log10(P_signal / P_noise) = snr_db."""
    signal_power = float(np.mean(np.square(x, dtype=np.float64)))
    if signal_power == 0.0:
        return x.copy()
    noise = rng.standard_normal(x.shape)
    noise *= np.sqrt(signal_power / (10 ** (snr_db / 10)) / np.mean(noise**2))
    return (x + noise).astype(np.float32)


def random_noise(x: np.ndarray, rng: np.random.Generator, low_db: float = 6, high_db: float = 32) -> np.ndarray:
    """Pajusco §2.3: SNR drawn from low..high dB in steps of 1 dB."""
    return add_noise(x, float(rng.integers(round(low_db), round(high_db) + 1)), rng)


# ---- per batch: labels are one-hot (or already mixed) float vectors ----


def mixup(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, alpha: float = 0.2):
    """Time-domain mixup: each example mixed with a random partner, λ ~ Beta(α, α) per example."""
    lam = rng.beta(alpha, alpha, size=len(x)).astype(np.float32)
    partner = rng.permutation(len(x))
    lam_x = lam.reshape((-1,) + (1,) * (x.ndim - 1))
    mixed_x = lam_x * x + (1 - lam_x) * x[partner]
    mixed_y = lam[:, None] * y + (1 - lam[:, None]) * y[partner]
    return mixed_x.astype(np.float32), mixed_y.astype(np.float32)


def cutmix(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, alpha: float = 1.0):
    """CutMix in time: a segment of each example is replaced by the same span of a partner's; the
    labels are weighted by the share of samples each keeps (λ = share of the original)."""
    n, length = x.shape[:2]
    partner = rng.permutation(n)
    mixed_x, mixed_y = x.copy(), y.astype(np.float32).copy()
    for i in range(n):
        cut = int(round((1 - rng.beta(alpha, alpha)) * length))
        start = int(rng.integers(0, length - cut + 1))
        mixed_x[i, start : start + cut] = x[partner[i], start : start + cut]
        kept = 1 - cut / length
        mixed_y[i] = kept * y[i] + (1 - kept) * y[partner[i]]
    return mixed_x, mixed_y


# ---- pipeline ----


@dataclass(frozen=True)
class AugmentSettings:
    """Which augmentations run, in the papers' order: crop → speed → mask → filter → noise, then
    per batch mixup or CutMix."""

    sample_rate: int  # Hz of the clips (the FIR bank's cutoffs are in Hz): no default, never a guess
    crop_samples: int | None = None
    speed: bool = False
    temporal_mask_probability: float = 0.0
    fir_probability: float = 0.0  # chance that one filter of the bank is applied
    noise_probability: float = 0.0
    noise_snr_db: tuple[float, float] = (6.0, 32.0)  # lowest, highest SNR, drawn in 1-dB steps
    mixup_alpha: float | None = None
    cutmix_alpha: float | None = None


def augment_clip(x: np.ndarray, settings: AugmentSettings, rng: np.random.Generator) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if settings.crop_samples:
        x = random_crop(x, settings.crop_samples, rng)
    if settings.speed:
        x = random_speed(x, rng)
    if rng.random() < settings.temporal_mask_probability:
        x = temporal_mask(x, rng)
    if rng.random() < settings.fir_probability:
        x = random_fir_filter(x, rng, settings.sample_rate)
    if rng.random() < settings.noise_probability:
        x = random_noise(x, rng, *settings.noise_snr_db)
    return x.astype(np.float32)


def augment_batch(x: np.ndarray, y: np.ndarray, settings: AugmentSettings, rng: np.random.Generator):
    if settings.mixup_alpha:
        x, y = mixup(x, y, rng, settings.mixup_alpha)
    if settings.cutmix_alpha:
        x, y = cutmix(x, y, rng, settings.cutmix_alpha)
    return x, y


def tf_dataset(x, labels: np.ndarray, num_classes: int, settings: AugmentSettings,
               batch_size: int, seed: int, epoch: int = 0, input_fn=None, input_shape: tuple | None = None,
               times=None):
    """A tf.data pipeline of augmented (input [B, ...], one-hot label [B, classes]) batches.

    x: [N, T] or [N, T, C] waveforms (a numpy array, or a data.clips.ClipReader read clip by clip).
    Without input_fn a batch is the augmented waveforms [B, T(, C)]; with it, input_fn(waveforms)
    (e.g. the model's 2-D form or log-mel features), whose per-example shape is `input_shape`.
    Shuffling and every random choice come from (seed, epoch, example or batch index), so a run is
    reproducible and a resumed run sees the same data as an uninterrupted one. times: a
    pipeline.InputTimes that adds up where the input's time goes.
    """
    from tinyasc.data.pipeline import waveform_batches

    if input_fn is not None and input_shape is None:
        raise TinyascError("tf_dataset: give input_shape, the per-example shape input_fn returns")

    def clip_fn(clip, i):
        return augment_clip(clip, settings, np.random.default_rng([seed, epoch, i]))

    def batch_fn(bx, by, k):
        return augment_batch(bx, by, settings, np.random.default_rng([seed, epoch, 1_000_000 + k]))

    return waveform_batches(
        x, labels, batch_size, order=np.random.default_rng([seed, epoch]).permutation(len(x)), clip_fn=clip_fn,
        batch_fn=batch_fn, input_fn=input_fn, input_shape=input_shape, num_classes=num_classes, times=times,
        clip_shape=[settings.crop_samples or x.shape[1], *x.shape[2:]],
    )
