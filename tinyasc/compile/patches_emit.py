"""The C of a patch stage (compile/patches.py): at the stage's first op, two loops over the patch
grid; each patch loads its input region (tas_patch.h: zero point outside the image), runs every op's
own kernel on the patch-sized block parameters from one buffer into the other, fills the padding of
each inner region, and stores its output patch (bands as wide as the output are written in place).
The other ops of the stage run nothing at their place; their parameter structs are the blocks'."""

from __future__ import annotations

from tinyasc.compile import ops
from tinyasc.compile.kernels import select_kernel
from tinyasc.compile.patches import PatchStage

ROW, COL = "tas_patch_row", "tas_patch_col"


def settle_patch_kernels(stage: PatchStage, graph, board, options) -> bool:
    """Each op's kernel on its block and the largest scratch they ask for; False when one has none."""
    for op, block in zip(stage.ops, stage.blocks):
        kernel = select_kernel(graph.ops[op].kind, block, board, options)
        if kernel is None:
            return False
        stage.kernels[op] = kernel
        if kernel.scratch_bytes is not None:
            stage.kernel_scratch = max(stage.kernel_scratch, int(kernel.scratch_bytes(block)))
    return True


def keeps_patch_kernels(stage: PatchStage, kernels: list) -> bool:
    """Every op runs on its patches the kernel it runs op at a time (about the same instructions per MAC)."""
    return all(kernel.name == kernels[op].name for op, kernel in stage.kernels.items())


def _origin(stage: PatchStage, k: int) -> tuple[str, str]:
    """C expressions of tensor k's region origin (row, column) for the current patch."""
    found = []
    for axis, var in ((stage.rows, ROW), (stage.cols, COL)):
        scaled = var if axis.scales[k] == 1 else f"{var} * {axis.scales[k]}"
        found.append(f"{scaled} - {axis.shifts[k]}" if axis.shifts[k] else scaled)
    return found[0], found[1]


def _region_args(stage: PatchStage, k: int) -> str:
    row, col = _origin(stage, k)
    return (f"{stage.rows.extents[k]}, {stage.cols.extents[k]}, {stage.depths[k]}, {row}, {col}, "
            f"{stage.rows.sizes[k]}, {stage.cols.sizes[k]}, (int8_t){stage.zero_points[k]}")


def _origin_loop(var: str, index: str, axis) -> str:
    size, extent = axis.sizes[-1], axis.extents[-1]
    return (f"for (int32_t {index} = 0; {index} < {len(axis.origins)}; ++{index}) {{\n"
            f"            const int32_t {var} = {index} * {size} < {extent - size} ? {index} * {size} : {extent - size};")


def patch_block(stage: PatchStage, base: str, calls: dict[int, str], pointer) -> str:
    """The C statement running the stage (codegen prints it followed by ';')."""
    n = len(stage.ops)
    slot = [f"({base}) + {stage.slot_offset(k)}" for k in range(n + 1)]
    body = [f"tas_patch_load({slot[0]}, (const int8_t *)({pointer(stage.tensors[0])}), {_region_args(stage, 0)});"]
    for k, op in enumerate(stage.ops):
        body.append(calls[op] + ";")
        if k + 1 < n:
            body.append(f"tas_patch_pad({slot[k + 1]}, {_region_args(stage, k + 1)});")
    if not stage.writes_output_rows:
        body.append(f"tas_patch_store((int8_t *)({pointer(stage.output)}), {slot[n]}, {stage.cols.extents[n]}, "
                    f"{stage.depths[n]}, {ROW}, {COL}, {stage.rows.sizes[n]}, {stage.cols.sizes[n]});")
    gh, gw = stage.grid
    first, second = stage.slot_bytes()
    lines = [f"{{ /* patches over ops {', '.join(map(str, stage.ops))}: a {gh}x{gw} grid of "
             f"{stage.rows.sizes[n]}x{stage.cols.sizes[n]} outputs, buffers of {first} + {second} B */",
             "        " + _origin_loop(ROW, "tas_pi", stage.rows),
             "            " + _origin_loop(COL, "tas_pj", stage.cols).replace("\n        ", "\n            "),
             *("                " + line for line in body),
             "            }", "        }", "    }"]
    return "\n".join(lines)


def build_patch_steps(stage: PatchStage, graph, prepared: list, base: str, build_step, pointer) -> dict[int, tuple]:
    """op index -> (Step, kernel files) for every op of the stage: the first runs the patches."""
    n = len(stage.ops)
    slot = [f"({base}) + {stage.slot_offset(k)}" for k in range(n + 1)]
    if stage.writes_output_rows:
        row_bytes = stage.cols.extents[n] * stage.depths[n]
        slot[n] = f"({pointer(stage.output)}) + {ROW} * {row_bytes}"
    kernel_scratch = f"({base}) + {stage.kernel_scratch_offset}"
    built, calls = {}, {}
    for k, (op_index, block) in enumerate(zip(stage.ops, stage.blocks)):
        op = graph.ops[op_index]
        pointers = {stage.tensors[k]: slot[k], stage.tensors[k + 1]: slot[k + 1]}
        step, files = build_step(op, block, stage.kernels[op_index], pointer=pointers.__getitem__,
                                 scratch=kernel_scratch)
        calls[op_index], step.call = step.call, f"(void)0 /* in the patches of op {stage.ops[0]} */"
        gh, gw = stage.grid
        step.summary = (ops.spec_for(op).describe(prepared[op_index])
                        + f", patch by patch ({gh}x{gw}) in the stage of op {stage.ops[0]}")
        step.macs = prepared[op_index].macs
        built[op_index] = (step, files + ("tas_patch.h",))
    first = built[stage.ops[0]][0]
    first.call = patch_block(stage, base, calls, pointer)
    return built
