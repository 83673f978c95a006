"""The DSP average pool (tas_avg_pool2d_s8_dsp: channels summed in SIMD lanes by SXTAB16) is
bit-exact with TFLM's reference kernel: on the host through tas_dsp.h's portable twins (ASan +
UBSan) and in QEMU with the real instructions on the Cortex-M4 twin. Shapes: KWS DS-CNN's 25x5x64
window of whole rows, SAME padding on every side, odd channel counts (groups of 8, 4 and single
channels), a window of 400 pixels (more than a halfword lane holds: summed in runs of rows),
a window row of 300 pixels (too long for the lanes: the plain per-channel sums), stride > pool."""

import numpy as np
import pytest

from tinyasc.artifacts.boards import get_board
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.tflite_reader import read_tflite
from tests.test_mat_mult_kernels import _host_outputs, _layers, quantize

AVG_DSP = "tas_avg_pool2d_s8_dsp"


def pool(shape, size, strides=None, padding="valid"):
    keras, L = _layers()
    x = L.Input(shape)
    return keras.Model(x, L.AveragePooling2D(size, strides=strides, padding=padding)(x))


CASES = {
    "kws_window_of_whole_rows_25x5x64": lambda: pool((25, 5, 64), (25, 5)),
    "same_padding_3x2_stride_2x1_13_channels": lambda: pool((7, 6, 13), (3, 2), (2, 1), "same"),
    "same_padding_even_window_4x4_stride_3_12_channels": lambda: pool((8, 7, 12), (4, 4), 3, "same"),
    "window_of_400_pixels_6_channels": lambda: pool((20, 20, 6), (20, 20)),
    "row_of_300_pixels_4_channels": lambda: pool((1, 300, 4), (1, 300)),
    "stride_greater_than_pool_9_channels": lambda: pool((8, 8, 9), (2, 2), (3, 3)),
}


@pytest.fixture(scope="module")
def pool_tflites(tmp_path_factory):
    folder = tmp_path_factory.mktemp("avg_pool_models")
    return {name: quantize(build(), folder / f"{name}.tflite", True, seed) for seed, (name, build) in enumerate(CASES.items())}


@pytest.mark.parametrize("name", list(CASES))
def test_dsp_average_pool_is_bit_exact_with_tflm_on_the_host(name, pool_tflites, tmp_path):
    path = pool_tflites[name]
    graph = read_tflite(path)
    x = graph.tensors[graph.inputs[0]]
    # the extremes too: -128 and 127 everywhere (sums at the ends of a halfword lane)
    rng = np.random.default_rng(3)
    inputs = np.concatenate([rng.integers(-128, 128, (30, x.num_elements)), np.full((1, x.num_elements), -128),
                             np.full((1, x.num_elements), 127)]).astype(np.int8)
    compiled, actual = _host_outputs(path, get_board("nrf52840"), inputs, tmp_path)
    assert [s.kernel for s in compiled.steps if s.kind == "AVERAGE_POOL_2D"] == [AVG_DSP]
    assert np.array_equal(actual, tflm_outputs(path.read_bytes(), inputs, x.shape))


@pytest.mark.e2e
@pytest.mark.parametrize("name", list(CASES))
def test_dsp_average_pool_runs_bit_exact_in_qemu(name, pool_tflites, tmp_path):
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    result = export_model(pool_tflites[name], board_name="nrf52840", out_root=tmp_path, name=name, num_test_vectors=4)
    assert AVG_DSP in {s.kernel for s in result.compiled.steps}
    build_firmware(result.export_dir)
    run = run_firmware(result.export_dir)
    assert run.passed, run.failure  # the firmware checks its outputs against TFLM's, bit for bit


def test_the_cortex_m3_keeps_the_portable_average_pool(pool_tflites):
    from tinyasc.compile.codegen import compile_graph

    compiled = compile_graph(read_tflite(pool_tflites["kws_window_of_whole_rows_25x5x64"]), board=get_board("cortex-m3"))
    assert [s.kernel for s in compiled.steps if s.kind == "AVERAGE_POOL_2D"] == ["tas_avg_pool2d_s8"]
