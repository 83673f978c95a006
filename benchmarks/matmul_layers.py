"""Fully connected and 1x1 (pointwise) layers on the core twins: per-layer and whole-model figures.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/matmul_layers.py [--boards nrf52840 cortex-m3] [--out FILE]

(~10 min on 2 cores.) results/matmul_layers_before.json is commit d5855b4 (before the DSP fully
connected and 1x1 kernels), results/matmul_layers_after.json the DSP and portable FC kernels and the DSP 1x1 kernel as committed (7b85034).

For the FC autoencoder, the KWS DS-CNN (its 1x1 convs), ResNet-8 (its 1x1 shortcuts) and the
anchor: export (seeded random weights, as `tinyasc bench`), build, run in QEMU (-icount) and run
the profiling build. Prints and writes, per model and board: instructions per inference and per
MAC, the ratio to DESIGN §7's TFLM + CMSIS-NN figures (tinyasc/report/reference_figures.py, M4
only), flash (code + weights), and each FULLY_CONNECTED / 1x1 CONV_2D layer's kernel and
instructions per MAC.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tinyasc.bench import SUITE, BenchModel  # noqa: E402
from tinyasc.report.reference_figures import ANCHOR_TFLM_CMSIS_NN, MLPERF_TINY_TFLM_CMSIS_NN  # noqa: E402


def models() -> list[BenchModel]:
    """The suite's rows of the shapes measured here (same seeds, so the same weights as `tinyasc bench`)."""
    listed = {model.name: model for model in SUITE}
    return [listed[name] for name in ("fc_autoencoder", "ds_cnn_kws", "resnet8", "anchor_cnn")]


def _tflm(name: str):
    return ANCHOR_TFLM_CMSIS_NN if name == "anchor_cnn" else MLPERF_TINY_TFLM_CMSIS_NN.get(name)


def _is_matmul_layer(step, layer: dict) -> bool:
    """FULLY_CONNECTED, or a CONV_2D with a 1x1 filter (its summary starts "1x1x<depth>")."""
    return layer["kind"] == "FULLY_CONNECTED" or (layer["kind"] == "CONV_2D" and step.summary.startswith("1x1x"))


def measure(model: BenchModel, tflite: Path, board_name: str, work: Path) -> dict:
    from tinyasc.artifacts.boards import get_board
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.profile import profile_firmware
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    export = export_model(tflite, board_name=board_name, out_root=work, name=f"{model.name}_{board_name}",
                          num_test_vectors=2)
    sizes = build_firmware(export.export_dir).sizes
    result = run_firmware(export.export_dir)
    profile = profile_firmware(export.export_dir)
    steps = {step.index: step for step in export.compiled.steps}
    layers = [dict(row) for row in profile["layers"]
              if row["macs"] and _is_matmul_layer(steps.get(row["op"]), row)]
    macs = export.compiled.macs
    tflm = _tflm(model.name) if get_board(board_name).cpu == "cortex-m4" else None
    return {
        "model": model.name, "board": board_name, "bit_exact": result.passed, "macs": macs,
        "instructions": result.instructions_per_inference,
        "instructions_per_mac": round(result.instructions_per_inference / macs, 3),
        "vs_tflm_cmsis_nn": round(result.instructions_per_inference / tflm.instructions, 3) if tflm else None,
        "code_bytes": sizes["code_bytes"], "weights_bytes": sizes["weights_bytes"],
        "code_plus_weights": sizes["code_bytes"] + sizes["weights_bytes"],
        "arena_bytes": sizes["arena_bytes"], "ram_bytes": sizes["ram"],
        "layers": layers,
    }


def format_rows(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        ratio = f"{r['vs_tflm_cmsis_nn']:.2f}x" if r["vs_tflm_cmsis_nn"] else "-"
        lines.append(f"{r['model']:<15} {r['board']:<10} exact={r['bit_exact']} MACs={r['macs']:,} "
                     f"insns={r['instructions']:,} ({r['instructions_per_mac']:.2f}/MAC, {ratio} TFLM+CMSIS-NN) "
                     f"code+weights={r['code_plus_weights']:,} (code {r['code_bytes']:,}, weights {r['weights_bytes']:,}) "
                     f"arena={r.get('arena_bytes', 0):,}")
        for layer in r["layers"]:
            lines.append(f"    op {layer['op']:>3} {layer['kind']:<16} {layer['kernel']:<28} MACs {layer['macs']:>9,} "
                         f"insns {layer['instructions']:>10,} {layer['instructions_per_mac']:.2f}/MAC")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--boards", nargs="+", default=["nrf52840", "cortex-m3"])
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="tinyasc-matmul-") as work_dir:
        for model in models():
            if args.models and model.name not in args.models:
                continue
            tflite = model.make_tflite(Path(work_dir))
            for board in args.boards:
                rows.append(measure(model, tflite, board, Path(work_dir) / "export"))
                print(format_rows(rows[-1:]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
