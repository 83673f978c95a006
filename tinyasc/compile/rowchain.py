"""Row chains: a connected group of convs and ADDs (a residual network's stages) run row by row,
every tensor inside the group held as a few rows instead of whole.

Output row r of a conv reads input rows r·s − p .. r·s − p + window − 1 (stride s, top padding p,
window (fh − 1)·dilation + 1); row r of an ADD reads row r of both operands. So the group runs
demand-driven from its output: to compute a row, first compute the input rows it reads that do not
exist yet (`demand_order`). Each tensor inside the group lives in a *ring*: a run of `capacity`
rows holding logical rows first .. first + count − 1 contiguously; pushing a row into a full ring
moves the others down one row (the oldest dies). Vertical padding is physical: a ring starts with
p_top rows of the tensor's zero point and gets p_bottom more after its last row, so every conv
reads a whole window with no vertical padding (a padded tap adds (zp − zp)·w = 0, as the
reference's skipped tap: bit-exact) and one set of block parameters serves every row.

A ring's capacity is the least that holds, at each push, every row from the oldest any later
read needs up to the pushed one (`ring_capacities`): least for this order, so the plan's lower
bound (plan.py step 5, with the rings as the first op's scratch) is the bound this schedule
proves. `chain_is_safe` checks the whole schedule independently by simulating the rings as the C
does: every row each node reads is held when it reads it. The compiler asserts it.

The group runs at its first op; its inner tensors are elided, its outputs written whole (from the
first op on: `produced_at`), and its inputs read whole, or copied row by row into a ring when a
padded conv reads them (3 rows of the image instead of padding variants of the kernels' parameters).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from tinyasc.compile.ir import Graph, OpKind
from tinyasc.compile.ops.conv import Conv2DParams

ALIGN = 16
CHAIN_KINDS = (OpKind.CONV_2D, OpKind.ADD)


@dataclass(frozen=True)
class Read:
    """How a node reads one input tensor: logical rows r·stride − pad .. + window − 1 for its row r."""

    tensor: int
    stride: int
    pad: int
    window: int

    def rows(self, row: int) -> tuple[int, int]:
        top = row * self.stride - self.pad
        return top, top + self.window - 1


@dataclass(frozen=True)
class Node:
    op: int  # −1 − tensor for a copy node (an input copied into its ring)
    output: int
    rows: int
    reads: tuple[Read, ...]
    block: object | None  # the op's parameters for one output row (None: a copy)


@dataclass
class Ring:
    tensor: int
    row_bytes: int
    rows: int
    pad_top: int
    pad_bottom: int
    zero_point: int
    capacity: int = 0
    offset: int = 0  # in the chain's scratch

    @property
    def bytes(self) -> int:
        return self.capacity * self.row_bytes


@dataclass
class RowChain:
    ops: tuple[int, ...]  # the group, in execution order; it runs at ops[0]
    nodes: list[Node]
    rings: dict[int, Ring]
    outputs: tuple[int, ...]  # written whole
    inputs: tuple[int, ...]  # read whole (directly or by copy nodes)
    elided: tuple[int, ...]  # inner tensors: rings only
    merged: dict[int, int] = field(default_factory=dict)  # conv output -> the ADD output it is written into
    order: list[int] = field(default_factory=list)  # node position per row computed
    kernel_scratch: int = 0  # the largest scratch a node's kernel asks for
    kernels: dict = field(default_factory=dict)  # op -> the Kernel its block runs (rowchain_emit.py)

    @property
    def scratch_bytes(self) -> int:
        return _align(sum(_align(r.bytes) for r in self.rings.values()) + self.kernel_scratch)

    @property
    def kernel_scratch_offset(self) -> int:
        return sum(_align(r.bytes) for r in self.rings.values())


def _align(value: int) -> int:
    return (value + ALIGN - 1) // ALIGN * ALIGN


def _rows_and_bytes(graph: Graph, tensor: int) -> tuple[int, int] | None:
    shape = graph.tensors[tensor].shape
    if len(shape) != 4 or shape[0] != 1 or shape[1] < 2:
        return None
    return shape[1], shape[2] * shape[3]


def conv_node(graph: Graph, op, q) -> Node | None:
    """A conv as a chain node: one output row from a window of whole input rows."""
    if not isinstance(q, Conv2DParams) or op.inputs[0] < 0:
        return None
    x, y = graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape
    if _rows_and_bytes(graph, op.inputs[0]) is None or _rows_and_bytes(graph, op.outputs[0]) is None:
        return None
    (h, w), (ho, wo) = x[1:3], y[1:3]
    if (q.input_height, q.input_width, q.output_height, q.output_width) == (h, w, ho, wo):
        window = (q.filter_height - 1) * q.dilation_height + 1
        block = dataclasses.replace(q, input_height=window, output_height=1, pad_height=0)
        read = Read(op.inputs[0], q.stride_height, q.pad_height, window)
    elif (q.input_height, q.input_width, q.output_height) == (h * w, 1, ho * wo) and (h, w) == (ho, wo):
        block = dataclasses.replace(q, input_height=w, output_height=w)  # a 1×1 read as H·W pixels
        read = Read(op.inputs[0], 1, 0, 1)
    else:
        return None
    return Node(op.index, op.outputs[0], ho, (read,), block)


def add_node(graph: Graph, op, p) -> Node | None:
    """An ADD of two activations of the output's shape as a chain node: row r from rows r."""
    if op.kind is not OpKind.ADD or getattr(p, "subtract", True) or _rows_and_bytes(graph, op.outputs[0]) is None:
        return None
    y = graph.tensors[op.outputs[0]]
    for x in op.inputs[:2]:
        t = graph.tensors[x] if x >= 0 else None
        if t is None or t.is_constant or tuple(t.shape) != tuple(y.shape):
            return None
    if p.dim1 != y.shape[1]:
        return None
    block = dataclasses.replace(p, dim1=1)
    return Node(op.index, op.outputs[0], y.shape[1], tuple(Read(x, 1, 0, 1) for x in op.inputs[:2]), block)


