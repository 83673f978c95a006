"""The C of a patch stage (compile/patches.py): at the stage's first op, two loops over the patch
grid; each patch loads its input region (tas_patch.h: zero point outside the image), runs every op's
own kernel on the patch-sized block parameters from one buffer into the other, fills the padding of
each inner region, and stores its output patch (bands as wide as the output are written in place).
Bands keeping their halos move each buffer's kept rows up, load the input's new rows and run every
op on its `steady` block (the parameter struct), writing only its new rows; the first band runs
the full blocks through a copy of the struct with their sizes.
The other ops of the stage run nothing at their place; their parameter structs are the blocks'."""

from __future__ import annotations

import dataclasses

import numpy as np

from tinyasc.compile import ops
from tinyasc.compile.ir import OpKind
from tinyasc.compile.kernels import select_kernel
from tinyasc.compile.patches import PatchStage

ROW, COL = "tas_patch_row", "tas_patch_col"
SOURCE, DESTINATION = "TAS_PATCH_SOURCE", "TAS_PATCH_DESTINATION"  # placeholders in a band's kernel calls


def settle_patch_kernels(stage: PatchStage, graph, board, options) -> bool:
    """Each op's kernel on its block (bands: the same on its steady block) and the largest scratch
    they ask for; False when one has none."""
    for k, (op, block) in enumerate(zip(stage.ops, stage.blocks)):
        kernel = select_kernel(graph.ops[op].kind, block, board, options)
        if kernel is None:
            return False
        for variant in [block] + ([stage.steady[k]] if stage.steady else []):
            if getattr(select_kernel(graph.ops[op].kind, variant, board, options), "name", None) != kernel.name:
                return False
            if kernel.scratch_bytes is not None:
                stage.kernel_scratch = max(stage.kernel_scratch, int(kernel.scratch_bytes(variant)))
        stage.kernels[op] = kernel
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


def _region_args(stage: PatchStage, k: int, skip: int = 0) -> str:
    """Tensor k's region from its row `skip` on."""
    row, col = _origin(stage, k)
    row = f"{row} + {skip}" if skip else row
    return (f"{stage.rows.extents[k]}, {stage.cols.extents[k]}, {stage.depths[k]}, {row}, {col}, "
            f"{stage.rows.sizes[k] - skip}, {stage.cols.sizes[k]}, (int8_t){stage.zero_points[k]}")


def _origin_loop(var: str, index: str, axis) -> str:
    size, extent = axis.sizes[-1], axis.extents[-1]
    return (f"for (int32_t {index} = 0; {index} < {len(axis.origins)}; ++{index}) {{\n"
            f"            const int32_t {var} = {index} * {size} < {extent - size} ? {index} * {size} : {extent - size};")


def _loops(stage: PatchStage, body: list[str], comment: str) -> str:
    lines = [f"{{ /* {comment} */",
             "        " + _origin_loop(ROW, "tas_pi", stage.rows),
             "            " + _origin_loop(COL, "tas_pj", stage.cols).replace("\n        ", "\n            "),
             *("                " + line for line in body),
             "            }", "        }", "    }"]
    return "\n".join(lines)


def patch_block(stage: PatchStage, slot: list[str], calls: dict[int, str], pointer) -> str:
    """The C statement running the stage as patches (codegen prints it followed by ';')."""
    n = len(stage.ops)
    body = [f"tas_patch_load({slot[0]}, (const int8_t *)({pointer(stage.tensors[0])}), {_region_args(stage, 0)});"]
    for k, op in enumerate(stage.ops):
        body.append(calls[op].replace(SOURCE, slot[k]).replace(DESTINATION, slot[k + 1]) + ";")
        if k + 1 < n:
            body.append(f"tas_patch_pad({slot[k + 1]}, {_region_args(stage, k + 1)});")
    if not stage.writes_output_rows:
        body.append(f"tas_patch_store((int8_t *)({pointer(stage.output)}), {slot[n]}, {stage.cols.extents[n]}, "
                    f"{stage.depths[n]}, {ROW}, {COL}, {stage.rows.sizes[n]}, {stage.cols.sizes[n]});")
    gh, gw = stage.grid
    buffers = " + ".join(map(str, stage.slot_bytes()))
    return _loops(stage, body, f"patches over ops {', '.join(map(str, stage.ops))}: a {gh}x{gw} grid of "
                               f"{stage.rows.sizes[n]}x{stage.cols.sizes[n]} outputs, buffers of {buffers} B")


def steady_first_band(stage: PatchStage, graph) -> set[int]:
    """The ops (positions in the stage) whose first band runs as steady blocks, so that every call
    of the op's kernel passes its one parameter struct: the stage's first op unless a depthwise conv
    (the first conv of an image model, a static kernel that GCC specialises at its call only while
    every call passes the same constant struct: MobileNetV1 0.25's runs about 25 % faster per MAC).
    Its first band recomputes the rows the steady blocks overlap."""
    first = graph.ops[stage.ops[0]]
    return set() if first.kind is OpKind.DEPTHWISE_CONV_2D or not stage.kept[1] else {0}


