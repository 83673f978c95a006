"""The fast ADD/SUB and MUL kernels (tas_add_fast_s8 and, for large tensors, tas_add_table_s8 and
tas_add_lut_s8, tas_mul_fast_s8: one SMMULR per high multiply,
a mask-free rounding shift, contiguous axes merged) equal the reference kernels (tas_add_s8,
tas_mul_s8, TFLite's arithmetic) on every pair of int8 inputs, for random scales, zero points and
activation ranges, on the host with UBSan; broadcast walks over every axis layout; and the
residual and SE blocks of test_ops_structural.py run them bit-exact with TFLM (host and QEMU)."""

import subprocess

import numpy as np
import pytest

from tinyasc.compile import quant
from tinyasc.compile.ir import Op, OpKind
from tinyasc.compile.kernel_library import KERNELS_DIR
from tinyasc.compile.ops.elementwise import ADD_FAST, ADD_TABLE, MUL_FAST, add_sub_multipliers

CHECK_MAIN = r"""
#include <stdio.h>
#include "tas_add_s8.c"
#include "tas_add_fast_s8.c"
#include "tas_add_table_s8.c"
#include "tas_mul_s8.c"
#include "tas_mul_fast_s8.c"

static int8_t a[256], b[256], expected[65536], actual[65536], tabled[65536];
static int32_t scratch[512];

int main(void)
{
    long mismatches = 0;
    for (int i = 0; i < 256; ++i) a[i] = b[i] = (int8_t)(i - 128);
    for (unsigned k = 0; k < sizeof adds / sizeof adds[0]; ++k) { /* every (a, b) pair: a along axis 2, b along axis 3 */
        tas_add_fast_s8(&adds[k], a, b, actual);
        tas_add_table_s8(&adds[k], a, b, scratch, tabled);
        tas_add_s8(&adds[k], a, b, expected);
        for (int i = 0; i < 65536; ++i) mismatches += (actual[i] != expected[i]) + (tabled[i] != expected[i]);
    }
    for (unsigned k = 0; k < sizeof muls / sizeof muls[0]; ++k) {
        tas_mul_fast_s8(&muls[k], a, b, actual);
        tas_mul_s8(&muls[k], a, b, expected);
        for (int i = 0; i < 65536; ++i) mismatches += actual[i] != expected[i];
    }
    printf("%ld\n", mismatches);
    return 0;
}
"""

PAIRS = dict(dim0=1, dim1=1, dim2=256, dim3=256, input1_step0=0, input1_step1=0, input1_step2=1, input1_step3=0,
             input2_step0=0, input2_step1=0, input2_step2=0, input2_step3=1)


def _struct(fields: dict) -> str:
    return "{" + ", ".join(f".{k} = {int(v)}" for k, v in fields.items()) + "}"


def _add_cases(rng, count):
    op = Op(index=0, kind=OpKind.ADD, inputs=(0, 1), outputs=(2,), options={})
    cases = []
    for i in range(count):
        s1, s2, s_out = np.exp(rng.uniform(-6, 1, 3))
        s2 = s1 if i % 5 == 0 else s2  # equal scales: a multiplier of 0.5, no right shift
        subtract = i % 3 == 0
        zp_out = int(rng.integers(-128, 128))
        low, high = sorted(rng.integers(-128, 128, 2)) if i % 4 == 0 else (-128, 127)
        cases.append(dict(PAIRS, subtract=int(subtract), input1_offset=-int(rng.integers(-128, 128)),
                          input2_offset=-int(rng.integers(-128, 128)), output_offset=zp_out, left_shift=20,
                          **add_sub_multipliers(op, s1, s2, s_out), act_min=low, act_max=high))
    return cases


def _mul_cases(rng, count):
    cases = []
    for i in range(count):
        real = float(np.exp(rng.uniform(-14, 3)))  # s1·s2/s_out: from tiny gates to left shifts
        multiplier, shift = quant.quantize_multiplier(real)
        low, high = sorted(rng.integers(-128, 128, 2)) if i % 4 == 0 else (-128, 127)
        cases.append(dict(PAIRS, input1_offset=-int(rng.integers(-128, 128)), input2_offset=-int(rng.integers(-128, 128)),
                          output_offset=int(rng.integers(-128, 128)), output_multiplier=multiplier,
                          output_shift=shift, act_min=low, act_max=high))
    return cases


