"""Hostile-input corpus, part 4: numbers on the command line. Every numeric option has bounds,
checked by argparse before anything is read or allocated, and a usage mistake is one line too."""

import pytest
from hostile import assert_one_line_error

from tinyasc import cli
from tinyasc.compile import verify
from tinyasc.errors import TinyascError

WHOLE = "expected a whole number from"


@pytest.mark.parametrize("args, fragment", [
    (("verify", "x", "--random", "1000000000"), f"{WHOLE} 0 to 100,000 (the inputs are held in memory"),
    (("verify", "x", "--random", "-5"), f"{WHOLE} 0 to 100,000"),
    (("verify", "x", "--random", "12x"), "received '12x'"),
    (("verify", "x", "--random", "9" * 5000), f"{WHOLE} 0 to 100,000"),
    (("export", "--tflite", "m.tflite", "--verify", "-3"), "argument --verify: " + WHOLE),
    (("export", "--tflite", "m.tflite", "--verify", "1e9"), "argument --verify: " + WHOLE),
    (("export", "--tflite", "m.tflite", "--stream-stride", "inf"), "argument --stream-stride: expected seconds between 0 and 1e6"),
    (("export", "--tflite", "m.tflite", "--stream-stride", "nan"), "expected seconds between 0 and 1e6"),
    (("export", "--tflite", "m.tflite", "--stream-stride", "-1"), "expected seconds between 0 and 1e6"),
    (("export", "--tflite", "m.tflite", "--stream-smoothing", "0"), f"{WHOLE} 1 to 255"),
    (("export", "--tflite", "m.tflite", "--test-vectors", "1000000000"), f"{WHOLE} 1 to 1,000"),
    (("data", "cache", "--workers", "0"), f"argument --workers: {WHOLE} 1 to 64"),
    (("data", "cache", "--workers", "100000"), f"{WHOLE} 1 to 64"),
    (("bench", "--fuzz", "-5"), f"argument --fuzz: {WHOLE} 1 to 100,000,000"),
    (("bench", "--fuzz", "3", "--seed", "-1"), f"argument --seed: {WHOLE} 0 to 4,294,967,295"),
    (("bench", "--fuzz", "3", "--first", "-10"), f"argument --first: {WHOLE} 0"),
    (("emulate", "x", "--timeout", "1e300"), "argument --timeout: expected seconds between 0 and 1e6"),
    (("summary", "x", "--seconds", "0"), "argument --seconds: expected seconds between 0 and 1e6"),
    (("emulate", "x", "--split", "nope"), "argument --split: invalid choice: 'nope'"),
    (("verify",), "the following arguments are required: export_dir"),
])
def test_a_numeric_option_out_of_bounds_is_one_line_before_anything_runs(capsys, args, fragment):
    err = assert_one_line_error(capsys, args, fragment)
    assert err.endswith(f"(see tinyasc {args[0]} --help)\n")


@pytest.mark.parametrize("args, fragment", [
    (("train", "--epochs", "1000000000"), "training.epochs must be between 1 and 100000"),
    (("train", "--batch-size", "0"), "training.batch_size must be between 1 and 65536"),
    (("train", "--seed", "99999999999999"), "training.seed must be between 0 and 2147483647"),
    (("demo", "--epochs", "-1"), "training.epochs must be between 1 and 100000"),
])
def test_training_numbers_are_checked_against_the_config_bounds(capsys, tmp_path, args, fragment):
    assert_one_line_error(capsys, (*args, "--out" if args[0] == "train" else "--work-dir", tmp_path), fragment)


def test_the_random_input_limit_is_one_figure_and_also_bounds_memory():
    assert cli.MAX_RANDOM_INPUTS == verify.MAX_RANDOM_INPUTS
    verify.check_random_count(verify.MAX_RANDOM_INPUTS, 1000, 10)  # 100,000 inputs of 1 KB: 0.1 GB
    with pytest.raises(TinyascError, match=r"100,000 random inputs of 49,152 bytes need 4\.6 GiB .* at most 21,834"):
        verify.check_random_count(100_000, 49_152, 12)
    with pytest.raises(TinyascError, match="must be 0 to 100,000; received: 100,001"):
        verify.check_random_count(100_001, 1, 1)


def test_a_stream_stride_beyond_an_hour_is_refused_by_the_library_too():
    from tinyasc.frontend.stream import StreamSettings

    StreamSettings(stride_s=3600)
    with pytest.raises(TinyascError, match="up to 3,600; received: inf"):
        StreamSettings(stride_s=float("inf"))


def test_a_bench_board_typo_is_one_line_before_any_model_is_built(capsys, tmp_path):
    """An unknown board used to be dropped silently: the table came out empty, exit 0, and with
    --out the tracked tables were rewritten empty."""
    out = tmp_path / "results"
    assert_one_line_error(capsys, ("bench", "--boards", "nrf52840", "nosuchboard", "--models", "anchor_cnn",
                                   "--out", out), "unknown board 'nosuchboard'")
    assert not out.exists()
