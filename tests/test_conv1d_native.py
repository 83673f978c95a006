"""Keras Conv1D, which TFLite lowers to EXPAND_DIMS → CONV_2D over [1, 1, W, C] with a 1×k filter →
RESHAPE, compiles to the native 1-D kernels (as (k, 1) Conv2D kernels do: the contiguous-rows
kernel where it is the cheapest, kernels.py), stays bit-exact with TFLM on the host and, with the
DSP kernels, in QEMU."""

import numpy as np
import pytest

from tinyasc.compile.codegen import compile_graph, render_model_sources, write_sources
from tinyasc.compile.ir import OpKind
from tinyasc.compile.kernels import runnable_variants
from tinyasc.compile.ops import conv
from tinyasc.compile.ops.conv import CONV2D_ROWS_DSP
from tinyasc.compile.host import build_host_runner, run_host
from tinyasc.compile.reference import tflm_outputs
from tinyasc.artifacts.boards import get_board
from tinyasc.compile.tflite_reader import read_tflite


def conv1d_model():
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    L = keras.layers
    keras.utils.set_random_seed(0)
    x = L.Input((64, 4))
    y = L.Conv1D(8, 5, strides=2, activation="relu")(x)  # valid, strided: the row kernel
    y = L.Conv1D(8, 3, padding="same")(y)  # padded: the general kernel, on the swapped layout
    y = L.Conv1D(6, 3, dilation_rate=2)(y)  # dilated: the general kernel
    y = L.Conv1D(5, 4, strides=3)(y)  # valid again, stride 3
    return keras.Model(x, L.Dense(3)(L.Flatten()(y)))


@pytest.fixture(scope="module")
def conv1d_tflite(tmp_path_factory):
    from tinyasc.convert import quantize_int8

    samples = np.random.default_rng(0).normal(size=(16, 64, 4)).astype(np.float32)
    return quantize_int8(conv1d_model(), samples, tmp_path_factory.mktemp("conv1d") / "conv1d.tflite")


def test_conv1d_is_lowered_with_expand_dims_and_runs_on_the_row_and_im2col_kernels(conv1d_tflite):
    graph = read_tflite(conv1d_tflite)
    convs = [op for op in graph.ops if op.kind.value == "CONV_2D"]
    assert graph.ops[0].kind.value in ("EXPAND_DIMS", "RESHAPE")  # the converter's choice of alias
    assert all(graph.tensors[op.inputs[0]].shape[1] == 1 for op in convs)  # [1, 1, W, C]: a 1×k conv
    portable = [s.kernel for s in compile_graph(graph).steps if s.kind == "CONV_2D"]
    assert portable == ["tas_conv2d_rows_s8", "tas_conv2d_im2col_s8", "tas_conv2d_im2col_s8", "tas_conv2d_rows_s8"]
    # On the M4 every conv runs the DSP kernel the cost model ranks cheapest among those that apply;
    # the valid 1-D convs (0, 3) could run the rows kernel, whose SMLAD loop loads a weight per MAC pair.
    board = get_board("nrf52840")
    m4 = [s for s in compile_graph(graph, board=board).steps if s.kind == "CONV_2D"]
    for step, op in zip(m4, [op for op in graph.ops if op.kind.value == "CONV_2D"]):
        params = conv.prepare(op, graph)
        runnable = [k for k in runnable_variants(OpKind.CONV_2D, params, board) if "dsp" in k.requires]
        assert step.kernel.endswith("_dsp") and step.kernel == min(runnable, key=lambda k: k.cost(params)).name
        assert (CONV2D_ROWS_DSP in runnable) is (op is convs[0] or op is convs[3])
    assert all(s.call is None for s in compile_graph(graph).steps if s.kind in ("RESHAPE", "EXPAND_DIMS"))


def test_conv1d_is_bit_exact_with_tflm_on_the_host(conv1d_tflite, tmp_path):
    graph = read_tflite(conv1d_tflite)
    write_sources(render_model_sources(compile_graph(graph), "conv1d.tflite", []), tmp_path / "src")
    runner = build_host_runner(tmp_path / "src", tmp_path / "runner")
    inputs = np.random.default_rng(1).integers(-128, 128, (40, 64 * 4), dtype=np.int8)
    expected = tflm_outputs(conv1d_tflite.read_bytes(), inputs, (1, 64, 4))
    assert len(np.unique(expected, axis=0)) > 30
    assert np.array_equal(run_host(runner, inputs, 3), expected)


@pytest.mark.e2e
def test_conv1d_dsp_kernels_are_bit_exact_in_qemu(conv1d_tflite, tmp_path):
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    exported = export_model(conv1d_tflite, board_name="nrf52840", out_root=tmp_path, name="conv1d",
                            num_test_vectors=4)
    assert all(layer["kernel"].endswith("_dsp") for layer in exported.manifest["export"]["layers"]
               if layer["kind"] == "CONV_2D")
    build_firmware(exported.export_dir)
    result = run_firmware(exported.export_dir)
    assert result.passed and result.vectors == 4 and result.mismatches == 0


@pytest.mark.e2e
def test_conv1d_on_the_rows_dsp_kernel_is_bit_exact_in_qemu(conv1d_tflite, tmp_path, only_conv_kernel):
    """The rows DSP kernel wherever it applies (the cost model prefers others on these shapes)."""
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    only_conv_kernel(CONV2D_ROWS_DSP)
    exported = export_model(conv1d_tflite, board_name="nrf52840", out_root=tmp_path, name="conv1d_rows",
                            num_test_vectors=4)
    kernels = [layer["kernel"] for layer in exported.manifest["export"]["layers"] if layer["kind"] == "CONV_2D"]
    assert kernels == ["tas_conv2d_rows_s8_dsp", "tas_conv2d_s8", "tas_conv2d_s8", "tas_conv2d_rows_s8_dsp"]
    build_firmware(exported.export_dir)
    result = run_firmware(exported.export_dir)
    assert result.passed and result.vectors == 4 and result.mismatches == 0
