"""Every config in configs/ at its own clip length, rate and channels: one epoch of training (int8
evaluation included), then an export for the board with the most RAM — or, for a model that fits no
board, a one-line error that says how much RAM it needs.

The paper-recipe tests (test_paper_models.py) train on short clips; this is what caught the int8
evaluation dying on 10-s clips (TFLM's default arena is sized from the file, not the input).
"""

import dataclasses
import json
import re
from pathlib import Path

import pytest

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
CLIPS_PER_CLASS = 4  # 10 classes: 20 train, 10 val, 10 test clips


def largest_ram_board():
    from tinyasc.artifacts.boards import load_boards

    return max(load_boards().values(), key=lambda board: board.ram_size)


def one_epoch(config):
    """The config with every training phase cut to one epoch (QAT fine-tuning included). What is
    tested here is the clip length, so the int8 model is made once: one PTQ range (min/max), and
    QAT only where the config asks for it (the range search and QAT fallback: test_ptq_calibration)."""
    quantization = config.quantization
    return dataclasses.replace(
        config,
        training=dataclasses.replace(config.training, epochs=1),
        quantization=dataclasses.replace(quantization, qat_epochs=1, input_ranges=("max",),
                                         mode="ptq" if quantization.mode == "auto" else quantization.mode),
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Shared by the configs: those with the same rate and length reuse one synthetic set."""
    return tmp_path_factory.mktemp("full_length_data")


@pytest.mark.e2e
@pytest.mark.parametrize("config_path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda path: path.stem)
def test_config_trains_and_exports_at_its_own_clip_length(config_path, data_dir, tmp_path):
    from tinyasc.compile.export import export_model
    from tinyasc.config import load_config
    from tinyasc.errors import DoesNotFitError
    from tinyasc.artifacts.run import read_run
    from tinyasc.train.run import train_run

    config = one_epoch(load_config(config_path))
    run_dir = tmp_path / "run"
    train_run(data="synthetic", run_dir=run_dir, config=config, work_dir=data_dir,
              clips_per_class=CLIPS_PER_CLASS, progress=False)

    run = json.loads((run_dir / "run.json").read_text())
    clip_samples = round(config.data.duration_s * config.data.sample_rate)
    crop_s = config.augmentation.random_crop_s
    assert run["input_samples"] == (round(crop_s * config.data.sample_rate) if crop_s else clip_samples)
    int8_metrics = run["int8_test_metrics"]
    assert int8_metrics["recordings"] == 10 and 0.0 <= int8_metrics["accuracy"] <= 1.0

    board = largest_ram_board()
    loaded = read_run(run_dir)
    assert loaded.audio.sample_rate == config.data.sample_rate and loaded.audio.kind == config.features.kind
    try:
        result = export_model(loaded.tflite, board_name=board.name, out_root=tmp_path / "export",
                              labels=list(loaded.labels), test_inputs=loaded.test_inputs, num_test_vectors=1,
                              audio=loaded.audio)
    except DoesNotFitError as error:
        message = str(error)
        assert "\n" not in message and board.name in message
        assert re.search(r"needs [\d,]+ bytes", message), message
        return
    figures = result.manifest["export"]
    assert figures["arena_bytes"] <= board.ram_size
    assert (result.export_dir / "src" / "model.c").is_file()
