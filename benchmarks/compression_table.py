"""Float vs PTQ int8 vs QAT int8, and calibration, for the paper models on the synthetic data.

    .venv/bin/python benchmarks/compression_table.py [--models anchor_cnn,pajusco_a] [--board nrf52840]
                                                     [--qemu-clips N]

Per model: `train_run` (quantization.mode: qat, calibration: multinomial) on the built-in synthetic
set with short clips, then both int8 models (PTQ and QAT, of the same calibrated float model) go
through `export_model`, the sanitizer host build and the QEMU firmware in eval mode (as
tinyasc/demo.py does). Accuracy and log loss (softmax of the dequantized int8 outputs) on the test
split, on the host and in QEMU, plus the calibration log loss before/after (float, test split).
Writes benchmarks/results/compression.json (rewritten after each model, so a partial run keeps
what it measured).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "compression.json"
CLIPS_PER_CLASS = 40
QAT = {"mode": "qat", "qat_epochs": 3, "learning_rate": 1e-4}
# Short clips so that every model trains in minutes on 2 cores. IDLab's ResNet-SE takes 0.25 s of
# 128-band log-mel (23 frames) with mean pooling (TFLM has no int8 SQRT for statistics pooling);
# the Pajusco nets take 1 s of mono 16-kHz audio instead of 10 s of 18-kHz binaural.
RECIPES = {
    "anchor_cnn": {
        "model": {"name": "anchor_cnn"},
        "data": {"sample_rate": 16000, "duration_s": 1.0, "channels": 1},
        "training": {"epochs": 12, "batch_size": 32, "learning_rate": {"max": 3e-3}},
    },
    "pajusco_a": {
        "model": {"name": "pajusco_a"},
        "data": {"sample_rate": 16000, "duration_s": 1.0, "channels": 1},
        "training": {"epochs": 15, "batch_size": 32, "learning_rate": {"max": 3e-3}},
    },
    "pajusco_b": {
        "model": {"name": "pajusco_b"},
        "data": {"sample_rate": 16000, "duration_s": 1.0, "channels": 1},
        "training": {"epochs": 15, "batch_size": 32, "learning_rate": {"max": 3e-3}},
    },
    "idlab_resnet_se": {
        "model": {"name": "idlab_resnet_se", "kwargs": {"pooling": "mean"}},
        "data": {"sample_rate": 16000, "duration_s": 0.25, "channels": 1},
        "features": {"kind": "logmel", "preset": "idlab-16k"},
        "training": {"epochs": 10, "batch_size": 32, "learning_rate": {"max": 1e-3}},
    },
}


def log_loss_and_accuracy(int8_outputs: np.ndarray, scale: float, zero_point: int, labels: np.ndarray) -> dict:
    from tinyasc.artifacts.tflm import dequantize
    from tinyasc.report.metrics import recording_metrics

    logits = dequantize(int8_outputs, scale, zero_point)
    metrics = recording_metrics(logits, labels, logits.shape[1])
    return {"accuracy": metrics.accuracy, "log_loss": metrics.log_loss}


def device_figures(tflite: Path, test_waveforms: np.ndarray, labels: np.ndarray, input_fn, board: str,
                   export_root: Path, name: str, qemu_clips: int) -> dict:
    """Export, host build (ASan + UBSan) and QEMU eval of one int8 model on the test split."""
    from tinyasc.compile.export import export_model
    from tinyasc.compile.host import run_host
    from tinyasc.artifacts.tflm import quantize_input, tflite_io_details
    from tinyasc.emulate.qemu import run_batch_in_qemu, run_firmware
    from tinyasc.firmware.build import build_firmware
    from tinyasc.compile.verify import host_runner, verify_on_host

    io = tflite_io_details(tflite)
    inputs = quantize_input(input_fn(test_waveforms), io["input"].scale, io["input"].zero_point)
    inputs = inputs.reshape(len(test_waveforms), -1)
    exported = export_model(tflite, board_name=board, out_root=export_root, name=name, test_inputs=inputs,
                            num_test_vectors=2)
    export_dir = exported.export_dir
    check = verify_on_host(export_dir, num_random=20)
    output_size = int(np.prod(io["output"].shape))
    host_outputs = run_host(host_runner(export_dir), inputs, output_size)
    built = build_firmware(export_dir)
    emulated = run_firmware(export_dir)
    started = time.monotonic()
    qemu_outputs = run_batch_in_qemu(export_dir, inputs[:qemu_clips])
    out = io["output"]
    return {
        "tflite_bytes": tflite.stat().st_size,
        "flash_bytes": built.sizes["flash"] - built.sizes.get("test_vector_bytes", 0),
        "arena_bytes": exported.manifest["export"]["arena_bytes"],
        "instructions_per_inference": emulated.instructions_per_inference,
        "bit_exact_vs_tflm": f"{check['bit_exact']}/{check['inputs']}",
        "host": log_loss_and_accuracy(host_outputs, out.scale, out.zero_point, labels),
        "qemu": {
            **log_loss_and_accuracy(qemu_outputs, out.scale, out.zero_point, labels[:qemu_clips]),
            "clips": len(qemu_outputs),
            "equals_host": bool(np.array_equal(qemu_outputs, host_outputs[:qemu_clips])),
            "seconds": round(time.monotonic() - started, 1),
        },
    }


def measure(model_name: str, work: Path, board: str, qemu_clips: int) -> dict:
    from tinyasc.config import config_from_dict
    from tinyasc.train.run import model_input, resolve_dataset, train_run

    config = config_from_dict({**RECIPES[model_name], "quantization": QAT, "calibration": {"kind": "multinomial"}},
                              source=f"compression_table:{model_name}")
    run_dir = work / "runs" / model_name
    started = time.monotonic()
    run = train_run("synthetic", run_dir=run_dir, config=config, progress=False, work_dir=work,
                    clips_per_class=CLIPS_PER_CLASS)
    train_seconds = time.monotonic() - started
    dataset = resolve_dataset("synthetic", work, run_dir, CLIPS_PER_CLASS, config.data.sample_rate,
                              config.data.duration_s)
    test = dataset.subset("test")
    input_fn, _ = model_input(config, dataset.num_samples)
    qemu_clips = min(qemu_clips, len(test))
    row = {
        "model": model_name,
        "parameters": run["parameters"],
        "test_clips": len(test),
        "train_seconds_incl_qat": round(train_seconds, 1),
        "float": {k: run["float_test_metrics"][k] for k in ("accuracy", "log_loss")},
        "calibration": run["calibration"],
        "tflm": {"ptq": run["ptq_test_metrics"], "qat": run["qat_test_metrics"]},
    }
    for kind, tflite in (("ptq", run_dir / run["ptq_tflite"]), ("qat", Path(run["tflite"]))):
        row[kind] = device_figures(tflite, test.x, test.y, input_fn, board, work / "export", f"{model_name}_{kind}",
                                   qemu_clips)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(RECIPES))
    parser.add_argument("--board", default="nrf52840")
    parser.add_argument("--qemu-clips", type=int, default=1000, help="test clips run in QEMU (default: all)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args(argv)
    results = {"board": args.board, "clips_per_class": CLIPS_PER_CLASS, "qat": QAT, "models": []}
    if RESULTS.is_file():  # keep rows of models not re-measured in this run
        previous = json.loads(RESULTS.read_text()).get("models", [])
        results["models"] = [row for row in previous if row["model"] not in args.models.split(",")]
    with tempfile.TemporaryDirectory(prefix="tinyasc_compression_") as scratch:
        work = args.work or Path(scratch)
        for model_name in args.models.split(","):
            try:
                row = measure(model_name, work, args.board, args.qemu_clips)
            except Exception as error:  # record it and go on with the next model
                row = {"model": model_name, "error": f"{type(error).__name__}: {error}"}
            results["models"].append(row)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2) + "\n")
            print(row["model"], row["error"] if "error" in row else table_line(row), flush=True)
    return 0


def table_line(row: dict) -> str:
    def cell(m):
        return f"{m['accuracy']:.3f} / {m['log_loss']:.3f}"

    cal = row["calibration"]
    return (f"{row['model']:16s} float {cell(row['float'])} | PTQ host {cell(row['ptq']['host'])} qemu "
            f"{cell(row['ptq']['qemu'])} | QAT host {cell(row['qat']['host'])} qemu {cell(row['qat']['qemu'])} | "
            f"calib. log loss {cal['test_log_loss_before']:.3f} → {cal['test_log_loss_after']:.3f}")


if __name__ == "__main__":
    sys.exit(main())
