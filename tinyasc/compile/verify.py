"""Bit-exactness of an export on this machine: the generated C, built with sanitizers, against the
TFLM reference interpreter on the export's test vectors plus random inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyasc.compile.export import random_model_inputs
from tinyasc.compile.host import build_host_runner, model_io_dtypes, run_host
from tinyasc.compile.reference import tflm_outputs
from tinyasc.artifacts.manifest import read_manifest, update_manifest
from tinyasc.compile.tflite_reader import read_tflite
from tinyasc.errors import TinyascError

# Random inputs are drawn, run through TFLM (one Python call each, ~1 ms on a small model) and
# through the host build all at once: 100,000 is minutes on a small model, and the inputs and both
# outputs must fit in MAX_VERIFY_BYTES of memory. More coverage: run verify again (other inputs).
MAX_RANDOM_INPUTS = 100_000
MAX_VERIFY_BYTES = 1 << 30


def check_random_count(num_random: int, input_bytes: int, output_bytes: int) -> None:
    """Refuse a random-input count outside 0..MAX_RANDOM_INPUTS or whose arrays exceed MAX_VERIFY_BYTES."""
    if not 0 <= num_random <= MAX_RANDOM_INPUTS:
        raise TinyascError(f"the number of random inputs must be 0 to {MAX_RANDOM_INPUTS:,}; received: {num_random:,}")
    needed = num_random * (input_bytes + 2 * output_bytes)
    if needed > MAX_VERIFY_BYTES:
        raise TinyascError(f"{num_random:,} random inputs of {input_bytes:,} bytes need {needed / 2**30:.1f} GiB "
                           f"in memory at once (limit {MAX_VERIFY_BYTES >> 30} GiB); use at most "
                           f"{MAX_VERIFY_BYTES // (input_bytes + 2 * output_bytes):,}")


def host_runner(export_dir: Path) -> Path:
    """Build (once per call) the sanitizer host runner of an export."""
    return build_host_runner(export_dir / "src", export_dir / "build" / "host_runner")


def verify_on_host(export_dir: Path, num_random: int = 100, seed: int = 1) -> dict:
    export_dir = Path(export_dir)
    figures = read_manifest(export_dir)["export"]
    input_shape = figures["input"]["shape"]
    input_size = int(np.prod(input_shape))
    output_size = int(np.prod(figures["output"]["shape"]))
    rng = np.random.default_rng(seed)
    graph = read_tflite(export_dir / "model.tflite")
    input_dtype, output_dtype = model_io_dtypes(graph)  # int8, or float32 for a model with float I/O
    check_random_count(num_random, input_size * np.dtype(input_dtype).itemsize,
                       output_size * np.dtype(output_dtype).itemsize)
    inputs = np.concatenate([
        np.load(export_dir / "test_inputs.npy").reshape(-1, input_size).astype(input_dtype),
        random_model_inputs(graph, num_random, rng),
    ])
    expected = tflm_outputs((export_dir / "model.tflite").read_bytes(), inputs, input_shape)
    actual = run_host(host_runner(export_dir), inputs, output_size, input_dtype=input_dtype, output_dtype=output_dtype)
    exact = int(np.sum(np.all(actual.view(np.uint8) == expected.view(np.uint8), axis=1)))  # bits, float too
    wide = np.int64 if output_dtype == np.int8 else np.float64
    difference = np.max(np.abs(actual.astype(wide) - expected.astype(wide)))
    report = {
        "inputs": len(inputs),
        "bit_exact": exact,
        "max_abs_difference": difference.item(),
        "sanitizers": "address,undefined",
    }
    update_manifest(export_dir, "host_verification", report)
    return report
