"""The numpy twin of the device's fixed-point log-mel front-end (firmware_templates/frontend/).

One frame: window_length int16 PCM samples (the non-zero part of librosa's centred window inside
its n_fft frame) → n_mels int16 log-mel values, natural log in Q10 (value / 1024), equal to
librosa's `log_mel` on pcm / 32768 (Hann, center=False, power=1.0 magnitudes, Slaney mel, natural
log with the settings' floor) to within a few thousandths above the noise floor.

Every step is integer arithmetic that the C repeats bit for bit:

 1. block exponent: s = 15 - (bits of OR_n (x ^ (x >> 31))), so max |x| << s fills int16; quiet
    frames keep their precision, and s is subtracted back in the log domain.
 2. window: p = floor(hann_q31 * x / 2^16) (one SMULWB on the M4), then v = p * 2^(s - window_shift)
    (a left shift, or an arithmetic right shift when s < window_shift): |v| <= 2^(30 - window_shift).
    Written in bit-reversed order as complex points z_n = v_2n + j v_2n+1.
 3. complex FFT of M = n_fft / 2 points, int32: an optional radix-2 stage, then radix-4 stages
    (decimation in time). Every stage halves its outputs: a twiddled term is
    mulhi(y, W) = floor(y * W_q31 / 2^32), the untwiddled term y >> 1; the growth of 4 per radix-4
    stage therefore costs 1 bit, and window_shift keeps every value below 2^31.
 4. split into the real FFT's bins k and M - k, and half magnitudes |X| / 2: both components
    shifted left until the larger fills 31 bits, the top word of their 64-bit power, a seed from
    its top byte, one Newton step (UDIV), shifted back.
 5. mel: per interval between mel points, E_rise += |X| w and E_fall += |X| (2^15 - w), 64-bit.
 6. log: ln E = (63 - clz E) ln 2 + ln(1 + f) (65-entry table, linear interpolation), plus the
    band's constant offset, minus s ln 2, rounded to Q10 and clamped at the log floor.
"""

from __future__ import annotations

import numpy as np

from tinyasc.frontend.fixed_point_tables import (
    LN2_Q16,
    LN_INTERP_BITS,
    LN_TABLE_BITS,
    LOG_FRAC_BITS,
    OUTPUT_FRAC_BITS,
    SQRT_SEED_FIRST,
    WEIGHT_BITS,
    FrontendTables,
    frontend_tables,
)
from tinyasc.frontend.logmel import LogMelSettings, frame_count

PCM_SCALE = 32768.0  # float waveform = pcm / 32768
FRAMES_PER_CHUNK = 64


def dequantize(q10: np.ndarray) -> np.ndarray:
    """int16 Q10 front-end output → float32 natural-log units."""
    return (np.asarray(q10, np.float32) / (1 << OUTPUT_FRAC_BITS)).astype(np.float32)


def pcm_from_float(waveforms: np.ndarray) -> np.ndarray:
    """float waveforms in [-1, 1) → int16 PCM (round to nearest, saturate)."""
    return np.clip(np.round(np.asarray(waveforms, np.float64) * PCM_SCALE), -32768, 32767).astype(np.int16)


def frame_windows(pcm: np.ndarray, settings: LogMelSettings) -> np.ndarray:
    """int16 [T] → int16 [frames, window_length]: the part of each librosa frame (center=False,
    hop_length apart) that the centred window does not zero."""
    tables = frontend_tables(settings)
    count = frame_count(len(pcm), settings)
    starts = np.arange(count) * settings.hop_length + tables.window_offset
    return np.asarray(pcm, np.int16)[starts[:, None] + np.arange(settings.window_length)]


# ---- the pipeline, vectorised over frames -------------------------------------------------------

