"""WSNet layers equal ordinary convolutions / dense layers with the explicitly sampled kernel,
their gradients reach the condensed filter exactly where it was sampled, and they round-trip
through get_config and .h5. The worked example of DESIGN §4 is checked too."""

import numpy as np
import pytest

from tinyasc.models.wsnet import WSConv2D, WSDense, sample_indices
from tinyasc.tf_env import import_tf

tf, keras = import_tf()


def numpy_sampled_kernel(phi, kernel_size, filters, stride, channels):
    """K[l, m, n] = Φ[n·s + l, m mod M*], written out with loops as the definition."""
    m_star = phi.shape[1]
    kernel = np.zeros((kernel_size, channels, filters), np.float32)
    for l in range(kernel_size):
        for m in range(channels):
            for n in range(filters):
                kernel[l, m, n] = phi[n * stride + l, m % m_star]
    return kernel


def conv_time(x, kernel, stride=1, padding="VALID"):
    """Ordinary convolution over time of x (B, T, 1, M) with kernel (L, M, N)."""
    return tf.nn.conv2d(x, kernel[:, None], strides=(1, stride, 1, 1), padding=padding).numpy()


CASES = [
    # filters, kernel, S, C, D, strides, padding, channels
    (4, 8, 1, 1, 1, 1, "valid", 1),
    (6, 8, 4, 1, 1, 2, "valid", 1),
    (5, 4, 2, 2, 1, 1, "same", 6),
    (8, 16, 8, 4, 1, 1, "valid", 8),
    (4, 8, 8, 2, 2, 1, "valid", 4),  # denser sampling: 8 filters at stride 1, then 1×1 → 4
    (3, 4, 2, 1, 2, 3, "same", 3),
]


