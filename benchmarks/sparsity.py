"""Pruning that pays off on the device: the anchor model pruned to 25 / 50 / 75 %, measured in QEMU.

    .venv/bin/python benchmarks/sparsity.py      (~8 min on 2 cores; writes results/sparsity.json)

The anchor CNN (DESIGN §6) is trained briefly on the built-in synthetic dataset, then each kernel is
magnitude-pruned per layer (the smallest |w| of every Conv2D and Dense set to zero) and fine-tuned
for a few epochs with the zeros held (a mask re-applied after every batch). Each model is quantized to
int8 and exported twice for the nRF52840 (Cortex-M4 twin, mps2-an386; dense kernels use SMLAD) and
for a Cortex-M3 (mps2-an385; portable dense kernels): dense weights only (`--sparse never`) and with
the cost model's choice (`--sparse auto`). Per model:

- accuracy on the synthetic test split: float (Keras) and int8 (TFLM's interpreter, which the
  firmware matches bit for bit: each firmware checks its self-test vectors against TFLM's outputs);
- flash (code + weights; the self-test vectors are not counted) and instructions per inference in
  QEMU (-icount), dense vs auto, and per layer (the profiling build) with each layer's weight format.

When tinyasc/train/prune.py (TF-MOT pruning) is available, a TF-MOT model pruned to 75 % joins the
table the same way.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

RESULTS = Path(__file__).parent / "results" / "sparsity.json"
BOARDS = ("nrf52840", "cortex-m3")  # Cortex-M4 with SMLAD dense kernels; Cortex-M3 with the portable ones
SPARSITIES = (0.0, 0.25, 0.5, 0.75)
SEED = 0
CLIPS_PER_CLASS = 30
TRAINING = {"epochs": 10, "batch_size": 16, "learning_rate": 3e-3, "seed": SEED}  # as tests/conftest.py
FINE_TUNING = {"epochs": 8, "batch_size": 16, "learning_rate": 1e-3, "seed": SEED}
TFMOT_SPARSITY = 0.75


# ---- pruning with a held mask ----


def _kernel_layers(model):
    return [layer for layer in model.layers if getattr(layer, "kernel", None) is not None]


def magnitude_masks(model, sparsity: float) -> dict[str, np.ndarray]:
    """Per layer, 1 where |w| is above the layer's `sparsity` quantile, else 0."""
    masks = {}
    for layer in _kernel_layers(model):
        kernel = layer.kernel.numpy()
        threshold = np.quantile(np.abs(kernel), sparsity) if sparsity > 0 else -1.0
        masks[layer.name] = (np.abs(kernel) > threshold).astype(kernel.dtype)
    return masks


def apply_masks(model, masks) -> None:
    for layer in _kernel_layers(model):
        layer.kernel.assign(layer.kernel.numpy() * masks[layer.name])


def pruned_copy(trained, dataset, sparsity: float, run_dir: Path):
    """The trained model magnitude-pruned to `sparsity` per layer, fine-tuned with the zeros held."""
    from tinyasc.tf_env import import_tf
    from tinyasc.train import train_model

    _, keras = import_tf()
    model = keras.models.clone_model(trained)
    model.set_weights(trained.get_weights())
    if sparsity == 0:
        return model
    masks = magnitude_masks(model, sparsity)
    apply_masks(model, masks)

    class HoldZeros(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            apply_masks(model, masks)

    tuned = train_model(model, dataset, run_dir, progress=False, callbacks=(HoldZeros(),), **FINE_TUNING).model
    apply_masks(tuned, masks)
    return tuned


def int8_sparsity(compiled) -> float:
    """Fraction of zeros in the int8 weights of the CONV_2D and FULLY_CONNECTED ops."""
    graph = compiled.graph
    kernels = [graph.tensors[op.inputs[1]].data for op in graph.ops if op.kind.value in ("CONV_2D", "FULLY_CONNECTED")]
    total = sum(k.size for k in kernels)
    return round(1 - sum(int(np.count_nonzero(k)) for k in kernels) / total, 4)


# ---- measuring ----


def float_accuracy(model, test) -> float:
    logits = model.predict(test.x[..., np.newaxis, np.newaxis], verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == test.y))


def device_figures(tflite: Path, name: str, board: str, mode: str, work: Path) -> dict:
    from tinyasc.compile.export import export_model
    from tinyasc.compile.options import CompileOptions
    from tinyasc.emulate.profile import profile_firmware
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    export = export_model(tflite, board_name=board, out_root=work, name=f"{name}_{board}_{mode}", num_test_vectors=2,
                          options=CompileOptions(sparse=mode))
    sizes = build_firmware(export.export_dir).sizes
    run = run_firmware(export.export_dir)
    profile = profile_firmware(export.export_dir)
    by_op = {row["op"]: row for row in profile["layers"]}
    layers = []
    for layer in export.manifest["export"]["layers"]:
        if layer["kind"] not in ("CONV_2D", "FULLY_CONNECTED"):
            continue
        layers.append({
            "op": layer["op"], "kind": layer["kind"], "kernel": layer["kernel"], "macs": layer["macs"],
            "weight_format": layer.get("weight_format", "dense"),
            "nonzero_weights": layer.get("nonzero_weights"), "sparsity": layer.get("sparsity"),
            "constant_bytes": layer["bytes"],
            "instructions": by_op[layer["op"]]["instructions"],
            "estimated_instructions_saved": layer.get("sparse_instructions_saved_estimate", 0),
        })
    return {
        "bit_exact": run.passed,
        "instructions": run.instructions_per_inference,
        "flash_bytes": sizes["flash"] - sizes.get("test_vector_bytes", 0),
        "code_bytes": sizes["code_bytes"],
        "weights_bytes": sizes["weights_bytes"],
        "arena_bytes": sizes["arena_bytes"],  # sparse convs are not fused with their pool (compile/fusion.py)
        "sparse_layers": export.manifest["export"]["sparse_layers"],
        "layers": layers,
        "sparsity_of_int8_weights": int8_sparsity(export.compiled),
    }


