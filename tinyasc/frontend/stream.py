"""The stream: int16 PCM pushed in chunks → one model input every stride → smoothed results.

The generated C (`firmware_templates/frontend/pcm_stream.c.j2`, `tinyasc_stream_push`) keeps a ring
of log-mel frames (each computed once, when its last sample arrives) or of raw samples, and runs the
network whenever a window completes. Its numpy twin is offline: cut the long signal into the same
windows and run the offline input path (`pcm_to_model_input` / `pcm_to_logmel_input`) on each, so
the per-window normalisation is exactly training's. Windows start every stride; the stream has a
window as soon as its last frame (log-mel) or sample (raw) has arrived.

    StreamSettings                   stride and smoothing, chosen at export
    stream_layout(audio, settings)   the stride, the window and what completes a window, in samples
    stream_inputs(pcm, ...)          the int8 model inputs of every complete window of a signal
    smoothed_results(outputs, ...)   the moving average the C returns: int8 and float posteriors
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from tinyasc.errors import TinyascError

DEFAULT_QUEUE = 4
MAX_STRIDE_S = 3600  # an hour between results; the C's countdown is an int32 of hops or values


@dataclass(frozen=True)
class StreamSettings:
    stride_s: float | None = None  # audio between results; None: half the window (rounded to a hop)
    smoothing: int = 1  # results are the mean of the last `smoothing` network outputs (1: off)
    queue: int = DEFAULT_QUEUE  # results kept until tinyasc_stream_result takes them

    def __post_init__(self):
        if self.stride_s is not None and not 0 < self.stride_s <= MAX_STRIDE_S:
            raise TinyascError(f"the stream's stride must be a positive number of seconds up to {MAX_STRIDE_S:,}; "
                               f"received: {self.stride_s}")
        if not 1 <= self.smoothing <= 255:
            raise TinyascError(f"stream smoothing must be 1 (off) to 255 results; received: {self.smoothing}")
        if not 1 <= self.queue <= 64:
            raise TinyascError(f"the stream's result queue must hold 1 to 64 results; received: {self.queue}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StreamLayout:
    kind: str
    window_values: int  # int16 values one window spans (channels interleaved)
    stride_values: int  # int16 values between window starts
    stride_units: int  # the C's countdown: hops (log-mel) or values (raw) between results
    needed_values: int  # values from a window's start until it is complete in the stream
    channels: int


def stream_layout(audio, settings: StreamSettings) -> StreamLayout:
    """Where windows start and when they complete, for an export's audio facts."""
    rate = int(audio.sample_rate)
    if audio.kind == "raw":
        channels = audio.channels or 1
        window = int(audio.input_samples) * channels
        frames = window // channels
        stride = frames // 2 if settings.stride_s is None else round(settings.stride_s * rate)
        stride = max(1, stride) * channels
        if stride >= 2**31:
            raise TinyascError(f"a stream stride of {settings.stride_s} s is {stride:,} values, beyond the C's int32 countdown")
        return StreamLayout("raw", window, stride, stride, window, channels)
    from tinyasc.frontend.fixed_point_tables import frontend_tables
    from tinyasc.frontend.logmel import frame_count
    from tinyasc.frontend.logmel_input import settings_from_facts

    mel = settings_from_facts(audio.log_mel)
    window, hop = int(audio.input_samples), mel.hop_length
    frames = frame_count(window, mel)
    hops = max(1, frames // 2) if settings.stride_s is None else max(1, round(settings.stride_s * rate / hop))
    needed = (frames - 1) * hop + frontend_tables(mel).window_offset + mel.window_length
    return StreamLayout("logmel", window, hops * hop, hops, needed, 1)


def window_starts(total_values: int, layout: StreamLayout) -> np.ndarray:
    """Start (in values) of every window the stream completes within `total_values` values."""
    if total_values < layout.needed_values:
        return np.zeros(0, np.int64)
    return np.arange(0, total_values - layout.needed_values + 1, layout.stride_values, dtype=np.int64)


def stream_windows(pcm: np.ndarray, layout: StreamLayout) -> np.ndarray:
    """int16 [windows, window values]: the signal cut as the stream cuts it (a log-mel window's tail
    that no frame reads is zero when the signal ends there)."""
    pcm = np.asarray(pcm, np.int16).reshape(-1)
    starts = window_starts(len(pcm), layout)
    padded = np.concatenate([pcm, np.zeros(layout.window_values, np.int16)])
    return padded[starts[:, None] + np.arange(layout.window_values)]


def stream_inputs(pcm: np.ndarray, audio, layout: StreamLayout, input_scale: float, zero_point: int) -> np.ndarray:
    """int8 [windows, input size]: the model input of every complete window, by the offline path."""
    windows = stream_windows(pcm, layout)
    if audio.kind == "raw":
        from tinyasc.frontend.level import LevelSettings, model_input_at_levels, tracked_levels, window_level

        level = LevelSettings(**(audio.level or {}))
        levels = window_level(windows, level)
        if level.stream_agc_windows:  # the stream's AGC: a level tracked over the windows
            levels = tracked_levels(levels, level.stream_agc_windows)
        return model_input_at_levels(windows, levels, level, input_scale, zero_point)
    from tinyasc.frontend.logmel_input import pcm_to_logmel_input, settings_from_facts

    return pcm_to_logmel_input(windows, settings_from_facts(audio.log_mel), input_scale, zero_point)


def smoothed_results(outputs: np.ndarray, smoothing: int, scale: float, zero_point: int) -> tuple[np.ndarray, np.ndarray]:
    """Network outputs int8 [windows, classes] → (int8 results, float32 posteriors), each the mean
    of the last `smoothing` outputs (fewer at the start), as tinyasc_stream_result computes them:
    the int8 mean rounded half away from zero, the posterior scale · (sum − n · zero point) / n in
    float32, in the C's order of operations."""
    outputs = np.asarray(outputs, np.int64)
    cumulative = np.concatenate([np.zeros((1, outputs.shape[1]), np.int64), np.cumsum(outputs, axis=0)])
    index = np.arange(1, len(outputs) + 1)
    counts = np.minimum(index, smoothing)
    sums = cumulative[index] - cumulative[index - counts]
    n = counts[:, None]
    rounded = np.where(sums >= 0, (sums + n // 2) // n, -((-sums + n // 2) // n)).astype(np.int8)
    posterior = (np.float32(scale) * (sums - n * zero_point).astype(np.float32)) / n.astype(np.float32)
    return rounded, posterior.astype(np.float32)


def stream_state_bytes(audio, output_size: int, settings: StreamSettings) -> int:
    """Static RAM of pcm_stream.c's arrays and counters (the network's arena not included)."""
    layout = stream_layout(audio, settings)
    results = output_size * (1 + settings.smoothing + 4 * settings.queue) + 4 * settings.queue
    agc = audio.kind == "raw" and bool((audio.level or {}).get("stream_agc_windows"))
    counters = 4 * (6 if audio.kind == "raw" else 8) + 8 * agc
    if audio.kind == "raw":
        ring = 2 * layout.window_values
        return ring + layout.window_values + results + counters  # the ring, the int8 input
    from tinyasc.frontend.fixed_point_tables import frontend_tables
    from tinyasc.frontend.logmel import frame_count
    from tinyasc.frontend.logmel_input import settings_from_facts

    mel = settings_from_facts(audio.log_mel)
    scratch_words = frontend_tables(mel).scratch_words
    frames = frame_count(layout.window_values, mel)
    features = 2 * frames * mel.n_mels
    return 2 * mel.window_length + features + frames * mel.n_mels + 4 * scratch_words + results + counters

