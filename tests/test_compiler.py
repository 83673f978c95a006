"""The compiler: .tflite reader, IR, memory planner, C rendering, and bit-exactness of the
generated C (host build with ASan + UBSan) against the TFLM reference interpreter."""

import numpy as np
import pytest

from op_models import OP_MODELS, build, representative
from tinyasc.compile.codegen import c_comment, c_string, compile_graph, render_model_sources, write_sources
from tinyasc.compile.host import build_host_runner, run_host
from tinyasc.compile.ir import verify
from tinyasc.compile.plan import plan_memory
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.tflite_reader import parse_tflite, read_tflite
from tinyasc.errors import TinyascError, UnsupportedModelError
from tinyasc.report.reference_figures import ANCHOR_TFLM_REFERENCE


@pytest.fixture(scope="session")
def op_model_tflites(tmp_path_factory):
    """Every model of op_models.py converted once to an int8 .tflite."""
    from tinyasc.convert import quantize_int8

    folder = tmp_path_factory.mktemp("op_models")
    paths = {}
    for seed, name in enumerate(OP_MODELS):
        model = build(name, seed)
        paths[name] = quantize_int8(model, representative(model, seed), folder / f"{name}.tflite")
    return paths


def host_outputs(tflite_path, inputs, tmp_path):
    graph = read_tflite(tflite_path)
    compiled = compile_graph(graph)
    write_sources(render_model_sources(compiled, tflite_path.name, []), tmp_path / "src")
    runner = build_host_runner(tmp_path / "src", tmp_path / "host_runner")
    return run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)


def random_int8_inputs(graph, count, seed=0):
    size = graph.tensors[graph.inputs[0]].num_elements
    return np.random.default_rng(seed).integers(-128, 128, (count, size), dtype=np.int8)


@pytest.mark.parametrize("name", list(OP_MODELS))
def test_generated_c_is_bit_exact_with_tflm(name, op_model_tflites, tmp_path):
    path = op_model_tflites[name]
    graph = read_tflite(path)
    inputs = random_int8_inputs(graph, 50)
    expected = tflm_outputs(path.read_bytes(), inputs, graph.tensors[graph.inputs[0]].shape)
    assert np.array_equal(host_outputs(path, inputs, tmp_path), expected)


def test_anchor_model_is_bit_exact_with_tflm_on_100_random_inputs(anchor_tflite, tmp_path):
    graph = read_tflite(anchor_tflite)
    assert [op.kind.value for op in graph.ops] == [
        "CONV_2D", "MAX_POOL_2D", "CONV_2D", "MAX_POOL_2D", "CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED",
    ]
    inputs = random_int8_inputs(graph, 100, seed=3)
    expected = tflm_outputs(anchor_tflite.read_bytes(), inputs, graph.tensors[graph.inputs[0]].shape)
    actual = host_outputs(anchor_tflite, inputs, tmp_path)
    assert len(np.unique(expected, axis=0)) > 1, "degenerate test: every input gave the same output"
    assert np.array_equal(actual, expected)


def test_anchor_model_has_the_design_figures(anchor_tflite):
    compiled = compile_graph(read_tflite(anchor_tflite))
    assert compiled.macs == 7_118_848 + 64 * 10  # DESIGN §6: 7.12 M MACs (three convs + dense)
    plan = compiled.plan
    assert plan.lower_bound <= plan.arena_size < ANCHOR_TFLM_REFERENCE.arena_bytes / 1.5  # well under TFLM's arena


# ---- memory planner ----


@pytest.mark.parametrize("name", ["global_average_then_dense", "flatten_then_dense_relu", "max_pool_same"])
def test_plans_never_overlap_and_greedy_beats_linear(name, op_model_tflites):
    graph = read_tflite(op_model_tflites[name])
    greedy, linear = plan_memory(graph, "greedy"), plan_memory(graph, "linear")
    assert greedy.overlaps() == [] and linear.overlaps() == []
    assert greedy.lower_bound <= greedy.arena_size <= linear.arena_size


