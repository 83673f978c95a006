"""The console text of `tinyasc emulate --audio`: what was done to the files, the predictions (per
file, or per window for a file longer than one window), the scores, QEMU against the host build,
and what the device spends on audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyasc.emulate.audio_eval import AudioEvaluation
from tinyasc.emulate.audio_files import LoadedFile

NAME_WIDTH = 36


def _short(path: Path, width: int = NAME_WIDTH) -> str:
    """The file's name with its parent folder (a class folder says much), cut from the left."""
    text = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    return text if len(text) <= width else "…" + text[-(width - 1):]


def _same_text(equal: bool) -> str:
    return "yes" if equal else "NO"


def _window_rows(evaluation: AudioEvaluation, loaded: LoadedFile, labelled: bool) -> list[str]:
    """One row per window, under its file's row and in its columns."""
    window_s = evaluation.cost.window_seconds
    rows = []
    for index, start in enumerate(loaded.window_starts_s):
        window = loaded.first_window + index
        predicted = evaluation.labels[evaluation.window_predicted[window]]
        where = f"  window {index}: {start:.2f}-{start + window_s:.2f} s"
        rows.append(f"  {where:{NAME_WIDTH}}  {'':7}  " + (f"{'':14}  " if labelled else "") +
                    f"{predicted:14}  {_same_text(bool(evaluation.window_host_equal[window]))}")
    return rows


def prediction_lines(evaluation: AudioEvaluation) -> list[str]:
    labelled = evaluation.metrics is not None
    header = f"  {'file':{NAME_WIDTH}}  {'windows':>7}  " + (f"{'label':14}  " if labelled else "") + \
        f"{'predicted':14}  QEMU = host"
    lines = [header]
    for loaded, predicted, equal in zip(evaluation.windows.files, evaluation.predicted, evaluation.host_equal):
        label = f"{evaluation.labels[loaded.item.label]:14}  " if labelled else ""
        mark = "" if not labelled or loaded.item.label == predicted else "  (wrong)"
        lines.append(f"  {_short(loaded.item.path):{NAME_WIDTH}}  {loaded.windows:7d}  {label}"
                     f"{evaluation.labels[predicted]:14}  {_same_text(bool(equal))}{mark}")
        if loaded.windows > 1:
            lines += _window_rows(evaluation, loaded, labelled)
    return lines


def confusion_lines(evaluation: AudioEvaluation) -> list[str]:
    labels, confusion = evaluation.labels, evaluation.metrics.confusion
    width = max(5, max(len(str(count)) for count in confusion.reshape(-1)) + 1)
    name_width = max(len(label) for label in labels)
    codes = [label[:width - 1] for label in labels]
    lines = ["confusion matrix (rows: true label, columns: predicted):",
             f"  {'':{name_width}} " + "".join(f"{code:>{width}}" for code in codes)]
    for label, row in zip(labels, confusion):
        lines.append(f"  {label:{name_width}} " + "".join(f"{count:>{width}d}" for count in row))
    return lines


def _score_lines(evaluation: AudioEvaluation) -> list[str]:
    metrics = evaluation.metrics
    files = len(evaluation.windows.files)
    if metrics is None:
        return []
    correct = int(np.trace(metrics.confusion))
    from tinyasc.report.levels import level_line

    return [f"accuracy {metrics.accuracy:.3f} ({correct}/{files} files), macro-F1 {metrics.macro_f1:.3f} "
            "(QEMU's outputs; a file's prediction is the mean of its windows' outputs)",
            f"accuracy by level (QEMU, file RMS; quiet < -45, medium -45..-30, loud >= -30 dBFS): "
            f"{level_line(evaluation.accuracy_by_level())}", *confusion_lines(evaluation)]


def _host_line(evaluation: AudioEvaluation) -> str:
    files = len(evaluation.windows.files)
    differing = int(np.sum(~evaluation.host_equal))
    if differing == 0:
        return f"QEMU equals the host build (ASan + UBSan) bit for bit on every file ({files}/{files})"
    return f"QEMU DIFFERS from the host build on {differing} of {files} files (marked NO above)"


def _cost_lines(evaluation: AudioEvaluation) -> list[str]:
    cost = evaluation.cost
    per_second_ms = 1e3 * cost.real_time_factor
    return [
        f"front-end (tinyasc_input_from_pcm): {cost.frontend_instructions_per_window:,.0f} instructions per "
        f"{cost.window_seconds:g}-s window = {cost.frontend_instructions_per_second:,.0f} instructions per second of audio",
        f"network (tinyasc_invoke): {cost.network_instructions_per_inference:,.0f} instructions per inference "
        f"(mean over {len(evaluation.windows.pcm)} window(s); first {cost.network_instructions_first:,})",
        f"real-time factor at {cost.clock_hz / 1e6:g} MHz: {cost.real_time_factor:.4f}, "
        f"{'real time' if cost.real_time_factor < 1 else 'SLOWER than real time'} (one second of audio takes "
        f"~{per_second_ms:,.1f} ms; estimate from instruction counts, QEMU models no cycles)",
    ]


def format_audio_evaluation(evaluation: AudioEvaluation) -> str:
    windows = evaluation.windows
    split = f" (split {windows.split!r})" if windows.split else ""
    lines = [f"{len(windows.files)} file(s) from {windows.source}{split}: {len(windows.pcm)} window(s) on "
             f"{evaluation.board} (QEMU {evaluation.machine})"]
    lines += [f"  {line}" for line in evaluation.treatment]
    lines += prediction_lines(evaluation)
    lines += _score_lines(evaluation)
    lines.append(_host_line(evaluation))
    lines += _cost_lines(evaluation)
    return "\n".join(lines)