def _node(graph: Graph, op, params) -> Node | None:
    if op.kind is OpKind.CONV_2D:
        return conv_node(graph, op, params)
    if op.kind is OpKind.ADD:
        return add_node(graph, op, params)
    return None


def _components(graph: Graph, nodes: dict[int, Node]) -> list[list[int]]:
    """Groups of candidate ops joined by tensors that only candidates produce and read."""
    readers: dict[int, list[int]] = {}
    for op in graph.ops:
        for i in op.inputs:
            readers.setdefault(i, []).append(op.index)
    parent = {op: op for op in nodes}

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for op, node in nodes.items():
        users = readers.get(node.output, [])
        if users and node.output not in graph.outputs and all(u in nodes for u in users):
            for u in users:
                parent[find(u)] = find(op)
    groups: dict[int, list[int]] = {}
    for op in nodes:
        groups.setdefault(find(op), []).append(op)
    return [sorted(g) for g in groups.values() if len(g) >= 2]


def find_row_chains(graph: Graph, prepared: list, taken: set[int]) -> list[RowChain]:
    """Every group of two or more convs and ADDs that can run as a row chain."""
    nodes = {}
    for op, params in zip(graph.ops, prepared):
        if op.kind in CHAIN_KINDS and op.index not in taken:
            node = _node(graph, op, params)
            if node is not None:
                nodes[op.index] = node
    chains = []
    for group in _components(graph, nodes):
        chain = make_chain(graph, [nodes[op] for op in group])
        if chain is not None:
            chains.append(chain)
    return chains


