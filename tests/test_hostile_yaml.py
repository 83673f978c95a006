"""Hostile-input corpus, part 1: YAML files (experiment configs, boards files) and the values in
them. Each case asserts the exact outcome: exit code 2 and one short line naming the file and the
problem (tests/hostile.py), checked before anything large is allocated. No TensorFlow is needed:
`train --config` validates the config before importing it."""

import dataclasses
import time

import pytest
import yaml
from hostile import alias_bomb, assert_one_line_error, run_cli, write

from tinyasc.artifacts.boards import DEFAULT_BOARDS_PATH, Board, comment_safe, load_boards
from tinyasc.artifacts.yaml_input import MAX_EXPANDED_NODES, clip_repr
from tinyasc.config import ConfigError, load_config

MINIMAL_CONFIG = "model: {name: anchor_cnn}\ntraining: {epochs: 1}\n"


def train_config(capsys, path, *fragments):
    return assert_one_line_error(capsys, ("train", "--config", path, "--data", path.parent / "none.csv",
                                          "--out", path.parent / "run"), path, *fragments)


def boards_file(capsys, path, *fragments):
    return assert_one_line_error(capsys, ("boards", "--boards-file", path), path, *fragments)


def shipped_boards(mutate) -> str:
    document = yaml.safe_load(DEFAULT_BOARDS_PATH.read_text())
    mutate(document["boards"]["nrf52840"])
    return yaml.safe_dump(document, sort_keys=False)


# ---- the YAML itself, for both readers ----------------------------------------------------------

HOSTILE_YAML = {
    # name: (text, fragment of the one-line error)
    "alias bomb in a value": (MINIMAL_CONFIG + "data:\n  channels: 1\n" + "x:\n" + alias_bomb("  "),
                              f"(limit {MAX_EXPANDED_NODES:,})"),
    "alias bomb at the top": (alias_bomb("") + MINIMAL_CONFIG, "nodes (limit"),
    "deeply nested flow lists": ("model: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested deeper than 50 levels"),
    "deeply nested block mappings": ("".join("  " * i + f"k{i}:\n" for i in range(300)), "nested deeper than 50 levels"),
    "duplicate top-level key": (MINIMAL_CONFIG + "model: {name: pajusco_a}\n",
                                "the key 'model' appears twice (lines 1 and 3)"),
    "duplicate nested key": ("model: {name: anchor_cnn, name: pajusco_a}\ntraining: {epochs: 1}\n",
                             "the key 'name' appears twice"),
    "python object tag": ("model: !!python/object/apply:os.system ['echo pwned']\n", "not valid YAML at line 1"),
    "5000-digit integer": ("model: {name: anchor_cnn}\ntraining: {epochs: " + "9" * 5000 + "}\n",
                           "a value cannot be read"),
    "syntax error": ("model: [unclosed\n", "YAML syntax error at line"),
    "oversized file": ("# " + "x" * (1024 * 1024) + "\n" + MINIMAL_CONFIG, "larger than 1024 KB"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_YAML))
def test_hostile_yaml_config_is_one_line(capsys, tmp_path, case):
    text, fragment = HOSTILE_YAML[case]
    started = time.monotonic()
    train_config(capsys, write(tmp_path / "config.yaml", text), fragment)
    assert time.monotonic() - started < 5  # the bomb is refused before it is expanded


@pytest.mark.parametrize("case", sorted(HOSTILE_YAML))
def test_hostile_yaml_boards_file_is_one_line(capsys, tmp_path, case):
    text, fragment = HOSTILE_YAML[case]  # refused while reading, before the boards schema is looked at
    boards_file(capsys, write(tmp_path / "boards.yaml", text), fragment)


def test_an_alias_bomb_inside_a_board_is_refused(capsys, tmp_path):
    text = shipped_boards(lambda board: None) + "    flasher_extra:\n" + alias_bomb("      ")
    boards_file(capsys, write(tmp_path / "boards.yaml", text), "nodes (limit")


def test_non_utf8_yaml_names_the_byte(capsys, tmp_path):
    latin1 = "model: {name: caf\xe9}\ntraining: {epochs: 1}\n".encode("latin-1")
    train_config(capsys, write(tmp_path / "config.yaml", latin1), "not UTF-8 text (byte 17 is 0xe9)")
    boards_file(capsys, write(tmp_path / "boards.yaml", latin1), "not UTF-8 text")


def test_small_aliases_are_still_allowed(tmp_path):
    path = write(tmp_path / "config.yaml", "model: &m {name: anchor_cnn}\ntraining: {epochs: 1}\nx: *m\n")
    with pytest.raises(ConfigError, match="unknown key 'x'"):  # read fine, then refused by the schema
        load_config(path)


