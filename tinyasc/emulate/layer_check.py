"""Per-layer bit-exactness in QEMU: every intermediate tensor, not only the model's output.

    check_layers(export_dir)   build the verification image (firmware/verify.py), self-test it in
                               the board's twin, and say which op first differed from TFLM, on
                               which test vector; stored as the manifest's "layer_check"
    layer_check_line(check)    one line for the console

A saturating softmax can hide a wrong intermediate from the output comparison; this check cannot be
fooled that way for the tensors it covers (every op output the schedule holds whole; the rest are
listed with the reason). A run counts as bit-exact only when the release self-test and this check
both pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tinyasc.artifacts.manifest import read_manifest, update_manifest
from tinyasc.emulate.qemu import DEFAULT_TIMEOUT_S, _built_board_and_elf, _parse_tagged_line, _run_qemu


@dataclass(frozen=True)
class LayerCheck:
    passed: bool | None  # None: not run (no layer_checks.json, or the build does not fit)
    checks: int  # tensors checked per vector (op outputs held whole)
    ops: int  # ops in the model
    vectors: int  # test vectors whose tensors were compared
    checked: int  # tensor comparisons made in all
    mismatches: int
    skipped: list = field(default_factory=list)  # [{op, kind, tensor, reason}] never held whole
    first_failure: dict | None = None  # {op, kind, tensor, vector}: the first tensor that differed
    note: str | None = None
    log: str = ""

    def to_dict(self) -> dict:
        return {"passed": self.passed, "checked_tensors": self.checks, "ops": self.ops, "vectors": self.vectors,
                "comparisons": self.checked, "mismatches": self.mismatches, "first_failure": self.first_failure,
                "skipped": self.skipped, "note": self.note,
                "method": "verification build (build/verify/): CRC-32 of each checked tensor after its op "
                          "against TFLM's (kPreserveAllTensors), on the embedded test vectors"}


def _first_failure(table: dict, figures: dict) -> dict | None:
    if "first_check" not in figures:
        return None
    check = table["checks"][figures["first_check"]]
    return {"op": check["op"], "kind": check["kind"], "tensor": check["tensor"], "name": check["name"],
            "vector": figures["first_vector"]}


def _op_count(export_dir: Path, table: dict) -> int:
    ops = read_manifest(export_dir).get("export", {}).get("ops")
    if ops:
        return len(ops)
    return len({entry["op"] for entry in table["checks"] + table["skipped"]})


def check_layers(export_dir, timeout_s: float = DEFAULT_TIMEOUT_S, store: bool = True) -> LayerCheck:
    """Build and run the verification image; the result also goes to the manifest's "layer_check"."""
    from tinyasc.firmware.verify import build_verification_firmware

    export_dir = Path(export_dir).resolve()
    built = build_verification_firmware(export_dir)
    if built is None:
        return LayerCheck(None, 0, 0, 0, 0, 0, note="no layer_checks.json: re-run `tinyasc export` for per-layer checks")
    table, ops = built.table, _op_count(export_dir, built.table)
    if built.elf_path is None:
        result = LayerCheck(None, len(table["checks"]), ops, 0, 0, 0, table["skipped"], note=built.note)
    else:
        board, _ = _built_board_and_elf(export_dir)
        exit_code, log, _, _ = _run_qemu(board, built.elf_path, timeout_s)
        figures = _parse_tagged_line("TINYASC_LAYERS", log)
        result = LayerCheck(
            passed=exit_code == 0 and bool(figures) and figures.get("mismatches", 1) == 0,
            checks=len(table["checks"]), ops=ops, vectors=built.vectors_checked,
            checked=figures.get("checked", 0), mismatches=figures.get("mismatches", 0), skipped=table["skipped"],
            first_failure=_first_failure(table, figures),
            note=built.note if figures else f"the verification build printed no TINYASC_LAYERS line (exit {exit_code})",
            log=log)
    if store:
        update_manifest(export_dir, "layer_check", result.to_dict())
    return result


def layer_check_line(check: LayerCheck) -> str:
    """One line saying what the per-layer check compared and what it found."""
    if check.passed is None:
        return f"per-layer check: not run ({check.note})"
    covered = f"{check.checks} of {check.ops} ops' outputs on {check.vectors} vector(s)"
    skipped = f"; {len(check.skipped)} not held whole by the schedule or aliases, not checked" if check.skipped else ""
    if check.passed:
        return f"per-layer check: PASS, {covered} bit-exact with TFLM{skipped}" + (f" ({check.note})" if check.note else "")
    failure = check.first_failure
    where = (f"first at op {failure['op']} ({failure['kind']}, tensor {failure['tensor']}) on test vector "
             f"{failure['vector']}" if failure else check.note or "no result line")
    return f"per-layer check: FAIL, {check.mismatches} tensor(s) differ from TFLM, {where}; {covered}{skipped}"
