"""Conversion: Keras model → int8 .tflite, and helpers to read and run the result."""

from tinyasc.convert.quantize import (
    TensorQuant,
    dequantize,
    evaluate_int8_tflm,
    predict_int8_tflm,
    quantize_input,
    quantize_int8,
    tflite_io_details,
)

__all__ = [
    "TensorQuant",
    "dequantize",
    "evaluate_int8_tflm",
    "predict_int8_tflm",
    "quantize_input",
    "quantize_int8",
    "tflite_io_details",
]
