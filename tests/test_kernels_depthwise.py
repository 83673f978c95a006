"""The depthwise kernels (tas_depthwise_conv2d_s8 and its DSP twin, channels in SIMD lanes) are
bit-exact with TFLM's reference kernels: converted Keras models on the host (ASan + UBSan; the DSP
kernel through tas_dsp.h's portable twins) and in QEMU on the Cortex-M4 and M3 twins; multipliers
other than 1 and dilation keep the reference grouped conv."""

import numpy as np
import pytest

from tinyasc.artifacts.boards import get_board
from tinyasc.compile.codegen import compile_graph, render_model_sources, write_sources
from tinyasc.compile.host import build_host_runner, run_host
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.tflite_reader import read_tflite
from tinyasc.compile.weight_packing import pack_depthwise_dsp_weights

DSP, PORTABLE, REFERENCE = "tas_depthwise_conv2d_s8_dsp", "tas_depthwise_conv2d_s8", "tas_conv2d_s8"

# name: (input HWC, kernel HW, strides, padding, depth multiplier, dilation, activation)
DEPTHWISE_CASES = {
    "3x3_same_1_channel": ((7, 6, 1), (3, 3), (1, 1), "same", 1, 1, "relu"),
    "3x3_same_3_channels": ((6, 5, 3), (3, 3), (1, 1), "same", 1, 1, None),
    "3x3_same_stride2_5_channels": ((9, 8, 5), (3, 3), (2, 2), "same", 1, 1, "relu6"),
    "3x3_valid_17_channels": ((7, 7, 17), (3, 3), (1, 1), "valid", 1, 1, None),
    "3x3_same_stride2_even_input_64_channels": ((10, 6, 64), (3, 3), (2, 2), "same", 1, 1, "relu"),
    "3x3_same_on_a_1x1_image_8_channels": ((1, 1, 8), (3, 3), (1, 1), "same", 1, 1, None),
    "2x2_stride3_over_the_kernel_same_6_channels": ((10, 9, 6), (2, 2), (3, 3), "same", 1, 1, None),
    "5x3_same_pads_every_side_20_channels": ((6, 7, 20), (5, 3), (1, 1), "same", 1, 1, "relu"),
    "1x4_same_stride2_4_channels": ((3, 11, 4), (1, 4), (1, 2), "same", 1, 1, None),
    "kx1_k3_valid_40_channels_streaming": ((30, 1, 40), (3, 1), (1, 1), "valid", 1, 1, None),
    "kx1_k5_valid_12_channels": ((28, 1, 12), (5, 1), (1, 1), "valid", 1, 1, None),
    "kx1_k10_valid_16_channels": ((24, 1, 16), (10, 1), (1, 1), "valid", 1, 1, "relu"),
    "kx1_k15_valid_9_channels": ((15, 1, 9), (15, 1), (1, 1), "valid", 1, 1, None),
    "kx1_k5_same_stride2_7_channels": ((13, 1, 7), (5, 1), (2, 1), "same", 1, 1, None),
    "4x4_same_even_runs_clipped_both_sides_7_channels": ((5, 6, 7), (4, 4), (1, 1), "same", 1, 1, "relu"),
    "5x5_same_on_a_2x1_image_12_channels": ((2, 1, 12), (5, 5), (1, 1), "same", 1, 1, None),
    "4x1_same_stride2_even_column_clipped_8_channels": ((11, 3, 8), (4, 1), (2, 1), "same", 1, 1, "relu6"),
    "multiplier_2_stays_on_the_reference": ((6, 5, 3), (3, 3), (1, 1), "same", 2, 1, None),
    "dilation_2_stays_on_the_reference": ((9, 7, 4), (3, 3), (1, 1), "same", 1, 2, None),
}


def _depthwise_model(shape, kernel, strides, padding, multiplier, dilation, activation, seed):
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    x = keras.layers.Input(shape)
    layer = keras.layers.DepthwiseConv2D(kernel, strides=strides, padding=padding, depth_multiplier=multiplier,
                                         dilation_rate=dilation, activation=activation)
    model = keras.Model(x, layer(x))
    rng = np.random.default_rng(seed)
    weights, bias = layer.get_weights()
    layer.set_weights([rng.normal(0, 0.5, weights.shape), rng.normal(0, 0.3, bias.shape)])
    return model


