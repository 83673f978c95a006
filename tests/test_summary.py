"""`tinyasc summary` counts what runs on the device and checks the DCASE complexity limits."""

import subprocess
import sys

from tinyasc.compile.tflite_reader import read_tflite
from tinyasc.report.summary import summarize

ANCHOR_SAMPLE_RATE = 16000  # the anchor takes 1 s of 16-kHz audio (DESIGN §6)


def test_anchor_summary_matches_design_and_is_within_dcase_limits(anchor_tflite):
    summary = summarize(read_tflite(anchor_tflite), sample_rate=ANCHOR_SAMPLE_RATE)
    assert summary["parameters"] == 9_466 and summary["bytes_float16"] == 2 * 9_466
    assert 0 < summary["nonzero_parameters"] <= summary["parameters"]
    assert summary["macs_per_inference"] == 7_119_488 and summary["seconds_per_inference"] == 1.0
    assert summary["dcase_parameters_ok"] and summary["dcase_macs_ok"]
    assert sum(layer["macs"] for layer in summary["layers"]) == summary["macs_per_inference"]


def test_macs_per_second_follow_the_audio_each_inference_covers(anchor_tflite):
    # The same network run on 0.1 s windows would need 71 M MACs per second: over the limit.
    summary = summarize(read_tflite(anchor_tflite), seconds=0.1)
    assert summary["macs_per_second"] == 71_194_880 and not summary["dcase_macs_ok"]


def test_without_a_rate_only_per_inference_figures_are_given(anchor_tflite):
    summary = summarize(read_tflite(anchor_tflite))
    assert summary["seconds_per_inference"] is None and summary["macs_per_second"] is None
    assert summary["dcase_macs_ok"] is None and summary["macs_per_inference"] == 7_119_488


def test_summary_command_prints_the_table(anchor_tflite):
    result = subprocess.run([sys.executable, "-m", "tinyasc.cli", "summary", str(anchor_tflite),
                             "--sample-rate", str(ANCHOR_SAMPLE_RATE)], capture_output=True, text=True)
    assert result.returncode == 0 and "within DCASE limit" in result.stdout and "9,466" in result.stdout
