"""The generated PCM front-end of a raw-waveform model: `tinyasc_input_from_pcm` in `pcm_input.c`.

Rendered from the run's level settings and the model's int8 input quantization; its arithmetic
is defined, and checked bit for bit, by the numpy twin in tinyasc/frontend/level.py.
"""

from __future__ import annotations

import tinyasc
from tinyasc.frontend.level import LevelSettings, scale_in_q16

PCM_INPUT_FILE = "pcm_input.c"


def pcm_frontend_applies(audio, graph) -> bool:
    """A raw-waveform model with an int8 input (a float-input model takes floats, not PCM)."""
    x = graph.tensors[graph.inputs[0]]
    return audio is not None and audio.kind == "raw" and x.dtype == "int8" and x.quantization is not None


def level_settings(audio) -> LevelSettings:
    return LevelSettings(**(audio.level or {}))


def render_pcm_input(audio, graph, environment) -> dict[str, str]:
    """{"pcm_input.c": text} for a model `pcm_frontend_applies` to."""
    x = graph.tensors[graph.inputs[0]]
    settings = level_settings(audio)
    context = dict(
        version=tinyasc.__version__, channels=audio.channels or 1, sample_rate=audio.sample_rate,
        mode=settings.mode, target_dbfs=settings.target_dbfs, max_gain_db=settings.max_gain_db,
        k_q16=scale_in_q16(settings, x.quantization.scale), floor_q4=settings.floor_q4,
        zero_point=x.quantization.zero_point,
    )
    return {PCM_INPUT_FILE: environment.get_template("frontend/pcm_input.c.j2").render(context)}


def pcm_test_window(audio, graph) -> tuple:
    """One int16 PCM window for the firmware's self-test and the int8 input the twin makes of it:
    a quiet (-30 dBFS) chirp over -50 dBFS noise, so the level normalisation has work to do."""
    import numpy as np

    from tinyasc.frontend.level import pcm_to_model_input, to_pcm16

    x = graph.tensors[graph.inputs[0]]
    channels = audio.channels or 1
    frames = x.num_elements // channels
    t = np.arange(frames) / float(audio.sample_rate or frames)
    chirp = np.sin(2 * np.pi * (100 + 2000 * t) * t) * 10 ** (-30 / 20)
    noise = np.random.default_rng(0).normal(size=(frames, channels)) * 10 ** (-50 / 20)
    pcm = to_pcm16(chirp[:, np.newaxis] + noise).reshape(-1)
    expected = pcm_to_model_input(pcm[np.newaxis], level_settings(audio), x.quantization.scale,
                                  x.quantization.zero_point)[0]
    return pcm, expected
