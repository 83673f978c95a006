"""Patch-based execution of a model's first stages (MCUNetV2): a chain of convs, depthwise convs and
unpadded pools reading the image runs patch by patch, every tensor inside the chain existing only at patch size.

The stage's output (H × W) is cut into a grid of gh × gw patches of one size, ⌈H/gh⌉ × ⌈W/gw⌉; the
last patch of a row or column starts at H − size, overlapping its neighbour (it recomputes a few
outputs, the same values), so every patch has the same size and one parameter struct serves every
patch of an op. Working back from the output, op k's output region of n rows needs
(n − 1)·stride + window input rows starting at origin·stride − pad: each tensor's region is
a fixed size at an origin affine in the patch's output origin (`Axis`).

Padding is physical and exact: the stage's input region is copied into a patch buffer, and every
position outside the real tensor (a patch at the image's edge reaching into its padding) is that
tensor's zero point; inner regions get the same fill after their op wrote them. So every op runs on
its region with no padding (a padded tap adds (zp − zp)·w = 0, as the reference's skipped tap), on
the kernel it runs op at a time. Interior patches have no padding at all: their regions hold the
neighbours' real rows (the halo, recomputed).

The tensors of a patch alternate between two buffers (op k reads one, writes the other); with the
kernels' scratch they are the stage's first op's scratch, so the planner's lower bound and the plan
checker count them like any buffer. The stage runs at its first op; its inner tensors are elided,
its output written whole from that op on (`produced_at`). `patches_are_exact` checks the geometry
independently: every output a kernel computes reads only its region, the real positions of each
region are computed, the others are filled, and the patches cover the output.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from tinyasc.compile.ir import Graph, OpKind
from tinyasc.compile.ops.conv import Conv2DParams
from tinyasc.compile.ops.pool import Pool2DParams, windows_inside_image

ALIGN = 16
PATCH_KINDS = (OpKind.CONV_2D, OpKind.DEPTHWISE_CONV_2D, OpKind.MAX_POOL_2D, OpKind.AVERAGE_POOL_2D)
GRIDS = ((2, 1), (3, 1), (4, 1), (6, 1), (8, 1), (2, 2), (3, 2), (3, 3), (4, 4), (6, 6))
MAX_EXTRA_MACS = 0.03  # recomputed MACs allowed, a fraction of the graph's: MobileNetV1 0.25 measured 4.8 % -> +8.7 % instructions


@dataclass(frozen=True)
class Reach:
    """How an op's output positions read its input along one axis: position o reads o·stride − pad
    .. o·stride − pad + window − 1."""

    stride: int
    pad: int
    window: int


@dataclass(frozen=True)
class Axis:
    """The patch geometry along rows or columns: tensor k (0: the stage's input, n: its output)
    holds `sizes[k]` positions from origin r·scales[k] − shifts[k] for a patch whose output starts
    at r (one of `origins`); `extents[k]` is the real tensor's."""

    sizes: tuple[int, ...]
    scales: tuple[int, ...]
    shifts: tuple[int, ...]
    extents: tuple[int, ...]
    origins: tuple[int, ...]

    def origin(self, k: int, r: int) -> int:
        return r * self.scales[k] - self.shifts[k]


def make_axis(reaches: list[Reach], extents: tuple[int, ...], parts: int) -> Axis | None:
    out = -(-extents[-1] // parts)
    if parts > 1 and (parts - 1) * out >= extents[-1]:
        return None  # fewer distinct patches than asked
    sizes, scales, shifts = [out], [1], [0]
    for reach in reversed(reaches):
        sizes.insert(0, (sizes[0] - 1) * reach.stride + reach.window)
        scales.insert(0, scales[0] * reach.stride)
        shifts.insert(0, shifts[0] * reach.stride + reach.pad)
    origins = tuple(min(i * out, extents[-1] - out) for i in range(parts))
    return Axis(tuple(sizes), tuple(scales), tuple(shifts), extents, origins)


@dataclass
class PatchStage:
    ops: tuple[int, ...]
    tensors: tuple[int, ...]  # the stage's input, its inner tensors, its output
    rows: Axis
    cols: Axis
    row_reach: list[Reach]
    col_reach: list[Reach]
    depths: tuple[int, ...]
    zero_points: tuple[int, ...]
    blocks: list  # each op's parameters on its patch
    macs: int  # all patches' MACs
    kernels: dict = field(default_factory=dict)  # op -> the Kernel its block runs
    kernel_scratch: int = 0

    @property
    def grid(self) -> tuple[int, int]:
        return len(self.rows.origins), len(self.cols.origins)

    @property
    def inner(self) -> tuple[int, ...]:
        return self.tensors[1:-1]

    @property
    def output(self) -> int:
        return self.tensors[-1]

    @property
    def writes_output_rows(self) -> bool:
        """Bands as wide as the output: the last op writes its rows straight into the output."""
        return self.cols.sizes[-1] == self.cols.extents[-1]

    def region_bytes(self, k: int) -> int:
        return self.rows.sizes[k] * self.cols.sizes[k] * self.depths[k]

    def slot_bytes(self) -> tuple[int, int]:
        """The two buffers the patch's tensors alternate between (tensor k in buffer k % 2)."""
        last = len(self.tensors) - (1 if self.writes_output_rows else 0)
        return tuple(max([self.region_bytes(k) for k in range(parity, last, 2)], default=0) for parity in (0, 1))

    def slot_offset(self, k: int) -> int:
        return 0 if k % 2 == 0 else _align(self.slot_bytes()[0])

    @property
    def kernel_scratch_offset(self) -> int:
        first, second = self.slot_bytes()
        return _align(first) + _align(second)

    @property
    def scratch_bytes(self) -> int:
        return _align(self.kernel_scratch_offset + self.kernel_scratch)


def _align(value: int) -> int:
    return (value + ALIGN - 1) // ALIGN * ALIGN


def reaches_of(graph: Graph, op, p) -> tuple[Reach, Reach, bool] | None:
    """The op's (row, column) reach and whether its parameters read it as H·W pixels (a 1×1
    stride-1 conv, conv.prepare), or None when it cannot run on patches (a padded pool: its
    padding is no value, so physical zero-point padding would change its result)."""
    if op.kind not in PATCH_KINDS or not isinstance(p, (Conv2DParams, Pool2DParams)) or op.inputs[0] < 0:
        return None
    if isinstance(p, Pool2DParams):  # unpadded only: a max or mean over zero-point padding is not the reference's
        return (Reach(p.stride_height, 0, p.filter_height), Reach(p.stride_width, 0, p.filter_width),
                False) if windows_inside_image(p) else None
    x, y = graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape
    if len(x) != 4 or len(y) != 4 or x[0] != 1 or x[1] < 2:
        return None
    (h, w), (ho, wo) = x[1:3], y[1:3]
    if (p.input_height, p.input_width, p.output_height, p.output_width) == (h, w, ho, wo):
        return (Reach(p.stride_height, p.pad_height, (p.filter_height - 1) * p.dilation_height + 1),
                Reach(p.stride_width, p.pad_width, (p.filter_width - 1) * p.dilation_width + 1), False)
    if (p.input_height, p.input_width, p.output_height) == (h * w, 1, h * w) and (h, w) == (ho, wo) \
            and p.filter_height == p.filter_width == 1 and w > 1:
        return Reach(1, 0, 1), Reach(1, 0, 1), True
    return None


def stage_ops(graph: Graph, prepared: list, taken: set[int]) -> list[int]:
    """The longest chain of patchable ops from the op reading the graph's input, each reading the
    one before it alone."""
    readers: dict[int, list[int]] = {}
    for op in graph.ops:
        for i in op.inputs:
            readers.setdefault(i, []).append(op.index)
    users = readers.get(graph.inputs[0], [])
    chain: list[int] = []
    while len(users) == 1 and users[0] not in taken:
        op = graph.ops[users[0]]
        if reaches_of(graph, op, prepared[op.index]) is None or (chain and op.inputs[0] != graph.ops[chain[-1]].outputs[0]):
            break
        chain.append(op.index)
        y = op.outputs[0]
        users = [] if y in graph.outputs else readers.get(y, [])
    return chain


def make_stage(graph: Graph, prepared: list, ops: list[int], grid: tuple[int, int]) -> PatchStage | None:
    found = [reaches_of(graph, graph.ops[i], prepared[i]) for i in ops]
    tensors = (graph.ops[ops[0]].inputs[0], *(graph.ops[i].outputs[0] for i in ops))
    shapes = [graph.tensors[t].shape for t in tensors]
    rows = make_axis([f[0] for f in found], tuple(s[1] for s in shapes), grid[0])
    cols = make_axis([f[1] for f in found], tuple(s[2] for s in shapes), grid[1])
    if rows is None or cols is None:
        return None
    blocks = []
    for k, i in enumerate(ops):
        (hi, ho), (wi, wo) = rows.sizes[k:k + 2], cols.sizes[k:k + 2]
        if found[k][2]:  # H·W pixels
            blocks.append(dataclasses.replace(prepared[i], input_height=hi * wi, output_height=ho * wo))
        else:
            blocks.append(dataclasses.replace(prepared[i], input_height=hi, input_width=wi, output_height=ho,
                                              output_width=wo, pad_height=0, pad_width=0))
    patches = grid[0] * grid[1]
    return PatchStage(tuple(ops), tensors, rows, cols, [f[0] for f in found], [f[1] for f in found],
                      tuple(s[3] for s in shapes), tuple(graph.tensors[t].quantization.zero_point for t in tensors),
                      blocks, patches * sum(b.macs for b in blocks))


def _axis_is_exact(axis: Axis, reaches: list[Reach]) -> bool:
    n = len(reaches)
    covered = set()
    for r in axis.origins:
        for k, reach in enumerate(reaches):
            low, high = axis.origin(k, r), axis.origin(k, r) + axis.sizes[k]  # the input region
            out_low = axis.origin(k + 1, r)
            for j in range(axis.sizes[k + 1]):  # every output the kernel computes, from the region's start
                first = low + j * reach.stride  # what the kernel (no padding) reads
                if first != (out_low + j) * reach.stride - reach.pad or first + reach.window > high:
                    return False  # not the reference's window, or past the region
        out_low = axis.origin(n, r)
        if out_low < 0 or out_low + axis.sizes[n] > axis.extents[n]:
            return False  # a patch written outside the output
        covered.update(range(out_low, out_low + axis.sizes[n]))
    return covered == set(range(axis.extents[n]))


def patches_are_exact(stage: PatchStage) -> bool:
    """Every output position a kernel computes reads only its patch's region of the input (the
    region's real positions computed by the op before, the rest filled with the zero point), the
    blocks' sizes are the regions', the two buffers of consecutive tensors differ, and the patches
    cover the output."""
    for k, block in enumerate(stage.blocks):
        hi, wi = stage.rows.sizes[k], stage.cols.sizes[k]
        ho, wo = stage.rows.sizes[k + 1], stage.cols.sizes[k + 1]
        if (block.input_height * block.input_width, block.output_height * block.output_width) != (hi * wi, ho * wo):
            return False
        if block.input_width != 1 and (block.input_height, block.input_width) != (hi, wi):
            return False
        if block.pad_height or block.pad_width:
            return False
    return _axis_is_exact(stage.rows, stage.row_reach) and _axis_is_exact(stage.cols, stage.col_reach)


def candidate_stages(graph: Graph, prepared: list, taken: set[int], graph_macs: int | None) -> list[PatchStage]:
    """Every stage (a prefix of two or more ops of `stage_ops`) on every grid whose recomputation
    stays within MAX_EXTRA_MACS of `graph_macs` (None: any), exact by `patches_are_exact`."""
    chain = stage_ops(graph, prepared, taken)
    found = []
    for n in range(2, len(chain) + 1):
        base = sum(prepared[i].macs for i in chain[:n])
        for grid in GRIDS:
            stage = make_stage(graph, prepared, chain[:n], grid)
            if stage is not None and (graph_macs is None or stage.macs - base <= MAX_EXTRA_MACS * graph_macs):
                assert patches_are_exact(stage), f"patch stage over ops {stage.ops} on {grid} is not exact"
                found.append(stage)
    return found
