"""Small Keras models, one or two ops each, that exercise the kernels' parameters (padding,
stride, dilation, groups, bias, fused activations, reductions). Converted to int8 with the real
TFLite converter by the `op_model_tflites` fixture in test_compiler.py."""

import numpy as np


def _layers():
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    return keras, keras.layers


def _with_random_bias(model, seed):
    """Keras starts biases at zero and the converter may drop zero biases; give them values."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if getattr(layer, "use_bias", False) and layer.weights:
            weights = layer.get_weights()
            weights[-1] = rng.normal(0, 0.2, weights[-1].shape).astype(np.float32)
            layer.set_weights(weights)
    return model


def conv_same_stride2_relu():
    keras, L = _layers()
    x = L.Input((9, 7, 3))
    return keras.Model(x, L.Conv2D(8, (3, 3), strides=2, padding="same", activation="relu")(x))


def conv_dilated_relu6():
    keras, L = _layers()
    x = L.Input((20, 1, 5))
    return keras.Model(x, L.Conv2D(4, (3, 1), dilation_rate=(2, 1), padding="same", activation="relu6")(x))


def conv_long_kernel_stride4():
    keras, L = _layers()
    x = L.Input((300, 1, 1))
    return keras.Model(x, L.Conv2D(6, (32, 1), strides=(4, 1), activation="relu")(x))


def conv_grouped():
    keras, L = _layers()
    x = L.Input((16, 1, 8))
    return keras.Model(x, L.Conv2D(8, (3, 1), groups=2, padding="same")(x))


def max_pool_same():
    keras, L = _layers()
    x = L.Input((7, 7, 2))
    y = L.Conv2D(3, (1, 1))(x)
    return keras.Model(x, L.MaxPool2D((3, 3), strides=2, padding="same")(y))


def avg_pool_same():
    keras, L = _layers()
    x = L.Input((10, 5, 3))
    y = L.Conv2D(3, (1, 1))(x)
    return keras.Model(x, L.AveragePooling2D((3, 2), strides=(2, 1), padding="same")(y))


def global_average_then_dense():
    keras, L = _layers()
    x = L.Input((12, 3, 4))
    y = L.Conv2D(5, (3, 3), activation="relu")(x)
    y = L.GlobalAveragePooling2D()(y)
    return keras.Model(x, L.Dense(7)(y))


def flatten_then_dense_relu():
    keras, L = _layers()
    x = L.Input((6, 1, 4))
    y = L.Conv2D(4, (2, 1))(x)
    y = L.Flatten()(y)
    return keras.Model(x, L.Dense(9, activation="relu")(y))


OP_MODELS = {
    "conv_same_stride2_relu": conv_same_stride2_relu,
    "conv_dilated_relu6": conv_dilated_relu6,
    "conv_long_kernel_stride4": conv_long_kernel_stride4,
    "conv_grouped": conv_grouped,
    "max_pool_same": max_pool_same,
    "avg_pool_same": avg_pool_same,
    "global_average_then_dense": global_average_then_dense,
    "flatten_then_dense_relu": flatten_then_dense_relu,
}


def build(name, seed=0):
    """The model with weights fixed by `seed` (Keras would otherwise draw them from a global RNG
    whose state depends on which tests ran before)."""
    keras, _ = _layers()
    keras.utils.set_random_seed(seed)
    return _with_random_bias(OP_MODELS[name](), seed)


def representative(model, seed=0, count=32):
    rng = np.random.default_rng(seed)
    shape = tuple(model.input_shape[1:])
    return rng.normal(0, 1, (count,) + shape).astype(np.float32)
