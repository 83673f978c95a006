"""FULLY_CONNECTED: int8 [batches, in] × [out, in]ᵀ + bias, per-tensor or per-channel weights."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyasc.compile import quant
from tinyasc.compile.ir import Graph, Op, OpKind, require
from tinyasc.compile.ops.common import (
    EmitContext,
    Kernel,
    OpSpec,
    constant_bias,
    folds_into_int32,
    int8_activation,
    int8_weights,
    optional_input,
)
from tinyasc.compile.ops.fully_connected_dsp import emit_fully_connected_dsp, scratch_bytes
from tinyasc.compile.ops.mat_mult_call import emit_mat_mult_call
from tinyasc.compile.ops.sparse_call import emit_sparse_call


@dataclass(frozen=True)
class FullyConnectedParams:
    batches: int
    input_depth: int
    output_depth: int
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    multipliers: np.ndarray  # int32 [output_depth] (a per-tensor multiplier is broadcast)
    shifts: np.ndarray
    weights: np.ndarray  # int8 [output_depth, input_depth]
    bias: np.ndarray | None

    @property
    def macs(self) -> int:
        return self.batches * self.input_depth * self.output_depth


def prepare(op: Op, graph: Graph) -> FullyConnectedParams:
    x = int8_activation(op, graph.op_inputs(op)[0], "input")
    w = int8_weights(op, optional_input(graph, op, 1))
    y = int8_activation(op, graph.op_outputs(op)[0], "output")
    require(len(w.shape) == 2, op, f"weights shape {list(w.shape)} is not [out, in]")
    out_depth, in_depth = w.shape
    require(x.num_elements % in_depth == 0, op, f"input of {x.num_elements} values does not split into rows of {in_depth}")
    require(y.num_elements == x.num_elements // in_depth * out_depth, op, "output size does not match")
    if w.quantization.per_channel:
        multipliers, shifts = quant.conv_multipliers(x.quantization.scale, w.quantization.scales, y.quantization.scale, out_depth)
    else:
        m, s = quant.fully_connected_multiplier(x.quantization.scale, w.quantization.scale, y.quantization.scale)
        multipliers = np.full(out_depth, m, dtype=np.int32)
        shifts = np.full(out_depth, s, dtype=np.int32)
    act_min, act_max = quant.activation_range(op.options.get("activation", "none"), y.quantization.scale, y.quantization.zero_point)
    return FullyConnectedParams(
        batches=x.num_elements // in_depth, input_depth=in_depth, output_depth=out_depth,
        input_offset=-x.quantization.zero_point, output_offset=y.quantization.zero_point,
        act_min=act_min, act_max=act_max,
        multipliers=multipliers, shifts=shifts,
        weights=w.data.astype(np.int8),
        bias=constant_bias(op, optional_input(graph, op, 2), out_depth),
    )


def emit(p: FullyConnectedParams, kernel: Kernel, ctx: EmitContext) -> str:
    if kernel.weight_layout == "sparse":
        return emit_sparse_call(p, kernel, ctx)
    if kernel.name == FULLY_CONNECTED_DSP.name:
        return emit_fully_connected_dsp(p, kernel, ctx)
    if kernel.weight_layout == "mat_mult_blocks":
        return emit_mat_mult_call(p, kernel, ctx)
    w = ctx.constant("filter", p.weights, "int8_t", f"weights {list(p.weights.shape)}")
    b = ctx.constant("bias", p.bias, "int32_t", "bias") if p.bias is not None else "NULL"
    m = ctx.constant("multiplier", p.multipliers, "int32_t", "requantize multipliers")
    s = ctx.constant("shift", p.shifts, "int32_t", "requantize shifts")
    return f"{kernel.name}({ctx.params}, {ctx.input()}, {w}, {b}, {m}, {s}, {ctx.output()})"


FULLY_CONNECTED_SPARSE = Kernel(
    "tas_fully_connected_sparse_s8", ("tas_sparse_common.h", "tas_fully_connected_sparse_s8.c"),
    folds_input_offset=True, weight_layout="sparse", params_ctype="tas_fully_connected_sparse_params",
)
FULLY_CONNECTED = Kernel("tas_fully_connected_s8", ("tas_fully_connected_s8.c",), sparse=FULLY_CONNECTED_SPARSE)
FULLY_CONNECTED_DSP = Kernel(
    "tas_fully_connected_s8_dsp", ("tas_dsp.h", "tas_mat_mult_dsp.h", "tas_fully_connected_s8_dsp.c"),
    applies=folds_into_int32, requires=("dsp",), sparse=FULLY_CONNECTED_SPARSE, folds_input_offset=True,
    weight_layout="mat_mult_blocks", scratch_bytes=scratch_bytes,  # rows padded to a word (fully_connected_dsp.py)
)
FULLY_CONNECTED_BLOCKED = Kernel(  # the portable twin of FULLY_CONNECTED_DSP (Cortex-M0/M3)
    "tas_fully_connected_blocked_s8", ("tas_fully_connected_blocked_s8.c",),
    applies=folds_into_int32, sparse=FULLY_CONNECTED_SPARSE, folds_input_offset=True, weight_layout="mat_mult_blocks",
)

SPEC = OpSpec(
    kind=OpKind.FULLY_CONNECTED,
    prepare=prepare,
    reference=FULLY_CONNECTED,
    variants=(FULLY_CONNECTED_DSP, FULLY_CONNECTED_BLOCKED),
    params_ctype="tas_fully_connected_params",
    emit=emit,
    describe=lambda p: f"{p.input_depth} -> {p.output_depth} x{p.batches}",
)
