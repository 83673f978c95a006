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
