"""WSNet from QAT to the board: the WS QuantizeConfig (one per-tensor scale for Φ), the flatbuffer
rewrite of GATHER…CONV_2D chains into one CUSTOM WS_CONV op, the numpy int8 reference against TFLM
running the unrewritten graph, and the compiled op (integral image and direct kernels) bit-exact on
the host with ASan + UBSan and in the nrf52840's QEMU twin."""

import numpy as np
import pytest

from tinyasc.compile.codegen import compile_graph, render_model_sources, write_sources
from tinyasc.compile.host import build_host_runner, run_host
from tinyasc.compile.options import CompileOptions
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.wsconv import WSConvShape, reference_output
from tinyasc.compile.tflite_reader import parse_tflite, read_tflite
from tinyasc.compile.ws_rewrite import _schema, expand_ws_conv, read_options, rewrite_ws_conv, rewrite_ws_conv_file
from tinyasc.errors import TinyascError

# name: (T, M, L, N, compactness S, channel repeat C, conv stride, padding, activation, 1×1 projection after)
LAYERS = {
    "first_layer": (96, 1, 16, 8, 4, 1, 2, "same", "relu", 0),
    "channel_repeat": (40, 8, 6, 10, 3, 4, 1, "valid", None, 0),
    "strided_c2": (50, 6, 5, 7, 5, 2, 3, "same", "relu", 0),
    "denser_d2": (48, 4, 8, 12, 8, 2, 2, "same", "relu", 6),  # D = 2: 2N sampled filters, 1×1 back to 6
}


def build_ws_layer(T, M, L, N, S, C, stride, padding, activation, projection, seed):
    from tinyasc.models.wsnet import WSConv2D
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    keras.utils.set_random_seed(seed)
    x = keras.Input((T, 1, M))
    layer = WSConv2D(N, L, compactness=S, channel_repeat=C, strides=stride, padding=padding, activation=activation)
    y = layer(x)
    if projection:
        y = keras.layers.Conv2D(projection, 1, activation="relu")(y)
    model = keras.Model(x, y)
    layer.bias.assign(np.random.default_rng(seed).normal(0, 0.05, N).astype(np.float32))
    return model, layer


@pytest.fixture(scope="module")
def ws_tflites(tmp_path_factory):
    """{name: (QAT model, unrewritten .tflite, rewritten .tflite)} for every LAYERS entry."""
    from tinyasc.convert.quantize import quantize_int8
    from tinyasc.models.wsnet_quant import quantize_wsnet

    folder = tmp_path_factory.mktemp("ws_tflites")
    made = {}
    for seed, (name, spec) in enumerate(LAYERS.items()):
        model, _ = build_ws_layer(*spec, seed=seed)
        qat = quantize_wsnet(model)
        data = np.random.default_rng(seed).normal(0, 0.5, (24, spec[0], 1, spec[1])).astype(np.float32)
        for _ in range(2):  # training-mode calls set Φ's last-value range and the activations' moving ranges
            qat(data, training=True)
        converted = quantize_int8(qat, data, folder / f"{name}.tflite")
        rewritten = folder / f"{name}_ws.tflite"
        assert rewrite_ws_conv_file(converted, rewritten) == 1
        made[name] = (qat, converted, rewritten)
    return made


def op_names(path):
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(path.read_bytes()), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    out = []
    for op in model.subgraphs[0].operators:
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        out.append(code.customCode.decode() if builtin == 32 else names[builtin])
    return out


def random_inputs(path, count, seed=0):
    graph = read_tflite(path)
    size = graph.tensors[graph.inputs[0]].num_elements
    return np.random.default_rng(seed).integers(-128, 128, (count, size), dtype=np.int8), graph.tensors[graph.inputs[0]].shape


