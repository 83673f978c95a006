"""Per-layer instructions of the DESIGN §7 shapes on the Cortex-M4 twin (nrf52840), and each layer's
distance to the SMLAD floor (0.5 instructions per MAC: every instruction an SMLAD doing two MACs).

Row streams, row chains, patch stages and conv + pool fusion run several ops in one loop, so a
profile of the release build charges them all to the first op. This profile compiles the same
model op at a time (CompileOptions(fuse=False, row_chains="never", patches="never")), so each row
is one layer on its own kernel, and reports beside it the release build's total (default options)
to show what fusing costs or saves. Each op's count comes from SysTick at op boundaries in the
-DTINYASC_PROFILE build (tinyasc/emulate/profile.py); both builds pass their self-test bit-exact.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/layer_profile.py      (~4 min; DS-CNN and ResNet-8)
    PYTHONPATH=$PWD .venv/bin/python benchmarks/layer_profile.py mobilenet_v1_025 --out /tmp/p.json

Writes results/layer_profile.json and the same tables as results/layer_profile.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from tinyasc.bench import select_suite
from tinyasc.compile.options import CompileOptions
from tinyasc.emulate.profile import SMLAD_FLOOR

RESULTS = Path(__file__).parent / "results" / "layer_profile.json"
BOARD = "nrf52840"
OP_AT_A_TIME = CompileOptions(fuse=False, row_chains="never", patches="never")


def release_instructions(tflite: Path, work: Path, name: str, options: CompileOptions,
                         board: str = BOARD) -> tuple[int, Path]:
    """Export, build and self-test the release image; its instructions per inference and export folder."""
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    export = export_model(tflite, board_name=board, out_root=work, name=name, num_test_vectors=2, options=options)
    build_firmware(export.export_dir)
    result = run_firmware(export.export_dir, timeout_s=600)
    if not result.passed:
        raise SystemExit(f"{name}: the self-test failed in QEMU: {result.failure}")
    return result.instructions_per_inference, export.export_dir


def profile_model(model, work: Path, board: str = BOARD) -> dict:
    from tinyasc.emulate.profile import profile_firmware

    tflite = model.make_tflite(work)
    op_at_a_time, export_dir = release_instructions(tflite, work, f"{model.name}_op_at_a_time", OP_AT_A_TIME, board)
    profile = profile_firmware(export_dir, timeout_s=600)
    layers = [dict(row, floor_instructions=round(SMLAD_FLOOR * row["macs"]),
                   above_floor=row["instructions"] - round(SMLAD_FLOOR * row["macs"]))
              for row in profile["layers"]]
    return {
        "model": model.name,
        "board": board,
        "macs": sum(row["macs"] for row in layers),
        "layers": layers,
        "profiled_instructions": profile["instructions_profiled"],
        "op_at_a_time_instructions": op_at_a_time,
        "release_instructions": release_instructions(tflite, work, f"{model.name}_release", CompileOptions(), board)[0],
    }


def format_model(result: dict) -> str:
    above = sum(max(row["above_floor"], 0) for row in result["layers"]) or 1
    lines = [f"## {result['model']} ({result['board']} twin)", "",
             f"Op at a time: {result['op_at_a_time_instructions']:,} instructions (release build, "
             f"{result['op_at_a_time_instructions'] / result['macs']:.2f} insns/MAC); default options "
             f"(streams, chains, patches): {result['release_instructions']:,}; SMLAD floor "
             f"{round(SMLAD_FLOOR * result['macs']):,}. Per op from the profiling build "
             f"({result['profiled_instructions']:,} with its hooks).", "",
             "| op | kind | kernel | MACs | instructions | insns/MAC | × floor | above floor | share of the gap |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in result["layers"]:
        per_mac = row["instructions_per_mac"]
        times = f"{per_mac / SMLAD_FLOOR:.1f}" if per_mac is not None else "–"
        lines.append(f"| {row['op']} | {row['kind']} | {row['kernel'] or '(alias)'} | {row['macs']:,} | "
                     f"{row['instructions']:,} | {per_mac if per_mac is not None else '–'} | {times} | "
                     f"{row['above_floor']:,} | {100 * max(row['above_floor'], 0) / above:.1f} % |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", default=["ds_cnn_kws", "resnet8"], help="bench models (tinyasc/bench.py SUITE)")
    parser.add_argument("--board", default=BOARD, help="boards.yaml board whose twin runs the profile (cortex-m3: the M3)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the JSON; the .md is written beside it")
    args = parser.parse_args(argv)
    from tinyasc.artifacts.manifest import atomic_write_text

    results = []
    with tempfile.TemporaryDirectory(prefix="tinyasc-layers-") as tmp:
        for model in select_suite(args.models):
            results.append(profile_model(model, Path(tmp) / model.name, args.board))
            print(format_model(results[-1]) + "\n", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps({"floor_instructions_per_mac": SMLAD_FLOOR, "models": results}, indent=2) + "\n")
    atomic_write_text(args.out.with_suffix(".md"), "# Per-layer profile vs the SMLAD floor\n\nGenerated by "
                      "`python benchmarks/layer_profile.py`.\n\n" + "\n\n".join(map(format_model, results)) + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