@pytest.fixture(scope="module")
def depthwise_tflites(tmp_path_factory):
    from tinyasc.convert import quantize_int8

    folder = tmp_path_factory.mktemp("depthwise")
    paths = {}
    for seed, (name, case) in enumerate(DEPTHWISE_CASES.items()):
        model = _depthwise_model(*case, seed=seed)
        calibration = np.random.default_rng(seed).normal(0.2, 1, (32,) + case[0]).astype(np.float32)
        paths[name] = quantize_int8(model, calibration, folder / f"{name}.tflite")
    return paths


def _expected_kernel(name, board_name):
    _, _, _, _, multiplier, dilation, _ = DEPTHWISE_CASES[name]
    if multiplier != 1 or dilation != 1:
        return REFERENCE
    return DSP if "dsp" in get_board(board_name).extensions else PORTABLE


# ---- weight packing ----


def test_dsp_packing_puts_channel_pairs_where_sxtab16_puts_the_inputs():
    weights = np.arange(1, 6 * 2 + 1, dtype=np.int8).reshape(6, 2, 1, 1)  # 6 channels, 2 taps: [C, H, W, 1]
    weights[0, 0, 0, 0] = -3  # negative weights stay negative in their halfword

    def pair(low, high):
        return (low & 0xFFFF) | (high << 16)

    # channel c's taps are 2c+1, 2c+2, doubled; block 0 = channels 0..3, per tap (c0 | c2), (c1 | c3)
    block = [pair(-6, 10), pair(6, 14), pair(4, 12), pair(8, 16)]
    tail = [18, 20, 22, 24]  # channels 4 and 5 alone, all taps each
    assert pack_depthwise_dsp_weights(weights).tolist() == block + tail


# ---- bit-exactness on the host (sanitizers on) ----


@pytest.mark.parametrize("board_name", ["nrf52840", "cortex-m3"])
@pytest.mark.parametrize("name", list(DEPTHWISE_CASES))
def test_depthwise_is_bit_exact_with_tflm_on_the_host(name, board_name, depthwise_tflites, tmp_path):
    path = depthwise_tflites[name]
    graph = read_tflite(path)
    compiled = compile_graph(graph, board=get_board(board_name))
    assert [s.kernel for s in compiled.steps] == [_expected_kernel(name, board_name)]
    write_sources(render_model_sources(compiled, path.name, []), tmp_path / "src")
    runner = build_host_runner(tmp_path / "src", tmp_path / "host_runner")
    x = graph.tensors[graph.inputs[0]]
    inputs = np.random.default_rng(5).integers(-128, 128, (30, x.num_elements), dtype=np.int8)
    actual = run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)
    expected = tflm_outputs(path.read_bytes(), inputs, x.shape)
    assert len(np.unique(expected)) > 2, "degenerate case: outputs nearly constant"
    assert np.array_equal(actual, expected)


# ---- the real instructions in QEMU ----


def depthwise_chain():
    """Depthwise layers of every kind the fast kernels take, chained: 3×3 same (stride 1 and 2),
    a 1×1 conv to an odd channel count, k×1 valid, stride over the kernel, and multiplier 2."""
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    L = keras.layers
    x = inputs = keras.Input((12, 10, 5))
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = L.Conv2D(17, 1, activation="relu")(x)
    x = L.DepthwiseConv2D((3, 1), padding="valid")(x)
    x = L.DepthwiseConv2D(2, strides=3, padding="same", activation="relu6")(x)
    x = L.DepthwiseConv2D((1, 2), depth_multiplier=2, padding="same")(x)
    return keras.Model(inputs, x)


