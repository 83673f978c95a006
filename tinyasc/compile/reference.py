"""The oracle: TFLite Micro's Python interpreter, which runs TFLM's reference kernels.

Bit-exactness of tinyasc's generated C is always measured against this interpreter.
"""

from __future__ import annotations

import numpy as np


def tflm_interpreter(model_bytes: bytes, arena_size: int | None = None):
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(bytes(model_bytes), arena_size=arena_size)


def tflm_outputs(model_bytes: bytes, inputs: np.ndarray, input_shape) -> np.ndarray:
    """Run each int8 input through TFLM; returns int8 outputs [N, output_size]."""
    interpreter = tflm_interpreter(model_bytes)
    outputs = []
    for x in np.asarray(inputs, dtype=np.int8):
        interpreter.set_input(x.reshape(input_shape), 0)
        interpreter.invoke()
        outputs.append(np.asarray(interpreter.get_output(0), dtype=np.int8).reshape(-1))
    return np.stack(outputs)
