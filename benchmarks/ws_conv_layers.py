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
from tinyasc.compile.ops.ws_conv import DIRECT_IM2COL, DIRECT_IM2COL_DSP, INTEGRAL, INTEGRAL_DSP  # noqa: E402
from tinyasc.compile.ops.mat_mult_call import mat_mult_block  # noqa: E402
from tinyasc.compile.weight_packing import MAT_MULT_BLOCK_PORTABLE, pack_im2col_weights, pack_mat_mult_weights  # noqa: E402
from tinyasc.compile.wsconv import (WSConvShape, integral_dsp_condensed, integral_dsp_scratch_words,  # noqa: E402
                                    integral_scratch_words, op_counts, reference_output, sampled_kernel)
from tinyasc.errors import DoesNotFitError  # noqa: E402

# SoundNet-8 layers (kernel L, conv stride, filters N) and WSNet Table 2 settings (S, C, D); the
# input lengths T are short enough for the Cortex-M4 twin, channels follow the network.
SOUNDNET8 = [(64, 2, 16), (32, 2, 32), (16, 2, 64), (8, 2, 128), (4, 2, 256), (4, 2, 512), (4, 2, 1024), (8, 2, 1024)]
CONFIGS = {
    "S8C4D2": [(4, 4, 2)] * 4 + [(4, 4, 1), (4, 4, 1), (4, 4, 1), (8, 4, 1)],
    "S8C8D2": [(4, 4, 2)] * 4 + [(4, 4, 1), (4, 4, 1), (4, 8, 1), (8, 8, 1)],
}
INPUT_LENGTHS = [2048, 256, 64, 64, 32, 16, 16, 16]


# WSNet mini (tinyasc.models.wsnet.WSNET_MINI, the bench's WSNet): (kernel L, conv stride, filters N,
# max-pool after) and its S8C4D2 setting, 'same' padding, on 1 s of 16 kHz audio.
MINI = [(64, 4, 8, 4), (32, 2, 16, 4), (16, 2, 32, 1), (8, 2, 64, 1), (4, 2, 64, 1), (4, 2, 128, 1)]
MINI_S8C4D2 = [(8, 4, 2)] * 4 + [(8, 4, 1)] * 2


