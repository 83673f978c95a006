"""Conversion: Keras model → int8 .tflite (float16: float16.py), nothing else. Running the result
in TFLM is tinyasc.artifacts.tflm; reading a .tflite is the compiler's job (compile.tflite_reader)."""

from tinyasc.convert.quantize import quantize_int8

__all__ = ["quantize_int8"]
