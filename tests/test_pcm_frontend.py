"""The PCM front-end, `tinyasc_input_from_pcm`: a model's int8 input from int16 microphone samples.
For raw waveforms, level normalisation (none, peak, RMS): the generated C (ASan + UBSan, -Werror)
equals its numpy twin (tinyasc/frontend/level.py) bit for bit from silence to full scale, DC and
square waves, and the twin stays within one step of the float normalisation training uses. For
raw and log-mel models alike, a trained run's int8 test set is exactly what the exported C computes
from the clips' PCM, on the host and in the board's QEMU twin."""

import json
import subprocess

import numpy as np
import pytest

from tinyasc.artifacts.audio import AudioInput
from tinyasc.compile.host import SANITIZERS, WARNINGS
from tinyasc.errors import TinyascError
from tinyasc.frontend.level import LevelSettings, normalize, pcm_to_model_input, to_pcm16

SAMPLES = 256  # the tiny CNN's input (tests/conftest.py)
HARNESS = r"""
#include <stdio.h>
#include "model.h"
int main(void) {
    static int16_t pcm[TINYASC_PCM_SAMPLES];
    static int8_t input[TINYASC_INPUT_SIZE];
    while (fread(pcm, sizeof pcm, 1, stdin) == 1) {
        tinyasc_input_from_pcm(pcm, input);
        fwrite(input, sizeof input, 1, stdout);
    }
    return 0;
}
"""
SETTINGS = {
    "none": LevelSettings(),
    "peak": LevelSettings(mode="peak", target_dbfs=-1.0, max_gain_db=40.0),
    "rms": LevelSettings(mode="rms", target_dbfs=-20.0, max_gain_db=30.0),
}


def hostile_windows(rng) -> np.ndarray:
    """int16 windows: noise from -60 to 0 dBFS, silence, DC at both rails, full-scale squares, a spike."""
    noise = [rng.normal(size=SAMPLES) * 10 ** (db / 20) / 3 for db in range(-60, 1, 6)]
    square = np.where(np.arange(SAMPLES) % 16 < 8, 1.0, -1.0)
    spike = np.zeros(SAMPLES)
    spike[100] = -1.0
    floats = np.stack(noise + [np.zeros(SAMPLES), np.ones(SAMPLES), -np.ones(SAMPLES), square, spike])
    return to_pcm16(floats)


def build_harness(graph, audio, folder):
    from tinyasc.compile.codegen import compile_graph, render_model_sources, write_sources

    sources = render_model_sources(compile_graph(graph), "tiny.tflite", ["a", "b", "c", "d"], audio)
    write_sources(sources, folder)
    (folder / "harness.c").write_text(HARNESS)
    binary = folder / "pcm_input"
    subprocess.run(["gcc", "-O1", "-g", *WARNINGS, *SANITIZERS, "-I", str(folder), str(folder / "pcm_input.c"),
                    str(folder / "harness.c"), "-o", str(binary)], check=True, capture_output=True, text=True)
    return sources, binary


def run_harness(binary, pcm: np.ndarray, input_size: int) -> np.ndarray:
    result = subprocess.run([str(binary)], input=pcm.astype("<i2").tobytes(), capture_output=True, check=True)
    return np.frombuffer(result.stdout, dtype=np.int8).reshape(-1, input_size)


@pytest.mark.parametrize("mode", sorted(SETTINGS))
def test_generated_pcm_frontend_equals_its_twin_bit_for_bit(mode, tiny_cnn_tflite, tmp_path):
    from tinyasc.compile.tflite_reader import read_tflite

    graph = read_tflite(tiny_cnn_tflite)
    settings = SETTINGS[mode]
    audio = AudioInput(sample_rate=16000, kind="raw", channels=1, input_samples=SAMPLES, level=settings.to_dict())
    sources, binary = build_harness(graph, audio, tmp_path)
    assert "void tinyasc_input_from_pcm(const int16_t *pcm, int8_t *input);" in sources["model.h"]
    pcm = hostile_windows(np.random.default_rng(0))
    q = graph.tensors[graph.inputs[0]].quantization
    expected = pcm_to_model_input(pcm, settings, q.scale, q.zero_point)
    np.testing.assert_array_equal(run_harness(binary, pcm, SAMPLES), expected)
    # The twin is the float normalisation training sees, quantized: within one step, mostly equal.
    floats = np.clip(np.round(normalize(pcm / 32768.0, settings) / q.scale) + q.zero_point, -128, 127)
    assert np.abs(expected - floats).max() <= 1 and np.mean(expected != floats) < 0.02


