"""Damaged `.tflite` files end in one clear TinyascError, never a crash, a traceback or a hang.

Several hundred mutants (tests/fuzz_cases.py) of three valid int8 models go through the reader and
the compiler in this process: the flatbuffers package and the schema's object API are pure Python,
so damaged input raises (struct, index, value errors) and cannot crash the interpreter; the reader
turns those into TinyascError. Each case runs under a time limit, so a mutant that made the reader
or the planner loop would fail the test instead of stalling CI. A mutant may also still be a valid
model (most random flips land in weights, trailing garbage is ignored by flatbuffers): then it must
compile into a graph that passes `verify` and a memory plan without overlaps.
"""

import collections
import signal
import subprocess
import sys
from contextlib import contextmanager

import numpy as np
import pytest

from fuzz_cases import all_cases
from tinyasc.compile.codegen import compile_graph
from tinyasc.compile.ir import verify
from tinyasc.compile.tflite_reader import parse_tflite
from tinyasc.errors import TinyascError

SECONDS_PER_CASE = 10
SANITIZER_RUNS = 20
SOURCE = "fuzz.tflite"


def _small_conv_net(keras):
    L = keras.layers
    x = L.Input((16, 1, 2))
    y = L.Conv2D(4, (3, 1), activation="relu")(x)
    y = L.MaxPool2D((2, 1))(y)
    y = L.Conv2D(4, (3, 1), padding="same")(y)
    y = L.AveragePooling2D((2, 1))(y)
    y = L.GlobalAveragePooling2D()(y)
    return keras.Model(x, L.Dense(3)(y))


def _flatten_dense(keras):
    L = keras.layers
    x = L.Input((6, 1, 3))
    y = L.Conv2D(2, (2, 1), strides=(2, 1))(x)
    y = L.Flatten()(y)
    return keras.Model(x, L.Dense(4, activation="relu")(y))


@pytest.fixture(scope="module")
def fuzz_bases(anchor_tflite, tmp_path_factory):
    """Three valid int8 models: every op kind tinyasc reads, a RESHAPE, and the 16 kB anchor."""
    from tinyasc.convert import quantize_int8
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    folder = tmp_path_factory.mktemp("fuzz_bases")
    bases = {"anchor": anchor_tflite.read_bytes()}
    for name, builder in [("conv_pool_mean_dense", _small_conv_net), ("flatten_dense", _flatten_dense)]:
        keras.utils.set_random_seed(0)
        model = builder(keras)
        x = np.random.default_rng(0).normal(size=(16,) + model.input_shape[1:]).astype(np.float32)
        bases[name] = quantize_int8(model, x, folder / f"{name}.tflite").read_bytes()
    return bases


class CaseTimeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    def expire(signum, frame):
        raise CaseTimeout(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def outcome(data: bytes) -> tuple[str, str]:
    """("error", message) for a TinyascError, ("ok", "") for a valid compile; anything else raises."""
    with time_limit(SECONDS_PER_CASE):
        try:
            graph = parse_tflite(data, source=SOURCE)
            compiled = compile_graph(graph)
        except TinyascError as e:
            return "error", str(e)
        verify(graph)
        assert compiled.plan.overlaps() == []
        return "ok", ""


@pytest.fixture(scope="module")
def fuzz_results(fuzz_bases):
    """[(case, outcome, message)] for every mutant; crashes and hangs are recorded, not raised."""
    results = []
    for case in all_cases(fuzz_bases, seed=0):
        try:
            status, message = outcome(case.data)
        except Exception as e:  # what the test below must never see
            status, message = "crash", f"{type(e).__name__}: {e}"
        results.append((case, status, message))
    counts = collections.Counter((case.family, status) for case, status, _ in results)
    print("\nfuzz outcomes:", dict(sorted(counts.items())))
    return results


def test_at_least_200_mutants_cover_every_family(fuzz_results):
    families = collections.Counter(case.family for case, _, _ in fuzz_results)
    assert len(fuzz_results) >= 200
    assert set(families) == {
        "empty", "random_bit_flip", "structural_bit_flip", "absurd_value", "option_edit", "truncation",
        "appended_garbage",
    }
    assert len({case.data for case, _, _ in fuzz_results}) == len(fuzz_results), "every mutant is a distinct file"


def test_every_mutant_is_a_clear_error_or_a_valid_compile(fuzz_results):
    crashes = [f"{case.name}: {message}" for case, status, message in fuzz_results if status == "crash"]
    assert crashes == [], "\n".join(crashes)


def test_error_messages_are_short_and_name_the_file(fuzz_results):
    for case, status, message in fuzz_results:
        if status == "error":
            assert message and "Traceback" not in message and len(message) < 1000, case.name
            # Reader errors name the file; compiler errors name the op instead.
            assert SOURCE in message or message.startswith("op "), (case.name, message)


# Edits that no valid model can contain: each must be refused, never compiled. (A buffer length of
# 1 can land on the metadata buffer no tensor reads, so it may stay valid.)
ALWAYS_REFUSED = [
    "shape_dim=2147483647", "shape_dim=-1@", "shape_dim=-2147483648", "shape_dim=0@",
    "shape_length=4294967295", "buffer_index=", "opcode_index=", "op_tensor_index=", "op_output_constant=",
    "graph_io=", "buffer_length=4294967295", "buffer_length=2147483647",
    "quant_scale=0.0", "quant_scale=nan", "quant_scale=inf",
    "quant_scale=-1.0", "quant_scale=1e-45", "tensor_type=99", "tensor_type=-1", "two_producers",
]


def test_impossible_values_truncations_and_empty_files_are_always_refused(fuzz_results):
    accepted = [
        case.name for case, status, _ in fuzz_results
        if status == "ok" and (
            case.family in ("truncation", "empty")
            or (case.family == "absurd_value" and any(edit in case.name for edit in ALWAYS_REFUSED))
        )
    ]
    assert accepted == []


def test_trailing_garbage_is_ignored_like_flatbuffers_does(fuzz_results):
    garbage = [status for case, status, _ in fuzz_results if case.family == "appended_garbage"]
    assert garbage and all(status == "ok" for status in garbage)


def test_specific_damage_gets_a_specific_message(fuzz_bases):
    """A few hand-made cases whose message must say exactly what is wrong."""
    cases = {case.name: case.data for case in all_cases(fuzz_bases, seed=0)}

    def message(name_part: str) -> str:
        name = next(n for n in cases if n.startswith("flatten_dense:") and name_part in n)
        with pytest.raises(TinyascError) as error:
            parse_tflite(cases[name], source=SOURCE)
        return str(error.value)

    assert "more than 1 GiB" in message("shape_dim=2147483647")
    assert "operator code" in message("opcode_index=4294967295")
    assert "which is a constant" in message("op_output_constant")
    assert "scales must be positive and finite" in message("quant_scale=nan")
    assert "refers to buffer" in message("buffer_index=4294967295")


def _skeleton(graph) -> tuple:
    """What memory safety depends on: shapes, types, which tensors are constants, the ops."""
    tensors = [(t.shape, t.dtype, t.is_constant) for t in graph.tensors]
    ops = [(op.kind, op.inputs, op.outputs, sorted(op.options.items())) for op in graph.ops]
    return tensors, ops, graph.inputs, graph.outputs


def test_mutants_that_still_compile_with_a_new_structure_run_clean_under_sanitizers(fuzz_bases, fuzz_results, tmp_path):
    """A mutant the reader accepts with other shapes or ops than its base must still give C that
    stays inside its buffers: built with ASan + UBSan and run on random inputs."""
    from tinyasc.compile.codegen import render_model_sources, write_sources
    from tinyasc.compile.host import build_host_runner, run_host

    base_skeletons = {name: _skeleton(parse_tflite(data)) for name, data in fuzz_bases.items()}
    changed = []
    for case, status, _ in fuzz_results:
        if status != "ok":
            continue
        base = next(name for name in fuzz_bases if case.name.startswith(name))
        if _skeleton(graph := parse_tflite(case.data)) != base_skeletons[base]:
            changed.append((case, graph))
    assert len(changed) >= SANITIZER_RUNS, "too few accepted mutants change the model's structure"
    step = len(changed) / SANITIZER_RUNS  # an even, deterministic sample keeps the test under a minute
    for number, (case, graph) in enumerate(changed[int(k * step)] for k in range(SANITIZER_RUNS)):
        folder = tmp_path / f"mutant{number}"
        write_sources(render_model_sources(compile_graph(graph), SOURCE, []), folder / "src")
        runner = build_host_runner(folder / "src", folder / "runner")
        size = graph.tensors[graph.inputs[0]].num_elements
        inputs = np.random.default_rng(number).integers(-128, 128, (4, size), dtype=np.int8)
        outputs = run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)
        assert outputs.shape[0] == 4, case.name


# ---- the command line: one line on stderr, exit code 2, no traceback ----


@pytest.mark.parametrize("name_part", ["[:", "opcode_index=4294967295", "shape_dim=2147483647", "quant_scale=inf"])
def test_cli_export_of_a_damaged_file_prints_one_line(fuzz_bases, tmp_path, name_part):
    case = next(
        c for c in all_cases(fuzz_bases, seed=0)
        if c.name.startswith("anchor") and name_part in c.name and len(c.data) > 1000
    )
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(case.data)
    result = subprocess.run(
        [sys.executable, "-m", "tinyasc.cli", "export", "--tflite", str(bad), "--out", str(tmp_path / "export")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("tinyasc export: error:")]
    assert len(lines) == 1 and "bad.tflite" in lines[0], result.stderr
    assert not (tmp_path / "export" / "bad").exists()
