"""ADD, SUB, MUL: int8 elementwise arithmetic with TFLite's 4-D broadcasting.

The arithmetic is TFLM's (add_common.cc, sub_common.cc, mul_common.cc):
- ADD/SUB shift both offset inputs left by 20 bits, scale each to the common scale 2·max(s1, s2),
  add or subtract, then requantize to the output. Both compute their multipliers in double from
  the float32 scales, as the TFLM we check against does (SUB with float32 quotients was 1 LSB off
  at rounding ties: fuzz seed 20 graph 10690; a float32 quotient changes a multiplier's last bits).
- MUL requantizes the product of the offset inputs once, with s1·s2/s_out.
Broadcasting follows TFLite: shapes right-aligned and extended to 4-D, a size-1 axis repeats.
An operand that is a constant tensor (a bias added, a scale multiplied) is printed as a constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyasc.compile import quant
from tinyasc.compile.ir import Graph, Op, OpKind, Tensor, require
from tinyasc.compile.ops.common import EmitContext, InPlace, Kernel, OpSpec, int8_activation

LEFT_SHIFT = 20  # TFLM's headroom for int8 ADD/SUB: (255 << 20) still fits int32


@dataclass(frozen=True)
class Broadcast4D:
    """Output extents and, per input, the element step of each output axis (0 where it repeats)."""

    dims: tuple[int, int, int, int]
    input1_steps: tuple[int, int, int, int]
    input2_steps: tuple[int, int, int, int]

    def fields(self) -> dict:
        values = {f"dim{i}": d for i, d in enumerate(self.dims)}
        values.update({f"input1_step{i}": s for i, s in enumerate(self.input1_steps)})
        values.update({f"input2_step{i}": s for i, s in enumerate(self.input2_steps)})
        return values


@dataclass(frozen=True)
class BroadcastLayout:
    """The flat fields of a Broadcast4D, as the kernels' parameter structs name them."""

    dim0: int
    dim1: int
    dim2: int
    dim3: int
    input1_step0: int
    input1_step1: int
    input1_step2: int
    input1_step3: int
    input2_step0: int
    input2_step1: int
    input2_step2: int
    input2_step3: int


@dataclass(frozen=True)
class AddParams(BroadcastLayout):
    subtract: bool
    input1_offset: int
    input2_offset: int
    output_offset: int
    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int
    input1_constant: np.ndarray | None  # int8 data when the operand is a constant tensor
    input2_constant: np.ndarray | None

    macs = 0  # requantizations, not multiply-accumulates


@dataclass(frozen=True)
class MulParams(BroadcastLayout):
    input1_offset: int
    input2_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int
    input1_constant: np.ndarray | None
    input2_constant: np.ndarray | None

    macs = 0  # one product per output, no accumulation: counted like ADD, not as MACs