def test_qat_gives_the_condensed_filter_one_symmetric_scale(ws_tflites):
    qat, converted, _ = ws_tflites["channel_repeat"]
    wrapper = next(layer for layer in qat.layers if "ws_conv2d" in layer.name)
    ranges = [v for v in wrapper.weights if "condensed_filter" in v.name and ("_min" in v.name or "_max" in v.name)]
    assert len(ranges) == 2 and all(v.shape.rank == 0 for v in ranges)  # one range, not one per channel
    # The converter keeps the sampling as a chain of GATHERs ending in a CONV_2D on an int8 Φ.
    names = op_names(converted)
    assert names.count("GATHER") == 2 and names[-1] == "CONV_2D"
    graph = read_tflite(ws_tflites["channel_repeat"][2])
    phi = graph.tensors[graph.ops[0].inputs[1]]
    assert phi.shape == (6 + 9 * 2, 2) and phi.dtype == "int8"  # L* = L + (N−1)·s with s = 6 // 3, M* = 8 / 4
    assert len(phi.quantization.scales) == 1 and phi.quantization.zero_points == (0,)


def test_rewrite_makes_one_ws_conv_with_the_layers_options(ws_tflites):
    from tinyasc.tf_env import import_tf

    tf, _ = import_tf()
    for name, (T, M, L, N, S, C, stride, padding, activation, projection) in LAYERS.items():
        _, converted, rewritten = ws_tflites[name]
        assert op_names(rewritten) == ["WS_CONV"] + (["CONV_2D"] if projection else [])
        assert rewritten.stat().st_size < converted.stat().st_size  # the int32 index arrays are gone
        model = _schema().ModelT.InitFromPackedBuf(bytearray(rewritten.read_bytes()), 0)
        options = read_options(model.subgraphs[0].operators[0].customOptions)
        assert (options.kernel_size, options.filters, options.channel_repeat, options.stride, options.padding) == (
            L, N, C, stride, padding)
        assert options.sampling_stride == max(1, L // S)
        assert options.activation == ("relu" if activation == "relu" else "none")
        # Stock TFLite still loads the file (it cannot run the custom op, but the flatbuffer is valid).
        interpreter = tf.lite.Interpreter(model_path=str(rewritten))
        assert [d["op_name"] for d in interpreter._get_ops_details()][0] == "WS_CONV"


@pytest.mark.parametrize("name", ["first_layer", "channel_repeat", "strided_c2"])
def test_numpy_reference_equals_tflm_on_the_unrewritten_graph(ws_tflites, name):
    _, converted, rewritten = ws_tflites[name]
    graph = read_tflite(rewritten)
    op = graph.ops[0]
    x, phi, bias = (graph.tensors[i] for i in op.inputs)
    y = graph.tensors[op.outputs[0]]
    from tinyasc.compile import quant

    o = op.options
    shape = WSConvShape(x.shape[1], x.shape[3], o["kernel_size"], o["filters"], o["sampling_stride"],
                        o["channel_repeat"], o["stride"], o["padding"])
    multipliers, shifts = quant.conv_multipliers(x.quantization.scale, phi.quantization.scales, y.quantization.scale, o["filters"])
    act_min, act_max = quant.activation_range(o["activation"], y.quantization.scale, y.quantization.zero_point)
    inputs, input_shape = random_inputs(rewritten, 20)
    expected = tflm_outputs(converted.read_bytes(), inputs, input_shape)
    actual = np.stack([
        reference_output(v.reshape(shape.input_length, shape.input_channels), phi.data, bias.data, multipliers, shifts,
                         shape, x.quantization.zero_point, y.quantization.zero_point, act_min, act_max).reshape(-1)
        for v in inputs
    ])
    assert len(np.unique(expected)) > 20  # a real test: the outputs spread over the int8 range
    np.testing.assert_array_equal(actual, expected)


def test_expanded_model_runs_in_tflm_like_the_unrewritten_one(ws_tflites):
    _, converted, rewritten = ws_tflites["denser_d2"]
    inputs, input_shape = random_inputs(rewritten, 10)
    expanded = expand_ws_conv(rewritten.read_bytes())
    assert "WS_CONV" not in [op.kind.value for op in parse_tflite(expanded).ops]
    np.testing.assert_array_equal(tflm_outputs(expanded, inputs, input_shape),
                                  tflm_outputs(converted.read_bytes(), inputs, input_shape))


def host_outputs(path, inputs, folder, kernel):
    graph = read_tflite(path)
    compiled = compile_graph(graph, options=CompileOptions(ws_kernel=kernel))
    assert all("kernel" not in op.options for op in graph.ops)  # options never change the IR
    write_sources(render_model_sources(compiled, path.name, []), folder / "src")
    runner = build_host_runner(folder / "src", folder / "runner")
    return compiled, run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)


