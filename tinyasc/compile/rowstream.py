"""Row streams: a depthwise conv, alone or fused with the 1×1 conv after it, writing its output
rows over the input rows it has finished reading (in NHWC a row holds every channel of its
pixels, so whole rows are the unit: writing one channel over another in place is never safe
with stride or padding, rows are).

Output row r of a depthwise conv reads input rows r·s − p .. r·s − p + fh − 1 (stride s, top
padding p, filter height fh), so the rows it still needs only move down. Put the output at offset
0 and the input `shift` bytes after it in one buffer (plan.py step 8); write output row r when
rows r + d + 1 .. are still to be computed (d = −1: straight from the kernel, d ≥ 0: held back in
a ring of d + 1 rows and copied). That write is safe when its bytes end at or before the first
input row any remaining output row reads:

    (r + 1)·Ro ≤ shift + first_needed(r + d + 1)·Ri     (no condition once every row is computed)

(Ro, Ri: bytes of an output and an input row). `choose_schedule` takes, for each d, the least
shift that satisfies every r and keeps the (d, shift) of least memory: max(output, shift + input)
+ ring, then the least shift (a shift makes the buffer grow down, and chains of them add up), then
the least copying. `stream_is_safe` checks the choice independently by simulating the buffer byte
by byte: every byte each output row reads still holds its input when read, and every output row
still holds its value at the end.

Fused with the pointwise conv (the depthwise output read by one 1×1, stride-1 CONV_2D only), the
depthwise output never exists in full: each iteration computes a few depthwise rows (rows_per_step) into a row buffer
(scratch) and runs the 1×1 conv's own kernel on that one-row image into the output row. Both are
the ops' own kernels on the same bytes, so the result is bit-exact with the unfused ops.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from tinyasc.compile.ir import Graph, OpKind
from tinyasc.compile.ops.conv import Conv2DParams

ROW = "tas_row"  # the loop variable in the generated C
MAX_RING_ROWS = 8
MIN_STEP_PIXELS = 2  # output pixels per step: the 1×1 kernel's pixel blocks and per-call setup pay off
ALIGN = 16


@dataclass(frozen=True)
class RowGeometry:
    output_rows: int
    output_row_bytes: int
    input_rows: int
    input_row_bytes: int
    stride: int
    pad_top: int
    window: int  # input rows one output row reads (the filter height)

    def first_needed(self, row: int) -> int:
        """The first input row that output rows `row` .. read (input_rows: none is read)."""
        if row >= self.output_rows:
            return self.input_rows
        return min(self.input_rows, max(0, row * self.stride - self.pad_top))

    def rows_read(self, row: int) -> range:
        top = row * self.stride - self.pad_top
        return range(max(0, top), min(self.input_rows, top + self.window))

    @property
    def output_bytes(self) -> int:
        return self.output_rows * self.output_row_bytes

    @property
    def input_bytes(self) -> int:
        return self.input_rows * self.input_row_bytes


@dataclass(frozen=True)
class Schedule:
    delay: int  # −1: rows written by the kernel in place; d ≥ 0: through a ring of d + 1 rows
    shift: int  # bytes from the output's start to the input's start in their buffer

    @property
    def ring_rows(self) -> int:
        return self.delay + 1


def least_shift(g: RowGeometry, delay: int) -> int:
    need = 0
    for row in range(g.output_rows):
        later = row + delay + 1
        if later < g.output_rows:
            need = max(need, (row + 1) * g.output_row_bytes - g.first_needed(later) * g.input_row_bytes)
    return need


def schedule_bytes(g: RowGeometry, s: Schedule) -> int:
    """Bytes the stream holds: its buffer (output and input, `shift` apart) and the ring."""
    return max(g.output_bytes, s.shift + g.input_bytes) + s.ring_rows * g.output_row_bytes


def choose_schedule(g: RowGeometry) -> Schedule:
    options = [Schedule(d, least_shift(g, d)) for d in range(-1, min(g.output_rows, MAX_RING_ROWS))]
    best = min(options, key=lambda s: (schedule_bytes(g, s), s.shift, s.delay))
    assert stream_is_safe(g, best), f"row stream schedule {best} for {g} is not safe"
    return best


def stream_is_safe(g: RowGeometry, s: Schedule) -> bool:
    """Simulate the buffer: bytes hold ('input row' i) as i ≥ 0 or ('output row' r) as −1 − r."""
    size = max(g.output_bytes, s.shift + g.input_bytes)
    memory = np.full(size, -10**9, dtype=np.int64)
    for i in range(g.input_rows):
        memory[s.shift + i * g.input_row_bytes: s.shift + (i + 1) * g.input_row_bytes] = i
    ro, ri = g.output_row_bytes, g.input_row_bytes

    def write(row: int) -> None:
        memory[row * ro: (row + 1) * ro] = -1 - row

    def reads_intact(row: int) -> bool:
        return all(np.all(memory[s.shift + i * ri: s.shift + (i + 1) * ri] == i) for i in g.rows_read(row))

    for row in range(g.output_rows):
        if s.delay < 0:  # the kernel writes the row while reading it: its bytes must miss the reads
            write(row)
            if not reads_intact(row):
                return False
            continue
        if not reads_intact(row):
            return False
        if row - s.delay >= 0:
            write(row - s.delay)
    for row in range(max(0, g.output_rows - s.delay), g.output_rows) if s.delay >= 0 else ():
        write(row)
    return all(np.all(memory[r * ro: (r + 1) * ro] == -1 - r) for r in range(g.output_rows))


@dataclass(frozen=True)
class RowStream:
    depthwise_op: int
    pointwise_op: int | None  # the fused 1×1 conv, or None
    input: int  # the depthwise input tensor
    output: int  # the stream's output tensor (the pointwise output when fused)
    elided: int | None  # the depthwise output, when fused: never in memory
    geometry: RowGeometry
    pointwise_block: Conv2DParams | None  # the 1×1 conv on one step's rows
    row_buffer_bytes: int  # one depthwise output row (fused), else 0
    pointwise_scratch_bytes: int
    rows_per_step: int = 1  # output rows each step computes (the geometry's "row" is a step's rows)
    schedule: Schedule = Schedule(-1, 0)
    in_place: bool = False

    def scratch_layout(self) -> tuple[int, int, int]:
        """Offsets in the op's scratch of the row buffer, the pointwise kernel's scratch and the ring."""
        scratch = _align(self.row_buffer_bytes)
        ring = scratch + _align(self.pointwise_scratch_bytes)
        return 0, scratch, ring

    @property
    def scratch_bytes(self) -> int:
        ring_bytes = self.schedule.ring_rows * self.geometry.output_row_bytes if self.in_place else 0
        return self.scratch_layout()[2] + ring_bytes

    @property
    def needs_loop(self) -> bool:
        return self.pointwise_op is not None or (self.in_place and self.schedule.delay >= 0)


def _align(value: int) -> int:
    return (value + ALIGN - 1) // ALIGN * ALIGN


def _readers(graph: Graph) -> dict[int, list[int]]:
    readers: dict[int, list[int]] = {}
    for op in graph.ops:
        for i in op.inputs:
            readers.setdefault(i, []).append(op.index)
    return readers


def _pointwise_after(graph: Graph, prepared: list, y: int, readers) -> int | None:
    """The 1×1, stride-1, unpadded CONV_2D that alone reads the depthwise output y."""
    ops = readers.get(y, [])
    if len(ops) != 1 or y in graph.outputs or graph.ops[ops[0]].kind is not OpKind.CONV_2D:
        return None
    q = prepared[ops[0]]
    if not isinstance(q, Conv2DParams) or graph.ops[ops[0]].inputs[0] != y:
        return None
    one_by_one = (q.filter_height == q.filter_width == 1 and q.stride_height == q.stride_width == 1
                  and q.pad_height == q.pad_width == 0 and q.groups == 1 and q.output_height == q.input_height)
    return ops[0] if one_by_one else None


def pointwise_row_block(q: Conv2DParams, rows: int, width: int) -> Conv2DParams | None:
    """The 1×1 conv on `rows` rows of `width` pixels, in the shape its prepare gave the whole
    image (H × W, or H·W × 1 when it reads the pixels as one contiguous column)."""
    if q.input_width == 1:
        return dataclasses.replace(q, input_height=rows * width, output_height=rows * width)
    if q.input_width == width:
        return dataclasses.replace(q, input_height=rows, output_height=rows)
    return None


def rows_per_step(output_rows: int, output_width: int) -> int:
    """The fewest output rows, dividing the output, that give a step MIN_STEP_PIXELS pixels; one
    row when that takes more than half the output (no streaming left)."""
    k = next(k for k in range(1, output_rows + 1)
             if output_rows % k == 0 and (k * output_width >= MIN_STEP_PIXELS or k == output_rows))
    return k if 2 * k <= output_rows else 1


def find_row_streams(graph: Graph, prepared: list, kernels: list, kernel_of, taken: set[int]) -> list[RowStream]:
    """Every depthwise conv whose kernel has a `rows` variant, fused with its pointwise conv when
    there is one. `kernel_of(op_index, params)` is codegen's kernel choice; ops in `taken` (other
    fusions) are left alone."""
    readers = _readers(graph)
    streams = []
    for op in graph.ops:
        kernel = kernels[op.index]
        if op.kind is not OpKind.DEPTHWISE_CONV_2D or kernel is None or kernel.rows is None or op.index in taken:
            continue
        p = prepared[op.index]
        y = op.outputs[0]
        pw = _pointwise_after(graph, prepared, y, readers)
        block, pw_scratch = None, 0
        step = rows_per_step(p.output_height, p.output_width) if pw is not None else 1
        if pw is not None and pw not in taken:
            block = pointwise_row_block(prepared[pw], step, p.output_width)
        if block is not None:
            pw_kernel = kernel_of(pw, block)
            pw_scratch = int(pw_kernel.scratch_bytes(block)) if pw_kernel and pw_kernel.scratch_bytes else 0
        else:
            pw, step = None, 1
        out_row = step * p.output_width * (prepared[pw].output_depth if pw is not None else p.output_depth)
        geometry = RowGeometry(p.output_height // step, out_row, p.input_height, p.input_width * p.input_depth,
                               step * p.stride_height, p.pad_height, (step - 1) * p.stride_height + p.filter_height)
        streams.append(RowStream(
            depthwise_op=op.index, pointwise_op=pw, input=op.inputs[0],
            output=graph.ops[pw].outputs[0] if pw is not None else y, elided=y if pw is not None else None,
            geometry=geometry, pointwise_block=block,
            row_buffer_bytes=step * p.output_width * p.output_depth if pw is not None else 0,
            pointwise_scratch_bytes=pw_scratch, rows_per_step=step,
        ))
    return streams


def settle(streams: list[RowStream], overwritable: set[int]) -> list[RowStream]:
    """Each stream's schedule once the planner has said which inputs may be overwritten (the
    stream's output in `overwritable`); a lone depthwise conv that cannot run in place is no
    stream (it runs its plain kernel)."""
    settled = []
    for s in streams:
        if s.output in overwritable:
            settled.append(dataclasses.replace(s, in_place=True, schedule=choose_schedule(s.geometry)))
        elif s.pointwise_op is not None:
            settled.append(s)  # separate buffers: rows written straight to the output
    return settled


def stream_loop(s: RowStream, depthwise_call: str, pointwise_call: str | None, output: str, ring: str) -> str:
    """The C statement of a stream (codegen prints it followed by ';'): per output row the calls
    (which write the row to `destination`), then the ring's copy of the row d behind."""
    g, d = s.geometry, s.schedule.delay
    rows = g.output_rows
    body = [f"{depthwise_call};"] + ([f"{pointwise_call};"] if pointwise_call else [])
    tail = ""
    if s.in_place and d >= 0:
        r = s.schedule.ring_rows
        slot = lambda row: ring if r == 1 else f"{ring} + (({row}) % {r}) * {g.output_row_bytes}"  # noqa: E731
        held = f"{ROW} - {d}" if d else ROW
        copy = f"tas_copy_row({output} + ({held}) * {g.output_row_bytes}, {slot(held)}, {g.output_row_bytes});"
        body.append(f"if ({ROW} >= {d}) {copy}" if d else copy)
        if d > 0:
            tail = (f"\n    for (int32_t {ROW} = {rows - d}; {ROW} < {rows}; ++{ROW}) {{\n"
                    f"        tas_copy_row({output} + {ROW} * {g.output_row_bytes}, {slot(ROW)}, {g.output_row_bytes});\n"
                    f"    }}")
    what = "depthwise row" + (f" then 1x1 conv (op {s.pointwise_op} fused)" if s.pointwise_op is not None else "")
    where = (f"in place, {s.schedule.ring_rows}-row ring" if s.in_place and d >= 0
             else "in place" if s.in_place else "into the output")
    lines = "\n".join(f"        {line}" for line in body)
    return f"for (int32_t {ROW} = 0; {ROW} < {rows}; ++{ROW}) {{ /* {what}, {where} */\n{lines}\n    }}{tail}"