def _extended(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (1,) * (4 - len(shape)) + tuple(shape)


def _row_major_steps(shape: tuple[int, ...]) -> list[int]:
    steps, step = [], 1
    for extent in reversed(shape):
        steps.insert(0, step)
        step *= extent
    return steps


def broadcast_4d(op: Op, a: Tensor, b: Tensor, y: Tensor) -> Broadcast4D:
    for t, role in ((a, "first input"), (b, "second input"), (y, "output")):
        require(len(t.shape) <= 4, op, f"the {role} has {len(t.shape)} dimensions; at most 4 are supported")
    out = _extended(y.shape)

    def steps(t: Tensor) -> tuple[int, ...]:
        shape = _extended(t.shape)
        for axis, (extent, out_extent) in enumerate(zip(shape, out)):
            require(extent in (1, out_extent), op,
                    f"shape {list(t.shape)} does not broadcast to the output shape {list(y.shape)}")
        row_major = _row_major_steps(shape)
        return tuple(0 if extent == 1 else row_major[axis] for axis, extent in enumerate(shape))

    return Broadcast4D(dims=out, input1_steps=steps(a), input2_steps=steps(b))


def _operands(op: Op, graph: Graph) -> tuple[Tensor, Tensor, Tensor]:
    inputs = graph.op_inputs(op)
    require(len(inputs) == 2, op, f"expected 2 inputs, the op has {len(inputs)}")
    a = int8_activation(op, inputs[0], "first input")
    b = int8_activation(op, inputs[1], "second input")
    y = int8_activation(op, graph.op_outputs(op)[0], "output")
    return a, b, y


def _constant_data(t: Tensor) -> np.ndarray | None:
    return t.data.astype(np.int8).reshape(-1) if t.is_constant else None


def _smaller_than_one(op: Op, real: float, what: str) -> tuple[int, int]:
    """TFLM's QuantizeMultiplierSmallerThanOneExp: a right shift only."""
    multiplier, shift = quant.quantize_multiplier(real)
    require(shift <= 0, op, f"the {what} rescale {real:.3g} is not below 1; the output scale is implausibly small")
    return multiplier, shift


def add_sub_multipliers(op: Op, s1: float, s2: float, s_out: float) -> dict:
    """The three multipliers of ADD and SUB (the same for both)."""
    twice = 2.0 * max(s1, s2)
    real1, real2 = s1 / twice, s2 / twice
    real_out = twice / ((1 << LEFT_SHIFT) * s_out)
    m1, sh1 = _smaller_than_one(op, real1, "first input")
    m2, sh2 = _smaller_than_one(op, real2, "second input")
    mo, sho = _smaller_than_one(op, real_out, "output")
    return dict(input1_multiplier=m1, input1_shift=sh1, input2_multiplier=m2, input2_shift=sh2,
                output_multiplier=mo, output_shift=sho)


def prepare_add_or_sub(op: Op, graph: Graph) -> AddParams:
    a, b, y = _operands(op, graph)
    subtract = op.kind == OpKind.SUB
    qa, qb, qy = a.quantization, b.quantization, y.quantization
    act_min, act_max = quant.activation_range(op.options.get("activation", "none"), qy.scale, qy.zero_point)
    return AddParams(
        **broadcast_4d(op, a, b, y).fields(),
        subtract=subtract,
        input1_offset=-qa.zero_point, input2_offset=-qb.zero_point, output_offset=qy.zero_point,
        left_shift=LEFT_SHIFT,
        **add_sub_multipliers(op, qa.scale, qb.scale, qy.scale),
        act_min=act_min, act_max=act_max,
        input1_constant=_constant_data(a), input2_constant=_constant_data(b),
    )


def prepare_mul(op: Op, graph: Graph) -> MulParams:
    a, b, y = _operands(op, graph)
    qa, qb, qy = a.quantization, b.quantization, y.quantization
    multiplier, shift = quant.quantize_multiplier(qa.scale * qb.scale / qy.scale)  # double, as mul_common.cc
    act_min, act_max = quant.activation_range(op.options.get("activation", "none"), qy.scale, qy.zero_point)
    return MulParams(
        **broadcast_4d(op, a, b, y).fields(),
        input1_offset=-qa.zero_point, input2_offset=-qb.zero_point, output_offset=qy.zero_point,
        output_multiplier=multiplier, output_shift=shift,
        act_min=act_min, act_max=act_max,
        input1_constant=_constant_data(a), input2_constant=_constant_data(b),
    )


def _operand_pointer(ctx: EmitContext, position: int, constant: np.ndarray | None) -> str:
    # Constant names avoid the word "input": codegen looks for it to know the model reads `input`.
    if constant is None:
        return ctx.input(position)
    return ctx.constant(f"operand{position + 1}", constant, "int8_t", f"constant operand {position + 1}")


def emit(p, kernel: Kernel, ctx: EmitContext) -> str:
    a = _operand_pointer(ctx, 0, p.input1_constant)
    b = _operand_pointer(ctx, 1, p.input2_constant)
    if kernel.weight_layout == "scaled_table":
        table, exact_first, exact_negative = scaled_table(p)
        t = ctx.constant("scaled", table, "int32_t", "per byte of the rescaled input: its doubled scaled value "
                         "plus the exact input's doubled offset term")
        return f"{kernel.name}({ctx.params}, {a}, {b}, {t}, {exact_first}, {exact_negative}, {ctx.output()})"
    scratch = f"(int32_t *)(void *)({ctx.scratch()}), " if kernel.scratch_bytes else ""
    return f"{kernel.name}({ctx.params}, {a}, {b}, {scratch}{ctx.output()})"


def describe(p) -> str:
    broadcast = any(
        getattr(p, f"input{i}_step{axis}") == 0 and getattr(p, f"dim{axis}") > 1 for i in (1, 2) for axis in range(4)
    )
    return f"{p.dim0}x{p.dim1}x{p.dim2}x{p.dim3}" + (" broadcast" if broadcast else "")


ADD_KERNEL = Kernel("tas_add_s8", ("tas_add_s8.c",), in_place=InPlace.FULL_SHAPE_OPERAND)
MUL_KERNEL = Kernel("tas_mul_s8", ("tas_mul_s8.c",), in_place=InPlace.FULL_SHAPE_OPERAND)
# The fast kernels: the same arithmetic with each high multiply one SMMULR of a doubled value, which
# must fit int32: ADD's (x + offset)·2^21 always does; MUL's 255²·2^(left shift + 1) up to a left shift of 14.
ADD_FAST = Kernel("tas_add_fast_s8", ("tas_broadcast.h", "tas_dsp.h", "tas_add_run.h", "tas_add_fast_s8.c"), in_place=InPlace.FULL_SHAPE_OPERAND,
                  applies=lambda p: p.left_shift == LEFT_SHIFT)
EXACT_MULTIPLIER = 1 << 30  # QuantizeMultiplier(0.5): the larger input scale's rescale, exact
ADD_RUN_MAX_OUTPUT_RIGHT = 21  # tas_add_run.h: the output offset · 2^right joins the SMMLAR's addend


def add_run_applies(p) -> bool:
    """tas_add_run_of's condition (tas_add_run.h): one input's rescale exactly 0.5, the other's
    below it (or, for ADD, both 0.5), and an output right shift in [1, 21]. Every ADD and SUB
    add_sub_multipliers makes has the first; then tas_add_fast_s8 runs contiguous operands at about
    15 instructions an element (its tables cost tas_add_table_s8 about 21 and 2 KB of scratch)."""
    exact1 = (p.input1_multiplier, p.input1_shift) == (EXACT_MULTIPLIER, 0)
    exact2 = (p.input2_multiplier, p.input2_shift) == (EXACT_MULTIPLIER, 0)
    if p.left_shift != LEFT_SHIFT or not (exact1 or exact2) or not 1 <= -p.output_shift <= ADD_RUN_MAX_OUTPUT_RIGHT:
        return False
    if exact1 and exact2:
        return not p.subtract
    return (p.input2_shift if exact1 else p.input1_shift) <= -1


def runs_contiguously(p) -> bool:
    """Both operands read the innermost axis of more than one element contiguously, for at least
    ADD_RUN_MIN_LENGTH elements (a residual ADD, a row of one in a row chain), so the contiguous
    run pays for its per-run set-up."""
    axis = max((a for a in range(4) if getattr(p, f"dim{a}") > 1), default=3)
    contiguous = getattr(p, f"input1_step{axis}") == 1 and getattr(p, f"input2_step{axis}") == 1
    return contiguous and getattr(p, f"dim{axis}") >= ADD_RUN_MIN_LENGTH


ADD_RUN_MIN_LENGTH = 16


def scaled_table(p) -> tuple[np.ndarray, int, int]:
    """tas_add_lut_s8's table and flags. e is the input whose rescale is exactly 0.5 (input1 when both
    are), s the other: TFLite's doubled sum 2·(±scaled(e) ± scaled(s)) is table[s + 128] ± e·2^20 with
    table[v + 128] = ±offset_e·2^20 ± 2·scaled_s(v), scaled_s by TFLite's arithmetic ((v + offset)·2^20
    times a multiplier below one, rounded twice). Returns (table, exact_first, exact_negative)."""
    exact_first = int((p.input1_multiplier, p.input1_shift) == (EXACT_MULTIPLIER, 0))
    offset_e, offset_s = (p.input1_offset, p.input2_offset) if exact_first else (p.input2_offset, p.input1_offset)
    multiplier, shift = (p.input2_multiplier, p.input2_shift) if exact_first else (p.input1_multiplier, p.input1_shift)
    sign_e = -1 if p.subtract and not exact_first else 1
    sign_s = -1 if p.subtract and exact_first else 1
    values = np.arange(-128, 128, dtype=np.int64)
    scaled = quant.multiply_by_quantized_multiplier((values + offset_s) * (1 << LEFT_SHIFT), multiplier, shift)
    table = sign_e * offset_e * (1 << LEFT_SHIFT) + sign_s * 2 * np.asarray(scaled, dtype=np.int64)
    return table.astype(np.int32), exact_first, int(sign_e < 0)


def is_full_shape(p) -> bool:
    """Both operands have the output's shape and layout (no broadcast): one run of dim0·…·dim3 bytes."""
    dims = [p.dim0, p.dim1, p.dim2, p.dim3]
    strides = [dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3], 1]
    return all(getattr(p, f"input{i}_step{axis}") == strides[axis]
               for i in (1, 2) for axis in range(4) if dims[axis] > 1)
