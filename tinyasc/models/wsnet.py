"""WSNet weight-sampling layers (Jin et al., 2017), as Keras custom layers in 2-D form (T, 1, C).

A weight-sampling convolution learns one *condensed filter* Φ of shape (L*, M*) and samples all its
N filters of length L from it (DESIGN §4):

    K[l, m, n] = Φ[n·s + l, m mod M*]        L* = L + (N − 1)·s,  M* = M / C

- spatial compactness S: sampling stride s = L // S (at least 1), so neighbouring filters overlap;
- channel repeat C: Φ holds M/C channels, tiled C times across the input channels (`m mod M*`:
  the convention is fixed here and kept down to the C kernel);
- denser sampling D: D·N filters are sampled with stride s // D, then a 1×1 convolution maps them
  back to N channels (Φ keeps about the same length, the 1×1 adds D·N·N weights).
`WSDense` (the paper's SC†) applies the same spatial sampling to a fully connected layer: its
weight matrix's N columns are windows of one vector φ.
The layers compute with the explicitly sampled kernel (a gather), so training is an ordinary
convolution whose gradients flow back into Φ; the integral-image speed-up belongs to the C kernel.
"""

from __future__ import annotations

import numpy as np

from tinyasc.models.cnn1d import ANCHOR_INPUT_SAMPLES
from tinyasc.tf_env import import_tf

tf, keras = import_tf()


