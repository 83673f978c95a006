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


def mobilenet_v1_025():
    """MLPerf Tiny's visual-wake-words MobileNetV1 at width 0.25 on 96x96x3: a strided 3x3 conv,
    13 depthwise-separable blocks (depthwise 3x3 same, stride 1 or 2, then 1x1), average pooling
    over the last 3x3, 2 classes. He-normal initial weights (for a depthwise 3x3: fan-in 9, which
    Keras's own initializers take as 9 x channels) keep random activations from fading through the
    27 layers, else the logits' int8 scale is too small for a softmax. Each depthwise layer gets its
    own initializer: one unseeded instance reused returns identical weights for same-shaped layers,
    which would let identical constant arrays share flash as no trained model's do."""
    _, keras = import_tf()
    L = keras.layers
    x = inputs = keras.Input((96, 96, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False, kernel_initializer="he_normal")(x)
    x = L.ReLU()(L.BatchNormalization()(x))
    blocks = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2)] + [(128, 1)] * 5 + [(256, 2), (256, 1)]
    for filters, stride in blocks:
        depthwise_init = keras.initializers.RandomNormal(stddev=(2 / 9) ** 0.5)
        x = L.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, depthwise_initializer=depthwise_init)(x)
        x = L.ReLU()(L.BatchNormalization()(x))
        x = L.Conv2D(filters, 1, use_bias=False, kernel_initializer="he_normal")(x)
        x = L.ReLU()(L.BatchNormalization()(x))
    x = L.AveragePooling2D(3)(x)
    x = L.Dense(2, activation="softmax")(L.Flatten()(x))
    return keras.Model(inputs, x, name="mobilenet_v1_025")


def streaming_ds_cnn():
    """The streaming wake-word DS-CNN shape (DESIGN §7): 30 frames of 40 features as 30x1x40, four
    blocks of a depthwise kx1 conv (valid, k = 3, 5, 10, 15) and a 1x1 conv (128, 128, 128, 32
    filters) with ReLU, then a 3-way dense layer."""
    _, keras = import_tf()
    L = keras.layers
    x = inputs = keras.Input((30, 1, 40))
    for kernel, filters in zip((3, 5, 10, 15), (128, 128, 128, 32)):
        x = L.BatchNormalization()(L.DepthwiseConv2D((kernel, 1), padding="valid", use_bias=False)(x))
        x = L.Conv2D(filters, 1, use_bias=False)(x)
        x = L.ReLU()(L.BatchNormalization()(x))
    x = L.Dense(3)(L.Flatten()(x))
    return keras.Model(inputs, x, name="streaming_ds_cnn")
