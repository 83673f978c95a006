"""The hostile-input corpus as a table: input x command x outcome, written to
benchmarks/results/hostile_table.md.

    .venv/bin/python benchmarks/hostile_table.py [--out benchmarks/results/hostile_table.md]

Runs, in this process through the CLI's main(), the cases the tests define (no copies here):
tests/hostile.py CASES (WAV formats, label CSVs, output paths, symlink loops, boards files, usage
mistakes), tests/test_hostile_yaml.py's YAML files, config values and board fields,
tests/test_hostile_cli.py's numeric options and tests/test_hostile_manifest.py's hand-edited
manifests (on one export of the golden anchor-shaped CNN, built once). Each row is the exit code and
the first line the command printed on stderr (or, for a run that succeeded, its last stdout line).
A row whose outcome differs from what its test expects is marked; exit 1 if any is. About a minute.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import hostile  # noqa: E402
from tinyasc.cli import main  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "results" / "hostile_table.md"


class Capture:
    """capsys's readouterr() for hostile.run_cli outside pytest."""

    def __init__(self):
        self.out, self.err = io.StringIO(), io.StringIO()

    def readouterr(self) -> tuple[str, str]:
        out, err = self.out.getvalue(), self.err.getvalue()
        self.out.seek(0), self.out.truncate(), self.err.seek(0), self.err.truncate()
        return out, err


def run(case: hostile.Case, folder: Path) -> tuple[int, str, str, list]:
    """A traceback is a row too (exit "traceback", its last line), never the end of the table."""
    capture, seen = Capture(), []
    make = case.make

    def recorded(where):
        seen.extend(make(where))
        return list(seen)
    try:
        with contextlib.redirect_stdout(capture.out), contextlib.redirect_stderr(capture.err):
            return hostile.run_case(capture, dataclasses.replace(case, make=recorded), folder)
    except Exception as error:  # noqa: BLE001 - reported in the table, as a traceback would be
        return "traceback", "", f"{type(error).__name__}: {error}\n", seen


def _shown(args: list, folder: Path) -> str:
    """The command line with the case's scratch folder written as DIR."""
    text = " ".join(str(a) for a in args).replace(str(folder), "DIR")
    return "tinyasc " + (text if len(text) <= 120 else text[:120] + "...")


def _outcome(case: hostile.Case, code: int, out: str, err: str) -> tuple[str, bool]:
    """(the line shown, whether it is what the case expects)."""
    lines = (err if code != 0 else out).strip().splitlines() or [""]
    line = lines[0] if code != 0 else lines[-1]
    text = err if case.code == 2 else out
    expected = code == case.code and all(str(f) in text for f in case.fragments)
    if case.code == 2:
        expected = expected and err.count("\n") == 1 and len(err) < hostile.MAX_ERROR_CHARS
    return line, expected


def yaml_cases() -> list[hostile.Case]:
    import test_hostile_yaml as y

    cases = []
    for name, (text, fragment) in sorted(y.HOSTILE_YAML.items()):
        for command in ("train --config", "boards --boards-file"):
            def make(folder, text=text, command=command):
                path = hostile.write(folder / ("config.yaml" if command.startswith("train") else "boards.yaml"), text)
                if command.startswith("boards"):
                    return ["boards", "--boards-file", path]
                return ["train", "--config", path, "--data", folder / "none.csv", "--out", folder / "run"]
            cases.append(hostile.Case(f"YAML: {name}", make, (fragment,)))
    for line, fragment in sorted(y.HOSTILE_VALUES.items()):
        def make(folder, line=line):
            section = line.split(":", 1)[0]
            defaults = [d for d in y.MINIMAL_CONFIG.splitlines() if not d.startswith(section)]
            path = hostile.write(folder / "config.yaml", "\n".join([line] + defaults) + "\n")
            return ["train", "--config", path, "--data", folder / "none.csv", "--out", folder / "run"]
        cases.append(hostile.Case(f"config value: `{line}`", make, (fragment,)))
    for name, (key, value) in sorted(y.HOSTILE_BOARD_FIELDS.items()):
        def make(folder, key=key, value=value):
            text = y.shipped_boards(lambda board: board.update({key: value}))
            return ["boards", "--boards-file", hostile.write(folder / "boards.yaml", text)]
        cases.append(hostile.Case(f"board field: {name}", make, (f"'{key}' must be",)))
    return cases


