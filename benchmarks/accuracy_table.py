"""The accuracy table of issue 17: model × float / int8 host / int8 QEMU / per level bucket /
instructions / arena, on espeak-ng spoken digits at 16 kHz.

    .venv/bin/python benchmarks/accuracy_table.py [--speakers-per-voice 5] [--takes 2] [--epochs-scale 1.0]
                                                  [--work /tmp/accuracy-table] [--configs configs/a.yaml ...]

Per config (default: configs/anchor-peak.yaml, the raw anchor with peak level normalisation, and
configs/kws-logmel.yaml): `train_run` on the set's train split (val carved by speaker, the test split's
speakers unseen), export for the nRF52840, build, then `evaluate_audio` (what `tinyasc emulate --audio
DATASET --split test` does): every test file's int16 PCM through the firmware's own front-end and
network in QEMU. Accuracy per level bucket (tinyasc/report/levels.py: the clip's RMS dBFS) for
float (Keras), int8 host (TFLM's interpreter on the run's device-front-end inputs) and int8 QEMU.
Writes benchmarks/results/accuracy_<config>.json per config and benchmarks/results/accuracy_table.md.

The set: `--speakers-per-voice` of espeak-ng's variants (m1, m2, m3, f1, f2, ...) for each of the 15
voices, `--takes` clips per speaker and digit; the default 75 speakers × 2 takes = 1,500 clips keeps
a run of both configs under ~25 minutes on two shared cores. The full set (`--data spoken-digits`) is
165 speakers × 2.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tinyasc.report.levels import LEVEL_BUCKETS, accuracy_by_level, level_line, rms_dbfs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_CONFIGS = ("configs/anchor-peak.yaml", "configs/kws-logmel.yaml")
VARIANT_ORDER = ("m1", "m2", "m3", "f1", "f2", "m4", "f3", "m5", "f4", "m6", "m7")
BOARD = "nrf52840"


def make_dataset(work: Path, speakers_per_voice: int, takes: int) -> Path:
    from tinyasc.data import spoken_digits as sd

    variants = VARIANT_ORDER[:speakers_per_voice]
    speakers = tuple(f"{voice}+{variant}" for voice in sd.ENGLISH_VOICES + sd.ACCENT_VOICES for variant in variants)
    folder = work / f"spoken-digits-16k-{len(speakers)}spk-{takes}takes"
    return sd.make_spoken_digits_dataset(folder, sample_rate=16000, duration_s=1.0, speakers=speakers, takes=takes,
                                         progress=True)


def float_and_host_predictions(run_dir: Path, config, test) -> tuple[np.ndarray, np.ndarray]:
    """Per test clip: the float Keras model's and TFLM's int8 predictions (whole clips, as the run scores)."""
    from tinyasc.artifacts.run import read_run
    from tinyasc.artifacts.tflm import tflm_interpreter
    from tinyasc.tf_env import import_tf
    from tinyasc.train.loop import BEST_MODEL_FILE
    from tinyasc.train.run import model_input

    _, keras = import_tf()
    model = keras.models.load_model(run_dir / BEST_MODEL_FILE, compile=False)
    input_fn, _ = model_input(config, test.x.shape[1])
    float_predicted = model.predict(input_fn(test.x), batch_size=64, verbose=0).argmax(axis=1)
    run = read_run(run_dir)
    interpreter = tflm_interpreter(run.tflite.read_bytes())
    shape = interpreter.get_input_details(0)["shape"]
    host = []
    for x in run.test_inputs:
        interpreter.set_input(x.reshape(shape), 0)
        interpreter.invoke()
        host.append(int(np.argmax(interpreter.get_output(0))))
    return float_predicted, np.array(host)


def qemu_predictions(run_dir: Path, csv_path: Path, out_root: Path):
    """Export for the nRF52840, build, and run the test split's files through QEMU from PCM."""
    from tinyasc.artifacts.run import read_run
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.audio_eval import evaluate_audio
    from tinyasc.firmware.build import build_firmware

    run = read_run(run_dir)
    exported = export_model(run.tflite, board_name=BOARD, out_root=out_root, name=run_dir.name,
                            labels=list(run.labels), test_inputs=run.test_inputs, audio=run.audio)
    build = build_firmware(exported.export_dir)
    evaluation = evaluate_audio(exported.export_dir, csv_path.parent, split="test", timeout_s=3600)
    return exported, build, evaluation


