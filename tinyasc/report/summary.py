"""`tinyasc summary`: what a model costs, per layer and in total, against the DCASE limits.

Counted from the compiled IR of an int8 `.tflite`, so the figures describe what runs on the
device: parameters (zeros included, as DCASE counts them) and non-zero parameters, MACs per
inference and per second of audio, and the model's size at 8, 16 and 32 bits per parameter.
DCASE low-complexity rules since 2022: at most 128 K parameters and 30 M MACs per second of audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyasc.compile.ir import Graph

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
    """Seconds of audio one inference covers, for raw-waveform inputs (N, T, 1, C) or (N, T)."""
    shape = graph.tensors[graph.inputs[0]].shape
    return shape[1] / sample_rate


def summarize(graph: Graph, sample_rate: int = 16000, seconds: float | None = None) -> dict:
    costs = layer_costs(graph)
    seconds = seconds or audio_seconds(graph, sample_rate)
    parameters = sum(c.parameters for c in costs)
    macs = sum(c.macs for c in costs)
    return {
        "layers": [c.__dict__ for c in costs],
        "parameters": parameters,
        "nonzero_parameters": sum(c.nonzero_parameters for c in costs),
        "macs_per_inference": macs,
        "seconds_per_inference": seconds,
        "macs_per_second": macs / seconds,
        "bytes_int8": parameters,
        "bytes_float16": 2 * parameters,
        "bytes_float32": 4 * parameters,
        "dcase_parameters_ok": parameters <= DCASE_MAX_PARAMETERS,
        "dcase_macs_ok": macs / seconds <= DCASE_MAX_MACS_PER_SECOND,
    }


def summary_table(summary: dict, title: str):
    from rich.table import Table

    table = Table(title=title)
    for column in ("op", "kind", "parameters", "non-zero", "MACs", "MACs / s of audio"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    seconds = summary["seconds_per_inference"]
    for layer in summary["layers"]:
        table.add_row(str(layer["op"]), layer["kind"], f"{layer['parameters']:,}", f"{layer['nonzero_parameters']:,}",
                      f"{layer['macs']:,}", f"{layer['macs'] / seconds:,.0f}")
    verdict = lambda ok: "[green]within DCASE limit[/]" if ok else "[red]over DCASE limit[/]"  # noqa: E731
    table.add_row("", "total", f"{summary['parameters']:,}", f"{summary['nonzero_parameters']:,}",
                  f"{summary['macs_per_inference']:,}", f"{summary['macs_per_second']:,.0f}", end_section=True)
    table.add_row("", "DCASE (128 K params, 30 M MACs/s)", verdict(summary["dcase_parameters_ok"]), "", "",
                  verdict(summary["dcase_macs_ok"]))
    table.caption = (f"size at 1, 2 and 4 bytes per parameter (as DCASE counts): {summary['bytes_int8']:,} B int8, {summary['bytes_float16']:,} B float16, "
                     f"{summary['bytes_float32']:,} B float32; one inference covers {seconds:g} s of audio")
    measured = summary.get("measured_tflite_bytes")
    if measured:
        table.caption += "\nmeasured .tflite files: " + ", ".join(f"{size:,} B {kind}" for kind, size in measured.items())
    return table


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
