"""Read a `.tflite` flatbuffer into the graph IR with the schema tflite-micro ships.

Everything a user can get wrong with a model file ends here as a `TinyascError` that says what is
wrong and what to do: not a flatbuffer, truncated, several subgraphs, float or hybrid models, and
ops the compiler does not know (all of them at once, with their positions).

A damaged file must not get further than this reader either (tests/test_fuzz.py feeds it hundreds
of mutants): the flatbuffers package is pure Python, so damage surfaces as Python exceptions, which
become one TinyascError; then every index (tensor, buffer, operator code, graph input/output), every
shape (no negative, empty or > 1 GiB tensors), every quantization (finite positive scales, int8 zero
points, per-channel counts), the options window ops read, and the output shape of window and
reduction ops are checked against the file itself before the compiler trusts them.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np

from tinyasc.compile.ir import NUMPY_DTYPES, Graph, Op, OpKind, Quantization, Tensor, verify
from tinyasc.compile.ws_rewrite import read_options
from tinyasc.errors import TinyascError, UnsupportedModelError

# TensorType values of the TFLite schema.
TENSOR_TYPES = {
    0: "float32",
    1: "float16",
    2: "int32",
    3: "uint8",
    4: "int64",
    6: "bool",
    7: "int16",
    9: "int8",
}

ACTIVATIONS = {0: "none", 1: "relu", 2: "relu_n1_to_1", 3: "relu6", 4: "tanh"}
PADDINGS = {0: "same", 1: "valid"}

# No tensor of a microcontroller model comes near this; a larger one is a damaged shape.
MAX_TENSOR_BYTES = 1 << 30
MAX_RANK = 8
# The smallest normal float32: a scale below it (or zero, negative, inf, NaN) makes requantization
# multipliers meaningless.
MIN_SCALE = float(np.finfo(np.float32).tiny)


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def _builtin_names() -> dict[int, str]:
    ops = _schema().BuiltinOperator
    return {value: name for name, value in vars(ops).items() if not name.startswith("_")}


def read_tflite(path: str | Path) -> Graph:
    path = Path(path)
    if not path.is_file():
        raise TinyascError(f"{path}: no such .tflite file")
    return parse_tflite(path.read_bytes(), source=str(path))


def parse_tflite(data: bytes, source: str = "<bytes>") -> Graph:
    model = _unpack(data, source)
    if not model.subgraphs:
        raise TinyascError(f"{source}: the model has no subgraph")
    if len(model.subgraphs) > 1:
        raise UnsupportedModelError(
            f"{source}: the model has {len(model.subgraphs)} subgraphs (control flow); "
            "tinyasc compiles single-subgraph models"
        )
    subgraph = model.subgraphs[0]
    tensors = [_read_tensor(i, t, model.buffers or [], source) for i, t in enumerate(subgraph.tensors or [])]
    ops = _read_ops(model, subgraph, source)
    _check_tensor_indices(ops, tensors, source)
    graph = Graph(
        tensors=tensors,
        ops=ops,
        inputs=_graph_io(subgraph.inputs, "input", tensors, source),
        outputs=_graph_io(subgraph.outputs, "output", tensors, source),
        description=(model.description or b"").decode("utf-8", "replace")
        if isinstance(model.description, bytes)
        else (model.description or ""),
    )
    _check_integer_model(graph, source)
    try:
        verify(graph)
    except AssertionError as e:
        raise TinyascError(f"{source}: the model's graph is inconsistent ({e}); re-export the .tflite file") from None
    _check_output_shapes(graph, source)
    return graph


def _corrupted(source: str, what: str) -> TinyascError:
    return TinyascError(f"{source}: {what}; the file is corrupted, re-export the .tflite file")


def _graph_io(indices, role: str, tensors: list[Tensor], source: str) -> tuple[int, ...]:
    """The subgraph's single input or output, checked: generated C takes one of each."""
    indices = tuple(int(i) for i in (indices if indices is not None else ()))
    if len(indices) != 1:
        raise UnsupportedModelError(
            f"{source}: the model has {len(indices)} {role}s; tinyasc compiles models with exactly one "
            f"{role} tensor (merge or split {role}s in the Keras model before converting)"
        )
    if not 0 <= indices[0] < len(tensors):
        raise _corrupted(source, f"the graph {role} is tensor {indices[0]}, but there are {len(tensors)} tensors")
    if tensors[indices[0]].is_constant:
        raise _corrupted(source, f"the graph {role} is tensor {indices[0]}, a constant")
    return indices


