"""Activation and quantization ops (RELU, RELU6, LEAKY_RELU, QUANTIZE, LOGISTIC, TANH, HARD_SWISH,
SOFTMAX): every 256-entry table equals TFLM's output on all int8 inputs, and the generated C (host
build, ASan + UBSan) is bit-exact with the TFLM interpreter on converted Keras models and on
hand-built single-op models."""

import math

import numpy as np
import pytest

from op_models import representative
from op_models_activation import ACTIVATION_MODELS, ALL_INT8, TABLE_CASES, single_op_tflite
from tinyasc.compile import fixedpoint as fp
from tinyasc.compile import ops
from tinyasc.compile.codegen import compile_graph, render_model_sources, write_sources
from tinyasc.compile.host import build_host_runner, run_host
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.tflite_reader import parse_tflite, read_tflite
from tinyasc.errors import UnsupportedModelError


@pytest.fixture(scope="session")
def activation_tflites(tmp_path_factory):
    """Every model of op_models_activation.py converted once to an int8 .tflite."""
    from tinyasc.convert import quantize_int8

    folder = tmp_path_factory.mktemp("activation_models")
    paths = {}
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    for seed, (name, (build, _)) in enumerate(ACTIVATION_MODELS.items()):
        keras.utils.set_random_seed(seed)  # weights independent of which tests ran before
        model = build()
        # A wide calibration range so the activations see both of their tails.
        samples = representative(model, seed) * 3
        paths[name] = quantize_int8(model, samples, folder / f"{name}.tflite")
    return paths


def host_outputs(model_bytes: bytes, inputs: np.ndarray, folder) -> np.ndarray:
    graph = parse_tflite(model_bytes)
    write_sources(render_model_sources(compile_graph(graph), "test.tflite", []), folder / "src")
    runner = build_host_runner(folder / "src", folder / "host_runner")
    return run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)


def random_inputs(graph, count: int, seed: int = 0) -> np.ndarray:
    size = graph.tensors[graph.inputs[0]].num_elements
    return np.random.default_rng(seed).integers(-128, 128, (count, size), dtype=np.int8)


def op_names(graph) -> list[str]:
    return [op.kind.value for op in graph.ops]


# ---- converted Keras models ----


@pytest.mark.parametrize("name", list(ACTIVATION_MODELS))
def test_converter_emits_the_op_under_test(name, activation_tflites):
    assert op_names(read_tflite(activation_tflites[name])) == ACTIVATION_MODELS[name][1]


@pytest.mark.parametrize("name", list(ACTIVATION_MODELS))
def test_generated_c_is_bit_exact_with_tflm(name, activation_tflites, tmp_path):
    data = activation_tflites[name].read_bytes()
    graph = parse_tflite(data)
    inputs = random_inputs(graph, 50, seed=1)
    expected = tflm_outputs(data, inputs, graph.tensors[graph.inputs[0]].shape)
    assert len(np.unique(expected)) > 8, "degenerate test: the op saw too few distinct values"
    assert np.array_equal(host_outputs(data, inputs, tmp_path), expected)


@pytest.mark.e2e
def test_firmware_with_every_activation_is_bit_exact_in_qemu(activation_tflites, tmp_path):
    """The chain model cross-compiled for the nRF52840 and run in its QEMU twin (Cortex-M4)."""
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_batch_in_qemu, run_firmware
    from tinyasc.firmware.build import build_firmware

    path = activation_tflites["every_activation_in_a_chain"]
    graph = read_tflite(path)
    inputs = random_inputs(graph, 20, seed=5)
    exported = export_model(path, board_name="nrf52840", out_root=tmp_path, name="chain",
                            test_inputs=inputs, num_test_vectors=3)
    build_firmware(exported.export_dir)
    result = run_firmware(exported.export_dir)
    assert result.passed and result.vectors == 3 and result.mismatches == 0
    expected = tflm_outputs(path.read_bytes(), inputs, graph.tensors[graph.inputs[0]].shape)
    assert np.array_equal(run_batch_in_qemu(exported.export_dir, inputs), expected)


# ---- tables: every entry against TFLM ----


@pytest.mark.parametrize("op_name, input_quant, output_quant, options", TABLE_CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in TABLE_CASES])
def test_every_table_entry_equals_tflm_on_all_256_inputs(op_name, input_quant, output_quant, options):
    data = single_op_tflite(op_name, (1, 256), input_quant, output_quant, options)
    expected = tflm_outputs(data, ALL_INT8[np.newaxis], (1, 256))[0]
    graph = parse_tflite(data)
    table = ops.prepare(graph.ops[0], graph).table
    assert np.array_equal(table, expected)


