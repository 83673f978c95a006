"""Convolution + max-pool fusion: compute a block of conv output rows, pool it at once, go on.

A CONV_2D whose output only a MAX_POOL_2D reads never needs its whole output in memory: pooled
row r depends on conv rows r·sh .. r·sh + fh − 1 only (sh, fh: the pool's stride and window
height). So the fused step loops over the pooled rows; each iteration runs the conv's own kernel
on those fh rows into a scratch block of fh × W × C bytes and the pool's own kernel on the block
into pooled row r. The conv output tensor is then *elided* (it takes no memory), the pool output
is written during the conv op (the planner is told: `produced_at`), and the arena holds the scratch
block instead of the conv output (then, 16-byte aligned, the conv kernel's own scratch when it asks
for some: im2col columns). Codegen runs the fusions only where they lower the arena
(memory_choice.py: choose_fusions): a patch stage or row chain over the same ops may need less. Both kernels run unchanged on smaller shapes (block parameters:
the conv with fh output rows, the pool with one), so the result is the same bytes.

Fused when: the conv has no vertical padding, top or bottom (each block reads whole input rows
from its origin), its kernel loops over output rows (its record's `row_loop`, ops/common.py: Kernel); the pool
has no vertical padding, non-overlapping windows (stride ≥ window height: no conv row is computed
twice) that stay inside the conv output.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tinyasc.compile.ir import Graph, OpKind
from tinyasc.compile.ops.conv import Conv2DParams
from tinyasc.compile.ops.pool import Pool2DParams

ROW = "tas_row"  # the loop variable in the generated C


@dataclass(frozen=True)
class ConvPoolFusion:
    conv_op: int
    pool_op: int
    conv_input: int  # tensor read by the conv
    elided: int  # the conv output: never in memory
    pool_output: int  # written during conv_op
    rows: int  # pooled rows = loop iterations
    conv_block: Conv2DParams  # the conv on one block of fh output rows
    pool_block: Pool2DParams  # the pool on one block, one output row
    input_row_step: int  # bytes of conv input per pooled row
    output_row_step: int  # bytes of pool output per pooled row
    kernel_scratch: int = 0  # bytes of scratch the conv's kernel asks for on one block

    @property
    def block_bytes(self) -> int:
        b = self.conv_block
        return b.output_height * b.output_width * b.output_depth

    @property
    def kernel_scratch_offset(self) -> int:
        """Where the conv kernel's scratch starts in the op's scratch: after the block, 16-byte aligned."""
        return (self.block_bytes + 15) // 16 * 16

    @property
    def scratch_bytes(self) -> int:
        return self.kernel_scratch_offset + self.kernel_scratch if self.kernel_scratch else self.block_bytes


def find_conv_pool_fusions(graph: Graph, prepared: list, conv_kernel_of) -> list[ConvPoolFusion]:
    """Every CONV_2D → MAX_POOL_2D pair that can run fused. `conv_kernel_of(op_index, params)` is the
    Kernel the conv would run on those params (codegen's kernel choice)."""
    readers: dict[int, list[int]] = {}
    for op in graph.ops:
        for i in op.inputs:
            readers.setdefault(i, []).append(op.index)
    fusions = []
    for op in graph.ops:
        if op.kind is not OpKind.CONV_2D:
            continue
        y = op.outputs[0]
        pools = readers.get(y, [])
        if len(pools) != 1 or y in graph.outputs or graph.ops[pools[0]].kind is not OpKind.MAX_POOL_2D:
            continue
        pool_op = graph.ops[pools[0]]
        conv, pool = prepared[op.index], prepared[pool_op.index]
        if not isinstance(conv, Conv2DParams) or not isinstance(pool, Pool2DParams):
            continue
        fits = (
            conv.pad_height == 0 and pool.pad_height == 0
            # pad_height is the top only: SAME may still pad the bottom, which a block would read
            # as input rows that do not exist (a fuzz finding, issue 18)
            and (conv.output_height - 1) * conv.stride_height + (conv.filter_height - 1) * conv.dilation_height
            < conv.input_height
            and pool.stride_height >= pool.filter_height
            and (pool.output_height - 1) * pool.stride_height + pool.filter_height <= conv.output_height
            and pool.input_height == conv.output_height and pool.input_width == conv.output_width
        )
        if not fits:
            continue
        block_rows = pool.filter_height
        conv_block = dataclasses.replace(
            conv,
            output_height=block_rows,
            input_height=(block_rows - 1) * conv.stride_height + (conv.filter_height - 1) * conv.dilation_height + 1,
        )
        # The same row-looping kernel for the whole conv and for one block (chosen by cost, it could differ).
        kernel = conv_kernel_of(op.index, conv)
        if kernel is None or not kernel.row_loop or conv_kernel_of(op.index, conv_block) != kernel:
            continue
        fusions.append(ConvPoolFusion(
            conv_op=op.index, pool_op=pool_op.index, conv_input=op.inputs[0], elided=y,
            pool_output=pool_op.outputs[0], rows=pool.output_height,
            conv_block=conv_block,
            pool_block=dataclasses.replace(pool, input_height=block_rows, output_height=1),
            input_row_step=pool.stride_height * conv.stride_height * conv.input_width * conv.input_depth,
            output_row_step=pool.output_width * pool.depth,
            kernel_scratch=int(kernel.scratch_bytes(conv_block)) if kernel.scratch_bytes is not None else 0,
        ))
    return fusions


def row_pointer(base: str, step: int) -> str:
    """The C pointer to the current block's rows in a tensor that starts at `base`."""
    return f"({base}) + {ROW} * {step}"


def fused_loop(fusion: ConvPoolFusion, conv_call: str, pool_call: str) -> str:
    """The C statement of the fused pair (codegen prints it followed by ';')."""
    return (
        f"for (int32_t {ROW} = 0; {ROW} < {fusion.rows}; ++{ROW}) {{ /* conv {fusion.conv_block.output_height} rows "
        f"into scratch, then max-pool them into one row (op {fusion.pool_op} fused) */\n"
        f"        {conv_call};\n"
        f"        {pool_call};\n"
        f"    }}"
    )
