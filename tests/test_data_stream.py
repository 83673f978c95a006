"""Datasets bigger than memory: clips streamed from disk (data/clips.py), the waveform cache
(data/cache.py), the tf.data pipeline that reads them (data/pipeline.py) and `tinyasc data cache`."""

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tinyasc.data import load_csv_dataset
from tinyasc.data.cache import WaveformCache
from tinyasc.data.clips import ClipReader
from tinyasc.errors import DatasetError

RATE = 16000


def write_clips(folder: Path, count: int, seconds: float = 0.05, rate: int = RATE) -> Path:
    """`count` distinct noise clips (some at another rate, to be resampled) and their CSV."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(count):
        clip_rate = rate if i % 3 else 8000
        sf.write(folder / f"c{i}.wav", rng.uniform(-0.5, 0.5, int(seconds * clip_rate)), clip_rate)
        rows.append((f"c{i}.wav", "ab"[i % 2], ("train", "val", "test", "train")[i % 4]))
    with open(folder / "m.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "label", "split"), *rows])
    return folder / "m.csv"


def test_a_streamed_dataset_reads_the_same_clips_as_the_in_memory_one(tmp_path):
    csv_path = write_clips(tmp_path, 9)
    held = load_csv_dataset(csv_path, sample_rate=RATE, duration_s=0.04)
    streamed = load_csv_dataset(csv_path, sample_rate=RATE, duration_s=0.04, stream=True)
    assert isinstance(streamed.x, ClipReader) and streamed.x.shape == held.x.shape == (9, 640)
    assert np.array_equal(np.asarray(streamed.x), held.x)
    assert np.array_equal(streamed.x[4], held.x[4]) and np.array_equal(streamed.x[2:5, :10], held.x[2:5, :10])
    train_held, train_streamed = held.subset("train"), streamed.subset("train")
    assert isinstance(train_streamed.x, ClipReader), "a split of a streamed dataset stays on disk"
    assert np.array_equal(np.asarray(train_streamed.x), train_held.x)
    assert train_streamed.y.tolist() == train_held.y.tolist() and train_streamed.num_samples == 640


def test_streaming_skips_bad_files_found_from_their_headers(tmp_path):
    csv_path = write_clips(tmp_path, 4)
    (tmp_path / "c1.wav").write_bytes(bytes(range(256)) * 8)
    os.remove(tmp_path / "c2.wav")
    with pytest.raises(DatasetError, match=r"c1\.wav.*cannot read audio"):
        load_csv_dataset(csv_path, sample_rate=RATE, stream=True)
    data = load_csv_dataset(csv_path, sample_rate=RATE, duration_s=0.04, stream=True, skip_bad_files=True)
    assert [Path(p).name for p in data.paths] == ["c0.wav", "c3.wav"] and len(data.x) == 2
    assert [Path(p).name for p, _ in data.skipped] == ["c1.wav", "c2.wav"]


def test_the_cache_is_built_on_first_read_and_equals_the_decoded_clips(tmp_path, monkeypatch):
    csv_path = write_clips(tmp_path, 7)
    held = load_csv_dataset(csv_path, sample_rate=RATE, duration_s=0.04)
    monkeypatch.setattr("tinyasc.data.cache.SHARD_BYTES", 3 * 640 * 4)  # 3 clips a shard
    data = load_csv_dataset(csv_path, sample_rate=RATE, duration_s=0.04, stream=True, cache_dir=tmp_path / "cache")
    cache = data.x.cache
    assert (cache.shard_count, cache.shard_clips) == (3, 3) and cache.missing_shards() == [0, 1, 2]
    assert np.array_equal(data.x[4], held.x[4])
    assert cache.missing_shards() == [0, 2], "reading clip 4 builds its shard only"
    os.remove(tmp_path / "c0.wav")  # the cache, not the file, serves a cached clip
    assert np.array_equal(data.x[5], held.x[5])
    with pytest.raises(DatasetError, match=r"c0\.wav.*not found"):
        data.x[0]


def test_an_interrupted_build_resumes_and_a_changed_file_invalidates_the_cache(tmp_path, monkeypatch):
    csv_path = write_clips(tmp_path, 6)
    monkeypatch.setattr("tinyasc.data.cache.SHARD_BYTES", 2 * 640 * 4)
    paths = [str(tmp_path / f"c{i}.wav") for i in range(6)]
    cache = WaveformCache(tmp_path / "cache", paths, RATE, 640, 1)
    assert cache.build() == 3 and cache.is_complete()
    first = cache.shard_path(1).read_bytes()
    cache.shard_path(1).unlink()  # as if killed while writing shard 1: only whole shards have names
    progress = []
    assert WaveformCache(tmp_path / "cache", paths, RATE, 640, 1).build(progress=lambda *a: progress.append(a)) == 1
    assert cache.shard_path(1).read_bytes() == first and progress[-1] == (1, 1)

    sf.write(tmp_path / "c3.wav", np.zeros(640), RATE)  # new contents, size or time: a new key
    changed = WaveformCache(tmp_path / "cache", paths, RATE, 640, 1)
    assert changed.folder != cache.folder and changed.missing_shards() == [0, 1, 2]
    assert not np.any(changed.read(3))
    other_length = WaveformCache(tmp_path / "cache", paths, RATE, 320, 1)
    assert other_length.folder not in (cache.folder, changed.folder)


def test_pipeline_batches_of_a_streamed_dataset_equal_those_of_the_in_memory_one(tmp_path):
    from tinyasc.data.augment import AugmentSettings, tf_dataset
    from tinyasc.data.pipeline import InputTimes

    csv_path = write_clips(tmp_path, 10)
    held = load_csv_dataset(csv_path, sample_rate=RATE, duration_s=0.04)
    streamed = load_csv_dataset(csv_path, sample_rate=RATE, duration_s=0.04, stream=True, cache_dir=tmp_path / "c")
    settings = AugmentSettings(sample_rate=RATE, crop_samples=320, noise_probability=0.5, mixup_alpha=0.2)
    times = InputTimes()

    def batches(x):
        return [(a.numpy(), b.numpy()) for a, b in tf_dataset(x, held.y, 2, settings, 4, seed=3, epoch=1, times=times)]

    expected, got = batches(held.x), batches(streamed.x)
    assert [a.shape for a, _ in got] == [(4, 320), (4, 320), (2, 320)]
    for (a, b), (c, d) in zip(expected, got):
        assert np.array_equal(a, c) and np.array_equal(b, d)
    totals = times.take()
    assert totals["clips_read"] == 20 and totals["decode_s"] > 0 and times.take()["clips_read"] == 0


def test_data_cache_command_fills_the_cache_a_run_reads(tmp_path, capsys):
    from tinyasc.cli import main

    csv_path = write_clips(tmp_path, 5)
    config = tmp_path / "c.yaml"
    config.write_text("model: {name: anchor_cnn}\ndata: {sample_rate: 16000, duration_s: 0.04, channels: 1}\n"
                      "training: {epochs: 1}\n")
    args = ["data", "cache", "--data", str(csv_path), "--config", str(config), "--cache-dir", str(tmp_path / "cc")]
    assert main(args) == 0
    assert "5 clips in 1 shards (1 built now" in capsys.readouterr().out
    assert main(args) == 0
    assert "(0 built now" in capsys.readouterr().out
    shards = list((tmp_path / "cc").glob("waveforms-*/shard-*.npy"))
    assert len(shards) == 1 and np.load(shards[0]).shape == (5, 640)


def test_features_cache_holds_the_transformed_clips_keyed_by_the_feature_settings(tmp_path):
    csv_path = write_clips(tmp_path, 5)
    data = load_csv_dataset(csv_path, sample_rate=RATE, duration_s=0.04, stream=True, cache_dir=tmp_path / "c")
    train = data.subset("train")

    def halves(w):  # a stand-in for log-mel: [N, 640] → [N, 2, 320, 1]
        return 2 * w.reshape(len(w), 2, 320, 1)

    features = train.x.with_features(halves, "halves v1", (2, 320, 1))
    assert features.shape == (len(train), 2, 320, 1) and features.cache.folder.name.startswith("features-")
    assert np.array_equal(np.asarray(features), halves(np.asarray(train.x)))
    other = train.x.with_features(halves, "halves v2", (2, 320, 1))
    assert other.cache.folder != features.cache.folder, "other feature settings, another cache"


def test_training_on_cached_features_equals_training_on_features_computed_each_epoch(tmp_path):
    """The cache may store the model inputs instead of the waveforms; the run must not notice."""
    from tinyasc.models import build_model
    from tinyasc.train import seed_everything, train_model

    rng = np.random.default_rng(0)
    rows = []
    for i in range(24):
        sf.write(tmp_path / f"c{i}.wav", rng.normal(0, 0.05 * (1 + i % 2), 3000), RATE, subtype="FLOAT")
        rows.append((f"c{i}.wav", "ab"[i % 2], "train" if i < 16 else "val"))
    with open(tmp_path / "m.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "label", "split"), *rows])

    def run(name, feature_key):
        data = load_csv_dataset(tmp_path / "m.csv", sample_rate=RATE, duration_s=3000 / RATE, stream=True,
                                cache_dir=tmp_path / "cache")
        seed_everything(0)
        model = build_model("pajusco_a", num_classes=2, input_samples=3000, channels=1)
        return train_model(model, data, tmp_path / name, epochs=2, batch_size=8, progress=False,
                           input_fn=lambda w: 4 * w.reshape(len(w), -1, 1, 1), feature_key=feature_key)

    computed, cached = run("computed", None), run("cached", "times four")
    assert len(list((tmp_path / "cache").glob("features-*/shard-*.npy"))) == 1
    assert cached.history == computed.history
    for a, b in zip(computed.model.get_weights(), cached.model.get_weights()):
        assert np.array_equal(a, b)
    assert cached.throughput[1]["clips_read"] == 24 and cached.throughput[1]["features_s"] < 0.5
