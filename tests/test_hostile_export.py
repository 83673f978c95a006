"""Hostile-input corpus, part 3: .tflite files, export folders, the disk, and the firmware's command
line. Every .tflite error names the file; an export is all or nothing (locked per name, staging
folders of killed runs cleaned, a full disk changes nothing); the firmware never answers a command
it did not run with exit 0. The firmware cases cross-compile and run QEMU for real."""

import errno
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hostile import assert_one_line_error, run_cli

from tinyasc.artifacts.boards import get_board
from tinyasc.artifacts.export_folder import elf_path, export_lock
from tinyasc.artifacts.twin import CMDLINE_CAPACITY, qemu_base_args
from tinyasc.compile.export import export_model
from tinyasc.errors import TinyascError

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "golden"
TFLITE = GOLDEN / "anchor_shaped_cnn.tflite"
REPO_ROOT = Path(__file__).resolve().parent.parent


# ---- .tflite files: every error names the file ---------------------------------------------------

def mutants(count: int, seed: int = 18):
    """(kind, bytes) of golden models damaged the ways files get damaged: bit flips, a byte or an
    aligned word overwritten with extreme values, truncation, a zeroed run, a duplicated run."""
    rng, sources = random.Random(seed), sorted(GOLDEN.glob("*.tflite"))
    for _ in range(count):
        data, kind = bytearray(rng.choice(sources).read_bytes()), rng.choice(["flip", "byte", "word", "cut", "zero", "dup"])
        at = rng.randrange(8, len(data) - 8) & ~3
        if kind == "flip":
            data[at] ^= 1 << rng.randrange(8)
        elif kind == "byte":
            data[at] = rng.randrange(256)
        elif kind == "word":
            data[at:at + 4] = rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0, 1, 65536]).to_bytes(4, "little")
        elif kind == "cut":
            del data[at:]
        elif kind == "zero":
            data[at:at + 16] = bytes(len(data[at:at + 16]))
        else:
            data[at:at] = data[at:at + rng.randint(1, 32)]
        yield kind, bytes(data)


def _compiles(data: bytes) -> bool:
    from tinyasc.compile.codegen import compile_graph
    from tinyasc.compile.tflite_reader import parse_tflite

    try:
        compile_graph(parse_tflite(data), board=get_board("cortex-m3"))
        return True
    except TinyascError:
        return False


def test_every_error_about_a_damaged_tflite_names_the_file(tmp_path):
    """Each mutant goes through `export`; mutants that still compile (damage to weights: valid
    models) are exported three at most, as a whole export of a valid model takes a second."""
    refused, valid_exports = 0, 0
    for index, (kind, data) in enumerate(mutants(60)):
        if _compiles(data):
            if valid_exports == 3:
                continue
            valid_exports += 1
        path = tmp_path / f"mutant_{index}_{kind}.tflite"
        path.write_bytes(data)
        try:
            export_model(path, board_name="cortex-m3", out_root=tmp_path / "export", num_test_vectors=1)
        except TinyascError as error:  # anything else (a crash, a traceback) fails the test
            refused += 1
            assert str(path) in str(error), f"{kind}: {error}"
    assert refused >= 30  # most damage is caught at once


def test_a_model_tflm_cannot_prepare_is_one_line_naming_the_file(capsys, tmp_path):
    """Found by benchmarks/tflite_mutants.py (seed 1, mutant 165): one word of resnet_se_tiny set to 255
    makes a model the compiler accepts but TFLM's interpreter cannot allocate (it was a RuntimeError)."""
    data = bytearray((GOLDEN / "resnet_se_tiny.tflite").read_bytes())
    data[5916:5920] = (255).to_bytes(4, "little")
    path = tmp_path / "mutant.tflite"
    path.write_bytes(bytes(data))
    assert_one_line_error(capsys, ("export", "--tflite", path, "--out", tmp_path, "--board", "cortex-m3"),
                          path, "TFLM's reference interpreter cannot run this model (TFLM failed to allocate tensors)")


def test_summary_of_a_damaged_tflite_names_the_file(capsys, tmp_path):
    path = tmp_path / "cut.tflite"
    path.write_bytes(TFLITE.read_bytes()[:2000])
    assert_one_line_error(capsys, ("summary", path), path)


# ---- export folders -----------------------------------------------------------------------------

def export(capsys, out_root, name="m", *extra):
    return run_cli(capsys, "export", "--tflite", TFLITE, "--out", out_root, "--name", name, "--board", "cortex-m3",
                   *extra)