def band_block(stage: PatchStage, slot: list[str], calls: dict[int, str], ctypes: dict[int, str], pointer,
               graph) -> str:
    """The C statement running the stage as bands keeping their halos: the first band runs the
    full blocks (a copy of each op's struct with their sizes, or, `steady_first_band`, steady blocks
    covering them), every other its new rows only."""
    n, first, later = len(stage.ops), [], []
    steady_first = steady_first_band(stage, graph)
    for k, op in enumerate(stage.ops):
        if k in steady_first:
            continue
        full, steady = stage.blocks[k], stage.steady[k]
        changed = [(f.name, int(getattr(full, f.name))) for f in dataclasses.fields(full)
                   if isinstance(getattr(full, f.name), (bool, int, np.integer))
                   and getattr(full, f.name) != getattr(steady, f.name)]
        first.append(f"{ctypes[op]} tas_first_op{op} = tas_params_op{op};")
        first += [f"tas_first_op{op}.{name} = {value};" for name, value in changed]
    first.append(f"tas_patch_load({slot[0]}, (const int8_t *)({pointer(stage.tensors[0])}), {_region_args(stage, 0)});")
    for k in range(n):
        if stage.kept[k]:
            rows = stage.row_bytes(k)
            later.append(f"tas_patch_keep({slot[k]}, {stage.step(k) * rows}, {stage.kept[k] * rows});")
    later.append(f"tas_patch_load({slot[0]} + {stage.kept[0] * stage.row_bytes(0)}, "
                 f"(const int8_t *)({pointer(stage.tensors[0])}), {_region_args(stage, 0, stage.kept[0])});")
    for k, op in enumerate(stage.ops):
        keep = stage.kept[k + 1] if k + 1 < n else 0
        if k in steady_first:  # the full block as steady blocks, the last one moved up to the region's end
            size, new = stage.rows.sizes[k + 1], stage.rows.sizes[k + 1] - keep
            for row in sorted({min(j * new, size - new) for j in range(-(-size // new))}):
                source = f"{slot[k]} + {row * stage.row_reach[k].stride * stage.row_bytes(k)}"
                first.append(calls[op].replace(SOURCE, source)
                             .replace(DESTINATION, f"{slot[k + 1]} + {row * stage.row_bytes(k + 1)}") + ";")
        else:
            first.append(calls[op].replace(f"&tas_params_op{op}", f"&tas_first_op{op}")
                         .replace(SOURCE, slot[k]).replace(DESTINATION, slot[k + 1]) + ";")
        later.append(calls[op].replace(SOURCE, f"{slot[k]} + {keep * stage.row_reach[k].stride * stage.row_bytes(k)}")
                     .replace(DESTINATION, f"{slot[k + 1]} + {keep * stage.row_bytes(k + 1)}") + ";")
        if k + 1 < n:
            first.append(f"tas_patch_pad({slot[k + 1]}, {_region_args(stage, k + 1)});")
            later.append(f"tas_patch_pad({slot[k + 1]} + {keep * stage.row_bytes(k + 1)}, "
                         f"{_region_args(stage, k + 1, keep)});")
    body = ["if (tas_pi == 0) {", *("    " + line for line in first), "} else {",
            *("    " + line for line in later), "}"]
    buffers = " + ".join(map(str, stage.slot_bytes()))
    return _loops(stage, body, f"bands over ops {', '.join(map(str, stage.ops))}: {stage.grid[0]} bands of "
                               f"{stage.rows.sizes[n]} rows, halos kept, buffers of {buffers} B")


def build_patch_steps(stage: PatchStage, graph, prepared: list, base: str, build_step, pointer) -> dict[int, tuple]:
    """op index -> (Step, kernel files) for every op of the stage: the first runs the patches."""
    n = len(stage.ops)
    slot = [f"({base}) + {stage.slot_offset(k)}" for k in range(n + 1)]
    if stage.writes_output_rows:
        row_bytes = stage.cols.extents[n] * stage.depths[n]
        slot[n] = f"({pointer(stage.output)}) + {ROW} * {row_bytes}"
    kernel_scratch = f"({base}) + {stage.kernel_scratch_offset}"
    built, calls, ctypes = {}, {}, {}
    for k, op_index in enumerate(stage.ops):
        op = graph.ops[op_index]
        block = (stage.steady or stage.blocks)[k]
        pointers = {stage.tensors[k]: SOURCE, stage.tensors[k + 1]: DESTINATION}
        step, files = build_step(op, block, stage.kernels[op_index], pointer=pointers.__getitem__,
                                 scratch=kernel_scratch)
        calls[op_index], ctypes[op_index] = step.call, step.params_ctype
        step.call = f"(void)0 /* in the patches of op {stage.ops[0]} */"
        gh, gw = stage.grid
        step.summary = (ops.spec_for(op).describe(prepared[op_index])
                        + f", patch by patch ({gh}x{gw}) in the stage of op {stage.ops[0]}")
        step.macs = prepared[op_index].macs
        built[op_index] = (step, files + ("tas_patch.h",))
    first = built[stage.ops[0]][0]
    first.call = (band_block(stage, slot, calls, ctypes, pointer, graph) if stage.kept is not None
                  else patch_block(stage, slot, calls, pointer))
    return built
