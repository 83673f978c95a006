"""The C of a row chain (compile/rowchain.py): at the chain's first op, its rings (tas_row_chain.h),
then one loop over the schedule, a flash table naming the node that computes its next row at each
step. Each node's case calls its op's own kernel on the one-row block parameters, reading its
window from a ring (or a whole tensor) and writing into its ring's next slot (or a whole output's
row). The other ops of the chain run nothing at their place; their parameter structs are the
blocks'."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinyasc.compile import ops
from tinyasc.compile.ir import Graph, OpKind
from tinyasc.compile.kernels import board_extensions, select_kernel
from tinyasc.compile.ops import REGISTRY
from tinyasc.compile.ops.common import InPlace
from tinyasc.compile.rowchain import Read, RowChain

ROW = "tas_row"


def row_kernel(kind: OpKind, block, board, options):
    """The kernel of a node's row: select_kernel's, or, when that one asks for scratch that other
    kernels of the op do without (ADD's tables: 2 KB, built again for every row), the first of
    those: a chain is there to save memory."""
    chosen = select_kernel(kind, block, board, options)
    if chosen is None or chosen.scratch_bytes is None or kind is not OpKind.ADD:
        return chosen
    spec = REGISTRY[kind]
    lean = [k for k in (*spec.variants, spec.reference)
            if k.scratch_bytes is None and k.runs_on(board_extensions(board)) and k.applies(block)]
    return lean[0] if lean else chosen


def settle_kernels(chain: RowChain, graph: Graph, board, options) -> bool:
    """Each node's kernel on its block and the scratch the largest asks for; False when a node
    has no kernel."""
    for node in chain.nodes:
        if node.block is not None:
            kernel = row_kernel(graph.ops[node.op].kind, node.block, board, options)
            if kernel is None:
                return False
            if node.output in chain.merged.values() and kernel.in_place is not InPlace.FULL_SHAPE_OPERAND:
                return False  # the merged ADD runs in place over its conv's row
            chain.kernels[node.op] = kernel
            if kernel.scratch_bytes is not None:
                chain.kernel_scratch = max(chain.kernel_scratch, int(kernel.scratch_bytes(node.block)))
    return True


def keeps_kernels(chain: RowChain, graph: Graph, kernels: list) -> bool:
    """Every conv of the chain runs on its rows the kernel it runs op at a time, so the chain costs
    about the same instructions (ADDs drop their tables on purpose). A 1-D conv whose one-row block
    turned from the im2col mat-mult into the contiguous-rows kernel cost WSNet's PTQ model 1.64x."""
    return all(kernel is kernels[op] for op, kernel in chain.kernels.items() if graph.ops[op].kind is not OpKind.ADD)


def _row_bytes(graph: Graph, tensor: int) -> int:
    shape = graph.tensors[tensor].shape
    return shape[2] * shape[3]


def _top(read: Read) -> str:
    row = ROW if read.stride == 1 else f"{ROW} * {read.stride}"
    return f"{row} - {read.pad}" if read.pad else row


def _ring(tensor: int) -> str:
    return f"tas_ring_t{tensor}"


def chain_block(chain: RowChain, graph: Graph, base: str, calls: dict[int, str], pointer: Callable[[int], str],
                order_name: str) -> str:
    """The C statement running the chain (codegen prints it followed by ';'). `calls`: each op's
    kernel call on its row; `base`: the chain's scratch."""
    lines = [f"{{ /* row chain over ops {', '.join(map(str, chain.ops))}: {len(chain.order)} rows, "
             f"rings of {chain.kernel_scratch_offset} B */"]
    for t, ring in chain.rings.items():
        lines.append(f"        tas_ring {_ring(t)} = {{({base}) + {ring.offset}, {ring.row_bytes}, {ring.capacity}, "
                     f"{-ring.pad_top}, 0}};")
    for t, ring in chain.rings.items():
        if ring.pad_top:
            lines.append(f"        tas_ring_pad(&{_ring(t)}, {ring.pad_top}, (int8_t){ring.zero_point});")
    lines.append(f"        int32_t tas_next[{len(chain.nodes)}] = {{0}};")
    lines.append(f"        for (int32_t tas_step = 0; tas_step < {len(chain.order)}; ++tas_step) {{")
    lines.append(f"            const int32_t tas_node = {order_name}[tas_step];")
    lines.append(f"            const int32_t {ROW} = tas_next[tas_node]++;")
    lines.append("            switch (tas_node) {")
    for i, node in enumerate(chain.nodes):
        t = node.output
        if node.block is None:  # a copy of a whole tensor's row into its ring
            rb = _row_bytes(graph, t)
            body = f"memcpy(tas_ring_push(&{_ring(t)}), ({pointer(t)}) + {ROW} * {rb}, {rb});"
        else:
            body = calls[node.op] + ";"
        ring = chain.rings.get(t)
        if ring is not None and ring.pad_bottom:  # the rows after the last: bottom padding
            body = (f"if ({ROW} < {ring.rows}) {{\n                    {body}\n                }} else {{\n"
                    f"                    tas_ring_pad(&{_ring(t)}, 1, (int8_t){ring.zero_point});\n                }}")
        lines.append(f"            case {i}:\n                {body}\n                break;")
    lines.append("            default:\n                break;")
    lines.append("            }\n        }\n    }")
    return "\n".join(lines)


def _row(chain: RowChain, graph: Graph, tensor: int, pointer: Callable[[int], str]) -> str:
    """Row ROW of a tensor, already in its ring or whole tensor."""
    if tensor in chain.rings:
        return f"tas_ring_row(&{_ring(tensor)}, {ROW})"
    return f"({pointer(tensor)}) + {ROW} * {_row_bytes(graph, tensor)}"


def _new_row(chain: RowChain, graph: Graph, tensor: int, pointer: Callable[[int], str]) -> str:
    """Where row ROW of a tensor goes: its ring's next slot, or its place in the whole tensor."""
    return f"tas_ring_push(&{_ring(tensor)})" if tensor in chain.rings else _row(chain, graph, tensor, pointer)


def node_pointers(chain: RowChain, graph: Graph, node, pointer: Callable[[int], str]) -> dict[int, str]:
    """C expressions of the rows node `node` reads and writes at row ROW. A conv merged into an
    ADD writes the ADD's new row; the ADD reads that row and writes over it (in place)."""
    found = {}
    for read in node.reads:
        t = read.tensor
        if t in chain.merged:
            found[t] = _row(chain, graph, chain.merged[t], pointer)
        elif t in chain.rings:
            found[t] = f"tas_ring_row(&{_ring(t)}, {_top(read)})"
        else:
            found[t] = f"({pointer(t)}) + ({_top(read)}) * {_row_bytes(graph, t)}"
    t = node.output
    if t in chain.merged:
        found[t] = _new_row(chain, graph, chain.merged[t], pointer)
    elif t in chain.merged.values():
        found[t] = _row(chain, graph, t, pointer)
    else:
        found[t] = _new_row(chain, graph, t, pointer)
    return found


def build_chain_steps(chain: RowChain, graph: Graph, prepared: list, base: str, build_step, pointer,
                      add_constant) -> dict[int, tuple]:
    """op index -> (Step, kernel files) for every op of the chain: the first runs the chain."""
    kernel_scratch = f"({base}) + {chain.kernel_scratch_offset}"
    built, calls = {}, {}
    for node in chain.nodes:
        if node.block is None:
            continue
        op = graph.ops[node.op]
        pointers = node_pointers(chain, graph, node, pointer)
        step, files = build_step(op, node.block, chain.kernels[node.op], pointer=pointers.__getitem__,
                                 scratch=kernel_scratch)
        calls[node.op], step.call = step.call, f"(void)0 /* in the row chain of op {chain.ops[0]} */"
        step.summary = (ops.spec_for(op).describe(prepared[op.index])
                        + f", row by row in the chain of op {chain.ops[0]}")
        step.macs = prepared[op.index].macs
        built[node.op] = (step, files + ("tas_row_chain.h",))
    order_name = add_constant(f"tas_chain_op{chain.ops[0]}_order", np.asarray(chain.order, dtype=np.uint8), "uint8_t",
                              f"row chain of op {chain.ops[0]}: the node computing its next row, step by step")
    first = built[chain.ops[0]][0]
    first.call = chain_block(chain, graph, base, calls, pointer, order_name)
    return built
