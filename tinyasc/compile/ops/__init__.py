"""Export-time preparation of each op: everything its kernel needs, computed once in Python.

Like TFLM's Prepare, each op module's `prepare(op, graph)` validates the op and computes padding,
per-channel multipliers and shifts, zero-point offsets and the activation clamp into a frozen
dataclass that the C template only prints; `emit` writes the kernel call. One module per op family;
adding an op is a new module and one line in REGISTRY.
"""

from tinyasc.compile.ir import Graph, Op, OpKind, require
from tinyasc.compile.ops import conv, fully_connected, pool, reduce, reshape
from tinyasc.compile.ops import concat, depthwise, elementwise, pad, strided_slice, transpose
from tinyasc.compile.ops import activation, quantize, softmax, ws_conv
from tinyasc.compile.ops.common import EmitContext, Kernel, OpSpec

REGISTRY: dict[OpKind, OpSpec] = {
    spec.kind: spec
    for spec in (conv.SPEC, pool.MAX_SPEC, pool.AVERAGE_SPEC, reduce.SPEC, fully_connected.SPEC, reshape.SPEC)
}
# Structural and arithmetic ops.
REGISTRY.update({
    spec.kind: spec
    for spec in (
        depthwise.SPEC, elementwise.ADD_SPEC, elementwise.SUB_SPEC, elementwise.MUL_SPEC, concat.SPEC,
        pad.PAD_SPEC, pad.PADV2_SPEC, reshape.SQUEEZE_SPEC, reshape.EXPAND_DIMS_SPEC, transpose.SPEC,
        strided_slice.SPEC, reduce.SUM_SPEC,
    )
})

# Activation and quantization ops: element-wise ones as 256-entry tables, softmax in fixed point.
REGISTRY.update({spec.kind: spec for spec in (*activation.SPECS, softmax.SPEC)})
# QUANTIZE also converts a float32 graph input; DEQUANTIZE a float32 graph output.
REGISTRY.update({spec.kind: spec for spec in (quantize.QUANTIZE_SPEC, quantize.DEQUANTIZE_SPEC)})

# WSNet's weight-sampling conv, a CUSTOM op (tinyasc.compile.ws_rewrite).
REGISTRY[ws_conv.SPEC.kind] = ws_conv.SPEC


def spec_for(op: Op) -> OpSpec:
    spec = REGISTRY.get(op.kind)
    require(spec is not None, op, "no kernel is registered for this op")
    return spec


def prepare(op: Op, graph: Graph):
    return spec_for(op).prepare(op, graph)


__all__ = ["REGISTRY", "EmitContext", "Kernel", "OpSpec", "prepare", "spec_for"]
