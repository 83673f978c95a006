"""Hand-edited export folders: every key of manifest.json deleted or given a wrong type, and the
file truncated, through build, emulate, verify, report and flash --dry-run. No traceback may come out.

    .venv/bin/python benchmarks/manifest_mutants.py EXPORT_DIR [--commands report flash] [--depth 3]

EXPORT_DIR is a finished export (built and emulated, so every section is there); each case runs on
a fresh copy, in this process through the CLI's main(). A case's outcome is "refused" (exit 2, one
line naming manifest.json and the key), "ran" (the command did not need that key: exit 0 or 1),
"other refusal" (exit 2 for another reason, e.g. flash without a project image) or "traceback". Prints the counts per command and every
case that is not refused or ran; exit 1 on any traceback.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tinyasc.cli import main  # noqa: E402

COMMANDS = {"build": ["build"], "emulate": ["emulate", "--timeout", "120"], "verify": ["verify", "--random", "8"],
            "report": ["report"], "flash": ["flash", "--dry-run"]}
WRONG = {str: 7, int: "7", float: "0.5", bool: "yes", list: "x", dict: [1], type(None): {"x": 1}}


def key_paths(value, where: tuple = (), depth: int = 3):
    """Every key path (tuple) of the manifest's dicts down to `depth` levels."""
    if isinstance(value, dict) and len(where) < depth:
        for key, item in value.items():
            yield (*where, key)
            yield from key_paths(item, (*where, key), depth)


def mutants(manifest: dict, depth: int):
    """(name, manifest text) of every case."""
    text = json.dumps(manifest, indent=2)
    yield "truncated JSON", text[: len(text) // 2]
    for path in key_paths(manifest, depth=depth):
        for kind in ("deleted", "wrong type"):
            changed = json.loads(text)
            parent = changed
            for key in path[:-1]:
                parent = parent[key]
            if kind == "deleted":
                del parent[path[-1]]
            else:
                parent[path[-1]] = WRONG[type(parent[path[-1]])]
            yield f"{'.'.join(path)} {kind}", json.dumps(changed)


def run_case(base: Path, text: str, command: list[str], key: str) -> tuple[str, str]:
    with tempfile.TemporaryDirectory() as folder:
        export = Path(folder) / base.name
        shutil.copytree(base, export)
        (export / "manifest.json").write_text(text)
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main([command[0], str(export), *command[1:]])
        except SystemExit as e:
            code = e.code
        except Exception as e:  # noqa: BLE001 - counting, not handling
            return "traceback", f"{type(e).__name__}: {str(e)[:200]}"
    message = err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else ""
    if code == 2 and "manifest.json" in message and (key in message or key == "truncated JSON"):
        return "refused", message
    return ("ran" if code in (0, 1) else "other refusal"), f"exit {code}: {message[:200]}"


def main_(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir")
    parser.add_argument("--commands", nargs="+", choices=sorted(COMMANDS), default=sorted(COMMANDS))
    parser.add_argument("--depth", type=int, default=3)
    args = parser.parse_args(argv)
    base = Path(args.export_dir)
    cases = list(mutants(json.loads((base / "manifest.json").read_text()), args.depth))
    tracebacks = 0
    for command in args.commands:
        counts = collections.Counter()
        for name, text in cases:
            outcome, detail = run_case(base, text, COMMANDS[command], name.rsplit(" ", 2)[0] if " " in name else name)
            counts[outcome] += 1
            tracebacks += outcome == "traceback"
            if outcome == "traceback":
                print(f"{command}: {name}: {outcome}: {detail}", flush=True)
        print(f"{command}: {len(cases)} cases: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())), flush=True)
    return 1 if tracebacks else 0


if __name__ == "__main__":
    sys.exit(main_())