def test_normalisation_lifts_a_quiet_window_and_caps_the_gain():
    quiet = to_pcm16(np.sin(np.arange(SAMPLES) / 5.0)[np.newaxis] * 10 ** (-30 / 20))
    silence = np.zeros((1, SAMPLES), dtype=np.int16)
    scale, zero_point = 1 / 128, 0
    plain = pcm_to_model_input(quiet, SETTINGS["none"], scale, zero_point)
    lifted = pcm_to_model_input(quiet, SETTINGS["peak"], scale, zero_point)
    assert np.abs(plain).max() <= 5 and np.abs(lifted).max() >= 112, "a -30 dBFS sine to -1 dBFS: ~4 steps -> ~114"
    assert not pcm_to_model_input(silence, SETTINGS["peak"], scale, zero_point).any()
    capped = pcm_to_model_input(to_pcm16(np.full((1, SAMPLES), 10 ** (-80 / 20))), SETTINGS["peak"], scale, 0)
    assert capped.max() <= 1, "-80 dBFS gets at most +40 dB: it stays near zero"


def test_bad_level_settings_are_clear_errors():
    with pytest.raises(TinyascError, match="level mode must be one of none, peak, rms"):
        LevelSettings(mode="loud")
    with pytest.raises(TinyascError, match="target_dbfs must be between -60 and 0"):
        LevelSettings(mode="peak", target_dbfs=3.0)


# A raw model with peak normalisation, and a small log-mel ResNet-SE on 8-kHz audio with the
# analysis given in the config (no preset): two kinds of front-end, one `tinyasc_input_from_pcm`.
TRAINED_FRONTENDS = {
    "raw-peak": ({"model": {"name": "anchor_cnn"},
                  "features": {"kind": "raw", "level": {"mode": "peak", "target_dbfs": -1.0, "max_gain_db": 40.0}}},
                 16000),
    "logmel-8k": ({"model": {"name": "idlab_resnet_se", "kwargs": {"widths": [4, 4], "se_bottlenecks": [4, 4],
                                                                 "strides": [1, 2], "pooling": "mean"}},
                   "data": {"sample_rate": 8000},
                   "features": {"kind": "logmel", "n_mels": 16, "window_s": 0.032, "hop_s": 0.016}},
                  8000),
}


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(TRAINED_FRONTENDS))
def test_a_trained_runs_int8_test_set_is_what_the_device_computes_from_pcm(name, tmp_path):
    """train → run.json → export: the exported C front-end, fed the test clips as int16 PCM,
    gives the run's int8 test inputs exactly; in QEMU it passes its own test and is counted."""
    from tinyasc.artifacts.run import read_run
    from tinyasc.compile.export import export_model
    from tinyasc.config import config_from_dict
    from tinyasc.data import load_csv_dataset
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware
    from tinyasc.train.run import synthetic_dir, train_run

    sections, rate = TRAINED_FRONTENDS[name]
    config = config_from_dict({**sections, "training": {"epochs": 1, "batch_size": 16}})
    run_dir = tmp_path / "run"
    train_run("synthetic", run_dir=run_dir, config=config, work_dir=tmp_path, clips_per_class=4, progress=False)
    run = read_run(run_dir)
    export = export_model(run.tflite, board_name="nrf52840", out_root=tmp_path / "export", audio=run.audio,
                          labels=run.labels, test_inputs=run.test_inputs, num_test_vectors=1)
    src = export.export_dir / "src"
    (tmp_path / "harness.c").write_text(HARNESS)  # outside src/, which the firmware build compiles
    network_files = ("model.c", "test_vectors.c", "pcm_stream.c")  # the stream runs the network
    sources = [str(path) for path in sorted(src.glob("*.c")) if path.name not in network_files]
    subprocess.run(["gcc", "-O1", *WARNINGS, *SANITIZERS, "-I", str(src), *sources, str(tmp_path / "harness.c"),
                    "-o", str(tmp_path / "device")], check=True, capture_output=True)
    test = load_csv_dataset(synthetic_dir(tmp_path, rate, 1.0) / "metadata.csv", sample_rate=rate).subset("test")
    device = run_harness(tmp_path / "device", to_pcm16(test.x), run.test_inputs.shape[1])
    np.testing.assert_array_equal(device, run.test_inputs)
    spread = run.test_inputs.astype(np.int32).max(axis=1) - run.test_inputs.astype(np.int32).min(axis=1)
    assert len(spread) == 10 and spread.min() > 10 and spread.max() >= 100, f"the inputs are not degenerate: {spread}"

    build_firmware(export.export_dir)
    emulated = run_firmware(export.export_dir)
    assert emulated.passed, emulated.log
    assert emulated.pcm_instructions > len(test.x[0]), "a few instructions per sample at least"
    manifest = json.loads((export.export_dir / "manifest.json").read_text())
    assert manifest["emulation"]["pcm_frontend_instructions"] == emulated.pcm_instructions