def test_a_300_character_name_is_one_line(capsys, tmp_path):
    assert_one_line_error(capsys, ("export", "--tflite", TFLITE, "--out", tmp_path, "--name", "n" * 300),
                          "is 300 characters long; give a --name of at most 100")
    assert list(tmp_path.iterdir()) == []


def test_a_second_writer_of_one_export_is_refused_while_the_first_holds_it(capsys, tmp_path):
    with export_lock(tmp_path, "m"):
        assert_one_line_error(capsys, ("export", "--tflite", TFLITE, "--out", tmp_path, "--name", "m"),
                              tmp_path / "m", f"another tinyasc export (pid {os.getpid()}) is writing this folder")
    assert not (tmp_path / "m").exists()
    code, out, _ = export(capsys, tmp_path)  # released: the next export goes through
    assert code == 0 and "exported" in out


def test_staging_folders_of_a_killed_export_are_cleaned_by_the_next_one(capsys, tmp_path):
    """A real kill -9 in the middle of writing (just before the manifest), then a normal export."""
    script = (
        "import os, signal, sys\n"
        "import tinyasc.compile.export as export\n"
        "export.write_manifest = lambda *args: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"export.export_model({str(TFLITE)!r}, out_root={str(tmp_path)!r}, name='m', board_name='cortex-m3')\n"
    )
    killed = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                            capture_output=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir() if p.is_dir()]
    assert len(left) == 1 and left[0].startswith(".m.")  # the staging folder the kill left behind
    (tmp_path / ".m.old-99999").mkdir()  # and one from a kill during the swap
    (tmp_path / ".other.abc").mkdir()  # another export's: not ours to remove
    code, _, _ = export(capsys, tmp_path)
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.abc", "m"]  # no lock file either


