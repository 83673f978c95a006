"""Calibration fused into the final dense layer (tinyasc/train/calibrate.py): the fused model
outputs exactly the calibrator's logits, log loss does not get worse on the data it was fitted on,
and bad inputs are clear errors. The config sections `quantization:` and `calibration:`."""

import numpy as np
import pytest

from tinyasc.config import ConfigError, config_from_dict
from tinyasc.errors import TinyascError


def copy_of(model):
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


@pytest.fixture(scope="module")
def anchor_splits(synthetic_dataset):
    from tinyasc.train.loop import as_model_input

    val, test = synthetic_dataset.subset("val"), synthetic_dataset.subset("test")
    return as_model_input(val.x), val.y, as_model_input(test.x), test.y


@pytest.mark.parametrize("kind", ["multinomial", "ovr"])
def test_fused_model_outputs_the_calibrated_logits(kind, trained_anchor, anchor_splits):
    from tinyasc.train.calibrate import calibrate_model

    val_x, val_y, test_x, test_y = anchor_splits
    model = copy_of(trained_anchor.model)
    original_logits = model.predict(test_x, verbose=0)
    result = calibrate_model(model, val_x, val_y, kind, test_x=test_x, test_y=test_y)
    calibrator = result.calibrator
    assert np.abs(calibrator.matrix - np.eye(len(calibrator.matrix))).max() > 0.01, "degenerate: identity calibrator"
    expected = calibrator.logits(original_logits)
    fused = model.predict(test_x, verbose=0)
    np.testing.assert_allclose(fused, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert result.test_log_loss_before > 0 and result.test_log_loss_after > 0
    if kind == "multinomial":  # fitted on val from the identity, so never worse there (calibrate.py)
        assert result.val_log_loss_after <= result.val_log_loss_before


def test_calibrated_probabilities_are_distributions():
    from tinyasc.train.calibrate import calibrated_probabilities

    z = np.random.default_rng(0).normal(0, 3, (20, 5))
    for kind in ("multinomial", "ovr"):
        p = calibrated_probabilities(z, kind)
        np.testing.assert_allclose(p.sum(axis=1), 1.0)
        assert np.array_equal(p.argmax(axis=1), z.argmax(axis=1)), "monotone per class: argmax kept"


def test_calibration_needs_every_class_in_val_and_a_final_dense():
    from tinyasc.tf_env import import_tf
    from tinyasc.train.calibrate import Calibrator, fit_calibrator, fuse_into_final_dense

    logits = np.random.default_rng(1).normal(size=(30, 3))
    with pytest.raises(TinyascError, match=r"classes \[2\] have none"):
        fit_calibrator(logits, np.arange(30) % 2, "multinomial", num_classes=3)
    with pytest.raises(TinyascError, match="multinomial or ovr"):
        fit_calibrator(logits, np.arange(30) % 3, "platt")
    _, keras = import_tf()
    inputs = keras.Input((4,))
    softmax_model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probs")(inputs))
    with pytest.raises(TinyascError, match="linear activation.*probs"):
        fuse_into_final_dense(softmax_model, Calibrator("multinomial", np.eye(3), np.zeros(3)))


def test_quantization_and_calibration_config_sections():
    base = {"model": {"name": "anchor_cnn"}, "training": {"epochs": 1}}
    config = config_from_dict(base)
    assert (config.quantization.mode, config.calibration.kind) == ("auto", "none"), "auto (PTQ, QAT if it loses), uncalibrated by default"
    config = config_from_dict({**base, "quantization": {"mode": "qat", "qat_epochs": 4, "learning_rate": "1e-5"},
                               "calibration": {"kind": "ovr"}})
    assert (config.quantization.qat_epochs, config.quantization.learning_rate, config.calibration.kind) == (4, 1e-5, "ovr")
    with pytest.raises(ConfigError, match="quantization.mode must be one of auto, ptq, qat"):
        config_from_dict({**base, "quantization": {"mode": "int4"}})
    with pytest.raises(ConfigError, match="did you mean 'qat_epochs'"):
        config_from_dict({**base, "quantization": {"qat_epoch": 2}})
    with pytest.raises(ConfigError, match="calibration.kind must be one of none, multinomial, ovr"):
        config_from_dict({**base, "calibration": {"kind": "temperature"}})
    with pytest.raises(ConfigError, match="qat_epochs must be >= 1"):
        config_from_dict({**base, "quantization": {"mode": "qat", "qat_epochs": 0}})