def cli_cases() -> list[hostile.Case]:
    import test_hostile_cli as c

    test = c.test_a_numeric_option_out_of_bounds_is_one_line_before_anything_runs
    (mark,) = [m for m in test.pytestmark if m.name == "parametrize"]
    return [hostile.Case(f"option: `{' '.join(args[1:])[:60]}`", lambda folder, args=args: list(args), (fragment,))
            for args, fragment in mark.args[1]]


def manifest_cases(export: Path) -> list[hostile.Case]:
    """tests/test_hostile_manifest.py's edits, each through its first command, on a copy of `export`."""
    import test_hostile_manifest as t

    test = t.test_a_hand_edited_manifest_is_one_line_naming_the_file_and_the_key
    (mark,) = [m for m in test.pytestmark if m.name == "parametrize"]
    cases = []
    for edit, commands, fragment in mark.args[1]:
        def make(folder, edit=edit, command=commands[0]):
            copy = folder / "m"
            shutil.copytree(export, copy)
            manifest = json.loads((copy / "manifest.json").read_text())
            text = edit(manifest)
            (copy / "manifest.json").write_text(text if isinstance(text, str) else json.dumps(manifest))
            return [command, copy, *(["--dry-run"] if command == "flash" else [])]
        cases.append(hostile.Case(f"manifest.json: {fragment.split(';')[0][:70]}", make, (fragment,)))
    return cases


def built_export(root: Path) -> Path:
    from tinyasc.compile.export import export_model
    from tinyasc.firmware.build import build_firmware

    with contextlib.redirect_stdout(io.StringIO()):
        export_model(hostile.GOLDEN_TFLITE, board_name="cortex-m3", out_root=root, name="m", num_test_vectors=1)
        build_firmware(root / "m")
    return root / "m"


def _cell(text: str) -> str:
    text = re.sub(r"waveforms-[0-9a-f]+", "waveforms-...", text.replace(str(REPO) + "/", ""))
    return text.replace("|", "\\|").replace("`", "'").replace("\n", " ")[:220] if text else ""


def table(rows: list[tuple], seconds: float) -> str:
    unexpected = sum(1 for row in rows if not row[4])
    lines = [
        "# Hostile inputs: input x command x outcome",
        "",
        f"Generated by `python benchmarks/hostile_table.py` ({len(rows)} cases in {seconds:.0f} s; "
        f"{unexpected} not as their test expects). Exit 2 is a user mistake refused in one line; exit 0 a correct "
        "run (its last line shown). DIR is the case's scratch folder. The cases are defined in tests/hostile.py "
        "and tests/test_hostile_{yaml,cli,manifest}.py.",
        "",
        "| input | command | exit | first line of the error (or of a run, its last line) |",
        "|---|---|---|---|",
    ]
    for name, command, code, line, expected in rows:
        mark = "" if expected else " **(unexpected)**"
        lines.append(f"| {_cell(name)} | `{_cell(command)}` | {code}{mark} | {_cell(line)} |")
    return "\n".join(lines) + "\n"


def main_(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    started, rows = time.perf_counter(), []
    with tempfile.TemporaryDirectory(prefix="tinyasc-hostile-") as scratch:
        export = built_export(Path(scratch) / "export")
        cases = hostile.CASES + cli_cases() + yaml_cases() + manifest_cases(export)
        for index, case in enumerate(cases):
            folder = Path(scratch) / f"case{index}"
            code, out, err, command = run(case, folder)
            line, expected = _outcome(case, code, out, err)
            rows.append((case.input, _shown(command, folder), code, line.replace(str(folder), "DIR"), expected))
    Path(args.out).write_text(table(rows, time.perf_counter() - started))
    print(f"{len(rows)} cases, {sum(not r[4] for r in rows)} unexpected: {args.out}")
    return 0 if all(r[4] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main_())
