"""The streaming API (`tinyasc_stream_push`, pcm_stream.c): a 60-s signal pushed in random-sized
chunks (0, 1, odd sizes, more than the ring holds) gives exactly the per-window outputs of offline
processing (the signal cut into the same windows, the offline input path, TFLM), on the host build
with ASan + UBSan and in the board's QEMU twin, for a trained raw-waveform model (peak level
normalisation per window) and a trained log-mel model (per-band means over the window, smoothing)."""

import json
import subprocess

import numpy as np
import pytest

from tinyasc.errors import TinyascError
from tinyasc.frontend.stream import StreamSettings, smoothed_results, stream_layout, window_starts

SIGNAL_SECONDS = 60
STREAMS = {"raw-peak": StreamSettings(), "logmel-8k": StreamSettings(stride_s=0.25, smoothing=3, queue=8)}


def long_signal(rate: int, seconds: float, rng) -> np.ndarray:
    """int16: tones, chirps and noise whose level jumps between -50 and 0 dBFS every 0.3 s, with
    stretches of silence and a full-scale square: each window gets its own normalisation."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    segments = np.repeat(rng.integers(0, 4, size=n // int(0.3 * rate) + 1), int(0.3 * rate))[:n]
    tone = np.sin(2 * np.pi * (200 + 300 * segments) * t)
    noise = rng.normal(size=n) * 0.3
    square = np.where((np.arange(n) // 7) % 2 == 0, 1.0, -1.0)
    signal = np.choose(segments, [tone, noise, tone + noise, square])
    level = 10 ** (np.repeat(rng.uniform(-50, 0, size=len(segments) // int(0.3 * rate) + 1), int(0.3 * rate))[:n] / 20)
    signal = np.clip(signal * level, -1, 1)
    signal[int(10 * rate):int(12 * rate)] = 0  # silence longer than a window
    return np.round(signal * 32767).astype(np.int16)


def chunk_sizes(total: int, ring: int, rng) -> list[int]:
    """Random chunk sizes adding up to `total`: 0, 1, odd, small, and larger than the ring."""
    sizes, left = [0, 1, 0, 3, ring + 11], total - (ring + 15)
    while left > 0:
        size = int(min(left, rng.choice([0, 1, 7, 33, 159, 511, 2047, ring // 3, ring + 1, 2 * ring - 1])))
        sizes.append(size)
        left -= size
    return sizes


@pytest.fixture(scope="module", params=sorted(STREAMS))
def stream_export(request, tmp_path_factory):
    """A 1-epoch run of a TRAINED_FRONTENDS config on the built-in data, exported with a stream and built."""
    from test_pcm_frontend import TRAINED_FRONTENDS

    from tinyasc.artifacts.run import read_run
    from tinyasc.compile.export import export_model
    from tinyasc.config import config_from_dict
    from tinyasc.firmware.build import build_firmware
    from tinyasc.train.run import train_run

    name = request.param
    tmp_path = tmp_path_factory.mktemp(f"stream-{name}")
    sections, rate = TRAINED_FRONTENDS[name]
    config = config_from_dict({**sections, "training": {"epochs": 1, "batch_size": 16}})
    train_run("synthetic", run_dir=tmp_path / "run", config=config, work_dir=tmp_path, clips_per_class=4, progress=False)
    run = read_run(tmp_path / "run")
    export = export_model(run.tflite, board_name="nrf52840", out_root=tmp_path / "export", audio=run.audio,
                          labels=run.labels, test_inputs=run.test_inputs, num_test_vectors=1, stream=STREAMS[name])
    build_firmware(export.export_dir)
    return name, run.audio, export.export_dir


def _signal_and_chunks(audio, seed: int):
    rng = np.random.default_rng(seed)
    pcm = long_signal(audio.sample_rate, SIGNAL_SECONDS, rng)
    ring = int(audio.input_samples)
    return pcm, chunk_sizes(len(pcm), ring, rng)


@pytest.mark.e2e
def test_pushed_chunks_give_the_offline_windows_on_the_host_and_in_qemu(stream_export):
    from tinyasc.emulate.stream_run import stream_in_qemu, stream_offline, stream_on_host

    name, audio, export_dir = stream_export
    pcm, sizes = _signal_and_chunks(audio, seed=3)
    offline = stream_offline(export_dir, pcm)
    layout = stream_layout(audio, STREAMS[name])
    assert len(offline.values) == len(window_starts(len(pcm), layout)) >= SIGNAL_SECONDS
    spread = offline.values.astype(int).max(axis=0) - offline.values.astype(int).min(axis=0)
    assert spread.max() > 5, "the outputs change along the signal: a frozen stream would fail"
    host = stream_on_host(export_dir, pcm, sizes)
    np.testing.assert_array_equal(host.values, offline.values)
    np.testing.assert_array_equal(host.posteriors, offline.posteriors)
    device = stream_in_qemu(export_dir, pcm, sizes)
    np.testing.assert_array_equal(device.values, offline.values)
    np.testing.assert_array_equal(device.posteriors, offline.posteriors)
    assert device.samples == len(pcm) and device.push_instructions > len(pcm), "a few instructions per sample at least"


@pytest.mark.e2e
def test_the_state_takes_the_ram_model_h_says(stream_export):
    """TINYASC_STREAM_RAM_BYTES is the size of pcm_stream.c's static objects in the linked firmware."""
    from tinyasc.artifacts.export_folder import elf_path
    from tinyasc.firmware.size import object_symbol_sizes

    name, audio, export_dir = stream_export
    header = (export_dir / "src" / "model.h").read_text()
    declared = int(header.split("#define TINYASC_STREAM_RAM_BYTES ")[1].split()[0])
    state = {symbol: size for symbol, size in object_symbol_sizes(elf_path(export_dir)).items()
             if symbol.startswith("tas_stream_")}
    assert sum(state.values()) == declared, state
    if audio.kind == "logmel":  # frames, not the window's PCM: less than a naive int16 window buffer
        assert declared < 2 * int(audio.input_samples) and "tas_stream_features" in state


