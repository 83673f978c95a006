"""The per-tensor memory plan of an export, as the report's table and plot show it.

    plan_rows(plan, ops)   one row per arena tensor and per op scratch buffer, from the manifest's
                           export.memory_plan (compile/plan.py MemoryPlan.to_dict)
    plan_facts(export)     arena, proven lower bound, TFLM's arena, and what shares bytes

A row: the tensor (or None for a kernel's scratch), its offset and size in the arena, the ops it is
live across (its producer to its last reader; -1 is "before the first op", the model's input), the
buffer it shares with other tensors, and why it may share bytes with a live neighbour: written in
place over its input by its producer (an in-place op, a row stream's depthwise conv), or a row
stream's segment placed at an offset inside the shared buffer. Both the table and the plot are
drawn from these rows, and the rows come from the plan's own "tensors" list: what the report shows
is the plan the C code uses.
"""

from __future__ import annotations


def _buffer_of_tensor(plan: dict) -> dict[int, tuple[int, int]]:
    """tensor → (index of its arena buffer in the plan, offset of its segment inside that buffer)."""
    placed = {}
    arena_buffers = [b for b in plan.get("buffers", []) if b.get("storage") == "arena"]
    for index, buffer in enumerate(arena_buffers):
        segments = buffer.get("segments") or [[buffer["first_op"], buffer["last_op"], buffer["bytes"], 0]]
        for tensor, segment in zip(buffer["tensors"], segments):
            placed[tensor] = (index, segment[3] if len(segment) > 3 else 0)
    return placed


def _op_name(ops: list[str], index: int) -> str:
    return f"{index} {ops[index]}" if 0 <= index < len(ops) else ("input" if index < 0 else str(index))


def _sharing(tensor: int, first_op: int, inside: int, plan: dict, ops: list[str]) -> str:
    notes = []
    if plan.get("in_place_ops", {}).get(str(first_op)) == tensor:
        notes.append(f"written in place over its input by op {_op_name(ops, first_op)}")
    if inside:
        notes.append(f"row-stream segment at +{inside:,} B in its buffer")
    return "; ".join(notes)


def plan_rows(plan: dict, ops: list[str]) -> list[dict]:
    """Arena tensors in the order they are made (producer op, then offset), then the ops' scratch buffers."""
    placed = _buffer_of_tensor(plan)
    rows = []
    for entry in plan.get("tensors", []):
        tensor = entry["tensor"]
        buffer, inside = placed.get(tensor, (None, 0))
        rows.append({
            "tensor": tensor, "buffer": buffer, "offset": entry["offset"], "bytes": entry["bytes"],
            "end": entry["offset"] + entry["bytes"], "first_op": entry["first_op"], "last_op": entry["last_op"],
            "producer": _op_name(ops, entry["first_op"]), "last_reader": _op_name(ops, entry["last_op"]),
            "sharing": _sharing(tensor, entry["first_op"], inside, plan, ops),
        })
    rows.sort(key=lambda row: (row["first_op"], row["offset"]))
    for buffer in plan.get("buffers", []):
        if buffer.get("storage") == "arena" and buffer.get("scratch_op") is not None:
            op = buffer["scratch_op"]
            rows.append({
                "tensor": None, "buffer": None, "offset": buffer["offset"], "bytes": buffer["bytes"],
                "end": buffer["offset"] + buffer["bytes"], "first_op": op, "last_op": op,
                "producer": _op_name(ops, op), "last_reader": _op_name(ops, op),
                "sharing": f"scratch of op {_op_name(ops, op)}",
            })
    return rows


def plan_facts(export: dict) -> dict:
    plan = export["memory_plan"]  # a missing key names itself (artifacts/manifest_schema.py)
    arena, bound = plan["arena_bytes"], plan.get("lower_bound_bytes")
    return {
        "arena_bytes": arena,
        "lower_bound_bytes": bound,
        "arena_over_bound": arena / bound if bound else None,
        "tflm_arena_bytes": export.get("tflm_arena_bytes"),
        "in_place_ops": len(plan.get("in_place_ops", {})),
        "planner": plan.get("planner", "?"),
    }
