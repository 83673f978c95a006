"""The run's int8 model: post-training quantization calibrated by several input ranges, each scored
against float on the validation split, and QAT when the best of them still loses too much.

PTQ range candidates (quantization.input_ranges): "max" is the converter's own calibration, the
min/max of the representative inputs; "pNN.NN" clips the representative inputs to their NN.NN
percentile at each end first (convert/quantize.py `percentile_range`). The converter calibrates every
activation by min/max over what it is fed, so a clipped input narrows the input scale and the
activations' ranges that follow from it: a quiet clip then spans more int8 steps, at the price of
saturating the loudest samples (DESIGN §8). Each candidate is converted and run by TFLM's interpreter
on the val split; the one with the smallest int8 val log loss is kept (ties: higher accuracy, then the
earlier candidate). Every candidate's val accuracy and log loss go to run.json (`ptq_calibration`).

quantization.mode:
  auto  (default) the best PTQ; when its val accuracy is more than quantization.qat_threshold below
        float's (0.005: half a point), QAT fine-tuning too (train/qat.py), and whichever int8 model
        scores better on val (accuracy, then log loss) is exported; the decision is in run.json.
  ptq   the best PTQ, never QAT.
  qat   always QAT, and the QAT model is exported; the best PTQ is kept next to it for comparison.
Without a val split nothing can be measured: the first candidate is taken, and auto does not QAT.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

QAT_MODEL_FILE = "model_qat.h5"
PTQ_TFLITE_FILE = "model_int8_ptq.tflite"  # the best PTQ, when QAT made the exported model
QAT_TFLITE_FILE = "model_int8_qat.tflite"  # the QAT model, when the PTQ one was exported instead
DEFAULT_INPUT_RANGES = ("max", "p99.99", "p99.9")


def int8_recording_logits(tflite_path, dataset, crop_samples: int, input_fn) -> np.ndarray:
    """[recordings, classes]: TFLM's dequantized int8 outputs averaged over each recording's crops."""
    from tinyasc.artifacts.tflm import dequantize, predict_int8_tflm, tflite_io_details
    from tinyasc.train.evaluate import recording_logits

    output = tflite_io_details(tflite_path)["output"]

    def predict(crops):
        outputs = predict_int8_tflm(tflite_path, input_fn(crops))
        return dequantize(outputs.reshape(len(crops), -1), output.scale, output.zero_point)

    return recording_logits(predict, dataset.x, crop_samples)


def scores(logits: np.ndarray, dataset) -> dict:
    from tinyasc.report.metrics import recording_metrics

    metrics = recording_metrics(logits, dataset.y, len(dataset.labels))
    return {"accuracy": metrics.accuracy, "log_loss": metrics.log_loss}


def select_ptq(model, representative, val, crop_samples: int, input_fn, methods, out_path: Path,
               progress: bool = False) -> tuple[Path, dict]:
    """Convert with each input-range method, score each on `val`, keep the best at `out_path`.
    Returns (out_path, the `ptq_calibration` report)."""
    from tinyasc.convert.quantize import parse_range_method, percentile_range, quantize_int8

    methods = list(methods) or ["max"]
    if len(val) == 0:
        methods = methods[:1]
    out_path = Path(out_path)
    candidates, best = [], None
    for index, method in enumerate(methods):
        percentile = parse_range_method(method)
        input_range = None if percentile == 100 else percentile_range(representative, percentile)
        path = out_path.with_name(f"{out_path.stem}.candidate{index}.tflite")
        quantize_int8(model, representative, path, input_range=input_range)
        candidate = {"method": method, "input_range": list(input_range) if input_range else None}
        if len(val):
            candidate.update({f"val_{k}": v for k, v in scores(int8_recording_logits(path, val, crop_samples, input_fn),
                                                               val).items()})
        candidates.append(candidate)
        if progress:
            print(f"PTQ input range {method}: " + (f"val int8 accuracy {candidate['val_accuracy']:.3f}, log loss "
                                                   f"{candidate['val_log_loss']:.3f}" if len(val) else "no val split"),
                  flush=True)
        key = (candidate.get("val_log_loss", 0.0), -candidate.get("val_accuracy", 0.0), index)
        if best is None or key < best[0]:
            best = (key, index, path)
    _, chosen, chosen_path = best
    chosen_path.replace(out_path)
    for index in range(len(methods)):
        out_path.with_name(f"{out_path.stem}.candidate{index}.tflite").unlink(missing_ok=True)
    return out_path, {"candidates": candidates, "chosen": methods[chosen],
                      "selected_by": "smallest int8 val log loss" if len(val) else "no val split: the first method"}


def quantize_configured(config, model, dataset, run_dir, tflite_path, representative, input_fn, crop_samples: int,
                        progress: bool = False, scheme=None) -> tuple[Path, dict]:
    """The config's int8 model at `tflite_path` (see the module docstring); returns (path, report for
    run.json): the PTQ calibration, the QAT decision and the int8 test metrics of each model made."""
    from tinyasc.train.evaluate import evaluate_recordings

    run_dir, tflite_path = Path(run_dir), Path(tflite_path)
    quantization = config.quantization
    val, test = dataset.subset("val"), dataset.subset("test")
    ptq_path = run_dir / PTQ_TFLITE_FILE if quantization.mode == "qat" else tflite_path
    ptq, calibration = select_ptq(model, representative, val, crop_samples, input_fn, quantization.input_ranges,
                                  ptq_path, progress)
    chosen = next(c for c in calibration["candidates"] if c["method"] == calibration["chosen"])
    if len(val):
        float_val = evaluate_recordings(model, val, crop_samples=crop_samples, input_fn=input_fn)
        calibration.update(float_val_accuracy=float_val.accuracy, float_val_log_loss=float_val.log_loss,
                           val_accuracy_drop=float_val.accuracy - chosen["val_accuracy"])
    drop = calibration.get("val_accuracy_drop")
    run_qat = quantization.mode == "qat" or (
        quantization.mode == "auto" and drop is not None and drop > quantization.qat_threshold)
    decision = {"mode": quantization.mode, "threshold": quantization.qat_threshold, "ptq_val_accuracy_drop": drop,
                "qat_ran": run_qat}
    report = {"ptq_calibration": calibration, "ptq_test_metrics": _test_metrics(ptq, test, crop_samples, input_fn)}
    if progress and drop is not None:
        print(f"PTQ kept: input range {calibration['chosen']}, val accuracy {drop * 100:+.2f} points below float "
              f"({'QAT next' if run_qat else 'no QAT'}; mode {quantization.mode}, threshold "
              f"{quantization.qat_threshold * 100:g} points)", flush=True)
    if not run_qat:
        return ptq, {**report, "quantization": "ptq", "qat_decision": decision,
                     "int8_test_metrics": report["ptq_test_metrics"]}
    qat_path = tflite_path if quantization.mode == "qat" else run_dir / QAT_TFLITE_FILE
    qat, qat_report = _quantization_aware(config, model, dataset, run_dir, qat_path, representative, input_fn,
                                          crop_samples, progress, scheme)
    keep_qat = quantization.mode == "qat"
    if len(val):
        qat_val = scores(int8_recording_logits(qat, val, crop_samples, input_fn), val)
        decision.update(qat_val_accuracy=qat_val["accuracy"], qat_val_log_loss=qat_val["log_loss"])
        keep_qat = keep_qat or (qat_val["accuracy"], -qat_val["log_loss"]) > (chosen["val_accuracy"], -chosen["val_log_loss"])
    decision["exported"] = "qat" if keep_qat else "ptq"
    report.update(qat_report, qat_decision=decision, quantization="qat" if keep_qat else "ptq")
    if keep_qat and qat != tflite_path:  # auto chose QAT: the PTQ model steps aside
        shutil.move(ptq, run_dir / PTQ_TFLITE_FILE)
        shutil.move(qat, tflite_path)
    report["ptq_tflite"] = PTQ_TFLITE_FILE if keep_qat else tflite_path.name
    report["qat_tflite"] = tflite_path.name if keep_qat else QAT_TFLITE_FILE
    report["int8_test_metrics"] = report["qat_test_metrics"] if keep_qat else report["ptq_test_metrics"]
    if progress:
        print(f"exported the {decision['exported'].upper()} int8 model", flush=True)
    return tflite_path, report


def _test_metrics(tflite, test, crop_samples: int, input_fn) -> dict:
    from tinyasc.train.qat import evaluate_int8

    return evaluate_int8(tflite, test, crop_samples, input_fn)


def _quantization_aware(config, model, dataset, run_dir: Path, out_path: Path, representative, input_fn,
                        crop_samples: int, progress: bool, scheme) -> tuple[Path, dict]:
    """QAT fine-tuning of a copy of `model`, saved as model_qat.h5, converted to `out_path`."""
    from tinyasc.convert import quantize_int8
    from tinyasc.train.qat import fine_tune, quantize_aware, save_qat_model

    quantization = config.quantization
    if scheme is None and config.pruning is not None:
        from tinyasc.train.prune import prune_preserving_scheme

        scheme = prune_preserving_scheme()  # keep the pruned zeros (BN folding scales kernels: zeros stay zeros)
    qat_model = quantize_aware(model, scheme=scheme, representative=representative)
    history = fine_tune(qat_model, dataset, quantization.qat_epochs, quantization.learning_rate,
                        batch_size=config.training.batch_size, seed=config.training.seed, input_fn=input_fn,
                        progress=progress)
    save_qat_model(qat_model, run_dir / QAT_MODEL_FILE)
    tflite = quantize_int8(qat_model, representative, out_path)
    return tflite, {
        "qat_model": QAT_MODEL_FILE,
        "qat_history": {key: [float(v) for v in values] for key, values in history.items()},
        "qat_test_metrics": _test_metrics(tflite, dataset.subset("test"), crop_samples, input_fn),
    }
