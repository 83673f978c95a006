"""Writes the three small int8 .tflite files the golden generated-C test compiles
(tests/fixtures/golden/*.tflite). They are checked in, so the golden test needs no TensorFlow and
does not depend on the converter being deterministic; run this only to change the models:

    python tests/golden_fixtures.py

Random weights from a fixed seed, calibrated on seeded noise; each is a few KB.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures" / "golden"


def anchor_shaped_cnn(keras):
    """The anchor CNN's shape (DESIGN §6: strided conv, three conv + max-pool stages, global mean,
    dense) on a 512-sample waveform, with 8-16 channels instead of 16-64."""
    L = keras.layers
    x = inputs = keras.Input((512, 1, 1))
    x = L.MaxPool2D((4, 1))(L.Conv2D(8, (16, 1), strides=(4, 1), activation="relu")(x))
    x = L.MaxPool2D((4, 1))(L.Conv2D(8, (3, 1), activation="relu")(x))
    x = L.MaxPool2D((2, 1))(L.Conv2D(16, (3, 1), activation="relu")(x))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(4)(x), name="anchor_shaped_cnn")


def ds_cnn_tiny(keras):
    """MLPerf Tiny's DS-CNN shape (strided conv, depthwise-separable blocks, average pooling,
    softmax) on a 16x8 feature patch."""
    L = keras.layers
    x = inputs = keras.Input((16, 8, 1))
    x = L.Conv2D(8, (4, 3), strides=2, padding="same", activation="relu")(x)
    for _ in range(2):
        x = L.DepthwiseConv2D((3, 3), padding="same", activation="relu")(x)
        x = L.Conv2D(16, (1, 1), activation="relu")(x)
    x = L.Flatten()(L.AveragePooling2D((8, 4))(x))
    return keras.Model(inputs, L.Dense(4, activation="softmax")(x), name="ds_cnn_tiny")


def resnet_se_tiny(keras):
    """A residual block (ADD) followed by a squeeze-and-excitation gate (global mean, bottleneck,
    sigmoid, MUL), as in the ResNet-SE scene models, on a 16x8 log-mel patch."""
    L = keras.layers
    x = inputs = keras.Input((16, 8, 1))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = L.Conv2D(8, 3, padding="same")(y)
    x = L.ReLU()(L.Add()([x, y]))
    gate = L.Dense(2, activation="relu")(L.GlobalAveragePooling2D()(x))
    gate = L.Reshape((1, 1, 8))(L.Dense(8, activation="sigmoid")(gate))
    x = L.GlobalAveragePooling2D()(L.Multiply()([x, gate]))
    return keras.Model(inputs, L.Dense(4)(x), name="resnet_se_tiny")


GOLDEN_MODELS = {"anchor_shaped_cnn": anchor_shaped_cnn, "ds_cnn_tiny": ds_cnn_tiny, "resnet_se_tiny": resnet_se_tiny}


def main() -> int:
    from tinyasc.convert import quantize_int8
    from tinyasc.tf_env import import_tf
    from tinyasc.train import seed_everything

    _, keras = import_tf()
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    for name, build in GOLDEN_MODELS.items():
        seed_everything(0)
        model = build(keras)
        calibration = np.random.default_rng(0).normal(0, 0.5, (16, *model.input_shape[1:])).astype(np.float32)
        path = quantize_int8(model, calibration, FIXTURE_DIR / f"{name}.tflite")
        print(f"wrote {path} ({path.stat().st_size:,} B)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
