"""The first-layer kernel (tas_conv2d_first_s8_dsp: one group, 1-4 input channels, weights stored
widened to int16, requantization terms precomputed per channel) is bit-exact with TFLM's reference
kernels: on the host under ASan + UBSan (tas_dsp.h's portable twins) and in QEMU on the Cortex-M4
twin with the real instructions. Shapes: input depth 1-4, odd sizes and channel counts, a kernel
larger than the input, stride > kernel, dilation, SAME padding on every side, VALID, 1-D convs over
raw audio whose windows are read in place (long kernels, odd windows, padding at both ends), 1x1
convs over 1-4 channels, a first layer inside a patch stage (patches="always") as well as op at a
time, and the other one-group convs conv.py gives it (ResNet-8's 16-channel 3x3 convs and strided 1x1
shortcuts, odd channel counts, dilation, windows long enough for its 4-channel assembly blocks)."""

import numpy as np
import pytest

from tinyasc.artifacts.boards import get_board
from tinyasc.compile.codegen import compile_graph, render_model_sources, write_sources
from tinyasc.compile.host import build_host_runner, run_host
from tinyasc.compile.options import CompileOptions
from tinyasc.compile.ops.conv_first import BLOCK4_MIN_QUADS, channel_table, pack_first_weights
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.tflite_reader import read_tflite
from tests.test_conv_im2col_kernels import conv, conv1d
from tests.test_mat_mult_kernels import _layers, _random_weights, quantize

FIRST_DSP = "tas_conv2d_first_s8_dsp"


def first_then_more(shape):
    """A first layer feeding a depthwise + 1x1 pair (MobileNet's opening), stride 2 SAME."""
    keras, L = _layers()
    x = L.Input(shape)
    y = L.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(x)
    y = L.DepthwiseConv2D(3, padding="same", activation="relu6")(y)
    return keras.Model(x, L.Conv2D(16, 1, activation="relu6")(y))


# name: (builder, per-channel weights)
CASES = {
    "rgb_3x3_stride2_same_8_like_mobilenet": (lambda: conv((13, 11, 3), 8, 3, strides=2, activation="relu6"), True),
    "rgb_3x3_same_16_like_resnet8": (lambda: conv((9, 7, 3), 16, 3, activation="relu"), True),
    "mono_10x4_stride2_same_like_kws": (lambda: conv((15, 10, 1), 12, (10, 4), strides=2, activation="relu"), True),
    "two_channels_odd_outputs_5x3_same": (lambda: conv((7, 6, 2), 7, (5, 3)), True),
    "four_channels_3x3_valid_per_tensor": (lambda: conv((6, 9, 4), 6, 3, padding="valid"), False),
    "kernel_larger_than_the_input_same": (lambda: conv((3, 4, 3), 5, (5, 7), activation="relu"), True),
    "stride_over_kernel_valid_one_output": (lambda: conv((10, 11, 3), 1, 2, strides=3, padding="valid"), True),
    "dilation2_same_odd_map": (lambda: conv((9, 8, 3), 4, 3, dilation=2, activation="relu"), True),
    "even_kernel_same_pads_the_far_side_no_bias": (lambda: conv((6, 5, 1), 9, (4, 2), strides=(1, 2), use_bias=False), True),
    "one_by_one_image": (lambda: conv((1, 1, 3), 3, 3), True),
    "conv1d_k9_stride2_mono": (lambda: conv1d(23, 1, 6, 9, strides=2), True),
    "first_layer_then_depthwise_and_pointwise": (lambda: first_then_more((24, 20, 3)), True),
    # 1-D convs over raw audio ([T, 1, C], a filter as wide as the input): windows read in place
    "raw_audio_k64_stride2_same_mono_like_wsnet": (lambda: conv((301, 1, 1), 4, (64, 1), strides=(2, 1)), True),
    "raw_audio_k16_stride4_same_two_channels": (lambda: conv((157, 1, 2), 5, (16, 1), strides=(4, 1), activation="relu"), True),
    "raw_audio_k7_odd_window_three_channels": (lambda: conv((50, 1, 3), 3, (7, 1), use_bias=False), True),
    "conv1d_stride_over_kernel_three_channels": (lambda: conv1d(47, 3, 6, 3, strides=5), True),
    "conv1d_k32_stride3_same_mono_per_tensor": (lambda: conv1d(101, 1, 3, 32, strides=3), False),
    # 1x1 convs over 1-4 channels (WSNet's denser-sampling projections) take this kernel too
    "pointwise_4_to_2_odd_pixels_like_a_wsnet_projection": (lambda: conv((37, 1, 4), 2, 1, activation="relu"), True),
    "pointwise_3_to_5_stride2_image": (lambda: conv((7, 6, 3), 5, 1, strides=2), True),
    # any one-group conv whose widened weights stay small (ResNet-8's 16-channel convs and shortcuts)
    "sixteen_channels_3x3_same_like_resnet8_block": (lambda: conv((9, 7, 16), 16, 3, activation="relu"), True),
    "sixteen_to_32_3x3_stride2_same_odd_map": (lambda: conv((9, 7, 16), 32, 3, strides=2, activation="relu"), True),
    "odd_13_to_7_channels_5x3_dilated_same_per_tensor": (lambda: conv((8, 9, 13), 7, (5, 3), dilation=(2, 1)), False),
    "six_channels_to_11_2x2_stride3_valid": (lambda: conv((10, 11, 6), 11, 2, strides=3, padding="valid"), True),
    "eight_channels_to_3_3x3_on_a_1x1_image": (lambda: conv((1, 1, 8), 3, 3, use_bias=False), True),
}


