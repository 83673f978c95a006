"""Hand-edited export folders: every key of manifest.json deleted, given a wrong type or, for
numbers, an out-of-range value (-1, 2**62, NaN; lists of whole numbers too), and the file truncated, through build, emulate, verify, report and flash --dry-run. No traceback may come out.

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
            "report": ["report"], "flash": ["flash", "--dry-run"],
            # a 2-s noise WAV through the firmware's PCM front-end (the export must have one)
            "emulate-audio": ["emulate", "--timeout", "120", "--audio", "{wav}"]}


def noise_wav(folder: Path) -> Path:
    import numpy as np
    import soundfile

    path = folder / "noise.wav"
    soundfile.write(path, 0.1 * np.random.default_rng(0).standard_normal(32000), 16000, subtype="PCM_16")
    return path
OUT_OF_RANGE = {int: {"negative": -1, "huge": 2**62}, float: {"negative": -1.0, "NaN": float("nan")}}
WRONG = {str: 7, int: "7", float: "0.5", bool: "yes", list: "x", dict: [1], type(None): {"x": 1}}


def key_paths(value, where: tuple = (), depth: int = 3):
    """Every key path (tuple) of the manifest's dicts down to `depth` levels."""
    if isinstance(value, dict) and len(where) < depth:
        for key, item in value.items():
            yield (*where, key)
            yield from key_paths(item, (*where, key), depth)


def changes(value) -> dict:
    """kind: the value a key is given instead of `value`."""
    found = {"deleted": KeyError, "wrong type": WRONG[type(value)]}
    if type(value) in OUT_OF_RANGE:
        found.update(OUT_OF_RANGE[type(value)])
    if isinstance(value, list) and value and all(type(item) is int for item in value):
        found.update({f"{kind}-list": [bad] * len(value) for kind, bad in OUT_OF_RANGE[int].items()})
    return found


def mutants(manifest: dict, depth: int):
    """(name, manifest text) of every case."""
    text = json.dumps(manifest, indent=2)
    yield "truncated JSON", text[: len(text) // 2]
    for path in key_paths(manifest, depth=depth):
        parent = manifest
        for key in path[:-1]:
            parent = parent[key]
        for kind, bad in changes(parent[path[-1]]).items():
            changed = json.loads(text)
            target = changed
            for key in path[:-1]:
                target = target[key]
            if bad is KeyError:
                del target[path[-1]]
            else:
                target[path[-1]] = bad
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


def case_key(name: str) -> str:
    """The key path a case changed ("export.arena_bytes wrong type" -> "export.arena_bytes")."""
    return name if name == "truncated JSON" else name.split(" ", 1)[0]


def main_(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir")
    parser.add_argument("--commands", nargs="+", choices=sorted(COMMANDS), default=sorted(COMMANDS))
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--verbose", action="store_true", help="print every case's outcome")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this text")
    args = parser.parse_args(argv)
    base = Path(args.export_dir)
    cases = [case for case in mutants(json.loads((base / "manifest.json").read_text()), args.depth) if args.only in case[0]]
    tracebacks = 0
    wav = noise_wav(Path(tempfile.mkdtemp(prefix="manifest-mutants-")))
    for command in args.commands:
        counts = collections.Counter()
        for name, text in cases:
            outcome, detail = run_case(base, text, [str(wav) if a == "{wav}" else a for a in COMMANDS[command]],
                                       case_key(name))
            counts[outcome] += 1
            tracebacks += outcome == "traceback"
            if outcome == "traceback" or args.verbose:
                print(f"{command}: {name}: {outcome}: {detail}", flush=True)
        print(f"{command}: {len(cases)} cases: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())), flush=True)
    return 1 if tracebacks else 0


if __name__ == "__main__":
    sys.exit(main_())
