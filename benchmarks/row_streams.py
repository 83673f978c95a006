"""Row streams (tinyasc/compile/rowstream.py) on the DESIGN §7 shapes, measured in QEMU on the
Cortex-M4 twin (nrf52840): arena and the planner's lower bound with streams (depthwise in place,
depthwise + 1×1 fused per row) and without (`--no-fuse`'s op-at-a-time plan), TFLM's arena
(DESIGN §7, copied into tinyasc/report/reference_figures.py, not measured here), and instructions
per inference of both builds, each checked bit-exact against TFLM on its self-test vectors. Where
the planner picks a patch stage (compile/patches.py), the build without patches is measured too.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/row_streams.py     (~5 min; writes results/row_streams.json)
    PYTHONPATH=$PWD .venv/bin/python benchmarks/row_streams.py mobilenet_v1_025 resnet_se   (those models only)
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

from tinyasc.bench import SUITE
from tinyasc.compile.options import CompileOptions
from tinyasc.report.reference_figures import MLPERF_TINY_TFLM_CMSIS_NN

RESULTS = Path(__file__).parent / "results" / "row_streams.json"
BOARD = "nrf52840"
PATCH_GRID = re.compile(r"patch by patch \((\d+x\d+)\)")
MODELS = ("ds_cnn_kws", "resnet8", "mobilenet_v1_025", "streaming_ds_cnn", "fc_autoencoder")


def run(tflite: Path, work: Path, name: str, fuse: bool, patches: str = "auto") -> dict:
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    export = export_model(tflite, board_name=BOARD, out_root=work,
                          name=f"{name}_{'streams' if fuse else 'unfused'}_{patches}",
                          num_test_vectors=2, options=CompileOptions(fuse=fuse, patches=patches))
    build_firmware(export.export_dir)
    result = run_firmware(export.export_dir, timeout_s=600)
    plan = export.compiled.plan
    grids = [PATCH_GRID.search(s.summary) for s in export.compiled.steps]
    return {"arena_bytes": plan.arena_size, "lower_bound_bytes": plan.lower_bound, "bit_exact": result.passed,
            "instructions": result.instructions_per_inference,
            "patch_grid": next((g.group(1) for g in grids if g), None),  # compile/patches.py's choice
            "patch_ops": sum(g is not None for g in grids)}


def measure(model, work: Path) -> dict:
    tflite = model.make_tflite(work)
    streams, unfused = run(tflite, work, model.name, True), run(tflite, work, model.name, False)
    # Without patches: the same build, or, when the planner chose a patch stage, measured again.
    before = run(tflite, work, model.name, True, "never") if streams["patch_grid"] else streams
    tflm = MLPERF_TINY_TFLM_CMSIS_NN.get(model.name)
    tflm_arena = tflm.arena_bytes if tflm else None
    return {
        "model": model.name, **streams, "tflm_arena_bytes": tflm_arena,
        "ratio_to_tflm": round(streams["arena_bytes"] / tflm_arena, 3) if tflm_arena else None,
        "no_patches_arena_bytes": before["arena_bytes"], "no_patches_instructions": before["instructions"],
        "no_patches_bit_exact": before["bit_exact"],
        "unfused_arena_bytes": unfused["arena_bytes"], "unfused_lower_bound_bytes": unfused["lower_bound_bytes"],
        "unfused_instructions": unfused["instructions"], "unfused_bit_exact": unfused["bit_exact"],
        "instructions_vs_unfused": round(streams["instructions"] / unfused["instructions"], 3),
    }


def table(rows: list[dict]) -> str:
    header = (f"{'model':18} {'arena':>8} {'bound':>8} {'TFLM':>8} {'ratio':>6} {'unfused':>8} "
              f"{'insns':>11} {'vs unfused':>10} {'patches':>7} {'no-patch':>8} {'exact':>5}")
    lines = [header, "-" * len(header)]
    for r in rows:
        tflm = f"{r['tflm_arena_bytes']:>8,} {r['ratio_to_tflm']:>6.2f}" if r["tflm_arena_bytes"] else f"{'-':>8} {'-':>6}"
        exact = r["bit_exact"] and r["unfused_bit_exact"] and r["no_patches_bit_exact"]
        lines.append(f"{r['model']:18} {r['arena_bytes']:>8,} {r['lower_bound_bytes']:>8,} {tflm} "
                     f"{r['unfused_arena_bytes']:>8,} {r['instructions']:>11,} "
                     f"{r['instructions_vs_unfused']:>10.3f} {r['patch_grid'] or '-':>7} "
                     f"{r['no_patches_arena_bytes']:>8,} {str(exact):>5}")
    lines.append(f"bytes, {BOARD} (Cortex-M4 twin); ratio = arena / TFLM arena (DESIGN §7); unfused = op at a time; "
                 "patches = the first stages' patch grid (compile/patches.py), no-patch = the arena without")
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
    if set(sys.argv[1:]) & {"-h", "--help"} or set(sys.argv[1:]) - {m.name for m in SUITE}:
        print(__doc__.strip() + f"\n\nmodels (default: {', '.join(MODELS)}): {', '.join(m.name for m in SUITE)}")
        sys.exit(0 if set(sys.argv[1:]) & {"-h", "--help"} else 2)
    sys.exit(main(tuple(sys.argv[1:]) or MODELS))
