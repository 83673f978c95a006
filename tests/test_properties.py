"""Property: for any small model made of supported layers, the generated C equals TFLM bit for bit.

Hypothesis draws layer parameters (input H/W/C, filter size, stride, dilation, padding, channels,
groups, activation, bias), random weights and a random representative dataset, so the converter
picks random quantization parameters; the real TFLite converter makes the int8 model, tinyasc
compiles it, and the host build (ASan + UBSan) must agree with TFLM on random int8 inputs.
Converting costs ~1 s per model, so each test draws few examples; `derandomize` makes CI see the
same examples every run, and no example database is written into the repo.
"""

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tinyasc.compile.codegen import compile_graph, render_model_sources, write_sources
from tinyasc.compile.host import build_host_runner, run_host
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.tflite_reader import read_tflite

RANDOM_INPUTS = 20


def few_examples(count: int):
    return settings(
        max_examples=count, deadline=None, derandomize=True, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _keras():
    from tinyasc.tf_env import import_tf

    return import_tf()[1]


# ---- layer strategies: each draws a function input tensor -> output tensor ----

activations = st.sampled_from([None, "relu", "relu6"])


@st.composite
def conv_layer(draw, height: int, width: int, channels: int):
    """A Conv2D that fits an input of height x width x channels (groups divide the channels)."""
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if channels % g == 0]))
    filters = groups * draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, min(5, height))), draw(st.integers(1, min(3, width))))
    dilated = draw(st.booleans())  # Keras allows a dilation or a stride above 1, not both
    dilation = (draw(st.integers(1, 2)), 1) if dilated else (1, 1)
    strides = (1, 1) if dilated else (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["same", "valid"]))
    if padding == "valid" and (kernel[0] - 1) * dilation[0] + 1 > height:
        padding = "same"
    config = dict(
        filters=filters, kernel_size=kernel, strides=strides, dilation_rate=dilation, padding=padding,
        groups=groups, activation=draw(activations), use_bias=draw(st.booleans()),
    )
    note(f"Conv2D({config}) on {height}x{width}x{channels}")  # shown when an example fails
    return _keras().layers.Conv2D(**config)


@st.composite
def depthwise_layer(draw, height: int, width: int, channels: int):
    """A DepthwiseConv2D that fits the input: mostly multiplier 1 and dilation 1 (the fast kernels),
    sometimes multiplier 2 or dilation 2 (the reference); strides up to 3 (over a 1- or 2-tap kernel)."""
    kernel = (draw(st.integers(1, min(5, height + 2))), draw(st.integers(1, min(3, width + 2))))
    dilated = draw(st.integers(0, 4)) == 0  # Keras allows a dilation or a stride above 1, not both
    dilation = (2, 1) if dilated else (1, 1)
    strides = (1, 1) if dilated else (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["same", "valid"]))
    if padding == "valid" and ((kernel[0] - 1) * dilation[0] + 1 > height or kernel[1] > width):
        padding = "same"
    config = dict(
        kernel_size=kernel, strides=strides, dilation_rate=dilation, padding=padding,
        depth_multiplier=draw(st.sampled_from([1, 1, 1, 2])), activation=draw(activations),
        use_bias=draw(st.booleans()),
    )
    note(f"DepthwiseConv2D({config}) on {height}x{width}x{channels}")
    return _keras().layers.DepthwiseConv2D(**config)


@st.composite
def pool_layer(draw, height: int, width: int):
    layers = _keras().layers
    size = (draw(st.integers(1, min(4, height))), draw(st.integers(1, min(3, width))))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["same", "valid"]))
    pool = layers.MaxPool2D if draw(st.booleans()) else layers.AveragePooling2D
    note(f"{pool.__name__}({size}, strides={strides}, padding={padding!r}) on {height}x{width}")
    return pool(size, strides=strides, padding=padding)


@st.composite
def image_input(draw):
    """(height, width, channels) of a small NHWC input."""
    return draw(st.integers(1, 12)), draw(st.integers(1, 5)), draw(st.integers(1, 6))


@st.composite
def representative_data(draw, shape):
    """Float samples with a random offset and spread: the converter's scales and zero points follow."""
    seed = draw(st.integers(0, 2**16))
    center, spread = draw(st.floats(-2, 2)), draw(st.floats(0.05, 8))
    return np.random.default_rng(seed).normal(center, spread, (16,) + tuple(shape)).astype(np.float32)


def build(input_shape, layers, seed: int):
    keras = _keras()
    keras.utils.set_random_seed(seed)
    x = keras.layers.Input(input_shape)
    y = x
    for layer in layers:
        y = layer(y)
    model = keras.Model(x, y)
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # Keras starts biases at zero; give them values the int8 model must carry
        if getattr(layer, "use_bias", False) and layer.weights:
            weights = layer.get_weights()
            weights[-1] = rng.normal(0, 0.3, weights[-1].shape).astype(np.float32)
            layer.set_weights(weights)
    return model


