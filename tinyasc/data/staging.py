"""Datasets generated on disk, idempotently and atomically (synthetic, spoken digits).

A generator writes into a hidden staging folder inside the dataset folder and `commit` moves the
finished files into place; the parameters file goes last, so a run killed half-way never leaves a
dataset that looks complete, and `is_complete` lets the next run reuse a finished one untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

STAGING_PREFIX = ".partial-"


def is_complete(out_dir: Path, params: dict, params_file: str, csv_file: str) -> bool:
    """True when out_dir holds a dataset whose parameters file equals `params`."""
    params_path = out_dir / params_file
    if not (params_path.is_file() and (out_dir / csv_file).is_file()):
        return False
    try:
        return json.loads(params_path.read_text()) == params
    except (OSError, ValueError):
        return False


def new_staging_dir(out_dir: Path) -> Path:
    """A fresh hidden folder inside out_dir, after deleting those a killed run left behind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out_dir))


def commit(staging: Path, out_dir: Path, params: dict, params_file: str, entries: tuple[str, ...]) -> None:
    """Move `entries` (files or folders) of a finished staging folder into out_dir, replacing
    what was there; the parameters file goes last."""
    (out_dir / params_file).unlink(missing_ok=True)
    for name in entries:
        if (out_dir / name).is_dir():
            shutil.rmtree(out_dir / name, ignore_errors=True)
        os.replace(staging / name, out_dir / name)
    tmp_params = staging / params_file
    tmp_params.write_text(json.dumps(params, indent=2) + "\n")
    os.replace(tmp_params, out_dir / params_file)
