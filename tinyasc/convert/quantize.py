"""Keras model → full-integer int8 .tflite (post-training quantization), and int8 I/O helpers.

Running the result (TFLM's interpreter, int8 I/O helpers) is tinyasc.artifacts.tflm's job.

Full int8, inputs and outputs included, because TFLM rejects float16 and hybrid models (DESIGN §3).
The converter sees a batch-1 concrete function: with a dynamic batch it would add
SHAPE/STRIDED_SLICE/PACK ops that neither TFLM nor our C generator should have to carry.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tinyasc.errors import TinyascError
from tinyasc.artifacts.manifest import atomic_write_bytes
from tinyasc.tf_env import import_tf, quiet_native_stderr

MAX_REPRESENTATIVE_SAMPLES = 100


def quantize_int8(model, representative_x: np.ndarray, out_path: str | os.PathLike,
                  input_range: tuple[float, float] | None = None) -> Path:
    """Convert `model` to an int8 .tflite at `out_path`, calibrated on `representative_x`.

    representative_x: float32 model inputs, [N, T] waveforms or [N, *model input shape]; the first
    MAX_REPRESENTATIVE_SAMPLES are used, one at a time (batch 1). The file is written atomically.
    input_range: (low, high) to clip the representative samples to, so the converter's min/max
    calibration gives the input (and every activation computed from it) that narrower range; None:
    the samples' own min/max. See `percentile_range`.
    """
    tf, _ = import_tf()
    input_shape = tuple(model.input_shape[1:])
    samples = _representative_samples(representative_x, input_shape)
    _check_finite(model, samples)
    if input_range is not None:
        samples = np.clip(samples, *input_range)

    converter = batch1_converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([sample[np.newaxis]] for sample in samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    out_path = Path(out_path)
    with quiet_native_stderr():
        model_bytes = converter.convert()
    atomic_write_bytes(out_path, model_bytes)
    return out_path


def parse_range_method(method: str) -> float:
    """A PTQ input-range method → the percentile it keeps at each end: 'max' → 100, 'p99.9' → 99.9."""
    if method == "max":
        return 100.0
    try:
        percentile = float(method[1:]) if method.startswith("p") else float("nan")
    except ValueError:
        percentile = float("nan")
    if not 50 < percentile <= 100:
        raise TinyascError(f"a PTQ input range is 'max' or 'pNN.N', a percentile in (50, 100]; received: {method!r}")
    return percentile


def percentile_range(x: np.ndarray, percentile: float) -> tuple[float, float]:
    """(low, high) holding all but (100 - percentile)% of x's values at each end: the input range a
    percentile calibration keeps. 100 is the plain min/max."""
    if not 50 < percentile <= 100:
        raise TinyascError(f"a calibration percentile must be in (50, 100]; received: {percentile}")
    values = np.asarray(x, dtype=np.float64)[:MAX_REPRESENTATIVE_SAMPLES].ravel()
    if values.size == 0:
        raise TinyascError("quantization needs representative samples; received an empty array")
    low, high = np.percentile(values, [100 - percentile, percentile])
    return float(min(low, 0.0)), float(max(high, 0.0))  # int8 ranges hold 0


def batch1_converter(model):
    """A TFLiteConverter of `model` traced at batch 1 (a concrete function), so every tensor
    has a static shape and no batch loop is left for the compiler."""
    tf, _ = import_tf()
    input_shape = tuple(model.input_shape[1:])
    forward = tf.function(lambda x: model(x, training=False))
    concrete = forward.get_concrete_function(tf.TensorSpec((1,) + input_shape, tf.float32))
    return tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)


def _check_finite(model, samples: np.ndarray) -> None:
    """NaN or infinite weights (a diverged training) or calibration samples crash TensorFlow's
    int8 calibrator (a segfault, no message): refuse them here with what to do."""
    if not np.isfinite(samples).all():
        raise TinyascError("the calibration samples hold NaN or infinite values; check the audio files "
                           "(every file is checked when read) and the features")
    check_finite_weights(model)


def check_finite_weights(model) -> None:
    """A diverged training leaves NaN or infinite weights: a TinyascError saying so."""
    for weight in model.weights:
        if not np.isfinite(np.asarray(weight)).all():
            raise TinyascError(f"the trained model's weights hold NaN or infinite values ({weight.name}): "
                               "training diverged; lower training.learning_rate.max (or its schedule) and retrain")


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
