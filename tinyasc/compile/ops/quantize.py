"""QUANTIZE and DEQUANTIZE: int8 → int8 requantization (a 256-entry table, activation.py) and the
float32 boundary of a model converted with float input/output types.

float32 → int8 (QUANTIZE on the graph input) is TFLM's reference AffineQuantize:
    q = clamp(round_half_away(x / scale) + zero_point, −128, 127)
with the division in float32 (TFLM divides by `static_cast<float>(scale)`). int8 → float32
(DEQUANTIZE on the graph output) is reference_ops::Dequantize: `scale · (q − zero_point)` as a
float32 product. Both are one correctly rounded IEEE operation per element, so the C gives the same
bits as TFLM on any core that follows IEEE 754 (hardware FPU or soft float), as long as it is built
without -ffast-math. The scale reaches the C as an exact hexadecimal float literal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyasc.compile.ir import Graph, Op, OpKind, Tensor, require
from tinyasc.compile.ops import activation
from tinyasc.compile.ops.common import EmitContext, Kernel, OpSpec, int8_activation


@dataclass(frozen=True)
class FloatBoundaryParams:
    size: int  # elements converted
    zero_point: int
    scale: float  # the int8 side's float32 scale

    macs = 0

    @property
    def scale_literal(self) -> str:
        """The float32 scale as a C literal with exactly its bits."""
        return float(np.float32(self.scale)).hex() + "f"


def _float32_side(op: Op, tensor: Tensor | None, role: str) -> Tensor:
    require(tensor is not None and tensor.dtype == "float32", op,
            f"the {role} must be float32 here, it is {tensor.dtype if tensor is not None else 'missing'}")
    return tensor


def prepare_quantize(op: Op, graph: Graph):
    source = graph.op_inputs(op)[0]
    if source is None or source.dtype != "float32":
        return activation.prepare_quantize(op, graph)  # int8 → int8: the requantization table
    require(op.inputs[0] in graph.inputs, op,
            "float32 → int8 QUANTIZE is supported on the graph input only; the model computes in float "
            "elsewhere: convert it to full int8 (tinyasc.convert.quantize.quantize_int8)")
    y = int8_activation(op, graph.op_outputs(op)[0], "output")
    require(source.num_elements == y.num_elements, op,
            f"input {list(source.shape)} and output {list(y.shape)} differ in size")
    return FloatBoundaryParams(size=y.num_elements, zero_point=y.quantization.zero_point, scale=y.quantization.scale)


def prepare_dequantize(op: Op, graph: Graph) -> FloatBoundaryParams:
    x = int8_activation(op, graph.op_inputs(op)[0], "input")
    y = _float32_side(op, graph.op_outputs(op)[0], "output")
    require(op.outputs[0] in graph.outputs, op,
            "int8 → float32 DEQUANTIZE is supported on the graph output only; convert the model to "
            "full int8 (tinyasc.convert.quantize.quantize_int8)")
    require(x.num_elements == y.num_elements, op, f"input {list(x.shape)} and output {list(y.shape)} differ in size")
    return FloatBoundaryParams(size=x.num_elements, zero_point=x.quantization.zero_point, scale=x.quantization.scale)


def is_float_input(p) -> bool:
    return isinstance(p, FloatBoundaryParams)


# QUANTIZE's reference kernel is the int8 table; a float32 graph input runs the float boundary kernel.
QUANTIZE_F32_KERNEL = Kernel(
    "tas_quantize_f32_s8", ("tas_float_boundary.h", "tas_quantize_f32_s8.c"),
    applies=is_float_input, params_ctype="tas_float_boundary_params",
)
DEQUANTIZE_KERNEL = Kernel("tas_dequantize_s8_f32", ("tas_float_boundary.h", "tas_dequantize_s8_f32.c"))


def emit_quantize(p, kernel: Kernel, ctx: EmitContext) -> str:
    if isinstance(p, FloatBoundaryParams):
        return f"{kernel.name}({ctx.params}, {p.scale_literal}, {ctx.input()}, {ctx.output()})"
    return activation.emit(p, kernel, ctx)


def emit_dequantize(p: FloatBoundaryParams, kernel: Kernel, ctx: EmitContext) -> str:
    return f"{kernel.name}({ctx.params}, {p.scale_literal}, {ctx.input()}, {ctx.output()})"


def _describe(p) -> str:
    if isinstance(p, FloatBoundaryParams):
        return f"float32 -> int8 on {p.size} values (scale {p.scale:g}, zero point {p.zero_point})"
    return f"{p.function} table on {p.size} values"


QUANTIZE_SPEC = OpSpec(
    kind=OpKind.QUANTIZE, prepare=prepare_quantize, reference=activation.LUT_KERNEL, params_ctype="tas_lut_params",
    variants=(QUANTIZE_F32_KERNEL,), emit=emit_quantize, describe=_describe,
)
DEQUANTIZE_SPEC = OpSpec(
    kind=OpKind.DEQUANTIZE, prepare=prepare_dequantize, reference=DEQUANTIZE_KERNEL,
    params_ctype="tas_float_boundary_params", emit=emit_dequantize,
    describe=lambda p: f"int8 -> float32 on {p.size} values (scale {p.scale:g}, zero point {p.zero_point})",
)
