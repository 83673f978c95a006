"""The fixed-point log-mel front-end on the Cortex-M4 twin, measured like DESIGN §9 (issue 16).

Setting: 16 kHz, 512-sample Hann window, 512-point FFT, 40 Slaney mel bands 20-8000 Hz, 10-ms hop
(100 frames per second of audio). Images are built with the firmware's own flags (-O2) for
mps2-an386 and run with `-icount shift=0`; instructions = SysTick ticks x 40, exact to one tick.
Per-stage counts come from images that stop after each stage (differences of cumulative runs);
mel and log are told apart by an image that runs the mel sums without their logs. Every full
image passes its bit-exact self-test against the numpy twin.

    PYTHONPATH=. .venv/bin/python benchmarks/frontend.py

Writes benchmarks/results/frontend.json: instructions per frame (per stage, and min/max over
the test frames), per second of audio, RAM (scratch + stack), flash of the tables and of the
code (arm-none-eabi-size of the objects), and the twin's error against float64 per input level.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tinyasc.emulate.frontend_runner import MEL_SUMS_ONLY, STAGES, write_frontend_export, write_frontend_sources  # noqa: E402
from tinyasc.frontend.fixed_point import logmel_frames_q10  # noqa: E402
from tinyasc.frontend.fixed_point_tables import frontend_tables  # noqa: E402
from tinyasc.frontend.logmel import LogMelSettings  # noqa: E402
from tinyasc.frontend.probe_signals import SIGNAL_KINDS, edge_signals, error_above_floor, probe_signals, quantization_floor  # noqa: E402

SETTINGS = LogMelSettings(sample_rate=16000, n_mels=40, window_s=0.032, hop_s=0.010, n_fft=512, fmin=20, fmax=8000)
BOARD = "cortex-m4"
CMSIS_MFCC_Q15_PER_SECOND = 6.40e6  # DESIGN §9
LEVELS_DBFS = (-60, -40, -20, 0)


def benchmark_windows(settings: LogMelSettings) -> np.ndarray:
    """First: noise at -20 dBFS (the reported frame); then the other kinds and edge cases."""
    probes = probe_signals(settings, -20, count=2, seed=11)
    rows = [probes["noise"][:1]] + [probes[kind][:1] for kind in SIGNAL_KINDS if kind != "noise"]
    rows += [probe_signals(settings, 0, count=1, seed=12)["speech"], probe_signals(settings, -40, count=1, seed=13)["tone"]]
    rows += [edge_signals(settings)[kind] for kind in ("silence", "square_nyquist", "dc_negative")]
    return np.concatenate(rows)


def run_image(work: Path, name: str, windows: np.ndarray, stages: int | None):
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    export = write_frontend_export(work / name, SETTINGS, windows, board=BOARD, stages=stages)
    build_firmware(export)
    result = run_firmware(export)
    if stages is None and not result.passed:
        raise SystemExit(f"the front-end in QEMU differs from the twin:\n{result.failure}\n{result.log[-2000:]}")
    return result


def stage_instructions(work: Path, windows: np.ndarray) -> dict:
    first = windows[:1]
    cumulative = {k: run_image(work, f"stage{k}", first, k).instructions_per_inference for k in range(1, 4)}
    mel_sums = run_image(work, "mel_sums", first, MEL_SUMS_ONLY).instructions_per_inference
    full = run_image(work, "full", windows, None)
    staged_total = run_image(work, "stage4", first, 4).instructions_per_inference
    return {
        "stages": {
            "block exponent + window + first radix-4 stage (one pass)": cumulative[1],
            "FFT: the other 3 radix-4 stages (256-point complex)": cumulative[2] - cumulative[1],
            "split + magnitude (integer sqrt)": cumulative[3] - cumulative[2],
            "mel (sparse triangles)": mel_sums - cumulative[3],
            "log (40 bands)": staged_total - mel_sums,
        },
        "stage_images_total": staged_total,
        "frame": full.instructions_per_inference,
        "frame_min": full.instructions_min,
        "frame_max": full.instructions_max,
        "stack_used_bytes": full.stack_used,
        "self_test_vectors": full.vectors,
        "self_test_passed": full.passed,
    }


def object_sizes(work: Path) -> dict:
    """.text / .rodata of the kernel and the tables, compiled with the firmware's flags."""
    from tinyasc.firmware.boards import get_board
    from tinyasc.firmware.build import compile_flags

    folder = work / "objects"
    sources = write_frontend_sources(folder, SETTINGS)
    sizes = {}
    for name in ("tas_logmel_s16.c", "tas_logmel_tables.c"):
        obj = folder / (name[:-2] + ".o")
        subprocess.run(["arm-none-eabi-gcc", *compile_flags(get_board(BOARD)), "-I", str(folder), "-c",
                        str(sources[name]), "-o", str(obj)], check=True)
        out = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], capture_output=True, text=True, check=True).stdout
        sections = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith((".text", ".rodata", ".data", ".bss")) and parts[1].isdigit():
                key = parts[0].split(".")[1]
                sections[key] = sections.get(key, 0) + int(parts[1])
        sizes[name] = sections
    return sizes


def error_table() -> dict:
    floor = quantization_floor(SETTINGS)
    table = {}
    for level in LEVELS_DBFS:
        row = {}
        for kind, windows in probe_signals(SETTINGS, level, count=16, seed=abs(level) + 1).items():
            above, every = error_above_floor(logmel_frames_q10(windows, SETTINGS), windows, SETTINGS, floor)
            row[kind] = {"above_floor": round(above, 5), "all_bands": round(every, 5)}
        table[f"{level} dBFS"] = row
    return table