def test_a_huge_value_is_quoted_truncated(capsys, tmp_path):
    err = train_config(capsys, write(tmp_path / "config.yaml", MINIMAL_CONFIG.replace("anchor_cnn", "a" * 100_000)),
                       "unknown model.name 'aaaa")
    assert "..." in err
    err = train_config(capsys, write(tmp_path / "config.yaml", MINIMAL_CONFIG + "? " + "k" * 50_000 + "\n: 1\n"),
                       "unknown key 'kkkk")
    assert len(clip_repr("x" * 10**6)) == 80 and len(clip_repr({i: [i] * 1000 for i in range(1000)})) <= 80


# ---- values: bounded before anything is allocated -----------------------------------------------

HOSTILE_VALUES = {
    "training: {epochs: 1, learning_rate: {max: .nan}}": "training.learning_rate.max must be a finite number",
    "training: {epochs: 1, learning_rate: {max: .inf}}": "training.learning_rate.max must be a finite number",
    "training: {epochs: 1, learning_rate: {max: 1e30}}": "training.learning_rate.max must be between 1e-12 and 10",
    "training: {epochs: 1, learning_rate: {min: -.inf}}": "training.learning_rate.min must be a finite number",
    "training: {epochs: 1, weight_decay: .nan}": "training.weight_decay must be a finite number",
    "training: {epochs: 0}": "training.epochs must be between 1 and 100000",
    "training: {epochs: 1, batch_size: 100000000}": "training.batch_size must be between 1 and 65536",
    "training: {epochs: 1, seed: -1}": "training.seed must be between 0 and",
    "data: {duration_s: 100000}": "data.duration_s must be between 0.01 and 3600",
    "data: {duration_s: 0.001}": "data.duration_s must be between 0.01 and 3600",
    "data: {sample_rate: 1000000000000}": "data.sample_rate must be between 1000 and 384000",
    "data: {sample_rate: 1e12}": "data.sample_rate must be an integer",
    "data: {sample_rate: 384000, duration_s: 3600}": "samples per clip",
    "data: {channels: 1000}": "data.channels must be between 1 and 16",
    "model: {name: anchor_cnn, kwargs: {num_classes: 0}}": "model.kwargs.num_classes must be an integer >= 2",
    "model: {name: anchor_cnn, kwargs: {num_classes: -3}}": "model.kwargs.num_classes must be an integer >= 2",
    "model: {name: anchor_cnn, kwargs: {num_classes: true}}": "model.kwargs.num_classes must be an integer >= 2",
    "model: {name: anchor_cnn, kwargs: {input_samples: 10000000000000}}": "model.kwargs.'input_samples' is out of range",
    "model: {name: anchor_cnn, kwargs: {width: .nan}}": "model.kwargs.'width' must be a finite number",
    "augmentation: {noise_probability: .nan}": "augmentation.noise_probability must be a finite number",
}


@pytest.mark.parametrize("line", sorted(HOSTILE_VALUES))
def test_hostile_config_values_are_bounded(capsys, tmp_path, line):
    section = line.split(":", 1)[0]
    text = "\n".join([line] + [default for default in MINIMAL_CONFIG.splitlines() if not default.startswith(section)])
    train_config(capsys, write(tmp_path / "config.yaml", text + "\n"), HOSTILE_VALUES[line])


# ---- board fields: validated as what they are --------------------------------------------------

HOSTILE_BOARD_FIELDS = {
    "linker-script injection": ("description", "x */ INCLUDE /etc/passwd /*"),
    "new line in the description": ("description", "Nordic\nINCLUDE /etc/passwd"),
    "C string breakout": ("description", 'x"; system("id'),
    "Make variable": ("description", "$(shell id)"),
    "overlong description": ("description", "x" * 161),
    "Renode command on a new line": ("renode_platform", 'platforms/cpus/nrf52840.repl\npython "import os"'),
    "Renode path with a space": ("renode_platform", "platforms/cpus/nrf52840.repl; quit"),
    "Renode non-.repl file": ("renode_platform", "/etc/passwd"),
    "flasher option injection": ("flasher", {"openocd_config": "-c shutdown"}),
    "flasher unknown key": ("flasher", {"jlink_script": "x"}),
    "flasher non-string value": ("flasher", {"pyocd_target": ["nrf52840"]}),
    "cpu with a space": ("cpu", "cortex-m4 -o /tmp/x"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_BOARD_FIELDS))
def test_hostile_board_fields_are_refused(capsys, tmp_path, case):
    key, value = HOSTILE_BOARD_FIELDS[case]
    path = write(tmp_path / "boards.yaml", shipped_boards(lambda board: board.update({key: value})))
    boards_file(capsys, path, f"board 'nrf52840': '{key}' must be")


def test_a_board_name_is_an_identifier(capsys, tmp_path):
    document = yaml.safe_load(DEFAULT_BOARDS_PATH.read_text())
    document["boards"]["x */ INCLUDE y"] = document["boards"].pop("cortex-m3")
    boards_file(capsys, write(tmp_path / "boards.yaml", yaml.safe_dump(document)), "board name 'x */ INCLUDE y' must be")


def test_the_shipped_descriptions_pass_the_plain_text_rule():
    assert all(board.description for board in load_boards().values())
    code_and_output = {name: board.description for name, board in load_boards().items()}
    assert "micro:bit" in code_and_output["microbit-v1"]


@pytest.mark.parametrize("text", ["x */ INCLUDE /etc/passwd /*", "a\nb\rc", "/* open", "tab\there"])
def test_comment_safe_text_cannot_close_a_comment_or_start_a_line(text):
    safe = comment_safe(text)
    assert "*/" not in safe and "/*" not in safe and not any(c in safe for c in "\n\r\t")


def test_rendered_linker_script_and_renode_script_stay_comments_even_without_validation(tmp_path):
    """Escaping is the second line of defence: a Board built in code (no boards.yaml) still cannot inject."""
    from tinyasc.firmware.project import _context, _environment
    from tinyasc.firmware.renode import render_renode_script

    board = dataclasses.replace(load_boards()["nrf52840"], description="x */ INCLUDE /etc/passwd /*\nSECTIONS {}")
    linker = _environment().get_template("linker.ld.j2").render(**_context(tmp_path, board))
    comment = linker[: linker.index("*/") + 2]
    assert "INCLUDE /etc/passwd" in comment and "SECTIONS {}" in comment  # both still inside the comment
    script = render_renode_script(tmp_path, dataclasses.replace(board, renode_platform="platforms/cpus/nrf52840.repl"))
    first_lines = script.read_text().splitlines()[:2]
    assert first_lines[0].startswith("# Generated by tinyasc") and "SECTIONS {}" in first_lines[0]
    assert first_lines[1].startswith("#")
    assert isinstance(board, Board)


# ---- values the schema cannot see: the dataset and the model decide ------------------------------

def test_num_classes_that_disagrees_with_the_dataset_is_refused_before_building():
    from tinyasc.config import config_from_dict
    from tinyasc.errors import TinyascError
    from tinyasc.train.run import build_configured_model

    config = config_from_dict({"model": {"name": "anchor_cnn", "kwargs": {"num_classes": 5}}, "training": {"epochs": 1}})
    with pytest.raises(TinyascError, match="model.kwargs.num_classes is 5 but the dataset has 3 classes"):
        build_configured_model(config, 3, {"input_samples": 16000})


def test_clips_too_short_for_the_model_are_one_line(capsys, tmp_path):
    """duration_s: 0.01 passes the bounds but is shorter than the anchor CNN's strides take: the
    model builder's error becomes one line (TensorFlow is imported for this one)."""
    from tinyasc.config import config_from_dict
    from tinyasc.errors import TinyascError
    from tinyasc.train.run import build_configured_model

    config = config_from_dict({"model": {"name": "anchor_cnn"}, "data": {"duration_s": 0.01}, "training": {"epochs": 1}})
    with pytest.raises(TinyascError, match=r"model anchor_cnn cannot be built for input .*use longer clips") as error:
        build_configured_model(config, 2, {"input_samples": 160})
    assert "\n" not in str(error.value) and len(str(error.value)) < 400


@pytest.mark.parametrize("option, fragment", [
    (("--epochs", "0"), "the command line: training.epochs must be between 1 and 100000; received: 0"),
    (("--epochs", "1000000000"), "training.epochs must be between 1 and 100000; received: 1000000000"),
    (("--batch-size", "0"), "training.batch_size must be between 1 and 65536"),
    (("--seed", "-1"), "training.seed must be between 0 and 2147483647; received: -1"),
    (("--model", "x" * 1000), "unknown model.name 'xxxx"),
])
def test_command_line_overrides_get_the_configs_bounds(capsys, tmp_path, option, fragment):
    assert_one_line_error(capsys, ("train", "--data", tmp_path / "none.csv", "--out", tmp_path / "run", *option), fragment)


def test_test_vectors_are_bounded_before_anything_is_allocated(capsys, tmp_path):
    tflite = DEFAULT_BOARDS_PATH.parent / "tests" / "fixtures" / "golden" / "anchor_shaped_cnn.tflite"
    for count in ("0", "-4", "1000000000"):
        assert_one_line_error(capsys, ("export", "--tflite", tflite, "--out", tmp_path, "--test-vectors", count),
                              "argument --test-vectors: expected a whole number from 1 to 1,000", f"'{count}'")
