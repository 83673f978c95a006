"""Measured speed-up of WSNet's integral-image convolution per layer, in QEMU (issue 8, DESIGN §4).

For each weight-sampling layer of a WSNet configuration, two firmware images run the same int8
layer on the same input in the Cortex-M4 twin (mps2-an386, `-icount shift=0`):
  direct    tinyasc's contiguous-window conv kernel on the explicitly sampled int8 kernel
  integral  tas_ws_conv_integral_s8 on the condensed filter
Both are checked bit-exact against the numpy reference by the firmware's self-test. The table
compares the measured instruction ratio with the theoretical op ratio R of DESIGN §4.

    .venv/bin/python benchmarks/ws_conv_layers.py [--config all|S8C4D2|S8C8D2] [--board cortex-m4]

Results go to benchmarks/results/ws_conv_layers.json. Where the full kernel does not fit the
twin's flash (conv7, conv8), direct convolution is measured on the first N' = N/2^k filters that fit
and scaled by N/N' (marked * in the table; `direct_measured_filters` in the JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tinyasc.compile.codegen import c_array_body  # noqa: E402
from tinyasc.compile.kernel_library import model_sections  # noqa: E402
from tinyasc.compile.ops.common import folded_bias  # noqa: E402
from tinyasc.compile.wsconv import WSConvShape, integral_scratch_words, op_counts, reference_output, sampled_kernel  # noqa: E402
from tinyasc.errors import DoesNotFitError  # noqa: E402

# SoundNet-8 layers (kernel L, conv stride, filters N) and WSNet Table 2 settings (S, C, D); the
# input lengths T are short enough for the Cortex-M4 twin, channels follow the network.
SOUNDNET8 = [(64, 2, 16), (32, 2, 32), (16, 2, 64), (8, 2, 128), (4, 2, 256), (4, 2, 512), (4, 2, 1024), (8, 2, 1024)]
CONFIGS = {
    "S8C4D2": [(4, 4, 2)] * 4 + [(4, 4, 1), (4, 4, 1), (4, 4, 1), (8, 4, 1)],
    "S8C8D2": [(4, 4, 2)] * 4 + [(4, 4, 1), (4, 4, 1), (4, 8, 1), (8, 8, 1)],
}
INPUT_LENGTHS = [2048, 256, 64, 64, 32, 16, 16, 16]


def layer_shapes(config: str) -> list[tuple[str, WSConvShape]]:
    shapes, channels = [], 1
    for index, ((kernel, stride, filters), (s, c, d), length) in enumerate(zip(SOUNDNET8, CONFIGS[config], INPUT_LENGTHS), 1):
        repeat = c if channels % c == 0 and channels >= c else 1
        sampling = max(1, max(1, kernel // s) // d)
        shapes.append((f"conv{index}", WSConvShape(length, channels, kernel, filters * d, sampling, repeat, stride, "valid")))
        channels = filters
    return shapes


def kernel_source(*names: str) -> str:
    """The kernels pasted as a generated model.c pastes them (static, with their headers)."""
    pasted = "\n".join(text for _, text in model_sections(names))
    return f"#define TAS_KERNEL static\n{pasted}"


def write_export(folder: Path, board: str, shape: WSConvShape, variant: str, data: dict) -> None:
    from tinyasc.firmware.build import render_firmware
    from tinyasc.artifacts.boards import get_board
    from tinyasc.artifacts.manifest import write_manifest

    src = folder / "src"
    src.mkdir(parents=True)
    n, m = shape.filters, shape.input_channels
    params_common = (
        f".output_offset = {data['output_zp']}, .act_min = -128, .act_max = 127"
    )
    if variant == "direct":
        kernel = sampled_kernel(data["condensed"], shape)  # OHWI [N, L, 1, M]
        bias = folded_bias(kernel, data["bias"], -data["input_zp"])
        body = kernel_source("tas_requantize.h", "tas_conv2d_common.h", "tas_conv2d_rows_s8.c") + f"""
