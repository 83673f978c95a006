"""The DSP fully connected and 1x1 conv kernels (tas_mat_mult_dsp.h: int8 weights widened on the fly
by SXTB16, 4 channels x 2 rows per pass) are bit-exact with TFLM's reference kernels: converted Keras
models on the host through tas_dsp.h's portable twins (ASan + UBSan), and in QEMU on the Cortex-M4
twin with the real instructions, beside the portable kernels on the Cortex-M3 twin."""

import numpy as np
import pytest

from tinyasc.artifacts.boards import get_board
from tinyasc.compile.codegen import compile_graph, render_model_sources, write_sources
from tinyasc.compile.host import build_host_runner, run_host
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.tflite_reader import read_tflite
from tinyasc.compile.weight_packing import pack_mat_mult_weights

FC_DSP = "tas_fully_connected_s8_dsp"
CONV_1X1_DSP = "tas_conv2d_1x1_s8_dsp"
FIRST_DSP = "tas_conv2d_first_s8_dsp"


def _layers():
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    return keras, keras.layers


def dense(inputs, units, activation=None, use_bias=True):
    keras, L = _layers()
    x = L.Input((inputs,))
    return keras.Model(x, L.Dense(units, activation=activation, use_bias=use_bias)(x))


def dense_after_flatten(shape, units, activation=None):
    keras, L = _layers()
    x = L.Input(shape)
    y = L.Conv2D(4, (2, 1), activation="relu")(x)
    return keras.Model(x, L.Dense(units, activation=activation)(L.Flatten()(y)))


def dense_stack(inputs, *units):
    keras, L = _layers()
    x = y = L.Input((inputs,))
    for count in units[:-1]:
        y = L.Dense(count, activation="relu")(y)
    return keras.Model(x, L.Dense(units[-1])(y))


def pointwise(shape, filters, strides=1, activation=None, use_bias=True):
    keras, L = _layers()
    x = L.Input(shape)
    return keras.Model(x, L.Conv2D(filters, 1, strides=strides, activation=activation, use_bias=use_bias)(x))


def pointwise_stack(shape, *filters):
    keras, L = _layers()
    x = y = L.Input(shape)
    for count in filters:
        y = L.Conv2D(count, 1, activation="relu6")(y)
    return keras.Model(x, y)


