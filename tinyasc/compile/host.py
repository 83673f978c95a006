"""Build the generated C for this machine and run it: the fast bit-exactness path.

The same `model.c` that goes into the firmware is compiled with the host's gcc, warnings as
errors and AddressSanitizer + UndefinedBehaviorSanitizer, then fed inputs on stdin. An export with a
PCM front-end (pcm_input.c) brings its front-end's files too, so the runner's `eval-pcm` mode takes
int16 PCM windows as the firmware's does.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from tinyasc.compile.pcm_input import PCM_INPUT_FILE
from tinyasc.errors import ToolchainError
from tinyasc.paths import TEMPLATES_DIR

WARNINGS = ["-Wall", "-Wextra", "-Werror", "-std=c11"]
SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
FIRMWARE_ONLY_SOURCES = ("test_vectors.c",)  # the self-test's data: the host runner reads stdin
EVAL_PCM_MODE = "eval-pcm"


def model_sources(src_dir: Path) -> list[Path]:
    """model.c, and with a PCM front-end every other .c of src/ (pcm_input.c, the log-mel kernel
    and tables) but the firmware's test vectors."""
    if not (src_dir / PCM_INPUT_FILE).is_file():
        return [src_dir / "model.c"]
    return sorted(path for path in src_dir.glob("*.c") if path.name not in FIRMWARE_ONLY_SOURCES)


def build_host_runner(src_dir: Path, out_path: Path, sanitize: bool = True, opt: str = "-O1") -> Path:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise ToolchainError("no host C compiler (gcc) found; install it with `apt-get install gcc`")
    src_dir, out_path = Path(src_dir), Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        compiler, opt, "-g", *WARNINGS, *(SANITIZERS if sanitize else []),
        "-I", str(src_dir), *map(str, model_sources(src_dir)), str(TEMPLATES_DIR / "host" / "host_main.c"),
        "-o", str(out_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolchainError(f"host build of the generated C failed:\n{result.stderr.strip()}")
    return out_path


def model_io_dtypes(graph) -> tuple[np.dtype, np.dtype]:
    """numpy types of a compiled graph's input and output: int8, or float32 for float I/O."""
    from tinyasc.compile.ir import NUMPY_DTYPES

    x, y = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    return np.dtype(NUMPY_DTYPES[x.dtype]), np.dtype(NUMPY_DTYPES[y.dtype])


def run_host(runner: Path, inputs: np.ndarray, output_size: int, timeout_s: float = 600,
             input_dtype=np.int8, output_dtype=np.int8, mode: str | None = None) -> np.ndarray:
    """Outputs of the host build for inputs [N, input_size] -> [N, output_size]. The dtypes are the
    model's (model_io_dtypes): int8 by default, float32 for a model with float I/O. mode=EVAL_PCM_MODE
    takes int16 PCM windows [N, TINYASC_PCM_SAMPLES] (input_dtype=np.int16) through the front-end."""
    inputs = np.ascontiguousarray(inputs, dtype=input_dtype)
    result = subprocess.run(
        [str(runner), *([mode] if mode else [])], input=inputs.tobytes(), capture_output=True, timeout=timeout_s,
        env={"ASAN_OPTIONS": "detect_leaks=0", "PATH": "/usr/bin:/bin"},
    )
    if result.returncode != 0:
        raise ToolchainError(
            f"the host build of the model failed (exit {result.returncode}):\n"
            f"{result.stderr.decode(errors='replace')[-4000:]}"
        )
    outputs = np.frombuffer(result.stdout, dtype=output_dtype)
    return outputs.reshape(len(inputs), output_size)
