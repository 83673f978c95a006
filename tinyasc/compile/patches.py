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

Bands (a grid gh × 1 whose bands tile the output exactly) keep their halos instead: each tensor
has its own buffer, and before band i > 0 its last `kept[k]` rows (the rows band i shares with band
i − 1) move to the buffer's top; every op then computes only its tensor's new rows (`steady`
blocks, the first band running the full `blocks`), so no MAC is recomputed and each input row is
copied once (but for the rows where the first op's first band overlaps steady blocks:
patches_emit.py, steady_first_band). Otherwise the tensors of a patch alternate between two buffers
(op k reads one, writes the other). With the kernels' scratch the buffers are the stage's first op's scratch, so the planner's lower bound and the plan
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
MAX_BANDS = 48
# The overhead estimate (instructions, `overhead`): a recomputed MAC of a first stage's kernels
# (MobileNetV1 0.25's 3x2 grid: 216k recomputed MACs, +0.73 M instructions), a byte copied, moved
# or filled (memcpy/memmove in words), and a kernel call's setup.
RECOMPUTED_MAC_COST, BYTE_COST, CALL_COST = 3.4, 0.4, 150


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
    kept: tuple[int, ...] | None = None  # bands: rows of tensor k kept from the band before (None: patches)
    steady: list | None = None  # bands: each op's parameters computing only its new rows
    kernels: dict = field(default_factory=dict)  # op -> the Kernel its block runs
    kernel_scratch: int = 0
    base_macs: int = 0  # the stage's MACs op at a time

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

    def row_bytes(self, k: int) -> int:
        return self.cols.sizes[k] * self.depths[k]

    def region_bytes(self, k: int) -> int:
        return self.rows.sizes[k] * self.row_bytes(k)

    def slot_bytes(self) -> tuple[int, ...]:
        """The buffers of the patch's tensors: bands, one per tensor but the output; patches, two
        they alternate between (tensor k in buffer k % 2)."""
        last = len(self.tensors) - (1 if self.writes_output_rows else 0)
        if self.kept is not None:
            return tuple(self.region_bytes(k) for k in range(last))
        return tuple(max([self.region_bytes(k) for k in range(parity, last, 2)], default=0) for parity in (0, 1))

    def slot_offset(self, k: int) -> int:
        slots = self.slot_bytes()
        return sum(_align(b) for b in slots[:k if self.kept is not None else k % 2])

    @property
    def kernel_scratch_offset(self) -> int:
        return sum(_align(b) for b in self.slot_bytes())

    def step(self, k: int) -> int:
        """Rows of tensor k between one band's region and the next's."""
        return self.rows.sizes[-1] * self.rows.scales[k]

    @property
    def overhead(self) -> float:
        """Instructions this stage adds to running its ops whole (an estimate): recomputed MACs,
        bytes copied in, moved, filled and stored, kernel calls."""
        patches = self.grid[0] * self.grid[1]
        copied = patches * self.region_bytes(0) if self.kept is None else self.rows.extents[0] * self.row_bytes(0)
        moved = sum((patches - 1) * kept * self.row_bytes(k) for k, kept in enumerate(self.kept or ()))
        stored = 0 if self.writes_output_rows else patches * self.region_bytes(len(self.tensors) - 1)
        return (RECOMPUTED_MAC_COST * (self.macs - self.base_macs) + BYTE_COST * (copied + moved + stored)
                + CALL_COST * patches * len(self.ops))

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


def _block(params, pixels: bool, rows: tuple[int, int], cols: tuple[int, int]):
    """An op's parameters on a region of rows[0] × cols[0] inputs, rows[1] × cols[1] outputs."""
    (hi, ho), (wi, wo) = rows, cols
    if pixels:  # H·W pixels
        return dataclasses.replace(params, input_height=hi * wi, output_height=ho * wo)
    return dataclasses.replace(params, input_height=hi, input_width=wi, output_height=ho, output_width=wo,
                               pad_height=0, pad_width=0)


def make_stage(graph: Graph, prepared: list, ops: list[int], grid: tuple[int, int],
               bands: bool = False) -> PatchStage | None:
    """The stage over `ops` on `grid`; `bands`: gh full-width bands tiling the output exactly,
    their halos kept (None when the grid does not allow it)."""
    found = [reaches_of(graph, graph.ops[i], prepared[i]) for i in ops]
    tensors = (graph.ops[ops[0]].inputs[0], *(graph.ops[i].outputs[0] for i in ops))
    shapes = [graph.tensors[t].shape for t in tensors]
    rows = make_axis([f[0] for f in found], tuple(s[1] for s in shapes), grid[0])
    cols = make_axis([f[1] for f in found], tuple(s[2] for s in shapes), grid[1])
    if rows is None or cols is None or (bands and (grid[1] != 1 or rows.extents[-1] % grid[0])):
        return None
    blocks = [_block(prepared[i], found[k][2], rows.sizes[k:k + 2], cols.sizes[k:k + 2]) for k, i in enumerate(ops)]
    patches = grid[0] * grid[1]
    macs, kept, steady = patches * sum(b.macs for b in blocks), None, None
    if bands:
        step = [rows.sizes[-1] * scale for scale in rows.scales]
        kept = tuple(max(0, size - s) for size, s in zip(rows.sizes, step))
        steady = []
        for k, i in enumerate(ops):
            new = rows.sizes[k + 1] - kept[k + 1]
            steady.append(_block(prepared[i], found[k][2], ((new - 1) * found[k][0].stride + found[k][0].window, new),
                                 cols.sizes[k:k + 2]))
        macs = sum(b.macs for b in blocks) + (patches - 1) * sum(b.macs for b in steady)
    return PatchStage(tuple(ops), tensors, rows, cols, [f[0] for f in found], [f[1] for f in found],
                      tuple(s[3] for s in shapes), tuple(graph.tensors[t].quantization.zero_point for t in tensors),
                      blocks, macs, kept, steady, base_macs=sum(prepared[i].macs for i in ops))


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


