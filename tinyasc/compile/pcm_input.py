"""The generated PCM front-end: `tinyasc_input_from_pcm(const int16_t *pcm, int8_t *input)`, the
model's int8 input from one window of microphone samples, in `pcm_input.c`.

- raw waveform: level normalisation (tinyasc/frontend/level.py) and int8;
- log-mel: the fixed-point log-mel front-end (tinyasc/frontend/fixed_point.py and its C), each
  band's mean over the window subtracted, and int8 (tinyasc/frontend/logmel_input.py).

Rendered from the run's audio facts and the model's int8 input quantization; each numpy twin
defines the arithmetic and is checked against the C bit for bit.
"""

from __future__ import annotations

import numpy as np

import tinyasc
from tinyasc.frontend.level import LevelSettings, pcm_to_model_input, scale_in_q16, to_pcm16

PCM_INPUT_FILE = "pcm_input.c"
PCM_WINDOW_HEADER = "tas_pcm_window.h"
PCM_STREAM_FILE = "pcm_stream.c"


def pcm_frontend_applies(audio, graph) -> bool:
    """A raw-waveform or log-mel model with an int8 input whose audio facts are known (a
    float-input model takes floats, not PCM)."""
    x = graph.tensors[graph.inputs[0]]
    if audio is None or x.dtype != "int8" or x.quantization is None or not audio.sample_rate:
        return False
    return audio.kind == "raw" or (audio.kind == "logmel" and bool(audio.log_mel) and bool(audio.input_samples))


def level_settings(audio) -> LevelSettings:
    return LevelSettings(**(audio.level or {}))


def pcm_samples(audio, graph) -> int:
    """int16 values one window takes: the model's input for raw audio, the clip for log-mel."""
    if audio.kind == "raw":
        return graph.tensors[graph.inputs[0]].num_elements
    return int(audio.input_samples)


def stream_applies(audio, graph) -> bool:
    """The stream (pcm_stream.c) needs the PCM front-end and an int8 output to average."""
    y = graph.tensors[graph.outputs[0]]
    return pcm_frontend_applies(audio, graph) and y.dtype == "int8" and y.quantization is not None


def stream_facts(audio, graph, stream) -> dict:
    """The stream's figures for model.h and the project README."""
    from tinyasc.frontend.stream import stream_layout, stream_state_bytes

    layout = stream_layout(audio, stream)
    output_size = graph.tensors[graph.outputs[0]].num_elements
    return dict(stride_values=layout.stride_values, window_values=layout.window_values,
                first_values=layout.needed_values, smoothing=stream.smoothing, queue=stream.queue,
                stride_s=layout.stride_values / layout.channels / audio.sample_rate,
                ram_bytes=stream_state_bytes(audio, output_size, stream))


def _stream_sources(audio, graph, environment, stream, frames: int) -> dict[str, str]:
    """tas_pcm_window.h (the window → input step pcm_input.c shares) and pcm_stream.c."""
    from tinyasc.frontend.stream import stream_layout

    context = dict(version=tinyasc.__version__, kind=audio.kind, frames=frames)
    sources = {PCM_WINDOW_HEADER: environment.get_template("frontend/tas_pcm_window.h.j2").render(context)}
    if stream is not None and stream_applies(audio, graph):
        context["stride_units"] = stream_layout(audio, stream).stride_units
        context["agc_windows"] = level_settings(audio).stream_agc_windows if audio.kind == "raw" else 0
        sources[PCM_STREAM_FILE] = environment.get_template("frontend/pcm_stream.c.j2").render(context)
    return sources


def render_pcm_input(audio, graph, environment, stream=None) -> dict[str, str]:
    """{"pcm_input.c": text} (and the log-mel front-end's files) for a model `pcm_frontend_applies` to;
    with `stream` (tinyasc.frontend.stream.StreamSettings) the stream's pcm_stream.c too."""
    q = graph.tensors[graph.inputs[0]].quantization
    common = dict(version=tinyasc.__version__, sample_rate=audio.sample_rate, zero_point=q.zero_point)
    if audio.kind == "raw":
        settings = level_settings(audio)
        context = dict(
            common, channels=audio.channels or 1, mode=settings.mode, target_dbfs=settings.target_dbfs,
            max_gain_db=settings.max_gain_db, k_q16=scale_in_q16(settings, q.scale), floor_q4=settings.floor_q4,
        )
        return {PCM_INPUT_FILE: environment.get_template("frontend/pcm_input.c.j2").render(context),
                **_stream_sources(audio, graph, environment, stream, 0)}
    from tinyasc.frontend.logmel import frame_count
    from tinyasc.frontend.logmel_input import scale_multiplier, settings_from_facts
    from tinyasc.frontend.render import render_frontend_sources

    settings = settings_from_facts(audio.log_mel)
    frames = frame_count(int(audio.input_samples), settings)
    context = dict(common, frames=frames, n_mels=settings.n_mels, multiplier=scale_multiplier(q.scale))
    return {**render_frontend_sources(settings),
            PCM_INPUT_FILE: environment.get_template("frontend/logmel_input.c.j2").render(context),
            **_stream_sources(audio, graph, environment, stream, frames)}


def pcm_frontend_text(audio) -> str:
    """What the front-end does, for model.h."""
    if audio.kind == "raw":
        mode = level_settings(audio).mode
        channels = audio.channels or 1
        level = "no level normalisation" if mode == "none" else f"{mode} level normalisation"
        return f"{channels} channel(s) interleaved → {level}"
    return (f"{audio.log_mel['n_mels']}-band fixed-point log-mel every {audio.log_mel['hop_length']} samples → "
            "each band's mean over the window subtracted")


def pcm_test_window(audio, graph) -> tuple[np.ndarray, np.ndarray]:
    """One int16 PCM window for the firmware's self-test and the int8 input the twin makes of it:
    a quiet (-30 dBFS) chirp over -50 dBFS noise, so normalisation and dynamic range have work to do."""
    x = graph.tensors[graph.inputs[0]]
    channels = (audio.channels or 1) if audio.kind == "raw" else 1
    frames = pcm_samples(audio, graph) // channels
    t = np.arange(frames) / float(audio.sample_rate)
    chirp = np.sin(2 * np.pi * (100 + 2000 * t) * t) * 10 ** (-30 / 20)
    noise = np.random.default_rng(0).normal(size=(frames, channels)) * 10 ** (-50 / 20)
    pcm = to_pcm16(chirp[:, np.newaxis] + noise).reshape(-1)
    q = x.quantization
    if audio.kind == "raw":
        expected = pcm_to_model_input(pcm[np.newaxis], level_settings(audio), q.scale, q.zero_point)[0]
    else:
        from tinyasc.frontend.logmel_input import pcm_to_logmel_input, settings_from_facts

        expected = pcm_to_logmel_input(pcm[np.newaxis], settings_from_facts(audio.log_mel), q.scale, q.zero_point)[0]
    return pcm, expected
