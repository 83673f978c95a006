"""Row streams (tinyasc/compile/rowstream.py) on the DESIGN §7 shapes, measured in QEMU on the
Cortex-M4 twin (nrf52840): arena and the planner's lower bound with streams (depthwise in place,
depthwise + 1×1 fused per row) and without (`--no-fuse`'s op-at-a-time plan), TFLM's arena
(DESIGN §7, copied into tinyasc/report/reference_figures.py, not measured here), and instructions
per inference of both builds, each checked bit-exact against TFLM on its self-test vectors.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/row_streams.py     (~5 min; writes results/row_streams.json)
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from tinyasc.bench import SUITE
from tinyasc.compile.options import CompileOptions
from tinyasc.report.reference_figures import MLPERF_TINY_TFLM_CMSIS_NN

RESULTS = Path(__file__).parent / "results" / "row_streams.json"
BOARD = "nrf52840"
MODELS = ("ds_cnn_kws", "resnet8", "mobilenet_v1_025", "streaming_ds_cnn", "fc_autoencoder")


def run(tflite: Path, work: Path, name: str, fuse: bool) -> dict:
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    export = export_model(tflite, board_name=BOARD, out_root=work, name=f"{name}_{'streams' if fuse else 'unfused'}",
                          num_test_vectors=2, options=CompileOptions(fuse=fuse))
    build_firmware(export.export_dir)
    result = run_firmware(export.export_dir, timeout_s=600)
    plan = export.compiled.plan
    return {"arena_bytes": plan.arena_size, "lower_bound_bytes": plan.lower_bound, "bit_exact": result.passed,
            "instructions": result.instructions_per_inference}


def measure(model, work: Path) -> dict:
    tflite = model.make_tflite(work)
    streams, unfused = run(tflite, work, model.name, True), run(tflite, work, model.name, False)
    tflm_arena = MLPERF_TINY_TFLM_CMSIS_NN[model.name].arena_bytes
    return {
        "model": model.name, **streams, "tflm_arena_bytes": tflm_arena,
        "ratio_to_tflm": round(streams["arena_bytes"] / tflm_arena, 3),
        "unfused_arena_bytes": unfused["arena_bytes"], "unfused_lower_bound_bytes": unfused["lower_bound_bytes"],
        "unfused_instructions": unfused["instructions"], "unfused_bit_exact": unfused["bit_exact"],
        "instructions_vs_unfused": round(streams["instructions"] / unfused["instructions"], 3),
    }


def table(rows: list[dict]) -> str:
    header = (f"{'model':18} {'arena':>8} {'bound':>8} {'TFLM':>8} {'ratio':>6} {'unfused':>8} "
              f"{'insns':>11} {'vs unfused':>10} {'exact':>5}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['model']:18} {r['arena_bytes']:>8,} {r['lower_bound_bytes']:>8,} {r['tflm_arena_bytes']:>8,} "
                     f"{r['ratio_to_tflm']:>6.2f} {r['unfused_arena_bytes']:>8,} {r['instructions']:>11,} "
                     f"{r['instructions_vs_unfused']:>10.3f} {str(r['bit_exact'] and r['unfused_bit_exact']):>5}")
    lines.append(f"bytes, {BOARD} (Cortex-M4 twin); ratio = arena / TFLM arena (DESIGN §7); unfused = op at a time")
    return "\n".join(lines)


def main(names=MODELS) -> int:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for model in SUITE:
            if model.name in names:
                rows.append(measure(model, Path(folder)))
                print(table(rows[-1:]), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"board": BOARD, "models": rows}, indent=2) + "\n")
    print(table(rows))
    print(f"written: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(tuple(sys.argv[1:]) or MODELS))
