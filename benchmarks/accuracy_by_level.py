"""int8 test accuracy of a training run by input level: quiet, medium and loud thirds of −40…0 dBFS.

    .venv/bin/python benchmarks/accuracy_by_level.py RUN_DIR DATASET_DIR

DATASET_DIR holds the run's metadata.csv with a `level_db` column (the spoken-digits set writes it:
`tinyasc train --data spoken-digits` makes it under data/spoken-digits-<rate>hz). The run's int8 test
inputs (what the device's front-end computes from PCM) go through TFLM's interpreter; the rows of
the test split are in the CSV's order, as the loader reads them. DESIGN §8: quiet clips are where
int8 loses accuracy without level normalisation.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from tinyasc.artifacts.run import read_run
from tinyasc.artifacts.tflm import tflm_interpreter

BUCKETS = (("quiet, -40 to -27 dBFS", -np.inf, -80 / 3), ("medium, -27 to -13 dBFS", -80 / 3, -40 / 3),
           ("loud, -13 to 0 dBFS", -40 / 3, np.inf))


def int8_predictions(run) -> np.ndarray:
    interpreter = tflm_interpreter(run.tflite.read_bytes())
    shape = interpreter.get_input_details(0)["shape"]
    predictions = []
    for x in run.test_inputs:
        interpreter.set_input(x.reshape(shape), 0)
        interpreter.invoke()
        predictions.append(int(np.argmax(interpreter.get_output(0))))
    return np.array(predictions)


def main(run_dir: str, dataset_dir: str) -> None:
    run = read_run(Path(run_dir))
    rows = [row for row in csv.DictReader(open(Path(dataset_dir) / "metadata.csv")) if row["split"] == "test"]
    levels = np.array([float(row["level_db"]) for row in rows])
    if len(levels) != len(run.test_labels):
        raise SystemExit(f"{dataset_dir} has {len(levels)} test rows but the run has {len(run.test_labels)}")
    correct = int8_predictions(run) == run.test_labels
    for name, low, high in BUCKETS:
        mask = (levels >= low) & (levels < high)
        print(f"{name}: int8 accuracy {correct[mask].mean():.3f} on {mask.sum()} clips")
    print(f"all: int8 accuracy {correct.mean():.3f} on {len(correct)} clips")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