def sampling_stride(kernel_size: int, compactness: int) -> int:
    return max(1, kernel_size // compactness)


def condensed_length(kernel_size: int, filters: int, stride: int) -> int:
    return kernel_size + (filters - 1) * stride


def sample_indices(kernel_size: int, filters: int, stride: int, channels: int, channel_repeat: int):
    """Row index [L, N] (n·s + l) and channel index [M] (m mod M*) into Φ."""
    rows = np.arange(filters)[None, :] * stride + np.arange(kernel_size)[:, None]
    columns = np.arange(channels) % (channels // channel_repeat)
    return rows.astype(np.int32), columns.astype(np.int32)


def _positive_int(name: str, value) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"expected {name} to be a positive integer, received: {name}={value!r}")
    return int(value)


@keras.utils.register_keras_serializable(package="tinyasc")
class WSConv2D(keras.layers.Layer):
    """Weight-sampling convolution over time, input (batch, T, 1, M) → (batch, T', 1, filters)."""

    def __init__(self, filters, kernel_size, compactness=1, channel_repeat=1, denser=1, strides=1,
                 padding="valid", activation=None, use_bias=True, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.filters = _positive_int("filters", filters)
        self.kernel_size = _positive_int("kernel_size", kernel_size)
        self.compactness = _positive_int("compactness", compactness)
        self.channel_repeat = _positive_int("channel_repeat", channel_repeat)
        self.denser = _positive_int("denser", denser)
        self.strides = _positive_int("strides", strides)
        if padding not in ("valid", "same"):
            raise ValueError(f"expected padding 'valid' or 'same', received: padding={padding!r}")
        self.padding = padding
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        stride = sampling_stride(self.kernel_size, self.compactness)
        self.sampled_filters = self.filters * self.denser
        self.sampling_stride = max(1, stride // self.denser)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[2] != 1:
            raise ValueError(f"WSConv2D expects input (batch, T, 1, channels), received: input_shape={tuple(input_shape)}")
        channels = int(input_shape[-1])
        if channels % self.channel_repeat:
            raise ValueError(
                f"input channels must be divisible by channel_repeat, received: channels={channels}, "
                f"channel_repeat={self.channel_repeat}"
            )
        self.input_channels = channels
        length = condensed_length(self.kernel_size, self.sampled_filters, self.sampling_stride)
        self.condensed = self.add_weight(
            name="condensed_filter", shape=(length, channels // self.channel_repeat),
            initializer=self._condensed_initializer(), trainable=True,
        )
        rows, columns = sample_indices(self.kernel_size, self.sampled_filters, self.sampling_stride, channels, self.channel_repeat)
        self._rows, self._columns = tf.constant(rows), tf.constant(columns)
        self.projection = None
        if self.denser > 1:
            self.projection = self.add_weight(
                name="projection", shape=(1, 1, self.sampled_filters, self.filters),
                initializer=self.kernel_initializer, trainable=True,
            )
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros") if self.use_bias else None
        super().build(input_shape)

    def _condensed_initializer(self):
        # Scale like a Glorot init of the sampled kernel it stands for, not of Φ's own shape.
        fan_in, fan_out = self.kernel_size * self.input_channels, self.kernel_size * self.sampled_filters
        limit = float(np.sqrt(6.0 / (fan_in + fan_out)))
        return keras.initializers.RandomUniform(-limit, limit)

    def sampled_kernel(self):
        """The full kernel K, shape (L, 1, M, N·D): what an ordinary Conv2D would hold."""
        rows = tf.gather(self.condensed, self._rows)  # [L, N·D, M*]
        full = tf.gather(rows, self._columns, axis=2)  # [L, N·D, M]
        return tf.expand_dims(tf.transpose(full, [0, 2, 1]), 1)

    def call(self, inputs):
        y = tf.nn.conv2d(inputs, self.sampled_kernel(), strides=(1, self.strides, 1, 1), padding=self.padding.upper())
        if self.projection is not None:
            y = tf.nn.conv2d(y, self.projection, strides=1, padding="VALID")
        if self.bias is not None:
            y = tf.nn.bias_add(y, self.bias)
        return self.activation(y)

    def compute_output_shape(self, input_shape):
        steps = input_shape[1]
        if steps is not None:
            steps = -(-steps // self.strides) if self.padding == "same" else (steps - self.kernel_size) // self.strides + 1
        return (input_shape[0], steps, 1, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters, "kernel_size": self.kernel_size, "compactness": self.compactness,
            "channel_repeat": self.channel_repeat, "denser": self.denser, "strides": self.strides,
            "padding": self.padding, "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias, "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


@keras.utils.register_keras_serializable(package="tinyasc")
class WSDense(keras.layers.Layer):
    """Weight-sampling fully connected layer (SC†): column n of the weight matrix is
    φ[n·s : n·s + inputs], with s = inputs // compactness."""

    def __init__(self, units, compactness=1, activation=None, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.units = _positive_int("units", units)
        self.compactness = _positive_int("compactness", compactness)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)

    def build(self, input_shape):
        inputs = int(input_shape[-1])
        self.sampling_stride = sampling_stride(inputs, self.compactness)
        length = condensed_length(inputs, self.units, self.sampling_stride)
        limit = float(np.sqrt(6.0 / (inputs + self.units)))
        self.condensed = self.add_weight(
            name="condensed_vector", shape=(length,), initializer=keras.initializers.RandomUniform(-limit, limit)
        )
        rows, _ = sample_indices(inputs, self.units, self.sampling_stride, 1, 1)
        self._rows = tf.constant(rows)  # [inputs, units]
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros") if self.use_bias else None
        super().build(input_shape)

    def sampled_kernel(self):
        """The full weight matrix, shape (inputs, units)."""
        return tf.gather(self.condensed, self._rows)

    def call(self, inputs):
        y = tf.matmul(inputs, self.sampled_kernel())
        if self.bias is not None:
            y = tf.nn.bias_add(y, self.bias)
        return self.activation(y)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(), "units": self.units, "compactness": self.compactness,
            "activation": keras.activations.serialize(self.activation), "use_bias": self.use_bias,
        }


CUSTOM_OBJECTS = {"WSConv2D": WSConv2D, "WSDense": WSDense}


# ---- SoundNet-8 baseline and the WSNet configurations of the supplementary Table 2 ----

# (kernel L, stride, filters N, max-pool after) of SoundNet-8's conv1..conv8, the baseline WSNet
# compresses on ESC-50, UrbanSound8K and DCASE. conv8 has 1024 filters: with that reading the
# paper's size ratios (25x, 45x) reproduce (tests/test_wsnet_layers.py).
SOUNDNET8 = (
    (64, 2, 16, 8),
    (32, 2, 32, 8),
    (16, 2, 64, 1),
    (8, 2, 128, 1),
    (4, 2, 256, 4),
    (4, 2, 512, 1),
    (4, 2, 1024, 1),
    (8, 2, 1024, 1),
)

# Per layer (S, C, D), Table 2 as DESIGN §4 reads it: conv1-4 share a setting, then conv5..conv8.
# C is capped by the layer's input channels (conv1 sees one channel, so its C is 1).
WSNET_CONFIGS = {
    "baseline": ((1, 1, 1),) * 8,
    "S8C4D2": ((4, 4, 2),) * 4 + ((4, 4, 1), (4, 4, 1), (4, 4, 1), (8, 4, 1)),
    "S8C8D2": ((4, 4, 2),) * 4 + ((4, 4, 1), (4, 4, 1), (4, 8, 1), (8, 8, 1)),
}


def soundnet8(num_classes: int = 10, input_samples: int = ANCHOR_INPUT_SAMPLES, config: str = "baseline", width: float = 1.0):
    """SoundNet-8 on raw audio (T, 1, 1), with every conv a WSConv2D set by `config` (the baseline
    is S1C1D1: an ordinary convolution). `width` scales the filter counts for small experiments.
    'same' padding so 1-second clips keep a time axis through all eight layers."""
    if config not in WSNET_CONFIGS:
        raise ValueError(f"expected config in {sorted(WSNET_CONFIGS)}, received: config={config!r}")
    inputs = keras.Input((input_samples, 1, 1))
    x, channels = inputs, 1
    for index, ((kernel, stride, filters, pool), (s, c, d)) in enumerate(zip(SOUNDNET8, WSNET_CONFIGS[config]), start=1):
        filters = max(1, int(round(filters * width)))
        repeat = c if channels % c == 0 and channels >= c else 1
        x = WSConv2D(filters, kernel, compactness=s, channel_repeat=repeat, denser=d, strides=stride,
                     padding="same", use_bias=False, name=f"conv{index}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{index}")(x)
        x = keras.layers.ReLU(name=f"relu{index}")(x)
        if pool > 1:
            x = keras.layers.MaxPool2D((pool, 1), padding="same", name=f"pool{index}")(x)
        channels = filters
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"soundnet8_{config}")


def conv_weight_counts(model) -> dict:
    """Stored conv weights of a soundnet8 model: condensed filters, and denser-sampling 1×1
    projections separately (the paper's size ratios leave the projections out)."""
    condensed = sum(int(np.prod(l.condensed.shape)) for l in model.layers if isinstance(l, WSConv2D))
    projection = sum(int(np.prod(l.projection.shape)) for l in model.layers if isinstance(l, WSConv2D) and l.projection is not None)
    return {"condensed": condensed, "projection": projection}


# ---- a SoundNet-8-shaped WSNet small enough for a Cortex-M4 with 256 KB RAM (nrf52840) ----

# (kernel L, conv stride, filters N, max-pool after): SoundNet-8's kernels, fewer and narrower
# layers, a stride-4 first conv, so a 1-s 16 kHz clip peaks at 4000 × 16 int8 activations (64 KB).
WSNET_MINI = (
    (64, 4, 8, 4),
    (32, 2, 16, 4),
    (16, 2, 32, 1),
    (8, 2, 64, 1),
    (4, 2, 64, 1),
    (4, 2, 128, 1),
)
# (S, C, D) per layer, S8C4D2's reading of Table 2 (conv1-4 S8C4D2, later layers C4 D1).
WSNET_MINI_CONFIGS = {
    "baseline": ((1, 1, 1),) * 6,
    "S8C4D2": ((8, 4, 2),) * 4 + ((8, 4, 1), (8, 4, 1)),
    "S8C8D2": ((8, 8, 2),) * 4 + ((8, 8, 1), (8, 8, 1)),
}


def wsnet_mini(num_classes: int = 10, input_samples: int = ANCHOR_INPUT_SAMPLES, config: str = "S8C4D2"):
    """`WSNET_MINI` with every conv set by `config`, written for QAT (tinyasc.models.wsnet_quant):
    conv + bias + ReLU in one layer (a bias replaces the batch norm, DESIGN §4), denser sampling as
    a WSConv2D of D·N filters with compactness S·D (the same sampling stride) then a 1×1 Conv2D.
    The "baseline" has ordinary Conv2D layers of the same shapes."""
    if config not in WSNET_MINI_CONFIGS:
        raise ValueError(f"expected config in {sorted(WSNET_MINI_CONFIGS)}, received: config={config!r}")
    inputs = keras.Input((input_samples, 1, 1), name="waveform")
    x, channels = inputs, 1
    for index, ((kernel, stride, filters, pool), (s, c, d)) in enumerate(
        zip(WSNET_MINI, WSNET_MINI_CONFIGS[config]), start=1
    ):
        name = f"conv{index}"
        if (s, c, d) == (1, 1, 1):
            x = keras.layers.Conv2D(filters, (kernel, 1), strides=(stride, 1), padding="same", activation="relu", name=name)(x)
        else:
            repeat = c if channels % c == 0 and channels >= c else 1
            x = WSConv2D(filters * d, kernel, compactness=s * d, channel_repeat=repeat, strides=stride,
                         padding="same", activation="relu", name=name)(x)
            if d > 1:
                x = keras.layers.Conv2D(filters, 1, activation="relu", name=f"{name}_projection")(x)
        if pool > 1:
            x = keras.layers.MaxPool2D((pool, 1), padding="same", name=f"pool{index}")(x)
        channels = filters
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"wsnet_mini_{config}")