def make_chain(graph: Graph, nodes: list[Node]) -> RowChain | None:
    """The chain of these nodes (in execution order), or None when it cannot run as one."""
    ops = tuple(n.op for n in nodes)
    produced = {n.output: n for n in nodes}
    producer = {o: op.index for op in graph.ops for o in op.outputs}
    readers: dict[int, list[int]] = {}
    for op in graph.ops:
        for i in op.inputs:
            readers.setdefault(i, []).append(op.index)
    inner = tuple(t for t in produced if t not in graph.outputs and all(u in ops for u in readers.get(t, [])))
    outputs = tuple(t for t in produced if t not in inner)
    inputs = tuple(sorted({r.tensor for n in nodes for r in n.reads if r.tensor not in produced}))
    if any(producer.get(t, -1) > ops[0] for t in inputs):
        return None  # an input computed after the chain would start
    merged = _merges(graph, nodes, inner, readers)
    rings: dict[int, Ring] = {}
    copies = []
    for t in (*(t for t in inner if t not in merged), *inputs, *outputs):
        h, row_bytes = _rows_and_bytes(graph, t)
        reads = [r for n in nodes for r in n.reads if r.tensor == t]
        rows_of = [produced[t].rows if t in produced else h]
        top = max([r.pad for r in reads], default=0)
        bottom = max([r.rows(n.rows - 1)[1] - (h - 1) for n in nodes for r in n.reads if r.tensor == t], default=0)
        if h != rows_of[0]:
            return None
        if t in inner or top > 0 or bottom > 0:
            if t in outputs:
                return None  # an output a padded conv reads: not supported
            rings[t] = Ring(t, row_bytes, h, top, max(0, bottom), graph.tensors[t].quantization.zero_point)
            if t in inputs:
                copies.append(Node(-1 - t, t, h, (), None))  # reads the whole input
    if len(copies) + len(nodes) > 255:
        return None  # the schedule table names nodes in bytes
    chain = RowChain(ops=ops, nodes=copies + list(nodes), rings=rings, outputs=outputs, inputs=inputs, elided=inner,
                     merged=merged)
    chain.order = demand_order(chain)
    ring_capacities(chain)
    offset = 0
    for ring in chain.rings.values():
        ring.offset = offset
        offset += _align(ring.bytes)
    assert chain_is_safe(chain), f"row chain over ops {ops} is not safe"
    return chain


def _merges(graph: Graph, nodes: list[Node], inner: tuple[int, ...], readers: dict[int, list[int]]) -> dict[int, int]:
    """Conv outputs that only an ADD reads, once: the conv writes its row straight into the ADD's
    output row and the ADD runs in place over it (its kernels read an operand of the output's shape
    at the output's own index, ops/common.py: InPlace.FULL_SHAPE_OPERAND), so the conv's row needs
    no ring."""
    produced = {n.output: n for n in nodes}
    merged = {}
    for n in nodes:
        if graph.ops[n.op].kind is not OpKind.ADD:
            continue
        for read in n.reads:
            x = read.tensor
            if (x in inner and x in produced and readers.get(x) == [n.op] and len({r.tensor for r in n.reads}) == 2
                    and graph.ops[produced[x].op].kind is OpKind.CONV_2D):
                merged[x] = n.output
                break
    return merged


def steps_of(chain: RowChain, i: int) -> int:
    """Rows node i pushes: its output rows, then its ring's bottom padding rows (pushed when a read
    first needs them, not before: an early push would make the ring hold more)."""
    node = chain.nodes[i]
    ring = chain.rings.get(node.output)
    return node.rows + (ring.pad_bottom if ring is not None else 0)


def demand_order(chain: RowChain) -> list[int]:
    """Node positions, one per row computed: each output's rows in turn, every row after the rows
    it reads (each node's rows in increasing order)."""
    position = {n.output: i for i, n in enumerate(chain.nodes)}
    done = [0] * len(chain.nodes)
    order: list[int] = []

    def ensure(i: int, last: int) -> None:
        node = chain.nodes[i]
        while done[i] <= min(last, steps_of(chain, i) - 1):
            row = done[i]
            for read in node.reads if row < node.rows else ():
                if read.tensor in position and position[read.tensor] != i:
                    ensure(position[read.tensor], read.rows(row)[1])
            order.append(i)
            done[i] += 1

    for t in chain.outputs:
        ensure(position[t], chain.nodes[position[t]].rows - 1)
    return order


