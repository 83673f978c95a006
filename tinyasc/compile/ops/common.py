"""What every op module shares: the Kernel and OpSpec records, the emit context, and the checks
that refuse tensors the kernels cannot run (each naming the op and what to do)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from tinyasc.compile.ir import Graph, Op, OpKind, Tensor, require


@dataclass(frozen=True)
class Kernel:
    name: str  # the C function
    files: tuple[str, ...]  # kernel sources in firmware_templates/kernels/, shared headers first
    folds_input_offset: bool = False  # takes bias + input_offset·Σw instead of the bias
    weight_layout: str = "natural"  # how emit stores the weights: "natural" (as in the model) or a packed layout
    params_ctype: str | None = None  # its own C parameter struct, else the op's (OpSpec.params_ctype)


@dataclass(frozen=True)
class OpSpec:
    """How one op kind compiles: prepare (export-time constants), its reference kernel and the C
    parameter struct, and emit (the call, given the chosen kernel). `reference=None` marks an
    alias op that runs no code. `scratch_bytes(params) -> int`, when set, asks the memory planner
    for that many bytes of scratch RAM live during this op only (16-byte aligned, shared with
    tensors that are dead at this op); emit gets its C pointer from `ctx.scratch()`."""

    kind: OpKind
    prepare: Callable
    reference: Kernel | None
    params_ctype: str | None = None
    emit: Callable | None = None
    describe: Callable = lambda params: ""
    scratch_bytes: Callable[[object], int] | None = None


@dataclass
class EmitContext:
    """What an op's emit function may ask for: tensor pointers, its scratch buffer and new constant
    arrays."""

    op: Op
    pointer: Callable[[int], str]  # tensor index -> C expression
    add_constant: Callable[[str, np.ndarray, str, str], str]  # (name, values, ctype, comment) -> C name
    constants_added: list[str] = field(default_factory=list)
    scratch_pointer: str | None = None  # C expression of the op's scratch buffer, when it asked for one

    @property
    def params(self) -> str:
        return f"&tas_params_op{self.op.index}"

    def scratch(self) -> str:
        """`tas_arena + offset` (an `int8_t *`): the scratch buffer the op's `scratch_bytes` asked for,
        16-byte aligned, valid during this op only."""
        if self.scratch_pointer is None:
            raise AssertionError(f"op {self.op.index} ({self.op.kind.value}) emits ctx.scratch() "
                                 "but its OpSpec asked for no scratch_bytes")
        return self.scratch_pointer

    def input(self, position: int = 0) -> str:
        return self.pointer(self.op.inputs[position])

    def output(self, position: int = 0) -> str:
        return self.pointer(self.op.outputs[position])

    def constant(self, suffix: str, values: np.ndarray, ctype: str, comment: str) -> str:
        name = self.add_constant(f"tas_weights_op{self.op.index}_{suffix}", values, ctype, f"op {self.op.index} {comment}")
        self.constants_added.append(name)
        return name


def int8_activation(op: Op, tensor: Tensor | None, role: str) -> Tensor:
    require(tensor is not None, op, f"the {role} is missing")
    require(tensor.dtype == "int8", op, f"the {role} is {tensor.dtype}; only int8 activations are supported")
    require(tensor.quantization is not None and not tensor.quantization.per_channel, op,
            f"the {role} needs per-tensor quantization")
    return tensor


def nhwc(op: Op, tensor: Tensor, role: str) -> tuple[int, int, int]:
    require(len(tensor.shape) == 4 and tensor.shape[0] == 1, op,
            f"the {role} must be NHWC with batch 1, got shape {list(tensor.shape)}")
    return tensor.shape[1], tensor.shape[2], tensor.shape[3]


def same_padding(padding: str, in_size: int, filter_size: int, stride: int, dilation: int, out_size: int) -> int:
    """TFLite's ComputePaddingHeightWidth: SAME puts the odd extra pixel at the end."""
    if padding == "valid":
        return 0
    effective = (filter_size - 1) * dilation + 1
    return max(0, ((out_size - 1) * stride + effective - in_size) // 2)


def constant_bias(op: Op, tensor: Tensor | None, channels: int) -> np.ndarray | None:
    if tensor is None:
        return None
    require(tensor.is_constant and tensor.dtype == "int32", op, "the bias must be a constant int32 tensor")
    require(tensor.num_elements == channels, op, f"the bias has {tensor.num_elements} values for {channels} channels")
    return tensor.data.reshape(-1).astype(np.int32)


def int8_weights(op: Op, tensor: Tensor | None) -> Tensor:
    require(tensor is not None and tensor.is_constant, op, "the weights must be a constant tensor")
    require(tensor.dtype == "int8", op,
            f"the weights are {tensor.dtype}; quantize weights to int8 (full-integer quantization)")
    require(tensor.quantization is not None, op, "the weights have no quantization")
    require(all(z == 0 for z in tensor.quantization.zero_points), op, "int8 weights must be symmetric (zero point 0)")
    return tensor


def optional_input(graph: Graph, op: Op, position: int) -> Tensor | None:
    inputs = graph.op_inputs(op)
    return inputs[position] if len(inputs) > position else None


def folded_bias(weights: np.ndarray, bias: np.ndarray | None, input_offset: int) -> np.ndarray:
    """bias + input_offset·Σw per output channel (weights [out, ...]), as int32."""
    sums = weights.reshape(weights.shape[0], -1).astype(np.int64).sum(axis=1)
    folded = (bias.astype(np.int64) if bias is not None else 0) + input_offset * sums
    assert np.all(np.abs(folded) < 2**31), "folded bias overflows int32"
    return np.asarray(folded, dtype=np.int32)