static const int8_t tas_weights_filter[{kernel.size}] = {{
{c_array_body(kernel)}
}};
static const int32_t tas_weights_bias[{n}] = {{ {", ".join(map(str, bias))} }};
static const tas_conv2d_params params = {{
    .input_height = {shape.input_length}, .input_width = 1, .input_depth = {m},
    .filter_height = {shape.kernel_size}, .filter_width = 1, .filter_depth = {m},
    .output_height = {shape.output_length}, .output_width = 1, .output_depth = {n},
    .stride_height = {shape.stride}, .stride_width = 1, .dilation_height = 1, .dilation_width = 1,
    .pad_height = 0, .pad_width = 0, .groups = 1, .input_offset = {-data['input_zp']}, {params_common} }};
#define RUN tas_conv2d_rows_s8(&params, input, tas_weights_filter, tas_weights_bias, tas_weights_multiplier, tas_weights_shift, output)
"""
    else:
        body = kernel_source("tas_requantize.h", "tas_ws_conv_common.h", "tas_ws_conv_integral_s8.c") + f"""
static const int8_t tas_weights_condensed[{data['condensed'].size}] = {{
{c_array_body(data['condensed'])}
}};
static const int32_t tas_weights_bias[{n}] = {{ {", ".join(map(str, data['bias']))} }};
static const tas_ws_conv_params params = {{
    .input_length = {shape.input_length}, .input_channels = {m}, .condensed_length = {shape.condensed_length},
    .condensed_channels = {shape.condensed_channels}, .kernel_size = {shape.kernel_size}, .filters = {n},
    .sampling_stride = {shape.sampling_stride}, .stride = {shape.stride}, .pad_before = 0,
    .output_length = {shape.output_length}, .input_offset = {-data['input_zp']}, {params_common} }};
static int32_t tas_arena[{integral_scratch_words(shape)}];
#define RUN tas_ws_conv_integral_s8(&params, input, tas_weights_condensed, tas_weights_bias, tas_weights_multiplier, tas_weights_shift, tas_arena, output)
"""
    (src / "model.h").write_text(
        "#ifndef TINYASC_MODEL_H\n#define TINYASC_MODEL_H\n#include <stdint.h>\n"
        f"#define TINYASC_INPUT_SIZE {shape.input_length * m}\n#define TINYASC_OUTPUT_SIZE {shape.output_length * n}\n"
        "int tinyasc_invoke(const int8_t *input, int8_t *output);\n#endif\n"
    )
    (src / "model.c").write_text(
        "/* Benchmark of one WS_CONV layer (benchmarks/ws_conv_layers.py). */\n#include <stddef.h>\n#include <stdint.h>\n"
        '#include "model.h"\n' + body + f"""