@pytest.mark.e2e
@pytest.mark.parametrize("board_name, kernel", [("nrf52840", DSP), ("cortex-m3", PORTABLE), ("rp2040", PORTABLE)])
def test_depthwise_chain_runs_bit_exact_in_qemu(board_name, kernel, tmp_path):
    from tinyasc.compile.export import export_model
    from tinyasc.convert import quantize_int8
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware
    from tinyasc.train import seed_everything

    seed_everything(0)
    calibration = np.random.default_rng(0).normal(0, 1, (32, 12, 10, 5)).astype(np.float32)
    tflite = quantize_int8(depthwise_chain(), calibration, tmp_path / "depthwise_chain.tflite")
    export = export_model(tflite, board_name=board_name, out_root=tmp_path, name="depthwise_chain")
    kernels = [s.kernel for s in export.compiled.steps]
    # the whole kernel, or its rows variant where a row stream runs the layer in place (rowstream.py)
    assert sum(k in (kernel, f"{kernel}_rows") for k in kernels) == 4 and kernels[-1] == REFERENCE
    assert f"{kernel}_rows" in kernels
    build_firmware(export.export_dir)
    result = run_firmware(export.export_dir, timeout_s=120)
    assert result.passed, result.log
    assert result.mismatches == 0 and result.vectors > 0


def depthwise_3x3_runs_chain():
    """3×3 layers whose channels fill blocks of 4 (C % 4 == 0), the DSP kernel's assembly runs:
    whole windows in runs, the padded edges' 3×2, 2×3 and 2×2 windows on every side and corner,
    stride 2 with the bottom and right padded, a 2×2 image (all four corners) and a 1×1 image."""
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    L = keras.layers
    x = inputs = keras.Input((7, 6, 8))
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    x = L.Conv2D(12, 1)(x)
    x = L.DepthwiseConv2D(3, padding="same")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = L.DepthwiseConv2D(3, padding="same")(x)
    return keras.Model(inputs, x)


@pytest.mark.e2e
def test_depthwise_3x3_assembly_runs_bit_exact_in_qemu(tmp_path):
    from tinyasc.compile.export import export_model
    from tinyasc.convert import quantize_int8
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware
    from tinyasc.train import seed_everything

    seed_everything(0)
    calibration = np.random.default_rng(1).normal(0, 1, (32, 7, 6, 8)).astype(np.float32)
    tflite = quantize_int8(depthwise_3x3_runs_chain(), calibration, tmp_path / "depthwise_runs.tflite")
    export = export_model(tflite, board_name="nrf52840", out_root=tmp_path, name="depthwise_runs")
    kernels = [s.kernel for s in export.compiled.steps]
    assert sum(k in (DSP, f"{DSP}_rows") for k in kernels) == 7
    build_firmware(export.export_dir)
    result = run_firmware(export.export_dir, timeout_s=120)
    assert result.passed, result.log
    assert result.mismatches == 0 and result.vectors > 0


# ---- the one-floor requantization (tas_requantize.h) ----

ONE_FLOOR_CHECK = r"""
#include <stdio.h>
#include "tas_requantize.h"
static uint64_t state = 88172645463325252ull;
static uint32_t next(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return (uint32_t)state; }
int main(void)
{
    const int32_t edges[] = {0, 1, -1, 2, -2, INT32_MAX, INT32_MIN, INT32_MIN + 1, 1 << 30, -(1 << 30)};
    long mismatches = 0;
    for (long i = 0; i < 5000000L; ++i) {
        int32_t acc = i % 7 == 0 ? edges[next() % 10] : (int32_t)next();
        if (i % 3 == 0) acc >>= next() % 31;
        int32_t multiplier = (int32_t)((1u << 30) + next() % (1u << 30));
        if (i % 11 == 0) multiplier = (int32_t[]){0, 1 << 30, INT32_MAX}[next() % 3];
        const int32_t shift = (int32_t)(next() % 40) - 31;
        mismatches += tas_requantize_positive_one_floor(acc, multiplier, shift) != tas_requantize(acc, multiplier, shift);
    }
    printf("%ld\n", mismatches);
    return 0;
}
"""


