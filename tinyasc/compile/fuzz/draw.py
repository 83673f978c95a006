"""Random fuzz graphs: a chain of random ops over random shapes and quantization parameters.

`draw_graph(rng)` starts from a random input (rank 4 [1, H, W, C] with odd sizes and 1×1 images,
or rank 2; int8, or float32 behind a QUANTIZE) and appends 1 to MAX_OPS ops, each drawn among the
ops that accept the current tensor (draw_ops.py, draw_layers.py). Most scales follow the data
("natural": the output scale a calibrated converter would pick, times a factor of up to 4), some
are extreme (2^±12 away), and zero points are sometimes at the ends of the int8 range. The board
(whose kernels the host build compiles) and the compile options are drawn too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinyasc.compile.fuzz.spec import FuzzGraph, OpSpec, TensorSpec

MAX_OPS = 6
MAX_ELEMENTS = 4096  # activations stay small: fast in TFLM, in C and under the sanitizers
INT8_SPREAD = 73.6  # standard deviation of uniform int8 values
PLANNERS = ("greedy", "linear")
# The layers with the most arithmetic (and kernel variants) come up more often than layout ops.
OP_WEIGHTS = {"CONV_2D": 4.0, "WS_CONV": 4.0, "DEPTHWISE_CONV_2D": 3.0, "FULLY_CONNECTED": 3.0, "MAX_POOL_2D": 1.5,
              "AVERAGE_POOL_2D": 1.5, "ADD": 1.5, "MUL": 1.5, "MEAN": 1.5}
SPARSE_MODES = ("auto", "never", "always")
ROW_CHAIN_MODES = ("auto", "never", "always")  # compile/options.py
PATCH_MODES = ("auto", "never", "always")  # compile/options.py
ROW_STREAM_MODES = ("auto", "always")
WS_KERNELS = ("auto", "integral", "direct")


@dataclass
class Drawer:
    """The graph being drawn: its random source and the activation every new op reads."""

    rng: np.random.Generator
    graph: FuzzGraph
    current: int

    # ---- random values ----

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def integer(self, low: int, high: int) -> int:
        """Uniform in [low, high], both included."""
        return int(self.rng.integers(low, high + 1))

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def scale(self, natural: float) -> float:
        """A float32 scale near `natural` (a factor 2^±2), or 2^±12 away one time in ten."""
        spread = 12.0 if self.chance(0.1) else 2.0
        value = natural * 2.0 ** self.rng.uniform(-spread, spread)
        return float(np.float32(min(max(value, 1e-30), 1e30)))

    def zero_point(self) -> int:
        roll = self.rng.random()
        if roll < 0.08:
            return self.pick((-128, 127))
        if roll < 0.25:
            return self.integer(-128, 127)
        return self.integer(-40, 40)

    def activation(self) -> str:
        return self.pick(("none", "none", "relu", "relu6", "relu_n1_to_1"))

    # ---- tensors ----

    @property
    def tensor(self) -> TensorSpec:
        return self.graph.tensors[self.current]

    def activation_tensor(self, shape, scale: float, zero_point: int) -> int:
        return self.graph.add(TensorSpec(tuple(int(d) for d in shape), "int8", (scale,), (zero_point,)))

    def same_quantization(self, shape) -> int:
        """A new activation of the current tensor's quantization (pooling, layout ops)."""
        t = self.tensor
        return self.graph.add(TensorSpec(tuple(int(d) for d in shape), "int8", t.scales, t.zero_points))

    def constant(self, data: np.ndarray, dtype: str = "int32", scales=None, zero_points=None, axis: int = 0) -> int:
        data = np.asarray(data)
        return self.graph.add(TensorSpec(tuple(data.shape), dtype, scales, zero_points, axis, data))

    def int32_vector(self, values) -> int:
        return self.constant(np.array(values, dtype=np.int32))

    def append(self, name: str, inputs, output: int, **options) -> None:
        self.graph.ops.append(OpSpec(name, list(inputs), [output], options))
        self.current = output


def _input_shape(drawer: Drawer) -> tuple[int, ...]:
    if drawer.chance(0.12):
        return (1, drawer.integer(1, 64))
    if drawer.chance(0.1):
        return (1, 1, 1, drawer.integer(1, 12))  # a 1×1 image
    if drawer.chance(0.1):
        return (1, drawer.integer(1, 64), 1, drawer.integer(1, 8))  # audio features over time (WS_CONV)
    h, w = drawer.integer(1, 14), drawer.integer(1, 10)
    return (1, h, w, drawer.integer(1, max(1, min(9, MAX_ELEMENTS // (h * w)))))


def draw_graph(rng: np.random.Generator, boards: tuple[str, ...] = ()) -> FuzzGraph:
    """One random graph; `boards` are the board names to draw the kernels from (plus portable)."""
    from tinyasc.compile.fuzz.draw_ops import OP_DRAWERS, applicable

    graph = FuzzGraph()
    drawer = Drawer(rng, graph, -1)
    shape = _input_shape(drawer)
    scale, zero_point = drawer.scale(2.0 ** rng.uniform(-8, 0)), drawer.zero_point()
    if drawer.chance(0.1):  # float input: QUANTIZE first, as the converter does for float I/O
        graph.inputs = [graph.add(TensorSpec(shape, "float32"))]
        drawer.current = graph.inputs[0]
        drawer.append("QUANTIZE", [graph.inputs[0]], drawer.activation_tensor(shape, scale, zero_point))
    else:
        drawer.current = drawer.activation_tensor(shape, scale, zero_point)
        graph.inputs = [drawer.current]
    for _ in range(drawer.integer(1, MAX_OPS)):
        choices = [name for name in OP_DRAWERS if applicable(name, drawer)]
        weights = np.array([OP_WEIGHTS.get(name, 1.0) for name in choices])
        OP_DRAWERS[choices[int(rng.choice(len(choices), p=weights / weights.sum()))]](drawer)
    if drawer.chance(0.08):
        out = graph.add(TensorSpec(drawer.tensor.shape, "float32"))
        drawer.append("DEQUANTIZE", [drawer.current], out)
    graph.outputs = [drawer.current]
    graph.board = drawer.pick((None, *boards)) if boards else None
    graph.options = {"planner": drawer.pick(PLANNERS), "sparse": drawer.pick(SPARSE_MODES), "fuse": drawer.chance(0.7),
                     "ws_kernel": drawer.pick(WS_KERNELS)}
    graph.options["row_chains"] = drawer.pick(ROW_CHAIN_MODES)  # drawn last, after the graph
    graph.options["patches"] = drawer.pick(PATCH_MODES)  # after those: earlier seeds draw the same graphs
    graph.options["row_streams"] = drawer.pick(ROW_STREAM_MODES)
    return graph


def natural_output_scale(input_scale: float, weight_scale: float, depth: int) -> float:
    """The scale that spreads a sum of `depth` products of uniform int8 values over ±64."""
    return input_scale * weight_scale * math.sqrt(max(depth, 1)) * INT8_SPREAD * INT8_SPREAD / 64.0