def _run_check(tmp_path, adds, muls) -> str:
    source = "\n".join([
        '#include "tas_kernels.h"',
        f"static const tas_add_params adds[] = {{{', '.join(_struct(c) for c in adds)}}};",
        f"static const tas_mul_params muls[] = {{{', '.join(_struct(c) for c in muls)}}};",
        CHECK_MAIN,
    ])
    (tmp_path / "check.c").write_text(source)
    binary = tmp_path / "check"
    subprocess.run(["gcc", "-O2", "-fsanitize=address,undefined", "-fno-sanitize-recover", f"-I{KERNELS_DIR}",
                    str(tmp_path / "check.c"), "-o", str(binary)], check=True)
    return subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.strip()


def test_fast_add_sub_and_mul_equal_the_reference_on_every_input_pair(tmp_path):
    rng = np.random.default_rng(14)
    adds, muls = _add_cases(rng, 40), _mul_cases(rng, 40)
    assert all(ADD_FAST.applies(_params(c)) and ADD_TABLE.applies(_params(c)) for c in adds)
    assert sum(MUL_FAST.applies(_params(c)) for c in muls) == len(muls)
    assert _run_check(tmp_path, adds, muls) == "0"


class _params:
    def __init__(self, fields):
        self.__dict__.update(fields)


BROADCAST_MAIN = r"""
#include <stdio.h>
#include "tas_add_s8.c"
#include "tas_add_fast_s8.c"
#include "tas_add_table_s8.c"
#include "tas_mul_s8.c"
#include "tas_mul_fast_s8.c"

static int8_t a[4096], b[4096], expected[4096], actual[4096], tabled[4096];
static int32_t scratch[512];

int main(void)
{
    long mismatches = 0;
    for (int i = 0; i < 4096; ++i) { a[i] = (int8_t)(i * 37 + 11); b[i] = (int8_t)(i * 91 + 5); }
    for (unsigned k = 0; k < sizeof adds / sizeof adds[0]; ++k) {
        const int n = adds[k].dim0 * adds[k].dim1 * adds[k].dim2 * adds[k].dim3;
        tas_add_fast_s8(&adds[k], a, b, actual);
        tas_add_table_s8(&adds[k], a, b, scratch, tabled);
        tas_add_s8(&adds[k], a, b, expected);
        for (int i = 0; i < n; ++i) mismatches += (actual[i] != expected[i]) + (tabled[i] != expected[i]);
        tas_mul_fast_s8(&muls[k], a, b, actual);
        tas_mul_s8(&muls[k], a, b, expected);
        for (int i = 0; i < n; ++i) mismatches += actual[i] != expected[i];
    }
    printf("%ld\n", mismatches);
    return 0;
}
"""


@pytest.mark.parametrize("seed", [0, 1])
def test_broadcast_walks_merge_axes_without_changing_the_result(seed, tmp_path):
    """Random 4-D output shapes, each input repeating along a random subset of axes."""
    rng = np.random.default_rng(seed)
    adds, muls = [], []
    base_add, base_mul = _add_cases(rng, 1)[0], _mul_cases(rng, 1)[0]
    for case in range(60):
        dims = [int(d) for d in rng.integers(1, 6, 4)]
        fields = {f"dim{i}": d for i, d in enumerate(dims)}
        for name in ("input1", "input2"):
            shape = [d if case % 4 == 0 or rng.random() < 0.6 else 1 for d in dims]  # every 4th: no broadcast
            step, steps = 1, [0] * 4
            for axis in (3, 2, 1, 0):
                steps[axis] = step if shape[axis] > 1 else 0
                step *= shape[axis]
            fields.update({f"{name}_step{i}": s for i, s in enumerate(steps)})
        adds.append({**base_add, **fields})
        muls.append({**base_mul, **fields})
    source = "\n".join([
        '#include "tas_kernels.h"',
        f"static const tas_add_params adds[] = {{{', '.join(_struct(c) for c in adds)}}};",
        f"static const tas_mul_params muls[] = {{{', '.join(_struct(c) for c in muls)}}};",
        BROADCAST_MAIN,
    ])
    (tmp_path / "check.c").write_text(source)
    binary = tmp_path / "check"
    subprocess.run(["gcc", "-O2", "-fsanitize=address,undefined", "-fno-sanitize-recover", f"-I{KERNELS_DIR}",
                    str(tmp_path / "check.c"), "-o", str(binary)], check=True)
    assert subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.strip() == "0"


