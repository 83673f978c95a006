"""Constant tables of the fixed-point log-mel front-end, computed once from a LogMelSettings.

The numpy twin (fixed_point.py) and the generated C (firmware_templates/frontend/) read the same
tables, so they can agree bit for bit. Every table is sized for the settings at hand (a 512-point
real FFT gets 256-point complex twiddles, not a library's largest size).

    window_q31      periodic Hann of window_length samples, Q31 (int32): a Q15 window adds an error
                    of the same size as int16 quantization noise to loud frames
    twiddles_q31    W_M^k = cos(2πk/M) - j sin(2πk/M), k < 3M/4, interleaved (cos, sin), Q31,
                    M = n_fft / 2: the complex FFT's radix-4 stages read exponents j, 2j, 3j
    stage_twiddles_q31  the same values in the order the C reads them: per radix-4 stage, per
                    j >= 1, the twiddles of inputs 1, 2 and 3 (exponents 2j, j, 3j times the stride)
    split_q31       W_2M^k, k <= M/2: the split of the complex FFT into the real FFT of 2M points
    bit_reverse     destination of complex point n in the bit-reversed FFT input
    mel_points      first bin of each interval between consecutive mel points (n_mels + 2 entries)
    mel_rise_q15    per bin from mel_points[0]: the rising weight of the band whose left foot opens
                    the bin's interval; the band closing there gets 1 - weight (triangles overlap
                    by half, so one weight per bin describes both)
    band_offset_q16 per band: ln(Slaney area normalisation) + the fixed scaling of the pipeline,
                    natural-log units in Q16, added in the log domain instead of multiplying
    sqrt_q16, ln_q16  seeds of the integer square root (sqrt((i + 32.5) 2^23)) and ln(1 + i/64)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinyasc.errors import TinyascError
from tinyasc.frontend.logmel import LogMelSettings

OUTPUT_FRAC_BITS = 10  # the front-end's output is int16 natural log in Q10 (1/1024 per step)
LOG_FRAC_BITS = 16  # internal precision of the log
LN2_Q16 = round(math.log(2) * (1 << LOG_FRAC_BITS))
WEIGHT_BITS = 15  # mel weights in Q15
Q31_ONE = 1 << 31
SQRT_SEED_FIRST = 32  # seeds for the top 9 bits 32..256 of a power in [2^28, 2^31]
LN_TABLE_BITS = 6  # ln(1 + f) sampled at f = i / 64, linearly interpolated with the next 10 bits
LN_INTERP_BITS = 10


@dataclass(frozen=True)
class FrontendTables:
    """Everything the fixed-point front-end needs for one LogMelSettings."""

    settings: LogMelSettings
    fft_points: int  # M: complex FFT size, n_fft / 2
    radix2_stages: int  # 0 or 1 radix-2 stage before the radix-4 stages
    radix4_stages: int
    window_shift: int  # right shift after windowing: leaves headroom for the FFT's growth
    window_offset: int  # first sample of the window in librosa's n_fft frame (centred window)
    window_q31: np.ndarray  # int32 [window_length]
    twiddles_q31: np.ndarray  # int32 [3M/4, 2]
    stage_twiddles_q31: np.ndarray  # int32 [sum over stages of quarter - 1, 3, 2]: the C's layout
    split_q31: np.ndarray  # int32 [M/2 + 1, 2]
    bit_reverse: np.ndarray  # int32 [M]
    mel_points: np.ndarray  # int32 [n_mels + 2]: bin where each interval starts
    mel_rise_q15: np.ndarray  # int32 [mel_points[-1] - mel_points[0]]
    band_offset_q16: np.ndarray  # int32 [n_mels]
    sqrt_q16: np.ndarray  # int32 [225]
    ln_q16: np.ndarray  # int32 [65]
    log_floor_q10: int

    @property
    def n_fft(self) -> int:
        return self.settings.n_fft

    @property
    def n_mels(self) -> int:
        return self.settings.n_mels

    @property
    def scratch_words(self) -> int:
        """int32 words of scratch: the complex FFT buffer plus the Nyquist bin's magnitude."""
        return 2 * self.fft_points + 2

    def table_bytes(self) -> dict[str, int]:
        """Bytes of flash per table as the C declares them (see tas_logmel_tables.c.j2)."""
        bit_reverse_bytes = 1 if self.fft_points <= 256 else 2
        return {
            "window": 4 * self.window_q31.size,
            "twiddles": 4 * self.stage_twiddles_q31.size,
            "split_twiddles": 4 * self.split_q31.size,
            "bit_reverse": bit_reverse_bytes * self.bit_reverse.size,
            "mel_points": 2 * self.mel_points.size,
            "mel_weights": 2 * self.mel_rise_q15.size,
            "band_offsets": 4 * self.band_offset_q16.size,
            "sqrt_seeds": 2 * self.sqrt_q16.size,
            "ln_table": 2 * self.ln_q16.size,
        }


