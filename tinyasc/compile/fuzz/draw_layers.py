"""Random weighted layers for fuzz graphs: CONV_2D (groups, dilation), DEPTHWISE_CONV_2D (depth
multiplier), FULLY_CONNECTED (per-tensor or per-channel, with or without bias), pooling, MEAN
and SUM. Each reads `drawer.current` and appends one op (see draw.py)."""

from __future__ import annotations

import math

import numpy as np

from tinyasc.compile.fuzz.draw import Drawer, natural_output_scale


def _window(d: Drawer, size: int, padding: str, dilated: bool = True) -> tuple[int, int, int, int]:
    """(kernel, stride, dilation, output size) along one axis of `size`; a VALID window fits."""
    kernel = d.integer(1, 5) if size > 1 or d.chance(0.5) else 1
    stride = d.integer(4, 5) if d.chance(0.1) else d.integer(1, 3)  # sometimes longer than the kernel
    dilation = d.integer(2, 3) if dilated and d.chance(0.15) else 1
    if padding == "valid":
        while (kernel - 1) * dilation + 1 > size:
            dilation, kernel = (1, kernel) if dilation > 1 else (1, kernel - 1)
        return kernel, stride, dilation, (size - (kernel - 1) * dilation - 1) // stride + 1
    return kernel, stride, dilation, -(-size // stride)


def _int8_weights(d: Drawer, shape) -> np.ndarray:
    weights = d.rng.integers(-127, 128, size=shape).astype(np.int8)
    if d.chance(0.25):  # pruned: the sparse kernels' territory
        weights[d.rng.random(shape) < d.rng.uniform(0.5, 0.95)] = 0
    if d.chance(0.03):
        weights[...] = d.pick((-127, 127, 0))
    return weights


def _weight_scales(d: Drawer, channels: int) -> list[float]:
    base = 2.0 ** d.rng.uniform(-10, -4)
    if d.chance(0.2):
        return [d.scale(base)]  # per tensor
    return [d.scale(base) for _ in range(channels)]


def _bias(d: Drawer, input_scale: float, weight_scales: list[float], channels: int, depth: int,
          optional: bool = True) -> int:
    """An int32 bias of scale input_scale · weight_scale per channel, or -1 (none) when `optional`
    (TFLM's DEPTHWISE_CONV_2D reads its bias unconditionally: it crashes without one)."""
    if optional and d.chance(0.2):
        return -1
    spread = math.sqrt(max(depth, 1)) * 73.6 * 73.6
    values = (d.rng.normal(0, spread, channels) * d.rng.uniform(0, 1.5)).astype(np.int64)
    values = np.clip(values, -(2**31), 2**31 - 1).astype(np.int32)
    scales = [float(np.float32(input_scale) * np.float32(s)) for s in weight_scales]
    return d.constant(values, "int32", tuple(scales), (0,) * len(scales), 0)


def _output(d: Drawer, shape, weight_scales: list[float], depth: int) -> int:
    input_scale = d.tensor.scales[0]
    natural = natural_output_scale(input_scale, float(np.mean(weight_scales)), depth)
    return d.activation_tensor(shape, d.scale(natural), d.zero_point())


def draw_conv(d: Drawer) -> None:
    _, h, w, c = d.tensor.shape
    padding = d.pick(("same", "valid"))
    kh, sh, dh, oh = _window(d, h, padding)
    kw, sw, dw, ow = _window(d, w, padding)
    groups = d.pick([g for g in range(2, c + 1) if c % g == 0]) if c > 1 and d.chance(0.15) else 1
    out_c = groups * d.integer(1, max(1, 9 // groups))
    depth = kh * kw * (c // groups)
    scales = _weight_scales(d, out_c)
    weights = d.constant(_int8_weights(d, (out_c, kh, kw, c // groups)), "int8", tuple(scales), (0,) * len(scales), 0)
    bias = _bias(d, d.tensor.scales[0], scales if len(scales) > 1 else scales * out_c, out_c, depth)
    out = _output(d, (1, oh, ow, out_c), scales, depth)
    d.append("CONV_2D", [d.current, weights, bias], out, padding=padding, strideH=sh, strideW=sw,
             dilationHFactor=dh, dilationWFactor=dw, fusedActivationFunction=d.activation())


def draw_depthwise(d: Drawer) -> None:
    _, h, w, c = d.tensor.shape
    padding = d.pick(("same", "valid"))
    kh, sh, dh, oh = _window(d, h, padding)
    kw, sw, dw, ow = _window(d, w, padding)
    multiplier = d.integer(2, 3) if d.chance(0.25) else 1
    out_c = c * multiplier
    scales = _weight_scales(d, out_c)
    weights = d.constant(_int8_weights(d, (1, kh, kw, out_c)), "int8", tuple(scales), (0,) * len(scales), 3)
    bias = _bias(d, d.tensor.scales[0], scales if len(scales) > 1 else scales * out_c, out_c, kh * kw, optional=False)
    out = _output(d, (1, oh, ow, out_c), scales, kh * kw)
    d.append("DEPTHWISE_CONV_2D", [d.current, weights, bias], out, padding=padding, strideH=sh, strideW=sw,
             dilationHFactor=dh, dilationWFactor=dw, depthMultiplier=multiplier,
             fusedActivationFunction=d.activation())


def draw_fully_connected(d: Drawer) -> None:
    shape = d.tensor.shape
    depth = shape[-1] if d.chance(0.6) else d.tensor.size
    out_depth = d.integer(1, 24)
    scales = _weight_scales(d, out_depth)
    weights = d.constant(_int8_weights(d, (out_depth, depth)), "int8", tuple(scales), (0,) * len(scales), 0)
    bias = _bias(d, d.tensor.scales[0], scales if len(scales) > 1 else scales * out_depth, out_depth, depth)
    out = _output(d, (d.tensor.size // depth, out_depth), scales, depth)
    d.append("FULLY_CONNECTED", [d.current, weights, bias], out, fusedActivationFunction=d.activation())


def draw_pool(d: Drawer, name: str) -> None:
    _, h, w, c = d.tensor.shape
    padding = d.pick(("same", "valid"))
    kh, sh, _, oh = _window(d, h, padding, dilated=False)
    kw, sw, _, ow = _window(d, w, padding, dilated=False)
    out = d.same_quantization((1, oh, ow, c))
    activation = d.activation() if d.chance(0.2) else "none"
    d.append(name, [d.current], out, padding=padding, strideH=sh, strideW=sw, filterHeight=kh, filterWidth=kw,
             fusedActivationFunction=activation)


def draw_reduce(d: Drawer, name: str) -> None:
    shape = d.tensor.shape
    rank = len(shape)
    first = d.integer(1 if rank > 1 else 0, rank - 1)
    last = d.integer(first, rank - 1)
    axes = list(range(first, last + 1))
    written = [a - rank if d.chance(0.3) else a for a in axes]
    keep = d.chance(0.5) or len(axes) == rank  # no rank-0 tensors
    out_shape = tuple(1 if a in axes else n for a, n in enumerate(shape)) if keep else \
        tuple(n for a, n in enumerate(shape) if a not in axes)
    count = int(np.prod([shape[a] for a in axes]))
    if name == "MEAN" and d.chance(0.3):
        out = d.same_quantization(out_shape)
    else:
        natural = d.tensor.scales[0] * (math.sqrt(count) if name == "SUM" else 1.0)
        out = d.activation_tensor(out_shape, d.scale(natural), d.zero_point())
    d.append(name, [d.current, d.int32_vector(written)], out, keepDims=keep)


def draw_ws_conv(d: Drawer) -> None:
    """WSNet's weight-sampling conv (the CUSTOM op WS_CONV) over time, on a [1, T, 1, M] tensor: one
    int8 condensed filter Φ [L + (N-1)·s, M/C] with one scale, sampled into N filters of length L."""
    _, length, _, channels = d.tensor.shape
    padding = d.pick(("same", "valid"))
    kernel = d.integer(1, min(length, 6) if padding == "valid" else 6)
    stride = d.integer(1, 3)
    filters = d.integer(1, 8)
    step = d.integer(1, max(1, kernel + 1))  # s > L leaves rows of Φ unused, s < L overlaps
    repeat = d.pick([r for r in range(1, channels + 1) if channels % r == 0])
    phi_scale = d.scale(2.0 ** d.rng.uniform(-10, -4))
    phi = d.constant(_int8_weights(d, (kernel + (filters - 1) * step, channels // repeat)), "int8",
                     (phi_scale,), (0,))
    depth = kernel * channels
    bias = _bias(d, d.tensor.scales[0], [phi_scale] * filters, filters, depth)
    out_length = -(-length // stride) if padding == "same" else (length - kernel) // stride + 1
    out = _output(d, (1, out_length, 1, filters), [phi_scale], depth)
    d.append("WS_CONV", [d.current, phi, bias], out, kernel_size=kernel, filters=filters, sampling_stride=step,
             channel_repeat=repeat, stride=stride, padding=padding, activation=d.pick(("none", "relu", "relu6")))