def test_one_floor_requantization_equals_tflites_double_rounding(tmp_path):
    import subprocess

    from tinyasc.compile.kernel_library import KERNELS_DIR

    (tmp_path / "check.c").write_text(ONE_FLOOR_CHECK)
    binary = tmp_path / "check"
    subprocess.run(["gcc", "-O2", "-fsanitize=undefined", "-fno-sanitize-recover", f"-I{KERNELS_DIR}",
                    str(tmp_path / "check.c"), "-o", str(binary)], check=True)
    assert subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.strip() == "0"


OUTPUT_OFFSETS = (-128, -3, 0, 5, 127)


def test_the_requantization_table_gives_tflites_double_rounding(tmp_path):
    """tas_depthwise_output with the table pack_depthwise_requantization writes equals
    tas_requantize + offset + clamp, for every shift TFLite makes (-31..7), extreme sums and
    output offsets; so does tas_depthwise_output_fast (the kernels' output stage when every right
    shift is 1..22) on those channels, with a narrower clamp too."""
    import subprocess

    from tinyasc.compile.kernel_library import KERNELS_DIR
    from tinyasc.compile.weight_packing import pack_depthwise_requantization

    rng = np.random.default_rng(0)
    shifts = np.concatenate([np.arange(-31, 8), rng.integers(-12, 2, 200)]).astype(np.int32)
    multipliers = rng.integers(2**30, 2**31, shifts.size).astype(np.int32)
    multipliers[:3] = [0, 2**30, 2**31 - 1]
    offset = -3
    accs = np.concatenate([rng.integers(-2**31, 2**31, 3000), rng.integers(-40000, 40000, 3000),
                           [0, 1, -1, 2**31 - 1, -2**31]]).astype(np.int32)

    def c_array(name, values):
        return f"static const int32_t {name}[] = {{{', '.join(str(int(v)) for v in np.ravel(values))}}};"

    source = "\n".join([
        "#include <stdio.h>", '#include "tas_depthwise_common.h"',
        c_array("multipliers", multipliers), c_array("shifts", shifts), c_array("accs", accs),
        *(c_array(f"table_{i}", pack_depthwise_requantization(multipliers, shifts, offset))
          for i, offset in enumerate(OUTPUT_OFFSETS)),
        f"static const int32_t *const tables[] = {{{', '.join(f'table_{i}' for i in range(len(OUTPUT_OFFSETS)))}}};",
        f"static const int32_t offsets[] = {{{', '.join(map(str, OUTPUT_OFFSETS))}}};",
        "int main(void) {",
        "    long mismatches = 0;",
        f"    for (int t = 0; t < {len(OUTPUT_OFFSETS)}; ++t) for (int c = 0; c < {shifts.size}; ++c) {{",
        "        const tas_depthwise_output_stage stage = {offsets[t], -128, 127};",
        f"        for (int i = 0; i < {accs.size}; ++i) {{",
        "            const int32_t exact = tas_requantize(accs[i], multipliers[c], shifts[c]) + offsets[t];",
        "            const int32_t *row = tables[t] + TAS_DEPTHWISE_REQUANT_WORDS * c;",
        "            mismatches += tas_depthwise_output(stage, accs[i], row) != tas_clamp(exact, -128, 127);",
        "            if (row[1] >= 0) {",
        "                const tas_depthwise_output_stage narrow = {offsets[t], -20, 90};",
        "                mismatches += tas_depthwise_output_fast(stage, accs[i], row) != tas_clamp(exact, -128, 127);",
        "                mismatches += tas_depthwise_output_fast(narrow, accs[i], row) != tas_clamp(exact, -20, 90);",
        "            }",
        "        }",
        "    }",
        '    printf("%ld\\n", mismatches);',
        "    return 0;",
        "}",
    ])
    (tmp_path / "check.c").write_text(source)
    binary = tmp_path / "check"
    subprocess.run(["gcc", "-O2", "-fsanitize=undefined", "-fno-sanitize-recover", f"-I{KERNELS_DIR}",
                    str(tmp_path / "check.c"), "-o", str(binary)], check=True)
    assert subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.strip() == "0"
