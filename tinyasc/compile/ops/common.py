"""What every op module shares: the Kernel and OpSpec records, the emit context, and the checks
that refuse tensors the kernels cannot run (each naming the op and what to do)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Callable

import numpy as np

from tinyasc.compile.ir import Graph, Op, OpKind, Tensor, require


class InPlace(Enum):
    """How a kernel's writes trail its reads, which tells the memory planner (plan.py) which
    input, if any, its output may overwrite once that input is dead."""

    SAME_INDEX = "same_index"  # output[i] from input[i] alone (256-entry tables): input 0 of the same size
    FULL_SHAPE_OPERAND = "full_shape_operand"  # output[i] from each operand at index i; a broadcast
    # operand is read again after later outputs are written, so only an operand of the output's shape
    FORWARD_WINDOWS = "forward_windows"  # row-major windows read at or after the byte they write
    # (pooling): input 0 when unpadded and the output is no larger


def always(params) -> bool:
    """The predicate of a kernel that runs every prepared op of its kind (a reference kernel)."""
    return True


@dataclass(frozen=True)
class Kernel:
    """One C kernel and every fact the compiler needs about it: selection (kernels.py), the memory
    planner (plan.py), conv+pool fusion (fusion.py) and sparse weights (sparse.py) read them here.
    Adding a kernel is its C file in firmware_templates/kernels/ and its record in its op's
    OpSpec (`reference` or `variants`)."""

    name: str  # the C function
    files: tuple[str, ...]  # kernel sources in firmware_templates/kernels/, shared headers first
    applies: Callable[[object], bool] = always  # it can run this prepared op (the op's params)
    requires: tuple[str, ...] = ()  # ISA extensions the board must list (boards.yaml `extensions`)
    in_place: InPlace | None = None  # its access order lets its output overwrite an input
    row_loop: bool = False  # loops over output rows from the input pointer: fusion may run it on row blocks
    scratch_bytes: Callable[[object], int] | None = None  # bytes of scratch RAM live during the op (ctx.scratch())
    sparse: Kernel | None = None  # the sparse-weight kernel for the same ops (sparse.py: when it pays off)
    folds_input_offset: bool = False  # takes bias + input_offset·Σw instead of the bias
    weight_layout: str = "natural"  # how emit stores the weights: "natural" (as in the model) or a packed layout
    params_ctype: str | None = None  # its own C parameter struct, else the op's (OpSpec.params_ctype)
    rows: Kernel | None = None  # the same kernel over a range of output rows, or one row-stream step (rowstream.py)
    # Estimated instructions for the whole op (compile/kernel_costs.py). Where the first kernel that
    # applies has one, the cheapest of the applicable kernels that have one runs (kernels.py).
    cost: Callable[[object], float] | None = None

    def runs_on(self, extensions: frozenset[str]) -> bool:
        """The board's ISA extensions include every one this kernel needs."""
        return set(self.requires) <= extensions


@dataclass(frozen=True)
class OpSpec:
    """How one op kind compiles: prepare (export-time constants), its kernels and the C parameter
    struct, and emit (the call, given the chosen kernel). `variants` are faster kernels, tried in
    order: the first whose `applies` holds and whose ISA the board has runs (or, when that one has a
    `cost`, the cheapest such variant with a cost: kernels.py), else `reference` (always correct). `reference=None` marks an alias op that runs no code. `with_options(params,
    options) -> params`, when set, applies the compile options (CompileOptions) to the prepared
    params (WS_CONV: a forced kernel), so options never change the IR."""

    kind: OpKind
    prepare: Callable
    reference: Kernel | None
    params_ctype: str | None = None
    emit: Callable | None = None
    describe: Callable = lambda params: ""
    variants: tuple[Kernel, ...] = ()
    with_options: Callable | None = None


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
        """`tas_arena + offset` (an `int8_t *`): the scratch buffer the kernel's `scratch_bytes` asked for,
        16-byte aligned, valid during this op only."""
        if self.scratch_pointer is None:
            raise AssertionError(f"op {self.op.index} ({self.op.kind.value}) emits ctx.scratch() "
                                 "but its kernel asked for no scratch_bytes")
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


def requantization_constants(ctx: EmitContext, multipliers: np.ndarray, shifts: np.ndarray,
                             shift_name: str = "shift") -> tuple[str, str, int]:
    """The multiplier and shift arrays and the kernel's `quant_step`: one pair stored once (step 0)
    when every channel has the same (per-tensor weights), else one per channel (step 1).
    `shift_name` says what the shift words hold in the C comment."""
    per_tensor = bool(np.all(multipliers == multipliers[0]) and np.all(shifts == shifts[0]))
    if per_tensor:
        multipliers, shifts = multipliers[:1], shifts[:1]
    m = ctx.constant("multiplier", multipliers, "int32_t", "requantize multiplier" + ("" if per_tensor else "s"))
    s = ctx.constant("shift", shifts, "int32_t", f"requantize {shift_name}" + ("" if per_tensor else "s"))
    return m, s, 0 if per_tensor else 1


def folds_into_int32(params) -> bool:
    """bias + input_offset·Σw fits int32 for every channel, and the multipliers are >= 0 (the fast
    requantization, tas_requantize_positive): the kernels that take a folded bias can run the op."""
    sums = params.weights.reshape(params.weights.shape[0], -1).astype(np.int64).sum(axis=1)
    bias = params.bias.astype(np.int64) if params.bias is not None else 0
    return bool(np.all(np.abs(bias + params.input_offset * sums) < 2**31) and np.all(np.asarray(params.multipliers) >= 0))


def folded_bias(weights: np.ndarray, bias: np.ndarray | None, input_offset: int) -> np.ndarray:
    """bias + input_offset·Σw per output channel (weights [out, ...]), as int32."""
    sums = weights.reshape(weights.shape[0], -1).astype(np.int64).sum(axis=1)
    folded = (bias.astype(np.int64) if bias is not None else 0) + input_offset * sums
    assert np.all(np.abs(folded) < 2**31), "folded bias overflows int32"
    return np.asarray(folded, dtype=np.int32)
