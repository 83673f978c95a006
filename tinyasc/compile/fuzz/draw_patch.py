"""Random first stages for patch-based execution (compile/patches.py): an image or spectrogram of
1-3 channels and odd sizes read by a chain of convs (grouped, dilated, strided, same or valid),
depthwise convs (multipliers) and pools, then a small head, compiled with `patches="always"`. The
general fuzzer's graphs rarely start with two such ops in a row; these do nothing else."""

from __future__ import annotations

import numpy as np

from tinyasc.compile.fuzz.draw import Drawer
from tinyasc.compile.fuzz.draw_layers import draw_conv, draw_depthwise, draw_fully_connected, draw_pool, draw_reduce
from tinyasc.compile.fuzz.spec import FuzzGraph


def _stage_op(d: Drawer) -> None:
    kind = d.pick(("conv", "conv", "depthwise", "depthwise", "max", "average"))
    if kind == "conv":
        draw_conv(d)
    elif kind == "depthwise":
        draw_depthwise(d)
    else:
        draw_pool(d, "MAX_POOL_2D" if kind == "max" else "AVERAGE_POOL_2D")


def draw_patch_graph(rng: np.random.Generator, boards: tuple[str, ...] = ()) -> FuzzGraph:
    graph = FuzzGraph()
    d = Drawer(rng, graph, -1)
    shape = (1, d.integer(6, 25), d.integer(3, 21), d.integer(1, 3))
    d.current = d.activation_tensor(shape, d.scale(2.0 ** rng.uniform(-8, 0)), d.zero_point())
    graph.inputs = [d.current]
    for _ in range(d.integer(2, 5)):
        if d.tensor.shape[1] < 2 or d.tensor.shape[2] < 2:
            break
        _stage_op(d)
    if d.chance(0.5):
        draw_reduce(d, "MEAN")
    if d.chance(0.5):
        draw_fully_connected(d)
    graph.outputs = [d.current]
    graph.board = d.pick((None, *boards)) if boards else None
    graph.options = {"planner": d.pick(("greedy", "linear")), "sparse": d.pick(("auto", "never", "always")),
                     "fuse": True, "row_chains": d.pick(("auto", "never")), "patches": "always"}
    return graph


def draw_patch_batch(seed: int, first: int, count: int, boards: tuple[str, ...]) -> list[tuple[FuzzGraph, str]]:
    return [(draw_patch_graph(np.random.default_rng([seed, index, 11]), boards), f"patch seed {seed} graph {index}")
            for index in range(first, first + count)]