def _host_outputs(path, inputs, folder, options):
    graph = read_tflite(path)
    compiled = compile_graph(graph, board=get_board("nrf52840"), options=options)
    write_sources(render_model_sources(compiled, path.name, []), folder / "src")
    runner = build_host_runner(folder / "src", folder / "host_runner")
    return compiled, run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)


@pytest.fixture(scope="module")
def first_tflites(tmp_path_factory):
    folder = tmp_path_factory.mktemp("first_models")
    return {name: quantize(_random_weights(build(), 300 + seed), folder / f"{name}.tflite", per_channel, seed)
            for seed, (name, (build, per_channel)) in enumerate(CASES.items())}


def test_weights_are_widened_in_even_and_odd_lanes_per_channel_pair():
    weights = np.arange(1, 3 * 5 + 1, dtype=np.int8).reshape(3, 1, 1, 5)  # 3 channels, window 5 -> 8
    halves = pack_first_weights(weights).view("<i2").reshape(-1, 2).tolist()
    # a short window: pairs only. Pair 0, quad 0: c0 (1, 3), c1 (6, 8), c0 (2, 4), c1 (7, 9); quad 1
    assert halves[:8] == [[1, 3], [6, 8], [2, 4], [7, 9], [5, 0], [10, 0], [0, 0], [0, 0]]
    # pair 1: channel 2 and a zero channel
    assert halves[8:12] == [[11, 13], [0, 0], [12, 14], [0, 0]]


def test_long_windows_put_channels_in_blocks_of_4_then_pairs():
    window = 4 * BLOCK4_MIN_QUADS
    weights = (np.arange(5 * window) % 100).astype(np.int8).reshape(5, 1, 1, window)
    halves = pack_first_weights(weights).view("<i2").reshape(-1, 2)
    assert len(halves) == 6 * window // 2  # 5 channels + a zero one, two halves a word
    # the block of channels 0-3, quad 0: c0..c3 even (w0, w2), then c0..c3 odd (w1, w3)
    rows = weights.reshape(5, -1).astype(int)
    assert halves[:8].tolist() == [[r[0], r[2]] for r in rows[:4]] + [[r[1], r[3]] for r in rows[:4]]
    # after the block's quads: channel 4 and a zero channel as a pair, c0.even, c1.even, c0.odd, c1.odd
    pair = halves[8 * BLOCK4_MIN_QUADS:8 * BLOCK4_MIN_QUADS + 4].tolist()
    assert pair == [[rows[4][0], rows[4][2]], [0, 0], [rows[4][1], rows[4][3]], [0, 0]]