def _check_tensor_indices(ops: list[Op], tensors: list[Tensor], source: str) -> None:
    """Every index an op names is a tensor of the file; ops write activations, never constants."""
    for op in ops:
        where = f"op {op.index} ({op.kind.value})"
        if not op.inputs or op.inputs[0] < 0 or not op.outputs:
            raise _corrupted(source, f"{where} has inputs {list(op.inputs)} and outputs {list(op.outputs)}")
        for i in op.inputs:
            if not -1 <= i < len(tensors):  # -1 marks an omitted optional input
                raise _corrupted(source, f"{where} reads tensor {i}, but there are {len(tensors)} tensors")
        for o in op.outputs:
            if not 0 <= o < len(tensors):
                raise _corrupted(source, f"{where} writes tensor {o}, but there are {len(tensors)} tensors")
            if tensors[o].is_constant:
                raise _corrupted(source, f"{where} writes tensor {o} ({tensors[o].name}), which is a constant")


def _unpack(data: bytes, source: str):
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise TinyascError(
            f"{source}: not a TensorFlow Lite flatbuffer (no 'TFL3' identifier); "
            "export the model with tf.lite.TFLiteConverter"
        )
    try:
        model = _schema().ModelT.InitFromPackedBuf(bytearray(data), 0)
        # Touch every table once so a truncated or corrupted file fails here, not later.
        for subgraph in model.subgraphs or []:
            _ = [t.shape for t in subgraph.tensors or []]
    except Exception as e:  # flatbuffers raises struct/index/unicode errors on damaged input
        raise TinyascError(
            f"{source}: the flatbuffer is truncated or corrupted ({type(e).__name__}); "
            "re-export the .tflite file"
        ) from None
    return model


def _read_tensor(index: int, t, buffers, source: str) -> Tensor:
    name = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else str(t.name or "")
    where = f"tensor {index} ({name})"
    if t.type not in TENSOR_TYPES:
        raise UnsupportedModelError(f"{source}: {where} has unsupported type {t.type}")
    dtype = TENSOR_TYPES[t.type]
    shape = _read_shape(t, where, source)
    data = _read_data(t, buffers, shape, dtype, where, source)
    quantization = _read_quantization(t.quantization, shape, dtype, where, source)
    return Tensor(index=index, name=name, shape=shape, dtype=dtype, quantization=quantization, data=data)


def _read_shape(t, where: str, source: str) -> tuple[int, ...]:
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
    if any(d < 0 for d in shape):
        raise UnsupportedModelError(
            f"{source}: {where} has a dynamic shape {list(shape)}; "
            "convert from a concrete function with batch size 1"
        )
    if 0 in shape:
        raise UnsupportedModelError(
            f"{source}: {where} has an empty shape {list(shape)}; tinyasc needs every tensor non-empty"
        )
    if len(shape) > MAX_RANK:
        raise _corrupted(source, f"{where} has rank {len(shape)}")
    # Python integers: numpy's int64 product would wrap around for damaged shapes.
    nbytes = math.prod(shape) * np.dtype(NUMPY_DTYPES[TENSOR_TYPES[t.type]]).itemsize
    if nbytes > MAX_TENSOR_BYTES:
        raise UnsupportedModelError(
            f"{source}: {where} has shape {list(shape)}, {nbytes:,} bytes: more than 1 GiB, far beyond any "
            "microcontroller; the shape is damaged or the model is not meant for one"
        )
    return shape


