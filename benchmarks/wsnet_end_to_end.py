"""WSNet end to end on the synthetic data: QAT → int8 → WS_CONV rewrite → export for nrf52840 → QEMU.

For `wsnet_mini` S8C4D2 (and S8C8D2) and its same-shape baseline (ordinary convs): train briefly
with 8-bit QAT (WS layers: one per-tensor scale for Φ), convert, rewrite each GATHER…CONV_2D chain
into WS_CONV, export for the nrf52840 (Cortex-M4, 256 KB RAM, 1 MB flash), build, run in QEMU
(the exported test vectors are the quantized test clips; QEMU's outputs must equal TFLM's bit for
bit), and report int8 test accuracy (TFLM on the unrewritten graph = tinyasc's C, bit-exact),
.tflite bytes, weight bytes, flash, RAM and instructions per inference.

    .venv/bin/python benchmarks/wsnet_end_to_end.py [--epochs 30] [--configs baseline,S8C4D2,S8C8D2] [--keep DIR]
Writes benchmarks/results/wsnet_end_to_end.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "wsnet_end_to_end.json"


def run(config: str, dataset, work: Path, epochs: int, seed: int = 0) -> dict:
    from tinyasc.compile.export import export_model
    from tinyasc.compile.ws_rewrite import rewrite_ws_conv_file
    from tinyasc.artifacts.tflm import evaluate_int8_tflm, quantize_input, tflite_io_details
    from tinyasc.convert.quantize import quantize_int8
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware
    from tinyasc.models.wsnet import wsnet_mini
    from tinyasc.models.wsnet_quant import quantize_wsnet
    from tinyasc.tf_env import import_tf
    from tinyasc.train import seed_everything
    from tinyasc.train.loop import as_model_input

    _, keras = import_tf()
    seed_everything(seed)
    train, test = dataset.subset("train"), dataset.subset("test")
    samples = train.x.shape[1]
    model = quantize_wsnet(wsnet_mini(num_classes=len(dataset.labels), input_samples=samples, config=config))
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    started = time.time()
    model.fit(as_model_input(train.x), train.y, epochs=epochs, batch_size=16, verbose=0)
    train_seconds = time.time() - started
    _, float_accuracy = model.evaluate(as_model_input(test.x), test.y, verbose=0)

    converted = quantize_int8(model, train.x, work / f"{config}.tflite")
    deployed = converted
    rewritten = 0
    if config != "baseline":
        deployed = work / f"{config}_ws.tflite"
        rewritten = rewrite_ws_conv_file(converted, deployed)
    int8_accuracy = evaluate_int8_tflm(converted, test)

    io = tflite_io_details(deployed)
    vectors = np.stack([quantize_input(x, io["input"].scale, io["input"].zero_point).reshape(-1) for x in test.x[:4]])
    export = export_model(deployed, "nrf52840", out_root=work / "export", name=f"wsnet_mini_{config}",
                          test_inputs=vectors, num_test_vectors=len(vectors))
    build = build_firmware(export.export_dir)
    emulation = run_firmware(export.export_dir)
    figures = export.manifest["export"]
    return {
        "config": config,
        "epochs": epochs,
        "train_seconds": round(train_seconds, 1),
        "qat_float_test_accuracy": round(float(float_accuracy), 4),
        "int8_test_accuracy": round(int8_accuracy, 4),
        "ws_conv_ops": rewritten,
        "tflite_bytes_converted": converted.stat().st_size,
        "tflite_bytes_deployed": deployed.stat().st_size,
        "parameters": figures["parameters"],
        "weight_bytes": figures["weight_bytes"],
        "macs": figures["macs"],
        "arena_bytes": figures["arena_bytes"],
        "kernels": [step.kernel for step in export.compiled.steps if step.kind == "WS_CONV"],
        "flash_bytes": build.sizes["flash"],
        "ram_bytes": build.sizes["ram"],
        "qemu_passed": emulation.passed,
        "qemu_vectors": emulation.vectors,
        "qemu_mismatches": emulation.mismatches,
        "instructions_per_inference": emulation.instructions_per_inference,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--configs", default="baseline,S8C4D2,S8C8D2")
    parser.add_argument("--clips-per-class", type=int, default=30)
    parser.add_argument("--keep", help="keep the .tflite files and exports in this folder")
    args = parser.parse_args()
    from tinyasc.data import SYNTHETIC_SAMPLE_RATE, load_csv_dataset, make_synthetic_dataset

    with tempfile.TemporaryDirectory() as folder:
        work = Path(args.keep or folder)
        work.mkdir(parents=True, exist_ok=True)
        dataset = load_csv_dataset(make_synthetic_dataset(work / "data", clips_per_class=args.clips_per_class, seed=0),
                                   sample_rate=SYNTHETIC_SAMPLE_RATE)
        results = []
        for config in args.configs.split(","):
            result = run(config, dataset, work, args.epochs)
            print(json.dumps(result), flush=True)
            results.append(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"dataset": f"synthetic, 10 classes x {args.clips_per_class} clips, 1 s at 16 kHz",
                                   "results": results}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
