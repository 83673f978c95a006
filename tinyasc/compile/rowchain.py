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
    rings: dict[int, Ring] = {}
    copies = []
    for t in (*inner, *inputs, *outputs):
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
    chain = RowChain(ops=ops, nodes=copies + list(nodes), rings=rings, outputs=outputs, inputs=inputs, elided=inner)
    chain.order = demand_order(chain)
    ring_capacities(chain)
    offset = 0
    for ring in chain.rings.values():
        ring.offset = offset
        offset += _align(ring.bytes)
    assert chain_is_safe(chain), f"row chain over ops {ops} is not safe"
    return chain


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


def _events(chain: RowChain):
    """(reads [(tensor, low, high)], pushed tensor or None) per step of the order, rows by node."""
    row = [0] * len(chain.nodes)
    for i in chain.order:
        node, r = chain.nodes[i], row[i]
        row[i] += 1
        reads = [(rd.tensor, *rd.rows(r)) for rd in node.reads] if r < node.rows else []  # padding reads none
        yield i, r, reads


def ring_capacities(chain: RowChain) -> None:
    """Each ring's least capacity for the order: at each push, the pushed row back to the oldest
    row a later read (this step's included) needs."""
    events = list(_events(chain))
    oldest_after = [dict() for _ in range(len(events) + 1)]
    for k in range(len(events) - 1, -1, -1):
        oldest_after[k] = dict(oldest_after[k + 1])
        for t, low, _ in events[k][2]:
            oldest_after[k][t] = min(low, oldest_after[k].get(t, low))
    for ring in chain.rings.values():
        ring.capacity = max(1, ring.pad_top)
    for k, (i, r, _) in enumerate(events):
        node = chain.nodes[i]
        ring = chain.rings.get(node.output)
        if ring is None:
            continue
        oldest = oldest_after[k + 1].get(ring.tensor, r + 1)
        ring.capacity = max(ring.capacity, r - min(oldest, r) + 1)


def chain_is_safe(chain: RowChain) -> bool:
    """Simulate every ring as the C does (push: drop the oldest when full) and every read: each
    row a node reads is in its ring (or, for a whole tensor, inside it and computed)."""
    held = {t: [-ring.pad_top, 0] for t, ring in chain.rings.items()}  # first row, rows held
    computed = {t: 0 for t in chain.outputs}

    def push(t: int) -> None:
        first, count = held[t]
        held[t] = [first + 1, count] if count == chain.rings[t].capacity else [first, count + 1]

    for t, ring in chain.rings.items():
        for _ in range(ring.pad_top):
            push(t)
    for i, r, reads in _events(chain):
        node = chain.nodes[i]
        for t, low, high in reads:
            if t in chain.rings:
                first, count = held[t]
                if not (first <= low and high < first + count):
                    return False
            elif not (0 <= low and high < computed.get(t, 1 << 30)):
                return False
        if node.output in chain.rings:
            ring = chain.rings[node.output]
            if sum(held[node.output]) != r:  # rows (then padding rows) enter a ring in order
                return False
            push(node.output)
        else:
            computed[node.output] = r + 1
    return all(n.output in chain.rings or computed[n.output] == n.rows for n in chain.nodes) and all(
        sum(held[t]) <= ring.rows + ring.pad_bottom for t, ring in chain.rings.items())