def test_channel_table_holds_the_requantization_terms():
    class P:
        weights = np.ones((3, 1, 1, 2), dtype=np.int8)
        bias = np.array([10, 20, 30], dtype=np.int32)
        input_offset = 5
        multipliers = np.array([1 << 30, 3 << 28, 1 << 29], dtype=np.int32)
        shifts = np.array([2, -3, 0], dtype=np.int32)

    table = channel_table(P, fast=False).reshape(-1, 6).tolist()
    assert table[0] == [20, 1 << 30, 2, 0, 0, 0]
    assert table[1] == [30, 3 << 28, 0, 3, 4, -1]
    assert table[2] == table[3] == [40, 1 << 29, 0, 0, 0, 0]  # the padding channel copies the last
    P.shifts = np.array([-1, -3, -8], dtype=np.int32)
    P.output_offset = -5
    fast = channel_table(P, fast=True).reshape(-1, 4).tolist()  # (2·offset + 1)·2^(r-1) rides in the rounding
    assert fast[:3] == [[20, 1 << 30, 0, -9], [30, 3 << 28, 2, -36], [40, 1 << 29, 7, -9 * 128]]


def _first_conv(compiled):
    return next(s for s in compiled.steps if s.kind == "CONV_2D")


# every case op at a time, and the MobileNet-like opening inside a patch stage too
@pytest.mark.parametrize(("name", "patches"), [(name, "never") for name in CASES]
                         + [("first_layer_then_depthwise_and_pointwise", "always")])
def test_first_layer_kernel_is_bit_exact_with_tflm_on_the_host(name, patches, first_tflites, tmp_path):
    path = first_tflites[name]
    graph = read_tflite(path)
    x = graph.tensors[graph.inputs[0]]
    inputs = np.random.default_rng(7).integers(-128, 128, (24, x.num_elements), dtype=np.int8)
    compiled, actual = _host_outputs(path, inputs, tmp_path, CompileOptions(patches=patches))
    assert _first_conv(compiled).kernel == FIRST_DSP
    expected = tflm_outputs(path.read_bytes(), inputs, x.shape)
    assert len(np.unique(expected)) > 2, "degenerate case: outputs nearly constant"
    assert np.array_equal(actual, expected)


def test_the_portable_core_keeps_the_im2col_kernel(first_tflites):
    compiled = compile_graph(read_tflite(first_tflites["rgb_3x3_same_16_like_resnet8"]), board=get_board("cortex-m3"))
    assert [s.kernel for s in compiled.steps if s.kind == "CONV_2D"] == ["tas_conv2d_im2col_s8"]


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["rgb_3x3_stride2_same_8_like_mobilenet", "kernel_larger_than_the_input_same", "mono_10x4_stride2_same_like_kws",
                                  "first_layer_then_depthwise_and_pointwise", "raw_audio_k64_stride2_same_mono_like_wsnet",
                                  "raw_audio_k7_odd_window_three_channels", "conv1d_stride_over_kernel_three_channels",
                                  "pointwise_4_to_2_odd_pixels_like_a_wsnet_projection",
                                  "sixteen_channels_3x3_same_like_resnet8_block", "sixteen_to_32_3x3_stride2_same_odd_map",
                                  "odd_13_to_7_channels_5x3_dilated_same_per_tensor", "six_channels_to_11_2x2_stride3_valid",
                                  "eight_channels_to_3_3x3_on_a_1x1_image", "two_channels_odd_outputs_5x3_same"])
def test_first_layer_models_run_bit_exact_in_qemu(name, first_tflites, tmp_path):
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    result = export_model(first_tflites[name], board_name="nrf52840", out_root=tmp_path, name=name, num_test_vectors=4)
    build_firmware(result.export_dir)
    run = run_firmware(result.export_dir)
    assert run.passed, run.failure  # the firmware checks its outputs against TFLM's, bit for bit
    assert _first_conv(result.compiled).kernel == FIRST_DSP
