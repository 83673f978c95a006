"""The walking skeleton end to end: trained anchor → export --board nrf52840 → host check →
arm-none-eabi-gcc → QEMU, bit-exact with the TFLM reference interpreter at every step."""

import json

import numpy as np
import pytest

from tinyasc.compile.export import export_model
from tinyasc.compile.host import run_host
from tinyasc.artifacts.tflm import quantize_input, tflite_io_details
from tinyasc.emulate.qemu import run_batch_in_qemu, run_firmware
from tinyasc.firmware.build import build_firmware
from tinyasc.compile.verify import host_runner, verify_on_host
from tinyasc.report.reference_figures import ANCHOR_TFLM_REFERENCE

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def test_split(synthetic_dataset, anchor_tflite):
    test = synthetic_dataset.subset("test")
    io = tflite_io_details(anchor_tflite)["input"]
    return quantize_input(test.x, io.scale, io.zero_point).reshape(len(test), -1), test.y


@pytest.fixture(scope="module")
def anchor_export(anchor_tflite, synthetic_dataset, test_split, tmp_path_factory):
    inputs, _ = test_split
    return export_model(
        anchor_tflite, board_name="nrf52840", out_root=tmp_path_factory.mktemp("export"), name="anchor",
        labels=synthetic_dataset.labels, test_inputs=inputs, num_test_vectors=3,
    )


def test_export_writes_every_artifact_and_figure(anchor_export):
    folder = anchor_export.export_dir
    for name in ["model.tflite", "model_tflite.c", "ir.txt", "src/model.c", "src/model.h",
                 "src/test_vectors.c", "manifest.json"]:
        assert (folder / name).is_file(), name
    assert not (folder / "firmware").exists(), "board files are rendered by build, not export"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["board"] == "nrf52840"
    figures = manifest["export"]
    assert figures["parameters"] == 9_466 and figures["macs"] == 7_119_488
    assert figures["arena_lower_bound_bytes"] <= figures["arena_bytes"] < ANCHOR_TFLM_REFERENCE.arena_bytes
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "staging folder left behind"


def test_host_build_is_bit_exact_on_test_vectors_and_100_random_inputs(anchor_export):
    report = verify_on_host(anchor_export.export_dir, num_random=100)
    assert report["inputs"] == 103 and report["bit_exact"] == 103


def test_firmware_runs_bit_exact_in_qemu_and_counts_instructions(anchor_export, test_split):
    built = build_firmware(anchor_export.export_dir)
    for name in ["firmware/main.c", "firmware/linker.ld", "project/CMakeLists.txt"]:
        assert (anchor_export.export_dir / name).is_file(), name
    assert built.sizes["flash"] <= built.board.flash_size and built.sizes["ram"] <= built.board.ram_size
    assert built.sizes["weights_bytes"] > 9_466  # int8 weights + int32 bias and requantization constants
    result = run_firmware(anchor_export.export_dir)
    assert result.passed and result.vectors == 3 and result.mismatches == 0
    # Reference-style kernels: tens of instructions per MAC; inputs change only data-dependent
    # branches (max-pool compares, clamps, requantize rounding), so counts agree to 0.1 %.
    assert 7_119_488 < result.instructions_per_inference < 60 * 7_119_488
    assert result.instructions_max - result.instructions_min <= 1e-3 * result.instructions_min

    inputs, labels = test_split
    qemu = run_batch_in_qemu(anchor_export.export_dir, inputs)
    host = run_host(host_runner(anchor_export.export_dir), inputs, qemu.shape[1])
    assert np.array_equal(qemu, host)
    assert np.mean(np.argmax(qemu, axis=1) == labels) > 0.5  # 10 classes: chance is 0.1
