"""The portable matrix product (tas_mat_mult_s8.h: 4 channels x 2 pixels per pass, a lone last pixel
4 x 1, channels left over one at a time; on the Cortex-M3 its quad loop is assembly) under
tas_conv2d_rows_s8 and tas_conv2d_im2col_s8 is bit-exact with TFLM: on the host (ASan + UBSan, the
plain-C loop) and in QEMU on the Cortex-M3 twin (the assembly). Shapes hit every path: depths with
and without a tail (depth % 4), channel counts with 1-3 left over, odd pixel and row counts, a
pointwise conv and 1-D convs in the contiguous-rows form, a padded conv on im2col."""

import numpy as np
import pytest

from tinyasc.artifacts.boards import get_board
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.tflite_reader import read_tflite
from tinyasc.compile.weight_packing import MAT_MULT_BLOCK_PORTABLE, pack_im2col_weights
from tests.test_conv_im2col_kernels import conv, conv1d
from tests.test_mat_mult_kernels import _host_outputs, _random_weights, quantize

ROWS, IM2COL = "tas_conv2d_rows_s8", "tas_conv2d_im2col_s8"

# name: (builder, per-channel weights, the conv kernel the M3 runs)
CASES = {
    "pointwise_3x3x5_to_7_odd_pixels": (lambda: conv((3, 3, 5), 7, 1, activation="relu"), True, ROWS),
    "pointwise_2x2x8_to_8_whole_blocks": (lambda: conv((2, 2, 8), 8, 1, use_bias=False), False, ROWS),
    "conv1d_valid_k5_depth3_to_6_tail3": (lambda: conv1d(11, 3, 6, 5, padding="valid"), True, ROWS),
    "conv1d_valid_k3_stride2_depth16_to_9": (lambda: conv1d(20, 16, 9, 3, strides=2, padding="valid"), True, ROWS),
    "conv_3x3_same_5x3x6_to_11": (lambda: conv((5, 3, 6), 11, 3, activation="relu"), True, IM2COL),
}


@pytest.fixture(scope="module")
def portable_tflites(tmp_path_factory):
    folder = tmp_path_factory.mktemp("portable_mat_mult")
    return {name: quantize(_random_weights(build(), 300 + seed), folder / f"{name}.tflite", per_channel, seed)
            for seed, (name, (build, per_channel, _)) in enumerate(CASES.items())}


def test_portable_im2col_packing_blocks_four_channels():
    weights = np.arange(1, 5 * 3 + 1, dtype=np.int8).reshape(5, 1, 1, 3)  # 5 channels, window 3 padded to 4
    packed = pack_im2col_weights(weights, groups=1, block=MAT_MULT_BLOCK_PORTABLE).view(np.int8).tolist()
    assert packed == [1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 10, 11, 12, 0,  # channels 0-3: one quad each
                      13, 14, 15, 0]  # channel 4 alone


@pytest.mark.parametrize("name", list(CASES))
def test_portable_kernels_are_bit_exact_on_the_host(name, portable_tflites, tmp_path):
    path = portable_tflites[name]
    graph = read_tflite(path)
    x = graph.tensors[graph.inputs[0]]
    inputs = np.random.default_rng(9).integers(-128, 128, (24, x.num_elements), dtype=np.int8)
    compiled, actual = _host_outputs(path, get_board("cortex-m3"), inputs, tmp_path)
    assert [s.kernel for s in compiled.steps if s.kind == "CONV_2D"] == [CASES[name][2]]
    expected = tflm_outputs(path.read_bytes(), inputs, x.shape)
    assert len(np.unique(expected)) > 2, "degenerate case: outputs nearly constant"
    assert np.array_equal(actual, expected)


@pytest.mark.e2e
@pytest.mark.parametrize("name", list(CASES))
def test_portable_kernels_run_bit_exact_in_qemu_on_the_m3(name, portable_tflites, tmp_path):
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    result = export_model(portable_tflites[name], board_name="cortex-m3", out_root=tmp_path, name=name,
                          num_test_vectors=4)
    build_firmware(result.export_dir)
    run = run_firmware(result.export_dir)
    assert run.passed, run.failure  # the firmware checks its outputs against TFLM's, bit for bit
    assert [s.kernel for s in result.compiled.steps if s.kind == "CONV_2D"] == [CASES[name][2]]
