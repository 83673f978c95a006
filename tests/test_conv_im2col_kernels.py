"""The general convolution kernels (tas_conv2d_im2col_s8[_dsp]: two pixels' receptive fields gathered
into int8 columns by tas_im2col.h, then a 2 channels x 2 pixels matrix product) are bit-exact with
TFLM's reference kernels: converted Keras models on the host (ASan + UBSan; the DSP kernel through
tas_dsp.h's portable twins) and in QEMU with the real instructions on the Cortex-M4 twin and the
portable kernel on the Cortex-M3 twin. Shapes: odd channel counts, 1-3 input channels (first
layers), 1x1 images, stride > kernel, dilation, SAME padding on every side (odd and even kernels),
grouped convs (ResNet-SE), 1-D convs with padding (WSNet)."""

import numpy as np
import pytest

from tinyasc.artifacts.boards import get_board
from tinyasc.compile.codegen import compile_graph
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.tflite_reader import read_tflite
from tinyasc.compile.weight_packing import pack_im2col_weights
from tests.test_mat_mult_kernels import _host_outputs, _layers, _random_weights, quantize

IM2COL_DSP = "tas_conv2d_im2col_s8_dsp"
IM2COL = "tas_conv2d_im2col_s8"
FIRST_DSP = "tas_conv2d_first_s8_dsp"  # first layers (1-4 input channels) on DSP cores: tests/test_conv_first_kernel.py


def conv(shape, filters, kernel, strides=1, padding="same", dilation=1, groups=1, activation=None, use_bias=True):
    keras, L = _layers()
    x = L.Input(shape)
    y = L.Conv2D(filters, kernel, strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                 activation=activation, use_bias=use_bias)(x)
    return keras.Model(x, y)


def conv1d(length, channels, filters, kernel, strides=1, padding="same"):
    keras, L = _layers()
    x = L.Input((length, channels))
    return keras.Model(x, L.Conv1D(filters, kernel, strides=strides, padding=padding, activation="relu")(x))


def conv_stack(shape, *layers):
    keras, L = _layers()
    x = y = L.Input(shape)
    for filters, kernel, strides, groups in layers:
        y = L.Conv2D(filters, kernel, strides=strides, padding="same", groups=groups, activation="relu")(y)
    return keras.Model(x, y)


def residual_se(shape):
    """A ResNet-SE block: two 3x3 convs, a squeeze-and-excitation gate (MUL broadcast over the
    pixels) and the residual ADD (>= 512 outputs: the table kernel)."""
    keras, L = _layers()
    x = L.Input(shape)
    y = L.Conv2D(shape[-1], 3, padding="same", activation="relu")(x)
    y = L.Conv2D(shape[-1], 3, padding="same", groups=4)(y)
    gate = L.Dense(shape[-1], activation="sigmoid")(L.Dense(4, activation="relu")(L.GlobalAveragePooling2D()(y)))
    y = L.Multiply()([y, L.Reshape((1, 1, shape[-1]))(gate)])
    return keras.Model(x, L.ReLU()(L.Add()([x, y])))


# name: (builder, per-channel weights): every case runs the im2col kernels only.
CASES = {
    "rgb_3x3_same_16_like_resnet8_first": (lambda: conv((9, 7, 3), 16, 3, activation="relu"), True),
    "logmel_1ch_3x3_same_24_like_resnet_se_first": (lambda: conv((8, 11, 1), 24, 3), True),
    "3x3_same_stride2_odd_map_17_to_5": (lambda: conv((7, 9, 17), 5, 3, strides=2, activation="relu6"), True),
    "3x3_same_on_a_1x1_image": (lambda: conv((1, 1, 6), 3, 3), True),
    "2x2_stride3_valid_stride_over_kernel": (lambda: conv((8, 10, 5), 7, 2, strides=3, padding="valid"), False),
    "4x2_same_even_kernel_pads_the_far_side": (lambda: conv((6, 5, 4), 9, (4, 2), strides=(1, 2)), True),
    "3x3_dilation2_same": (lambda: conv((9, 8, 3), 4, 3, dilation=2, activation="relu"), True),
    "5x1_dilation3_valid_no_bias": (lambda: conv((15, 3, 2), 3, (5, 1), dilation=(3, 1), padding="valid", use_bias=False), True),
    "grouped_3x3_cardinality4_like_resnet_se": (lambda: conv((6, 7, 24), 24, 3, groups=4), True),
    "grouped_3x3_odd_group_outputs": (lambda: conv((5, 4, 6), 9, 3, groups=3, activation="relu"), True),
    "conv1d_k32_stride2_same_like_wsnet": (lambda: conv1d(41, 2, 8, 32, strides=2), True),
    "conv1d_k64_stride2_1ch_like_wsnet_first": (lambda: conv1d(50, 1, 4, 64, strides=2), False),
    "conv1d_k9_on_5_steps_padding_past_both_ends": (lambda: conv1d(5, 3, 6, 9), True),
    "conv1d_k4_stride3_even_kernel_same": (lambda: conv1d(10, 4, 5, 4, strides=3), True),
    "residual_se_block_8x8x16": (lambda: residual_se((8, 8, 16)), True),
    # filter depth a multiple of 4: gathered straight into the widened scratch (tas_im2col_widened.h)
    "widened_5x3_same_pads_every_side_odd_pixel_count": (lambda: conv((3, 5, 12), 7, (5, 3), activation="relu"), True),
    "widened_3x3_dilation2_on_a_1x1_image_edge": (lambda: conv((5, 4, 8), 5, 3, dilation=2), True),
    "widened_2x2_stride3_valid_stride_over_kernel": (lambda: conv((8, 10, 4), 3, 2, strides=3, padding="valid"), False),
    "stack_like_resnet8_stage": (lambda: conv_stack((8, 8, 16), (16, 3, 1, 1), (32, 3, 2, 1), (33, 3, 1, 1)), True),
}
CONV_KINDS = ("CONV_2D",)


