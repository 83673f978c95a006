"""Keras model → float16 and float32 .tflite files, for size comparison with the int8 device model.

The papers report fp16 sizes, so tinyasc measures them on real files: TFLite's float16 weight
quantization stores every weight as float16 (with DEQUANTIZE ops back to float32 at load time),
about half of the float32 file. TFLM runs neither (DESIGN §3): int8 stays the device format.
"""

from __future__ import annotations

import os
from pathlib import Path

from tinyasc.convert.quantize import batch1_converter
from tinyasc.artifacts.manifest import atomic_write_bytes
from tinyasc.tf_env import import_tf, quiet_native_stderr


def convert_float16(model, out_path: str | os.PathLike) -> Path:
    """Write `model` as a .tflite with float16 weights and float32 compute; returns the path."""
    tf, _ = import_tf()
    converter = batch1_converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    with quiet_native_stderr():
        model_bytes = converter.convert()
    return _write_atomically(model_bytes, out_path)


def convert_float32(model, out_path: str | os.PathLike) -> Path:
    """Write `model` as a plain float32 .tflite (no optimization); returns the path."""
    with quiet_native_stderr():
        model_bytes = batch1_converter(model).convert()
    return _write_atomically(model_bytes, out_path)


def tflite_sizes(model, out_dir: str | os.PathLike, int8_path: str | os.PathLike | None = None) -> dict[str, int]:
    """Bytes of the float32 and float16 .tflite files of `model` (written to out_dir as
    model_float32.tflite and model_float16.tflite), plus the int8 file's when given."""
    out_dir = Path(out_dir)
    sizes = {
        "float32": convert_float32(model, out_dir / "model_float32.tflite").stat().st_size,
        "float16": convert_float16(model, out_dir / "model_float16.tflite").stat().st_size,
    }
    if int8_path is not None:
        sizes["int8"] = Path(int8_path).stat().st_size
    return sizes


def _write_atomically(flatbuffer: bytes, out_path: str | os.PathLike) -> Path:
    out_path = Path(out_path)
    atomic_write_bytes(out_path, flatbuffer)
    return out_path
