"""`tinyasc demo` (what `make demo` runs) passes end to end and records its evaluation."""

import json

import numpy as np
import pytest

from tinyasc.demo import evaluation_section


def test_evaluation_counts_every_clip_in_the_confusion_matrix():
    section = evaluation_section(["a", "b", "c"], [0, 1, 2, 2], [0, 2, 2, 2], 0.9, 0.8, True)
    assert section["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [0, 0, 2]]
    assert section["accuracy_int8_qemu"] == 0.75
    assert np.sum(section["confusion_matrix"]) == section["clips"] == 4


@pytest.mark.e2e
def test_demo_runs_every_stage_and_writes_the_figures(tmp_path):
    from tinyasc.demo import run_demo

    assert run_demo(work_dir=tmp_path, epochs=2) == 0
    manifest = json.loads((tmp_path / "export" / "demo" / "manifest.json").read_text())
    for section in ["export", "host_verification", "build", "emulation", "evaluation"]:
        assert section in manifest, section
    assert manifest["emulation"]["passed"] is True
    assert manifest["evaluation"]["qemu_outputs_equal_host"] is True
    assert manifest["host_verification"]["bit_exact"] == manifest["host_verification"]["inputs"]
