"""Experiment configs: every paper recipe loads, and every mistake is named with what to do."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from tinyasc.config import ConfigError, config_from_dict, load_config

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
PAPER_CONFIGS = {
    "anchor.yaml": "anchor_cnn",
    "idlab-resnet-se.yaml": "idlab_resnet_se",
    "pajusco-a.yaml": "pajusco_a",
    "pajusco-b.yaml": "pajusco_b",
    "pajusco-c.yaml": "pajusco_c",
    "pajusco-d.yaml": "pajusco_d",
}


def minimal(**sections):
    raw = {"model": {"name": "pajusco_a"}, "training": {"epochs": 2}}
    raw.update(sections)
    return raw


@pytest.mark.parametrize("file_name, model_name", sorted(PAPER_CONFIGS.items()))
def test_every_paper_config_loads_and_names_a_registered_model(file_name, model_name):
    config = load_config(CONFIG_DIR / file_name)
    assert config.model.name == model_name
    assert config.training.epochs > 0 and config.distribution.strategy == "none"


def test_the_idlab_config_holds_the_papers_recipe():
    config = load_config(CONFIG_DIR / "idlab-resnet-se.yaml")
    rate = config.training.learning_rate
    assert (rate.schedule, rate.max, rate.min, rate.half_cycle_epochs) == ("triangular2", 1e-3, 1e-6, 60.0)
    assert config.training.weight_decay == 1e-4 and config.training.epochs == 360
    assert (config.features.kind, config.features.preset) == ("logmel", "idlab")


def test_pajusco_configs_read_binaural_18_khz_ten_second_clips():
    for letter in "abcd":
        data = load_config(CONFIG_DIR / f"pajusco-{letter}.yaml").data
        assert (data.sample_rate, data.duration_s, data.channels) == (18000, 10.0, 2)


def test_config_is_frozen():
    config = config_from_dict(minimal())
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.training.epochs = 3


def test_defaults_fill_the_optional_sections():
    config = config_from_dict(minimal())
    assert config.features.kind == "raw" and config.training.optimizer == "adam"
    assert config.training.learning_rate.schedule == "constant" and config.model.kwargs == {}


def test_unknown_key_suggests_the_closest_one():
    with pytest.raises(ConfigError, match=r"unknown key 'training.learning_rat'; did you mean 'learning_rate'\?"):
        config_from_dict(minimal(training={"epochs": 2, "learning_rat": {"max": 0.1}}))
    with pytest.raises(ConfigError, match=r"unknown key 'trainig'; did you mean 'training'\?"):
        config_from_dict({**minimal(), "trainig": {}})


def test_missing_required_key_names_its_path():
    with pytest.raises(ConfigError, match=r"missing key 'training'"):
        config_from_dict({"model": {"name": "pajusco_a"}})
    with pytest.raises(ConfigError, match=r"missing key 'model.name' \(a string\)"):
        config_from_dict(minimal(model={"kwargs": {}}))


def test_wrong_type_names_the_key_and_what_it_received():
    with pytest.raises(ConfigError, match=r"training.epochs must be an integer; received: 'ten' \(str\)"):
        config_from_dict(minimal(training={"epochs": "ten"}))
    with pytest.raises(ConfigError, match=r"training.batch_size must be an integer; received: True"):
        config_from_dict(minimal(training={"epochs": 1, "batch_size": True}))
    with pytest.raises(ConfigError, match=r"data must be a mapping"):
        config_from_dict(minimal(data=[16000]))


def test_yaml_1_1_exponent_strings_are_read_as_numbers():
    # yaml.safe_load reads `1e-3` (no dot) as the string "1e-3".
    config = config_from_dict(minimal(training={"epochs": 1, "learning_rate": {"max": "1e-3"}, "weight_decay": 0}))
    assert config.training.learning_rate.max == 1e-3 and config.training.weight_decay == 0.0


def test_values_outside_their_range_or_choices_are_refused():
    with pytest.raises(ConfigError, match=r"distribution.strategy must be one of none, mirrored, multi_worker_mirrored"):
        config_from_dict(minimal(distribution={"strategy": "mirror"}))
    with pytest.raises(ConfigError, match=r"training.epochs must be between 1 and 100000; received: 0"):
        config_from_dict(minimal(training={"epochs": 0}))
    with pytest.raises(ConfigError, match=r"features: fmax 5000.0 Hz is above the Nyquist frequency of 8000-Hz"):
        config_from_dict(minimal(data={"sample_rate": 8000}, features={"kind": "logmel", "fmax": 5000}))
    with pytest.raises(ConfigError, match=r"features.hop_s is for kind: logmel"):
        config_from_dict(minimal(features={"kind": "raw", "hop_s": 0.01}))
    with pytest.raises(ConfigError, match=r"unknown model.name 'pajusco_e'; did you mean 'pajusco_"):
        config_from_dict(minimal(model={"name": "pajusco_e"}))


def test_yaml_is_loaded_safely_and_errors_name_the_file(tmp_path):
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("model: !!python/object/apply:os.system ['echo pwned']\ntraining: {epochs: 1}\n")
    with pytest.raises(ConfigError, match=r"unsafe.yaml: not valid YAML at line 1.*could not determine a constructor"):
        load_config(unsafe)
    with pytest.raises(ConfigError, match=r"does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_cli_reports_a_bad_config_in_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {name: pajusco_a}\ntraining: {epochs: 1, batchsize: 8}\n")
    result = subprocess.run(
        [sys.executable, "-m", "tinyasc.cli", "train", "--config", str(bad), "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "unknown key 'training.batchsize'; did you mean 'batch_size'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_model_given_the_wrong_kind_of_features_says_what_to_check():
    from tinyasc.errors import TinyascError
    from tinyasc.train.run import build_configured_model, model_input

    config = config_from_dict({"model": {"name": "idlab_resnet_se"}, "training": {"epochs": 1}})  # raw by default
    _, input_kwargs = model_input(config, num_samples=16000)
    with pytest.raises(TinyascError, match=r"idlab_resnet_se takes no input_samples .*check features.kind"):
        build_configured_model(config, 10, input_kwargs)
    anchor = config_from_dict({"model": {"name": "anchor_cnn"}, "training": {"epochs": 1}, "data": {"channels": 2}})
    with pytest.raises(TinyascError, match=r"anchor_cnn takes one input channel; set data.channels: 1"):
        build_configured_model(anchor, 10, model_input(anchor, 16000)[1])


def test_log_mel_analysis_is_free_in_the_config_at_any_rate():
    """Issue 17: 8-kHz data no longer has to be upsampled to a preset's rate."""
    from tinyasc.frontend.logmel import frame_count, logmel_settings

    config = config_from_dict(minimal(data={"sample_rate": 8000},
                                      features={"kind": "logmel", "n_mels": 40, "window_s": 0.032, "hop_s": 0.016}))
    settings = logmel_settings(config.features, config.data.sample_rate)
    assert (settings.sample_rate, settings.n_mels, settings.window_length, settings.hop_length) == (8000, 40, 256, 128)
    assert settings.n_fft == 256, "the smallest power of two that holds the window"
    assert frame_count(8000, settings) == 61
    preset_based = config_from_dict(minimal(data={"sample_rate": 16000},
                                            features={"kind": "logmel", "preset": "idlab-16k", "n_mels": 64}))
    settings = logmel_settings(preset_based.features, 16000)
    assert (settings.n_mels, settings.n_fft, settings.hop_s) == (64, 1024, 0.010), "the preset, with n_mels replaced"
    with pytest.raises(ConfigError, match=r"preset 'idlab' expects 44100-Hz audio but data.sample_rate is 8000"):
        config_from_dict(minimal(data={"sample_rate": 8000}, features={"kind": "logmel", "preset": "idlab"}))
