"""Random element-wise, activation and layout ops for fuzz graphs, and the table of every op the
fuzzer draws (OP_DRAWERS) with the tensors each accepts (`applicable`)."""

from __future__ import annotations

import numpy as np

from tinyasc.compile.fuzz.draw import MAX_ELEMENTS, Drawer
from tinyasc.compile.fuzz.draw_layers import (draw_conv, draw_depthwise, draw_fully_connected, draw_pool, draw_reduce,
                                              draw_ws_conv)


def _earlier_activation(d: Drawer, shape) -> int | None:
    """An int8 activation drawn before the current one with this shape (a branch to join), or None."""
    graph = d.graph
    produced = [graph.inputs[0], *(op.outputs[0] for op in graph.ops)]
    found = [t for t in produced if t != d.current and graph.tensors[t].dtype == "int8" and graph.tensors[t].shape == shape]
    return d.pick(found) if found else None


def _broadcast_shape(d: Drawer, shape) -> tuple[int, ...]:
    if d.chance(0.3):
        shape = shape[d.integer(0, len(shape) - 1):]  # fewer dimensions
    return tuple(1 if d.chance(0.4) else n for n in shape)


def draw_elementwise(d: Drawer, name: str) -> None:
    shape, scale = d.tensor.shape, d.tensor.scales[0]
    other = _earlier_activation(d, shape) if d.chance(0.6) else None
    if other is None:
        other_shape = _broadcast_shape(d, shape)
        values = d.rng.integers(-128, 128, size=other_shape).astype(np.int8)
        other = d.constant(values, "int8", (d.scale(scale),), (d.zero_point(),))
    other_scale = d.graph.tensors[other].scales[0]
    if name == "MUL":
        natural = scale * other_scale * 73.6 * 73.6 / 64.0
    else:
        natural = max(scale, other_scale) * 1.5
    out = d.activation_tensor(shape, d.scale(natural), d.zero_point())
    inputs = [d.current, other] if d.chance(0.7) else [other, d.current]
    d.append(name, inputs, out, fusedActivationFunction=d.activation())


def draw_activation(d: Drawer, name: str) -> None:
    shape, scale = d.tensor.shape, d.tensor.scales[0]
    fixed = {"LOGISTIC": (1.0 / 256, -128), "TANH": (1.0 / 128, 0), "SOFTMAX": (1.0 / 256, -128)}
    if name in fixed:
        out = d.activation_tensor(shape, *fixed[name])
    else:
        out = d.activation_tensor(shape, d.scale(scale), d.zero_point())
    options = {}
    if name == "LEAKY_RELU":
        options["alpha"] = float(np.float32(d.rng.uniform(-1.5, 1.5) if d.chance(0.2) else d.rng.uniform(0, 1)))
    elif name == "SOFTMAX":
        options["beta"] = float(np.float32(d.rng.uniform(0.1, 3.0)))
    d.append(name, [d.current], out, **options)


def draw_concatenation(d: Drawer) -> None:
    shape = d.tensor.shape
    axis = d.integer(0, len(shape) - 1)
    parts = [d.current]
    for _ in range(d.integer(1, 2)):
        if d.chance(0.5):
            parts.append(d.current)
        else:
            part_shape = tuple(d.integer(1, 3) if a == axis else n for a, n in enumerate(shape))
            values = d.rng.integers(-128, 128, size=part_shape).astype(np.int8)
            parts.append(d.constant(values, "int8", d.tensor.scales, d.tensor.zero_points))
    d.rng.shuffle(parts)
    extent = sum(d.graph.tensors[p].shape[axis] for p in parts)
    out = d.same_quantization(tuple(extent if a == axis else n for a, n in enumerate(shape)))
    d.append("CONCATENATION", parts, out, axis=axis - len(shape) if d.chance(0.3) else axis)


def draw_pad(d: Drawer, name: str) -> None:
    shape = d.tensor.shape
    paddings = np.array([[d.integer(0, 2) if d.chance(0.6) else 0 for _ in range(2)] for _ in shape], dtype=np.int32)
    out = d.same_quantization(tuple(n + int(p.sum()) for n, p in zip(shape, paddings)))
    inputs = [d.current, d.constant(paddings)]
    if name == "PADV2":
        inputs.append(d.constant(np.array([d.integer(-128, 127)], dtype=np.int8), "int8", d.tensor.scales, d.tensor.zero_points))
    d.append(name, inputs, out)


def _factorization(d: Drawer, size: int) -> list[int]:
    """A random shape of `size` elements, rank 1 to 4, batch first."""
    dims = []
    remaining = size
    for _ in range(d.integer(0, 2)):
        divisors = [k for k in range(1, remaining + 1) if remaining % k == 0]
        dims.append(d.pick(divisors))
        remaining //= dims[-1]
    return [1, *dims, remaining] if d.chance(0.8) else [*dims, remaining]


def draw_reshape(d: Drawer) -> None:
    shape = _factorization(d, d.tensor.size)[:4]
    if int(np.prod(shape)) != d.tensor.size:
        shape = [1, d.tensor.size]
    out = d.same_quantization(shape)
    d.append("RESHAPE", [d.current, d.int32_vector(shape)], out, newShape=list(shape))


