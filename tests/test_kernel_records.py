"""Kernel records (compile/ops/common.py: Kernel) carry every fact the compiler needs about a C
kernel: selection, the planner, fusion and sparse weights read them, and adding a kernel is its C
file and its record. No TensorFlow and no model files: these run in a second."""

import dataclasses
import subprocess
import sys

import pytest

from tinyasc.compile import ops
from tinyasc.compile.ir import OpKind
from tinyasc.compile.kernels import all_kernels, select_dense_kernel, select_kernel
from tinyasc.compile.ops import pool
from tinyasc.compile.ops.common import Kernel
from tinyasc.compile.ops.pool import Pool2DParams
from tinyasc.artifacts.boards import ISA_EXTENSIONS, get_board
from tinyasc.paths import TEMPLATES_DIR

KERNELS_DIR = TEMPLATES_DIR / "kernels"


def test_every_kernel_source_has_exactly_one_record_and_every_record_names_real_files():
    records = all_kernels()
    names = [k.name for k in records]
    assert len(names) == len(set(names)), "two records for one C function"
    listed = {f for k in records for f in k.files}
    assert all((KERNELS_DIR / f).is_file() for f in listed)
    assert {p.name for p in KERNELS_DIR.glob("*.c")} <= listed, "a kernel .c file without a record"
    for kernel in records:  # one function per file, named after it
        assert f"{kernel.name}.c" in kernel.files and f"{kernel.name}(" in (KERNELS_DIR / f"{kernel.name}.c").read_text()


def test_records_name_only_known_isa_extensions_and_sparse_variants_store_sparse_weights():
    for kernel in all_kernels():
        assert set(kernel.requires) <= set(ISA_EXTENSIONS), kernel.name
        assert kernel.sparse is None or kernel.sparse.weight_layout == "sparse", kernel.name


def _pool(pad: int) -> Pool2DParams:
    return Pool2DParams(input_height=8, input_width=8, depth=4, filter_height=2, filter_width=2,
                        output_height=4, output_width=4, stride_height=2, stride_width=2,
                        pad_height=pad, pad_width=pad, act_min=-128, act_max=127)


def test_a_variant_runs_only_where_the_boards_extensions_and_its_predicate_allow():
    assert select_kernel(OpKind.MAX_POOL_2D, _pool(0), get_board("nrf52840")) is pool.MAX_POOL2D_DSP
    assert select_kernel(OpKind.MAX_POOL_2D, _pool(0), get_board("cortex-m3")) is pool.MAX_POOL2D
    assert select_kernel(OpKind.MAX_POOL_2D, _pool(0)) is pool.MAX_POOL2D  # no board: portable C
    assert select_kernel(OpKind.MAX_POOL_2D, _pool(1), get_board("nrf52840")) is pool.MAX_POOL2D


def test_adding_a_kernel_is_adding_its_record(monkeypatch):
    """A Helium average pool, declared by its record alone, runs on the M55 and nowhere else."""
    helium = Kernel("tas_avg_pool2d_s8_mve", ("tas_pool2d_common.h", "tas_avg_pool2d_s8_mve.c"),
                    requires=("mve",), in_place=pool.AVG_POOL2D.in_place)
    spec = dataclasses.replace(pool.AVERAGE_SPEC, variants=(helium,))
    monkeypatch.setitem(ops.REGISTRY, OpKind.AVERAGE_POOL_2D, spec)
    assert select_dense_kernel(OpKind.AVERAGE_POOL_2D, _pool(0), get_board("corstone-300")) is helium
    assert select_dense_kernel(OpKind.AVERAGE_POOL_2D, _pool(0), get_board("nrf52840")) is pool.AVG_POOL2D
    assert helium in all_kernels()


@pytest.mark.parametrize("module", ["tinyasc.compile.sparse", "tinyasc.compile.options"])
def test_the_sparse_cost_model_and_the_options_import_no_op_module(module):
    """Breaks the old cycle kernels → sparse → ops/conv → sparse (imports inside functions included)."""
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.startswith('tinyasc.compile.ops')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
