"""Raw-waveform 1-D CNNs, written in 2-D form (T, 1, C) so TF-MOT can quantize them (DESIGN §3).

Conv2D((k, 1)) and MaxPool2D((p, 1)) over an input of shape (T, 1, 1) compute exactly what Conv1D
and MaxPooling1D would, but convert to the shortest TFLite op list (no EXPAND_DIMS/RESHAPE around
each conv) and are supported by stock QAT and BN folding.
"""

from __future__ import annotations

from tinyasc.tf_env import import_tf


def anchor_cnn(num_classes: int = 10, input_samples: int = 16000):
    """The anchor model of DESIGN §6: the yardstick every runtime and compiler is compared on.

    Conv(16, k64, s4)+ReLU → MaxPool 4 → Conv(32, k3)+ReLU → MaxPool 4 → Conv(64, k3)+ReLU →
    MaxPool 4 → GlobalAvgPool → Dense(num_classes). Outputs logits (no softmax: argmax is the
    same and the int8 output keeps its full range). 9,466 parameters with 10 classes.
    """
    _, keras = import_tf()
    layers = keras.layers
    inputs = keras.Input(shape=(input_samples, 1, 1), name="waveform")
    x = layers.Conv2D(16, (64, 1), strides=(4, 1), padding="valid", activation="relu", name="conv1")(inputs)
    x = layers.MaxPool2D((4, 1), name="pool1")(x)
    x = layers.Conv2D(32, (3, 1), padding="valid", activation="relu", name="conv2")(x)
    x = layers.MaxPool2D((4, 1), name="pool2")(x)
    x = layers.Conv2D(64, (3, 1), padding="valid", activation="relu", name="conv3")(x)
    x = layers.MaxPool2D((4, 1), name="pool3")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    logits = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="anchor_cnn")
