"""Static memory plan: where every activation tensor lives, fixed at export time.

1. A *buffer* is a run of bytes shared by several tensors. Alias ops (RESHAPE) put their output in
   their input's buffer. Some ops run in place when their input dies there (no name of its bytes
   is read later) because their kernel reads every input byte at or after the position it writes;
   the kernel's record says how (Kernel.in_place, ops/common.py: InPlace): pooling windows without
   padding (row-major order, stride ≥ 1, output no larger than input); 256-entry tables (output[i]
   from input[i]); ADD, SUB and MUL over an operand of the output's full shape (read at the
   output's own index; never a broadcast operand, which is read again later).
2. Each tensor in a buffer is a *segment* (first op, last op, bytes) starting at the buffer's
   offset: a pooled output needs only its own, smaller size once the input has died, so the rest
   of the input's bytes are free for other tensors from then on.
3. The graph input is read in place from the caller's `input` pointer and the graph output is
   written straight to the caller's `output` pointer: neither takes arena space.
4. The greedy planner places buffers largest first at the lowest offset where none of its segments
   shares bytes with a segment of an already placed buffer that is live at the same time (TFLM's
   greedy planner works the same way, on tensors). The linear planner gives each buffer its own
   region and is the baseline and oracle.
5. The lower bound is the largest total size of segments live at the same op: no plan beats it.
6. Scratch buffers: an op whose kernel has `scratch_bytes(params) -> int` (ops/common.py) gets a
   buffer of that many bytes live during that op only (a one-op segment, counted in the lower
   bound like any tensor, 16-byte aligned). `compile_graph` passes the sizes as
   `plan_memory(graph, scratch={op_index: bytes})`; the op's emit reads the C pointer with
   `ctx.scratch()` (`tas_arena + offset`). The scratch may share bytes with anything not live at
   that op, never with the op's own inputs or outputs.
7. Fused ops (compile/fusion.py: a conv and the max-pool reading it): the conv output is *elided*
   (never in memory, no buffer) and the pool output is written from the conv's op on
   (`produced_at`), so it never shares bytes with the conv's input; the block the pair works on is
   the conv op's scratch.
8. Row streams (compile/rowstream.py: a depthwise conv alone, or fused with the 1×1 conv after it)
   write output rows over input rows they no longer read: `shifted` maps such an output to (its
   input, shift, op) and, when that input dies at the op (as in step 1), the output joins the
   input's buffer `shift` bytes *before* it (a segment's `offset` within its buffer), a placement
   rowstream.py proves safe row by row. A buffer's size is then the extent of its segments, and the
   bytes it holds at an op the extent of the segments live there.
9. Row chains (compile/rowchain.py) and patch stages (compile/patches.py) run a group of ops at
   its first op: the group's inner tensors are elided, its outputs produced from that op on, and
   its rings or patch buffers (and the largest scratch its kernels ask for) are that op's scratch,
   so the lower bound and the checker count them like any buffer.
10. `MemoryPlan.in_place_ops` lists the ops whose input and output share bytes by design, and
   plan_check.py checks every plan tensor by tensor: two tensors live at the same op share bytes
   only as an alias (RESHAPE: the same bytes) or as the input and output of such an op.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from tinyasc.compile.ir import ALIAS_OPS, Graph, Op
from tinyasc.compile.ops import REGISTRY
from tinyasc.compile.ops.common import InPlace, Kernel
from tinyasc.compile.plan_check import check_plan
from tinyasc.errors import UnsupportedModelError

ALIGNMENT = 16


@dataclass(frozen=True)
class Segment:
    first_op: int  # op that writes the tensor (−1: written before the first op)
    last_op: int  # op that last reads it
    size: int
    offset: int = 0  # where the tensor starts in its buffer

    @property
    def end(self) -> int:
        return self.offset + self.size

    def live_with(self, other: "Segment") -> bool:
        return self.first_op <= other.last_op and other.first_op <= self.last_op


@dataclass
class Buffer:
    root: int  # tensor whose producer first writes the bytes
    tensors: list[int]
    segments: list[Segment]
    storage: str = "arena"  # "arena" | "input" | "output"
    offset: int = 0
    scratch_op: int | None = None  # set for an op's scratch buffer (no tensor lives in it)

    @property
    def size(self) -> int:
        return max(s.end for s in self.segments)

    @property
    def first_op(self) -> int:
        return min(s.first_op for s in self.segments)

    @property
    def last_op(self) -> int:
        return max(s.last_op for s in self.segments)

    def bytes_live_at(self, step: int) -> int:
        live = [s for s in self.segments if s.first_op <= step <= s.last_op]
        return max(s.end for s in live) - min(s.offset for s in live) if live else 0

    def forbidden_offsets(self, other: "Buffer") -> list[tuple[int, int]]:
        """Open intervals (low, high) of offsets at which this buffer would overwrite live bytes
        of the placed buffer `other`."""
        return [
            (other.offset + theirs.offset - mine.end, other.offset + theirs.end - mine.offset)
            for mine in self.segments
            for theirs in other.segments
            if mine.live_with(theirs)
        ]


@dataclass
class MemoryPlan:
    buffers: list[Buffer]
    arena_size: int
    lower_bound: int
    planner: str
    tensor_buffer: dict[int, Buffer] = field(default_factory=dict)
    scratch_buffer: dict[int, Buffer] = field(default_factory=dict)  # op index -> its scratch buffer
    in_place_ops: dict[int, int] = field(default_factory=dict)  # op -> the output written over its input's bytes
    aliases: list[tuple[int, int]] = field(default_factory=list)  # (input, output) of alias ops: the same bytes

    def tensor_offset(self, tensor: int) -> int:
        """Where the tensor starts in the arena (or in the caller's input or output)."""
        buffer = self.tensor_buffer[tensor]
        return buffer.offset + buffer.segments[buffer.tensors.index(tensor)].offset

    def overlaps(self) -> list[tuple[int, int]]:
        """Pairs of arena buffers with live segments sharing bytes (must be empty)."""
        arena = [b for b in self.buffers if b.storage == "arena"]
        return [
            (a.root, b.root)
            for i, a in enumerate(arena)
            for b in arena[i + 1 :]
            if any(low < a.offset < high for low, high in a.forbidden_offsets(b))
        ]

    def to_dict(self) -> dict:
        return {
            "planner": self.planner,
            "arena_bytes": self.arena_size,
            "lower_bound_bytes": self.lower_bound,
            "in_place_ops": {str(op): tensor for op, tensor in sorted(self.in_place_ops.items())},
            "tensors": [  # where each arena tensor lives, and when (the per-tensor plan)
                {"tensor": t, "offset": b.offset + s.offset, "bytes": s.size, "first_op": s.first_op,
                 "last_op": s.last_op}
                for b in self.buffers if b.storage == "arena" for t, s in zip(b.tensors, b.segments)
            ],
            "buffers": [
                {
                    "tensors": b.tensors,
                    "bytes": b.size,
                    "storage": b.storage,
                    "offset": b.offset,
                    "first_op": b.first_op,
                    "last_op": b.last_op,
                    "segments": [[s.first_op, s.last_op, s.size, s.offset] for s in b.segments],
                    **({"scratch_op": b.scratch_op} if b.scratch_op is not None else {}),
                }
                for b in self.buffers
            ],
        }


def _align(value: int) -> int:
    return (value + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def reference_kernels(graph: Graph) -> list[Kernel | None]:
    """Each op's reference kernel (None for alias ops and ops no module compiles)."""
    return [REGISTRY[op.kind].reference if op.kind in REGISTRY else None for op in graph.ops]


def in_place_input(op: Op, graph: Graph, access: InPlace | None) -> int | None:
    """The input whose bytes `op`'s kernel may overwrite with its output, by the kernel's access
    order `access` alone (step 1 of the module docstring), or None. Whether that input is dead
    there is runs_in_place's question."""
    y = graph.tensors[op.outputs[0]] if op.outputs else None
    if access is None or y is None or y.dtype != "int8" or not op.inputs or op.inputs[0] < 0:
        return None
    if access is InPlace.FORWARD_WINDOWS:
        x = op.inputs[0]
        ok = op.options.get("padding") == "valid" and y.nbytes <= graph.tensors[x].nbytes
        return x if ok else None
    if access is InPlace.SAME_INDEX:
        x = op.inputs[0]
        return x if graph.tensors[x].dtype == "int8" and graph.tensors[x].nbytes == y.nbytes else None
    if access is InPlace.FULL_SHAPE_OPERAND:
        # Only an operand of the output's full shape: the kernel reads it at the output's own
        # row-major index (its broadcast steps are the contiguous ones); a broadcast operand is read
        # again after later outputs are written.
        for x in op.inputs[:2]:
            t = graph.tensors[x] if x >= 0 else None
            if t is not None and not t.is_constant and t.dtype == "int8" and t.num_elements == y.num_elements:
                return x
    return None


def runs_in_place(op: Op, graph: Graph, access: InPlace | None, last_reader: dict[int, int],
                  root: dict[int, int]) -> int | None:
    """The input `op` overwrites with its output, when that is safe: the kernel's access order
    allows it (in_place_input) and no name of the input's bytes is read after `op` or belongs to
    the caller (graph input or output)."""
    x = in_place_input(op, graph, access)
    if x is None or not overwritable(graph, op.index, x, op.outputs[0], last_reader, root):
        return None
    return x


def last_readers(graph: Graph) -> dict[int, int]:
    last_reader: dict[int, int] = {}
    for op in graph.ops:
        for i in op.inputs:
            if i >= 0 and not graph.tensors[i].is_constant:
                last_reader[i] = op.index
    return last_reader


@dataclass
class Sharing:
    """Which tensors share a buffer (step 1, 8): each tensor's root and its offset from the
    root's start (negative when a row stream writes before its input), the in-place ops and the
    alias pairs."""

    root: dict[int, int] = field(default_factory=dict)
    offset: dict[int, int] = field(default_factory=dict)
    in_place_ops: dict[int, int] = field(default_factory=dict)
    aliases: list[tuple[int, int]] = field(default_factory=list)


def share_buffers(graph: Graph, kernels: Sequence[Kernel | None], in_place: bool = True,
                  elided: frozenset[int] = frozenset(),
                  shifted: dict[int, tuple[int, int, int]] | None = None) -> Sharing:
    """One pass in execution order, so an alias of an in-place output joins the buffer the output
    joined. `shifted`: output -> (input, shift, op) of row streams (step 8), taken where the input
    dies at the op."""
    last_reader = last_readers(graph)
    by_op = {op_index: (y, x, shift) for y, (x, shift, op_index) in (shifted or {}).items()}
    sharing = Sharing()
    root, offset = sharing.root, sharing.offset
    for op in graph.ops:
        shift = 0
        if op.kind in ALIAS_OPS:
            x, y = op.inputs[0], op.outputs[0]
            sharing.aliases.append((x, y))
        elif op.index in by_op:
            y, x, shift = by_op[op.index]
            if not (in_place and overwritable(graph, op.index, x, y, last_reader, root)):
                x = None
        elif op.outputs and op.outputs[0] in root:  # a fused stream's second op: already placed
            continue
        else:
            access = kernels[op.index].in_place if kernels[op.index] is not None else None
            x = runs_in_place(op, graph, access, last_reader, root) if in_place else None
            y = op.outputs[0] if op.outputs else None
        if x is not None and x not in elided:
            root[y] = root.get(x, x)
            offset[y] = offset.get(x, 0) - shift
            if op.kind not in ALIAS_OPS:
                sharing.in_place_ops[op.index] = y
    return sharing


def overwritable(graph: Graph, op_index: int, x: int, y: int, last_reader: dict[int, int],
                 root: dict[int, int]) -> bool:
    """Op `op_index` may write `y` over `x`'s bytes: no name of them is read later or belongs to
    the caller, nor is `y` the caller's output."""
    if x < 0 or x in graph.inputs or y in graph.outputs:
        return False
    group = root.get(x, x)
    names = [t for t in (*root, group) if root.get(t, t) == group]
    return not any(last_reader.get(t, -1) > op_index or t in graph.inputs or t in graph.outputs for t in names)


def find_buffers(graph: Graph, kernels: Sequence[Kernel | None], in_place: bool = True,
                 scratch: dict[int, int] | None = None, elided: frozenset[int] = frozenset(),
                 produced_at: dict[int, int] | None = None,
                 sharing: Sharing | None = None) -> list[Buffer]:
    producer = {o: op.index for op in graph.ops for o in op.outputs}
    producer.update(produced_at or {})
    last_reader = last_readers(graph)
    sharing = sharing or share_buffers(graph, kernels, in_place, elided)
    root = sharing.root
    final_op = len(graph.ops)
    buffers: dict[int, Buffer] = {}
    activations = [
        t.index for t in graph.tensors
        if not t.is_constant and (t.index in producer or t.index in graph.inputs) and t.index not in elided
    ]
    for index in activations:
        first = producer.get(index, -1)
        last = final_op if index in graph.outputs else max(last_reader.get(index, -1), first)
        r = root.get(index, index)
        buffer = buffers.setdefault(r, Buffer(root=r, tensors=[], segments=[]))
        buffer.tensors.append(index)
        buffer.segments.append(Segment(first, last, graph.tensors[index].nbytes, sharing.offset.get(index, 0)))
    for buffer in buffers.values():
        low = min(s.offset for s in buffer.segments)  # the buffer starts at its lowest segment
        buffer.segments = [dataclasses.replace(s, offset=s.offset - low) for s in buffer.segments]
        is_input = buffer.root in graph.inputs
        is_output = any(t in graph.outputs for t in buffer.tensors)
        if is_input and is_output:
            raise UnsupportedModelError("the model's output is its input reshaped: there is nothing to compute")
        buffer.storage = "input" if is_input else ("output" if is_output else "arena")
    scratch_buffers = [
        Buffer(root=-1 - op_index, tensors=[], segments=[Segment(op_index, op_index, size)], scratch_op=op_index)
        for op_index, size in sorted((scratch or {}).items())
        if size > 0
    ]
    return list(buffers.values()) + scratch_buffers


def lower_bound(buffers: list[Buffer], num_ops: int) -> int:
    arena = [b for b in buffers if b.storage == "arena"]
    return max((sum(b.bytes_live_at(step) for b in arena) for step in range(num_ops)), default=0)


def plan_linear(buffers: list[Buffer]) -> int:
    offset = 0
    for buffer in buffers:
        if buffer.storage == "arena":
            buffer.offset = offset
            offset = _align(offset + buffer.size)
    return offset


def plan_greedy(buffers: list[Buffer]) -> int:
    placed: list[Buffer] = []
    for buffer in sorted((b for b in buffers if b.storage == "arena"), key=lambda b: (-b.size, b.first_op)):
        forbidden = [interval for other in placed for interval in buffer.forbidden_offsets(other)]
        candidates = sorted({0} | {_align(high) for _, high in forbidden})
        buffer.offset = next(o for o in candidates if not any(low < o < high for low, high in forbidden))
        placed.append(buffer)
    return max((_align(b.offset + b.size) for b in placed), default=0)


PLANNERS = {"greedy": plan_greedy, "linear": plan_linear}


def plan_memory(graph: Graph, planner: str = "greedy", in_place: bool = True,
                scratch: dict[int, int] | None = None, elided: frozenset[int] = frozenset(),
                produced_at: dict[int, int] | None = None,
                kernels: Sequence[Kernel | None] | None = None,
                shifted: dict[int, tuple[int, int, int]] | None = None) -> MemoryPlan:
    """`kernels[i]` is the kernel op i runs (default: each op's reference kernel): its record says
    whether it may run in place (step 1). `scratch` maps op index -> bytes of scratch that op's
    kernel needs (step 6); `elided` tensors are never in memory and `produced_at` moves a tensor's
    first write to an earlier op (step 7: fused ops)."""
    for op_index, size in (scratch or {}).items():
        if not 0 <= op_index < len(graph.ops) or size < 0:
            raise AssertionError(f"bad scratch request: op {op_index}, {size} bytes")
    kernels = reference_kernels(graph) if kernels is None else kernels
    sharing = share_buffers(graph, kernels, in_place, frozenset(elided), shifted)
    buffers = find_buffers(graph, kernels, in_place, scratch, frozenset(elided), produced_at, sharing)
    arena_size = PLANNERS[planner](buffers)
    plan = MemoryPlan(
        buffers=buffers,
        arena_size=arena_size,
        lower_bound=lower_bound(buffers, len(graph.ops)),
        planner=planner,
        tensor_buffer={t: b for b in buffers for t in b.tensors},
        scratch_buffer={b.scratch_op: b for b in buffers if b.scratch_op is not None},
        in_place_ops=sharing.in_place_ops,
        aliases=sharing.aliases,
    )
    if plan.overlaps():
        raise AssertionError(f"memory plan overlaps: {plan.overlaps()}")
    problems = check_plan(plan)
    if problems:
        raise AssertionError("memory plan is unsafe: " + "; ".join(problems[:5]))
    return plan
