"""Bit-exactness of an export on this machine: the generated C, built with sanitizers, against the
TFLM reference interpreter on the export's test vectors plus random inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyasc.compile.host import build_host_runner, run_host
from tinyasc.compile.reference import tflm_outputs
from tinyasc.manifest import read_manifest, update_manifest


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
    inputs = np.concatenate([
        np.load(export_dir / "test_inputs.npy").reshape(-1, input_size),
        rng.integers(-128, 128, size=(num_random, input_size), dtype=np.int8),
    ])
    expected = tflm_outputs((export_dir / "model.tflite").read_bytes(), inputs, input_shape)
    actual = run_host(host_runner(export_dir), inputs, output_size)
    exact = int(np.sum(np.all(actual == expected, axis=1)))
    report = {
        "inputs": len(inputs),
        "bit_exact": exact,
        "max_abs_difference": int(np.max(np.abs(actual.astype(int) - expected.astype(int)))),
        "sanitizers": "address,undefined",
    }
    update_manifest(export_dir, "host_verification", report)
    return report
