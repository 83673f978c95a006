"""The wheel a user gets from `pip install .`: boards.yaml and firmware_templates/ travel inside it,
and its CLI exports, builds and emulates a model from a folder that is not the repo.

The fresh venv gets the wheel itself with --no-deps; its third-party packages come from the test's own
environment through a path entry, so the test downloads nothing and the 2 GB stack is not reinstalled.
That entry is a plain folder (no .pth processing), so an editable install of tinyasc there stays invisible.
"""

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tinyasc.paths import REPO_ROOT

BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "boards.yaml", "firmware_templates", "tinyasc")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        origin = REPO_ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_shipped"))
        else:
            shutil.copy2(origin, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(out), str(source)], check=True)
    (built,) = out.glob("tinyasc-*.whl")
    return built


def test_the_wheel_carries_the_same_boards_file_and_templates_as_the_repo(wheel):
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read("tinyasc/_shipped/boards.yaml") == (REPO_ROOT / "boards.yaml").read_bytes()
        shipped = {n.removeprefix("tinyasc/_shipped/") for n in archive.namelist() if "/firmware_templates/" in n}
        for template in (REPO_ROOT / "firmware_templates").rglob("*"):
            if template.is_file() and "__pycache__" not in template.parts:
                name = template.relative_to(REPO_ROOT).as_posix()
                assert name in shipped, f"{name} is missing from the wheel"
                assert archive.read(f"tinyasc/_shipped/{name}") == template.read_bytes()


def _fresh_venv_with(wheel: Path, root: Path) -> Path:
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # ensurepip: offline
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check", str(wheel)],
                   env=_clean_env(), check=True)
    # then (so that pip does not find tinyasc there) this environment's third-party stack, after the
    # venv's own site-packages
    Path(purelib, "test_env_packages.pth").write_text(
        "\n".join(p for p in {*site.getsitepackages(), sysconfig.get_paths()["purelib"]}) + "\n")
    return venv


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TINYASC_BOARDS")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


@pytest.mark.e2e
def test_pip_installed_cli_exports_builds_and_emulates_outside_the_repo(wheel, tiny_cnn_tflite, tmp_path):
    venv = _fresh_venv_with(wheel, tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = _clean_env()

    def tinyasc(*args):
        return subprocess.run([str(venv / "bin" / "tinyasc"), *map(str, args)], cwd=work, env=env,
                              capture_output=True, text=True, timeout=900)

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import tinyasc, tinyasc.paths as p; "
                            "print(tinyasc.__file__); print(p.TEMPLATES_DIR)"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert all(line.startswith(str(venv)) for line in where), f"not the wheel's copy: {where}"

    boards = tinyasc("boards")
    assert boards.returncode == 0 and "nrf52840" in boards.stdout, boards.stderr
    exported = tinyasc("export", "--board", "cortex-m4", "--tflite", tiny_cnn_tflite, "--name", "wheel")
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert (work / "export" / "wheel" / "src" / "model.h").is_file()
    built = tinyasc("build", "export/wheel")
    assert built.returncode == 0, built.stdout + built.stderr
    emulated = tinyasc("emulate", "export/wheel")
    assert emulated.returncode == 0 and "PASS: self-test 4/4 vectors bit-exact" in emulated.stdout, emulated.stdout + emulated.stderr
