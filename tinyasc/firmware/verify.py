"""The verification build: the release sources plus a per-layer check after every op.

    build_verification_firmware(export_dir)   build/verify/firmware.elf, or None when the export has
                                              no layer_checks.json (an export made before it existed)

The image is the release one compiled with -DTINYASC_PROFILE (model.c calls tinyasc_profile_mark(i)
after op i), -DTINYASC_CALLER_ARENA (the model runs in main.c's arena, so the hook finds a tensor at
its plan offset) and -DTINYASC_VERIFY_LAYERS (main.c's hook compares CRC-32s with layer_checks.c,
rendered from the export's layer_checks.json). The release image, its size and its instruction
count are untouched: this variant only answers "is every checked tensor what TFLM computes".

Flash: the table costs 12 bytes per checked tensor plus 4 per tensor per test vector. When the image
does not fit the board with every vector's checksums, it is built with the first vector's only;
when even that does not fit, there is no verification build and the reason says so.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tinyasc.artifacts.export_folder import BUILD_DIR, LAYER_CHECKS
from tinyasc.errors import DoesNotFitError, TinyascError

VERIFY_BUILD_DIR = f"{BUILD_DIR}/verify"
VERIFY_DEFINES = ("TINYASC_PROFILE", "TINYASC_CALLER_ARENA", "TINYASC_VERIFY_LAYERS")


@dataclass(frozen=True)
class VerificationBuild:
    elf_path: Path | None  # None: the checks do not fit the board's flash even for one vector
    table: dict  # layer_checks.json
    vectors_checked: int  # test vectors whose every checked tensor is compared
    flash_bytes: int | None
    note: str | None  # why fewer vectors (or none) are checked
    seconds: float


def read_layer_checks(export_dir) -> dict | None:
    path = Path(export_dir) / LAYER_CHECKS
    if not path.is_file():
        return None
    try:
        table = json.loads(path.read_text())
        if not all(isinstance(table.get(key), list) for key in ("checks", "skipped", "expected")):
            raise ValueError("checks, skipped or expected is missing")
    except ValueError as error:
        raise TinyascError(f"{path} is damaged ({error}); re-run `tinyasc export`") from None
    return table


def _build(export_dir: Path, board, opt: str, stack_size: int, table: dict, vectors: int | None):
    from tinyasc.compile.codegen import write_sources
    from tinyasc.compile.layer_checks import render_layer_checks
    from tinyasc.firmware.build import _compile_and_link, _publish
    from tinyasc.firmware.size import size_report

    target = export_dir / VERIFY_BUILD_DIR
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target, prefix=".build-") as work:
        checks_dir = Path(work) / "checks"
        write_sources(render_layer_checks(table, vectors), checks_dir)
        _compile_and_link(export_dir, board, opt, stack_size, Path(work), defines=VERIFY_DEFINES,
                          extra_sources=(checks_dir / "layer_checks.c",))
        elf = _publish(Path(work), target)[".elf"]
    return elf, size_report(elf)["flash"]


def build_verification_firmware(export_dir, opt: str | None = None, stack_size: int | None = None) -> VerificationBuild | None:
    """Build the per-layer verification image into build/verify/ (board, opt and stack as the
    manifest's release build, or the defaults); None when the export has no layer_checks.json."""
    from tinyasc.artifacts.manifest import read_manifest
    from tinyasc.firmware.build import DEFAULT_OPT, DEFAULT_STACK_SIZE, _resolve_board, render_firmware

    started = time.perf_counter()
    export_dir = Path(export_dir).resolve()
    table = read_layer_checks(export_dir)
    if table is None:
        return None
    release = read_manifest(export_dir).get("build") or {}
    opt, stack_size = opt or release.get("opt") or DEFAULT_OPT, stack_size or release.get("stack_size") or DEFAULT_STACK_SIZE
    board = _resolve_board(export_dir, None)
    render_firmware(export_dir, board, stack_size=stack_size, opt=opt)
    vectors, note = len(table["expected"]), None
    for attempt in (None, 1):
        try:
            elf, flash = _build(export_dir, board, opt, stack_size, table, attempt)
            return VerificationBuild(elf, table, min(vectors, attempt or vectors), flash, note,
                                     time.perf_counter() - started)
        except DoesNotFitError as error:
            note = (f"the per-layer checksums of all {vectors} test vectors do not fit {board.name}'s flash; "
                    "checked on the first vector only" if attempt is None else
                    f"the verification build does not fit {board.name}'s flash even with one vector's "
                    f"checksums ({str(error).splitlines()[0][:200]}): no per-layer check")
    return VerificationBuild(None, table, 0, None, note, time.perf_counter() - started)