CONTIGUOUS_MAIN = r"""
#include <stdio.h>
#include "tas_add_s8.c"
#include "tas_add_fast_s8.c"

#define N 65533 /* every pair but the last three: 4-output passes and a tail of 1 */
static int8_t a[N], b[N], expected[N], actual[N];

int main(void)
{
    long mismatches = 0;
    for (int i = 0; i < N; ++i) { a[i] = (int8_t)((i >> 8) - 128); b[i] = (int8_t)((i & 255) - 128); }
    for (unsigned k = 0; k < sizeof adds / sizeof adds[0]; ++k) {
        tas_add_fast_s8(&adds[k], a, b, actual);
        tas_add_s8(&adds[k], a, b, expected);
        for (int i = 0; i < N; ++i) mismatches += actual[i] != expected[i];
    }
    printf("%ld\n", mismatches);
    return 0;
}
"""


def test_contiguous_runs_equal_the_reference_on_every_input_pair(tmp_path):
    """tas_add_run.h (one input's rescale exactly 0.5, the run of both operands contiguous): ADD and
    SUB with either input the exact one and equal scales, on the host's portable twins (UBSan);
    the Cortex-M4's SSAT/SEL output stage runs in QEMU in test_add_runs_are_bit_exact_in_qemu."""
    from tinyasc.compile.ops.elementwise import ADD_RUN, add_run_applies

    rng = np.random.default_rng(15)
    adds = [{**c, "dim2": 1, "dim3": 65533, "input1_step2": 0, "input1_step3": 1, "input2_step3": 1}
            for c in _add_cases(rng, 40)]
    assert sum(add_run_applies(_params(c)) for c in adds) >= 35  # all but SUBs of equal scales
    assert all(ADD_RUN.applies(_params(c)) == add_run_applies(_params(c)) for c in adds)
    assert {c["input1_multiplier"] == 2**30 for c in adds} == {True, False}  # either input the exact one
    source = "\n".join([
        '#include "tas_kernels.h"',
        f"static const tas_add_params adds[] = {{{', '.join(_struct(c) for c in adds)}}};",
        CONTIGUOUS_MAIN,
    ])
    (tmp_path / "check.c").write_text(source)
    binary = tmp_path / "check"
    subprocess.run(["gcc", "-O2", "-fsanitize=address,undefined", "-fno-sanitize-recover", f"-I{KERNELS_DIR}",
                    str(tmp_path / "check.c"), "-o", str(binary)], check=True)
    assert subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.strip() == "0"


LUT_MAIN = r"""
#include <stdio.h>
#include "tas_add_s8.c"
#include "tas_add_lut_s8.c"

#define N 65533 /* every pair but the last three: 4-output passes and a tail of 1 */
static int8_t a[N], b[N], expected[N], actual[N];

int main(void)
{
    long mismatches = 0;
    for (int i = 0; i < N; ++i) { a[i] = (int8_t)((i >> 8) - 128); b[i] = (int8_t)((i & 255) - 128); }
    for (unsigned k = 0; k < sizeof adds / sizeof adds[0]; ++k) {
        tas_add_lut_s8(&adds[k], a, b, tables[k], flags[k][0], flags[k][1], actual);
        tas_add_s8(&adds[k], a, b, expected);
        for (int i = 0; i < N; ++i) mismatches += actual[i] != expected[i];
    }
    printf("%ld\n", mismatches);
    return 0;
}
"""


