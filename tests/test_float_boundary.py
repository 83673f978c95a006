"""Models converted with float32 input and/or output types (the TFLite default for a full-int8 model
with float I/O): QUANTIZE float32 → int8 on the input and DEQUANTIZE int8 → float32 on the output
compile, the generated API takes and returns float, and the C is bit-exact with TFLM, float bits
included, on the host (ASan + UBSan) and in QEMU."""

import json

import numpy as np
import pytest

from conftest import WAVEFORM_SAMPLES, tiny_audio_cnn
from tinyasc.compile.codegen import compile_graph, render_model_sources, render_test_vectors, write_sources
from tinyasc.compile.export import random_model_inputs
from tinyasc.compile.host import build_host_runner, model_io_dtypes, run_host
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.tflite_reader import parse_tflite, read_tflite

# name: (input type, output type) given to the converter
VARIANTS = {
    "float_in_float_out": ("float32", "float32"),
    "float_in_int8_out": ("float32", "int8"),
    "int8_in_float_out": ("int8", "float32"),
}


def convert(model, samples: np.ndarray, input_type: str, output_type: str) -> bytes:
    """Full-int8 conversion with the given I/O types (quantize_int8 always uses int8 I/O)."""
    from tinyasc.tf_env import import_tf

    tf, _ = import_tf()
    input_shape = tuple(model.input_shape[1:])
    forward = tf.function(lambda x: model(x, training=False))
    concrete = forward.get_concrete_function(tf.TensorSpec((1,) + input_shape, tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([s[np.newaxis]] for s in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = getattr(tf, input_type)
    converter.inference_output_type = getattr(tf, output_type)
    return converter.convert()


@pytest.fixture(scope="module")
def float_io_tflites(tmp_path_factory):
    from tinyasc.train import seed_everything

    seed_everything(0)
    model = tiny_audio_cnn()
    samples = np.random.default_rng(0).normal(0, 0.5, (16, WAVEFORM_SAMPLES, 1, 1)).astype(np.float32)
    folder = tmp_path_factory.mktemp("float_io")
    paths = {}
    for name, (input_type, output_type) in VARIANTS.items():
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(convert(model, samples, input_type, output_type))
    return paths


def boundary_inputs(graph, count: int, seed: int) -> np.ndarray:
    """Random inputs of the model's type; for float input also values far outside the int8 range
    (they must clamp) and exact multiples and half-multiples of the scale (rounding ties)."""
    inputs = random_model_inputs(graph, count, np.random.default_rng(seed))
    if inputs.dtype == np.float32:
        quantize = graph.ops[0]
        scale = np.float32(graph.tensors[quantize.outputs[0]].quantization.scale)
        steps = np.arange(inputs.shape[1], dtype=np.float32) - inputs.shape[1] // 2
        inputs[0] = steps * scale  # exact multiples
        inputs[1] = (steps + np.float32(0.5)) * scale  # ties, as near as float32 gets
        inputs[2, ::2], inputs[2, 1::2] = 1e6, -1e6
    return inputs


def host_outputs(graph, inputs: np.ndarray, folder) -> np.ndarray:
    sources = render_model_sources(compile_graph(graph), "model.tflite", [])
    write_sources(sources, folder / "src")
    runner = build_host_runner(folder / "src", folder / "runner")
    input_dtype, output_dtype = model_io_dtypes(graph)
    size = graph.tensors[graph.outputs[0]].num_elements
    return run_host(runner, inputs, size, input_dtype=input_dtype, output_dtype=output_dtype)


def test_the_converter_puts_quantize_and_dequantize_at_the_edges(float_io_tflites):
    kinds = {name: [op.kind.value for op in read_tflite(path).ops] for name, path in float_io_tflites.items()}
    assert kinds["float_in_float_out"][0] == "QUANTIZE" and kinds["float_in_float_out"][-1] == "DEQUANTIZE"
    assert kinds["float_in_int8_out"][0] == "QUANTIZE" and "DEQUANTIZE" not in kinds["float_in_int8_out"]
    assert kinds["int8_in_float_out"][0] != "QUANTIZE" and kinds["int8_in_float_out"][-1] == "DEQUANTIZE"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_generated_api_follows_the_model_types(name, float_io_tflites):
    input_type, output_type = VARIANTS[name]
    ctype = {"float32": "float", "int8": "int8_t"}
    header = render_model_sources(compile_graph(read_tflite(float_io_tflites[name])), "m.tflite", [])["model.h"]
    assert f"typedef {ctype[input_type]} tinyasc_input_t;" in header
    assert f"typedef {ctype[output_type]} tinyasc_output_t;" in header
    assert "int tinyasc_invoke(const tinyasc_input_t *input, tinyasc_output_t *output);" in header
    assert ("TINYASC_INPUT_SCALE" in header) == (input_type == "int8")


@pytest.mark.parametrize("name", list(VARIANTS))
def test_float_io_models_are_bit_exact_with_tflm_on_the_host(name, float_io_tflites, tmp_path):
    data = float_io_tflites[name].read_bytes()
    graph = parse_tflite(data)
    inputs = boundary_inputs(graph, 30, seed=2)
    expected = tflm_outputs(data, inputs, graph.tensors[graph.inputs[0]].shape)
    actual = host_outputs(graph, inputs, tmp_path)
    assert actual.dtype == expected.dtype == model_io_dtypes(graph)[1]
    assert len(np.unique(expected)) > 20, "degenerate test: too few distinct outputs"
    assert np.array_equal(actual.view(np.uint8), expected.view(np.uint8))  # the float bits too


def test_quantize_kernel_rounds_and_clamps_like_tflm(tmp_path):
    """The float → int8 step alone, on values chosen to hit rounding ties and both clamps."""
    data = quantize_only_tflite(scale=0.0371, zero_point=-7, size=64)
    graph = parse_tflite(data)
    scale = np.float32(0.0371)
    k = np.arange(-32, 32, dtype=np.float32)
    inputs = np.stack([k * scale, (k + np.float32(0.5)) * scale, (k - np.float32(0.5)) * scale,
                       k * np.float32(0.4), k * np.float32(-1e5), np.full(64, 4.75, np.float32)])
    expected = tflm_outputs(data, inputs, (1, 64))
    assert expected.min() == -128 and expected.max() == 127
    assert np.array_equal(host_outputs(graph, inputs, tmp_path), expected)


def quantize_only_tflite(scale: float, zero_point: int, size: int) -> bytes:
    """A one-op model: float32 [1, size] → QUANTIZE → int8."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    opcode = schema.OperatorCodeT()
    opcode.builtinCode = opcode.deprecatedBuiltinCode = schema.BuiltinOperator.QUANTIZE
    opcode.version = 1
    source, target = schema.TensorT(), schema.TensorT()
    source.name, source.shape, source.type, source.buffer = b"input", [1, size], schema.TensorType.FLOAT32, 0
    target.name, target.shape, target.type, target.buffer = b"output", [1, size], schema.TensorType.INT8, 0
    target.quantization = schema.QuantizationParametersT()
    target.quantization.scale, target.quantization.zeroPoint = [scale], [zero_point]
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    subgraph = schema.SubGraphT()
    subgraph.tensors, subgraph.operators, subgraph.inputs, subgraph.outputs = [source, target], [op], [0], [1]
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [opcode], [subgraph], [schema.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_keras_default_float_io_conversion_compiles_and_is_bit_exact(tmp_path):
    """from_keras_model without I/O types: float input and output, QUANTIZE first, DEQUANTIZE last
    (this used to be refused with "convert with int8 input/output types")."""
    from tinyasc.tf_env import import_tf

    tf, keras = import_tf()
    keras.utils.set_random_seed(1)
    x = keras.layers.Input((8,))
    model = keras.Model(x, keras.layers.Dense(4, activation="tanh")(x))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    samples = np.random.default_rng(0).normal(size=(16, 1, 8)).astype(np.float32)
    converter.representative_dataset = lambda: ([s] for s in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    data = converter.convert()
    graph = parse_tflite(data, source="float_io.tflite")
    assert [graph.ops[0].kind.value, graph.ops[-1].kind.value] == ["QUANTIZE", "DEQUANTIZE"]
    inputs = boundary_inputs(graph, 40, seed=3)
    expected = tflm_outputs(data, inputs, (1, 8))
    assert expected.dtype == np.float32 and len(np.unique(expected)) > 20
    assert np.array_equal(host_outputs(graph, inputs, tmp_path).view(np.uint8), expected.view(np.uint8))


def test_float_inside_the_model_is_still_refused():
    """A DEQUANTIZE whose float result feeds another op is float compute, not a boundary."""
    from tinyasc.compile.ir import Graph, Op, OpKind, Quantization, Tensor
    from tinyasc.errors import UnsupportedModelError

    q = Quantization((0.1,), (0,))
    graph = Graph(
        tensors=[Tensor(0, "x", (1, 4), "int8", q), Tensor(1, "f", (1, 4), "float32"),
                 Tensor(2, "y", (1, 4), "int8", q)],
        ops=[Op(0, OpKind.DEQUANTIZE, (0,), (1,)), Op(1, OpKind.QUANTIZE, (1,), (2,))],
        inputs=(0,), outputs=(2,),
    )
    with pytest.raises(UnsupportedModelError, match="graph output only"):
        compile_graph(graph)


def test_float_test_vectors_keep_their_bits():
    values = np.array([[0.1, -3.5e-8, 1e6, -0.0]], dtype=np.float32)
    source = render_test_vectors(values, values)["test_vectors.c"]
    assert "0x1.99999a0000000p-4f" in source  # 0.1f exactly
    assert "-0x0.0p+0f" in source


@pytest.mark.e2e
def test_float_io_firmware_is_bit_exact_in_qemu(float_io_tflites, tmp_path):
    """Cross-compiled for the nRF52840 (Cortex-M4F) and run in its QEMU twin: the self-test
    compares the float outputs bit for bit with TFLM's."""
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_batch_in_qemu, run_firmware
    from tinyasc.firmware.build import build_firmware
    from tinyasc.compile.verify import verify_on_host

    path = float_io_tflites["float_in_float_out"]
    inputs = boundary_inputs(read_tflite(path), 4, seed=4)
    exported = export_model(path, board_name="nrf52840", out_root=tmp_path, name="float_io",
                            test_inputs=inputs, num_test_vectors=4)
    assert exported.manifest["export"]["input"]["dtype"] == "float32"
    assert np.load(exported.export_dir / "test_outputs.npy").dtype == np.float32
    report = verify_on_host(exported.export_dir, num_random=20)  # `tinyasc verify`: float inputs too
    assert report["inputs"] == 24 and report["bit_exact"] == 24 and report["max_abs_difference"] == 0.0
    build_firmware(exported.export_dir)
    result = run_firmware(exported.export_dir)
    assert result.passed and result.vectors == 4 and result.mismatches == 0
    # Every layer too, the float QUANTIZE input side and the float DEQUANTIZE output included.
    from tinyasc.emulate.layer_check import check_layers

    layers = check_layers(exported.export_dir)
    checked = {(c["kind"], c["storage"]) for c in json.loads((exported.export_dir / "layer_checks.json").read_text())["checks"]}
    assert {("QUANTIZE", "arena"), ("DEQUANTIZE", "output")} <= checked
    assert layers.passed and layers.vectors == 4 and layers.mismatches == 0 and layers.checked == 4 * layers.checks
    # eval mode: float inputs in, float outputs out, through semihosting files
    graph = read_tflite(path)
    more = boundary_inputs(graph, 6, seed=6)
    expected = tflm_outputs(path.read_bytes(), more, graph.tensors[graph.inputs[0]].shape)
    actual = run_batch_in_qemu(exported.export_dir, more)
    assert actual.dtype == np.float32 and np.array_equal(actual.view(np.uint8), expected.view(np.uint8))
