"""Synthetic dataset generation and the CSV loader (no TensorFlow needed)."""

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tinyasc.data import SYNTHETIC_CLASSES, AudioDataset, load_csv_dataset, make_synthetic_dataset
from tinyasc.data import synthetic
from tinyasc.errors import DatasetError

RATE = 16000  # Hz the test clips are written and read at


def read_rows(csv_path):
    with open(csv_path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows, header=("path", "label", "split")):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# ---------------------------------------------------------------- synthetic generation


def test_there_are_ten_distinct_synthetic_classes():
    assert len(SYNTHETIC_CLASSES) == 10
    assert len(set(SYNTHETIC_CLASSES)) == 10


def test_csv_lists_every_clip_as_16_bit_mono_wav(synthetic_csv):
    rows = read_rows(synthetic_csv)
    assert list(rows[0]) == ["path", "label", "split"]
    assert len(rows) == 10 * 30
    for row in rows[::37]:
        info = sf.info(synthetic_csv.parent / row["path"])
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, 16000, "PCM_16")
        assert row["path"].startswith(f"audio/{row['label']}/")


def test_splits_are_stratified_70_15_15_and_disjoint(synthetic_csv):
    rows = read_rows(synthetic_csv)
    per_class = Counter((row["label"], row["split"]) for row in rows)
    for label in SYNTHETIC_CLASSES:
        assert (per_class[label, "train"], per_class[label, "val"], per_class[label, "test"]) == (22, 4, 4)
    paths = [row["path"] for row in rows]
    assert len(set(paths)) == len(paths), "a clip appears in two rows (and possibly two splits)"


def test_generation_is_deterministic_by_seed(tmp_path):
    first = make_synthetic_dataset(tmp_path / "a", clips_per_class=2, seed=7)
    again = make_synthetic_dataset(tmp_path / "b", clips_per_class=2, seed=7)
    other = make_synthetic_dataset(tmp_path / "c", clips_per_class=2, seed=8)
    assert read_rows(first) == read_rows(again)
    clip = read_rows(first)[0]["path"]
    assert (first.parent / clip).read_bytes() == (again.parent / clip).read_bytes()
    assert (first.parent / clip).read_bytes() != (other.parent / clip).read_bytes()


def test_generation_is_skipped_when_parameters_match_and_redone_when_not(tmp_path):
    csv_path = make_synthetic_dataset(tmp_path, clips_per_class=2, seed=1)
    first_clip = tmp_path / read_rows(csv_path)[0]["path"]
    mtime = first_clip.stat().st_mtime_ns
    assert make_synthetic_dataset(tmp_path, clips_per_class=2, seed=1) == csv_path
    assert first_clip.stat().st_mtime_ns == mtime

    make_synthetic_dataset(tmp_path, clips_per_class=3, seed=1)
    assert len(read_rows(csv_path)) == 30
    assert json.loads((tmp_path / "synthetic.json").read_text())["clips_per_class"] == 3


def test_an_interrupted_generation_leaves_no_dataset_that_looks_complete(tmp_path, monkeypatch):
    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "commit", killed)
    with pytest.raises(KeyboardInterrupt):
        make_synthetic_dataset(tmp_path, clips_per_class=2)
    assert not (tmp_path / "metadata.csv").exists()
    assert not (tmp_path / "synthetic.json").exists()
    assert not list(tmp_path.glob(".partial-*"))

    monkeypatch.undo()
    csv_path = make_synthetic_dataset(tmp_path, clips_per_class=2)
    assert len(read_rows(csv_path)) == 20


def test_clip_loudness_does_not_reveal_the_class(synthetic_dataset):
    """A nearest-centroid classifier on RMS level alone must stay near chance (10 %)."""
    level_db = 20 * np.log10(np.sqrt(np.mean(synthetic_dataset.x.astype(np.float64) ** 2, axis=1)))
    train = synthetic_dataset.split == "train"
    centroids = np.array([level_db[train & (synthetic_dataset.y == c)].mean() for c in range(10)])
    predicted = np.argmin(np.abs(level_db[~train, None] - centroids[None, :]), axis=1)
    accuracy = np.mean(predicted == synthetic_dataset.y[~train])
    assert accuracy < 0.25, f"loudness alone classifies {accuracy:.0%} of clips"
    assert np.ptp(centroids) < 3.0, f"class mean levels differ by {np.ptp(centroids):.1f} dB"


def test_no_clip_is_clipped_or_silent(synthetic_dataset):
    peaks = np.max(np.abs(synthetic_dataset.x), axis=1)
    assert peaks.max() < 0.99
    assert peaks.min() > 0.05


def test_importing_tinyasc_data_does_not_import_tensorflow():
    code = "import sys, tinyasc.data; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ---------------------------------------------------------------- loader


