"""The integral-image WS_CONV kernel in C equals the int8 reference (explicitly sampled kernel,
TFLite's conv arithmetic) bit for bit on the host with ASan + UBSan, over random shapes, sampling
strides, channel repeats, conv strides and paddings; and the op counts follow DESIGN §4."""

import subprocess

import numpy as np
import pytest

from tinyasc.compile.wsconv import (WSConvShape, integral_dsp_condensed, integral_dsp_reads_in_place, integral_fold,
                                    integral_scratch_words, op_counts, reference_output)
from tinyasc.paths import TEMPLATES_DIR

PARAMS = ["input_length", "input_channels", "condensed_length", "condensed_channels", "kernel_size", "filters",
          "sampling_stride", "stride", "pad_before", "output_length", "input_offset", "output_offset", "act_min", "act_max"]

HARNESS = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "tas_requantize.h"
#include "tas_ws_conv_common.h"
#include "tas_dsp.h"
#include KERNEL_SOURCE

static void *read_all(size_t bytes) {
    void *data = malloc(bytes ? bytes : 1);
    if (fread(data, 1, bytes, stdin) != bytes) { fprintf(stderr, "short input\n"); exit(2); }
    return data;
}

int main(void) {
    tas_ws_conv_params p;
    int32_t *fields = read_all(sizeof(int32_t) * 14);
    p.input_length = fields[0]; p.input_channels = fields[1]; p.condensed_length = fields[2];
    p.condensed_channels = fields[3]; p.kernel_size = fields[4]; p.filters = fields[5];
    p.sampling_stride = fields[6]; p.stride = fields[7]; p.pad_before = fields[8]; p.output_length = fields[9];
    p.input_offset = fields[10]; p.output_offset = fields[11]; p.act_min = fields[12]; p.act_max = fields[13];
    int8_t *input = read_all((size_t)(p.input_length * p.input_channels));
    int8_t *condensed = read_all((size_t)(p.condensed_length * p.condensed_channels));
    int32_t *bias = read_all(sizeof(int32_t) * (size_t)p.filters);
    int32_t *multiplier = read_all(sizeof(int32_t) * (size_t)p.filters);
    int32_t *shift = read_all(sizeof(int32_t) * (size_t)p.filters);
    int32_t *scratch = malloc(sizeof(int32_t) * (size_t)SCRATCH_WORDS(&p));
    int8_t *output = malloc((size_t)(p.output_length * p.filters));
#ifdef QUANT_STEP
    /* One multiplier and shift for every filter: the per-tensor path reads only the first. */
    int32_t quant_step = 0;
    for (int32_t n = 1; n < p.filters; ++n) {
        if (multiplier[n] != multiplier[0] || shift[n] != shift[0]) quant_step = 1;
    }
    KERNEL(&p, input, condensed, bias, multiplier, shift, quant_step, scratch, output);
#else
    KERNEL(&p, input, condensed, bias, multiplier, shift, scratch, output);
#endif
    fwrite(output, 1, (size_t)(p.output_length * p.filters), stdout);
    free(fields); free(input); free(condensed); free(bias); free(multiplier); free(shift); free(scratch); free(output);
    return 0;
}
"""


# The portable kernel and the DSP one (on the host, tas_dsp.h's plain-C SMLAD: QEMU runs the instruction).
KERNELS = {
    "portable": ("tas_ws_conv_integral_s8", "tas_ws_conv_scratch_words", False),
    "dsp": ("tas_ws_conv_integral_s8_dsp", "tas_ws_conv_dsp_scratch_words", True),  # takes quant_step
}


@pytest.fixture(scope="module", params=sorted(KERNELS))
def integral_kernel(tmp_path_factory, request):
    name, scratch_words, quant_step = KERNELS[request.param]
    folder = tmp_path_factory.mktemp("ws_conv")
    (folder / "main.c").write_text(HARNESS)
    exe = folder / ("ws_conv_dsp" if quant_step else "ws_conv")  # run_integral gives the DSP kernel its Φ layout
    subprocess.run(
        ["gcc", "-O1", "-g", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
         "-fno-sanitize-recover=all", f'-DKERNEL_SOURCE="{name}.c"', f"-DKERNEL={name}", f"-DSCRATCH_WORDS={scratch_words}", *(["-DQUANT_STEP"] if quant_step else []),
         "-I", str(TEMPLATES_DIR / "kernels"), str(folder / "main.c"), "-o", str(exe)],
        check=True,
    )
    return exe


def run_integral(exe, x, condensed, bias, multipliers, shifts, shape, input_zp, output_zp):
    fields = [shape.input_length, shape.input_channels, shape.condensed_length, shape.condensed_channels,
              shape.kernel_size, shape.filters, shape.sampling_stride, shape.stride, shape.pad_before,
              shape.output_length, -input_zp, output_zp, -128, 127]
    dsp = exe.name.endswith("_dsp")
    phi = integral_dsp_condensed(condensed, shape) if dsp else np.asarray(condensed, np.int8)
    blob = b"".join([
        np.asarray(fields, np.int32).tobytes(), x.astype(np.int8).tobytes(), phi.tobytes(),
        np.asarray(bias, np.int32).tobytes(), np.asarray(multipliers, np.int32).tobytes(), np.asarray(shifts, np.int32).tobytes(),
    ])
    result = subprocess.run([str(exe)], input=blob, capture_output=True, env={"ASAN_OPTIONS": "detect_leaks=0"})
    assert result.returncode == 0, result.stderr.decode()
    return np.frombuffer(result.stdout, np.int8).reshape(shape.output_length, shape.filters)


def random_case(seed):
    rng = np.random.default_rng(seed)
    channel_repeat = int(rng.choice([1, 2, 4]))
    shape = WSConvShape(
        input_length=int(rng.integers(8, 60)),
        input_channels=channel_repeat * int(rng.integers(1, 6 if seed < 40 else 11)),  # later seeds: M* up to 10
        kernel_size=int(rng.integers(1, 9)),
        filters=int(rng.integers(1, 12)),
        sampling_stride=int(rng.integers(1, 5)),
        channel_repeat=channel_repeat,
        stride=int(rng.integers(1, 4)),
        padding=str(rng.choice(["valid", "same"])),
    )
    if shape.output_length < 1:
        shape = WSConvShape(**{**shape.__dict__, "padding": "same"})
    x = rng.integers(-128, 128, (shape.input_length, shape.input_channels))
    condensed = rng.integers(-127, 128, (shape.condensed_length, shape.condensed_channels))
    bias = rng.integers(-20000, 20000, shape.filters)
    multipliers = rng.integers(2**30, 2**31 - 1, shape.filters)
    shifts = rng.integers(-14, -6, shape.filters) if seed % 4 else rng.integers(-2, 3, shape.filters)  # also 0 and left shifts
    if seed % 2:  # per-tensor requantization, as WSNet's one-scale Φ gives
        multipliers, shifts = np.full(shape.filters, multipliers[0]), np.full(shape.filters, shifts[0])
    return shape, x, condensed, bias, multipliers, shifts, int(rng.integers(-128, 128)), int(rng.integers(-128, 128))


@pytest.mark.parametrize("seed", range(56))
def test_integral_image_kernel_is_bit_exact_with_the_reference(integral_kernel, seed):
    shape, x, condensed, bias, multipliers, shifts, input_zp, output_zp = random_case(seed)
    expected = reference_output(x, condensed, bias, multipliers, shifts, shape, input_zp, output_zp)
    actual = run_integral(integral_kernel, x, condensed, bias, multipliers, shifts, shape, input_zp, output_zp)
    np.testing.assert_array_equal(actual, expected, err_msg=str(shape))


def test_extreme_values_wrap_harmlessly(integral_kernel):
    # Long input, all-extreme values: the uint32 diagonal sums wrap, the differences stay exact.
    shape = WSConvShape(input_length=3000, input_channels=8, kernel_size=8, filters=16, sampling_stride=1, channel_repeat=1)
    x = np.full((3000, 8), 127)
    condensed = np.full((shape.condensed_length, 8), 127)
    bias, multipliers, shifts = np.zeros(16), np.full(16, 2**30), np.full(16, -12)
    expected = reference_output(x, condensed, bias, multipliers, shifts, shape, -128, 0)
    assert np.array_equal(run_integral(integral_kernel, x, condensed, bias, multipliers, shifts, shape, -128, 0), expected)


@pytest.mark.parametrize("x_value, input_zp", [(127, -128), (-128, 127)])
def test_channel_presums_at_the_int16_limit(integral_kernel, x_value, input_zp):
    # C = 128 repeats of x' = ±255: |F'| = 32,640, the most the DSP kernel's int16 pairs may hold
    # (its kernel record stops at C = 128).
    shape = WSConvShape(input_length=12, input_channels=256, kernel_size=3, filters=5, sampling_stride=1, channel_repeat=128)
    x = np.full((12, 256), x_value)
    condensed = np.random.default_rng(5).integers(-127, 128, (shape.condensed_length, 2))
    bias, multipliers, shifts = np.zeros(5), np.full(5, 2**30), np.full(5, -16)
    expected = reference_output(x, condensed, bias, multipliers, shifts, shape, input_zp, 0)
    np.testing.assert_array_equal(run_integral(integral_kernel, x, condensed, bias, multipliers, shifts, shape, input_zp, 0),
                                  expected)


@pytest.mark.parametrize("condensed_channels, repeat, filters", [
    (8, 1, 7), (12, 2, 7), (16, 4, 7), (6, 2, 7), (7, 1, 7), (10, 1, 7), (24, 1, 7),  # Φ widened: 4-, 2-, 1-pair passes
    (8, 1, 520), (12, 2, 400), (16, 4, 300), (20, 1, 250), (28, 1, 150),  # Φ large: read in place, 16/8/4-channel passes
])
def test_wide_condensed_filters(integral_kernel, condensed_channels, repeat, filters):
    # The DSP kernel widens Φ into int16 pairs unless that would take over WIDENED_WORDS_MAX words and M* is a
    # multiple of 4 from 8 up: then it reads Φ in place (SXTB16 lanes).
    rng = np.random.default_rng(condensed_channels)
    shape = WSConvShape(input_length=23, input_channels=condensed_channels * repeat, kernel_size=5, filters=filters,
                        sampling_stride=2, channel_repeat=repeat, stride=2, padding="same")
    assert integral_dsp_reads_in_place(shape) == (filters > 7)
    x = rng.integers(-128, 128, (23, shape.input_channels))
    condensed = rng.integers(-127, 128, (shape.condensed_length, condensed_channels))
    bias = rng.integers(-9000, 9000, filters)
    multipliers, shifts = rng.integers(2**30, 2**31 - 1, filters), np.full(filters, -11)
    expected = reference_output(x, condensed, bias, multipliers, shifts, shape, 17, -5)
    np.testing.assert_array_equal(run_integral(integral_kernel, x, condensed, bias, multipliers, shifts, shape, 17, -5),
                                  expected)


@pytest.mark.parametrize("length, channels, kernel, filters, step, stride, padding, repeat", [
    (101, 1, 16, 6, 4, 4, "same", 1),   # WSNet mini's first layer in small: odd padding, a partial last block
    (50, 2, 8, 5, 2, 2, "same", 1),     # two channels, C = 1
    (64, 1, 12, 4, 6, 3, "valid", 1),
    (37, 3, 6, 3, 2, 2, "same", 1),
    (41, 16, 8, 9, 2, 2, "same", 4),    # C > 1: F' of each row side by side (S8C4D2's conv2/conv3 pattern)
    (30, 12, 6, 5, 3, 3, "valid", 2),
    (33, 32, 4, 600, 2, 2, "same", 4),  # Φ read in place on block rows of 16 channels
])
def test_strided_layers_on_block_rows(integral_kernel, length, channels, kernel, filters, step, stride, padding, repeat):
    # The stride dividing L and s: the DSP kernel folds `stride` time steps into one block row.
    shape = WSConvShape(length, channels, kernel, filters, step, repeat, stride, padding)
    assert integral_fold(shape) == stride
    rng = np.random.default_rng(length)
    x = rng.integers(-128, 128, (length, channels))
    condensed = rng.integers(-127, 128, (shape.condensed_length, channels // repeat))
    bias, multipliers, shifts = rng.integers(-9000, 9000, filters), np.full(filters, 1518500250), np.full(filters, -9)
    expected = reference_output(x, condensed, bias, multipliers, shifts, shape, -7, 3)
    np.testing.assert_array_equal(run_integral(integral_kernel, x, condensed, bias, multipliers, shifts, shape, -7, 3),
                                  expected)


def test_op_counts_follow_design_section_4():
    # A deep WSNet layer: L=4, M=512, N=1024, s=1, C=8 → the integral image is far cheaper.
    deep = op_counts(WSConvShape(100, 512, 4, 1024, 1, 8))
    assert deep["direct"] == 4 * 512 * 1024
    assert deep["integral"] == 512 - 64 + (4 + 1023) * (64 + 1) + 1024
    assert deep["ratio"] > 20
    # The first layer (M = 1) gains little or nothing (DESIGN §4).
    assert op_counts(WSConvShape(16000, 1, 64, 16, 8, 1))["ratio"] < 5
    assert integral_scratch_words(WSConvShape(100, 512, 4, 1024, 1, 8)) == 64 + 2 * (1027 + 1) + 4 * 1024


@pytest.mark.e2e
def test_integral_kernel_is_bit_exact_and_faster_in_qemu(tmp_path):
    """One WSNet layer (S8C4D2 conv3 shape) in the Cortex-M4 twin: both firmware images pass their
    bit-exact self-test, and the DSP integral image needs under a fifth of the instructions of the
    fast direct conv (im2col + SMLAD mat-mult)."""
    import sys

    from tinyasc.paths import REPO_ROOT

    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    import ws_conv_layers

    shape = WSConvShape(input_length=24, input_channels=32, kernel_size=16, filters=128, sampling_stride=2,
                        channel_repeat=4, stride=2)
    data = ws_conv_layers.layer_data(shape, seed=3)
    direct = ws_conv_layers.measure(shape, "direct_im2col_dsp", "cortex-m4", data, tmp_path)
    integral = ws_conv_layers.measure(shape, "integral_dsp", "cortex-m4", data, tmp_path)
    # 5.6× when measured (418,800 vs 74,320: block rows of 2 steps, Φ widened to int16 pairs, SSAT outputs;
    # 3.0× before); the bound keeps about 10 % margin.
    assert integral < direct / 5.0, (direct, integral)


# Shapes for the DSP kernel's two-row passes in the Cortex-M4 twin (the host fuzz builds only the plain-C twin):
# Φ widened in slabs (every row pairs) or read in place in slabs (pairs and single rows mixed at stride 3, only
# single rows at stride 1), one row a pass on Φ widened in 16-channel slabs, L* mod 4 = 0…3 (the asm loops'
# entry points), padding on both sides, an odd number of rows, folded block rows in slabs, M* not a multiple of
# 8 (the older one-row passes), a ReLU and accumulators whose double overflows (the output row's slow path).
QEMU_SHAPES = [  # (T, M, L, N, s, C, stride, padding, act_min, huge_bias)
    (21, 8, 4, 37, 1, 1, 2, "same", None, False),     # widened slabs, L* = 40
    (20, 16, 6, 20, 1, 2, 2, "valid", 3, False),     # widened slabs, L* = 25, ReLU
    (13, 24, 2, 25, 1, 3, 2, "same", None, True),    # widened slabs, L* = 26, overflowing doubles
    (15, 16, 4, 519, 1, 1, 2, "same", None, False),  # in place in slabs, L* = 522
    (9, 16, 4, 521, 1, 1, 2, "valid", None, False),  # in place in slabs, L* = 524
    (12, 32, 4, 598, 1, 2, 3, "valid", -20, False),  # in place, pairs and single rows, L* = 601, ReLU
    (7, 16, 4, 512, 1, 1, 1, "same", None, False),   # in place, single rows only (stride 1), L* = 515
    (9, 8, 4, 1024, 2, 2, 2, "same", None, False),   # folded block rows (fold 2) in slabs
    (11, 12, 3, 700, 1, 1, 2, "same", None, False),  # M* = 12 in place: no slabs
    (10, 16, 3, 40, 1, 1, 2, "same", None, False),   # L odd: every row is read, one-row passes
    (14, 16, 3, 20, 1, 1, 1, "same", 5, False),      # one row a pass, Φ widened in 16-channel slabs, L* = 22
    (9, 64, 5, 11, 1, 2, 1, "valid", None, False),   # two 16-channel slabs, L* = 15
    (24, 32, 16, 13, 2, 4, 2, "same", None, False),  # folded block rows in a 16-channel slab, L* = 20 blocks
    (10, 16, 2, 4, 1, 1, 1, "same", None, True),     # L* = 5, overflowing doubles
]


@pytest.mark.e2e
@pytest.mark.parametrize("case", QEMU_SHAPES, ids=lambda case: "-".join(map(str, case)))
def test_dsp_integral_rows_in_pairs_are_bit_exact_in_qemu(tmp_path, case):
    import sys

    from tinyasc.paths import REPO_ROOT

    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    import ws_conv_layers

    length, channels, kernel, filters, step, repeat, stride, padding, act_min, huge_bias = case
    shape = WSConvShape(length, channels, kernel, filters, step, repeat, stride, padding)
    data = ws_conv_layers.layer_data(shape, seed=length + filters)
    if huge_bias:  # |G + bias| near 2^30 and over: 2·acc overflows int32 for some outputs
        data["bias"] = np.where(np.arange(filters) % 2, 2**30 + 12345, -(2**30) - 999).astype(np.int64)
        data["shifts"] = np.full(filters, -2)
    data["act_min"] = -128 if act_min is None else act_min
    data["expected"] = reference_output(data["x"], data["condensed"], data["bias"], data["multipliers"], data["shifts"],
                                        shape, data["input_zp"], data["output_zp"], act_min=data["act_min"])
    instructions = ws_conv_layers.measure(shape, "integral_dsp", "cortex-m4", data, tmp_path)  # exits unless bit-exact
    assert instructions and instructions > 0
