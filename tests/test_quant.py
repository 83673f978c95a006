"""The C requantization helper and its Python twin agree, and both follow TFLite's rules."""

import subprocess

import numpy as np
import pytest

from tinyasc.compile import quant
from tinyasc.paths import TEMPLATES_DIR

HARNESS = r"""
#include <stdint.h>
#include <stdio.h>
#include "tas_requantize.h"
int main(void) {
    long long acc, mult, shift;
    while (scanf("%lld %lld %lld", &acc, &mult, &shift) == 3) {
        printf("%d\n", tas_requantize((int32_t)acc, (int32_t)mult, (int32_t)shift));
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def c_requantize(tmp_path_factory):
    folder = tmp_path_factory.mktemp("requantize")
    (folder / "main.c").write_text(HARNESS)
    exe = folder / "requantize"
    subprocess.run(
        ["gcc", "-O1", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined", "-fno-sanitize-recover=all",
         "-I", str(TEMPLATES_DIR / "kernels"), str(folder / "main.c"), "-o", str(exe)],
        check=True,
    )
    return exe


def test_c_requantize_matches_python_twin_on_random_inputs(c_requantize):
    rng = np.random.default_rng(0)
    n = 20000
    acc = np.concatenate([rng.integers(-(2**31), 2**31, n), rng.integers(-5000, 5000, n), [-(2**31), 2**31 - 1, 0]])
    mult = rng.integers(2**30, 2**31, len(acc))
    shift = rng.integers(-31, 8, len(acc))
    shift[-3:] = [0, 0, 0]
    mult[-3:] = [2**31 - 1, 2**31 - 1, 2**30]
    text = "\n".join(f"{a} {m} {s}" for a, m, s in zip(acc, mult, shift))
    result = subprocess.run([str(c_requantize)], input=text, capture_output=True, text=True, check=True)
    from_c = np.array(result.stdout.split(), dtype=np.int64)
    from_python = quant.multiply_by_quantized_multiplier(acc, mult, shift)
    assert np.array_equal(from_c, from_python)


def test_requantize_rounds_exact_halves_like_gemmlowp():
    half = 1 << 30  # multiplier 0.5 in Q31
    # The doubling high multiply nudges by 2^30 (positive) or 1 - 2^30 (negative):
    # 1.5 → 2 but -1.5 → -1.
    assert quant.multiply_by_quantized_multiplier(3, half, 0) == 2
    assert quant.multiply_by_quantized_multiplier(-3, half, 0) == -1
    # The rounding right shift rounds halves away from zero: 5 / 2 → 3, -5 / 2 → -3.
    assert quant.multiply_by_quantized_multiplier(5, 2**31 - 1, -1) == 3
    assert quant.multiply_by_quantized_multiplier(-5, 2**31 - 1, -1) == -3


@pytest.mark.parametrize(
    "real, expected",
    [
        (0.0, (0, 0)),
        (0.5, (1 << 30, 0)),
        (1.0, (1 << 30, 1)),
        (0.75, (3 << 29, 0)),
        (2.0**-40, (0, 0)),  # below 2^-31: flushed to zero as TFLite does
        (1.0 - 2.0**-40, (1 << 30, 1)),  # mantissa rounds up to 1.0: renormalised
    ],
)
def test_quantize_multiplier_matches_tflite_rules(real, expected):
    assert quant.quantize_multiplier(real) == expected


def test_activation_ranges_clamp_at_quantized_zero_and_six():
    assert quant.activation_range("none", 0.1, 3) == (-128, 127)
    assert quant.activation_range("relu", 0.1, -5) == (-5, 127)
    assert quant.activation_range("relu6", 0.05, -128) == (-128, -8)
    with pytest.raises(ValueError):
        quant.activation_range("tanh", 0.1, 0)


def test_absurd_scales_are_refused_instead_of_overflowing_the_c_shift():
    from tinyasc.errors import UnsupportedModelError

    assert quant.quantize_multiplier(2.0**29)[1] == 30  # the largest accepted
    with pytest.raises(UnsupportedModelError, match="out of range"):
        quant.quantize_multiplier(1e38)