def _block_exponent(frames: np.ndarray) -> np.ndarray:
    """Left shift s per frame that brings max |x| to the top of int16 (15 for silence)."""
    x = frames.astype(np.int64)
    ones_complement_abs = np.bitwise_or.reduce(x ^ (x >> 31), axis=1)
    bits = np.where(ones_complement_abs > 0, np.floor(np.log2(np.maximum(ones_complement_abs, 1))) + 1, 0)
    return (15 - bits).astype(np.int64)


def _windowed_points(frames: np.ndarray, shifts: np.ndarray, t: FrontendTables) -> tuple[np.ndarray, np.ndarray]:
    """Window, scale and pack into bit-reversed complex points: (re, im) int64 [F, M]."""
    count, points = frames.shape[0], t.fft_points
    product = (t.window_q31.astype(np.int64) * frames.astype(np.int64)) >> 16
    up = np.maximum(shifts - t.window_shift, 0)[:, None]
    down = np.maximum(t.window_shift - shifts, 0)[:, None]
    v = (product << up) >> down
    first = t.window_offset // 2  # complex point of the window's first sample pair
    re, im = np.zeros((count, points), np.int64), np.zeros((count, points), np.int64)
    re[:, t.bit_reverse[first:first + (v.shape[1] + 1) // 2]] = v[:, 0::2]
    im[:, t.bit_reverse[first:first + v.shape[1] // 2]] = v[:, 1::2]
    return re, im


def _mulhi(re: np.ndarray, im: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(re + j im)(cos - j sin) / 2 with W in Q31: floor((.) / 2^32) per component."""
    return (re * cos + im * sin) >> 32, (im * cos - re * sin) >> 32


def _twiddled_half(re, im, exponents, twiddles):
    """y * W^e / 2; exponent 0 is an exact halving (W^0 = 1 is not representable in Q31)."""
    cos = twiddles[exponents, 0].astype(np.int64)
    sin = twiddles[exponents, 1].astype(np.int64)
    out_re, out_im = _mulhi(re, im, cos, sin)
    unit = exponents == 0
    return np.where(unit, re >> 1, out_re), np.where(unit, im >> 1, out_im)


def _radix4_stage(re, im, quarter: int, t: FrontendTables):
    """Combine blocks of 4 sub-DFTs of `quarter` points: out = radix-4 butterfly / 2."""
    count, points = re.shape
    shape = (count, points // (4 * quarter), 4, quarter)
    re, im = re.reshape(shape), im.reshape(shape)
    j = np.arange(quarter)
    stride = points // (4 * quarter)
    a_re, a_im = re[:, :, 0] >> 1, im[:, :, 0] >> 1
    t1 = _twiddled_half(re[:, :, 1], im[:, :, 1], 2 * j * stride, t.twiddles_q31)
    t2 = _twiddled_half(re[:, :, 2], im[:, :, 2], j * stride, t.twiddles_q31)
    t3 = _twiddled_half(re[:, :, 3], im[:, :, 3], 3 * j * stride, t.twiddles_q31)
    sum_re, sum_im = a_re + t1[0], a_im + t1[1]  # A = a + t1
    dif_re, dif_im = a_re - t1[0], a_im - t1[1]  # B = a - t1
    pair_re, pair_im = t2[0] + t3[0], t2[1] + t3[1]  # C = t2 + t3
    cross_re, cross_im = t2[0] - t3[0], t2[1] - t3[1]  # D = t2 - t3
    out_re, out_im = np.empty_like(re), np.empty_like(im)
    out_re[:, :, 0], out_im[:, :, 0] = sum_re + pair_re, sum_im + pair_im
    out_re[:, :, 1], out_im[:, :, 1] = dif_re + cross_im, dif_im - cross_re
    out_re[:, :, 2], out_im[:, :, 2] = sum_re - pair_re, sum_im - pair_im
    out_re[:, :, 3], out_im[:, :, 3] = dif_re - cross_im, dif_im + cross_re
    return out_re.reshape(count, points), out_im.reshape(count, points)


def _complex_fft(re, im, t: FrontendTables):
    count, points = re.shape
    quarter = 1
    if t.radix2_stages:
        pairs_re, pairs_im = re.reshape(count, -1, 2) >> 1, im.reshape(count, -1, 2) >> 1
        re = np.stack([pairs_re[..., 0] + pairs_re[..., 1], pairs_re[..., 0] - pairs_re[..., 1]], -1).reshape(count, points)
        im = np.stack([pairs_im[..., 0] + pairs_im[..., 1], pairs_im[..., 0] - pairs_im[..., 1]], -1).reshape(count, points)
        quarter = 2
    for _ in range(t.radix4_stages):
        re, im = _radix4_stage(re, im, quarter, t)
        quarter *= 4
    return re, im


def _bit_length(values: np.ndarray) -> np.ndarray:
    """Exact bit length of uint64 values (0 for 0): float64 log2, corrected where it rounded up."""
    bits = np.zeros(values.shape, np.int64)
    nonzero = values > 0
    bits[nonzero] = np.floor(np.log2(values[nonzero].astype(np.float64))).astype(np.int64) + 1
    rounded_up = nonzero & ((values >> np.maximum(bits - 1, 0).astype(np.uint64)) == 0)
    return bits - rounded_up


def _half_magnitude(re: np.ndarray, im: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """|re + j im| / 2 to ~15 significant bits (int32 components): shift both left by z so the larger
    fills 31 bits, keep the top word of the 64-bit power, seed its root from a table, one Newton step,
    then (root << 15) >> z. Components whose ones' complements are both 0 (0 and -1) give 0."""
    spread = (re ^ (re >> 63)) | (im ^ (im >> 63))
    zeros = 31 - _bit_length(spread.astype(np.uint64))
    zeros = np.minimum(zeros, 31)
    re_n, im_n = re << zeros, im << zeros
    top = ((re_n * re_n).astype(np.uint64) + (im_n * im_n).astype(np.uint64)) >> np.uint64(32)
    top = top.astype(np.int64)
    seed = seeds[np.clip((top >> 23) - SQRT_SEED_FIRST, 0, len(seeds) - 1)]
    root = (seed + top // seed) >> 1
    return np.where(spread > 0, (root << 15) >> zeros, 0)


def _split_magnitudes(re, im, t: FrontendTables) -> np.ndarray:
    """Complex FFT of the packed frame → |X[k]| / 2 of the real FFT, k = 0..M, int64 [F, M + 1]."""
    count, points = re.shape
    k = np.arange(1, points // 2 + 1)
    mirror = points - k
    s_re, s_im = re[:, k] + re[:, mirror], im[:, k] - im[:, mirror]  # S = Z[k] + conj Z[M-k]
    d_re, d_im = re[:, k] - re[:, mirror], im[:, k] + im[:, mirror]  # D = Z[k] - conj Z[M-k]
    t_re, t_im = _mulhi(d_re, d_im, t.split_q31[k, 0].astype(np.int64), t.split_q31[k, 1].astype(np.int64))
    half_re, half_im = s_re >> 1, s_im >> 1
    low_re, low_im = half_re + t_im, half_im - t_re  # X[k] = S/2 - jT
    high_re, high_im = half_re - t_im, half_im + t_re  # conj X[M-k] = S/2 + jT
    seeds = t.sqrt_q16.astype(np.int64)
    magnitudes = np.zeros((count, points + 1), np.int64)
    magnitudes[:, k] = _half_magnitude(low_re, low_im, seeds)
    magnitudes[:, mirror[:-1]] = _half_magnitude(high_re[:, :-1], high_im[:, :-1], seeds)
    magnitudes[:, 0] = np.abs(re[:, 0] + im[:, 0]) >> 1
    magnitudes[:, points] = np.abs(re[:, 0] - im[:, 0]) >> 1
    return magnitudes


def _mel_energies(magnitudes: np.ndarray, t: FrontendTables) -> np.ndarray:
    """Band energies E_b = sum (|X| / 2) w_b(k) * 2^15, exact int64 [F, n_mels]."""
    starts = t.mel_points - t.mel_points[0]
    span = magnitudes[:, t.mel_points[0]:t.mel_points[-1]]
    rise = t.mel_rise_q15.astype(np.int64)
    energies = np.zeros((magnitudes.shape[0], t.n_mels), np.int64)
    for band in range(t.n_mels):
        rising = slice(starts[band], starts[band + 1])
        falling = slice(starts[band + 1], starts[band + 2])
        energies[:, band] = (span[:, rising] * rise[rising]).sum(1) + \
            (span[:, falling] * ((1 << WEIGHT_BITS) - rise[falling])).sum(1)
    return energies


def _log_q10(energies: np.ndarray, shifts: np.ndarray, t: FrontendTables) -> np.ndarray:
    e = energies.astype(np.uint64)
    nonzero = e > 0
    lead = np.maximum(_bit_length(e) - 1, 0)  # index of the leading one bit
    normalised = (e << (63 - lead).astype(np.uint64)).astype(np.uint64)
    index = ((normalised >> np.uint64(63 - LN_TABLE_BITS)) & np.uint64((1 << LN_TABLE_BITS) - 1)).astype(np.int64)
    frac = ((normalised >> np.uint64(63 - LN_TABLE_BITS - LN_INTERP_BITS))
            & np.uint64((1 << LN_INTERP_BITS) - 1)).astype(np.int64)
    table = t.ln_q16.astype(np.int64)
    ln_mantissa = table[index] + (((table[index + 1] - table[index]) * frac) >> LN_INTERP_BITS)
    ln_q16 = (lead - shifts[:, None]) * LN2_Q16 + ln_mantissa + t.band_offset_q16.astype(np.int64)
    q10 = (ln_q16 + (1 << (LOG_FRAC_BITS - OUTPUT_FRAC_BITS - 1))) >> (LOG_FRAC_BITS - OUTPUT_FRAC_BITS)
    q10 = np.where(nonzero, q10, t.log_floor_q10)
    return np.clip(q10, t.log_floor_q10, 32767).astype(np.int16)


def logmel_frames_q10(frames: np.ndarray, settings: LogMelSettings | FrontendTables) -> np.ndarray:
    """int16 [F, window_length] PCM windows → int16 [F, n_mels] log-mel, Q10 natural log: exactly
    what tas_logmel_frame computes on the device."""
    t = settings if isinstance(settings, FrontendTables) else frontend_tables(settings)
    frames = np.atleast_2d(np.asarray(frames))
    if frames.dtype != np.int16 or frames.shape[1] != t.settings.window_length:
        raise ValueError(f"expected int16 frames of {t.settings.window_length} samples; "
                         f"received: dtype={frames.dtype}, shape={frames.shape}")
    chunks = []
    for start in range(0, len(frames), FRAMES_PER_CHUNK):  # chunks keep the int64 temporaries in cache
        chunk = frames[start:start + FRAMES_PER_CHUNK]
        shifts = _block_exponent(chunk)
        re, im = _complex_fft(*_windowed_points(chunk, shifts, t), t)
        chunks.append(_log_q10(_mel_energies(_split_magnitudes(re, im, t), t), shifts, t))
    return np.concatenate(chunks) if chunks else np.zeros((0, t.n_mels), np.int16)


def log_mel_fixed(pcm: np.ndarray, settings: LogMelSettings) -> np.ndarray:
    """int16 PCM [T] (or [N, T]) → float32 [N, frames, n_mels] natural-log mel energies computed with
    the device's arithmetic: the features to train on so that the network sees what the board sees.
    Float waveforms are converted with pcm_from_float first."""
    pcm = np.asarray(pcm)
    if pcm.dtype != np.int16:
        pcm = pcm_from_float(pcm)
    clips = np.atleast_2d(pcm)
    tables = frontend_tables(settings)
    return np.stack([dequantize(logmel_frames_q10(frame_windows(clip, settings), tables)) for clip in clips])
