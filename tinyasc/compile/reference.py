"""The oracle: TFLite Micro's Python interpreter, which runs TFLM's reference kernels.

Bit-exactness of tinyasc's generated C is always measured against this interpreter.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tinyasc.artifacts.tflm import tflm_arena_bound
from tinyasc.errors import TinyascError


def tflm_interpreter(model_bytes: bytes, arena_size: int | None = None):
    from tinyasc.artifacts import tflm
    from tinyasc.compile.ws_rewrite import expand_ws_conv

    # TFLM has no WS_CONV kernel: run the same arithmetic as a CONV_2D on the sampled kernel.
    return tflm.tflm_interpreter(expand_ws_conv(bytes(model_bytes)), arena_size)


def tflm_outputs(model_bytes: bytes, inputs: np.ndarray, input_shape) -> np.ndarray:
    """Run each input through TFLM; returns outputs [N, output_size]. Inputs and outputs have the
    model's types: int8, or float32 for a model converted with float input/output types."""
    try:
        interpreter = tflm_interpreter(model_bytes)
        input_dtype = interpreter.get_input_details(0)["dtype"]
        outputs = []
        for x in np.asarray(inputs).astype(input_dtype, copy=False):
            interpreter.set_input(x.reshape(input_shape), 0)
            interpreter.invoke()
            outputs.append(np.array(interpreter.get_output(0)).reshape(-1))
    except RuntimeError as error:  # a model the compiler accepted but TFLM cannot prepare (damaged, or an op it lacks)
        from tinyasc.artifacts.tflm import tflm_failure_hint

        raise TinyascError(f"TFLM's reference interpreter cannot run this model ({error}); "
                           f"{tflm_failure_hint(model_bytes)}") from None
    return np.stack(outputs)


ARENA_GRANULE = 16  # bytes: the answer is exact to this step
MAX_ARENA_BYTES = 1 << 30

# Runs in a child process: TFLM's interpreter can crash (SIGSEGV) with an arena a few bytes too
# small instead of raising, which would take the caller down with it. Reads arena sizes on stdin,
# answers 1 (allocates and runs one inference) or 0 (raises) per line.
_ARENA_PROBE = """
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime

model = open(sys.argv[1], "rb").read()
for line in sys.stdin:
    try:
        interpreter = runtime.Interpreter.from_bytes(model, arena_size=int(line))
        details = interpreter.get_input_details(0)
        interpreter.set_input(np.zeros(details["shape"], dtype=details["dtype"]), 0)
        interpreter.invoke()
        print(1, flush=True)
    except RuntimeError:
        print(0, flush=True)
"""


def tflm_minimal_arena(model_bytes: bytes) -> int:
    """The smallest `arena_size` (to ARENA_GRANULE bytes) with which TFLM's interpreter allocates
    the model and runs one inference: TFLM's own RAM figure for the activations, found by bisection
    (DESIGN §3). An arena that is too small makes the interpreter raise (or crash, which counts as
    not running); allocation only grows with the arena, so the search is monotone."""
    from tinyasc.compile.ws_rewrite import expand_ws_conv

    model_bytes = expand_ws_conv(bytes(model_bytes))  # TFLM runs WS_CONV as CONV_2D (tflm_interpreter)
    with tempfile.TemporaryDirectory() as folder:
        model_path = Path(folder) / "model.tflite"
        model_path.write_bytes(bytes(model_bytes))
        with _ArenaProbe(model_path) as probe:
            high = tflm_arena_bound(model_bytes) // ARENA_GRANULE * ARENA_GRANULE
            while not probe.runs(high):
                if high >= MAX_ARENA_BYTES:
                    raise TinyascError("TFLM cannot run this model with a 1 GiB arena; is the model valid for TFLM?")
                high *= 2
            low = 0  # invariant: `low` does not run (or is zero), `high` runs
            while high - low > ARENA_GRANULE:
                middle = (low + high) // 2 // ARENA_GRANULE * ARENA_GRANULE
                if probe.runs(middle):
                    high = middle
                else:
                    low = middle
    return high


def tflm_runs_with_arena(model_bytes: bytes, arena_size: int) -> bool:
    """Whether TFLM allocates and runs the model in `arena_size` bytes (checked in a child process)."""
    with tempfile.TemporaryDirectory() as folder:
        model_path = Path(folder) / "model.tflite"
        model_path.write_bytes(bytes(model_bytes))
        with _ArenaProbe(model_path) as probe:
            return probe.runs(arena_size)


class _ArenaProbe:
    """A child Python that answers arena sizes; restarted when TFLM crashes it."""

    def __init__(self, model_path: Path):
        self.model_path = model_path
        self.process = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._stop()

    def runs(self, arena_size: int) -> bool:
        if self.process is None:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _ARENA_PROBE, str(self.model_path)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )
        try:
            self.process.stdin.write(f"{arena_size}\n")
            self.process.stdin.flush()
            answer = self.process.stdout.readline().strip()
        except BrokenPipeError:
            answer = ""
        if answer not in ("0", "1"):  # the child died inside TFLM: this arena does not work
            self._stop()
            return False
        return answer == "1"

    def _stop(self) -> None:
        if self.process is not None:
            try:
                self.process.stdin.close()  # ends the child's loop
            except BrokenPipeError:  # it had already died
                pass
            self.process.wait(timeout=60)
            self.process = None