OTHER_SETTINGS = {
    "8 kHz, 256-pt, 40 bands": LogMelSettings(sample_rate=8000, n_mels=40, window_s=0.032, hop_s=0.010, n_fft=256),
    "44.1 kHz, 30 ms, 2048-pt, 128 bands": LogMelSettings(sample_rate=44100, n_mels=128, n_fft=2048),
    "44.1 kHz IDLab preset, 4096-pt, 128 bands": LogMelSettings(sample_rate=44100),
}


def other_shapes(work: Path) -> dict:
    """Whole-frame counts for the other rates on the M4 twin and for 16 kHz on the M3 and M0 twins."""
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    runs = [(name, settings, BOARD) for name, settings in OTHER_SETTINGS.items()]
    runs += [("16 kHz (as above)", SETTINGS, board) for board in ("cortex-m3", "microbit-v1")]
    rows = []
    for index, (name, settings, board) in enumerate(runs):
        windows = np.concatenate([probe_signals(settings, -20, count=1, seed=21)["noise"], edge_signals(settings)["silence"]])
        export = write_frontend_export(work / f"other{index}", settings, windows, board=board)
        build_firmware(export)
        result = run_firmware(export, timeout_s=600)
        per_second = result.instructions_per_inference * settings.sample_rate / settings.hop_length
        rows.append({"setting": name, "board": board, "bit_exact": result.passed,
                     "instructions_per_frame": result.instructions_per_inference,
                     "instructions_per_second_of_audio": per_second,
                     "table_bytes": sum(frontend_tables(settings).table_bytes().values()),
                     "scratch_bytes": 4 * frontend_tables(settings).scratch_words})
    return rows


def distance_to_librosa() -> dict:
    """Twin vs tinyasc's own librosa log_mel (float32) on 1-s clips: the feature the network sees."""
    from tinyasc.frontend.fixed_point import log_mel_fixed
    from tinyasc.frontend.logmel import log_mel

    rng = np.random.default_rng(5)
    t = np.arange(16000) / 16000
    clips = {"chirp": 0.5 * np.sin(2 * np.pi * (100 * t + 3000 * t**2)),
             "noise": np.clip(rng.normal(0, 0.1, 16000), -1, 1),
             "speech-like -30 dBFS": 0.03 * np.sin(2 * np.pi * 150 * t) * np.sin(2 * np.pi * 3 * t) ** 2}
    out = {}
    for name, clip in clips.items():
        pcm = np.clip(np.round(clip * 32768), -32768, 32767).astype(np.int16)
        fixed = log_mel_fixed(pcm, SETTINGS)[0]
        librosa_features = log_mel(pcm.astype(np.float32) / 32768, SETTINGS)[0]
        above = librosa_features >= quantization_floor(SETTINGS) + 1.0
        error = np.abs(fixed - librosa_features)
        out[name] = {"above_floor": round(float(error[above].max()), 5), "all_bands": round(float(error.max()), 5)}
    return out


def main() -> int:
    windows = benchmark_windows(SETTINGS)
    tables = frontend_tables(SETTINGS)
    frames_per_second = SETTINGS.sample_rate / SETTINGS.hop_length
    with tempfile.TemporaryDirectory() as work:
        counts = stage_instructions(Path(work), windows)
        sizes = object_sizes(Path(work))
        others = other_shapes(Path(work))
    per_second = counts["frame"] * frames_per_second
    result = {
        "setting": {"sample_rate": 16000, "window_length": 512, "n_fft": 512, "n_mels": 40, "fmin": 20, "fmax": 8000,
                    "hop_length": 160, "frames_per_second": frames_per_second},
        "board": BOARD, "machine": "mps2-an386", "count_method": "SysTick ticks x 40 under -icount shift=0",
        "instructions": counts,
        "instructions_per_second_of_audio": per_second,
        "ratio_to_cmsis_mfcc_q15": per_second / CMSIS_MFCC_Q15_PER_SECOND,
        "ram_bytes": {"scratch": 4 * tables.scratch_words, "static": 0,
                      "stack_high_water_of_the_self_test": counts["stack_used_bytes"]},
        "flash_bytes": {"tables_by_kind": tables.table_bytes(), "tables_total": sum(tables.table_bytes().values()),
                        "objects": sizes},
        "error_vs_float64": error_table(),
        "error_vs_librosa_log_mel_float32": distance_to_librosa(),
        "other_shapes": others,
        "stage_names": list(STAGES),
    }
    out = REPO / "benchmarks" / "results" / "frontend.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"frame: {counts['frame']:,} instructions (min {counts['frame_min']:,}, max {counts['frame_max']:,}); "
          f"{per_second / 1e6:.2f} M per second of audio ({per_second / CMSIS_MFCC_Q15_PER_SECOND:.2f}x arm_mfcc_q15)")
    for stage, count in counts["stages"].items():
        print(f"  {stage:58} {count:7,} ({count * frames_per_second / 1e6:.2f} M/s)")
    print(f"RAM: scratch {4 * tables.scratch_words} B, stack high-water {counts['stack_used_bytes']} B; "
          f"tables {sum(tables.table_bytes().values())} B; objects {sizes}")
    for row in others:
        print(f"  {row['setting']:42} {row['board']:12} {row['instructions_per_frame']:9,} per frame "
              f"{row['instructions_per_second_of_audio'] / 1e6:6.2f} M/s  tables {row['table_bytes']:6,} B  "
              f"scratch {row['scratch_bytes']:5,} B  bit-exact {row['bit_exact']}")
    print(f"vs librosa float32 log_mel (above floor / all): {result['error_vs_librosa_log_mel_float32']}")
    for level, row in result["error_vs_float64"].items():
        print(f"  {level:9} " + "  ".join(f"{k} {v['above_floor']:.4f}/{v['all_bands']:.4f}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
