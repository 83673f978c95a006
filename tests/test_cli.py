"""The command line as a user meets it: help is fast and complete, mistakes give one clear line
and exit code 2, never a Python traceback, and a failed export loses nothing."""

import os
import subprocess
import sys
import time

import pytest


def tinyasc(*args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "tinyasc.cli", *map(str, args)], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, cwd=cwd, timeout=600,
    )


def assert_clear_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_help_lists_every_stage_without_importing_tensorflow():
    started = time.monotonic()
    result = tinyasc("--help")
    assert result.returncode == 0
    for command in ["train", "export", "verify", "build", "emulate", "boards", "demo"]:
        assert command in result.stdout
    assert time.monotonic() - started < 5


def test_boards_lists_the_nrf52840():
    result = tinyasc("boards")
    assert result.returncode == 0 and "nrf52840" in result.stdout and "mps2-an386" in result.stdout


def test_unknown_board_suggests_the_close_name(anchor_tflite):
    assert_clear_error(tinyasc("export", "--board", "nrf5284", "--tflite", anchor_tflite), "Did you mean 'nrf52840'")


def test_truncated_tflite_is_a_clear_error(anchor_tflite, tmp_path):
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(anchor_tflite.read_bytes()[:3000])
    assert_clear_error(tinyasc("export", "--tflite", cut, "--out", tmp_path / "export"), "truncated or corrupted")


def test_missing_files_and_folders_are_clear_errors(tmp_path):
    assert_clear_error(tinyasc("export", "--tflite", tmp_path / "none.tflite"), "no such .tflite file")
    assert_clear_error(tinyasc("build", tmp_path), "not an export folder")
    assert_clear_error(tinyasc("emulate", tmp_path), "not an export folder")
    assert_clear_error(tinyasc("export", "--run", tmp_path), "not a finished training run")


def test_model_larger_than_the_boards_ram_is_refused_and_nothing_is_lost(anchor_tflite, tmp_path):
    import yaml

    from tinyasc.paths import REPO_ROOT

    boards = yaml.safe_load((REPO_ROOT / "boards.yaml").read_text())
    tiny = dict(boards["boards"]["nrf52840"], description="nRF52840 with 16 KB of RAM", ram={"origin": 0x20000000, "size": "16K"})
    boards["boards"]["tiny-ram"] = tiny
    boards_file = tmp_path / "boards.yaml"
    boards_file.write_text(yaml.safe_dump(boards))
    out = tmp_path / "export"
    env = {"TINYASC_BOARDS": str(boards_file)}
    assert tinyasc("export", "--board", "nrf52840", "--tflite", anchor_tflite, "--name", "m", "--out", out, env=env).returncode == 0
    before = (out / "m" / "manifest.json").read_bytes()

    result = tinyasc("export", "--board", "tiny-ram", "--tflite", anchor_tflite, "--name", "m", "--out", out, env=env)
    assert_clear_error(result, "more than tiny-ram's 16 KB RAM")
    assert (out / "m" / "manifest.json").read_bytes() == before, "the earlier export was damaged"
    assert sorted(p.name for p in out.iterdir()) == ["m"]


@pytest.mark.e2e
def test_export_build_emulate_from_the_command_line(anchor_tflite, tmp_path):
    out = tmp_path / "export"
    assert tinyasc("export", "--board", "nrf52840", "--tflite", anchor_tflite, "--name", "cli", "--out", out).returncode == 0
    assert tinyasc("build", out / "cli").returncode == 0
    result = tinyasc("emulate", out / "cli")
    assert result.returncode == 0 and "PASS: self-test 4/4 vectors bit-exact" in result.stdout, result.stdout + result.stderr


def test_atomic_writes_get_a_normal_files_mode(tmp_path):
    import os
    import stat

    from tinyasc.artifacts.manifest import atomic_write_text

    atomic_write_text(tmp_path / "report.html", "<html></html>")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o666 & ~mask
