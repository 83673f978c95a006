"""Features and augmentations do what the papers say: frame counts and band placement, saved
normalisation, crop/speed/mask shapes, filter responses, the SNR reached, label mixing weights,
and determinism by seed (also through tf.data)."""

import numpy as np
import pytest

from tinyasc.data import augment
from tinyasc.frontend.logmel import FeatureStats, LogMelSettings, frame_count, log_mel, mean_normalize_over_time, preset
from tinyasc.errors import TinyascError

RATE = 16000


def tone(frequency, seconds=1.0, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def band_energy(x, low, high, rate=RATE):
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return spectrum[(freqs >= low) & (freqs < high)].sum()


# ---- features ----


def test_idlab_preset_is_30ms_windows_10ms_hop_4096_dft_128_bands():
    s = preset("idlab")
    assert (s.sample_rate, s.window_length, s.hop_length, s.n_fft, s.n_mels) == (44100, 1323, 441, 4096, 128)


def test_log_mel_frames_and_the_band_of_a_tone():
    settings = LogMelSettings(sample_rate=RATE, n_fft=1024, n_mels=40)
    features = log_mel(np.stack([tone(500), tone(4000)]), settings)
    assert features.shape == (2, frame_count(RATE, settings), 40) == (2, 1 + (RATE - 1024) // 160, 40)
    low_band, high_band = features[0].mean(axis=0).argmax(), features[1].mean(axis=0).argmax()
    assert low_band < high_band  # a higher tone lands in a higher mel band
    import librosa

    centers = librosa.mel_frequencies(n_mels=42, fmin=0, fmax=RATE / 2)[1:-1]
    assert abs(centers[low_band] - 500) < 120 and abs(centers[high_band] - 4000) < 600


def test_normalisation_is_saved_and_reloaded_exactly(tmp_path):
    features = np.random.default_rng(0).normal(3, 2, (10, 50, 8)).astype(np.float32)
    stats = FeatureStats.fit(features)
    stats.save(tmp_path / "stats.json", preset("idlab-16k"))
    again = FeatureStats.load(tmp_path / "stats.json")
    assert np.array_equal(again.apply(features), stats.apply(features))
    normalized = stats.apply(features).reshape(-1, 8)
    assert np.allclose(normalized.mean(axis=0), 0, atol=1e-4) and np.allclose(normalized.std(axis=0), 1, atol=1e-3)
    assert np.allclose(mean_normalize_over_time(features).mean(axis=1), 0, atol=1e-5)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(TinyascError, match="cannot read feature statistics"):
        FeatureStats.load(tmp_path / "bad.json")


def test_clips_shorter_than_one_frame_are_a_clear_error():
    with pytest.raises(TinyascError, match="shorter than one"):
        frame_count(100, preset("idlab"))


# ---- per-clip augmentations ----


def test_random_crop_takes_a_window_of_the_signal():
    x = np.arange(1000, dtype=np.float32)
    crop = augment.random_crop(x, 300, np.random.default_rng(0))
    assert len(crop) == 300 and np.all(np.diff(crop) == 1) and crop[0] in x
    assert len(augment.random_crop(x[:100], 300, np.random.default_rng(0))) == 300


@pytest.mark.parametrize("rate", augment.SPEED_RATES)
def test_speed_keeps_the_length_and_scales_frequencies(rate):
    y = augment.change_speed(tone(1000), rate)
    assert len(y) == RATE
    spectrum = np.abs(np.fft.rfft(y[: int(RATE / 1.2)]))
    peak = np.fft.rfftfreq(int(RATE / 1.2), 1 / RATE)[spectrum.argmax()]
    assert abs(peak - 1000 * rate) < 10


def test_temporal_mask_keeps_one_window_and_zeroes_the_rest():
    x = np.ones(10_000, dtype=np.float32)
    masked = augment.temporal_mask(x, np.random.default_rng(1))
    kept = np.flatnonzero(masked)
    assert len(masked) == len(x) and np.all(np.diff(kept) == 1) and 1000 < len(kept) < 8000


@pytest.mark.parametrize("name", list(augment.FIR_BANK))
def test_fir_bank_passes_and_stops_the_right_frequencies(name):
    kind, cutoffs = augment.FIR_BANK[name]
    passband = {"lowpass": cutoffs[0] / 3, "highpass": min(cutoffs[0] * 3, 7000), "bandpass": sum(cutoffs) / 2}[kind]
    stopband = {"lowpass": min(cutoffs[0] * 3, 7000), "highpass": cutoffs[0] / 4, "bandpass": 7000}[kind]
    kept = band_energy(augment.fir_filter(tone(passband), name, RATE), passband - 20, passband + 20) / band_energy(tone(passband), passband - 20, passband + 20)
    gone = band_energy(augment.fir_filter(tone(stopband), name, RATE), stopband - 20, stopband + 20) / band_energy(tone(stopband), stopband - 20, stopband + 20)
    assert kept > 0.7 and gone < 0.05, (kept, gone)


@pytest.mark.parametrize("snr_db", [6, 20, 32])
def test_noise_reaches_the_requested_snr(snr_db):
    x = tone(440, seconds=2)
    noisy = augment.add_noise(x, snr_db, np.random.default_rng(0))
    measured = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((noisy - x).astype(np.float64) ** 2))
    assert abs(measured - snr_db) < 0.01


# ---- per-batch augmentations ----


def test_mixup_mixes_inputs_and_labels_with_the_same_weight():
    x = np.random.default_rng(0).normal(size=(8, 100)).astype(np.float32)
    y = np.eye(8, dtype=np.float32)  # one class per example: the label row shows both weights
    mx, my = augment.mixup(x, y, np.random.default_rng(5), alpha=0.2)
    assert np.allclose(my.sum(axis=1), 1)
    for i in range(8):
        weight = my[i, i]
        partner = int(np.argmax(np.where(np.arange(8) == i, -1, my[i]))) if weight < 1 else i
        assert np.allclose(mx[i], weight * x[i] + (1 - weight) * x[partner], atol=1e-5)


def test_cutmix_label_weights_equal_the_share_of_samples_kept():
    x = np.stack([np.full(1000, i, dtype=np.float32) for i in range(6)])
    y = np.eye(6, dtype=np.float32)
    mx, my = augment.cutmix(x, y, np.random.default_rng(3))
    for i in range(6):
        share_kept = np.mean(mx[i] == i)
        assert my[i, i] == pytest.approx(share_kept, abs=1e-6) or np.all(mx[i] == i)
        assert my[i].sum() == pytest.approx(1.0)


def test_tf_pipeline_is_deterministic_by_seed():
    settings = augment.AugmentSettings(sample_rate=RATE, crop_samples=800, speed=True, temporal_mask_probability=1.0, fir_probability=1.0,
                                       noise_probability=1.0, mixup_alpha=0.2)
    x = np.random.default_rng(0).normal(0, 0.1, (10, 1000)).astype(np.float32)
    labels = np.arange(10) % 3

    def run(seed):
        return [(a.numpy(), b.numpy()) for a, b in augment.tf_dataset(x, labels, 3, settings, 4, seed)]

    first, again, other = run(7), run(7), run(8)
    assert [a.shape for a, _ in first] == [(4, 800), (4, 800), (2, 800)]
    assert all(np.array_equal(a, c) and np.array_equal(b, d) for (a, b), (c, d) in zip(first, again))
    assert not np.array_equal(first[0][0], other[0][0])
    assert all(np.allclose(b.sum(axis=1), 1) for _, b in first)


def test_binaural_clips_get_the_same_augmentation_in_both_channels():
    """[T, 2] clips: crop, speed, mask, filter and noise act on the time axis of both channels alike."""
    rng = np.random.default_rng(0)
    left = rng.normal(0, 0.1, 4000).astype(np.float32)
    stereo = np.stack([left, 2 * left], axis=1)  # right = 2 × left: any shared operation keeps the ratio
    settings = augment.AugmentSettings(sample_rate=RATE, crop_samples=3000, speed=True, temporal_mask_probability=1.0,
                                       fir_probability=1.0)
    out = augment.augment_clip(stereo, settings, np.random.default_rng(5))
    assert out.shape == (3000, 2) and np.any(out[:, 0] != 0)
    np.testing.assert_allclose(out[:, 1], 2 * out[:, 0], atol=1e-5)
    assert np.array_equal(out, augment.augment_clip(stereo, settings, np.random.default_rng(5)))
    noisy = augment.add_noise(stereo, 10.0, np.random.default_rng(1))
    assert noisy.shape == stereo.shape and not np.allclose(noisy[:, 1], 2 * noisy[:, 0])
    mixed, _ = augment.mixup(np.stack([stereo, -stereo]), np.eye(2, dtype=np.float32), np.random.default_rng(2))
    assert mixed.shape == (2, 4000, 2)
    np.testing.assert_allclose(mixed[..., 1], 2 * mixed[..., 0], atol=1e-5)


def test_tf_pipeline_applies_the_model_input_function_per_batch():
    x = np.random.default_rng(0).normal(0, 0.1, (6, 1000, 2)).astype(np.float32)
    settings = augment.AugmentSettings(sample_rate=RATE, crop_samples=500, cutmix_alpha=1.0)

    def as_2d(waveforms):  # [B, T, C] → [B, T, 1, C], as train/loop.py's as_model_input
        return waveforms[:, :, np.newaxis, :]

    batches = list(augment.tf_dataset(x, np.arange(6) % 2, 2, settings, 4, seed=1, input_fn=as_2d,
                                      input_shape=(500, 1, 2)))
    assert [tuple(a.shape) for a, _ in batches] == [(4, 500, 1, 2), (2, 500, 1, 2)]
    with pytest.raises(TinyascError, match="give input_shape"):
        augment.tf_dataset(x, np.arange(6) % 2, 2, settings, 4, seed=1, input_fn=as_2d)