def test_tables_of_the_converted_models_equal_tflm_on_all_256_inputs(activation_tflites):
    """The quantizations the converter really picks, op by op, on every int8 input."""
    checked = set()
    for path in activation_tflites.values():
        graph = read_tflite(path)
        for op in graph.ops:
            params = ops.prepare(op, graph)
            if not hasattr(params, "table"):
                continue
            x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
            options = {"alpha": op.options["alpha"]} if op.kind.value == "LEAKY_RELU" else None
            data = single_op_tflite(op.kind.value, (1, 256), (x.quantization.scale, x.quantization.zero_point),
                                    (y.quantization.scale, y.quantization.zero_point), options)
            assert np.array_equal(params.table, tflm_outputs(data, ALL_INT8[np.newaxis], (1, 256))[0]), op.kind
            checked.add(op.kind.value)
    assert checked == {"RELU", "RELU6", "LEAKY_RELU", "LOGISTIC", "TANH", "HARD_SWISH"}


# ---- hand-built single-op models through the C compiler ----

# (op, shape, input quantization, output quantization, options)
HOST_CASES = [
    ("QUANTIZE", (1, 5, 1, 7), (0.05, 3), (0.07, -9), None),
    ("RELU", (2, 33), (0.1, 100), (0.003, -20), None),
    ("LEAKY_RELU", (1, 40), (0.03, 0), (0.06, 0), {"alpha": -0.5}),
    ("SOFTMAX", (1, 10), (0.05, 7), (1 / 256, -128), None),
    ("SOFTMAX", (1, 3, 1, 37), (0.2, -20), (1 / 256, -128), {"beta": 0.5}),
    ("SOFTMAX", (4, 1), (0.1, 0), (1 / 256, -128), None),  # one class: always 1.0
    ("SOFTMAX", (1, 200), (0.004, 10), (1 / 256, -128), {"beta": 2.0}),
    ("SOFTMAX", (2, 64), (0.9, -128), (1 / 256, -128), None),  # most differences below diff_min
    ("SOFTMAX", (1, 511), (0.01, 0), (1 / 256, -128), None),  # the largest depth TFLM can sum
]


@pytest.mark.parametrize("op_name, shape, input_quant, output_quant, options", HOST_CASES,
                         ids=[f"{c[0]}-{'x'.join(map(str, c[1]))}-{c[2]}" for c in HOST_CASES])
def test_single_op_model_is_bit_exact_on_the_host(op_name, shape, input_quant, output_quant, options, tmp_path):
    data = single_op_tflite(op_name, shape, input_quant, output_quant, options)
    graph = parse_tflite(data)
    rng = np.random.default_rng(7)
    inputs = random_inputs(graph, 40, seed=2)
    # Rows with equal values and rows near the int8 limits stress the sum and the skipped tail.
    inputs[0] = 0
    inputs[1] = rng.choice([-128, 127], inputs.shape[1])
    expected = tflm_outputs(data, inputs, shape)
    assert np.array_equal(host_outputs(data, inputs, tmp_path), expected)


def test_softmax_over_511_equal_values_matches_tflm(tmp_path):
    """The worst case for the sum of exps: every element at the row maximum."""
    data = single_op_tflite("SOFTMAX", (1, 511), (0.05, 0), (1 / 256, -128), None)
    inputs = np.full((3, 511), 5, dtype=np.int8)
    inputs[1] = 127
    inputs[2] = -128
    assert np.array_equal(host_outputs(data, inputs, tmp_path), tflm_outputs(data, inputs, (1, 511)))


# ---- refusals: what TFLM's Prepare would reject, said in one sentence ----


def test_logistic_with_another_output_zero_point_is_refused():
    graph = parse_tflite(single_op_tflite("LOGISTIC", (1, 8), (0.05, 0), (1 / 256, 0), None))
    with pytest.raises(UnsupportedModelError, match="zero point -128"):
        ops.prepare(graph.ops[0], graph)


def test_softmax_with_another_output_scale_is_refused():
    graph = parse_tflite(single_op_tflite("SOFTMAX", (1, 8), (0.05, 0), (1 / 128, -128), None))
    with pytest.raises(UnsupportedModelError, match="scale 1/256"):
        ops.prepare(graph.ops[0], graph)


def test_softmax_over_too_many_classes_is_refused():
    graph = parse_tflite(single_op_tflite("SOFTMAX", (1, 600), (0.05, 0), (1 / 256, -128), None))
    with pytest.raises(UnsupportedModelError, match="600 classes"):
        ops.prepare(graph.ops[0], graph)


# ---- the fixed-point twins compute what their names say ----


def test_fixed_point_exp_logistic_and_tanh_are_accurate():
    for real in np.linspace(-7.9, 0, 50):
        raw = int(round(real * 2**26))  # Q5.26
        assert fp.exp_on_negative_values(raw, 5) / 2**31 == pytest.approx(math.exp(raw / 2**26), abs=2e-6)
    for real in np.linspace(-7.9, 7.9, 50):
        raw = int(round(real * 2**27))  # Q4.27
        assert fp.logistic(raw, 4) / 2**31 == pytest.approx(1 / (1 + math.exp(-raw / 2**27)), abs=2e-6)
        assert fp.tanh(raw, 4) / 2**31 == pytest.approx(math.tanh(raw / 2**27), abs=4e-6)
    for real in np.linspace(0, 0.999, 20):
        raw = int(round(real * 2**31))
        assert fp.one_over_one_plus_x_for_x_in_0_1(raw) / 2**31 == pytest.approx(1 / (1 + raw / 2**31), abs=2e-6)
