"""Static memory plan: where every activation tensor lives, fixed at export time.

1. A *buffer* is a run of bytes shared by several tensors. Alias ops (RESHAPE) put their output in
   their input's buffer. Pooling without padding runs in place when its input dies there: it reads
   every input byte at or after the position it writes (row-major order, stride ≥ 1, output no
   larger than input), so its output may overwrite its input.
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
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinyasc.compile.ir import ALIAS_OPS, Graph, Op, OpKind
from tinyasc.errors import UnsupportedModelError

ALIGNMENT = 16
IN_PLACE_OPS = frozenset({OpKind.MAX_POOL_2D, OpKind.AVERAGE_POOL_2D})


@dataclass(frozen=True)
class Segment:
    first_op: int  # op that writes the tensor (−1: written before the first op)
    last_op: int  # op that last reads it
    size: int

    def live_with(self, other: "Segment") -> bool:
        return self.first_op <= other.last_op and other.first_op <= self.last_op


@dataclass
class Buffer:
    root: int  # tensor whose producer first writes the bytes
    tensors: list[int]
    segments: list[Segment]
    storage: str = "arena"  # "arena" | "input" | "output"
    offset: int = 0

    @property
    def size(self) -> int:
        return max(s.size for s in self.segments)

    @property
    def first_op(self) -> int:
        return min(s.first_op for s in self.segments)

    @property
    def last_op(self) -> int:
        return max(s.last_op for s in self.segments)

    def bytes_live_at(self, step: int) -> int:
        return max((s.size for s in self.segments if s.first_op <= step <= s.last_op), default=0)

    def forbidden_offsets(self, other: "Buffer") -> list[tuple[int, int]]:
        """Open intervals (low, high) of offsets at which this buffer would overwrite live bytes
        of the placed buffer `other`."""
        return [
            (other.offset - mine.size, other.offset + theirs.size)
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
            "buffers": [
                {
                    "tensors": b.tensors,
                    "bytes": b.size,
                    "storage": b.storage,
                    "offset": b.offset,
                    "first_op": b.first_op,
                    "last_op": b.last_op,
                    "segments": [[s.first_op, s.last_op, s.size] for s in b.segments],
                }
                for b in self.buffers
            ],
        }


def _align(value: int) -> int:
    return (value + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def runs_in_place(op: Op, graph: Graph, last_reader: dict[int, int], aliased: set[int]) -> bool:
    """True when `op` may write its output over its input (step 1 of the module docstring)."""
    if op.kind not in IN_PLACE_OPS or op.options.get("padding") != "valid":
        return False
    x, y = op.inputs[0], op.outputs[0]
    return (
        last_reader.get(x) == op.index
        and x not in aliased  # no other name for these bytes is read later
        and x not in graph.inputs and x not in graph.outputs and y not in graph.outputs
        and graph.tensors[y].nbytes <= graph.tensors[x].nbytes
    )


def find_buffers(graph: Graph, in_place: bool = True) -> list[Buffer]:
    producer = {o: op.index for op in graph.ops for o in op.outputs}
    last_reader: dict[int, int] = {}
    for op in graph.ops:
        for i in op.inputs:
            if i >= 0 and not graph.tensors[i].is_constant:
                last_reader[i] = op.index
    root: dict[int, int] = {}
    for op in graph.ops:
        if op.kind in ALIAS_OPS:
            root[op.outputs[0]] = root.get(op.inputs[0], op.inputs[0])
    aliased = set(root) | set(root.values())
    for op in graph.ops:
        if in_place and runs_in_place(op, graph, last_reader, aliased):
            root[op.outputs[0]] = root.get(op.inputs[0], op.inputs[0])

    final_op = len(graph.ops)
    buffers: dict[int, Buffer] = {}
    activations = [t.index for t in graph.tensors if not t.is_constant and (t.index in producer or t.index in graph.inputs)]
    for index in activations:
        first = producer.get(index, -1)
        last = final_op if index in graph.outputs else max(last_reader.get(index, -1), first)
        r = root.get(index, index)
        buffer = buffers.setdefault(r, Buffer(root=r, tensors=[], segments=[]))
        buffer.tensors.append(index)
        buffer.segments.append(Segment(first, last, graph.tensors[index].nbytes))
    for buffer in buffers.values():
        is_input = buffer.root in graph.inputs
        is_output = any(t in graph.outputs for t in buffer.tensors)
        if is_input and is_output:
            raise UnsupportedModelError("the model's output is its input reshaped: there is nothing to compute")
        buffer.storage = "input" if is_input else ("output" if is_output else "arena")
    return list(buffers.values())


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


def plan_memory(graph: Graph, planner: str = "greedy", in_place: bool = True) -> MemoryPlan:
    buffers = find_buffers(graph, in_place)
    arena_size = PLANNERS[planner](buffers)
    plan = MemoryPlan(
        buffers=buffers,
        arena_size=arena_size,
        lower_bound=lower_bound(buffers, len(graph.ops)),
        planner=planner,
        tensor_buffer={t: b for b in buffers for t in b.tensors},
    )
    if plan.overlaps():
        raise AssertionError(f"memory plan overlaps: {plan.overlaps()}")
    return plan