def _block_is(block, rows: tuple[int, int], cols: tuple[int, int]) -> bool:
    """The block reads rows[0] × cols[0] positions and writes rows[1] × cols[1], unpadded."""
    (hi, ho), (wi, wo) = rows, cols
    if (block.input_height * block.input_width, block.output_height * block.output_width) != (hi * wi, ho * wo):
        return False
    return (block.input_width == 1 or (block.input_height, block.input_width) == (hi, wi)) \
        and not block.pad_height and not block.pad_width


def _bands_are_exact(stage: PatchStage) -> bool:
    """Simulates the bands as the C runs them, each buffer as the logical rows it holds: after the
    kept rows move up and the new rows are loaded or computed, buffer k holds its region's rows in
    order, and every row an op computes reads the reference's input rows."""
    rows, n, out = stage.rows, len(stage.ops), stage.rows.sizes[-1]
    held: list[list[int]] = [[] for _ in range(n + 1)]
    for i, r in enumerate(rows.origins):
        if r != i * out or stage.cols.sizes[-1] != stage.cols.extents[-1]:
            return False  # bands tile the output exactly, full width
        kept = [0] * (n + 1) if i == 0 else [*stage.kept, 0]
        start = [rows.origin(k, r) for k in range(n + 1)]
        held[0] = held[0][len(held[0]) - kept[0]:] + list(range(start[0] + kept[0], start[0] + rows.sizes[0]))
        for k, reach in enumerate(stage.row_reach):
            block = (stage.blocks if i == 0 else stage.steady)[k]
            new = rows.sizes[k + 1] - kept[k + 1]
            first_in = kept[k + 1] * reach.stride
            read = (new - 1) * reach.stride + reach.window
            if not _block_is(block, (read, new), stage.cols.sizes[k:k + 2]) or first_in + read > len(held[k]):
                return False
            logical = [start[k + 1] + kept[k + 1] + j for j in range(new)]
            if any(held[k][first_in + j * reach.stride] != row * reach.stride - reach.pad
                   or held[k][first_in + j * reach.stride + reach.window - 1] != row * reach.stride - reach.pad
                   + reach.window - 1 for j, row in enumerate(logical)):
                return False  # not the reference's window
            held[k + 1] = held[k + 1][len(held[k + 1]) - kept[k + 1]:] if kept[k + 1] else []
            held[k + 1] += logical
        if any(held[k] != list(range(start[k], start[k] + rows.sizes[k])) for k in range(n + 1)):
            return False
    return True


def patches_are_exact(stage: PatchStage) -> bool:
    """Every output position a kernel computes reads only its patch's region of the input (the
    region's real positions computed by the op before, the rest filled with the zero point), the
    blocks' sizes are the regions', the two buffers of consecutive tensors differ, and the patches
    cover the output; bands also keep and compute their rows exactly (`_bands_are_exact`)."""
    for k, block in enumerate(stage.blocks):
        if not _block_is(block, stage.rows.sizes[k:k + 2], stage.cols.sizes[k:k + 2]):
            return False
    if stage.kept is not None and not _bands_are_exact(stage):
        return False
    return _axis_is_exact(stage.rows, stage.row_reach) and _axis_is_exact(stage.cols, stage.col_reach)


def candidate_stages(graph: Graph, prepared: list, taken: set[int], graph_macs: int | None) -> list[PatchStage]:
    """Every stage (a prefix of two or more ops of `stage_ops`) on every grid, as patches and (where
    the bands tile the output) as bands keeping their halos, whose recomputation stays within
    MAX_EXTRA_MACS of `graph_macs` (None: any), exact by `patches_are_exact`."""
    chain = stage_ops(graph, prepared, taken)
    found = []
    for n in range(2, len(chain) + 1):
        height = graph.tensors[graph.ops[chain[n - 1]].outputs[0]].shape[1]
        shapes = [(grid, False) for grid in GRIDS] + [((gh, 1), True) for gh in range(2, min(height, MAX_BANDS) + 1)
                                                      if height % gh == 0]
        for grid, bands in shapes:
            stage = make_stage(graph, prepared, chain[:n], grid, bands)
            if stage is not None and (graph_macs is None or stage.macs - stage.base_macs <= MAX_EXTRA_MACS * graph_macs):
                assert patches_are_exact(stage), f"patch stage over ops {stage.ops} on {grid} is not exact"
                found.append(stage)
    return found