def assert_bit_exact_with_tflm(model, representative, seed: int, board=None) -> None:
    """`board` (a Board) selects its kernels, DSP ones included (tas_dsp.h's portable twins on the host)."""
    from tinyasc.convert import quantize_int8

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        path = quantize_int8(model, representative, folder / "model.tflite")
        graph = read_tflite(path)
        write_sources(render_model_sources(compile_graph(graph, board=board), "model.tflite", []), folder / "src")
        runner = build_host_runner(folder / "src", folder / "runner")
        x = graph.tensors[graph.inputs[0]]
        inputs = np.random.default_rng(seed).integers(-128, 128, (RANDOM_INPUTS, x.num_elements), dtype=np.int8)
        expected = tflm_outputs(path.read_bytes(), inputs, x.shape)
        actual = run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)
    assert np.array_equal(actual, expected), f"{int(np.sum(actual != expected))} output bytes differ"


def output_hw(model) -> tuple[int, int]:
    return model.output_shape[1], model.output_shape[2]


# ---- properties ----


@few_examples(10)
@given(data=st.data(), shape=image_input(), seed=st.integers(0, 1000))
def test_any_conv2d_is_bit_exact_with_tflm(data, shape, seed):
    conv = data.draw(conv_layer(*shape))
    assert_bit_exact_with_tflm(build(shape, [conv], seed), data.draw(representative_data(shape)), seed)


@few_examples(10)
@given(data=st.data(), shape=image_input(), seed=st.integers(0, 1000), board=st.sampled_from(["nrf52840", "cortex-m3"]))
def test_any_depthwise_conv_is_bit_exact_with_tflm(data, shape, seed, board):
    """Odd channel counts, 1x1 images, strides over the kernel, padding on every side; on the M4
    (DSP kernel) and the M3 (portable kernel)."""
    from tinyasc.artifacts.boards import get_board

    depthwise = data.draw(depthwise_layer(*shape))
    model = build(shape, [depthwise], seed)
    assert_bit_exact_with_tflm(model, data.draw(representative_data(shape)), seed, get_board(board))


@few_examples(6)
@given(data=st.data(), shape=image_input(), seed=st.integers(0, 1000))
def test_any_pooling_is_bit_exact_with_tflm(data, shape, seed):
    pool = data.draw(pool_layer(shape[0], shape[1]))
    assert_bit_exact_with_tflm(build(shape, [pool], seed), data.draw(representative_data(shape)), seed)


@few_examples(5)
@given(data=st.data(), inputs=st.integers(1, 40), outputs=st.integers(1, 20), seed=st.integers(0, 1000))
def test_any_fully_connected_is_bit_exact_with_tflm(data, inputs, outputs, seed):
    dense = _keras().layers.Dense(outputs, activation=data.draw(activations), use_bias=data.draw(st.booleans()))
    model = build((inputs,), [dense], seed)
    assert_bit_exact_with_tflm(model, data.draw(representative_data((inputs,))), seed)


@few_examples(4)
@given(data=st.data(), shape=image_input(), seed=st.integers(0, 1000))
def test_any_global_mean_is_bit_exact_with_tflm(data, shape, seed):
    mean = _keras().layers.GlobalAveragePooling2D()
    assert_bit_exact_with_tflm(build(shape, [mean], seed), data.draw(representative_data(shape)), seed)


@few_examples(8)
@given(
    data=st.data(), shape=image_input(), seed=st.integers(0, 1000),
    second=st.sampled_from(["conv", "pool", "mean", "dense"]),
)
def test_any_chain_of_two_layers_is_bit_exact_with_tflm(data, shape, seed, second):
    """A conv followed by a conv, a pool, a global mean, or flatten + dense."""
    layers = _keras().layers
    first = data.draw(conv_layer(*shape))
    probe = build(shape, [first], seed)  # the first layer's output shape decides what fits next
    height, width = output_hw(probe)
    channels = probe.output_shape[3]
    if second == "conv":
        follow = [data.draw(conv_layer(height, width, channels))]
    elif second == "pool":
        follow = [data.draw(pool_layer(height, width))]
    elif second == "mean":
        follow = [layers.GlobalAveragePooling2D()]
    else:
        follow = [layers.Flatten(), layers.Dense(data.draw(st.integers(1, 12)), activation=data.draw(activations))]
    first = layers.Conv2D.from_config(first.get_config())  # the same layer, unbuilt (the probe built it)
    model = build(shape, [first] + follow, seed)
    assert_bit_exact_with_tflm(model, data.draw(representative_data(shape)), seed)
