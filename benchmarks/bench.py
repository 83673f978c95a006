"""Run the benchmark suite (tinyasc/bench.py) and write benchmarks/results/bench.{json,csv}.

    .venv/bin/python benchmarks/bench.py        (same as `.venv/bin/tinyasc bench`)
"""

import sys

from tinyasc.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
