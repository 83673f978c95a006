"""`export/<name>/manifest.json`: every figure of one export, written atomically.

Stages add their own top-level section (``export``, ``build``, ``emulation``, ``host``, ...), so a
stage can be re-run alone without losing what the others measured. Export also writes ``name``,
``board`` and, when known, ``audio`` (the model input's audio facts, tinyasc/artifacts/audio.py).
"""

import json
import os
import tempfile
from pathlib import Path

from tinyasc.errors import TinyascError

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def read_manifest(export_dir: Path) -> dict:
    path = Path(export_dir) / MANIFEST_NAME
    if not path.is_file():
        raise TinyascError(
            f"{export_dir} is not an export folder (no {MANIFEST_NAME}); "
            "create one with `tinyasc export --board <board> ...`"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise TinyascError(f"{path} is not valid JSON ({str(e)[:120]}); re-run `tinyasc export`") from None
    if not isinstance(manifest, dict):
        raise TinyascError(f"{path} is not a manifest (a JSON object); re-run `tinyasc export`")
    from tinyasc.artifacts.manifest_schema import checked

    return checked(manifest, path)


def write_manifest(export_dir: Path, manifest: dict) -> None:
    manifest = {"schema_version": SCHEMA_VERSION, **manifest}
    atomic_write_text(Path(export_dir) / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")


def update_manifest(export_dir: Path, section: str, data: dict) -> dict:
    """Replace one section of the manifest and return the whole manifest."""
    manifest = read_manifest(export_dir)
    manifest[section] = data
    write_manifest(export_dir, manifest)
    return manifest