def test_loader_returns_fixed_length_float_waveforms_in_synthetic_label_order(synthetic_dataset):
    data = synthetic_dataset
    assert data.x.shape == (300, 16000) and data.x.dtype == np.float32
    assert data.y.dtype == np.int64 and data.y.shape == (300,)
    assert data.labels == list(SYNTHETIC_CLASSES)
    assert np.bincount(data.y).tolist() == [30] * 10
    assert np.abs(data.x).max() <= 1.0
    assert data.sample_rate == 16000 and len(data.paths) == 300


def test_subset_keeps_only_one_split_and_all_labels(synthetic_dataset):
    val = synthetic_dataset.subset("val")
    assert isinstance(val, AudioDataset)
    assert len(val) == 40 and set(val.split) == {"val"}
    assert val.labels == synthetic_dataset.labels
    assert val.x.shape == (40, 16000) and len(val.paths) == 40
    with pytest.raises(DatasetError, match="validation"):
        synthetic_dataset.subset("validation")


def test_short_long_stereo_and_other_rate_clips_are_fitted(tmp_path):
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "short.wav", 0.1 * rng.standard_normal(8000), 16000)
    stereo = 0.1 * rng.standard_normal((12000, 2))
    sf.write(tmp_path / "long_stereo_8k.wav", stereo, 8000)  # 1.5 s at 8 kHz
    csv_path = write_csv(tmp_path / "m.csv", [("short.wav", "a", "train"), ("long_stereo_8k.wav", "b", "test")])
    data = load_csv_dataset(csv_path, sample_rate=16000, duration_s=1.0)
    assert data.x.shape == (2, 16000)
    assert np.all(data.x[0, 8000:] == 0) and np.any(data.x[0, :8000] != 0)
    assert np.count_nonzero(data.x[1]) > 15900, "1.5 s at 8 kHz, resampled, fills all of 1 s at 16 kHz"
    assert data.labels == ["a", "b"]


def test_two_channels_keep_a_stereo_files_channels_and_repeat_a_mono_file(tmp_path):
    """data.channels: 2 — a binaural model gets the recording's real left and right, not a mix."""
    t = np.arange(8000) / 8000
    left, right = 0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 1000 * t)
    sf.write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), 8000)
    sf.write(tmp_path / "mono.wav", left, 8000)
    csv_path = write_csv(tmp_path / "m.csv", [("stereo.wav", "a", "train"), ("mono.wav", "b", "train")])

    binaural = load_csv_dataset(csv_path, sample_rate=8000, duration_s=1.25, channels=2)
    assert binaural.x.shape == (2, 10000, 2) and binaural.channels == 2
    np.testing.assert_allclose(binaural.x[0, :8000, 0], left, atol=1e-4)  # 16-bit WAV rounding
    np.testing.assert_allclose(binaural.x[0, :8000, 1], right, atol=1e-4)
    assert np.array_equal(binaural.x[1, :, 0], binaural.x[1, :, 1])
    assert np.all(binaural.x[:, 8000:] == 0), "padded at the end, in both channels"
    assert binaural.subset("train").x.shape == (2, 10000, 2)

    mono = load_csv_dataset(csv_path, sample_rate=8000, duration_s=1.0)
    assert mono.x.shape == (2, 8000) and mono.channels == 1
    np.testing.assert_allclose(mono.x[0], (left + right) / 2, atol=1e-4)

    resampled = load_csv_dataset(csv_path, sample_rate=16000, duration_s=1.0, channels=2)
    spectrum = np.abs(np.fft.rfft(resampled.x[0], axis=0))  # 1 s at 16 kHz: bin k is k Hz
    assert spectrum[:, 0].argmax() == 440 and spectrum[:, 1].argmax() == 1000, "resampled per channel"


def test_a_file_with_more_channels_than_the_model_takes_is_named(tmp_path):
    sf.write(tmp_path / "surround.wav", np.zeros((800, 4)), 8000)
    csv_path = write_csv(tmp_path / "m.csv", [("surround.wav", "a", "train")])
    with pytest.raises(DatasetError, match=r"surround\.wav: the file has 4 channels but the model takes 2"):
        load_csv_dataset(csv_path, sample_rate=8000, channels=2)
    assert load_csv_dataset(csv_path, sample_rate=8000).x.shape == (1, 8000), "mono mixes any count"


def test_given_labels_fix_the_class_ids(tmp_path):
    sf.write(tmp_path / "x.wav", np.zeros(100), 16000)
    csv_path = write_csv(tmp_path / "m.csv", [("x.wav", "b", "train"), ("x.wav", "a", "val")])
    data = load_csv_dataset(csv_path, sample_rate=RATE, labels=["a", "b", "c"])
    assert data.y.tolist() == [1, 0] and data.labels == ["a", "b", "c"]


# ---------------------------------------------------------------- loader errors name the file