def _read_data(t, buffers, shape: tuple[int, ...], dtype: str, where: str, source: str) -> np.ndarray | None:
    """The constant's values, or None for an activation (buffer 0 or an empty buffer)."""
    if not 0 <= t.buffer < max(len(buffers), 1):
        raise _corrupted(source, f"{where} refers to buffer {t.buffer}, but there are {len(buffers)} buffers")
    if t.buffer == 0 or buffers[t.buffer] is None:
        return None
    buffer = buffers[t.buffer]
    if buffer.offset:
        raise UnsupportedModelError(f"{source}: {where} uses an external buffer (>2 GB model)")
    if buffer.data is None or len(buffer.data) == 0:
        return None
    raw = np.asarray(buffer.data, dtype=np.uint8).tobytes()
    expected = math.prod(shape) * np.dtype(NUMPY_DTYPES[dtype]).itemsize
    if len(raw) != expected:
        raise _corrupted(source, f"{where} holds {len(raw)} bytes, its shape {list(shape)} needs {expected}")
    return np.frombuffer(raw, dtype=NUMPY_DTYPES[dtype]).reshape(shape)


def _read_quantization(q, shape: tuple[int, ...], dtype: str, where: str, source: str) -> Quantization | None:
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    scales = tuple(float(np.float32(s)) for s in q.scale)
    zero_points = tuple(int(z) for z in (q.zeroPoint if q.zeroPoint is not None else [0] * len(scales)))
    axis = int(q.quantizedDimension)
    if not all(math.isfinite(s) and s >= MIN_SCALE for s in scales):
        raise _corrupted(source, f"{where} has quantization scales {_few(scales)}; scales must be positive and finite")
    if len(zero_points) != len(scales):
        raise _corrupted(source, f"{where} has {len(scales)} scales but {len(zero_points)} zero points")
    if dtype == "int8" and not all(-128 <= z <= 127 for z in zero_points):
        raise _corrupted(source, f"{where} is int8 with zero points {_few(zero_points)} outside [-128, 127]")
    if len(scales) > 1 and not (0 <= axis < len(shape) and shape[axis] == len(scales)):
        raise _corrupted(
            source, f"{where} has {len(scales)} per-channel scales on axis {axis} of shape {list(shape)}"
        )
    return Quantization(scales=scales, zero_points=zero_points, axis=axis)


def _few(values: tuple) -> str:
    return str(list(values[:4])) + (" ..." if len(values) > 4 else "")


def _op_name(model, opcode_index: int, position: int, source: str) -> str:
    codes = model.operatorCodes or []
    if not 0 <= opcode_index < len(codes) or codes[opcode_index] is None:
        raise _corrupted(source, f"op {position} uses operator code {opcode_index}, but there are {len(codes)}")
    code = codes[opcode_index]
    builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    if builtin == 32:  # CUSTOM
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
        return f"CUSTOM:{custom}"
    return _builtin_names().get(builtin, f"BUILTIN_{builtin}")


def _read_ops(model, subgraph, source: str) -> list[Op]:
    known = {kind.value: kind for kind in OpKind}
    ops, unknown = [], []
    for position, op in enumerate(subgraph.operators or []):
        name = _op_name(model, op.opcodeIndex, position, source)
        if name == "CUSTOM:WS_CONV":  # WSNet's weight-sampling conv (tinyasc.compile.ws_rewrite)
            ops.append(_ws_conv_op(op, position, source))
            continue
        if name not in known:
            unknown.append(f"{name} (op {position})")
            continue
        ops.append(
            Op(
                index=position,
                kind=known[name],
                inputs=tuple(int(i) for i in (op.inputs if op.inputs is not None else ())),
                outputs=tuple(int(i) for i in (op.outputs if op.outputs is not None else ())),
                options=_read_options(_checked_options(op, name, position, source), f"op {position} ({name})", source),
            )
        )
    if unknown:
        supported = ", ".join(sorted(known))
        hint = _float_output_hint(model, subgraph)
        raise UnsupportedModelError(
            f"{source}: {len(unknown)} op(s) tinyasc cannot compile yet: {', '.join(unknown)}. "
            f"Supported ops: {supported}. Change the model to use supported layers.{hint}"
        )
    return ops


