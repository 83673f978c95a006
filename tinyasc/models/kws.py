"""A keyword-spotting DS-CNN for log-mel input (the shape of MLPerf Tiny's KWS model): a strided
first conv, depthwise-separable blocks, global average pooling, logits. Written in 2-D form on
(frames, mel bands, 1), so every layer is one the int8 compiler runs on its fast kernels."""

from __future__ import annotations

from tinyasc.tf_env import import_tf

# Keras' default 0.99 needs hundreds of steps before the inference statistics are usable; KWS sets
# are small (a few hundred steps in all), so the moving averages follow faster.
BN_MOMENTUM = 0.9


def ds_cnn(num_classes: int = 12, input_shape: tuple[int, int, int] = (49, 40, 1), filters: int = 64,
           blocks: int = 4, first_kernel: tuple[int, int] = (10, 4)):
    """DS-CNN on log-mel features (frames, bands, 1) → logits. MLPerf Tiny's KWS model is
    filters=64, blocks=4, first_kernel=(10, 4) on 49×10 MFCCs."""
    _, keras = import_tf()
    layers = keras.layers
    x = inputs = keras.Input(shape=tuple(input_shape), name="log_mel")
    x = layers.Conv2D(filters, tuple(first_kernel), strides=2, padding="same", use_bias=False, name="conv1")(x)
    x = layers.ReLU()(layers.BatchNormalization(momentum=BN_MOMENTUM)(x))
    for block in range(1, blocks + 1):
        x = layers.DepthwiseConv2D((3, 3), padding="same", use_bias=False, name=f"block{block}_depthwise")(x)
        x = layers.ReLU()(layers.BatchNormalization(momentum=BN_MOMENTUM)(x))
        x = layers.Conv2D(filters, (1, 1), use_bias=False, name=f"block{block}_pointwise")(x)
        x = layers.ReLU()(layers.BatchNormalization(momentum=BN_MOMENTUM)(x))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="logits")(x), name="ds_cnn")
