"""PTQ that measures its own loss (train/ptq.py): several input ranges, each scored on val, the best
kept and every candidate recorded; QAT when the best PTQ loses more than the threshold (forced here by
a threshold of -1), not when it cannot (a threshold of 1); accuracy by input level (report/levels.py)."""

import dataclasses

import numpy as np
import pytest

from tinyasc.config import ConfigError, config_from_dict
from tinyasc.convert.quantize import parse_range_method, percentile_range
from tinyasc.errors import TinyascError
from tinyasc.report.levels import accuracy_by_level, level_bucket_names, level_line, rms_dbfs

SAMPLES = 256
BASE = {"model": {"name": "anchor_cnn"}, "training": {"epochs": 1, "batch_size": 16}}


def test_range_methods_and_percentile_ranges():
    assert parse_range_method("max") == 100 and parse_range_method("p99.9") == 99.9
    for bad in ("p40", "99.9", "pmax", "p101"):
        with pytest.raises(TinyascError, match="'max' or 'pNN.N'"):
            parse_range_method(bad)
    x = np.linspace(-1, 1, 100_001).reshape(1, -1)  # the first MAX_REPRESENTATIVE_SAMPLES rows count
    low, high = percentile_range(x, 99.0)
    assert low == pytest.approx(-0.98) and high == pytest.approx(0.98)
    assert percentile_range(np.abs(x), 99.0)[0] == 0.0, "an int8 range holds 0"


def test_quantization_config_auto_by_default_with_three_ranges_and_checked_methods():
    quantization = config_from_dict(BASE).quantization
    assert (quantization.mode, quantization.input_ranges, quantization.qat_threshold) == \
        ("auto", ("max", "p99.99", "p99.9"), 0.005)
    config = config_from_dict({**BASE, "quantization": {"mode": "ptq", "input_ranges": ["p99.5"], "qat_threshold": -1}})
    assert (config.quantization.input_ranges, config.quantization.qat_threshold) == (("p99.5",), -1.0)
    with pytest.raises(ConfigError, match="input_ranges.*'max' or 'pNN.N'"):
        config_from_dict({**BASE, "quantization": {"input_ranges": ["max", "p30"]}})
    with pytest.raises(ConfigError, match="at least one method"):
        config_from_dict({**BASE, "quantization": {"input_ranges": []}})
    with pytest.raises(ConfigError, match="quantization.mode must be one of auto, ptq, qat"):
        config_from_dict({**BASE, "quantization": {"mode": "always"}})


def test_level_buckets_by_clip_rms():
    t = np.arange(16000) / 16000
    clips = np.stack([a * np.sin(2 * np.pi * 440 * t) for a in (0.001, 0.01, 0.1, 1.0)])
    levels = rms_dbfs(clips)
    assert levels == pytest.approx([-63.01, -43.01, -23.01, -3.01], abs=0.01)
    assert list(level_bucket_names(levels)) == ["quiet", "medium", "loud", "loud"]
    by_level = accuracy_by_level(np.array([0, 1, 1, 0]), np.array([0, 0, 1, 1]), levels)
    assert {name: (b["clips"], b["accuracy"]) for name, b in by_level.items()} == \
        {"quiet": (1, 1.0), "medium": (1, 0.0), "loud": (2, 0.5)}
    assert level_line(by_level) == "quiet 1.000 (1) · medium 0.000 (1) · loud 0.500 (2)"
    assert rms_dbfs(np.zeros((1, 10)))[0] == -120.0


@pytest.fixture(scope="module")
def contrived(tmp_path_factory):
    """A tiny CNN trained briefly on 4 tones whose levels span -60 to 0 dBFS: its quiet clips are a
    few int8 steps under a min/max input range."""
    from tinyasc.data.loader import AudioDataset
    from tinyasc.train import seed_everything, train_model
    from conftest import tiny_audio_cnn

    rng = np.random.default_rng(0)
    n = 240
    y = np.arange(n) % 4
    t = np.arange(SAMPLES)
    gains = 10 ** (rng.uniform(-60, 0, n) / 20)
    x = (gains[:, None] * np.sin(2 * np.pi * (y[:, None] + 1) * 8 * t / SAMPLES + rng.uniform(0, 6.3, (n, 1)))
         + 1e-4 * rng.normal(size=(n, SAMPLES))).astype(np.float32)
    split = np.array(["train"] * 160 + ["val"] * 40 + ["test"] * 40)
    dataset = AudioDataset(x=x, y=y, labels=["a", "b", "c", "d"], split=split, paths=[""] * n, sample_rate=16000)
    seed_everything(0)
    trained = train_model(tiny_audio_cnn(), dataset, tmp_path_factory.mktemp("contrived"), epochs=8, batch_size=16,
                          learning_rate=1e-2, seed=0, progress=False)
    return trained.model, dataset


