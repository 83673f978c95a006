"""Random residual graphs for the row chains (compile/rowchain.py): stacks of convs joined by ADD,
identity or 1×1 projection shortcuts, strides 1 and 2, same and valid padding, dilation, odd
filter shapes, random quantization, compiled with `row_chains="always"`. The general fuzzer's
graphs rarely hold two convs in a row; these hold little else."""

from __future__ import annotations

import numpy as np

from tinyasc.compile.fuzz.draw import Drawer
from tinyasc.compile.fuzz.draw_layers import _bias, _int8_weights, _output, _weight_scales, draw_conv
from tinyasc.compile.fuzz.spec import FuzzGraph


def _conv(d: Drawer, source: int, channels: int, kernel: tuple[int, int], stride: int, padding: str,
          dilation: int = 1) -> int:
    """A CONV_2D reading `source` (becomes the current tensor); its output."""
    d.current = source
    _, h, w, c = d.tensor.shape
    kh, kw = kernel
    if padding == "same":
        oh, ow = -(-h // stride), -(-w // stride)
    else:
        oh, ow = (h - (kh - 1) * dilation - 1) // stride + 1, (w - (kw - 1) * dilation - 1) // stride + 1
    scales = _weight_scales(d, channels)
    weights = d.constant(_int8_weights(d, (channels, kh, kw, c)), "int8", tuple(scales), (0,) * len(scales), 0)
    bias = _bias(d, d.tensor.scales[0], scales if len(scales) > 1 else scales * channels, channels, kh * kw * c)
    out = _output(d, (1, oh, ow, channels), scales, kh * kw * c)
    d.append("CONV_2D", [source, weights, bias], out, padding=padding, strideH=stride, strideW=stride,
             dilationHFactor=dilation, dilationWFactor=dilation, fusedActivationFunction=d.activation())
    return out


def _residual_block(d: Drawer) -> None:
    x = d.current
    _, h, w, c = d.tensor.shape
    stride = 2 if h >= 4 and d.chance(0.4) else 1
    channels = c if stride == 1 and d.chance(0.5) else d.integer(1, 9)
    first = (d.integer(1, 5), d.integer(1, 3))
    y = _conv(d, x, channels, first, stride, "same")
    dilation = 2 if stride == 1 and d.chance(0.2) else 1
    y = _conv(d, y, channels, (d.integer(1, 3), d.integer(1, 3)), 1, "same", dilation)
    shortcut = x if (stride, channels) == (1, c) and d.chance(0.7) else _conv(d, x, channels, (1, 1), stride, "valid")
    d.current = y
    out = d.activation_tensor(d.tensor.shape, d.scale(d.tensor.scales[0] * 1.5), d.zero_point())
    d.append("ADD", [shortcut, y] if d.chance(0.5) else [y, shortcut], out, fusedActivationFunction=d.activation())


def draw_residual_graph(rng: np.random.Generator, boards: tuple[str, ...] = ()) -> FuzzGraph:
    graph = FuzzGraph()
    d = Drawer(rng, graph, -1)
    shape = (1, d.integer(3, 17), d.integer(1, 9), d.integer(1, 6))
    d.current = d.activation_tensor(shape, d.scale(2.0 ** rng.uniform(-8, 0)), d.zero_point())
    graph.inputs = [d.current]
    for _ in range(d.integer(1, 3)):
        if d.chance(0.25) and d.tensor.shape[1] >= 3:
            draw_conv(d)  # any conv (groups, long strides, valid windows) between the blocks
        if d.tensor.shape[1] >= 2:
            _residual_block(d)
    graph.outputs = [d.current]
    graph.board = d.pick((None, *boards)) if boards else None
    graph.options = {"planner": d.pick(("greedy", "linear")), "sparse": d.pick(("auto", "never", "always")),
                     "fuse": True, "row_chains": "always"}
    return graph


def draw_residual_batch(seed: int, first: int, count: int, boards: tuple[str, ...]) -> list[tuple[FuzzGraph, str]]:
    return [(draw_residual_graph(np.random.default_rng([seed, index, 7]), boards), f"residual seed {seed} graph {index}")
            for index in range(first, first + count)]