def test_reshape_aliases_its_input_and_takes_no_memory(op_model_tflites):
    graph = read_tflite(op_model_tflites["flatten_then_dense_relu"])
    reshape = next(op for op in graph.ops if op.kind.value == "RESHAPE")
    plan = plan_memory(graph)
    assert plan.tensor_buffer[reshape.outputs[0]] is plan.tensor_buffer[reshape.inputs[0]]


def test_graph_input_and_output_live_in_the_callers_buffers(anchor_tflite):
    graph = read_tflite(anchor_tflite)
    plan = plan_memory(graph)
    assert plan.tensor_buffer[graph.inputs[0]].storage == "input"
    assert plan.tensor_buffer[graph.outputs[0]].storage == "output"


# ---- bad input: clear errors, never a traceback ----


def test_not_a_flatbuffer_is_a_clear_error():
    with pytest.raises(TinyascError, match="not a TensorFlow Lite flatbuffer"):
        parse_tflite(b"RIFF\x00\x00\x00\x00WAVEfmt ", source="song.wav")


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_truncated_flatbuffer_is_a_clear_error(anchor_tflite, keep):
    data = anchor_tflite.read_bytes()
    with pytest.raises(TinyascError):
        parse_tflite(data[: int(len(data) * keep)], source="cut.tflite")


def test_float_model_error_says_how_to_quantize(tmp_path):
    from tinyasc.tf_env import import_tf

    tf, _ = import_tf()
    model = build("flatten_then_dense_relu")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    with pytest.raises(UnsupportedModelError, match="full-integer int8"):
        parse_tflite(converter.convert(), source="float.tflite")


def test_every_unsupported_op_is_listed_at_once(tmp_path):
    from tinyasc.convert import quantize_int8
    from tinyasc.tf_env import import_tf

    tf, keras = import_tf()
    x = keras.layers.Input((8,))
    y = keras.layers.Dense(4, activation="elu")(x)
    y = keras.layers.Lambda(lambda t: tf.exp(t))(y)
    model = keras.Model(x, y)
    path = quantize_int8(model, np.random.default_rng(0).normal(size=(8, 8)), tmp_path / "m.tflite")
    with pytest.raises(UnsupportedModelError) as error:
        read_tflite(path)
    assert "ELU (op" in str(error.value) and "EXP (op" in str(error.value)


# ---- C rendering is safe for any label or name ----


def test_labels_are_escaped_into_valid_c_strings():
    assert c_string('a"b\\c') == '"a\\"b\\\\c"'
    assert c_string("dog\n*/ evil();") == '"dog\\012*/ evil();"'
    assert c_string("é") == '"\\303\\251"'
    assert c_comment("x */ int y; /* z\n") == "x * / int y; / * z?"


def test_hostile_labels_compile(anchor_tflite, tmp_path):
    graph = read_tflite(anchor_tflite)
    verify(graph)
    labels = ['"; system("rm -rf /"); //', "*/ #error boom /*", "??=", "tab\tnew\nline"] + [f"c{i}" for i in range(6)]
    write_sources(render_model_sources(compile_graph(graph), "x */ y.tflite", labels), tmp_path / "src")
    build_host_runner(tmp_path / "src", tmp_path / "runner")


def test_pooling_runs_in_place_and_the_freed_bytes_are_reused(anchor_tflite):
    graph = read_tflite(anchor_tflite)
    in_place, separate = plan_memory(graph), plan_memory(graph, in_place=False)
    pool = next(op for op in graph.ops if op.kind.value == "MAX_POOL_2D")
    assert in_place.tensor_buffer[pool.outputs[0]] is in_place.tensor_buffer[pool.inputs[0]]
    assert in_place.overlaps() == [] and in_place.arena_size == in_place.lower_bound
    # The first conv's output (3985 x 16 bytes) alone is then the peak: 0.49x TFLM's 130.7 KB arena.
    assert in_place.arena_size == 3985 * 16 < separate.arena_size


def test_overlap_check_catches_live_buffers_sharing_bytes(anchor_tflite):
    plan = plan_memory(read_tflite(anchor_tflite))
    arena = [b for b in plan.buffers if b.storage == "arena"]
    first, second = arena[0], arena[1]  # the first conv's output and the second conv's input...
    second.offset = first.offset  # ...forced onto the same bytes while both are live
    assert plan.overlaps() != []
