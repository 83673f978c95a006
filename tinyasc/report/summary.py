"""`tinyasc summary`: what a model costs, per layer and in total, against the DCASE limits.

Counted from the compiled IR of an int8 `.tflite`, so the figures describe what runs on the
device: parameters (zeros included, as DCASE counts them) and non-zero parameters, MACs per
inference and per second of audio, and the model's size at 8, 16 and 32 bits per parameter.
DCASE low-complexity rules since 2022: at most 128 K parameters and 30 M MACs per second of audio.

Per second of audio needs the audio one inference covers: a training run (or an export of one)
knows it; a bare `.tflite` does not, and then only the per-inference figures are given unless
`--sample-rate` (raw-waveform input) or `--seconds` says it. Nothing assumes 16 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyasc.artifacts.audio import AudioInput
from tinyasc.compile.ir import Graph
from tinyasc.errors import TinyascError

DCASE_MAX_PARAMETERS = 128_000
DCASE_MAX_MACS_PER_SECOND = 30_000_000


@dataclass
class LayerCost:
    op: int
    kind: str
    parameters: int
    nonzero_parameters: int
    macs: int


def layer_costs(graph: Graph) -> list[LayerCost]:
    from tinyasc.compile import ops

    costs = []
    for op in graph.ops:
        params = ops.prepare(op, graph)
        weights = [graph.tensors[i] for i in op.inputs if i >= 0 and graph.tensors[i].is_constant
                   and graph.tensors[i].quantization is not None]
        costs.append(LayerCost(
            op=op.index,
            kind=op.kind.value,
            parameters=sum(t.num_elements for t in weights),
            nonzero_parameters=sum(int(np.count_nonzero(t.data)) for t in weights),
            macs=int(params.macs),
        ))
    return costs


def audio_seconds(graph: Graph, sample_rate: int) -> float:
    """Seconds of audio one inference covers, for raw-waveform inputs (N, T, 1, C), (N, T, C) or
    (N, T); a spectrogram input (N, frames, bands, 1) is refused: its hop is not in the .tflite."""
    shape = graph.tensors[graph.inputs[0]].shape
    if len(shape) == 4 and shape[2] > 1:
        raise TinyascError(
            f"the model's input {tuple(shape)} looks like features (frames x bands), so the sample rate "
            "alone does not give the audio one inference covers; pass --seconds, or summarize the run folder"
        )
    return shape[1] / sample_rate


def summarize(graph: Graph, sample_rate: int | None = None, seconds: float | None = None) -> dict:
    """Costs per layer and in total. Per second of audio only when `seconds` (of audio per
    inference) or, for a raw-waveform input, `sample_rate` is given; otherwise those are None."""
    costs = layer_costs(graph)
    if seconds is None and sample_rate is not None:
        seconds = audio_seconds(graph, sample_rate)
    parameters = sum(c.parameters for c in costs)
    macs = sum(c.macs for c in costs)
    macs_per_second = macs / seconds if seconds else None
    return {
        "layers": [c.__dict__ for c in costs],
        "parameters": parameters,
        "nonzero_parameters": sum(c.nonzero_parameters for c in costs),
        "macs_per_inference": macs,
        "seconds_per_inference": seconds,
        "macs_per_second": macs_per_second,
        "bytes_int8": parameters,
        "bytes_float16": 2 * parameters,
        "bytes_float32": 4 * parameters,
        "dcase_parameters_ok": parameters <= DCASE_MAX_PARAMETERS,
        "dcase_macs_ok": macs_per_second <= DCASE_MAX_MACS_PER_SECOND if macs_per_second is not None else None,
    }


@dataclass(frozen=True)
class SummarySource:
    tflite: Path
    audio: AudioInput
    where: str  # what the audio facts come from, in words


def summary_source(path, sample_rate: int | None = None) -> SummarySource:
    """The model and its audio facts from a run folder, an export folder or a bare .tflite."""
    from tinyasc.artifacts import export_folder
    from tinyasc.artifacts.manifest import MANIFEST_NAME, read_manifest
    from tinyasc.artifacts.run import RUN_FILE, read_run

    path = Path(path)
    if (path / RUN_FILE).is_file():
        run = read_run(path)
        source = SummarySource(run.tflite, run.audio, f"the training run {path}")
    elif (path / MANIFEST_NAME).is_file():
        audio = AudioInput.from_dict(read_manifest(path).get("audio"))
        source = SummarySource(path / export_folder.MODEL_TFLITE, audio, f"the export {path}")
    elif path.is_file():
        return SummarySource(path, AudioInput(sample_rate=sample_rate),
                             "--sample-rate" if sample_rate else "nowhere: a bare .tflite carries no audio rate")
    else:
        raise TinyascError(f"{path}: not a .tflite file, a run folder ({RUN_FILE}) or an export folder ({MANIFEST_NAME})")
    if sample_rate is not None and source.audio.sample_rate not in (None, sample_rate):
        raise TinyascError(f"{source.where} was trained at {source.audio.sample_rate} Hz; leave out --sample-rate {sample_rate}")
    return source


def summary_table(summary: dict, title: str):
    from rich.table import Table

    table = Table(title=title)
    for column in ("op", "kind", "parameters", "non-zero", "MACs", "MACs / s of audio"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    seconds = summary["seconds_per_inference"]
    per_second = (lambda macs: f"{macs / seconds:,.0f}") if seconds else (lambda macs: "unknown")  # noqa: E731
    for layer in summary["layers"]:
        table.add_row(str(layer["op"]), layer["kind"], f"{layer['parameters']:,}", f"{layer['nonzero_parameters']:,}",
                      f"{layer['macs']:,}", per_second(layer["macs"]))
    table.add_row("", "total", f"{summary['parameters']:,}", f"{summary['nonzero_parameters']:,}",
                  f"{summary['macs_per_inference']:,}", per_second(summary["macs_per_inference"]), end_section=True)
    table.add_row("", "DCASE (128 K params, 30 M MACs/s)", _verdict(summary["dcase_parameters_ok"]), "", "",
                  _verdict(summary["dcase_macs_ok"]))
    covers = (f"one inference covers {seconds:g} s of audio" if seconds else
              "the audio rate is unknown, so MACs per second are not given: pass --sample-rate (raw-waveform "
              "input) or --seconds, or summarize the training run folder")
    table.caption = (f"size at 1, 2 and 4 bytes per parameter (as DCASE counts): {summary['bytes_int8']:,} B int8, {summary['bytes_float16']:,} B float16, "
                     f"{summary['bytes_float32']:,} B float32; {covers}")
    measured = summary.get("measured_tflite_bytes")
    if measured:
        table.caption += "\nmeasured .tflite files: " + ", ".join(f"{size:,} B {kind}" for kind, size in measured.items())
    return table


def _verdict(ok: bool | None) -> str:
    if ok is None:
        return "[yellow]unknown (audio rate unknown)[/]"
    return "[green]within DCASE limit[/]" if ok else "[red]over DCASE limit[/]"


MEASURED_TFLITE_FILES = {"float16": "model_float16.tflite", "float32": "model_float32.tflite"}


def measured_tflite_sizes(tflite_path) -> dict[str, int]:
    """{"int8": bytes, "float16": …, "float32": …}: the given .tflite and the float16/float32 files
    `tinyasc train` writes next to it (convert/float16.py), those that exist."""
    from pathlib import Path

    tflite_path = Path(tflite_path)
    sizes = {"int8": tflite_path.stat().st_size}
    for kind, name in MEASURED_TFLITE_FILES.items():
        sibling = tflite_path.with_name(name)
        if sibling.is_file() and sibling != tflite_path:
            sizes[kind] = sibling.stat().st_size
    return sizes if len(sizes) > 1 else {}
