"""The graph IR: tensors with shape, dtype and quantization; ops in execution order.

One IR for the whole compiler. The flatbuffer reader produces it, the planner and kernel selection
read it, the C renderer prints it. `verify()` states what a valid graph is; tests run it between
passes, and the reader (`tflite_reader.parse_tflite`) and `codegen.compile_graph` run it on every export.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from tinyasc.errors import UnsupportedModelError


class OpKind(enum.Enum):
    """The ops the compiler generates code for, one line of meaning each."""

    CONV_2D = "CONV_2D"  # int8 NHWC conv, OHWI per-channel weights, int32 bias, fused activation
    FULLY_CONNECTED = "FULLY_CONNECTED"  # int8 [batch, in] × [out, in]ᵀ + bias
    MAX_POOL_2D = "MAX_POOL_2D"  # window max over H, W
    AVERAGE_POOL_2D = "AVERAGE_POOL_2D"  # window mean over H, W, rounded half away from zero
    MEAN = "MEAN"  # mean over constant axes (global average pooling), requantized
    RESHAPE = "RESHAPE"  # same bytes, new shape: an alias, no code, no memory
    DEPTHWISE_CONV_2D = "DEPTHWISE_CONV_2D"  # int8 conv of each input channel alone, × depth multiplier
    ADD = "ADD"  # int8 a + b, each input rescaled to a common scale (left shift 20), 4-D broadcast
    SUB = "SUB"  # int8 a − b, same arithmetic as ADD
    MUL = "MUL"  # int8 a · b, one requantization of the product, 4-D broadcast
    CONCATENATION = "CONCATENATION"  # int8 inputs of the output's quantization joined along one axis
    PAD = "PAD"  # constant padding with the output zero point
    PADV2 = "PADV2"  # constant padding with a given int8 value
    SQUEEZE = "SQUEEZE"  # drop size-1 axes: an alias, no code, no memory
    EXPAND_DIMS = "EXPAND_DIMS"  # insert a size-1 axis: an alias, no code, no memory
    TRANSPOSE = "TRANSPOSE"  # permute axes (constant permutation)
    STRIDED_SLICE = "STRIDED_SLICE"  # constant begin/end/strides with masks
    SUM = "SUM"  # sum over constant axes, requantized
    RELU = "RELU"  # max(x, 0), requantized to the output scale (256-entry table)
    RELU6 = "RELU6"  # clamp to [0, 6] in the input's quantization, as TFLM (table)
    LEAKY_RELU = "LEAKY_RELU"  # x ≥ 0 ? x : alpha·x, two requantizations (table)
    QUANTIZE = "QUANTIZE"  # int8 → int8 requantization (table), or float32 graph input → int8
    DEQUANTIZE = "DEQUANTIZE"  # int8 → float32 graph output: scale · (q − zero_point)
    LOGISTIC = "LOGISTIC"  # sigmoid, gemmlowp fixed point, output 1/256 scale, zero point −128 (table)
    TANH = "TANH"  # tanh, gemmlowp fixed point, output 1/128 scale, zero point 0 (table)
    HARD_SWISH = "HARD_SWISH"  # x·relu6(x + 3)/6 in TFLite's int16 fixed point (table)
    SOFTMAX = "SOFTMAX"  # softmax over the last axis, gemmlowp exp and reciprocal, output 1/256, −128
    WS_CONV = "WS_CONV"  # WSNet weight-sampling conv (CUSTOM op): int8 x, int8 condensed filter Φ, int32 bias


# Ops whose output is the input's bytes under another shape.
ALIAS_OPS = frozenset({OpKind.RESHAPE, OpKind.SQUEEZE, OpKind.EXPAND_DIMS})

NUMPY_DTYPES = {
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "float32": np.float32,
    "float16": np.float16,
    "bool": np.bool_,
}


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per `axis` channel."""

    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1

    @property
    def scale(self) -> float:
        if self.per_channel:
            raise ValueError("per-channel quantization has no single scale")
        return self.scales[0]

    @property
    def zero_point(self) -> int:
        return self.zero_points[0]


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # a key of NUMPY_DTYPES
    quantization: Quantization | None = None
    data: np.ndarray | None = None  # set for constants (weights, bias, axes, shapes)

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def num_elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.num_elements * np.dtype(NUMPY_DTYPES[self.dtype]).itemsize


@dataclass
class Op:
    index: int  # position in execution order
    kind: OpKind
    inputs: tuple[int, ...]  # tensor indices; -1 marks an omitted optional input
    outputs: tuple[int, ...]
    options: dict = field(default_factory=dict)


@dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    description: str = ""

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def op_inputs(self, op: Op) -> list[Tensor | None]:
        return [self.tensors[i] if i >= 0 else None for i in op.inputs]

    def op_outputs(self, op: Op) -> list[Tensor]:
        return [self.tensors[i] for i in op.outputs]

    def dump(self) -> str:
        """The IR as text, shipped next to the generated C so a reader can follow the plan."""
        lines = [f"graph inputs={list(self.inputs)} outputs={list(self.outputs)}"]
        for t in self.tensors:
            q = ""
            if t.quantization:
                q = f" scale={_short(t.quantization.scales)} zp={_short(t.quantization.zero_points)}"
            kind = "const" if t.is_constant else "act"
            lines.append(f"  t{t.index:<3} {kind:5} {t.dtype:7} {list(t.shape)}{q}  {t.name}")
        for op in self.ops:
            lines.append(
                f"  op{op.index:<3} {op.kind.value:18} in={list(op.inputs)} out={list(op.outputs)} "
                f"{op.options}"
            )
        return "\n".join(lines) + "\n"


def _short(values: tuple) -> str:
    if len(values) <= 3:
        return str(list(values))
    return f"[{values[0]}, ... x{len(values)}]"


def verify(graph: Graph) -> None:
    """Raise if the graph breaks the IR's rules: every activation is produced before it is read,
    exactly once, constants carry data of their declared shape, indices are in range."""
    produced = set(graph.inputs)
    for t in graph.tensors:
        if t.is_constant:
            if tuple(t.data.shape) != tuple(t.shape):
                raise AssertionError(f"tensor {t.index} data shape {t.data.shape} != {t.shape}")
            produced.add(t.index)
    for position, op in enumerate(graph.ops):
        if op.index != position:
            raise AssertionError(f"op {op.kind.value} has index {op.index} at position {position}")
        for i in op.inputs:
            if not -1 <= i < len(graph.tensors):  # -1: an omitted optional input
                raise AssertionError(f"op {op.index} reads tensor {i}, out of range")
            if i >= 0 and i not in produced:
                raise AssertionError(f"op {op.index} reads tensor {i} before it is produced")
        for o in op.outputs:
            if not 0 <= o < len(graph.tensors):
                raise AssertionError(f"op {op.index} writes tensor {o}, out of range")
            if graph.tensors[o].is_constant:
                raise AssertionError(f"op {op.index} writes tensor {o}, a constant")
            if o in produced:
                raise AssertionError(f"tensor {o} is produced twice (op {op.index})")
            produced.add(o)
    for o in graph.outputs:
        if o not in produced:
            raise AssertionError(f"graph output {o} is never produced")


def require(condition: bool, op: Op, message: str) -> None:
    """Refuse an op the kernels cannot run, naming the op and what to do."""
    if not condition:
        raise UnsupportedModelError(f"op {op.index} ({op.kind.value}): {message}")