@dataclass(frozen=True)
class Event:
    """One step of the order: node `node` computes (or pads) row `row`; it reads `reads` (tensor,
    first row, last row), and `pending` (tensor, row): its own output row, which a merged conv
    wrote; it pushes (or writes) row `row` of `push`, and completes row `row` of `done`."""

    node: int
    row: int
    reads: tuple[tuple[int, int, int], ...]
    pending: tuple[int, int] | None
    push: int | None
    done: int | None


def events(chain: RowChain) -> list[Event]:
    found, row = [], [0] * len(chain.nodes)
    targets = set(chain.merged.values())
    for i in chain.order:
        node, r = chain.nodes[i], row[i]
        row[i] += 1
        real = r < node.rows  # else a bottom padding row: reads nothing
        reads = tuple((rd.tensor, *rd.rows(r)) for rd in node.reads if real and rd.tensor not in chain.merged)
        pending = next(((chain.merged[rd.tensor], r) for rd in node.reads if real and rd.tensor in chain.merged), None)
        if node.output in chain.merged:
            push, done = chain.merged[node.output], None
        elif node.output in targets and real:
            push, done = None, node.output
        else:
            push, done = node.output, node.output
        found.append(Event(i, r, reads, pending, push, done))
    return found


def ring_capacities(chain: RowChain) -> None:
    """Each ring's least capacity for the order: at each push, the pushed row back to the oldest
    row a later read needs."""
    steps = events(chain)
    oldest_after: list[dict[int, int]] = [{} for _ in range(len(steps) + 1)]
    for k in range(len(steps) - 1, -1, -1):
        oldest_after[k] = dict(oldest_after[k + 1])
        e = steps[k]
        for t, low, _ in e.reads + ((e.pending[0], e.pending[1], e.pending[1]),) if e.pending else e.reads:
            oldest_after[k][t] = min(low, oldest_after[k].get(t, low))
    for ring in chain.rings.values():
        ring.capacity = max(1, ring.pad_top)
    for k, e in enumerate(steps):
        ring = chain.rings.get(e.push)
        if ring is not None:
            oldest = oldest_after[k + 1].get(ring.tensor, e.row + 1)
            ring.capacity = max(ring.capacity, e.row - min(oldest, e.row) + 1)


def chain_is_safe(chain: RowChain) -> bool:
    """Simulate every ring as the C does (a push drops the oldest row when full) and every read:
    each row a node reads is computed and, in a ring, still held; a merged ADD's own row is the
    one its conv just wrote; rows enter their ring or tensor in order; every output is complete."""
    held = {t: [-ring.pad_top, ring.pad_top] for t, ring in chain.rings.items()}  # first row, rows held
    written = {t: 0 for t in (*chain.rings, *chain.outputs)}
    ready = dict(written)

    def holds(t: int, low: int, high: int) -> bool:
        first, count = held.get(t, (0, 1 << 30))
        return first <= low and high < first + count

    for e in events(chain):
        for t, low, high in e.reads:
            if not (holds(t, low, high) and high < ready.get(t, 1 << 30) and (t in chain.rings or low >= 0)):
                return False
        if e.pending is not None:
            t, r = e.pending
            if not (written[t] == r + 1 and ready[t] == r and holds(t, r, r)):
                return False
        if e.push is not None:
            if written[e.push] != e.row:
                return False
            written[e.push] = e.row + 1
            if e.push in held:
                first, count = held[e.push]
                full = count == chain.rings[e.push].capacity
                held[e.push] = [first + 1, count] if full else [first, count + 1]
        if e.done is not None:
            if ready[e.done] != e.row or written[e.done] != e.row + 1:
                return False
            ready[e.done] = e.row + 1
    return all(ready[t] == written[t] for t in written) and all(
        ready[t] == n.rows for n in chain.nodes for t in (n.output,) if t in chain.outputs)
