"""Session-wide fixtures: the suite generates one synthetic dataset and trains the anchor once.

Other test modules build on these names: synthetic_csv → synthetic_dataset → trained_anchor →
anchor_tflite. TensorFlow is imported only when a test asks for trained_anchor or anchor_tflite.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tinyasc.data import SYNTHETIC_SAMPLE_RATE, load_csv_dataset, make_synthetic_dataset  # noqa: E402

FIXTURE_CLIPS_PER_CLASS = 30
# Measured: ~15 s of training on 2 cores, > 90 % float test accuracy (chance is 10 %).
FIXTURE_TRAINING = {"epochs": 10, "batch_size": 16, "learning_rate": 3e-3, "seed": 0}


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory):
    """metadata.csv of the built-in synthetic dataset (10 classes × 30 one-second clips)."""
    return make_synthetic_dataset(
        tmp_path_factory.mktemp("synthetic"), clips_per_class=FIXTURE_CLIPS_PER_CLASS, seed=0
    )


@pytest.fixture(scope="session")
def synthetic_dataset(synthetic_csv):
    """The synthetic dataset loaded in memory (all splits)."""
    return load_csv_dataset(synthetic_csv, sample_rate=SYNTHETIC_SAMPLE_RATE)


@pytest.fixture(scope="session")
def trained_anchor(synthetic_dataset, tmp_path_factory):
    """TrainResult of the anchor CNN trained briefly on the synthetic dataset."""
    from tinyasc.models import build_model
    from tinyasc.train import seed_everything, train_model

    seed_everything(FIXTURE_TRAINING["seed"])
    model = build_model("anchor_cnn", num_classes=len(synthetic_dataset.labels))
    return train_model(
        model, synthetic_dataset, tmp_path_factory.mktemp("anchor_run"), progress=False, **FIXTURE_TRAINING
    )


@pytest.fixture(scope="session")
def anchor_tflite(trained_anchor, synthetic_dataset, tmp_path_factory):
    """Path of the int8 .tflite of the trained anchor, calibrated on training clips."""
    from tinyasc.convert import quantize_int8

    out = tmp_path_factory.mktemp("anchor_tflite") / "anchor_cnn_int8.tflite"
    return quantize_int8(trained_anchor.model, synthetic_dataset.subset("train").x, out)


# ---- a model small enough for every board ----

WAVEFORM_SAMPLES = 256


def tiny_audio_cnn():
    """Waveform [256] → strided conv → max pool → conv → global mean → dense, 4 classes."""
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    L = keras.layers
    x = L.Input((WAVEFORM_SAMPLES, 1, 1))
    y = L.Conv2D(8, (8, 1), strides=(4, 1), activation="relu")(x)
    y = L.MaxPool2D((2, 1))(y)
    y = L.Conv2D(8, (3, 1), activation="relu")(y)
    y = L.GlobalAveragePooling2D()(y)
    return keras.Model(x, L.Dense(4)(y))


@pytest.fixture(scope="session")
def tiny_cnn_tflite(tmp_path_factory):
    """int8 .tflite of a small raw-audio CNN (random weights): fits every board, even a micro:bit."""
    from tinyasc.convert import quantize_int8
    from tinyasc.train import seed_everything

    seed_everything(0)
    calibration = np.random.default_rng(0).normal(0, 0.5, (32, WAVEFORM_SAMPLES, 1, 1))
    out = tmp_path_factory.mktemp("tiny_cnn") / "tiny_cnn_int8.tflite"
    return quantize_int8(tiny_audio_cnn(), calibration.astype(np.float32), out)


# ---- golden generated C (tests/test_golden.py) ----


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/ from the C generated now (after an intended change)")


@pytest.fixture(scope="session")
def update_golden(request):
    return request.config.getoption("--update-golden")


@pytest.fixture
def only_conv_kernel(monkeypatch):
    """only_conv_kernel(kernel): CONV_2D ops run `kernel` wherever it applies, for the rest of the test
    (else the reference kernel): to keep a kernel that the cost model (kernels.py) seldom picks
    tested bit for bit on shapes it runs."""
    import dataclasses

    from tinyasc.compile.ir import OpKind
    from tinyasc.compile.ops import REGISTRY

    def force(kernel):
        monkeypatch.setitem(REGISTRY, OpKind.CONV_2D, dataclasses.replace(REGISTRY[OpKind.CONV_2D], variants=(kernel,)))

    return force
