"""A long fuzzing campaign: batches of random graphs, each finding shrunk and saved, a progress
line per batch. `tinyasc bench --fuzz N` and benchmarks/fuzz_graphs.py run it."""

from __future__ import annotations

from pathlib import Path

from tinyasc.compile.fuzz.run import fuzz
from tinyasc.compile.fuzz.shrink import save_case, shrink


def run_campaign(graphs: int, seed: int, cases: Path, log, first: int = 0, batch_size: int = 60,
                 jobs: int = 2, sanitize_every: int = 1) -> dict:
    """Fuzz `graphs` graphs of `seed` from index `first`; findings are shrunk and saved in `cases`;
    progress goes to the text stream `log`. Returns the figures (counts, seconds, refusals)."""

    def on_batch(stats, findings):
        for finding in findings:
            path = save_case(shrink(finding), cases)
            print(f"FINDING {finding.kind} at {finding.where}: {finding.detail.splitlines()[0][:200]} -> {path}",
                  file=log, flush=True)
        print(stats.summary(), file=log, flush=True)

    stats = fuzz(graphs, seed=seed, batch_size=batch_size, jobs=jobs, on_batch=on_batch, first=first,
                 sanitize_every=sanitize_every)
    return {**stats.figures(), "seed": seed, "first": first}