# name: (builder, per-channel weights, kernels that must run): odd depths (1, 3, 7, 17, 33), with and
# without bias, relu / relu6, FC after flatten, 1x1 on 1x1 images, odd pixel counts, strides.
CASES = {
    "fc_17_to_33_relu_per_channel": (lambda: dense(17, 33, "relu"), True, [FC_DSP]),
    "fc_33_to_17_per_tensor": (lambda: dense(33, 17), False, [FC_DSP]),
    "fc_1_to_3_relu6_per_tensor": (lambda: dense(1, 3, "relu6"), False, [FC_DSP]),
    "fc_3_to_1_no_bias": (lambda: dense(3, 1, use_bias=False), True, [FC_DSP]),
    "fc_600_to_33_relu": (lambda: dense(600, 33, "relu"), True, [FC_DSP]),
    "fc_64_to_12_no_bias_per_tensor": (lambda: dense(64, 12, use_bias=False), False, [FC_DSP]),
    # no bias, 9 quads and a padded tail quad, a block of 4 channels and 3 left over: the input offset
    # is added as the row is widened and the stream holds no bias words
    "fc_37_to_7_no_bias_relu": (lambda: dense(37, 7, "relu", use_bias=False), True, [FC_DSP]),
    # 301 inputs: 64 quads widened into the capped scratch, 11 widened on the way, then the padded tail quad
    "fc_301_to_6_relu6_per_tensor": (lambda: dense(301, 6, "relu6"), False, [FC_DSP]),
    "fc_after_flatten_relu6": (lambda: dense_after_flatten((7, 3, 3), 9, "relu6"), True, [FIRST_DSP, FC_DSP]),
    "fc_stack_17_33_3_1": (lambda: dense_stack(17, 33, 3, 1), True, [FC_DSP] * 3),
    "conv_1x1_odd_pixels_17_to_33_relu": (lambda: pointwise((5, 3, 17), 33, activation="relu"), True, [CONV_1X1_DSP]),
    "conv_1x1_on_a_1x1_image_33_to_3": (lambda: pointwise((1, 1, 33), 3), True, [CONV_1X1_DSP]),
    "conv_1x1_per_tensor_7_to_17_relu6": (lambda: pointwise((7, 1, 7), 17, activation="relu6"), False, [CONV_1X1_DSP]),
    # 1-4 input channels: at most 4 MACs an output, so the first-layer kernel's precomputed tables run it
    "conv_1x1_one_channel_in_and_out_no_bias": (lambda: pointwise((9, 1, 1), 1, use_bias=False), True, [FIRST_DSP]),
    "conv_1x1_stride2_odd_map_like_a_resnet_shortcut": (lambda: pointwise((7, 5, 16), 32, strides=2), True, [CONV_1X1_DSP]),
    "conv_1x1_stride2_per_tensor_relu": (lambda: pointwise((6, 6, 6), 5, strides=2, activation="relu"), False, [CONV_1X1_DSP]),
    "conv_1x1_stack_64_like_ds_cnn": (lambda: pointwise_stack((5, 5, 64), 64, 33, 64), True, [CONV_1X1_DSP] * 3),
    # three pixels at a time (tas_mat_mult_triples_dsp.h): depth % 16 of 12, 4 and 8 bytes (the
    # assembly's loop entered at each quad), odd channel counts, 3k + 1 and 3k + 2 pixels, one channel
    # pair, strides, the activation clamp
    "conv_1x1_triples_12_to_7_relu6": (lambda: pointwise((7, 1, 12), 7, activation="relu6"), True, [CONV_1X1_DSP]),
    "conv_1x1_triples_20_to_6_relu": (lambda: pointwise((4, 2, 20), 6, activation="relu"), True, [CONV_1X1_DSP]),
    "conv_1x1_triples_8_to_2": (lambda: pointwise((3, 3, 8), 2), True, [CONV_1X1_DSP]),
    "conv_1x1_triples_stride2_16_to_5": (lambda: pointwise((9, 7, 16), 5, strides=2), True, [CONV_1X1_DSP]),
}
TRIPLES = [name for name in CASES if name.startswith("conv_1x1_triples")]