def pairs_across_steps(s: RowStream) -> bool:
    """Each step hands the fused 1×1 conv an odd number of pixels (KWS DS-CNN's 5-pixel rows): its
    step kernel (the kernel's `rows`) pairs the last pixel of one step with the first of the next,
    as the whole layer pairs them, rather than running every other one alone."""
    block = s.pointwise_block
    return block is not None and s.geometry.output_rows > 1 and block.output_height * block.output_width % 2 == 1


def carry_destination(s: RowStream, output: str, ring: str) -> str:
    """Where the previous step's last pixel goes when this step completes its pair: its place in the
    previous row's ring slot while that row is still held back (delay ≥ 1), else its final place
    (a delay-0 row has already been copied out; the bytes stay free of unread input rows, as the
    row's own write)."""
    g, d = s.geometry, s.schedule.delay
    last_pixel = g.output_row_bytes - s.pointwise_block.output_depth
    if s.in_place and d >= 1:
        return f"{ring} + (({ROW} - 1) % {s.schedule.ring_rows}) * {g.output_row_bytes} + {last_pixel}"
    return f"({output}) + ({ROW} - 1) * {g.output_row_bytes} + {last_pixel}"


def destination(s: RowStream, output: str, ring: str) -> str:
    """Where the current row's final output goes in the loop."""
    if s.in_place and s.schedule.delay >= 0:
        r = s.schedule.ring_rows
        return ring if r == 1 else f"{ring} + ({ROW} % {r}) * {s.geometry.output_row_bytes}"
    return f"({output}) + {ROW} * {s.geometry.output_row_bytes}"
