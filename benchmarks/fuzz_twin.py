"""The differential fuzzer on a core twin: random graphs cross-compiled for a board (DSP assembly
included) and self-tested in QEMU against TFLM's outputs (tinyasc/emulate/fuzz_twin.py).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/fuzz_twin.py --graphs 1000 --seed 5 --board nrf52840
    (about 1 graph per second on 2 cores; --board cortex-m7, corstone-300 or cortex-m3 for the other twins)

The graphs are those benchmarks/fuzz_graphs.py draws for the same seed and index, compiled for
--board. A finding (a firmware that does not build, faults or mismatches) is saved, not shrunk,
under --cases (default /tmp/tinyasc-fuzz-twin/): replay one with `tinyasc export CASE.tflite --board B`,
`tinyasc build` and `tinyasc emulate`, then fix it and add a QEMU test for its kernel.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_CASES = Path("/tmp/tinyasc-fuzz-twin")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--first", type=int, default=0, help="first graph index of the seed (to resume a run)")
    parser.add_argument("--board", default="nrf52840", help="the board whose core twin runs the graphs")
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="where findings are saved")
    parser.add_argument("--log", type=Path, help="progress log (default: stdout)")
    parser.add_argument("--summary", type=Path, help="write the final figures as JSON here")
    parser.add_argument("--layers", action="store_true",
                        help="also compare every intermediate tensor with TFLM's (a verification build per graph)")
    args = parser.parse_args(argv)
    log = open(args.log, "a") if args.log else sys.stdout
    from tinyasc.compile.fuzz.shrink import save_case
    from tinyasc.emulate.fuzz_twin import fuzz_on_twin

    def on_batch(stats, findings):
        for finding in findings:
            path = save_case(finding, args.cases)
            print(f"FINDING {finding.kind} at {finding.where}: {finding.detail.splitlines()[0][:200]} -> {path}",
                  file=log, flush=True)
        print(stats.summary().replace(" (0 under ASan+UBSan)", ""), file=log, flush=True)

    from tinyasc.errors import TinyascError

    try:
        stats = fuzz_on_twin(args.graphs, args.seed, args.board, first=args.first, on_batch=on_batch, layers=args.layers)
    except TinyascError as error:
        print(f"fuzz_twin: error: {error}", file=sys.stderr)
        return 2
    figures = {"board": args.board, "seed": args.seed, "first": args.first, **stats.figures()}
    text = json.dumps(figures, indent=1)
    if args.summary:
        args.summary.write_text(text + "\n")
    print(text, file=log, flush=True)
    return 1 if figures["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
