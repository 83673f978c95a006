"""Keras model → full-integer int8 .tflite (post-training quantization), and int8 I/O helpers.

Full int8, inputs and outputs included, because TFLM rejects float16 and hybrid models (DESIGN §3).
The converter sees a batch-1 concrete function: with a dynamic batch it would add
SHAPE/STRIDED_SLICE/PACK ops that neither TFLM nor our C generator should have to carry.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tinyasc.errors import TinyascError
from tinyasc.manifest import atomic_write_bytes
from tinyasc.tf_env import import_tf

MAX_REPRESENTATIVE_SAMPLES = 100


class TensorQuant(NamedTuple):
    """Shape, dtype and per-tensor affine quantization of a model input or output:
    real = scale * (q - zero_point)."""

    shape: tuple[int, ...]
    scale: float
    zero_point: int
    dtype: np.dtype


def quantize_int8(model, representative_x: np.ndarray, out_path: str | os.PathLike) -> Path:
    """Convert `model` to an int8 .tflite at `out_path`, calibrated on `representative_x`.

    representative_x: float32 model inputs, [N, T] waveforms or [N, *model input shape]; the first
    MAX_REPRESENTATIVE_SAMPLES are used, one at a time (batch 1). The file is written atomically.
    """
    tf, _ = import_tf()
    input_shape = tuple(model.input_shape[1:])
    samples = _representative_samples(representative_x, input_shape)

    converter = batch1_converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([sample[np.newaxis]] for sample in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    out_path = Path(out_path)
    atomic_write_bytes(out_path, converter.convert())
    return out_path


def batch1_converter(model):
    """A TFLiteConverter of `model` traced at batch 1 (a concrete function), so every tensor
    has a static shape and no batch loop is left for the compiler."""
    tf, _ = import_tf()
    input_shape = tuple(model.input_shape[1:])
    forward = tf.function(lambda x: model(x, training=False))
    concrete = forward.get_concrete_function(tf.TensorSpec((1,) + input_shape, tf.float32))
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)


def _representative_samples(x: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """Up to MAX_REPRESENTATIVE_SAMPLES float32 samples reshaped to the model's input shape."""
    x = np.asarray(x, dtype=np.float32)[:MAX_REPRESENTATIVE_SAMPLES]
    if len(x) == 0:
        raise TinyascError("quantization needs representative samples; received an empty array")
    if int(np.prod(x.shape[1:])) != int(np.prod(input_shape)):
        raise TinyascError(
            f"representative samples do not fit the model input: expected {input_shape}, "
            f"received: {x.shape[1:]}"
        )
    return x.reshape((len(x),) + input_shape)


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
    from tinyasc.artifacts.tflm import tflm_failure_hint, tflm_interpreter

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
