"""Damaged .tflite files through `tinyasc export`: every refusal must name the file, nothing may crash.

    .venv/bin/python benchmarks/tflite_mutants.py [--seed 0] [--count 300]

Each mutant is one of the small golden models (tests/fixtures/golden/*.tflite) damaged the way
files get damaged: bit flips, a byte or an aligned word overwritten (with extreme values such as
0xFFFFFFFF), a truncation, a zeroed run, a duplicated run, an int32 nudged by a small step. Each
is exported in a forked child, so a crash (a signal, a Python exception other than TinyascError) is
counted instead of ending the run. Prints the counts and every offending mutant; exit 1 when any
error lacks the file's path or anything crashed. tests/test_hostile_export.py runs a fixed slice.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import sys
import tempfile
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tinyasc.compile.export import export_model  # noqa: E402
from tinyasc.errors import TinyascError  # noqa: E402

GOLDEN = REPO / "tests" / "fixtures" / "golden"
KINDS = ("flip", "byte", "cut", "zero", "word", "dup", "int32")


def mutate(data: bytearray, rng: random.Random) -> str:
    kind, at = rng.choice(KINDS), rng.randrange(len(data) - 4) & ~3
    if kind == "flip":
        for _ in range(rng.randint(1, 4)):
            index = rng.randrange(len(data))
            data[index] ^= 1 << rng.randrange(8)
    elif kind == "byte":
        data[at] = rng.randrange(256)
    elif kind == "cut":
        del data[at:]
    elif kind == "zero":
        data[at:at + 64] = bytes(len(data[at:at + 64]))
    elif kind == "word":
        data[at:at + 4] = rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0, 1, 255, 65536]).to_bytes(4, "little")
    elif kind == "dup":
        data[at:at] = data[at:at + rng.randint(1, 32)]
    else:
        value = int.from_bytes(data[at:at + 4], "little", signed=True) + rng.choice([-2, -1, 1, 2, 100])
        data[at:at + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")
    return kind


def export_in_child(path: Path, out_root: Path) -> dict:
    """Export `path` in a forked child; its outcome as a dict ({"died": status} on a signal)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        try:
            export_model(path, board_name="cortex-m3", out_root=out_root, num_test_vectors=1)
            outcome = {"ok": True}
        except TinyascError as error:
            outcome = {"error": type(error).__name__, "message": str(error)[:400]}
        except BaseException as error:  # noqa: BLE001 (what this script looks for)
            outcome = {"crash": f"{type(error).__name__}: {str(error)[:200]}", "trace": traceback.format_exc()[-800:]}
        os.write(write_end, json.dumps(outcome).encode())
        os._exit(0)
    os.close(write_end)
    text = b""
    while chunk := os.read(read_end, 65536):
        text += chunk
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    return json.loads(text) if text else {"died": status}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    rng, sources = random.Random(args.seed), sorted(GOLDEN.glob("*.tflite"))
    counts, offending = collections.Counter(), []
    with tempfile.TemporaryDirectory(prefix="tinyasc-mutants-") as work:
        for index in range(args.count):
            data = bytearray(rng.choice(sources).read_bytes())
            kind = mutate(data, rng)
            path = Path(work) / f"mutant_{args.seed}_{index}_{kind}.tflite"
            path.write_bytes(bytes(data))
            outcome = export_in_child(path, Path(work) / "export")
            if "ok" in outcome:
                counts["exported"] += 1
            elif "error" in outcome and str(path) in outcome["message"]:
                counts["refused, naming the file"] += 1
            else:
                counts["error without the file" if "error" in outcome else "crash"] += 1
                offending.append((path.name, outcome))
    print(f"{args.count} mutants (seed {args.seed}): {dict(counts)}")
    for name, outcome in offending:
        print(f"  {name}: {outcome}")
    return 1 if offending else 0


if __name__ == "__main__":
    sys.exit(main())