# ---- Slaney mel scale (librosa's default, htk=False) ------------------------------------------------

_MEL_LINEAR_STEP_HZ = 200.0 / 3
_MEL_LOG_START_HZ = 1000.0
_MEL_LOG_START = _MEL_LOG_START_HZ / _MEL_LINEAR_STEP_HZ
_MEL_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel(hz) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _MEL_LINEAR_STEP_HZ
    logarithmic = _MEL_LOG_START + np.log(np.maximum(hz, _MEL_LOG_START_HZ) / _MEL_LOG_START_HZ) / _MEL_LOG_STEP
    return np.where(hz >= _MEL_LOG_START_HZ, logarithmic, linear)


def mel_to_hz(mel) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * _MEL_LINEAR_STEP_HZ
    logarithmic = _MEL_LOG_START_HZ * np.exp(_MEL_LOG_STEP * (mel - _MEL_LOG_START))
    return np.where(mel >= _MEL_LOG_START, logarithmic, linear)


def mel_point_frequencies(settings: LogMelSettings) -> np.ndarray:
    """The n_mels + 2 corner frequencies of the triangles (librosa.mel_frequencies)."""
    fmax = settings.fmax if settings.fmax is not None else settings.sample_rate / 2
    return mel_to_hz(np.linspace(hz_to_mel(settings.fmin), hz_to_mel(fmax), settings.n_mels + 2))


# ---- tables -------------------------------------------------------------------------------------------

def _q31(values: np.ndarray) -> np.ndarray:
    """round(x * 2^31), +1.0 clamped to the largest int32 (used for sin(pi/2) and the window's peak)."""
    return np.clip(np.round(values * Q31_ONE), -Q31_ONE, Q31_ONE - 1).astype(np.int64).astype(np.int32)


def _unit_roots(order: int, count: int) -> np.ndarray:
    angles = 2 * np.pi * np.arange(count) / order
    return np.stack([_q31(np.cos(angles)), _q31(np.sin(angles))], axis=1)


def _stage_twiddles(twiddles: np.ndarray, points: int, first_quarter: int, stages: int) -> np.ndarray:
    rows, quarter = [], first_quarter
    for _ in range(stages):
        stride = points // (4 * quarter)
        j = np.arange(1, quarter)
        rows.append(np.stack([twiddles[2 * j * stride], twiddles[j * stride], twiddles[3 * j * stride]], axis=1))
        quarter *= 4
    return np.concatenate(rows).astype(np.int32) if rows else np.zeros((0, 3, 2), np.int32)


def _bit_reverse(points: int) -> np.ndarray:
    bits = points.bit_length() - 1
    n = np.arange(points)
    reversed_ = np.zeros(points, dtype=np.int64)
    for bit in range(bits):
        reversed_ |= ((n >> bit) & 1) << (bits - 1 - bit)
    return reversed_.astype(np.int32)


