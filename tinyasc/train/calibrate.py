"""Calibration as in IDLab (DCASE 2021 task 1a): logistic regression on the model's validation
logits, fused into the final dense layer so the device pays nothing for it.

The calibrator maps logits z to z·Aᵀ + c: a logistic regression on the logits as features, fitted
with an L2 pull towards temperature scaling (see REGULARIZATION for how, and why not
scikit-learn's LogisticRegression).

With the final layer z = h·W + b, the calibrated model is h·(W·Aᵀ) + (b·Aᵀ + c): the same
Dense layer with new weights, so the int8 graph, its size and its instruction count do not change.

kinds:
  multinomial  one softmax regression over all classes; probabilities = softmax(calibrated logits),
               which is exactly what the evaluator and the device's argmax/softmax read.
  ovr          one-vs-rest: K binary regressions, each on the full logit vector; the fused layer
               outputs their decision values (argmax unchanged), and the probabilities are the K
               sigmoids normalised to sum 1 (scikit-learn's OvR), which `calibrated_probabilities`
               computes from those outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyasc.errors import TinyascError

CALIBRATION_KINDS = ("none", "multinomial", "ovr")
# The fit: mean log loss + REGULARIZATION·‖A − t·I‖² + TEMPERATURE_PENALTY·(t − 1)², with t a free
# scalar and c unpenalised, from the identity. So temperature scaling (A = t·I) costs almost nothing,
# per-class corrections cost REGULARIZATION, and the identity (the uncalibrated model) costs nothing:
# on the data it is fitted on, the multinomial calibrator's log loss can only improve. The pull is
# strong because a full K×K matrix overfits a few val clips per class (simulated, 10 classes, 80
# clips: test log loss 1.03 → 1.9 with a weight of 0.03 instead). Why not scikit-learn's
# LogisticRegression: its L2 pulls A towards 0, which flattens a confident model (measured on the
# test suite's anchor at its default C = 1: test log loss 0.29 → 0.73, accuracy 0.975 → 0.75).
REGULARIZATION = 1.0
TEMPERATURE_PENALTY = 1e-3  # bounds t when the val logits are separable


@dataclass(frozen=True)
class Calibrator:
    """Calibrated logits = logits @ matrix.T + offset."""

    kind: str
    matrix: np.ndarray  # [K, K]
    offset: np.ndarray  # [K]

    def logits(self, logits: np.ndarray) -> np.ndarray:
        return np.asarray(logits, dtype=np.float64) @ self.matrix.T + self.offset

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return calibrated_probabilities(self.logits(logits), self.kind)


def calibrated_probabilities(calibrated_logits: np.ndarray, kind: str) -> np.ndarray:
    """Class probabilities from the fused model's outputs (see the module docstring)."""
    z = np.asarray(calibrated_logits, dtype=np.float64)
    if kind == "ovr":
        sigmoids = 0.5 * (1.0 + np.tanh(0.5 * z))
        return sigmoids / sigmoids.sum(axis=1, keepdims=True)
    shifted = np.exp(z - z.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log probability of the true class (probabilities clipped at 1e-15)."""
    from tinyasc.report.metrics import LOG_LOSS_FLOOR

    p = np.asarray(probabilities, dtype=np.float64)[np.arange(len(labels)), np.asarray(labels)]
    return float(-np.mean(np.log(np.maximum(p, LOG_LOSS_FLOOR))))


def fit_calibrator(logits: np.ndarray, labels: np.ndarray, kind: str = "multinomial", num_classes: int | None = None,
                   regularization: float | None = None) -> Calibrator:
    """Fit a logistic-regression calibrator on (validation) logits [N, K] and integer labels
    (see REGULARIZATION; None: that default)."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    num_classes = num_classes or logits.shape[1]
    if kind not in ("multinomial", "ovr"):
        raise TinyascError(f"calibration kind must be multinomial or ovr; received: {kind!r}")
    missing = sorted(set(range(num_classes)) - set(np.unique(labels).tolist()))
    if missing:
        raise TinyascError(
            f"calibration needs validation clips of every class; classes {missing} have none. "
            "Give the val split more clips, or set calibration.kind: none"
        )
    return _fit(logits, labels, kind, REGULARIZATION if regularization is None else regularization)


def _fit(logits: np.ndarray, labels: np.ndarray, kind: str, regularization: float) -> Calibrator:
    from scipy.optimize import minimize

    n, k = logits.shape
    one_hot = np.eye(k)[labels]
    identity = np.eye(k)

    def objective(params: np.ndarray):
        matrix, offset, temperature = params[:k * k].reshape(k, k), params[k * k:-1], params[-1]
        z = logits @ matrix.T + offset
        if kind == "multinomial":
            z = z - z.max(axis=1, keepdims=True)
            log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            loss = -np.sum(one_hot * log_p) / n
            gradient = (np.exp(log_p) - one_hot) / n
        else:  # K binary regressions, class k against the rest; their summed mean log losses
            loss = np.sum(np.logaddexp(0.0, z) - one_hot * z) / n
            gradient = (0.5 * (1.0 + np.tanh(0.5 * z)) - one_hot) / n  # sigmoid without overflow
        away = matrix - temperature * identity
        loss += regularization * np.sum(away ** 2) + TEMPERATURE_PENALTY * (temperature - 1.0) ** 2
        d_matrix = gradient.T @ logits + 2 * regularization * away
        d_temperature = -2 * regularization * np.trace(away) + 2 * TEMPERATURE_PENALTY * (temperature - 1.0)
        return loss, np.concatenate([d_matrix.ravel(), gradient.sum(axis=0), [d_temperature]])

    start = np.concatenate([identity.ravel(), np.zeros(k), [1.0]])
    result = minimize(objective, start, jac=True, method="L-BFGS-B", options={"maxiter": 1000})
    return Calibrator(kind, result.x[:k * k].reshape(k, k), result.x[k * k:-1])


def fuse_into_final_dense(model, calibrator: Calibrator):
    """Replace the weights of `model`'s final Dense layer (linear activation) so that its outputs
    are the calibrated logits; modifies `model` in place and returns it."""
    _, keras = _keras()
    final = model.layers[-1]
    if not isinstance(final, keras.layers.Dense) or final.get_config()["activation"] != "linear":
        raise TinyascError(
            f"calibration fuses into a final Dense layer with linear activation; {model.name}'s last layer is "
            f"{final.name} ({type(final).__name__}). Set calibration.kind: none for this model"
        )
    if not final.use_bias:
        raise TinyascError(f"calibration needs a bias on {final.name}; build the model with use_bias=True")
    kernel, bias = (np.asarray(w, dtype=np.float64) for w in final.get_weights())
    if calibrator.matrix.shape != (kernel.shape[1], kernel.shape[1]):
        raise TinyascError(
            f"the calibrator is for {calibrator.matrix.shape[0]} classes but {final.name} has {kernel.shape[1]} outputs"
        )
    final.set_weights([
        (kernel @ calibrator.matrix.T).astype(np.float32),
        (bias @ calibrator.matrix.T + calibrator.offset).astype(np.float32),
    ])
    return model


def _keras():
    from tinyasc.tf_env import import_tf

    return import_tf()


@dataclass(frozen=True)
class CalibrationResult:
    calibrator: Calibrator
    val_log_loss_before: float
    val_log_loss_after: float
    test_log_loss_before: float | None
    test_log_loss_after: float | None
    test_accuracy_before: float | None = None  # the calibrator may move an argmax
    test_accuracy_after: float | None = None

    def as_dict(self) -> dict:
        return {
            "kind": self.calibrator.kind,
            "val_log_loss_before": self.val_log_loss_before, "val_log_loss_after": self.val_log_loss_after,
            "test_log_loss_before": self.test_log_loss_before, "test_log_loss_after": self.test_log_loss_after,
            "test_accuracy_before": self.test_accuracy_before, "test_accuracy_after": self.test_accuracy_after,
        }


def calibrate_model(model, val_x: np.ndarray, val_y: np.ndarray, kind: str, test_x=None, test_y=None,
                    batch_size: int = 64) -> CalibrationResult:
    """Fit on the model's logits for val_x (model inputs), fuse into the final Dense, and report the
    log loss before and after on val and, when given, on test. `model` is modified in place."""
    def predict(x):
        return model.predict(x, batch_size=batch_size, verbose=0)

    val_logits = predict(val_x)
    test_logits = predict(test_x) if test_x is not None else None
    calibrator = fit_calibrator(val_logits, val_y, kind, num_classes=val_logits.shape[1])
    fuse_into_final_dense(model, calibrator)

    def loss(logits, labels, calibrated: bool) -> float:
        return log_loss(calibrated_probabilities(logits, kind if calibrated else "multinomial"), labels)

    def accuracy(logits, labels) -> float:
        return float(np.mean(np.argmax(logits, axis=1) == np.asarray(labels)))

    calibrated_test_logits = predict(test_x) if test_logits is not None else None
    return CalibrationResult(
        calibrator,
        val_log_loss_before=loss(val_logits, val_y, False),
        val_log_loss_after=loss(predict(val_x), val_y, True),
        test_log_loss_before=loss(test_logits, test_y, False) if test_logits is not None else None,
        test_log_loss_after=loss(calibrated_test_logits, test_y, True) if test_logits is not None else None,
        test_accuracy_before=accuracy(test_logits, test_y) if test_logits is not None else None,
        test_accuracy_after=accuracy(calibrated_test_logits, test_y) if test_logits is not None else None,
    )


def calibrate_configured(config, model, dataset, input_fn, crop_samples: int) -> dict:
    """calibration.kind other than none: fit on the val split's first crops, fuse into `model`
    (in place), and return the log losses for run.json; {} when calibration is off."""
    kind = config.calibration.kind
    if kind == "none":
        return {}
    val, test = dataset.subset("val"), dataset.subset("test")
    if len(val) == 0:
        raise TinyascError("calibration fits on the val split, and the dataset has none; "
                           "add val clips or set calibration.kind: none")
    result = calibrate_model(
        model, input_fn(val.x[:, :crop_samples]), val.y, kind,
        test_x=input_fn(test.x[:, :crop_samples]), test_y=test.y,
    )
    return {"calibration": result.as_dict()}