@pytest.mark.e2e
def test_bad_arguments_are_a_negative_status_and_nothing_breaks(stream_export, tmp_path):
    from tinyasc.compile.host import SANITIZERS, WARNINGS, model_sources

    _, _, export_dir = stream_export
    src = export_dir / "src"
    harness = tmp_path / "harness.c"
    harness.write_text(r"""
#include <stdio.h>
#include "model.h"
int main(void) {
    static int16_t silence[3 * TINYASC_PCM_SAMPLES];
    int8_t out[TINYASC_OUTPUT_SIZE];
    if (tinyasc_stream_push(NULL, 5) != -1 || tinyasc_stream_push(NULL, 0) != 0) return 1;
    if (tinyasc_stream_result(out, NULL) != 0) return 2;                 /* nothing ready yet */
    int ready = tinyasc_stream_push(silence, TINYASC_STREAM_FIRST_SAMPLES - 1);
    if (ready != 0) return 3;
    ready = tinyasc_stream_push(silence, 1);
    if (ready != 1 || tinyasc_stream_result(NULL, NULL) != 1) return 4;  /* the first window */
    ready = tinyasc_stream_push(silence, (size_t)TINYASC_STREAM_STRIDE_SAMPLES * (TINYASC_STREAM_QUEUE + 2));
    int taken = 0;
    while (tinyasc_stream_result(out, NULL) == 1) taken++;
    if (ready != TINYASC_STREAM_QUEUE + 2 || taken != TINYASC_STREAM_QUEUE) return 5;  /* oldest dropped */
    tinyasc_stream_reset();
    if (tinyasc_stream_push(silence, TINYASC_STREAM_FIRST_SAMPLES - 1) != 0) return 6;
    puts("ok");
    return 0;
}
""")
    binary = tmp_path / "harness"
    subprocess.run(["gcc", "-O1", *WARNINGS, *SANITIZERS, "-I", str(src), *map(str, model_sources(src)), str(harness),
                    "-o", str(binary)], check=True, capture_output=True)
    result = subprocess.run([str(binary)], capture_output=True, text=True, env={"ASAN_OPTIONS": "detect_leaks=0"})
    assert result.returncode == 0 and result.stdout == "ok\n", (result.returncode, result.stderr[-2000:])


