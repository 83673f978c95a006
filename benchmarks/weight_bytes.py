"""Where the model constants' flash goes, against the int8 parameter bytes.

    PYTHONPATH=. .venv/bin/python benchmarks/weight_bytes.py [--board nrf52840] [--models M ...]
        [--tflite-dir DIR] [--out results.json]

For each bench model (tinyasc/bench.py SUITE, seeded random weights): export and build for the
board as the bench does (no QEMU run) and split the linked tas_weights_* objects (the bench's
weights_bytes) by role, the suffix of their C name: filter, bias, multiplier, shift,
requantization... The floor is the
model's int8 parameter bytes (its constant int8 tensors: filters, as in the .tflite) plus 4 bytes
per int32 bias element: every runtime stores those. `over` is what the generated arrays add to it.
--tflite-dir keeps the generated .tflite files, so a second run skips TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

WEIGHTS_PREFIX = "tas_weights_"  # tinyasc/firmware/size.py: the bench's weights_bytes sums these


def parameter_floor(graph) -> dict:
    """int8 constant bytes and int32 bias bytes of the graph's ops' constant inputs (each tensor once)."""
    seen, int8, int32 = set(), 0, 0
    for op in graph.ops:
        for index in op.inputs:
            tensor = graph.tensors[index] if index >= 0 else None
            if tensor is None or not tensor.is_constant or tensor.quantization is None or index in seen:
                continue
            seen.add(index)
            int8 += tensor.nbytes if tensor.dtype == "int8" else 0
            int32 += tensor.nbytes if tensor.dtype == "int32" else 0
    return {"int8_parameter_bytes": int8, "int32_bias_bytes": int32}


def symbol_roles(symbols: dict[str, int]) -> dict:
    """Bytes per role of the tas_weights_* objects: the name's suffix after tas_weights_opN_ (digits dropped)."""
    roles: dict[str, int] = defaultdict(int)
    for name, size in symbols.items():
        if name.startswith(WEIGHTS_PREFIX):
            roles[re.sub(r"\d+", "", re.sub(r"^tas_weights_(op\d+_)?", "", name))] += size
    return dict(sorted(roles.items(), key=lambda item: -item[1]))


def measure(tflite: Path, board_name: str, work: Path) -> dict:
    """Export and build as the bench does (no QEMU run); the linked image's tas_weights_* objects."""
    from tinyasc.compile.export import export_model
    from tinyasc.firmware.build import build_firmware
    from tinyasc.firmware.size import object_symbol_sizes

    export = export_model(tflite, board_name=board_name, out_root=work, name=f"{tflite.stem}_{board_name}",
                          num_test_vectors=1)
    roles = symbol_roles(object_symbol_sizes(build_firmware(export.export_dir).elf_path))
    floor = parameter_floor(export.compiled.graph)
    total = sum(roles.values())
    base = floor["int8_parameter_bytes"] + floor["int32_bias_bytes"]
    return {**floor, "weights_bytes": total, "over_floor_bytes": total - base,
            "vs_int8_parameters": round(total / floor["int8_parameter_bytes"], 4), "roles": roles}


def main(argv=None) -> None:
    from tinyasc.bench import select_suite

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="nrf52840")
    parser.add_argument("--models", nargs="+")
    parser.add_argument("--tflite-dir", type=Path, default=Path("/tmp/tinyasc-weight-bytes"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rows = []
    work = Path(tempfile.mkdtemp(prefix="tinyasc-weight-bytes-"))
    for model in select_suite(args.models):
        folder = args.tflite_dir / model.name
        folder.mkdir(parents=True, exist_ok=True)
        tflite = next(iter(folder.glob("*.tflite")), None) or model.make_tflite(folder)
        row = {"model": model.name, "board": args.board, **measure(tflite, args.board, work)}
        rows.append(row)
        roles = ", ".join(f"{k} {v:,}" for k, v in row["roles"].items())
        print(f"{model.name}: weights {row['weights_bytes']:,} B = {row['vs_int8_parameters']:.3f}x int8 params "
              f"{row['int8_parameter_bytes']:,} (+ int32 bias {row['int32_bias_bytes']:,}; over both "
              f"{row['over_floor_bytes']:,}); {roles}", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
