"""PTQ input-range candidates (train/ptq.py `select_ptq`) scored on val for the models that
benchmarks/accuracy_table.py trained, without retraining:

    .venv/bin/python benchmarks/ptq_ranges.py [--work /tmp/accuracy-table] [--dataset spoken-digits-16k-75spk-2takes]

Per config: each quantization.input_ranges method converted and run by TFLM's interpreter on the val
split, the float val figures next to them, and which one `mode: auto` keeps (and whether it would QAT).
Writes benchmarks/results/accuracy_ptq_ranges.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> None:
    from tinyasc.config import load_config
    from tinyasc.data import load_csv_dataset
    from tinyasc.tf_env import import_tf
    from tinyasc.train.evaluate import evaluate_recordings
    from tinyasc.train.loop import BEST_MODEL_FILE
    from tinyasc.train.ptq import select_ptq
    from tinyasc.train.run import model_input

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="/tmp/accuracy-table")
    parser.add_argument("--dataset", default="spoken-digits-16k-75spk-2takes")
    parser.add_argument("--configs", nargs="+", default=["configs/anchor-peak.yaml", "configs/kws-logmel.yaml"])
    args = parser.parse_args(argv)
    _, keras = import_tf()
    work = Path(args.work)
    dataset = load_csv_dataset(work / args.dataset / "metadata.csv", sample_rate=16000, duration_s=1.0)
    val, results = dataset.subset("val"), {}
    for config_path in args.configs:
        name = Path(config_path).stem
        config = load_config(ROOT / config_path)
        model = keras.models.load_model(work / "runs" / name / BEST_MODEL_FILE, compile=False)
        input_fn, _ = model_input(config, dataset.num_samples)
        representative = input_fn(dataset.subset("train").x[:100])
        _, report = select_ptq(model, representative, val, dataset.num_samples, input_fn,
                               config.quantization.input_ranges, work / f"ptq_{name}.tflite", progress=True)
        float_val = evaluate_recordings(model, val, crop_samples=dataset.num_samples, input_fn=input_fn)
        chosen = next(c for c in report["candidates"] if c["method"] == report["chosen"])
        drop = float_val.accuracy - chosen["val_accuracy"]
        report.update(float_val_accuracy=float_val.accuracy, float_val_log_loss=float_val.log_loss,
                      val_accuracy_drop=drop, auto_would_qat=drop > config.quantization.qat_threshold)
        results[config_path] = report
        print(name, json.dumps(report), flush=True)
    (ROOT / "benchmarks" / "results" / "accuracy_ptq_ranges.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
