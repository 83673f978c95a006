"""The differential fuzzer, run long: random graphs through tinyasc's host build and TFLM.

    .venv/bin/python benchmarks/fuzz_graphs.py --graphs 100000 --seed 1 --log fuzz.log
    (or `tinyasc bench --fuzz 100000`; about 3 graphs per second on 2 shared cores)

Graphs are drawn, compiled and compared in batches (tinyasc/compile/fuzz/). Each finding is shrunk
to its smallest failing window of ops and saved under --cases (default tests/data/fuzz/, which
tests/test_fuzz_graphs.py replays). A line per batch goes to the log: graphs so far, compared,
refused by either side, findings, elapsed seconds. --first resumes a seed at a graph index.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CASES = ROOT / "tests" / "data" / "fuzz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--first", type=int, default=0, help="first graph index of the seed (to resume a run)")
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="where shrunk findings are saved")
    parser.add_argument("--log", type=Path, help="progress log (default: stdout)")
    parser.add_argument("--summary", type=Path, help="write the final figures as JSON here")
    parser.add_argument("--jobs", type=int, default=2, help="C compilers at a time")
    parser.add_argument("--sanitize-every", type=int, default=1,
                        help="build one batch in N with ASan+UBSan (default 1: all; 4 runs about twice as fast)")
    args = parser.parse_args(argv)
    log = open(args.log, "a") if args.log else sys.stdout
    from tinyasc.compile.fuzz.campaign import run_campaign

    figures = run_campaign(args.graphs, args.seed, args.cases, log, first=args.first, jobs=args.jobs,
                           sanitize_every=args.sanitize_every)
    text = json.dumps(figures, indent=1)
    if args.summary:
        args.summary.write_text(text + "\n")
    print(text, file=log, flush=True)
    return 1 if figures["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