def mini_shapes() -> list[tuple[str, WSConvShape]]:
    shapes, channels, length = [], 1, 16000
    for index, ((kernel, stride, filters, pool), (s, c, d)) in enumerate(zip(MINI, MINI_S8C4D2), 1):
        repeat = c if channels % c == 0 and channels >= c else 1
        shape = WSConvShape(length, channels, kernel, filters * d, max(1, kernel // (s * d)), repeat, stride, "same")
        shapes.append((f"mini{index}", shape))
        channels, length = filters, -(-shape.output_length // pool)
    return shapes


def layer_shapes(config: str) -> list[tuple[str, WSConvShape]]:
    if config == "mini-S8C4D2":
        return mini_shapes()
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


def _conv_params(shape: WSConvShape, data: dict) -> str:
    return f"""static const tas_conv2d_params params = {{
    .input_height = {shape.input_length}, .input_width = 1, .input_depth = {shape.input_channels},
    .filter_height = {shape.kernel_size}, .filter_width = 1, .filter_depth = {shape.input_channels},
    .output_height = {shape.output_length}, .output_width = 1, .output_depth = {shape.filters},
    .stride_height = {shape.stride}, .stride_width = 1, .dilation_height = 1, .dilation_width = 1,
    .pad_height = {shape.pad_before}, .pad_width = 0, .groups = 1, .input_offset = {-data['input_zp']},
    .output_offset = {data['output_zp']}, .act_min = -128, .act_max = 127 }};
"""


def _ws_params(shape: WSConvShape, data: dict) -> str:
    return f"""static const tas_ws_conv_params params = {{
    .input_length = {shape.input_length}, .input_channels = {shape.input_channels},
    .condensed_length = {shape.condensed_length}, .condensed_channels = {shape.condensed_channels},
    .kernel_size = {shape.kernel_size}, .filters = {shape.filters}, .sampling_stride = {shape.sampling_stride},
    .stride = {shape.stride}, .pad_before = {shape.pad_before}, .output_length = {shape.output_length},
    .input_offset = {-data['input_zp']}, .output_offset = {data['output_zp']}, .act_min = {data.get('act_min', -128)}, .act_max = 127 }};
"""


def variant_body(shape: WSConvShape, variant: str, data: dict) -> str:
    """The kernels, constants and the RUN call of one variant (VARIANTS)."""
    n = shape.filters
    call_tail = "tas_weights_multiplier, tas_weights_shift"
    if variant.startswith("direct"):
        kernel = sampled_kernel(data["condensed"], shape)  # OHWI [N, L, 1, M]
        bias = folded_bias(kernel, data["bias"], -data["input_zp"])
        bias_text = f"static const int32_t tas_weights_bias[{n}] = {{ {', '.join(map(str, bias))} }};\n"
        if variant == "direct_rows":
            rows = pack_mat_mult_weights(kernel, MAT_MULT_BLOCK_PORTABLE)
            return (kernel_source("tas_requantize.h", "tas_conv2d_common.h", "tas_mat_mult_s8.h", "tas_conv2d_rows_s8.c")
                    + f"static const int32_t tas_weights_filter[{rows.size}] = {{\n{c_array_body(rows)}\n}};\n"
                    + bias_text + _conv_params(shape, data)
                    + f"#define RUN tas_conv2d_rows_s8(&params, input, tas_weights_filter, tas_weights_bias, {call_tail}, 1, output)\n")
        record = DIRECT_IM2COL_DSP if variant == "direct_im2col_dsp" else DIRECT_IM2COL
        packed = pack_im2col_weights(kernel, 1, mat_mult_block(record))
        window = (shape.kernel_size * shape.input_channels + 3) // 4 * 4
        scratch_words = (6 if record is DIRECT_IM2COL_DSP else 2) * window // 4
        return (kernel_source(*record.files)
                + f"static const int32_t tas_weights_filter[{packed.size}] = {{\n{c_array_body(packed)}\n}};\n"
                + bias_text + _ws_params(shape, data) + f"static int32_t tas_arena[{scratch_words}];\n"
                + f"#define RUN {record.name}(&params, input, tas_weights_filter, tas_weights_bias, {call_tail}, 0, tas_arena, output)\n")
    record = INTEGRAL_DSP if variant == "integral_dsp" else INTEGRAL
    quant_step = "0, " if variant == "integral_dsp" else ""  # per-tensor requantization (layer_data)
    words = integral_dsp_scratch_words(shape) if variant == "integral_dsp" else integral_scratch_words(shape)
    condensed = integral_dsp_condensed(data["condensed"], shape) if variant == "integral_dsp" else data["condensed"]
    return (kernel_source(*record.files)
            + f"static const int8_t tas_weights_condensed[{data['condensed'].size}] = {{\n{c_array_body(condensed)}\n}};\n"
            + f"static const int32_t tas_weights_bias[{n}] = {{ {', '.join(map(str, data['bias']))} }};\n"
            + _ws_params(shape, data) + f"static int32_t tas_arena[{words}];\n"
            + f"#define RUN {record.name}(&params, input, tas_weights_condensed, tas_weights_bias, {call_tail}, {quant_step}tas_arena, output)\n")


def write_export(folder: Path, board: str, shape: WSConvShape, variant: str, data: dict) -> None:
    from tinyasc.firmware.build import render_firmware
    from tinyasc.artifacts.boards import get_board
    from tinyasc.artifacts.manifest import write_manifest

    src = folder / "src"
    src.mkdir(parents=True)
    n, m = shape.filters, shape.input_channels
    body = variant_body(shape, variant, data)
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
        # WSNet's Φ has one scale: one multiplier and shift for every filter.
        "multipliers": np.full(shape.filters, int(rng.integers(2**30, 2**31 - 1))),
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


def measure_direct(shape: WSConvShape, variant: str, board: str, index: int) -> tuple[int | None, int]:
    """Instructions of a direct variant and the filters it was measured on: where the full kernel
    does not fit the twin's flash, the first N' = N/2^k filters that fit, scaled by N / N' (every
    filter costs the same loop in direct convolution)."""
    filters = shape.filters
    while filters >= 1:
        part = WSConvShape(**{**shape.__dict__, "filters": filters})
        with tempfile.TemporaryDirectory() as work:
            measured = measure(part, variant, board, layer_data(part, index), Path(work))
        if measured is not None:
            return measured * shape.filters // filters, filters
        filters //= 2
    return None, 0


def measure_config(config: str, board: str, wanted, variants) -> list[dict]:
    rows = []
    print(f"{'layer':6} {'T':>5} {'M':>5} {'N':>5} {'L':>3} {'s':>3} {'C':>3} "
          + " ".join(f"{v:>18}" for v in variants) + f" {'R':>6} {'fast dir/integ':>16} {'of R':>6}")
    for index, (name, shape) in enumerate(layer_shapes(config), 1):
        if index not in wanted:
            continue
        data = layer_data(shape, index)
        measured, filters = {}, {}
        for variant in variants:
            if variant.startswith("direct"):
                measured[variant], filters[variant] = measure_direct(shape, variant, board, index)
            else:
                with tempfile.TemporaryDirectory() as work:
                    measured[variant] = measure(shape, variant, board, data, Path(work))
        theory = op_counts(shape)["ratio"]
        # The fastest kernels measured on each side (DSP where the variants include them).
        fast = measured.get("direct_im2col_dsp") or measured.get("direct_im2col")
        integral = measured.get("integral_dsp") or measured.get("integral")
        speedup = fast / integral if fast and integral else None
        rows.append({"layer": name, "shape": shape.__dict__, "instructions": measured, "direct_measured_filters": filters,
                     "dense_macs": shape.output_length * shape.kernel_size * shape.input_channels * shape.filters,
                     "theoretical_R": theory, "integral_speedup_vs_fast_direct": speedup,
                     "fraction_of_R": speedup / theory if speedup else None})
        cells = [(f"{measured[v]:,}" + ("*" if filters.get(v, shape.filters) < shape.filters else "")) if measured[v] else "no fit"
                 for v in variants]
        print(f"{name:6} {shape.input_length:5} {shape.input_channels:5} {shape.filters:5} {shape.kernel_size:3} "
              f"{shape.sampling_stride:3} {shape.channel_repeat:3} " + " ".join(f"{c:>18}" for c in cells)
              + f" {theory:6.2f} {(f'{speedup:.2f}x' if speedup else '-'):>16} {(f'{speedup / theory:.2f}' if speedup else '-'):>6}")
    return rows


VARIANTS = ("direct_rows", "direct_im2col", "direct_im2col_dsp", "integral", "integral_dsp")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="all", choices=["all", "mini-S8C4D2", *sorted(CONFIGS)])
    parser.add_argument("--board", default="cortex-m4")
    parser.add_argument("--layers", default="1-8", help="range of layers, e.g. 1-6 or 3")
    parser.add_argument("--variants", nargs="+", default=["direct_im2col_dsp", "integral", "integral_dsp"],
                        choices=VARIANTS, help="kernels to measure (direct_rows: the old portable rows conv)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "ws_conv_layers.json"))
    args = parser.parse_args(argv)
    first, _, last = args.layers.partition("-")
    wanted = range(int(first), int(last or first) + 1)
    configs = [*sorted(CONFIGS), "mini-S8C4D2"] if args.config == "all" else [args.config]
    results = {}
    for config in configs:
        print(f"{config} on {args.board}")
        results[config] = measure_config(config, args.board, wanted, args.variants)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"board": args.board, "variants": list(args.variants), "configs": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
