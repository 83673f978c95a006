"""Read a `.tflite` flatbuffer into the graph IR with the schema tflite-micro ships.

Everything a user can get wrong with a model file ends here as a `TinyascError` that says what is
wrong and what to do: not a flatbuffer, truncated, several subgraphs, float or hybrid models, and
ops the compiler does not know (all of them at once, with their positions).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyasc.compile.ir import Graph, Op, OpKind, Quantization, Tensor, verify
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
    tensors = [_read_tensor(i, t, model.buffers, source) for i, t in enumerate(subgraph.tensors or [])]
    ops = _read_ops(model, subgraph, source)
    graph = Graph(
        tensors=tensors,
        ops=ops,
        inputs=tuple(int(i) for i in subgraph.inputs),
        outputs=tuple(int(i) for i in subgraph.outputs),
        description=(model.description or b"").decode("utf-8", "replace")
        if isinstance(model.description, bytes)
        else (model.description or ""),
    )
    _check_integer_model(graph, source)
    try:
        verify(graph)
    except AssertionError as e:
        raise TinyascError(f"{source}: the model's graph is inconsistent ({e})") from None
    return graph


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
    if t.type not in TENSOR_TYPES:
        raise UnsupportedModelError(f"{source}: tensor {index} ({name}) has unsupported type {t.type}")
    dtype = TENSOR_TYPES[t.type]
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else ()))
    if any(d < 0 for d in shape):
        raise UnsupportedModelError(
            f"{source}: tensor {index} ({name}) has a dynamic shape {list(shape)}; "
            "convert from a concrete function with batch size 1"
        )
    quantization = None
    q = t.quantization
    if q is not None and q.scale is not None and len(q.scale) > 0:
        zero_points = q.zeroPoint if q.zeroPoint is not None else [0] * len(q.scale)
        quantization = Quantization(
            scales=tuple(float(np.float32(s)) for s in q.scale),
            zero_points=tuple(int(z) for z in zero_points),
            axis=int(q.quantizedDimension),
        )
    data = None
    if 0 < t.buffer < len(buffers or []):
        buffer = buffers[t.buffer]
        if buffer.offset:
            raise UnsupportedModelError(f"{source}: tensor {index} uses an external buffer (>2 GB model)")
        if buffer.data is not None and len(buffer.data) > 0:
            raw = np.asarray(buffer.data, dtype=np.uint8).tobytes()
            from tinyasc.compile.ir import NUMPY_DTYPES

            expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(NUMPY_DTYPES[dtype]).itemsize
            if len(raw) != expected:
                raise TinyascError(
                    f"{source}: tensor {index} ({name}) holds {len(raw)} bytes, its shape "
                    f"{list(shape)} needs {expected}; the file is corrupted"
                )
            data = np.frombuffer(raw, dtype=NUMPY_DTYPES[dtype]).reshape(shape)
    return Tensor(index=index, name=name, shape=shape, dtype=dtype, quantization=quantization, data=data)


def _op_name(model, opcode_index: int) -> str:
    code = model.operatorCodes[opcode_index]
    builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    if builtin == 32:  # CUSTOM
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
        return f"CUSTOM:{custom}"
    return _builtin_names().get(builtin, f"BUILTIN_{builtin}")


def _read_ops(model, subgraph, source: str) -> list[Op]:
    known = {kind.value: kind for kind in OpKind}
    ops, unknown = [], []
    for position, op in enumerate(subgraph.operators or []):
        name = _op_name(model, op.opcodeIndex)
        if name not in known:
            unknown.append(f"{name} (op {position})")
            continue
        ops.append(
            Op(
                index=position,
                kind=known[name],
                inputs=tuple(int(i) for i in (op.inputs if op.inputs is not None else ())),
                outputs=tuple(int(i) for i in (op.outputs if op.outputs is not None else ())),
                options=_read_options(op.builtinOptions),
            )
        )
    if unknown:
        supported = ", ".join(sorted(known))
        raise UnsupportedModelError(
            f"{source}: {len(unknown)} op(s) tinyasc cannot compile yet: {', '.join(unknown)}. "
            f"Supported ops: {supported}. Change the model to use supported layers."
        )
    return ops


def _read_options(options) -> dict:
    if options is None:
        return {}
    values = {}
    for key, value in vars(options).items():
        if key == "fusedActivationFunction":
            values["activation"] = ACTIVATIONS.get(value, f"unknown_{value}")
        elif key == "padding":
            values["padding"] = PADDINGS.get(value, f"unknown_{value}")
        elif isinstance(value, (bool, int, float, str)) or value is None:
            values[key] = value
    return values


def _check_integer_model(graph: Graph, source: str) -> None:
    """tinyasc deploys full-int8 models; say how to get one from a float or hybrid model."""
    activations = [t for t in graph.tensors if not t.is_constant]
    float_activations = [t for t in activations if t.dtype in ("float32", "float16")]
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
