"""The ARMv6-M output stage (Cortex-M0/M0+: no 32 x 32 -> 64-bit multiply) computes gemmlowp's doubling
high multiply and the depthwise output stage's 64-bit product from 16 x 16-bit products
(tas_doubling_high_mul_halves, tas_mul_64_halves in tas_requantize.h). They must equal the int64
formulas for every int32 input and every multiplier QuantizeMultiplier makes, and the whole per-channel
requantization built on it (TAS_REQUANT_HALVES, what __ARM_ARCH_6M__ selects) must equal tas_requantize. Checked on the host with UBSan over the edges and a few million random pairs; the
Cortex-M0 twins run the same C (tests/test_boards_emulated.py, benchmarks/fuzz_twin.py --board rp2040)."""

import subprocess

from tinyasc.compile.host import SANITIZERS, WARNINGS
from tinyasc.compile.kernel_library import KERNELS_DIR

PROGRAM = r"""
#include <stdio.h>
#include "tas_requantize.h"

static uint64_t state = 0x9e3779b97f4a7c15ull;
static uint32_t next(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return (uint32_t)state; }

static const int32_t edges[] = {0, 1, -1, 2, -2, 32767, 32768, -32768, -32769, 65535, 65536, -65536, 1 << 30,
                                -(1 << 30), INT32_MAX, INT32_MIN, INT32_MAX - 1, INT32_MIN + 1, 123456789, -987654321};

static int check(int32_t x, int32_t m, int32_t shift)
{
    const int32_t want = (int32_t)(((int64_t)x * m + (1LL << 30)) >> 31);
    if (tas_doubling_high_mul_halves(x, m) != want) {
        printf("high %d %d\n", x, m);
        return 1;
    }
    if (tas_mul_64_halves(x, m) != (int64_t)x * m) {
        printf("product %d %d\n", x, m);
        return 1;
    }
    const tas_requant_channel c = tas_requant_channel_of(m, shift);
    if (m >= (1 << 30) && tas_requant_channel_apply(x, &c) != tas_requantize(x, m, shift)) {
        printf("requant %d %d %d\n", x, m, shift);
        return 1;
    }
    return 0;
}

int main(void)
{
    const int32_t multipliers[] = {0, 1 << 30, INT32_MAX, 1518500250, 1073741825, 2147450880};
    int failures = 0;
    for (unsigned i = 0; i < sizeof edges / sizeof *edges; ++i)
        for (unsigned j = 0; j < sizeof multipliers / sizeof *multipliers; ++j)
            for (int32_t shift = -31; shift <= 13; ++shift)
                failures += check(edges[i], multipliers[j], shift);
    for (int n = 0; n < 3000000 && failures < 5; ++n) {
        const int32_t m = n % 3 ? (int32_t)((1u << 30) | (next() >> 2)) : (int32_t)(next() >> 1);
        const int32_t x = n % 4 ? (int32_t)next() : (int32_t)next() >> (next() % 31);
        failures += check(x, m, (int32_t)(next() % 45) - 31);
    }
    printf("failures %d\n", failures);
    return failures != 0;
}
"""


def test_halves_high_multiply_and_requantization_equal_the_int64_forms(tmp_path):
    source = tmp_path / "halves.c"
    source.write_text(PROGRAM)
    binary = tmp_path / "halves"
    subprocess.run(["gcc", *WARNINGS, "-O1", *SANITIZERS, "-fno-sanitize-recover=all", "-DTAS_REQUANT_HALVES",
                    "-I", str(KERNELS_DIR), str(source), "-o", str(binary)], check=True)
    result = subprocess.run([str(binary)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "failures 0", result.stdout + result.stderr