def _mel_spans(settings: LogMelSettings) -> tuple[np.ndarray, np.ndarray]:
    """Interval starts (in bins) and per-bin rising weights, Q15."""
    corners = mel_point_frequencies(settings)
    bin_hz = np.fft.rfftfreq(settings.n_fft, 1.0 / settings.sample_rate)
    # interval i holds the bins with corners[i] <= f < corners[i + 1]
    starts = np.searchsorted(bin_hz, corners, side="left").astype(np.int32)
    bins = np.arange(starts[0], starts[-1])
    interval = np.searchsorted(starts, bins, side="right") - 1
    rise = (bin_hz[bins] - corners[interval]) / (corners[interval + 1] - corners[interval])
    rise_q15 = np.clip(np.round(rise * (1 << WEIGHT_BITS)), 0, 1 << WEIGHT_BITS).astype(np.int32)
    return starts, rise_q15


def _band_offsets(settings: LogMelSettings, fft_stages: int, window_shift: int) -> np.ndarray:
    """ln(Slaney normalisation) + ln of the pipeline's fixed scale, Q16.

    The integer band energy is E = 2^15 * sum(w * |X_int| / 2) with |X_int| = |DFT(x * hann)| *
    2^(30 + s - window_shift - fft_stages) for x = pcm / 32768 and frame shift s, so
    ln(mel) = ln(E) + ln(enorm) + (fft_stages + window_shift - 44 - s) ln 2; s is added per frame."""
    corners = mel_point_frequencies(settings)
    enorm = 2.0 / (corners[2:] - corners[:-2])
    offsets = np.log(enorm) + (fft_stages + window_shift - 44) * math.log(2)
    return np.round(offsets * (1 << LOG_FRAC_BITS)).astype(np.int64).astype(np.int32)


def frontend_tables(settings: LogMelSettings) -> FrontendTables:
    """The tables and constants for `settings`; refuses what the fixed-point pipeline cannot run."""
    n_fft, window_length = settings.n_fft, settings.window_length
    if n_fft < 16 or n_fft & (n_fft - 1):
        raise TinyascError(f"the fixed-point front-end needs n_fft a power of two >= 16; received: n_fft={n_fft}")
    offset = (n_fft - window_length) // 2
    if offset % 2:
        raise TinyascError(
            f"the fixed-point front-end pairs samples into complex points, so the centred window must start on an "
            f"even sample; received: n_fft={n_fft}, window_length={window_length} (offset {offset}); "
            f"change window_s by one sample")
    points = n_fft // 2
    log2_points = points.bit_length() - 1
    radix2, radix4 = log2_points % 2, log2_points // 2
    # |Z| <= 2^radix4 * sqrt(2) * max|v| after the FFT and the split doubles that once: keep max|v| at
    # 2^(30 - window_shift) so every intermediate stays below 2^31.
    window_shift = radix4 + 1
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window_length) / window_length)  # periodic, as librosa
    starts, rise_q15 = _mel_spans(settings)
    twiddles = _unit_roots(points, 3 * points // 4)
    seeds = np.sqrt((np.arange(SQRT_SEED_FIRST, 257) + 0.5) * 2.0**23)
    ln_table = np.log1p(np.arange((1 << LN_TABLE_BITS) + 1) / (1 << LN_TABLE_BITS)) * (1 << LOG_FRAC_BITS)
    return FrontendTables(
        settings=settings,
        fft_points=points,
        radix2_stages=radix2,
        radix4_stages=radix4,
        window_shift=window_shift,
        window_offset=offset,
        window_q31=_q31(hann),
        twiddles_q31=twiddles,
        stage_twiddles_q31=_stage_twiddles(twiddles, points, 1 << radix2, radix4),
        split_q31=_unit_roots(2 * points, points // 2 + 1),
        bit_reverse=_bit_reverse(points),
        mel_points=starts,
        mel_rise_q15=rise_q15,
        band_offset_q16=_band_offsets(settings, radix2 + radix4, window_shift),
        sqrt_q16=np.round(seeds).astype(np.int32),
        ln_q16=np.round(ln_table).astype(np.int32),
        log_floor_q10=int(round(math.log(settings.log_floor) * (1 << OUTPUT_FRAC_BITS))),
    )