def run_config(config_path: str, csv_path: Path, work: Path, epochs_scale: float) -> dict:
    import soundfile as sf

    from tinyasc.config import load_config
    from tinyasc.data import load_csv_dataset
    from tinyasc.train.run import train_run

    config = load_config(ROOT / config_path)
    name = Path(config_path).stem
    epochs = max(1, round(config.training.epochs * epochs_scale))
    started = time.time()
    result = train_run(data=str(csv_path), run_dir=work / "runs" / name, config=config, epochs=epochs, progress=False)
    trained_s = time.time() - started
    dataset = load_csv_dataset(csv_path, sample_rate=16000, duration_s=1.0)
    test = dataset.subset("test")
    levels = rms_dbfs(test.x)
    float_predicted, host_predicted = float_and_host_predictions(work / "runs" / name, config, test)
    exported, build, evaluation = qemu_predictions(work / "runs" / name, csv_path, work / "export")
    qemu_levels = rms_dbfs(np.stack([sf.read(f.item.path, dtype="float32")[0] for f in evaluation.windows.files]))
    qemu_labels = np.array([f.item.label for f in evaluation.windows.files])
    export_figures = exported.manifest["export"]
    return {
        "config": config_path, "epochs": epochs, "train_seconds": round(trained_s),
        "train_clips": len(dataset.subset("train")), "val_clips": len(dataset.subset("val")), "test_clips": len(test),
        "float": {"accuracy": float(np.mean(float_predicted == test.y)),
                  "by_level": accuracy_by_level(float_predicted, test.y, levels)},
        "int8_host": {"accuracy": float(np.mean(host_predicted == test.y)),
                      "by_level": accuracy_by_level(host_predicted, test.y, levels)},
        "int8_qemu": {"accuracy": float(np.mean(evaluation.predicted == qemu_labels)),
                      "by_level": accuracy_by_level(evaluation.predicted, qemu_labels, qemu_levels),
                      "qemu_equals_host_build": bool(evaluation.host_equal.all())},
        "run_json": {key: result.get(key) for key in ("float_test_accuracy", "int8_test_metrics", "quantization",
                                                      "ptq_calibration", "qat_decision", "accuracy_by_level")},
        "frontend_instructions_per_window": round(evaluation.cost.frontend_instructions_per_window),
        "network_instructions_per_inference": round(evaluation.cost.network_instructions_per_inference),
        "real_time_factor_estimate": round(evaluation.cost.real_time_factor, 4),
        "arena_bytes": export_figures["arena_bytes"], "parameters": export_figures["parameters"],
        "flash_bytes": build.sizes.get("flash"), "ram_bytes": build.sizes.get("ram"),
        "board": BOARD,
    }


def markdown_table(rows: list[dict], dataset_note: str) -> str:
    buckets = [name for name, _, _ in LEVEL_BUCKETS]
    head = ("| model | float | int8 host | int8 QEMU | QEMU by level (" + " / ".join(buckets)
            + ") | front-end + network instructions per 1-s window | arena |")
    lines = [dataset_note, "", head, "|" + "---|" * 7]
    for row in rows:
        by_level = " / ".join(
            "-" if row["int8_qemu"]["by_level"][b]["accuracy"] is None else f"{row['int8_qemu']['by_level'][b]['accuracy']:.3f}"
            for b in buckets)
        lines.append(
            f"| {row['config']} | {row['float']['accuracy']:.3f} | {row['int8_host']['accuracy']:.3f} | "
            f"{row['int8_qemu']['accuracy']:.3f} | {by_level} | {row['frontend_instructions_per_window']:,} + "
            f"{row['network_instructions_per_inference']:,} | {row['arena_bytes']:,} B |")
    lines.append("")
    lines.append("Per level bucket, float / int8 host / int8 QEMU (clips):")
    for row in rows:
        for kind in ("float", "int8_host", "int8_qemu"):
            lines.append(f"- {row['config']} {kind}: {level_line(row[kind]['by_level'])}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speakers-per-voice", type=int, default=5)
    parser.add_argument("--takes", type=int, default=2)
    parser.add_argument("--epochs-scale", type=float, default=1.0, help="multiply each config's epochs (rounded, >= 1)")
    parser.add_argument("--work", default="/tmp/accuracy-table", help="dataset, runs and exports go here")
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS))
    args = parser.parse_args(argv)
    work = Path(args.work)
    csv_path = make_dataset(work, args.speakers_per_voice, args.takes)
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for config_path in args.configs:
        row = run_config(config_path, csv_path, work, args.epochs_scale)
        row["dataset"] = {"speakers_per_voice": args.speakers_per_voice, "takes": args.takes, "sample_rate": 16000}
        (RESULTS / f"accuracy_{Path(config_path).stem}.json").write_text(json.dumps(row, indent=2) + "\n")
        print(json.dumps({k: row[k] for k in ("config", "float", "int8_host", "int8_qemu")}, indent=1), flush=True)
        rows.append(row)
    note = (f"Spoken digits (espeak-ng, 16 kHz, 1 s), {args.speakers_per_voice} variants × 15 voices, {args.takes} takes; "
            f"test speakers unseen; {rows[0]['test_clips']} test clips; board {BOARD}; command: "
            f"benchmarks/accuracy_table.py --speakers-per-voice {args.speakers_per_voice} --takes {args.takes} "
            f"--epochs-scale {args.epochs_scale:g}")
    (RESULTS / "accuracy_table.md").write_text(markdown_table(rows, note))
    print(markdown_table(rows, note))


if __name__ == "__main__":
    main()
