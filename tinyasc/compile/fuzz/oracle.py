"""TFLM's outputs for a batch of fuzz models, computed in a child process.

TFLM's interpreter trusts the model: some graphs it does not support crash it (a DEPTHWISE_CONV_2D
without bias is a segmentation fault) instead of raising. The child writes one line per model as
it goes, so a crash costs only the model it happened on: the parent records it and starts a new
child at the next model.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

CRASHED = "TFLM crashed"


def case_paths(folder: Path, index: int) -> tuple[Path, Path, Path]:
    """The model, its inputs and TFLM's outputs of case `index` of a batch folder."""
    return folder / f"case{index}.tflite", folder / f"case{index}.in.npy", folder / f"case{index}.out.npy"


def tflm_batch(folder: Path, cases: list[int], timeout_s: float = 600) -> dict[int, np.ndarray | str]:
    """{case: TFLM outputs [N, output size], or why TFLM refused or crashed} for the cases."""
    results: dict[int, np.ndarray | str] = {}
    pending = list(cases)
    while pending:
        process = subprocess.run([sys.executable, "-m", "tinyasc.compile.fuzz.oracle", str(folder), *map(str, pending)],
                                 capture_output=True, text=True, timeout=timeout_s)
        for line in process.stdout.splitlines():
            index, _, error = line.partition(" ")
            index = int(index)
            results[index] = error if error else np.load(case_paths(folder, index)[2])
        pending = [case for case in pending if case not in results]
        if process.returncode == 0 or not pending:
            break
        results[pending.pop(0)] = f"{CRASHED} (exit {process.returncode})"
    return results


def _run_case(folder: Path, index: int) -> str:
    from tinyasc.compile.reference import tflm_interpreter

    model, inputs_path, outputs_path = case_paths(folder, index)
    inputs = np.load(inputs_path)
    try:
        interpreter = tflm_interpreter(model.read_bytes())
        details = interpreter.get_input_details(0)
        outputs = []
        for x in inputs:
            interpreter.set_input(x.reshape(details["shape"]).astype(details["dtype"]), 0)
            interpreter.invoke()
            outputs.append(np.array(interpreter.get_output(0)).reshape(-1))
    except (RuntimeError, ValueError) as error:
        return "TFLM refused: " + " ".join(str(error).split())[:300]
    np.save(outputs_path, np.stack(outputs))
    return ""


def main(argv: list[str]) -> None:
    folder = Path(argv[0])
    for index in map(int, argv[1:]):
        print(index, _run_case(folder, index), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