def single_clip_csv(tmp_path, audio_name="clip.wav"):
    return write_csv(tmp_path / "m.csv", [(audio_name, "a", "train")])


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="zero-length file"),
        pytest.param(b"RIFF\x24\x00\x00\x00WAVEfmt ", id="truncated header"),
        pytest.param(bytes(range(256)) * 8, id="garbage bytes"),
    ],
)
def test_unreadable_audio_raises_dataset_error_naming_the_file(tmp_path, content):
    (tmp_path / "clip.wav").write_bytes(content)
    with pytest.raises(DatasetError, match=r"clip\.wav.*cannot read audio"):
        load_csv_dataset(single_clip_csv(tmp_path), sample_rate=RATE)


def test_wav_without_samples_raises_dataset_error_naming_the_file(tmp_path):
    sf.write(tmp_path / "clip.wav", np.zeros(0), 16000)
    with pytest.raises(DatasetError, match=r"clip\.wav.*no samples"):
        load_csv_dataset(single_clip_csv(tmp_path), sample_rate=RATE)


def test_missing_audio_file_raises_dataset_error_naming_the_file(tmp_path):
    with pytest.raises(DatasetError, match=r"gone\.wav.*not found"):
        load_csv_dataset(single_clip_csv(tmp_path, "gone.wav"), sample_rate=RATE)


def test_missing_csv_raises_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match=r"nothing\.csv.*not found"):
        load_csv_dataset(tmp_path / "nothing.csv", sample_rate=RATE)


def test_missing_columns_are_named(tmp_path):
    csv_path = write_csv(tmp_path / "m.csv", [("clip.wav", "train")], header=("path", "split"))
    with pytest.raises(DatasetError, match=r"m\.csv: missing column\(s\) label"):
        load_csv_dataset(csv_path, sample_rate=RATE)


def test_csv_without_split_column_gets_a_stratified_deterministic_split(tmp_path):
    sf.write(tmp_path / "x.wav", np.zeros(10), 16000)
    rows = [("x.wav", label) for label in ("a", "b") for _ in range(20)]
    csv_path = write_csv(tmp_path / "m.csv", rows, header=("path", "label"))
    data = load_csv_dataset(csv_path, sample_rate=RATE)
    for label_id in (0, 1):
        assert Counter(data.split[data.y == label_id]) == {"train": 14, "val": 3, "test": 3}
    assert np.array_equal(load_csv_dataset(csv_path, sample_rate=RATE).split, data.split)


def test_label_outside_the_given_labels_is_named(tmp_path):
    sf.write(tmp_path / "clip.wav", np.zeros(10), 16000)
    with pytest.raises(DatasetError, match=r"m\.csv, line 2: label 'a' is not one of"):
        load_csv_dataset(single_clip_csv(tmp_path), sample_rate=RATE, labels=["dog", "cat"])


def test_unknown_split_name_is_named(tmp_path):
    csv_path = write_csv(tmp_path / "m.csv", [("clip.wav", "a", "training")])
    with pytest.raises(DatasetError, match=r"m\.csv, line 2: split 'training'"):
        load_csv_dataset(csv_path, sample_rate=RATE)


def test_skip_bad_files_leaves_out_and_lists_each_broken_file(tmp_path):
    sf.write(tmp_path / "good1.wav", np.full(1600, 0.25), 16000)
    sf.write(tmp_path / "good2.wav", np.full(1600, -0.5), 16000)
    (tmp_path / "garbage.wav").write_bytes(bytes(range(256)) * 8)
    sf.write(tmp_path / "empty.wav", np.zeros(0), 16000)
    csv_path = write_csv(tmp_path / "m.csv", [
        ("good1.wav", "a", "train"), ("garbage.wav", "b", "train"), ("gone.wav", "a", "test"),
        ("empty.wav", "b", "val"), ("good2.wav", "b", "test"),
    ])
    with pytest.raises(DatasetError, match="garbage"):
        load_csv_dataset(csv_path, sample_rate=RATE, duration_s=0.1)
    data = load_csv_dataset(csv_path, sample_rate=RATE, duration_s=0.1, skip_bad_files=True)
    assert [Path(p).name for p in data.paths] == ["good1.wav", "good2.wav"]
    assert data.y.tolist() == [0, 1] and data.split.tolist() == ["train", "test"] and data.labels == ["a", "b"]
    assert np.allclose(data.x[:, 0], [0.25, -0.5], atol=1e-4)
    assert [Path(p).name for p, _ in data.skipped] == ["garbage.wav", "gone.wav", "empty.wav"]
    assert "not found" in data.skipped[1][1] and "no samples" in data.skipped[2][1]


def test_skip_bad_files_with_nothing_readable_is_still_an_error(tmp_path):
    (tmp_path / "clip.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match="none of the 1 audio files"):
        load_csv_dataset(single_clip_csv(tmp_path), sample_rate=RATE, skip_bad_files=True)