def test_table_adds_equal_the_reference_on_every_input_pair(tmp_path):
    """tas_add_lut_s8 (the rescaled input's doubled values from a table made at export time): ADD and
    SUB with either input the exact one and equal scales, on the host's portable twin (UBSan); its
    DSP output stage runs in QEMU in test_add_runs_are_bit_exact_in_qemu."""
    from tinyasc.compile.ops.elementwise import ADD_LUT, add_run_applies, scaled_table

    rng = np.random.default_rng(16)
    adds = [{**c, "dim2": 1, "dim3": 65533, "input1_step2": 0, "input1_step3": 1, "input2_step3": 1}
            for c in _add_cases(rng, 40)]
    adds = [c for c in adds if add_run_applies(_params(c))]
    assert len(adds) >= 30 and all(ADD_LUT.applies(_params(c)) for c in adds)
    assert {c["input1_multiplier"] == 2**30 for c in adds} == {True, False}  # either input the exact one
    made = [scaled_table(_params(c)) for c in adds]
    tables = ", ".join("{" + ", ".join(str(int(v)) for v in table) + "}" for table, _, _ in made)
    source = "\n".join([
        '#include "tas_kernels.h"',
        f"static const tas_add_params adds[] = {{{', '.join(_struct(c) for c in adds)}}};",
        f"static const int32_t tables[][256] = {{{tables}}};",
        f"static const int32_t flags[][2] = {{{', '.join(f'{{{first}, {negative}}}' for _, first, negative in made)}}};",
        LUT_MAIN,
    ])
    (tmp_path / "check.c").write_text(source)
    binary = tmp_path / "check"
    subprocess.run(["gcc", "-O2", "-fsanitize=address,undefined", "-fno-sanitize-recover", f"-I{KERNELS_DIR}",
                    str(tmp_path / "check.c"), "-o", str(binary)], check=True)
    assert subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.strip() == "0"


def _add_graph(kind: str, input_scale: float, constant_scale: float, activation: str, broadcast: bool = False):
    """kind(x, c) or kind(c, x) with c constant: every byte of x meets every byte of c over 4 inputs."""
    from tinyasc.compile.fuzz.spec import FuzzGraph, OpSpec, TensorSpec

    graph = FuzzGraph()
    x = graph.add(TensorSpec((1, 64, 256), "int8", (input_scale,), (7,)))
    rows = 1 if broadcast else 64  # broadcast: one row of the constant for every row of x
    constant = np.tile(np.arange(-128, 128, dtype=np.int8), (1, rows, 1))
    c = graph.add(TensorSpec((1, rows, 256), "int8", (constant_scale,), (-20,), data=constant))
    out = graph.add(TensorSpec((1, 64, 256), "int8", (0.05,), (-3,)))
    first, second = (x, c) if kind.endswith("x_c") else (c, x)
    graph.ops.append(OpSpec(kind.split("_")[0], [first, second], [out], {"fusedActivationFunction": activation}))
    graph.inputs, graph.outputs = [x], [out]
    return graph


ADD_GRAPHS = {  # kind and operand order, input scale, constant scale, activation
    "ADD_x_c": (0.031, 0.047, "relu"),   # the constant (second) is the exact input
    "ADD_c_x": (0.031, 0.047, "none"),   # the constant first and exact
    "SUB_x_c": (0.047, 0.031, "relu6"),  # x exact, the scaled input subtracted
    "SUB_c_x": (0.047, 0.031, "none"),   # x exact and subtracted
    "ADD_c_x_equal": (0.04, 0.04, "relu"),  # both exact
}
# Full-shape operands take the table kernel (tas_add_lut_s8) on the M4; with the constant broadcast
# over the rows the contiguous run (tas_add_run.h) takes them.
ADD_GRAPHS.update({f"{name}_broadcast": graph for name, graph in list(ADD_GRAPHS.items())})


@pytest.mark.e2e
@pytest.mark.parametrize("board", ["nrf52840", "cortex-m3"])
@pytest.mark.parametrize("name", sorted(ADD_GRAPHS))
def test_add_runs_are_bit_exact_in_qemu(name, board, tmp_path):
    from tinyasc.compile.export import export_model
    from tinyasc.compile.fuzz.spec import to_tflite
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    path = tmp_path / f"{name}.tflite"
    kind = name.removesuffix("_broadcast").removesuffix("_equal")
    path.write_bytes(to_tflite(_add_graph(kind, *ADD_GRAPHS[name], broadcast=name.endswith("_broadcast"))))
    columns = np.arange(256)[None, :] + np.arange(64)[:, None]
    inputs = np.stack([((columns + 64 * k) % 256 - 128).astype(np.int8)[None] for k in range(4)])
    export = export_model(path, board_name=board, out_root=tmp_path, name=name, test_inputs=inputs,
                          num_test_vectors=len(inputs))
    kernels = {step.kernel for step in export.compiled.steps}
    dsp = "tas_add_fast_s8" if name.endswith("_broadcast") else "tas_add_lut_s8"
    assert kernels == ({dsp} if board == "nrf52840" else {"tas_add_table_s8"})
    build_firmware(export.export_dir)
    result = run_firmware(export.export_dir)
    assert result.passed, result.failure
