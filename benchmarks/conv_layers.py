"""General convolutions, residual ADDs and SE MULs on the core twins: per-layer and whole-model figures.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/conv_layers.py [--boards nrf52840] [--models resnet8 ...] [--out FILE]

For the bench's ResNet-8, ResNet-SE (log-mel), WSNet S8C4D2 mini, the anchor, KWS DS-CNN and
MobileNetV1 0.25 (tinyasc/bench.py SUITE: seeded random weights, as `tinyasc bench`): export,
build, run the self-test in QEMU (-icount; bit-exact with TFLM) and the profiling build. Prints,
per model and board, instructions per inference and per MAC, the ratio to DESIGN §7's TFLM +
CMSIS-NN figures (M4 only), flash (code + weights), and every layer's kernel and instructions
(per MAC for MAC layers, per output element for ADD / MUL).

results/conv_layers_before.json: ResNet-8, ResNet-SE, WSNet mini and the anchor on the nRF52840 at
3d52f1a (before the im2col conv and fast ADD/MUL kernels); results/conv_layers_after.json: the six
models at the commit that wrote it (--out).
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

from tinyasc.bench import select_suite  # noqa: E402

MODELS = ("resnet8", "resnet_se", "wsnet_s8c4d2", "anchor_cnn", "ds_cnn_kws", "mobilenet_v1_025")


def measure(model, tflite: Path, board_name: str, work: Path) -> dict:
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.profile import profile_firmware
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    export = export_model(tflite, board_name=board_name, out_root=work, name=f"{model.name}_{board_name}",
                          num_test_vectors=2)
    sizes = build_firmware(export.export_dir).sizes
    result = run_firmware(export.export_dir, timeout_s=900)
    profile = profile_firmware(export.export_dir, timeout_s=900)
    steps = {step.index: step for step in export.compiled.steps}
    layers = []
    for row in profile["layers"]:
        step = steps.get(row["op"])
        if row["instructions"] and step is not None:
            layers.append(dict(row, summary=step.summary))
    macs = export.compiled.macs
    tflm = next((f for f in model.tflm if board_name == "nrf52840" and f.cpu == "cortex-m4"), None)
    return {
        "model": model.name, "board": board_name, "bit_exact": result.passed, "macs": macs,
        "instructions": result.instructions_per_inference,
        "instructions_per_mac": round(result.instructions_per_inference / macs, 3),
        "vs_tflm_cmsis_nn": round(result.instructions_per_inference / tflm.instructions, 3) if tflm else None,
        "code_bytes": sizes["code_bytes"], "weights_bytes": sizes["weights_bytes"],
        "code_plus_weights": sizes["code_bytes"] + sizes["weights_bytes"], "arena_bytes": sizes["arena_bytes"],
        "layers": layers,
    }


def format_rows(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        ratio = f"{r['vs_tflm_cmsis_nn']:.2f}x" if r["vs_tflm_cmsis_nn"] else "-"
        lines.append(f"{r['model']:<16} {r['board']:<10} exact={r['bit_exact']} MACs={r['macs']:,} "
                     f"insns={r['instructions']:,} ({r['instructions_per_mac']:.2f}/MAC, {ratio} TFLM+CMSIS-NN) "
                     f"code+weights={r['code_plus_weights']:,} (code {r['code_bytes']:,}, weights {r['weights_bytes']:,}) "
                     f"arena={r['arena_bytes']:,}")
        for layer in r["layers"]:
            per_mac = f"{layer['instructions_per_mac']:.2f}/MAC" if layer["instructions_per_mac"] else ""
            lines.append(f"    op {layer['op']:>3} {layer['kind']:<17} {layer['kernel'] or '-':<30} "
                         f"MACs {layer['macs']:>10,} insns {layer['instructions']:>11,} {per_mac:>10} {layer['summary']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--boards", nargs="+", default=["nrf52840"])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="tinyasc-conv-") as work_dir:
        for model in select_suite(args.models):
            tflite = model.make_tflite(Path(work_dir))
            for board in args.boards:
                rows.append(measure(model, tflite, board, Path(work_dir) / "export"))
                print(format_rows(rows[-1:]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