def test_smoothing_is_the_mean_of_the_last_outputs():
    outputs = np.array([[10, -10], [20, -21], [-30, 31], [0, 0]], np.int8)
    values, posteriors = smoothed_results(outputs, 2, scale=0.5, zero_point=-4)
    np.testing.assert_array_equal(values, [[10, -10], [15, -16], [-5, 5], [-15, 16]])
    np.testing.assert_allclose(posteriors, 0.5 * (np.array([[10, -10], [15, -15.5], [-5, 5], [-15, 15.5]]) + 4))
    same, _ = smoothed_results(outputs, 1, scale=1.0, zero_point=0)
    np.testing.assert_array_equal(same, outputs)


def test_bad_stream_settings_are_clear_errors():
    with pytest.raises(TinyascError, match="stride must be a positive number of seconds"):
        StreamSettings(stride_s=0)
    with pytest.raises(TinyascError, match="smoothing must be 1 \\(off\\) to 255"):
        StreamSettings(smoothing=0)


def test_the_agc_follows_the_level_slowly_the_same_in_the_twin_on_the_host_and_in_qemu(tiny_cnn_tflite, tmp_path):
    """Issue 17's AGC for a streaming raw model: level.stream_agc_windows = N scales each window by
    L += (L_window - L) / N instead of its own level; the C equals the twin on the host and in QEMU."""
    from conftest import WAVEFORM_SAMPLES

    from tinyasc.artifacts.audio import AudioInput
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.stream_run import stream_in_qemu, stream_offline, stream_on_host
    from tinyasc.firmware.build import build_firmware
    from tinyasc.frontend.level import LevelSettings, tracked_levels, window_level
    from tinyasc.frontend.stream import stream_inputs, stream_windows

    level = {"mode": "peak", "target_dbfs": -1.0, "max_gain_db": 40.0, "stream_agc_windows": 8}
    audio = AudioInput(sample_rate=16000, kind="raw", channels=1, input_samples=WAVEFORM_SAMPLES, level=level)
    stream = StreamSettings(smoothing=2, queue=32)  # a 2047-value chunk completes 16 windows of 256
    export = export_model(tiny_cnn_tflite, board_name="nrf52840", out_root=tmp_path, audio=audio, stream=stream,
                          labels=list("abcd"), num_test_vectors=1)
    rng = np.random.default_rng(5)
    pcm = long_signal(16000, 3, rng)
    sizes = chunk_sizes(len(pcm), WAVEFORM_SAMPLES, rng)
    offline = stream_offline(export.export_dir, pcm)
    np.testing.assert_array_equal(stream_on_host(export.export_dir, pcm, sizes).values, offline.values)
    build_firmware(export.export_dir)
    device = stream_in_qemu(export.export_dir, pcm, sizes)
    np.testing.assert_array_equal(device.values, offline.values)
    np.testing.assert_array_equal(device.posteriors, offline.posteriors)
    # The tracked level moves 1/8 of the way per window: after a step it lags, then converges.
    assert list(tracked_levels(np.array([1600, 800, 800, 800]), 8)) == [1600, 1500, 1413, 1337]  # -613 / 8 truncates to -76
    windows = stream_windows(pcm, stream_layout(audio, stream))
    own = window_level(windows, LevelSettings(**level))
    assert np.mean(tracked_levels(own, 8) != own) > 0.5, "the AGC's gain is not each window's own"
    x = json.loads((export.export_dir / "manifest.json").read_text())["export"]["input"]
    own_level = AudioInput.from_dict({**audio.to_dict(), "level": {**level, "stream_agc_windows": 0}})
    layout = stream_layout(audio, stream)
    per_window = stream_inputs(pcm, own_level, layout, x["scale"], x["zero_point"])
    assert not np.array_equal(per_window, stream_inputs(pcm, audio, layout, x["scale"], x["zero_point"]))


def test_agc_needs_a_level_mode():
    with pytest.raises(TinyascError, match="stream_agc_windows must be 0 \\(off\\) to 1000 windows, with mode peak or rms"):
        from tinyasc.frontend.level import LevelSettings

        LevelSettings(mode="none", stream_agc_windows=4)