def _ws_conv_op(op, position: int, source: str) -> Op:
    options = read_options(op.customOptions, f"{source}: op {position} (WS_CONV)")
    return Op(
        index=position,
        kind=OpKind.WS_CONV,
        inputs=tuple(int(i) for i in (op.inputs if op.inputs is not None else ())),
        outputs=tuple(int(i) for i in (op.outputs if op.outputs is not None else ())),
        options=asdict(options),
    )


def _float_output_hint(model, subgraph) -> str:
    """A DEQUANTIZE producing a graph output means the model was converted with float input/output."""
    outputs = set(int(i) for i in (subgraph.outputs if subgraph.outputs is not None else ()))
    for position, op in enumerate(subgraph.operators or []):
        produces_output = any(int(o) in outputs for o in (op.outputs if op.outputs is not None else ()))
        if produces_output and _op_name(model, op.opcodeIndex, position, "") == "DEQUANTIZE":
            return (" The model returns float (a DEQUANTIZE at the end): convert it with int8 input/output types "
                    "(converter.inference_input_type = converter.inference_output_type = tf.int8).")
    return ""


# Window ops read their sizes and strides from these tables: another table, or none, is damage.
OPTIONS_TABLES = {
    "CONV_2D": "Conv2DOptionsT", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptionsT",
    "MAX_POOL_2D": "Pool2DOptionsT", "AVERAGE_POOL_2D": "Pool2DOptionsT",
}


def _checked_options(op, name: str, position: int, source: str):
    expected = OPTIONS_TABLES.get(name)
    found = type(op.builtinOptions).__name__ if op.builtinOptions is not None else "no options"
    if expected is not None and found != expected:
        raise _corrupted(source, f"op {position} ({name}) carries {found.removesuffix('T')} instead of {expected[:-1]}")
    return op.builtinOptions


def _read_options(options, where: str, source: str) -> dict:
    if options is None:
        return {}
    values = {}
    for key, value in vars(options).items():
        if key == "fusedActivationFunction":
            values["activation"] = _enum_option(ACTIVATIONS, value, "fused activation", where, source)
        elif key == "padding":
            values["padding"] = _enum_option(PADDINGS, value, "padding", where, source)
        elif isinstance(value, (bool, int, float, str)) or value is None:
            values[key] = value
    _check_window_options(values, where, source)
    return values


def _enum_option(names: dict[int, str], value: int, what: str, where: str, source: str) -> str:
    if value not in names:
        raise _corrupted(source, f"{where} has {what} {value}, which TFLite does not define")
    return names[value]


def _check_window_options(values: dict, where: str, source: str) -> None:
    """Strides, dilations and window sizes are positive: kernels divide and loop by them."""
    for key in ("strideH", "strideW", "dilationHFactor", "dilationWFactor", "filterHeight", "filterWidth"):
        if key in values and not (isinstance(values[key], int) and 1 <= values[key] <= 1 << 16):
            raise _corrupted(source, f"{where} has {key}={values[key]}; it must be a positive integer")


def _check_integer_model(graph: Graph, source: str) -> None:
    """tinyasc deploys full-int8 models; say how to get one from a float or hybrid model. The one
    float32 allowed is at the boundary: a graph input read only by QUANTIZE ops (float → int8) and
    a graph output written by DEQUANTIZE (int8 → float), as the converter emits for a full-int8
    model with float input/output types."""
    activations = [t for t in graph.tensors if not t.is_constant]
    boundary = _float_boundary_tensors(graph)
    float_activations = [t for t in activations if t.dtype in ("float32", "float16") and t.index not in boundary]
    if float_activations:
        raise UnsupportedModelError(
            f"{source}: the model computes in floating point ({len(float_activations)} float "
            f"tensors, e.g. '{float_activations[0].name}'). tinyasc runs full-integer int8 models: "
            "convert with converter.optimizations=[tf.lite.Optimize.DEFAULT], a representative "
            "dataset, supported_ops=[TFLITE_BUILTINS_INT8] and int8 input/output types "
            "(tinyasc.convert.quantize.quantize_int8 does this)."
        )
    for t in activations:
        if t.dtype == "int8" and t.quantization is None:
            raise UnsupportedModelError(f"{source}: int8 tensor {t.index} ({t.name}) has no quantization")