@pytest.mark.parametrize("filters, kernel, S, C, D, strides, padding, channels", CASES)
def test_ws_conv_equals_conv_with_the_sampled_kernel(filters, kernel, S, C, D, strides, padding, channels):
    layer = WSConv2D(filters, kernel, compactness=S, channel_repeat=C, denser=D, strides=strides, padding=padding)
    x = np.random.default_rng(0).normal(size=(2, 40, 1, channels)).astype(np.float32)
    y = layer(x).numpy()
    layer.bias.assign(np.random.default_rng(1).normal(size=filters).astype(np.float32))
    y = layer(x).numpy()

    phi = layer.condensed.numpy()
    assert phi.shape == (kernel + (filters * D - 1) * layer.sampling_stride, channels // C)
    assert layer.sampling_stride == max(1, max(1, kernel // S) // D)
    expected = conv_time(x, numpy_sampled_kernel(phi, kernel, filters * D, layer.sampling_stride, channels), strides, padding.upper())
    if D > 1:
        expected = tf.nn.conv2d(expected, layer.projection, 1, "VALID").numpy()
    expected += layer.bias.numpy()
    assert y.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_gradients_reach_the_condensed_filter_where_it_was_sampled():
    layer = WSConv2D(4, 6, compactness=3, channel_repeat=2, use_bias=False)
    x = tf.constant(np.random.default_rng(2).normal(size=(2, 20, 1, 4)).astype(np.float32))
    layer.build(x.shape)
    with tf.GradientTape(persistent=True) as tape:
        kernel = layer.sampled_kernel()
        loss = tf.reduce_sum(tf.square(tf.nn.conv2d(x, kernel, 1, "VALID")))
    # The gather makes this gradient sparse (IndexedSlices): densify before comparing.
    grad_phi = tf.convert_to_tensor(tape.gradient(loss, layer.condensed)).numpy()
    grad_kernel = tape.gradient(loss, kernel).numpy()[:, 0]  # [L, M, N]
    rows, columns = sample_indices(6, 4, layer.sampling_stride, 4, 2)
    expected = np.zeros_like(grad_phi)
    for l in range(6):
        for m in range(4):
            for n in range(4):
                expected[rows[l, n], columns[m]] += grad_kernel[l, m, n]
    np.testing.assert_allclose(grad_phi, expected, rtol=1e-4, atol=1e-4)
    assert np.count_nonzero(grad_phi) == grad_phi.size  # every condensed weight is used
    assert layer(x).shape == (2, 15, 1, 4)


def test_worked_example_of_design_section_4():
    # L=3, N=2, s=1, M=2, C=2, Φ=[1,2,3,4] (L*=4, M*=1), F=[[1,0],[0,1],[2,1],[1,1],[0,2]]
    layer = WSConv2D(2, 3, compactness=3, channel_repeat=2, use_bias=False)
    x = np.array([[1, 0], [0, 1], [2, 1], [1, 1], [0, 2]], np.float32).reshape(1, 5, 1, 2)
    layer.build(x.shape)
    layer.condensed.assign(np.array([[1], [2], [3], [4]], np.float32))
    assert layer(x).numpy().reshape(3, 2).tolist() == [[12, 17], [13, 19], [13, 20]]


def test_ws_dense_equals_dense_with_the_sampled_matrix():
    layer = WSDense(5, compactness=4)
    x = np.random.default_rng(3).normal(size=(3, 16)).astype(np.float32)
    y = layer(x).numpy()
    phi = layer.condensed.numpy()
    s = layer.sampling_stride
    assert s == 4 and phi.shape == (16 + 4 * s,)
    matrix = np.stack([phi[n * s : n * s + 16] for n in range(5)], axis=1)
    np.testing.assert_allclose(y, x @ matrix, rtol=1e-5, atol=1e-5)


def test_layers_round_trip_through_config_and_h5(tmp_path):
    inputs = keras.Input((64, 1, 4))
    y = WSConv2D(8, 8, compactness=4, channel_repeat=2, denser=2, activation="relu")(inputs)
    y = keras.layers.GlobalAveragePooling2D()(y)
    model = keras.Model(inputs, WSDense(3, compactness=2)(y))
    clone = keras.Model.from_config(model.get_config())
    assert [l.get_config() for l in clone.layers[1:]] == [l.get_config() for l in model.layers[1:]]
    model.save(tmp_path / "ws.h5")
    again = keras.models.load_model(tmp_path / "ws.h5")
    x = np.random.default_rng(4).normal(size=(2, 64, 1, 4)).astype(np.float32)
    np.testing.assert_array_equal(again(x).numpy(), model(x).numpy())
    assert model.count_params() < 8 * 8 * 4 + 3 * 8  # fewer weights than the unsampled layers


@pytest.mark.parametrize("kwargs, message", [
    ({"filters": 0, "kernel_size": 3}, "received: filters=0"),
    ({"filters": 4, "kernel_size": 3, "padding": "causal"}, "received: padding='causal'"),
    ({"filters": 4, "kernel_size": 3, "compactness": 1.5}, "received: compactness=1.5"),
])
def test_bad_arguments_say_what_was_expected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WSConv2D(**kwargs)


def test_channels_not_divisible_by_the_repeat_are_refused():
    with pytest.raises(ValueError, match="channels=6, channel_repeat=4"):
        WSConv2D(4, 3, channel_repeat=4)(np.zeros((1, 10, 1, 6), np.float32))


# ---- the paper's configurations ----


def test_table2_size_ratios_reproduce_within_ten_percent():
    from tinyasc.models.wsnet import conv_weight_counts, soundnet8

    baseline = conv_weight_counts(soundnet8(config="baseline"))["condensed"]
    assert baseline == 11_256_832  # SoundNet-8 conv1..conv8 weights (no bias), conv8 with 1024 filters
    for config, paper_ratio in (("S8C4D2", 25), ("S8C8D2", 45)):
        counts = conv_weight_counts(soundnet8(config=config))
        ratio = baseline / counts["condensed"]
        assert abs(ratio / paper_ratio - 1) < 0.10, (config, ratio)
        # Counting the denser-sampling 1×1 projections too costs ~10-15 %: 22.9x and 38.4x.
        assert baseline / (counts["condensed"] + counts["projection"]) < ratio


def test_small_wsnet_trains_a_step_and_converts_to_int8(tmp_path):
    from tinyasc.convert import quantize_int8
    from tinyasc.compile.tflite_reader import read_tflite
    from tinyasc.models.wsnet import soundnet8

    model = soundnet8(num_classes=3, input_samples=4000, config="S8C4D2", width=0.125)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(0, 0.1, (8, 4000, 1, 1)).astype(np.float32)
    model.fit(x, np.arange(8) % 3, epochs=1, verbose=0)
    graph = read_tflite(quantize_int8(model, x, tmp_path / "ws.tflite"))
    assert {op.kind.value for op in graph.ops} <= {"CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED"}
