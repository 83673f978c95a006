"""Depthwise layers on the core twins: per-layer instructions per MAC and whole-model counts.

    PYTHONPATH=. .venv/bin/python benchmarks/depthwise_layers.py [--unfused] [--boards B ...] [out.json]

(~5 min on 2 cores). Row streams (compile/rowstream.py) fuse a depthwise conv with the 1x1 conv
after it, so the profile charges both to the depthwise op; --unfused compiles without fusion
(CompileOptions(fuse=False)) so each depthwise layer is measured alone (whole-model figures are
then those of the unfused build).

For the bench's DS-CNN, MobileNetV1 0.25 and streaming wake-word DS-CNN (tinyasc/bench.py SUITE:
same shapes as DESIGN §7, seeded random weights) on the nRF52840 (Cortex-M4 twin) and a Cortex-M3:
export, build, run the self-test in QEMU (bit-exact with TFLM, whole-model instructions), then the
profiling build (instructions per op). Prints each DEPTHWISE_CONV_2D layer and the model total with
the ratio to TFLM + CMSIS-NN (DESIGN §7, tinyasc/report/reference_figures.py; Cortex-M4 only).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS = ("ds_cnn_kws", "mobilenet_v1_025", "streaming_ds_cnn")
BOARDS = ("nrf52840", "cortex-m3")


def measure(model, tflite: Path, board: str, work: Path, fuse: bool = True) -> dict:
    from tinyasc.compile.export import export_model
    from tinyasc.compile.options import CompileOptions
    from tinyasc.emulate.profile import profile_firmware
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    export = export_model(tflite, board_name=board, out_root=work, name=f"{model.name}_{board}", num_test_vectors=2,
                          options=CompileOptions(fuse=fuse))
    build_firmware(export.export_dir)
    release = run_firmware(export.export_dir, timeout_s=600)
    profile = profile_firmware(export.export_dir, timeout_s=600)
    depthwise = [row for row in profile["layers"] if row["kind"] == "DEPTHWISE_CONV_2D"]
    macs = export.compiled.macs
    tflm = next((f for f in model.tflm if board == "nrf52840" and f.cpu == "cortex-m4"), None)
    return {
        "model": model.name, "board": board, "bit_exact": release.passed, "macs": macs,
        "instructions": release.instructions_per_inference,
        "instructions_per_mac": round(release.instructions_per_inference / macs, 3),
        "vs_tflm_cmsis_nn": round(release.instructions_per_inference / tflm.instructions, 3) if tflm else None,
        "depthwise": depthwise,
        "depthwise_share": round(sum(row["share"] for row in depthwise), 4),
    }


def format_rows(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        ratio = f"{r['vs_tflm_cmsis_nn']:.2f}x TFLM+CMSIS-NN" if r["vs_tflm_cmsis_nn"] else "no TFLM figure"
        lines.append(f"{r['model']} on {r['board']}: {'bit-exact' if r['bit_exact'] else 'NOT BIT-EXACT'}, "
                     f"{r['instructions']:,} insns, {r['instructions_per_mac']:.2f} insns/MAC, {ratio}; "
                     f"depthwise {100 * r['depthwise_share']:.1f} % of the time")
        for d in r["depthwise"]:
            lines.append(f"    op {d['op']:>2} {d['kernel']:<28} {d['macs']:>9,} MACs {d['instructions']:>11,} insns "
                         f"{d['instructions_per_mac']:>6.2f} insns/MAC")
    return "\n".join(lines)


def main(out: Path | None, boards=BOARDS, models=MODELS, fuse: bool = True) -> None:
    from tinyasc.bench import select_suite

    rows = []
    with tempfile.TemporaryDirectory(prefix="tinyasc-dw-") as work:
        for model in select_suite(models):
            tflite = model.make_tflite(Path(work))
            for board in boards:
                rows.append(measure(model, tflite, board, Path(work) / "export", fuse))
                print(format_rows(rows[-1:]), flush=True)
    if out:
        out.write_text(json.dumps({"rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("--unfused", action="store_true", help="no row-stream fusion: depthwise layers alone")
    parser.add_argument("--boards", nargs="+", default=list(BOARDS))
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args()
    main(args.out, args.boards, args.models, fuse=not args.unfused)