@pytest.fixture(scope="module")
def im2col_tflites(tmp_path_factory):
    folder = tmp_path_factory.mktemp("im2col_models")
    return {name: quantize(_random_weights(build(), 100 + seed), folder / f"{name}.tflite", per_channel, seed)
            for seed, (name, (build, per_channel)) in enumerate(CASES.items())}


def test_packing_pads_each_window_to_a_word_per_group():
    weights = np.arange(1, 4 * 1 * 1 * 3 + 1, dtype=np.int8).reshape(4, 1, 1, 3)  # 4 channels, window 3, 2 groups
    packed = pack_im2col_weights(weights, groups=2)
    assert packed.view(np.int8).tolist() == [1, 2, 3, 0, 4, 5, 6, 0,  # group 0: channels 0 and 1, one block
                                             7, 8, 9, 0, 10, 11, 12, 0]  # group 1


@pytest.mark.parametrize("board", ["nrf52840", "cortex-m3"])
@pytest.mark.parametrize("name", list(CASES))
def test_im2col_kernels_are_bit_exact_with_tflm_on_the_host(name, board, im2col_tflites, tmp_path):
    path = im2col_tflites[name]
    graph = read_tflite(path)
    x = graph.tensors[graph.inputs[0]]
    inputs = np.random.default_rng(5).integers(-128, 128, (24, x.num_elements), dtype=np.int8)
    compiled, actual = _host_outputs(path, get_board(board), inputs, tmp_path)
    kernels = {s.kernel for s in compiled.steps if s.kind in CONV_KINDS}
    assert kernels and kernels <= ({IM2COL_DSP, FIRST_DSP} if board == "nrf52840" else {IM2COL})
    expected = tflm_outputs(path.read_bytes(), inputs, x.shape)
    assert len(np.unique(expected)) > 2, "degenerate case: outputs nearly constant"
    assert np.array_equal(actual, expected)


def test_the_residual_add_runs_fast_and_the_se_mul_too(im2col_tflites):
    # DSP cores: the rescaled input's values from a table in flash (tas_add_lut_s8); the M3 tabulates in scratch.
    for board, add in (("nrf52840", "tas_add_lut_s8"), ("cortex-m3", "tas_add_table_s8")):
        compiled = compile_graph(read_tflite(im2col_tflites["residual_se_block_8x8x16"]), board=get_board(board))
        kernels = {s.kind: s.kernel for s in compiled.steps}
        assert kernels["ADD"] == add and kernels["MUL"] == "tas_mul_fast_s8"


def test_scratch_is_planned_and_weights_stay_one_byte_each(im2col_tflites):
    compiled = compile_graph(read_tflite(im2col_tflites["grouped_3x3_cardinality4_like_resnet_se"]),
                             board=get_board("nrf52840"))
    assert compiled.plan.scratch_buffer, "the kernel's scratch is in the memory plan"
    (filters,) = [c for c in compiled.constants if c.name.endswith("_filter")]
    assert filters.nbytes == 24 * 56  # 24 channels x (3x3x6 = 54 padded to 56)


@pytest.mark.e2e
@pytest.mark.parametrize("board", ["nrf52840", "cortex-m3", "rp2040"])
@pytest.mark.parametrize("name", ["rgb_3x3_same_16_like_resnet8_first", "grouped_3x3_odd_group_outputs",
                                  "stack_like_resnet8_stage", "conv1d_k32_stride2_same_like_wsnet",
                                  "3x3_dilation2_same", "2x2_stride3_valid_stride_over_kernel",
                                  "residual_se_block_8x8x16"])
def test_im2col_models_run_bit_exact_in_qemu(name, board, im2col_tflites, tmp_path):
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    result = export_model(im2col_tflites[name], board_name=board, out_root=tmp_path, name=name, num_test_vectors=4)
    build_firmware(result.export_dir)
    run = run_firmware(result.export_dir)
    assert run.passed, run.failure  # the firmware checks its outputs against TFLM's, bit for bit
    kernels = {s.kernel for s in result.compiled.steps if s.kind in CONV_KINDS}
    assert kernels and kernels <= ({IM2COL_DSP, FIRST_DSP} if board == "nrf52840" else {IM2COL})