def _quantize(contrived, tmp_path, **quantization):
    from tinyasc.train.loop import as_model_input
    from tinyasc.train.ptq import quantize_configured

    model, dataset = contrived
    config = config_from_dict({**BASE, "quantization": {"qat_epochs": 1, **quantization}})
    config = dataclasses.replace(config, training=dataclasses.replace(config.training, batch_size=16))
    representative = as_model_input(dataset.subset("train").x[:100])
    return quantize_configured(config, model, dataset, tmp_path, tmp_path / "model_int8.tflite", representative,
                               as_model_input, SAMPLES)


def test_ptq_keeps_the_range_with_the_smallest_val_log_loss_and_records_every_candidate(contrived, tmp_path):
    from tinyasc.train.loop import as_model_input
    from tinyasc.train.qat import evaluate_int8

    tflite, report = _quantize(contrived, tmp_path, mode="auto", qat_threshold=1.0,
                               input_ranges=["max", "p99.9", "p90"])
    calibration = report["ptq_calibration"]
    candidates = {c["method"]: c for c in calibration["candidates"]}
    assert list(candidates) == ["max", "p99.9", "p90"] and candidates["max"]["input_range"] is None
    assert candidates["p90"]["input_range"][1] < candidates["p99.9"]["input_range"][1], "a lower percentile clips more"
    best = min(c["val_log_loss"] for c in candidates.values())
    assert candidates[calibration["chosen"]]["val_log_loss"] == best
    assert 0 <= calibration["float_val_accuracy"] <= 1
    assert calibration["val_accuracy_drop"] == pytest.approx(
        calibration["float_val_accuracy"] - candidates[calibration["chosen"]]["val_accuracy"])
    decision = report["qat_decision"]
    assert not decision["qat_ran"] and report["quantization"] == "ptq", "a drop cannot exceed 1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_int8.tflite"], "the other candidates are removed"
    _, dataset = contrived
    assert evaluate_int8(tflite, dataset.subset("test"), SAMPLES, as_model_input) == report["int8_test_metrics"]


def test_auto_runs_qat_when_ptq_loses_more_than_the_threshold_and_keeps_the_better_model(contrived, tmp_path):
    tflite, report = _quantize(contrived, tmp_path, mode="auto", qat_threshold=-1.0, input_ranges=["max"])
    decision = report["qat_decision"]
    assert decision["qat_ran"] and decision["threshold"] == -1.0 and decision["mode"] == "auto"
    assert 0 <= decision["qat_val_accuracy"] <= 1 and "qat_history" in report
    chosen = report["ptq_calibration"]["candidates"][0]
    qat_better = (decision["qat_val_accuracy"], -decision["qat_val_log_loss"]) > \
        (chosen["val_accuracy"], -chosen["val_log_loss"])
    assert decision["exported"] == report["quantization"] == ("qat" if qat_better else "ptq")
    other = "model_int8_ptq.tflite" if qat_better else "model_int8_qat.tflite"
    assert (tmp_path / other).is_file() and (tmp_path / "model_qat.h5").is_file()
    exported_metrics = report["qat_test_metrics"] if qat_better else report["ptq_test_metrics"]
    assert report["int8_test_metrics"] == exported_metrics and tflite == tmp_path / "model_int8.tflite"


def test_ptq_mode_never_runs_qat_even_below_a_negative_threshold(contrived, tmp_path):
    _, report = _quantize(contrived, tmp_path, mode="ptq", qat_threshold=-1.0, input_ranges=["max"])
    assert not report["qat_decision"]["qat_ran"] and "qat_test_metrics" not in report
