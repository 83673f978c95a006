"""What an int8 `.tflite` computes: TFLite Micro's Python interpreter, TFLM's reference kernels.

Training scores its int8 model with it and the compiler checks its C against it, so it lives
below both. The interpreter needs its arena size up front; its own default (10× the file size)
is far too small for long inputs (a 10-s 18-kHz binaural clip is 360 KB of input alone), so
the arena is bounded from the model's activation tensors instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tinyasc.errors import TinyascError

TENSOR_ALIGNMENT = 16  # TFLM aligns every tensor in the arena to 16 bytes
# TFLM's own heuristic, kept for its persistent data (tensor and node structs, kernel op data),
# which grows with the number of tensors and ops, i.e. roughly with the file.
PERSISTENT_BYTES_PER_MODEL_BYTE = 10
MIN_ARENA_BYTES = 64 * 1024

# Bytes per element of the schema's TensorType values a micro model can hold.
_ELEMENT_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1, 10: 8, 16: 4}


def activation_bytes(model_bytes: bytes) -> int:
    """Bytes of every tensor that has no constant data (inputs, outputs, intermediates), each
    aligned as TFLM aligns it: what the arena holds if no two tensors shared memory."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.Model.GetRootAs(bytes(model_bytes), 0)
    total = 0
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for t in range(subgraph.TensorsLength()):
            tensor = subgraph.Tensors(t)
            if model.Buffers(tensor.Buffer()).DataLength() > 0:
                continue  # a constant lives in the flatbuffer, not in the arena
            elements = int(np.prod(tensor.ShapeAsNumpy())) if tensor.ShapeLength() else 1
            size = elements * _ELEMENT_BYTES.get(tensor.Type(), 8)
            total += -(-size // TENSOR_ALIGNMENT) * TENSOR_ALIGNMENT
    return total


def tflm_arena_bound(model_bytes: bytes) -> int:
    """An arena with which TFLM surely allocates the model: every activation tensor side by side
    twice over (kernel scratch such as MEAN's int32 sums is at most a few times a tensor) plus
    TFLM's persistent data. Host memory only; tflm_minimal_arena measures the real figure."""
    return max(MIN_ARENA_BYTES, 2 * activation_bytes(model_bytes) + PERSISTENT_BYTES_PER_MODEL_BYTE * len(model_bytes))


def tflm_interpreter(model_bytes: bytes, arena_size: int | None = None):
    """TFLM's interpreter for the model, with an arena large enough for any input length."""
    from tflite_micro.python.tflite_micro import runtime

    model_bytes = bytes(model_bytes)
    return runtime.Interpreter.from_bytes(model_bytes, arena_size=arena_size or tflm_arena_bound(model_bytes))


# Builtin ops the converter emits in int8 that TFLM has no int8 kernel for, and where they come from.
_NO_INT8_KERNEL = {"SQRT": "statistics pooling's standard deviation (set model.kwargs pooling: mean)"}


def builtin_op_names(model_bytes: bytes) -> list[str]:
    """The builtin operator name of every op of the first subgraph, in order."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    model = schema.Model.GetRootAs(bytes(model_bytes), 0)
    subgraph = model.Subgraphs(0)
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    # Since schema 3a, small op codes sit in the deprecated field and large ones in BuiltinCode.
    codes = [max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) for code in codes]
    return [names.get(codes[subgraph.Operators(i).OpcodeIndex()], "CUSTOM") for i in range(subgraph.OperatorsLength())]


def tflm_failure_hint(model_bytes: bytes) -> str:
    """Why TFLM may have refused the model: the ops it has no int8 kernel for, or a generic hint."""
    unsupported = sorted({name for name in builtin_op_names(model_bytes) if name in _NO_INT8_KERNEL})
    if unsupported:
        return "; ".join(f"TFLM has no int8 {name} kernel: it comes from {_NO_INT8_KERNEL[name]}" for name in unsupported)
    return "TFLM's message above names the op that failed"


# ---- running an int8 model: its I/O quantization, and TFLM's outputs for float inputs


class TensorQuant(NamedTuple):
    """Shape, dtype and per-tensor affine quantization of a model input or output:
    real = scale * (q - zero_point)."""

    shape: tuple[int, ...]
    scale: float
    zero_point: int
    dtype: np.dtype


def quantize_input(x_float: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float values → int8 with TFLite's affine mapping: round(x / scale) + zero_point, clipped."""
    q = np.round(np.asarray(x_float, dtype=np.float64) / scale) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """int8 values → float32: scale * (q - zero_point)."""
    return (scale * (np.asarray(q, dtype=np.float32) - zero_point)).astype(np.float32)


def tflite_io_details(path: str | os.PathLike) -> dict[str, TensorQuant]:
    """{"input": TensorQuant, "output": TensorQuant} of a single-input, single-output .tflite."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    return {
        "input": _tensor_quant(interpreter.get_input_details()[0]),
        "output": _tensor_quant(interpreter.get_output_details()[0]),
    }


def _tensor_quant(detail: dict) -> TensorQuant:
    scale, zero_point = detail["quantization"]
    return TensorQuant(tuple(int(d) for d in detail["shape"]), float(scale), int(zero_point), np.dtype(detail["dtype"]))


def predict_int8_tflm(path: str | os.PathLike, x_float: np.ndarray) -> np.ndarray:
    """int8 output of the TFLM Python interpreter for each float input in x_float ([N, T] or
    [N, *input shape]): the reference every generated firmware is compared with."""
    io = tflite_io_details(path)
    model_bytes = Path(path).read_bytes()
    outputs = []
    try:
        interpreter = tflm_interpreter(model_bytes)
        for sample in np.asarray(x_float, dtype=np.float32):
            q = quantize_input(sample, io["input"].scale, io["input"].zero_point).reshape(io["input"].shape)
            interpreter.set_input(q, 0)
            interpreter.invoke()
            outputs.append(np.array(interpreter.get_output(0)).reshape(io["output"].shape[1:]))
    except RuntimeError as error:
        raise TinyascError(f"{path}: TFLM's reference interpreter cannot run this int8 model ({error}); "
                           f"{tflm_failure_hint(model_bytes)}") from error
    return np.stack(outputs)


def evaluate_int8_tflm(path: str | os.PathLike, dataset) -> float:
    """Top-1 accuracy of the int8 .tflite on every clip of `dataset`, run by TFLM's interpreter."""
    outputs = predict_int8_tflm(path, dataset.x)
    return float(np.mean(np.argmax(outputs, axis=1) == dataset.y))