def measure(name: str, model, dataset, sparsity_target, work: Path) -> dict:
    from tinyasc.convert import quantize_int8
    from tinyasc.artifacts.tflm import evaluate_int8_tflm

    tflite = quantize_int8(model, dataset.subset("train").x, work / f"{name}.tflite")
    test = dataset.subset("test")
    row = {
        "model": name,
        "target_sparsity": sparsity_target,
        "float_accuracy": round(float_accuracy(model, test), 4),
        "int8_accuracy": round(evaluate_int8_tflm(tflite, test), 4),
        "test_clips": len(test),
        "boards": {
            board: {mode: device_figures(tflite, name, board, mode, work) for mode in ("never", "auto")}
            for board in BOARDS
        },
    }
    for board in BOARDS:
        figures = row["boards"][board]
        figures["dense"] = figures.pop("never")
        row["sparsity_of_int8_weights"] = figures["auto"].pop("sparsity_of_int8_weights")
        figures["dense"].pop("sparsity_of_int8_weights")
    return row


def main() -> int:
    from tinyasc.data import SYNTHETIC_SAMPLE_RATE, load_csv_dataset, make_synthetic_dataset
    from tinyasc.models import build_model
    from tinyasc.train import seed_everything, train_model

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tinyasc-sparsity-") as tmp:
        work = Path(tmp)
        dataset = load_csv_dataset(make_synthetic_dataset(work / "data", clips_per_class=CLIPS_PER_CLASS, seed=SEED),
                                   sample_rate=SYNTHETIC_SAMPLE_RATE)
        seed_everything(SEED)
        trained = train_model(build_model("anchor_cnn", num_classes=len(dataset.labels)), dataset, work / "anchor",
                              progress=False, **TRAINING).model
        rows = []
        for sparsity in SPARSITIES:
            name = f"anchor_pruned_{round(sparsity * 100)}"
            model = pruned_copy(trained, dataset, sparsity, work / f"tune_{name}")
            rows.append(measure(name, model, dataset, sparsity, work))
            print(_row_text(rows[-1]), flush=True)
        try:
            from tinyasc.train.prune import prune_and_fine_tune
        except ImportError:
            prune_and_fine_tune = None
        if prune_and_fine_tune is not None:
            pruned = prune_and_fine_tune(trained, dataset, work / "tfmot", TFMOT_SPARSITY,
                                         epochs=FINE_TUNING["epochs"], learning_rate=FINE_TUNING["learning_rate"],
                                         batch_size=FINE_TUNING["batch_size"], seed=SEED)
            rows.append(measure(f"anchor_tfmot_{round(TFMOT_SPARSITY * 100)}", pruned.model, dataset, TFMOT_SPARSITY, work))
            print(_row_text(rows[-1]), flush=True)
    for board in BOARDS:
        unpruned = rows[0]["boards"][board]["dense"]
        for row in rows:
            auto = row["boards"][board]["auto"]
            auto["vs_unpruned_instructions"] = round(auto["instructions"] / unpruned["instructions"], 3)
            auto["vs_unpruned_flash"] = round(auto["flash_bytes"] / unpruned["flash_bytes"], 3)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "boards": list(BOARDS),
        "method": "magnitude pruning per layer + fine-tuning with the zeros held; int8 PTQ; "
                  "QEMU -icount instructions per inference; flash = code + weights (no self-test vectors)",
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


def _row_text(row: dict) -> str:
    lines = [f"{row['model']:<22} zeros {row['sparsity_of_int8_weights']:.0%}  accuracy float {row['float_accuracy']:.3f} "
             f"int8 {row['int8_accuracy']:.3f}"]
    for board, figures in row["boards"].items():
        dense, auto = figures["dense"], figures["auto"]
        lines.append(
            f"  {board:<10} instructions dense {dense['instructions']:,} auto {auto['instructions']:,} "
            f"({auto['instructions'] / dense['instructions']:.2f}x)  flash dense {dense['flash_bytes']:,} auto "
            f"{auto['flash_bytes']:,}  arena dense {dense['arena_bytes']:,} auto {auto['arena_bytes']:,}  "
            f"sparse layers {auto['sparse_layers']}  bit-exact {dense['bit_exact'] and auto['bit_exact']}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
