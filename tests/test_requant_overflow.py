"""The fast per-channel requantization (tas_requant_channel_apply, tas_requantize.h) doubles acc << left
for its SMMLAR; an accumulator whose doubled shift would overflow int32 must take the exact fallback
(tas_requantize_positive_split). Graphs built here force it: effective scales up to 2^12 (shift 13)
next to ordinary ones, on the three mat-mult kernels of the DSP cores (fully connected, 1x1 conv,
im2col conv gathered widened and through int8 columns). Bit-exact with TFLM on the host (ASan +
UBSan, the instructions' portable twins) and in QEMU on the Cortex-M4 twin (the real SMMLAR and the
overflow branch), the Cortex-M3 twin's portable kernels and the M0+ (rp2040: the 16-bit-halves multiply)."""

import numpy as np
import pytest

from tinyasc.compile.fuzz.spec import FuzzGraph, OpSpec, TensorSpec, to_tflite

# Effective scales input_scale · weight_scale / output_scale per output channel: 2^12 and 2^9 make
# TFLite shifts of 13 and 10 (left shifts), the others are the usual right shifts.
EFFECTIVE_SCALES = (4096.0, 0.37, 512.0, 1.5, 2.0**-9, 3.1, 0.02)
INPUT_SCALE = OUTPUT_SCALE = 0.0625


def _weights(rng, shape) -> np.ndarray:
    weights = rng.integers(-127, 128, size=shape).astype(np.int8)
    weights[0].fill(127)  # channel 0's sums reach the overflow for most inputs
    return weights


def _layer(graph: FuzzGraph, rng, op: str, source: int, weight_shape, out_shape, options, axis=0) -> int:
    channels = weight_shape[axis]
    scales = tuple(float(np.float32(EFFECTIVE_SCALES[c % len(EFFECTIVE_SCALES)])) for c in range(channels))
    weights = graph.add(TensorSpec(tuple(weight_shape), "int8", scales, (0,) * channels, axis, _weights(rng, weight_shape)))
    bias_scales = tuple(float(np.float32(INPUT_SCALE) * np.float32(s)) for s in scales)
    bias_values = rng.integers(-3000, 3000, size=channels).astype(np.int32)
    bias = graph.add(TensorSpec((channels,), "int32", bias_scales, (0,) * channels, 0, bias_values))
    out = graph.add(TensorSpec(tuple(out_shape), "int8", (OUTPUT_SCALE,), (-5,)))
    graph.ops.append(OpSpec(op, [source, weights, bias], [out], options))
    return out


def _graph(kind: str, seed: int = 0) -> FuzzGraph:
    rng = np.random.default_rng(seed)
    graph = FuzzGraph()
    if kind == "fully_connected":
        source = graph.add(TensorSpec((3, 40), "int8", (INPUT_SCALE,), (3,)))
        out = _layer(graph, rng, "FULLY_CONNECTED", source, (7, 40), (3, 7), {"fusedActivationFunction": "none"})
    else:
        shape, kernel, padding = {
            "conv_1x1": ((1, 3, 3, 12), (1, 1), "valid"),            # tas_conv2d_1x1_s8_dsp, an odd pixel count
            "conv_3x3_widened": ((1, 5, 4, 8), (3, 3), "same"),     # depth 8: gathered straight into widened scratch
            "conv_3x3_columns": ((1, 4, 5, 5), (3, 3), "same"),     # depth 5: int8 columns, then widened
            "conv_3x3_first": ((1, 4, 5, 3), (3, 3), "same"),       # depth 3: the first-layer kernel
        }[kind]
        source = graph.add(TensorSpec(shape, "int8", (INPUT_SCALE,), (3,)))
        out_shape = (1, shape[1], shape[2], 9)
        out = _layer(graph, rng, "CONV_2D", source, (9, *kernel, shape[3]), out_shape,
                     {"padding": padding, "strideH": 1, "strideW": 1, "dilationHFactor": 1, "dilationWFactor": 1,
                      "fusedActivationFunction": "relu"})
    graph.inputs, graph.outputs = [source], [out]
    return graph


def _export(kind: str, board: str, folder):
    from tinyasc.compile.export import export_model

    path = folder / f"{kind}.tflite"
    path.write_bytes(to_tflite(_graph(kind)))
    shape = _graph(kind).tensors[0].shape
    inputs = np.random.default_rng(1).integers(-128, 128, size=(6, *shape)).astype(np.int8)
    inputs[0].fill(127)  # the largest sums
    return export_model(path, board_name=board, out_root=folder, name=f"{kind}_{board}", test_inputs=inputs,
                        num_test_vectors=len(inputs))


def _keep_im2col(kind: str, board: str, only_conv_kernel):
    """These small 3x3 convs would take the first-layer kernel (ops/conv.py: small widened filters);
    on DSP boards they are held on the im2col kernel, whose two gather paths they exist to cover."""
    from tinyasc.compile.ops.conv import CONV2D_IM2COL_DSP

    if kind in ("conv_3x3_widened", "conv_3x3_columns") and board == "nrf52840":
        only_conv_kernel(CONV2D_IM2COL_DSP)


KINDS = ("fully_connected", "conv_1x1", "conv_3x3_widened", "conv_3x3_columns", "conv_3x3_first")
KERNELS = {"fully_connected": "tas_fully_connected_s8_dsp", "conv_1x1": "tas_conv2d_1x1_s8_dsp",
           "conv_3x3_widened": "tas_conv2d_im2col_s8_dsp", "conv_3x3_columns": "tas_conv2d_im2col_s8_dsp",
           "conv_3x3_first": "tas_conv2d_first_s8_dsp"}


def test_the_graphs_reach_the_overflow_of_the_fast_path():
    """Channel 0's left shift is 13 (QuantizeMultiplier of 2^12) and its sums reach 2^17 · 40 > 2^30 / 2^13:
    (acc << 13) · 2 overflows int32, so the fallback is taken, not merely present."""
    from tinyasc.compile.quant import quantize_multiplier

    multiplier, shift = quantize_multiplier(EFFECTIVE_SCALES[0])
    assert shift == 13 and multiplier == 2**30
    graph = _graph("fully_connected")
    weights = graph.tensors[graph.ops[0].inputs[1]].data.astype(np.int64)
    largest = 40 * 127 * (127 - 3)  # all-127 inputs minus the zero point, times channel 0's weights
    assert int(weights[0].sum()) * (127 - 3) == largest
    assert largest << (shift + 1) >= 2**31


@pytest.mark.parametrize("kind", KINDS)
def test_overflowing_requantization_is_bit_exact_on_the_host(kind, tmp_path, only_conv_kernel):
    from tinyasc.compile.verify import verify_on_host

    _keep_im2col(kind, "nrf52840", only_conv_kernel)
    export = _export(kind, "nrf52840", tmp_path)
    assert KERNELS[kind] in {step.kernel for step in export.compiled.steps}
    report = verify_on_host(export.export_dir, num_random=40)
    assert report["bit_exact"] == report["inputs"], report


@pytest.mark.e2e
@pytest.mark.parametrize("board", ["nrf52840", "cortex-m3", "rp2040"])
@pytest.mark.parametrize("kind", KINDS)
def test_overflowing_requantization_is_bit_exact_in_qemu(kind, board, tmp_path, only_conv_kernel):
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    _keep_im2col(kind, board, only_conv_kernel)
    export = _export(kind, board, tmp_path)
    build_firmware(export.export_dir)
    result = run_firmware(export.export_dir)
    assert result.passed, result.failure
