"""The memory plan's safety check, tensor by tensor (plan.py step 10), independent of how the plan
was found: bad plans must be impossible by construction, and this says so for every plan made.

Every arena tensor and scratch buffer is a box: bytes [start, end) × ops [first, last]. Two boxes
that meet (live at one op, sharing a byte) are allowed only as
- aliases (RESHAPE's input and output, or a chain of them: the very same bytes), or
- the input and output of an op the plan lists in `in_place_ops`, in one buffer, meeting at that
  op only: the input's last read is there and the output's first write. Whether the op's kernel may
  overwrite that input is the kernel record's (ops/common.py: InPlace) or the row stream's proof
  (rowstream.py: stream_is_safe);
and every box lies inside the arena. A scratch buffer meets nothing (a row chain's rings and a patch
stage's buffers are their first op's scratch, so they meet none of the tensors live there).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Box:
    name: str
    tensor: int | None  # None: a scratch buffer
    buffer_root: int
    start: int
    end: int
    first_op: int
    last_op: int

    def meets(self, other: "Box") -> bool:
        live = self.first_op <= other.last_op and other.first_op <= self.last_op
        return live and self.start < other.end and other.start < self.end


def boxes(plan) -> list[Box]:
    found = []
    for buffer in plan.buffers:
        if buffer.storage != "arena":
            continue
        names = buffer.tensors or [None]
        for tensor, segment in zip(names, buffer.segments):
            start = buffer.offset + segment.offset
            name = f"tensor {tensor}" if tensor is not None else f"op {buffer.scratch_op}'s scratch"
            found.append(Box(name, tensor, buffer.root, start, start + segment.size, segment.first_op, segment.last_op))
    return found


def alias_roots(aliases) -> dict[int, int]:
    """Each aliased tensor → one tensor of its alias chain (RESHAPE → RESHAPE → ... share bytes)."""
    root: dict[int, int] = {}

    def find(t: int) -> int:
        while root.get(t, t) != t:
            t = root[t]
        return t

    for x, y in aliases:
        root[find(y)] = find(x)
    return {t: find(t) for t in root}


def allowed(a: Box, b: Box, plan, roots: dict[int, int] | None = None) -> bool:
    if a.tensor is None or b.tensor is None or a.buffer_root != b.buffer_root:
        return False
    roots = alias_roots(plan.aliases) if roots is None else roots
    if roots.get(a.tensor, a.tensor) == roots.get(b.tensor, b.tensor):
        return (a.start, a.end) == (b.start, b.end)
    for x, y in ((a, b), (b, a)):  # x the input, y the output written over it at op y.first_op
        if x.last_op == y.first_op and plan.in_place_ops.get(y.first_op) == y.tensor:
            return True
    return False


def check_plan(plan) -> list[str]:
    """The problems of `plan` (empty: safe)."""
    found = boxes(plan)
    roots = alias_roots(plan.aliases)
    problems = [f"{b.name} ends at {b.end}, past the arena's {plan.arena_size} bytes"
                for b in found if b.start < 0 or b.end > plan.arena_size]
    for i, a in enumerate(found):
        for b in found[i + 1:]:
            if a.meets(b) and not allowed(a, b, plan, roots):
                problems.append(f"{a.name} [{a.start}, {a.end}) ops {a.first_op}..{a.last_op} and {b.name} "
                                f"[{b.start}, {b.end}) ops {b.first_op}..{b.last_op} share bytes while both live")
    return problems