def test_a_full_disk_during_export_changes_nothing(capsys, tmp_path, monkeypatch):
    import tinyasc.compile.export as export_module

    assert export(capsys, tmp_path)[0] == 0
    before = sorted(p.name for p in (tmp_path / "m").rglob("*"))

    def disk_full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "x"))

    monkeypatch.setattr(export_module, "write_manifest", disk_full)
    assert_one_line_error(capsys, ("export", "--tflite", TFLITE, "--out", tmp_path, "--name", "m", "--board", "cortex-m3"),
                          tmp_path / "m", "No space left on device while writing the export; nothing was changed "
                          "(the previous export is intact)")
    assert sorted(p.name for p in (tmp_path / "m").rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


@pytest.mark.parametrize("code, fragment", [(errno.ENOSPC, "free some disk space"), (errno.EROFS, "read-only"),
                                            (errno.ENAMETOOLONG, "shorter path")])
def test_the_machines_os_errors_are_one_line_in_every_command(capsys, monkeypatch, code, fragment):
    import tinyasc.artifacts.boards as boards

    def failing(*args):
        raise OSError(code, os.strerror(code), "/some/file")

    monkeypatch.setattr(boards, "load_boards", failing)
    assert_one_line_error(capsys, ("boards",), os.strerror(code), "writing /some/file", fragment)


def test_a_full_disk_while_training_saves_an_epoch_is_one_line_and_leaves_no_temporaries(tmp_path):
    from tinyasc.train.loop import _disk_full_is_an_error, _save_model_atomically

    temporary = tmp_path / "ckpt" / "ckpt-3_temp"
    temporary.mkdir(parents=True)
    tensorflow_says = RuntimeError("{{function_node SaveV2}} ckpt-3_temp/part-0; No space left on device [Op:SaveV2]")
    for failure in (tensorflow_says, OSError(errno.ENOSPC, "No space left on device")):
        with pytest.raises(TinyascError, match=r": no space left on device while saving epoch 3; .*--resume"):
            with _disk_full_is_an_error(tmp_path, 2):
                raise failure
        assert not temporary.exists()
    with pytest.raises(ValueError):  # other errors pass through untouched
        with _disk_full_is_an_error(tmp_path, 0):
            raise ValueError("a bug")

    def half_save(path, include_optimizer):
        Path(path).write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        _save_model_atomically(SimpleNamespace(save=half_save), tmp_path / "model.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_nan_weights_stop_before_the_int8_converter():
    from tinyasc.convert.quantize import check_finite_weights

    finite, diverged = _Weight("conv/kernel", np.ones(3, np.float32)), _Weight("dense/kernel", np.array([1, np.nan]))
    with pytest.raises(TinyascError, match=r"NaN or infinite values \(dense/kernel\): training diverged"):
        check_finite_weights(SimpleNamespace(weights=[finite, diverged]))
    check_finite_weights(SimpleNamespace(weights=[finite]))  # a finite model passes


class _Weight:
    def __init__(self, name, values):
        self.name, self.values = name, values

    def __array__(self, dtype=None, copy=None):
        return self.values


def test_a_probe_id_cannot_carry_an_openocd_command(capsys, tmp_path):
    assert_one_line_error(capsys, ("flash", tmp_path, "--probe", "x; exec id", "--dry-run"),
                          "a probe id is letters, digits")


# ---- the firmware's command line ----------------------------------------------------------------

@pytest.fixture(scope="module")
def built_export(tmp_path_factory):
    from tinyasc.firmware.build import build_firmware

    root = tmp_path_factory.mktemp("hostile_firmware")
    export_model(TFLITE, board_name="cortex-m3", out_root=root, name="m")
    build_firmware(root / "m")
    return root / "m"


def run_firmware_with(export_dir, *arguments):
    board = get_board("cortex-m3")
    command = ["qemu-system-arm", *qemu_base_args(board, arguments), "-kernel", str(elf_path(export_dir))]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("arguments, message", [
    (("eval", "/tmp/in", "/tmp/out", "1", "x" * CMDLINE_CAPACITY),
     f"TINYASC_ERROR the semihosting command line is longer than {CMDLINE_CAPACITY - 1} bytes"),
    (("eval", "/tmp/in", "/tmp/out"), "TINYASC_ERROR eval: malformed command"),
    (("eval", "/tmp/in", "/tmp/out", "1", "extra"), "TINYASC_ERROR eval: malformed command"),
    (("eval-pcm", "/tmp/in", "/tmp/out", "1"), "TINYASC_ERROR eval: malformed command"),  # no PCM front-end
    (("eval", "/tmp/in", "/tmp/out", "many"), "TINYASC_ERROR eval: count is not a number: many"),
    (("eval", "/nonexistent/in", "/tmp/out", "1"), "TINYASC_ERROR eval: cannot open input /nonexistent/in"),
])
def test_eval_mode_errors_never_exit_0(built_export, arguments, message):
    code, log = run_firmware_with(built_export, *arguments)
    assert code == 4 and message in log and "TINYASC_RESULT" not in log, log[-500:]


def test_the_self_test_still_runs_without_arguments_and_with_self_test(built_export):
    for arguments in ((), ("self-test",)):
        code, log = run_firmware_with(built_export, *arguments)
        assert code == 0 and "TINYASC_RESULT vectors=4 mismatches=0" in log, log[-500:]


# ---- run folders (`export --run`) -----------------------------------------------------------------

def _run_folder(tmp_path, run_json: bytes, test_set: bytes | None = None):
    import io

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_bytes(run_json)
    if test_set is None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, inputs=np.zeros((2, 4), np.int8), labels=np.zeros(2, np.int64))
        test_set = buffer.getvalue()
    (run / "test_set.npz").write_bytes(test_set)
    return run


@pytest.mark.parametrize("run_json, test_set, fragment", [
    (b"{\"labels\": [\"a\"]", None, "run.json is not valid JSON"),
    (b"{\"labels\": \"caf\xe9\"}", None, "run.json is not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, None, "run.json is not valid JSON"),
    (b"{}", None, "is a damaged training run (KeyError: 'labels')"),
    (b"{\"labels\": 5}", None, "'labels' must be a non-empty list of class names"),
    (b"{\"labels\": [\"a\"]}", b"PK\x03\x04 not a zip", "is a damaged training run (BadZipFile"),
])
def test_a_damaged_run_folder_is_one_line(capsys, tmp_path, run_json, test_set, fragment):
    run = _run_folder(tmp_path, run_json, test_set)
    assert_one_line_error(capsys, ("export", "--run", run, "--out", tmp_path / "export"), run, fragment)


def test_a_pickled_test_set_is_refused_not_loaded(capsys, tmp_path):
    import io

    buffer = io.BytesIO()
    np.savez(buffer, inputs=np.array([object()], dtype=object), labels=np.zeros(1))
    run = _run_folder(tmp_path, b"{\"labels\": [\"a\"]}", buffer.getvalue())
    assert_one_line_error(capsys, ("export", "--run", run, "--out", tmp_path / "export"), "allow_pickle=False")


@pytest.mark.parametrize("content, fragment", [
    (b"{\"name\": \"caf\xe9\"}", "is not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "is not valid JSON"),
    (b"[1, 2]", "is not a manifest (a JSON object)"),
])
def test_a_damaged_manifest_is_one_line_for_every_stage_that_reads_it(capsys, tmp_path, content, fragment):
    (tmp_path / "manifest.json").write_bytes(content)
    for command in ("build", "emulate", "report", "verify"):
        assert_one_line_error(capsys, (command, tmp_path), tmp_path / "manifest.json", fragment)
