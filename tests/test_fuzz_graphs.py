"""Differential fuzzing (issue 18): random int8 graphs through tinyasc's host build and TFLM.

Every case the fuzzer ever shrank and saved (tests/data/fuzz/) replays bit-exact through the
user's path (export + the host check of verify, ASan + UBSan). A fixed-seed slice of 300 random
graphs, over every op the fuzzer draws, finds nothing. And the fuzzer itself is tested: with a bug
planted in the compiler it reports a finding and shrinks it to one op.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyasc.compile import quant
from tinyasc.compile.ops import elementwise
from tinyasc.compile.fuzz.draw_ops import OP_DRAWERS
from tinyasc.compile.fuzz.replay import case_meta, replay_case
from tinyasc.compile.fuzz.run import FuzzStats, check_batch, draw_batch, fuzz
from tinyasc.compile.fuzz.shrink import save_case, shrink
from tinyasc.errors import TinyascError

CASES_DIR = Path(__file__).parent / "data" / "fuzz"
CASES = sorted(CASES_DIR.glob("*.tflite"))
SLICE_GRAPHS = 300


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_saved_fuzz_case_is_bit_exact(case, tmp_path):
    """A case is bit-exact now; one that crashed the compiler, or that TFLM runs into undefined
    behaviour on, is instead refused with one clear error (kind "compiler exception" or "refused":
    SOFTMAX with beta · input scale too small raised a bare ValueError; TANH with an input scale of
    1e11 overflows TFLM's shifts)."""
    meta = case_meta(case)
    try:
        report = replay_case(case, tmp_path, num_random=32)
    except TinyascError as error:
        assert meta["kind"] in ("compiler exception", "refused"), (meta["ops"], error)
        return
    assert meta["kind"] != "refused", "the compiler accepts a model it must refuse"
    assert report["bit_exact"] == report["inputs"] > 32, (meta["ops"], report)


def _float32_product_multiplier(input_scale, filter_scale, output_scale):
    """The per-tensor FULLY_CONNECTED multiplier as tinyasc computed it before issue 18."""
    product = float(np.float32(input_scale) * np.float32(filter_scale))
    return quant.quantize_multiplier(product / float(np.float32(output_scale)))


def _float32_quotient_multipliers(op, s1, s2, s_out):
    """ADD/SUB multipliers with float32 quotients, as tinyasc computed SUB's before fuzz seed 20."""
    f1, f2, f_out = np.float32(s1), np.float32(s2), np.float32(s_out)
    twice = np.float32(2) * max(f1, f2)
    fields = ("input1", float(f1 / twice)), ("input2", float(f2 / twice)), \
        ("output", float(twice / (np.float32(1 << elementwise.LEFT_SHIFT) * f_out)))
    multipliers = {}
    for name, real in fields:
        multipliers[f"{name}_multiplier"], multipliers[f"{name}_shift"] = quant.quantize_multiplier(real)
    return multipliers


def test_sub_takes_its_multipliers_in_double(monkeypatch, tmp_path):
    """The saved SUB case lands on a rounding tie: with float32 quotients of the scales (what
    sub_common.cc once did) one output is 1 LSB off TFLM; its replay above passing means SUB's
    multipliers are taken in double, as ADD's."""
    monkeypatch.setattr(elementwise, "add_sub_multipliers", _float32_quotient_multipliers)
    report = replay_case(CASES_DIR / "sub_11f55c4e7b.tflite", tmp_path, num_random=0)
    assert report["bit_exact"] < report["inputs"] and report["max_abs_difference"] == 1, report


FC_CASES = [c for c in CASES if case_meta(c)["ops"][0].startswith("FULLY_CONNECTED")]


@pytest.mark.parametrize("case", FC_CASES, ids=[c.stem for c in FC_CASES])
def test_the_fully_connected_cases_tell_the_two_scale_products_apart(case, monkeypatch, tmp_path):
    """The saved per-tensor FULLY_CONNECTED cases (with and without bias) are 1 LSB off with the
    float32 product of the scales: their replay passing means the compiler takes it in double, as
    TFLM does."""
    monkeypatch.setattr(quant, "fully_connected_multiplier", _float32_product_multiplier)
    report = replay_case(case, tmp_path, num_random=0)
    assert report["bit_exact"] < report["inputs"] and report["max_abs_difference"] == 1, report


@pytest.mark.e2e
def test_a_fixed_seed_slice_of_random_graphs_is_bit_exact():
    stats = fuzz(SLICE_GRAPHS, seed=0, batch_size=100, jobs=2)
    assert stats.findings == [], [(f.kind, f.where, f.detail[:300], f.graph.describe()) for f in stats.findings]
    assert stats.graphs == stats.sanitized == SLICE_GRAPHS
    assert stats.compared >= 0.9 * SLICE_GRAPHS, (stats.refused, stats.tflm_refused)
    assert set(stats.ops) >= set(OP_DRAWERS), set(OP_DRAWERS) - set(stats.ops)


def test_the_fuzzer_finds_a_planted_bug_and_shrinks_it_to_one_op(monkeypatch, tmp_path):
    real = quant.quantize_multiplier
    monkeypatch.setattr(quant, "quantize_multiplier",  # every requantization 1/16 too small
                        lambda m: (lambda q, s: (q - (q >> 4), s))(*real(m)))
    stats = FuzzStats()
    findings = check_batch(draw_batch(11, 0, 20), np.random.default_rng(0), stats, inputs_per_graph=16)
    assert len(findings) >= 5 and {f.kind for f in findings} == {"mismatch"}, stats.summary()
    longest = max(findings, key=lambda f: len(f.graph.ops))
    small = shrink(longest)
    assert len(small.graph.ops) == 1 < len(longest.graph.ops) and small.kind == "mismatch"
    saved = save_case(small, tmp_path / "cases")
    assert replay_case(saved, tmp_path / "buggy", num_random=8)["bit_exact"] < 8
    monkeypatch.undo()
    report = replay_case(saved, tmp_path / "fixed", num_random=8)
    assert report["bit_exact"] == report["inputs"]


def test_a_planted_ws_conv_bug_is_found_against_tflm_and_shrunk_to_the_ws_conv(monkeypatch, tmp_path):
    """WS_CONV (the CUSTOM op a QAT'd WSNet becomes) is compared with TFLM running the CONV_2D on
    the sampled kernel: an output zero point one off in tinyasc's WS_CONV alone is found, shrunk to
    that op and saved, and the saved case replays bit-exact once the bug is gone."""
    import dataclasses

    from tinyasc.compile import ops
    from tinyasc.compile.fuzz import draw
    from tinyasc.compile.ir import OpKind

    real = ops.REGISTRY[OpKind.WS_CONV]
    monkeypatch.setitem(ops.REGISTRY, OpKind.WS_CONV, dataclasses.replace(
        real, prepare=lambda op, graph: dataclasses.replace(p := real.prepare(op, graph), output_offset=p.output_offset + 1)))
    monkeypatch.setitem(draw.OP_WEIGHTS, "WS_CONV", 1000.0)  # whenever the tensor is [1, T, 1, M]
    monkeypatch.setattr(draw, "_input_shape", lambda d: (1, d.integer(8, 40), 1, d.integer(1, 6)))
    stats = FuzzStats()
    findings = check_batch(draw_batch(12, 0, 12), np.random.default_rng(0), stats, inputs_per_graph=16)
    assert len(findings) >= 6 and {f.kind for f in findings} == {"mismatch"}, stats.summary()
    small = shrink(max(findings, key=lambda f: len(f.graph.ops)))
    assert [op.name for op in small.graph.ops] == ["WS_CONV"] and small.kind == "mismatch"
    saved = save_case(small, tmp_path / "cases")
    assert replay_case(saved, tmp_path / "buggy", num_random=8)["bit_exact"] < 8
    monkeypatch.undo()
    report = replay_case(saved, tmp_path / "fixed", num_random=8)
    assert report["bit_exact"] == report["inputs"]


def test_bench_fuzz_runs_from_the_command_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tinyasc.cli", "bench", "--fuzz", "12", "--seed", "4",
                             "--fuzz-cases", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"graphs": 12' in result.stdout and "12 graphs in" in result.stdout
    assert list(tmp_path.iterdir()) == []  # no findings, nothing saved