# The direct path runs the general convolution's im2col kernels (portable on a host-only compile).
PORTABLE_KERNELS = {"integral": "tas_ws_conv_integral_s8", "direct": "tas_ws_conv_im2col_s8"}
NRF52840_KERNELS = {"integral": "tas_ws_conv_integral_s8_dsp", "direct": "tas_ws_conv_im2col_s8_dsp"}


@pytest.mark.parametrize("kernel", ["integral", "direct"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_compiled_ws_conv_is_bit_exact_on_the_host(ws_tflites, name, kernel, tmp_path):
    _, converted, rewritten = ws_tflites[name]
    inputs, input_shape = random_inputs(rewritten, 20, seed=1)
    compiled, actual = host_outputs(rewritten, inputs, tmp_path, kernel)
    assert compiled.steps[0].kernel == PORTABLE_KERNELS[kernel]
    # The integral image's rows and ring, or direct's im2col columns, live in a planned scratch buffer.
    assert 0 in compiled.plan.scratch_buffer
    np.testing.assert_array_equal(actual, tflm_outputs(converted.read_bytes(), inputs, input_shape))


def test_auto_picks_the_kernel_with_fewer_modelled_instructions(ws_tflites):
    from tinyasc.artifacts.boards import get_board
    from tinyasc.compile.ops.ws_conv import prepare
    from tinyasc.compile.wsconv import estimated_instructions, op_counts

    # M = 1 (a first layer) gains nothing from the portable integral image (host compile, Cortex-M3), but the
    # DSP kernel runs it on block rows of 2 steps (stride 2 divides L and s; measured 22,440 instructions vs
    # 28,320 direct on the M4 twin); C = 4 over 8 channels gains on both.
    first, deep = read_tflite(ws_tflites["first_layer"][2]), read_tflite(ws_tflites["channel_repeat"][2])
    strided = read_tflite(ws_tflites["strided_c2"][2])
    m4 = get_board("nrf52840")
    assert compile_graph(first).steps[0].kernel == "tas_ws_conv_im2col_s8"
    assert compile_graph(first, board=m4).steps[0].kernel == "tas_ws_conv_integral_s8_dsp"
    assert compile_graph(deep).steps[0].kernel == "tas_ws_conv_integral_s8"
    assert compile_graph(deep, board=m4).steps[0].kernel == "tas_ws_conv_integral_s8_dsp"
    # The choice follows the instruction model, not the op counts: stride 3 with s = 1 cannot use block rows,
    # the op counts favour the integral image (R = 1.3) but the direct kernel's two MACs per SMLAD win on the
    # DSP core (measured 14,080 instructions vs 16,600 on the M4 twin).
    shape = prepare(strided.ops[0], strided).shape()
    assert op_counts(shape)["ratio"] > 1
    assert estimated_instructions(shape, "direct", True) < estimated_instructions(shape, "integral", True)
    assert compile_graph(strided, board=m4).steps[0].kernel == "tas_ws_conv_im2col_s8_dsp"


def test_unknown_kernel_choice_and_damaged_options_are_clear_errors(ws_tflites):
    with pytest.raises(TinyascError, match="unknown WS_CONV kernel 'fast'; choose one of auto, integral, direct"):
        CompileOptions(ws_kernel="fast")
    with pytest.raises(TinyascError, match="not a FlexBuffer map|must be a map"):
        read_options(b"\x00\x01\x02")
    from flatbuffers import flexbuffers

    bad = flexbuffers.Dumps({"kernel_size": 0, "filters": 4, "sampling_stride": 1, "channel_repeat": 1,
                             "stride": 1, "padding": "same", "activation": "none"})
    with pytest.raises(TinyascError, match="kernel_size=0 must be a positive integer"):
        read_options(bad)


def test_a_model_without_ws_chains_is_left_alone(anchor_tflite):
    data = anchor_tflite.read_bytes()
    assert rewrite_ws_conv(data) == (data, 0)
    assert expand_ws_conv(data) == data


@pytest.mark.parametrize("kernel", ["integral", "direct"])
def test_ws_conv_export_is_bit_exact_in_the_nrf52840_twin(ws_tflites, kernel, tmp_path):
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    _, converted, rewritten = ws_tflites["denser_d2"]
    inputs, input_shape = random_inputs(rewritten, 3, seed=2)
    # Export takes the converter's file as it is: its GATHER chain is rewritten on the way in.
    result = export_model(converted, "nrf52840", out_root=tmp_path, name="ws", test_inputs=inputs,
                          num_test_vectors=3, options=CompileOptions(ws_kernel=kernel))
    assert result.compiled.steps[0].kernel == NRF52840_KERNELS[kernel]
    assert result.manifest["export"]["ops"] == ["WS_CONV", "CONV_2D"]
    # The firmware's expected outputs are TFLM's on the unrewritten graph.
    np.testing.assert_array_equal(np.load(result.export_dir / "test_outputs.npy"),
                                  tflm_outputs(converted.read_bytes(), inputs, input_shape))
    build_firmware(result.export_dir)
    emulation = run_firmware(result.export_dir)
    assert emulation.passed and emulation.vectors == 3 and emulation.mismatches == 0


def test_s8c4d2_model_exports_for_the_nrf52840_bit_exact_in_qemu(tmp_path):
    """The whole wsnet_mini S8C4D2 (six WS convs, denser-sampling 1×1 projections, pooling, dense),
    on 2000-sample clips: QAT, conversion, export (the rewrite on the way in), QEMU."""
    from tinyasc.compile.export import export_model
    from tinyasc.convert.quantize import quantize_int8
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware
    from tinyasc.models.wsnet import wsnet_mini
    from tinyasc.models.wsnet_quant import quantize_wsnet
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    keras.utils.set_random_seed(0)
    qat = quantize_wsnet(wsnet_mini(num_classes=10, input_samples=2000, config="S8C4D2"))
    clips = np.random.default_rng(0).normal(0, 0.3, (16, 2000, 1, 1)).astype(np.float32)
    for _ in range(2):
        qat(clips, training=True)
    converted = quantize_int8(qat, clips, tmp_path / "wsnet_mini.tflite")
    inputs, input_shape = np.random.default_rng(3).integers(-128, 128, (4, 2000), dtype=np.int8), (1, 2000, 1, 1)
    result = export_model(converted, "nrf52840", out_root=tmp_path / "export", name="wsnet", test_inputs=inputs,
                          num_test_vectors=4)
    figures = result.manifest["export"]
    assert figures["ops"].count("WS_CONV") == 6 and "GATHER" not in figures["ops"]
    assert figures["tflite_bytes"] < converted.stat().st_size * 0.6  # the int32 index arrays are gone
    kernels = [step.kernel for step in result.compiled.steps if step.kind == "WS_CONV"]
    # Every layer on the integral image: the stride-4 first layer (M = 1) runs on block rows of 4 steps.
    assert kernels == ["tas_ws_conv_integral_s8_dsp"] * 6
    expected = tflm_outputs(converted.read_bytes(), inputs, input_shape)
    np.testing.assert_array_equal(np.load(result.export_dir / "test_outputs.npy"), expected)
    build_firmware(result.export_dir)
    emulation = run_firmware(result.export_dir)
    assert emulation.passed and emulation.vectors == 4 and emulation.mismatches == 0