static const int32_t tas_weights_multiplier[{n}] = {{ {", ".join(map(str, data['multipliers']))} }};
static const int32_t tas_weights_shift[{n}] = {{ {", ".join(map(str, data['shifts']))} }};
int tinyasc_invoke(const int8_t *input, int8_t *output) {{ RUN; return 0; }}
"""
    )
    (src / "test_vectors.h").write_text(
        '#ifndef TINYASC_TEST_VECTORS_H\n#define TINYASC_TEST_VECTORS_H\n#include "model.h"\n#define TINYASC_NUM_TEST_VECTORS 1\n'
        "extern const int8_t tinyasc_test_inputs[1][TINYASC_INPUT_SIZE];\n"
        "extern const int8_t tinyasc_test_outputs[1][TINYASC_OUTPUT_SIZE];\n#endif\n"
    )
    (src / "test_vectors.c").write_text(
        '#include "test_vectors.h"\n'
        f"const int8_t tinyasc_test_inputs[1][TINYASC_INPUT_SIZE] = {{{{\n{c_array_body(data['x'])}\n}}}};\n"
        f"const int8_t tinyasc_test_outputs[1][TINYASC_OUTPUT_SIZE] = {{{{\n{c_array_body(data['expected'])}\n}}}};\n"
    )
    write_manifest(folder, {"name": folder.name, "board": board})
    render_firmware(folder, get_board(board))


def layer_data(shape: WSConvShape, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    data = {
        "x": rng.integers(-128, 128, (shape.input_length, shape.input_channels)),
        "condensed": rng.integers(-127, 128, (shape.condensed_length, shape.condensed_channels)),
        "bias": rng.integers(-5000, 5000, shape.filters),
        "multipliers": rng.integers(2**30, 2**31 - 1, shape.filters),
        "shifts": np.full(shape.filters, -12 - int(np.log2(max(1, shape.kernel_size * shape.input_channels)) // 2)),
        "input_zp": int(rng.integers(-20, 20)),
        "output_zp": int(rng.integers(-20, 20)),
    }
    data["expected"] = reference_output(data["x"], data["condensed"], data["bias"], data["multipliers"], data["shifts"],
                                        shape, data["input_zp"], data["output_zp"])
    return data


def measure(shape: WSConvShape, variant: str, board: str, data: dict, work: Path) -> int | None:
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    folder = work / variant
    write_export(folder, board, shape, variant, data)
    try:
        build_firmware(folder)
    except DoesNotFitError:
        return None
    result = run_firmware(folder)
    if not result.passed:
        raise SystemExit(f"{variant} kernel is not bit-exact on {shape}:\n{result.log}")
    return result.instructions_per_inference


def measure_config(config: str, board: str, wanted) -> list[dict]:
    rows = []
    print(f"{'layer':6} {'T':>5} {'M':>5} {'N':>5} {'L':>3} {'s':>3} {'C':>3}  {'direct insns':>13} {'integral insns':>15} {'measured':>9} {'R':>6} {'of R':>6}")
    for index, (name, shape) in enumerate(layer_shapes(config), 1):
        if index not in wanted:
            continue
        data = layer_data(shape, index)
        with tempfile.TemporaryDirectory() as work:
            direct = measure(shape, "direct", board, data, Path(work))
            integral = measure(shape, "integral", board, data, Path(work))
        direct_filters = shape.filters
        while direct is None and direct_filters > 1:
            # The full kernel does not fit the twin's flash: measure the first N' filters (every
            # filter costs the same loop in direct convolution) and scale by N / N'.
            direct_filters //= 2
            part = WSConvShape(**{**shape.__dict__, "filters": direct_filters})
            with tempfile.TemporaryDirectory() as work:
                part_instructions = measure(part, "direct", board, layer_data(part, index), Path(work))
            if part_instructions is not None:
                direct = part_instructions * shape.filters // direct_filters
        theory = op_counts(shape)["ratio"]
        measured = direct / integral if direct and integral else None
        rows.append({"layer": name, "shape": shape.__dict__, "direct_instructions": direct,
                     "direct_measured_filters": direct_filters,
                     "integral_instructions": integral, "measured_speedup": measured, "theoretical_R": theory,
                     "fraction_of_R": measured / theory if measured else None})
        direct_text = (f"{direct:,}" + ("*" if direct_filters < shape.filters else "")) if direct else "no fit"
        print(f"{name:6} {shape.input_length:5} {shape.input_channels:5} {shape.filters:5} {shape.kernel_size:3} "
              f"{shape.sampling_stride:3} {shape.channel_repeat:3}  {direct_text:>13} {integral:>15,} "
              f"{(f'{measured:.2f}x' if measured else '-'):>9} {theory:6.2f} {(f'{measured / theory:.2f}' if measured else '-'):>6}")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="all", choices=["all", *sorted(CONFIGS)])
    parser.add_argument("--board", default="cortex-m4")
    parser.add_argument("--layers", default="1-8", help="range of layers, e.g. 1-6 or 3")
    args = parser.parse_args(argv)
    first, _, last = args.layers.partition("-")
    wanted = range(int(first), int(last or first) + 1)
    configs = sorted(CONFIGS) if args.config == "all" else [args.config]
    results = {}
    for config in configs:
        print(f"{config} on {args.board}")
        results[config] = measure_config(config, args.board, wanted)
    out = REPO / "benchmarks" / "results" / "ws_conv_layers.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"board": args.board, "configs": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