# On DSP cores, an ADD tas_add_run.h takes runs tas_add_fast_s8 before any table: about 15
# instructions an element against the tables' 21 and no scratch. The M3's portable SMMLAR costs
# more than the tables' loads, so the tables stay first there.
ADD_RUN = Kernel("tas_add_fast_s8", ADD_FAST.files, in_place=InPlace.FULL_SHAPE_OPERAND, requires=("dsp",),
                 applies=lambda p: add_run_applies(p) and runs_contiguously(p))
ADD_TABLE_MIN_OUTPUTS = 512
# Residual ADDs (no broadcast, >= 512 outputs) on DSP cores: the rescaled input's values from a 1 KB
# table in flash (tas_add_lut_s8.c), about 10 instructions an element against the run's 17.
ADD_LUT = Kernel("tas_add_lut_s8", ("tas_dsp.h", "tas_add_lut_s8.c"), in_place=InPlace.FULL_SHAPE_OPERAND,
                 requires=("dsp",), weight_layout="scaled_table",
                 applies=lambda p: (add_run_applies(p) and is_full_shape(p)
                                    and p.dim0 * p.dim1 * p.dim2 * p.dim3 >= ADD_TABLE_MIN_OUTPUTS))
# Residual-sized ADDs (>= 512 outputs) tabulate each input's scaled value first: 2 KB of scratch.
ADD_TABLE = Kernel("tas_add_table_s8", ("tas_broadcast.h", "tas_add_table_s8.c"), in_place=InPlace.FULL_SHAPE_OPERAND,
                   applies=lambda p: (p.left_shift == LEFT_SHIFT and p.output_shift <= -1
                                      and p.dim0 * p.dim1 * p.dim2 * p.dim3 >= ADD_TABLE_MIN_OUTPUTS),
                   scratch_bytes=lambda p: 2 * 256 * 4)
MUL_FAST = Kernel("tas_mul_fast_s8", ("tas_broadcast.h", "tas_mul_fast_s8.c"), in_place=InPlace.FULL_SHAPE_OPERAND,
                  applies=lambda p: p.output_shift <= 14 and p.output_multiplier >= 0)
ADD_SPEC = OpSpec(kind=OpKind.ADD, prepare=prepare_add_or_sub, reference=ADD_KERNEL, variants=(ADD_LUT, ADD_RUN, ADD_TABLE, ADD_FAST),
                  params_ctype="tas_add_params", emit=emit, describe=describe)
SUB_SPEC = OpSpec(kind=OpKind.SUB, prepare=prepare_add_or_sub, reference=ADD_KERNEL, variants=(ADD_LUT, ADD_RUN, ADD_TABLE, ADD_FAST),
                  params_ctype="tas_add_params", emit=emit, describe=describe)
MUL_SPEC = OpSpec(kind=OpKind.MUL, prepare=prepare_mul, reference=MUL_KERNEL, variants=(MUL_FAST,),
                  params_ctype="tas_mul_params", emit=emit, describe=describe)
