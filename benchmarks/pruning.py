"""Pruning in training: TF-MOT unstructured pruning at 25 / 50 / 75 % and Pajusco's structured L1
filter pruning, for the anchor CNN and Pajusco A on the synthetic dataset, measured on the device.

    .venv/bin/python benchmarks/pruning.py [--models anchor_cnn pajusco_a]    (writes results/pruning.json)

Each model is trained briefly on the built-in synthetic dataset (1-s clips at 16 kHz, mono; Pajusco A
takes these short clips instead of its 10-s binaural ones), then:

- unstructured: tinyasc.train.prune.prune_and_fine_tune (TF-MOT prune_low_magnitude, polynomial
  schedule, frequency from the steps per epoch, UpdatePruningStep, strip_pruning) at each target;
- structured: tinyasc.train.structured.structured_prune, 20 % of the filters of every prunable conv
  per step, 3 fine-tuning epochs between steps at lr 1e-5 (the paper's rate, meant for long
  fine-tuning) and at 1e-3; the model after each step.

Per model: accuracy on the synthetic test split in float (Keras) and int8 (TFLM's interpreter),
parameters and non-zero parameters, .tflite sizes (int8, float16, float32), and on the nRF52840 (the
Cortex-M4 twin mps2-an386 in QEMU, -icount): flash (code + weights, self-test vectors not counted)
and instructions per inference, with the sparse weight formats where the cost model chooses them
(`--sparse auto`, compile/sparse.py), and whether the firmware's outputs are bit-exact with TFLM.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULTS = Path(__file__).parent / "results" / "pruning.json"
BOARD = "nrf52840"
SEED = 0
CLIPS_PER_CLASS = 30
TRAINING = {"epochs": 10, "batch_size": 16, "learning_rate": 3e-3, "seed": SEED}  # as tests/conftest.py
PRUNING = {"schedule": "polynomial", "epochs": 6, "learning_rate": 1e-3, "batch_size": 16, "seed": SEED}
SPARSITIES = (0.25, 0.5, 0.75)
STRUCTURED = {"step_fraction": 0.2, "fine_tune_epochs": 3, "batch_size": 16, "seed": SEED}
STRUCTURED_STEPS = 3
# The paper's 1e-5 (it fine-tunes for many epochs), and 1e-3: what 3 epochs on the small synthetic set need.
STRUCTURED_RATES = (1e-5, 1e-3)


def model_inputs(model, x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).reshape((len(x),) + tuple(model.input_shape[1:]))


def device_figures(tflite: Path, name: str, work: Path) -> dict:
    from tinyasc.compile.export import export_model
    from tinyasc.compile.options import CompileOptions
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    export = export_model(tflite, board_name=BOARD, out_root=work, name=name, num_test_vectors=2,
                          options=CompileOptions(sparse="auto"))
    sizes = build_firmware(export.export_dir).sizes
    run = run_firmware(export.export_dir)
    return {
        "bit_exact": run.passed,
        "instructions": run.instructions_per_inference,
        "flash_bytes": sizes["flash"] - sizes.get("test_vector_bytes", 0),
        "weights_bytes": sizes["weights_bytes"],
        "sparse_layers": export.manifest["export"]["sparse_layers"],
    }


def measure(name: str, model, dataset, work: Path, **extra) -> dict:
    from tinyasc.convert import quantize_int8
    from tinyasc.convert.float16 import tflite_sizes
    from tinyasc.artifacts.tflm import evaluate_int8_tflm
    from tinyasc.train.prune import kernel_sparsity, nonzero_parameters

    test = dataset.subset("test")
    tflite = quantize_int8(model, model_inputs(model, dataset.subset("train").x[:100]), work / f"{name}.tflite")
    logits = model.predict(model_inputs(model, test.x), verbose=0)
    row = {
        "model": name,
        **extra,
        "float_accuracy": round(float(np.mean(np.argmax(logits, axis=1) == test.y)), 4),
        "int8_accuracy": round(evaluate_int8_tflm(tflite, test), 4),
        "parameters": int(model.count_params()),
        "nonzero_parameters": nonzero_parameters(model),
        "kernel_sparsity": {k: round(v, 4) for k, v in kernel_sparsity(model).items()},
        "tflite_bytes": tflite_sizes(model, work / name, tflite),
        "device": device_figures(tflite, name, work),
    }
    print(row_text(row), flush=True)
    return row


def row_text(row: dict) -> str:
    device, sizes = row["device"], row["tflite_bytes"]
    return (f"{row['model']:<28} acc float {row['float_accuracy']:.3f} int8 {row['int8_accuracy']:.3f}  "
            f"params {row['parameters']:,} non-zero {row['nonzero_parameters']:,}  tflite int8/fp16/fp32 "
            f"{sizes['int8']:,}/{sizes['float16']:,}/{sizes['float32']:,} B  {BOARD}: {device['instructions']:,} insns, "
            f"flash {device['flash_bytes']:,} B, sparse layers {device['sparse_layers']}, bit-exact {device['bit_exact']}")


def bench_model(model_name: str, dataset, work: Path) -> list[dict]:
    from tinyasc.models import build_model
    from tinyasc.train import seed_everything, train_model
    from tinyasc.train.prune import prune_and_fine_tune
    from tinyasc.train.structured import structured_prune

    kwargs = {"num_classes": len(dataset.labels), "input_samples": dataset.num_samples}
    if model_name != "anchor_cnn":
        kwargs["channels"] = 1
    seed_everything(SEED)
    model = build_model(model_name, **kwargs)
    input_fn = lambda x: model_inputs(model, x)  # noqa: E731
    trained = train_model(model, dataset, work / f"{model_name}_train", progress=False, input_fn=input_fn,
                          **TRAINING).model
    rows = [measure(f"{model_name}_unpruned", trained, dataset, work, method="none")]
    for sparsity in SPARSITIES:
        pruned = prune_and_fine_tune(trained, dataset, work / f"{model_name}_tfmot_{sparsity}", sparsity,
                                     input_fn=input_fn, **PRUNING)
        rows.append(measure(f"{model_name}_tfmot_{round(sparsity * 100)}", pruned.model, dataset, work,
                            method="tfmot", target_sparsity=sparsity, skipped_layers=pruned.skipped))
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    for rate in STRUCTURED_RATES:
        folder = work / f"{model_name}_structured_lr{rate:g}"
        result = structured_prune(trained, dataset, folder, steps=STRUCTURED_STEPS, learning_rate=rate,
                                  input_fn=input_fn, **STRUCTURED)
        # Measure each step's model (structured_prune keeps them in step_<k>/pruned.h5).
        for record in result.steps:
            step_model = keras.models.load_model(folder / f"step_{record['step']}" / "pruned.h5", compile=False)
            rows.append(measure(f"{model_name}_structured_lr{rate:g}_step{record['step']}", step_model, dataset, work,
                                method="structured", learning_rate=rate, filters=record["filters"],
                                refused=result.refused))
    base = rows[0]
    for row in rows:
        row["vs_unpruned"] = {
            "instructions": round(row["device"]["instructions"] / base["device"]["instructions"], 3),
            "flash": round(row["device"]["flash_bytes"] / base["device"]["flash_bytes"], 3),
            "tflite_int8": round(row["tflite_bytes"]["int8"] / base["tflite_bytes"]["int8"], 3),
        }
    return rows


def main() -> int:
    from tinyasc.data import SYNTHETIC_SAMPLE_RATE, load_csv_dataset, make_synthetic_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["anchor_cnn", "pajusco_a"])
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="tinyasc-pruning-") as tmp:
        work = Path(tmp)
        dataset = load_csv_dataset(make_synthetic_dataset(work / "data", clips_per_class=CLIPS_PER_CLASS, seed=SEED),
                                   sample_rate=SYNTHETIC_SAMPLE_RATE)
        for model_name in args.models:
            rows += bench_model(model_name, dataset, work)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "board": BOARD,
        "data": f"synthetic, {CLIPS_PER_CLASS} one-second 16-kHz clips per class, 10 classes",
        "training": TRAINING, "pruning": PRUNING, "structured": {**STRUCTURED, "steps": STRUCTURED_STEPS, "learning_rates": STRUCTURED_RATES},
        "method": "int8 PTQ; accuracy on the test split (float: Keras, int8: TFLM interpreter); QEMU -icount "
                  "instructions per inference; flash = code + weights (no self-test vectors); sparse formats auto",
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