def _float_boundary_tensors(graph: Graph) -> set[int]:
    """float32 graph inputs whose only readers are QUANTIZE ops, and float32 graph outputs written by
    a DEQUANTIZE and read by no op: the float I/O the compiled model converts at its edges."""
    readers: dict[int, list[Op]] = {}
    producer: dict[int, Op] = {}
    for op in graph.ops:
        for i in op.inputs:
            readers.setdefault(i, []).append(op)
        for o in op.outputs:
            producer[o] = op
    boundary = set()
    for i in graph.inputs:
        ops = readers.get(i, [])
        if graph.tensors[i].dtype == "float32" and ops and all(op.kind is OpKind.QUANTIZE for op in ops):
            boundary.add(i)
    for o in graph.outputs:
        op = producer.get(o)
        if (graph.tensors[o].dtype == "float32" and op is not None and op.kind is OpKind.DEQUANTIZE
                and o not in readers and o not in graph.inputs):
            boundary.add(o)
    return boundary


# ---- output shapes: the file's shapes must be the ones the op computes ----
# Kernels size their loops from these shapes; a damaged output shape would make them read or write
# outside their buffers. TFLite derives them the same way (ComputeOutSize, reductions).

WINDOW_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "AVERAGE_POOL_2D")
REDUCE_OPS = ("MEAN", "SUM")


def _check_output_shapes(graph: Graph, source: str) -> None:
    for op in graph.ops:
        where = f"op {op.index} ({op.kind.value})"
        y = graph.tensors[op.outputs[0]]
        if op.kind.value in WINDOW_OPS:
            expected = _window_output_size(op, graph)
            if expected is not None and tuple(y.shape[1:3]) != expected:
                raise _corrupted(
                    source, f"{where} has output shape {list(y.shape)}, but its input, filter, strides and "
                    f"padding give height x width {expected[0]} x {expected[1]}"
                )
        elif op.kind.value in REDUCE_OPS:
            expected = _reduced_output_elements(op, graph, where, source)
            if expected is not None and y.num_elements != expected:
                raise _corrupted(
                    source, f"{where} has output shape {list(y.shape)}, but reducing its input gives {expected} values"
                )


def _window_output_size(op: Op, graph: Graph) -> tuple[int, int] | None:
    """(height, width) of a conv or pool output as TFLite computes it; None when the op is too
    malformed to say (the op's own checks then refuse it)."""
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if len(x.shape) != 4 or len(y.shape) != 4:
        return None
    o = op.options
    if op.kind.value in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        weights = graph.tensors[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
        if weights is None or len(weights.shape) != 4:
            return None
        filter_h, filter_w = weights.shape[1], weights.shape[2]
    else:
        filter_h, filter_w = o.get("filterHeight", 1), o.get("filterWidth", 1)
    padding = o.get("padding", "valid")
    return (
        _out_size(padding, x.shape[1], filter_h, o.get("strideH", 1), o.get("dilationHFactor", 1)),
        _out_size(padding, x.shape[2], filter_w, o.get("strideW", 1), o.get("dilationWFactor", 1)),
    )


def _out_size(padding: str, size: int, filter_size: int, stride: int, dilation: int) -> int:
    """TFLite's ComputeOutSize."""
    effective = (filter_size - 1) * dilation + 1
    if padding == "same":
        return (size + stride - 1) // stride
    return (size + stride - effective) // stride


def _reduced_output_elements(op: Op, graph: Graph, where: str, source: str) -> int | None:
    x = graph.tensors[op.inputs[0]]
    axes = graph.tensors[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
    if axes is None or not axes.is_constant or axes.dtype not in ("int32", "int64"):
        return None
    rank = max(len(x.shape), 1)
    values = [int(a) for a in axes.data.reshape(-1)]
    if any(not -rank <= a < rank for a in values):
        raise _corrupted(source, f"{where} reduces axes {values} of a rank-{rank} tensor")
    if not x.shape:
        return 1
    reduced = math.prod(x.shape[axis] for axis in {a % rank for a in values})
    return x.num_elements // reduced

