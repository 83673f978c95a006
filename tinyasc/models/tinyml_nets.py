"""Well-known TinyML networks with random weights, for benchmarks and memory-plan comparisons:
MLPerf Tiny's keyword-spotting DS-CNN and anomaly-detection autoencoder, a small ResNet with skip
connections, and a squeeze-and-excitation block."""

from tinyasc.tf_env import import_tf


def ds_cnn_kws():
    """MLPerf Tiny's keyword-spotting DS-CNN: 49x10 MFCC, a strided conv, four depthwise-separable
    blocks of 64 channels, average pooling, 12 classes."""
    _, keras = import_tf()
    L = keras.layers
    x = inputs = keras.Input((49, 10, 1))
    x = L.Conv2D(64, (10, 4), strides=2, padding="same", use_bias=False)(x)
    x = L.ReLU()(L.BatchNormalization()(x))
    for _ in range(4):
        x = L.DepthwiseConv2D((3, 3), padding="same", use_bias=False)(x)
        x = L.ReLU()(L.BatchNormalization()(x))
        x = L.Conv2D(64, (1, 1), use_bias=False)(x)
        x = L.ReLU()(L.BatchNormalization()(x))
    x = L.AveragePooling2D((25, 5))(x)
    x = L.Dense(12, activation="softmax")(L.Flatten()(x))
    return keras.Model(inputs, x, name="ds_cnn_kws")


def resnet8():
    """MLPerf Tiny's image-classification ResNet-8: three residual stacks (16, 32, 64 channels)
    with identity and 1x1 projection shortcuts joined by ADD."""
    _, keras = import_tf()
    L = keras.layers

    def stack(x, filters, strides):
        y = L.Conv2D(filters, 3, strides=strides, padding="same")(x)
        y = L.ReLU()(L.BatchNormalization()(y))
        y = L.BatchNormalization()(L.Conv2D(filters, 3, padding="same")(y))
        if strides > 1:
            x = L.Conv2D(filters, 1, strides=strides)(x)
        return L.ReLU()(L.Add()([x, y]))

    x = inputs = keras.Input((32, 32, 3))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, padding="same")(x)))
    x = stack(x, 16, 1)
    x = stack(x, 32, 2)
    x = stack(x, 64, 2)
    x = L.AveragePooling2D(8)(x)
    x = L.Dense(10, activation="softmax")(L.Flatten()(x))
    return keras.Model(inputs, x, name="resnet8")


def squeeze_excitation():
    """A conv block with a squeeze-and-excitation gate (global mean, bottleneck 4, sigmoid, MUL),
    as in the ResNet-SE acoustic scene models, on a 64x32 log-mel patch."""
    _, keras = import_tf()
    L = keras.layers
    x = inputs = keras.Input((64, 32, 1))
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = L.Conv2D(32, 3, padding="same", activation="relu")(x)
    gate = L.GlobalAveragePooling2D()(x)
    gate = L.Dense(32 // 4, activation="relu")(gate)
    gate = L.Dense(32, activation="sigmoid")(gate)
    x = L.Multiply()([x, L.Reshape((1, 1, 32))(gate)])
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(10)(x), name="squeeze_excitation")


def fc_autoencoder():
    """MLPerf Tiny's anomaly-detection autoencoder shape: 640 → 4x128 → 8 → 4x128 → 640, Dense only."""
    _, keras = import_tf()
    L = keras.layers
    x = inputs = keras.Input((640,))
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = L.Dense(units, activation="relu")(x)
    return keras.Model(inputs, L.Dense(640)(x), name="fc_autoencoder")
