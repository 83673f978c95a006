"""Run the benchmark suite (tinyasc/bench.py) and write benchmarks/results/bench.{json,csv}.

    .venv/bin/python benchmarks/bench.py        (= `.venv/bin/tinyasc bench --out benchmarks/results`)
"""

import sys

from tinyasc.cli import main

if __name__ == "__main__":
    arguments = sys.argv[1:]
    out = [] if "--out" in arguments else ["--out", "benchmarks/results"]
    sys.exit(main(["bench", *out, *arguments]))
