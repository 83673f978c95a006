"""Per-layer profile: instructions per op in QEMU, from a build with the per-op hook.

    profile_firmware(export_dir)   build the -DTINYASC_PROFILE variant (build/profile/), run it in
                                   QEMU, join each op's instructions with its kernel and MACs from
                                   the export, and store the table in the manifest's "profile"
    format_profile_table(profile)  the table as text, one row per op

The generated model.c calls tinyasc_profile_mark(i) after op i and the firmware's main.c records
SysTick there (one tick = 40 instructions on mps2, so each row is exact to ±1 tick). The hook adds
a few dozen instructions per op, which is why the profile's total is reported beside the release
image's count and never replaces it.
"""

from __future__ import annotations

from pathlib import Path

from tinyasc.emulate.qemu import DEFAULT_TIMEOUT_S, run_firmware
from tinyasc.errors import TinyascError
from tinyasc.artifacts.manifest import read_manifest, update_manifest

SMLAD_FLOOR = 0.5  # instructions per MAC when every instruction is an SMLAD (two MACs)


def _layer_rows(layers: list[dict], op_instructions: dict[int, int]) -> list[dict]:
    total = sum(op_instructions.values()) or 1
    rows = []
    for layer in layers:
        instructions = op_instructions.get(layer["op"], 0)
        macs = layer["macs"]
        rows.append({
            "op": layer["op"],
            "kind": layer["kind"],
            "kernel": layer["kernel"],
            "macs": macs,
            "instructions": instructions,
            "instructions_per_mac": round(instructions / macs, 3) if macs else None,
            "share": round(instructions / total, 4),
        })
    return rows


def profile_firmware(export_dir, timeout_s: float = DEFAULT_TIMEOUT_S) -> dict:
    """Build and run the profiling variant; returns (and stores) the "profile" manifest section."""
    from tinyasc.firmware.build import build_firmware

    export_dir = Path(export_dir).resolve()
    layers = read_manifest(export_dir).get("export", {}).get("layers")
    if not layers:
        raise TinyascError(f"{export_dir}/manifest.json has no export layers; re-run `tinyasc export`.")
    build_firmware(export_dir, profile=True)
    result = run_firmware(export_dir, timeout_s=timeout_s, profile=True)
    if not result.passed:
        raise TinyascError(f"the profiling build failed its self-test: {result.failure}")
    rows = _layer_rows(layers, result.op_instructions)
    profile = {
        "layers": rows,
        "instructions_profiled": sum(row["instructions"] for row in rows),
        "instructions_per_inference_with_hooks": result.instructions_per_inference,
        "method": "SysTick at each op boundary (tinyasc_profile_mark), last self-test vector, "
                  "build with -DTINYASC_PROFILE; resolution one tick per op",
    }
    update_manifest(export_dir, "profile", profile)
    return profile


def format_profile_table(profile: dict) -> str:
    header = f"{'op':>3}  {'kind':<16} {'kernel':<24} {'MACs':>10} {'instructions':>13} {'insns/MAC':>9} {'share':>6}"
    lines = [header, "-" * len(header)]
    for row in profile["layers"]:
        per_mac = f"{row['instructions_per_mac']:.2f}" if row["instructions_per_mac"] is not None else "-"
        lines.append(
            f"{row['op']:>3}  {row['kind']:<16} {row['kernel'] or '(alias)':<24} {row['macs']:>10,} "
            f"{row['instructions']:>13,} {per_mac:>9} {100 * row['share']:>5.1f}%"
        )
    total_macs = sum(row["macs"] for row in profile["layers"])
    total = profile["instructions_profiled"]
    lines.append("-" * len(header))
    lines.append(f"{'':>3}  {'total':<16} {'':<24} {total_macs:>10,} {total:>13,} {total / max(total_macs, 1):>9.2f} 100.0%")
    return "\n".join(lines)