def draw_squeeze(d: Drawer) -> None:
    shape = d.tensor.shape
    units = [a for a, n in enumerate(shape) if n == 1]
    dims = [a for a in units if d.chance(0.6)] if d.chance(0.7) else []
    if len(dims) == len(shape) or (not dims and len(units) == len(shape)):
        dims = units[:-1]
    squeezed = dims or units
    out = d.same_quantization(tuple(n for a, n in enumerate(shape) if a not in squeezed))
    d.append("SQUEEZE", [d.current], out, squeezeDims=dims)


def draw_expand_dims(d: Drawer) -> None:
    shape = list(d.tensor.shape)
    axis = d.integer(-(len(shape) + 1), len(shape))
    position = axis if axis >= 0 else axis + len(shape) + 1
    out = d.same_quantization(tuple(shape[:position] + [1] + shape[position:]))
    d.append("EXPAND_DIMS", [d.current, d.int32_vector([axis])], out)


def draw_transpose(d: Drawer) -> None:
    shape = d.tensor.shape
    perm = [int(a) for a in d.rng.permutation(len(shape))]
    out = d.same_quantization(tuple(shape[a] for a in perm))
    d.append("TRANSPOSE", [d.current, d.int32_vector(perm)], out)


def draw_strided_slice(d: Drawer) -> None:
    """Python's slice semantics (clamped, negative indices from the end) are TFLite's with offset off."""
    shape = d.tensor.shape
    begin, end, strides, kept = [], [], [], []
    begin_mask = end_mask = shrink_mask = 0
    for axis, n in enumerate(shape):
        stride = -d.integer(1, 2) if d.chance(0.15) else d.integer(1, 3)
        b, e = d.integer(-n, n - 1), d.integer(-n - 1, n)
        from_start, to_end = d.chance(0.2), d.chance(0.2)
        count = len(range(n)[slice(None if from_start else b, None if to_end else e, stride)])
        if count == 0:
            from_start = to_end = True
            count = len(range(n)[::stride])
        begin_mask |= from_start << axis
        end_mask |= to_end << axis
        shrunk = axis - len(kept)
        if not from_start and shrunk + 1 < len(shape) and d.chance(0.15):  # one axis at least stays
            shrink_mask |= 1 << axis  # one element, at `b`: the axis disappears
            stride = 1  # TFLite reads [b, b + 1) in the stride's direction: a negative one is empty
        else:
            kept.append(count)
        begin.append(b)
        end.append(e)
        strides.append(stride)
    out = d.same_quantization(tuple(kept))
    d.append("STRIDED_SLICE", [d.current, d.int32_vector(begin), d.int32_vector(end), d.int32_vector(strides)], out,
             beginMask=begin_mask, endMask=end_mask, shrinkAxisMask=shrink_mask)


OP_DRAWERS = {
    "CONV_2D": draw_conv,
    "DEPTHWISE_CONV_2D": draw_depthwise,
    "FULLY_CONNECTED": draw_fully_connected,
    "MAX_POOL_2D": lambda d: draw_pool(d, "MAX_POOL_2D"),
    "AVERAGE_POOL_2D": lambda d: draw_pool(d, "AVERAGE_POOL_2D"),
    "MEAN": lambda d: draw_reduce(d, "MEAN"),
    "SUM": lambda d: draw_reduce(d, "SUM"),
    **{name: (lambda d, name=name: draw_elementwise(d, name)) for name in ("ADD", "SUB", "MUL")},
    **{name: (lambda d, name=name: draw_activation(d, name))
       for name in ("RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "TANH", "QUANTIZE", "SOFTMAX")},
    "CONCATENATION": draw_concatenation,
    "PAD": lambda d: draw_pad(d, "PAD"),
    "PADV2": lambda d: draw_pad(d, "PADV2"),
    "RESHAPE": draw_reshape,
    "SQUEEZE": draw_squeeze,
    "EXPAND_DIMS": draw_expand_dims,
    "TRANSPOSE": draw_transpose,
    "STRIDED_SLICE": draw_strided_slice,
    "WS_CONV": draw_ws_conv,
}
WINDOW_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D")
GROWING_OPS = ("CONCATENATION", "PAD", "PADV2", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


def applicable(name: str, d: Drawer) -> bool:
    """Whether the op accepts the current tensor (rank, size) and keeps activations small."""
    shape = d.tensor.shape
    rank = len(shape)
    if name in WINDOW_OPS:
        return rank == 4 and shape[0] == 1
    if name == "WS_CONV":  # over time only: [1, T, 1, M]
        return rank == 4 and shape[0] == 1 and shape[2] == 1 and d.tensor.size * 3 <= MAX_ELEMENTS
    if name in GROWING_OPS and d.tensor.size * 3 > MAX_ELEMENTS:
        return False
    if name == "SQUEEZE":
        return 1 in shape and rank > 1
    if name == "EXPAND_DIMS":
        return rank < 4
    if name == "SOFTMAX":
        return rank > 0 and shape[-1] <= 511
    return True
