"""Conversion: Keras model → int8 .tflite (float16: float16.py), and the helpers training uses to
run the result in TFLM. Reading a .tflite is the compiler's job (tinyasc.compile.tflite_reader)."""

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
