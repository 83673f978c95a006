"""Static memory plan: where every activation tensor lives, fixed at export time.

1. Alias ops (RESHAPE) share their input's bytes: the group of tensors they tie together is one
   *buffer*, live from its first producer to its last reader.
2. The graph input is read in place from the caller's `input` pointer and the graph output is
   written straight to the caller's `output` pointer: neither takes arena space.
3. Every other buffer gets an offset in one arena. The greedy planner places buffers largest first
   at the lowest offset that does not overlap a buffer with an overlapping lifetime (TFLM's greedy
   planner works the same way); the linear planner gives each buffer its own region and is the
   baseline and oracle.
4. The lower bound is the largest total size of buffers live at the same op: no plan can beat it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinyasc.compile.ir import ALIAS_OPS, Graph
from tinyasc.errors import UnsupportedModelError

ALIGNMENT = 16


@dataclass
class Buffer:
    root: int  # tensor index that owns the bytes
    tensors: list[int]  # root plus its aliases
    size: int
    first_op: int  # op index that writes it (−1: written before the first op)
    last_op: int  # op index that last reads it
    storage: str = "arena"  # "arena" | "input" | "output"
    offset: int = 0

    def lifetime_overlaps(self, other: "Buffer") -> bool:
        return self.first_op <= other.last_op and other.first_op <= self.last_op


@dataclass
class MemoryPlan:
    buffers: list[Buffer]
    arena_size: int
    lower_bound: int
    planner: str
    tensor_buffer: dict[int, Buffer] = field(default_factory=dict)

    def overlaps(self) -> list[tuple[int, int]]:
        """Pairs of arena buffers that are live together and share bytes (must be empty)."""
        arena = [b for b in self.buffers if b.storage == "arena"]
        bad = []
        for i, a in enumerate(arena):
            for b in arena[i + 1 :]:
                if a.lifetime_overlaps(b) and a.offset < b.offset + b.size and b.offset < a.offset + a.size:
                    bad.append((a.root, b.root))
        return bad

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
                }
                for b in self.buffers
            ],
        }


def _align(value: int) -> int:
    return (value + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def find_buffers(graph: Graph) -> list[Buffer]:
    root = {}
    for op in graph.ops:
        if op.kind in ALIAS_OPS:
            root[op.outputs[0]] = root.get(op.inputs[0], op.inputs[0])
    producer = {o: op.index for op in graph.ops for o in op.outputs}
    last_reader: dict[int, int] = {}
    for op in graph.ops:
        for i in op.inputs:
            if i >= 0 and not graph.tensors[i].is_constant:
                last_reader[i] = op.index
    final_op = len(graph.ops)

    buffers: dict[int, Buffer] = {}
    activations = [t.index for t in graph.tensors if not t.is_constant and (t.index in producer or t.index in graph.inputs)]
    for index in activations:
        r = root.get(index, index)
        buffer = buffers.setdefault(
            r, Buffer(root=r, tensors=[], size=graph.tensors[r].nbytes, first_op=producer.get(r, -1), last_op=-1)
        )
        buffer.tensors.append(index)
        buffer.last_op = max(buffer.last_op, last_reader.get(index, -1), producer.get(index, -1))
        if index in graph.outputs:
            buffer.last_op = final_op
    for buffer in buffers.values():
        is_input = buffer.root in graph.inputs
        is_output = any(t in graph.outputs for t in buffer.tensors)
        if is_input and is_output:
            raise UnsupportedModelError("the model's output is its input reshaped: there is nothing to compute")
        buffer.storage = "input" if is_input else ("output" if is_output else "arena")
    return list(buffers.values())


def lower_bound(buffers: list[Buffer], num_ops: int) -> int:
    arena = [b for b in buffers if b.storage == "arena"]
    return max(
        (sum(b.size for b in arena if b.first_op <= step <= b.last_op) for step in range(num_ops)),
        default=0,
    )


def plan_linear(buffers: list[Buffer]) -> int:
    offset = 0
    for buffer in buffers:
        if buffer.storage == "arena":
            buffer.offset = offset
            offset = _align(offset + buffer.size)
    return offset


def plan_greedy(buffers: list[Buffer]) -> int:
    placed: list[Buffer] = []
    arena = sorted((b for b in buffers if b.storage == "arena"), key=lambda b: (-b.size, b.first_op))
    for buffer in arena:
        offset = 0
        # Walk live neighbours by offset; take the first gap wide enough.
        for other in sorted((p for p in placed if p.lifetime_overlaps(buffer)), key=lambda p: p.offset):
            if offset + buffer.size <= other.offset:
                break
            offset = max(offset, _align(other.offset + other.size))
        buffer.offset = offset
        placed.append(buffer)
    return max((_align(b.offset + b.size) for b in placed), default=0)


PLANNERS = {"greedy": plan_greedy, "linear": plan_linear}


def plan_memory(graph: Graph, planner: str = "greedy") -> MemoryPlan:
    buffers = find_buffers(graph)
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