def quantize(model, path, per_channel, seed):
    """int8 .tflite as tinyasc.convert.quantize_int8 writes it, with per-tensor weights on request."""
    from tinyasc.convert.quantize import batch1_converter
    from tinyasc.tf_env import import_tf

    tf, _ = import_tf()
    rng = np.random.default_rng(seed)
    samples = rng.normal(0.3, 1, (32,) + tuple(model.input_shape[1:])).astype(np.float32)
    converter = batch1_converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([sample[np.newaxis]] for sample in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    converter._experimental_disable_per_channel = not per_channel
    path.write_bytes(converter.convert())
    return path


def _random_weights(model, seed):
    """Weights spread over the whole int8 range and non-zero biases (Keras starts biases at zero)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(0, 0.4, w.shape).astype(np.float32) for w in weights])
    return model


@pytest.fixture(scope="module")
def mat_mult_tflites(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mat_mult_models")
    return {name: quantize(_random_weights(build(), seed), folder / f"{name}.tflite", per_channel, seed)
            for seed, (name, (build, per_channel, _)) in enumerate(CASES.items())}


def _host_outputs(path, board, inputs, folder):
    graph = read_tflite(path)
    compiled = compile_graph(graph, board=board)
    write_sources(render_model_sources(compiled, path.name, []), folder / "src")
    runner = build_host_runner(folder / "src", folder / "host_runner")
    return compiled, run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)


def test_packing_keeps_one_byte_per_weight_in_blocks_of_four_channels():
    weights = np.arange(1, 6 * 7 + 1, dtype=np.int8).reshape(6, 7)  # 6 channels, depth 7: one block + 2
    weights[0, 0] = -3
    packed = pack_mat_mult_weights(weights, 4)
    assert packed.dtype == np.int32
    assert packed.view(np.int8).tolist() == [
        -3, 2, 3, 4, 8, 9, 10, 11, 15, 16, 17, 18, 22, 23, 24, 25,  # quad 0 of channels 0..3
        5, 6, 7, 12, 13, 14, 19, 20, 21, 26, 27, 28,  # their tail bytes, channel by channel
        29, 30, 31, 32, 33, 34, 35, 0,  # channel 4 alone, padded to a word
        36, 37, 38, 39, 40, 41, 42, 0,  # channel 5
    ]


def test_fully_connected_requantization_takes_five_bytes_a_channel():
    """Per block of 4 channels their multipliers and one word of their shift bytes; the channels
    left over as (multiplier, shift) pairs; one pair when every channel is the same."""
    from tinyasc.compile.ops.fully_connected_dsp import pack_fc_requantization

    multipliers = [2**30 + c for c in range(6)]
    shifts = [-1, -8, -31, 3, -5, 13]
    fast_words, step = pack_fc_requantization(multipliers, shifts, fast=False)
    assert step == 1 and fast_words.tolist() == [
        *multipliers[:4], int(np.array([0xFF | 0xF8 << 8 | 0xE1 << 16 | 3 << 24], np.uint32).view(np.int32)[0]),
        multipliers[4], -5, multipliers[5], 13,
    ]
    words, _ = pack_fc_requantization(multipliers[:4], [-1, -8, -31, -2], fast=True)  # r - 1 per byte
    assert words.tolist() == [*multipliers[:4], 0 | 7 << 8 | 30 << 16 | 1 << 24]
    words, step = pack_fc_requantization([5, 5, 5], [-4, -4, -4], fast=True)
    assert step == 0 and words.tolist() == [5, 3]


def test_fully_connected_without_bias_stores_no_bias_words(mat_mult_tflites):
    """A bias-less layer whose row fits the widened scratch stores its weights only (with_bias 0 in
    the call); one with a bias, or too wide for the scratch (600 inputs), keeps the folded biases."""
    board = get_board("nrf52840")
    for name, with_bias in [("fc_37_to_7_no_bias_relu", 0), ("fc_64_to_12_no_bias_per_tensor", 0),
                            ("fc_17_to_33_relu_per_channel", 1), ("fc_600_to_33_relu", 1)]:
        compiled = compile_graph(read_tflite(mat_mult_tflites[name]), board=board)
        (step,) = [s for s in compiled.steps if s.kernel == FC_DSP]
        assert f"_filter, {with_bias}, " in step.call, (name, step.call)
        graph = compiled.graph
        (weights,) = [t for t in graph.tensors if t.is_constant and t.dtype == "int8"]
        out, depth = weights.shape
        filter_bytes = next(c.nbytes for c in compiled.constants if c.name.endswith("_filter"))
        assert filter_bytes == out * 4 * ((depth + 3) // 4) + 4 * out * with_bias, name


@pytest.mark.parametrize("name", list(CASES))
def test_mat_mult_kernels_are_bit_exact_with_tflm_on_the_host(name, mat_mult_tflites, tmp_path):
    path = mat_mult_tflites[name]
    graph = read_tflite(path)
    x = graph.tensors[graph.inputs[0]]
    inputs = np.random.default_rng(1).integers(-128, 128, (40, x.num_elements), dtype=np.int8)
    compiled, actual = _host_outputs(path, get_board("nrf52840"), inputs, tmp_path)
    expected_kernels = CASES[name][2]
    assert [s.kernel for s in compiled.steps if s.kind in ("FULLY_CONNECTED", "CONV_2D")] == expected_kernels
    expected = tflm_outputs(path.read_bytes(), inputs, x.shape)
    if graph.tensors[graph.outputs[0]].num_elements > 1:
        assert len(np.unique(expected)) > 2, "degenerate case: outputs nearly constant"
    assert np.array_equal(actual, expected)


@pytest.mark.parametrize("name", ["fc_33_to_17_per_tensor", "conv_1x1_per_tensor_7_to_17_relu6"])
def test_per_tensor_requantization_is_stored_once(name, mat_mult_tflites):
    compiled = compile_graph(read_tflite(mat_mult_tflites[name]), board=get_board("nrf52840"))
    lengths = {c.name.rsplit("_", 1)[-1]: c.length for c in compiled.constants}
    if compiled.steps[0].kernel == FC_DSP:  # one (multiplier, shift) pair, requant_step 0
        assert lengths["requant"] == 2 and "_requant, 0, " in compiled.steps[0].call
    else:
        assert lengths["multiplier"] == lengths["shift"] == 1
        assert "1, tas_arena" not in compiled.steps[0].call and ", 0, " in compiled.steps[0].call


def test_fully_connected_takes_the_fast_requantization_when_it_is_exact(mat_mult_tflites):
    """Every converted case proves its sums small enough (fast_requant 1 in the call); a shift of 0 or
    a left shift, or sums that could reach 2^30, keep the general form with its overflow fallback."""
    from tinyasc.compile.ops.fully_connected_dsp import fast_requantization_holds

    for name in ("fc_17_to_33_relu_per_channel", "fc_301_to_6_relu6_per_tensor", "fc_600_to_33_relu"):
        compiled = compile_graph(read_tflite(mat_mult_tflites[name]), board=get_board("nrf52840"))
        (call,) = [s.call for s in compiled.steps if s.kernel == FC_DSP]
        assert "_requant, 1, 1, " in call or "_requant, 0, 1, " in call
    weights = np.full((2, 8), 127, dtype=np.int8)
    folded = np.array([5, -5], dtype=np.int32)
    assert fast_requantization_holds(weights, folded, [2**30, 2**30], [-7, -1], -128)
    assert not fast_requantization_holds(weights, folded, [2**30, 2**30], [-7, 0], -128)  # no right shift
    assert not fast_requantization_holds(weights, folded, [2**30, 2**30], [3, -7], -128)  # a left shift
    assert not fast_requantization_holds(weights, np.array([2**30, 0]), [2**30, 2**30], [-7, -7], 0)  # 2·acc overflows


@pytest.mark.parametrize("name", ["conv_1x1_odd_pixels_17_to_33_relu", "conv_1x1_per_tensor_7_to_17_relu6"])
def test_pointwise_takes_the_fast_requantization_and_keeps_the_general_one(name, mat_mult_tflites, tmp_path,
                                                                           monkeypatch):
    """The 1x1 DSP kernel runs the FC's fast form when the export proves it exact (fast_requant 1
    after quant_step); with the proof refused it runs the general form (TFLite's shifts), and both
    stay bit-exact with TFLM on the host and with the real instructions in QEMU."""
    from tinyasc.compile.export import export_model
    from tinyasc.compile.ops import mat_mult_call
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    path = mat_mult_tflites[name]
    graph = read_tflite(path)
    x = graph.tensors[graph.inputs[0]]
    inputs = np.random.default_rng(4).integers(-128, 128, (40, x.num_elements), dtype=np.int8)
    expected = tflm_outputs(path.read_bytes(), inputs, x.shape)
    for fast in (1, 0):
        if not fast:
            monkeypatch.setattr(mat_mult_call, "fast_requantization_holds", lambda *args: False)
        compiled, actual = _host_outputs(path, get_board("nrf52840"), inputs, tmp_path / f"host{fast}")
        (call,) = [s.call for s in compiled.steps if s.kernel == CONV_1X1_DSP]
        assert f"_shift, {int(name.find('per_tensor') < 0)}, {fast}, " in call
        assert np.array_equal(actual, expected)
        result = export_model(path, board_name="nrf52840", out_root=tmp_path, name=f"{name}_{fast}", num_test_vectors=4)
        build_firmware(result.export_dir)
        run = run_firmware(result.export_dir)
        assert run.passed, run.failure


@pytest.mark.parametrize("name", TRIPLES)
def test_pointwise_triples_take_the_three_pixel_path(name, mat_mult_tflites):
    """Per-channel constants, the fast requantization and a depth of whole words: the conditions of
    tas_mat_triples_apply, so these cases run the assembly in QEMU."""
    compiled = compile_graph(read_tflite(mat_mult_tflites[name]), board=get_board("nrf52840"))
    (step,) = [s for s in compiled.steps if s.kernel == CONV_1X1_DSP]
    assert "_shift, 1, 1, " in step.call


def test_int8_weights_take_about_one_byte_each(mat_mult_tflites):
    compiled = compile_graph(read_tflite(mat_mult_tflites["conv_1x1_stack_64_like_ds_cnn"]), board=get_board("nrf52840"))
    filters = [c for c in compiled.constants if c.name.endswith("_filter")]
    weights = 64 * 64 + 64 * 33 + 33 * 64
    channels = 64 + 33 + 64
    assert sum(c.nbytes for c in filters) <= weights + 2 * channels  # at most a word of padding per 2 channels


def test_the_cortex_m3_keeps_the_portable_kernels(mat_mult_tflites):
    for name in ("fc_17_to_33_relu_per_channel", "conv_1x1_odd_pixels_17_to_33_relu"):
        compiled = compile_graph(read_tflite(mat_mult_tflites[name]), board=get_board("cortex-m3"))
        assert not any(s.kernel.endswith("_dsp") for s in compiled.steps if s.kernel)


@pytest.mark.parametrize("name", [name for name in CASES if name.startswith("fc_")])
def test_portable_blocked_fully_connected_is_bit_exact_on_the_host(name, mat_mult_tflites, tmp_path):
    """The Cortex-M3's FC kernel reads the same packed int8 blocks in plain C."""
    path = mat_mult_tflites[name]
    graph = read_tflite(path)
    x = graph.tensors[graph.inputs[0]]
    inputs = np.random.default_rng(2).integers(-128, 128, (40, x.num_elements), dtype=np.int8)
    compiled, actual = _host_outputs(path, get_board("cortex-m3"), inputs, tmp_path)
    assert "tas_fully_connected_blocked_s8" in {s.kernel for s in compiled.steps}
    assert np.array_equal(actual, tflm_outputs(path.read_bytes(), inputs, x.shape))


# ---- the real instructions in QEMU: every case in one firmware per model, M4, M3 and M0+ (ARMv6-M asm) twins ----


@pytest.mark.e2e
@pytest.mark.parametrize("board", ["nrf52840", "cortex-m3", "rp2040"])
@pytest.mark.parametrize("name", ["fc_600_to_33_relu", "fc_stack_17_33_3_1", "fc_301_to_6_relu6_per_tensor",
                                  "fc_37_to_7_no_bias_relu", "fc_64_to_12_no_bias_per_tensor", "conv_1x1_odd_pixels_17_to_33_relu",
                                  "conv_1x1_stride2_odd_map_like_a_resnet_shortcut", "conv_1x1_stack_64_like_ds_cnn",
                                  "fc_after_flatten_relu6", "conv_1x1_per_tensor_7_to_17_relu6", *TRIPLES])
def test_mat_mult_models_run_bit_exact_in_qemu(name, board, mat_mult_tflites, tmp_path):
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    result = export_model(mat_mult_tflites[name], board_name=board, out_root=tmp_path, name=name, num_test_vectors=4)
    build_firmware(result.export_dir)
    run = run_firmware(result.export_dir)
    assert run.passed, run.failure  # the firmware checks its outputs against TFLM's, bit for bit
    kernels = {s.kernel for s in result.compiled.steps}
    assert bool(kernels & {FC_DSP, CONV_1X1_DSP}) is (board == "nrf52840")
    if board != "nrf52840" and name.startswith("fc_"):
        assert "tas_fully_connected_blocked_s8" in kernels


def test_sparse_fully_connected_still_runs_bit_exact_beside_the_dsp_kernels(mat_mult_tflites, tmp_path):
    """`--sparse always` swaps the DSP FC for the sparse kernel (the DSP record names it as its
    sparse variant); `auto` keeps the DSP kernel for dense weights."""
    from tinyasc.compile.options import CompileOptions

    path = mat_mult_tflites["fc_stack_17_33_3_1"]
    graph = read_tflite(path)
    board = get_board("nrf52840")
    assert {s.kernel for s in compile_graph(graph, board=board, options=CompileOptions(sparse="auto")).steps} == {FC_DSP}
    compiled = compile_graph(graph, board=board, options=CompileOptions(sparse="always"))
    assert {s.kernel for s in compiled.steps} == {"tas_fully_connected_sparse_s8"}
    write_sources(render_model_sources(compiled, path.name, []), tmp_path / "src")
    runner = build_host_runner(tmp_path / "src", tmp_path / "host_runner")
    inputs = np.random.default_rng(3).integers(-128, 128, (40, 17), dtype=np.int8)
    actual = run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)
    assert np.array_equal(actual, tflm_outputs(path.read_bytes(), inputs, graph.tensors[graph.inputs[0]].shape))


def test_bench_suite_measures_the_fc_autoencoder_and_resnet8_against_tflm():
    from tinyasc.bench import SUITE
    from tinyasc.report.reference_figures import MLPERF_TINY_TFLM_CMSIS_NN

    rows = {model.name: model for model in SUITE}
    for name in ("fc_autoencoder", "resnet8"):
        assert rows[name].tflm == (MLPERF_TINY_TFLM_CMSIS_NN[name],)
