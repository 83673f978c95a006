"""The layout of an export folder, `export/<name>/`, written by three stages in turn:

    tinyasc export   manifest.json, model.tflite, model_tflite.c, ir.txt, src/ (the model's C and
                     the self-test vectors), test_inputs.npy, test_outputs.npy, layer_checks.json
                     (the verification build's per-layer checksums), targets/ (the
                     model as a C library with its `--c-prefix`: cmake/, zephyr/, arduino/)
    tinyasc build    firmware/ (the board files), build/ (the emulation image), project/ (the
                     real-board project) and renode/ (a Renode script, for boards Renode knows)
    tinyasc emulate  reads build/; every stage adds its own section to manifest.json

Export writes into a hidden staging folder and swaps it into place under a per-name lock
(`export_lock`), so a second concurrent export of the same name is refused and a killed one
leaves only a staging folder, which the next export of that name removes (`clean_stale_staging`).
"""

import contextlib
import os
import shutil
from pathlib import Path

from tinyasc.errors import TinyascError

SRC_DIR = "src"
MODEL_TFLITE = "model.tflite"
MODEL_TFLITE_ARRAY = "model_tflite.c"
IR_TEXT = "ir.txt"
TEST_INPUTS = "test_inputs.npy"
TEST_OUTPUTS = "test_outputs.npy"
LAYER_CHECKS = "layer_checks.json"  # per-layer CRC-32s of the test vectors (compile/layer_checks.py)
TARGETS_DIR = "targets"

FIRMWARE_DIR = "firmware"
BUILD_DIR = "build"
ELF_NAME = "firmware.elf"
PROJECT_DIR = "project"
RENODE_DIR = "renode"


def elf_path(export_dir) -> Path:
    """The emulation image `tinyasc build` links at the QEMU twin's addresses."""
    return Path(export_dir) / BUILD_DIR / ELF_NAME


# ---- writing one export folder: a lock per name, and staging folders left by killed runs ----------

MAX_NAME_CHARS = 100  # the name is a folder, a C project name and part of temporary names


def staging_prefix(name: str) -> str:
    """Hidden siblings of export/<name>/ while it is written: `.<name>.<random>` (staging) and
    `.<name>.old-<pid>` (the previous folder, during the swap). Names hold no '.', so the prefix
    is exactly one export's."""
    return f".{name}."


def _lock_path(out_root: Path, name: str) -> Path:
    return Path(out_root) / f".{name}.lock"


@contextlib.contextmanager
def export_lock(out_root, name: str):
    """Hold export/<name>'s lock while it is written: a second writer gets a TinyascError at once
    (flock: released by the kernel when the holder exits, even on kill -9). The lock file is
    removed on release, so a finished export leaves nothing beside its folder; a writer that
    locked a file already removed that way notices (another inode at the path) and tries again."""
    import fcntl

    path = _lock_path(Path(out_root), name)
    for _ in range(100):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise TinyascError(
                f"{Path(out_root) / name}: another tinyasc export (pid {holder}) is writing this folder; "
                "wait for it to finish, or export under another --name") from None
        if _same_file(fd, path):
            break
        os.close(fd)  # locked a lock file its holder had just removed: take the new one
    else:
        raise TinyascError(f"{path}: cannot take the export lock; remove the file and export again")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        yield
    finally:
        path.unlink(missing_ok=True)  # before releasing: a waiting writer then sees a new inode
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def clean_stale_staging(out_root, name: str) -> list[Path]:
    """Remove staging and old folders of export/<name> left by an interrupted run (kill -9, power
    loss); returns them. Call only while holding `export_lock`: then no other writer owns any."""
    stale = [p for p in Path(out_root).glob(staging_prefix(name) + "*") if p.is_dir() and not p.is_symlink()]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale
