"""Models for the activation and quantization ops: small Keras models the real converter turns into
RELU, RELU6, LEAKY_RELU, LOGISTIC, TANH, HARD_SWISH and SOFTMAX, and hand-built single-op
flatbuffers that reach quantizations the converter never picks (and QUANTIZE int8 → int8, which
it only emits between ops that need different scales)."""

import numpy as np

from op_models import _layers


def _conv_then(activation, input_shape=(10, 1, 4), filters=6):
    keras, L = _layers()
    x = L.Input(input_shape)
    return keras.Model(x, activation(L.Conv2D(filters, (3, 1))(x)))


def relu_on_input():
    """A ReLU with nothing before it to fuse into: a standalone RELU that requantizes."""
    keras, L = _layers()
    x = L.Input((6, 1, 3))
    return keras.Model(x, L.Conv2D(3, (1, 1))(L.ReLU()(x)))


def relu6_on_input():
    keras, L = _layers()
    x = L.Input((6, 1, 3))
    return keras.Model(x, L.Conv2D(3, (1, 1))(L.ReLU(max_value=6)(x)))


def conv_then_leaky_relu():
    _, L = _layers()
    return _conv_then(L.LeakyReLU(0.2))


def conv_then_sigmoid():
    _, L = _layers()
    return _conv_then(L.Activation("sigmoid"))


def conv_then_tanh():
    _, L = _layers()
    return _conv_then(L.Activation("tanh"))


def conv_then_hard_swish():
    """x · relu6(x + 3) / 6, which the converter fuses into one HARD_SWISH."""
    from tinyasc.tf_env import import_tf

    tf, _ = import_tf()
    return _conv_then(lambda y: y * tf.nn.relu6(y + 3) / 6)


def dense_then_softmax():
    keras, L = _layers()
    x = L.Input((12,))
    return keras.Model(x, L.Softmax()(L.Dense(7)(x)))


def conv_then_softmax_over_channels():
    """Softmax over the last axis of a 4-D tensor: 8 rows of 10 classes."""
    keras, L = _layers()
    x = L.Input((10, 1, 4))
    return keras.Model(x, L.Softmax()(L.Conv2D(10, (3, 1))(x)))


def every_activation_in_a_chain():
    """All seven ops in one model, for the firmware test in QEMU."""
    from tinyasc.tf_env import import_tf

    tf, keras = import_tf()
    L = keras.layers
    x = L.Input((16, 1, 4))
    y = L.Conv2D(8, (3, 1))(L.ReLU()(x))
    y = L.Conv2D(8, (3, 1))(L.LeakyReLU(0.1)(y))
    y = L.Conv2D(8, (1, 1))(L.Activation("sigmoid")(y))
    y = L.Conv2D(8, (1, 1))(L.ReLU(max_value=6)(L.Activation("tanh")(y)))
    y = L.Flatten()(L.Conv2D(4, (1, 1))(y * tf.nn.relu6(y + 3) / 6))
    return keras.Model(x, L.Softmax()(L.Dense(10)(y)))


# name: (builder, ops the converted model must contain)
ACTIVATION_MODELS = {
    "relu_on_input": (relu_on_input, ["RELU", "CONV_2D"]),
    "relu6_on_input": (relu6_on_input, ["RELU6", "CONV_2D"]),
    "conv_then_leaky_relu": (conv_then_leaky_relu, ["CONV_2D", "LEAKY_RELU"]),
    "conv_then_sigmoid": (conv_then_sigmoid, ["CONV_2D", "LOGISTIC"]),
    "conv_then_tanh": (conv_then_tanh, ["CONV_2D", "TANH"]),
    "conv_then_hard_swish": (conv_then_hard_swish, ["CONV_2D", "HARD_SWISH"]),
    "dense_then_softmax": (dense_then_softmax, ["FULLY_CONNECTED", "SOFTMAX"]),
    "conv_then_softmax_over_channels": (conv_then_softmax_over_channels, ["CONV_2D", "SOFTMAX"]),
    "every_activation_in_a_chain": (every_activation_in_a_chain, [
        "RELU", "CONV_2D", "LEAKY_RELU", "CONV_2D", "LOGISTIC", "CONV_2D", "TANH", "RELU6", "CONV_2D",
        "HARD_SWISH", "CONV_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]),
}


# ---- hand-built single-op models ----


def single_op_tflite(op_name: str, shape, input_quant, output_quant, options: dict | None = None) -> bytes:
    """A one-op int8 .tflite: input tensor 0 → `op_name` → output tensor 1, both of `shape`,
    quantized (scale, zero_point) as given. `options` sets the op's builtin options
    (alpha for LEAKY_RELU, beta for SOFTMAX)."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    code = getattr(schema.BuiltinOperator, op_name)
    opcode = schema.OperatorCodeT()
    opcode.builtinCode = code
    opcode.deprecatedBuiltinCode = min(code, 127)
    opcode.version = 1

    def tensor(name, quantization):
        t = schema.TensorT()
        t.name = name
        t.shape = list(shape)
        t.type = schema.TensorType.INT8
        t.buffer = 0
        q = schema.QuantizationParametersT()
        q.scale = [float(quantization[0])]
        q.zeroPoint = [int(quantization[1])]
        t.quantization = q
        return t

    op = schema.OperatorT()
    op.opcodeIndex = 0
    op.inputs = [0]
    op.outputs = [1]
    if op_name == "LEAKY_RELU":
        op.builtinOptionsType = schema.BuiltinOptions.LeakyReluOptions
        op.builtinOptions = schema.LeakyReluOptionsT()
        op.builtinOptions.alpha = float(options["alpha"])
    elif op_name == "SOFTMAX":
        op.builtinOptionsType = schema.BuiltinOptions.SoftmaxOptions
        op.builtinOptions = schema.SoftmaxOptionsT()
        op.builtinOptions.beta = float((options or {}).get("beta", 1.0))

    subgraph = schema.SubGraphT()
    subgraph.tensors = [tensor(b"input", input_quant), tensor(b"output", output_quant)]
    subgraph.operators = [op]
    subgraph.inputs = [0]
    subgraph.outputs = [1]

    model = schema.ModelT()
    model.version = 3
    model.operatorCodes = [opcode]
    model.subgraphs = [subgraph]
    model.buffers = [schema.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


ALL_INT8 = np.arange(-128, 128, dtype=np.int8)

# (op, input (scale, zp), output (scale, zp), options): quantizations the tables must get right,
# from the converter's usual picks to extreme scales and zero points.
TABLE_CASES = [
    ("RELU", (0.0546, 15), (0.0240, -128), None),
    ("RELU", (0.02, -128), (0.02, -128), None),
    ("RELU", (0.1, 100), (0.003, -20), None),
    ("RELU6", (0.0546, 15), (0.0235, -128), None),
    ("RELU6", (0.01, -100), (0.01, -100), None),
    ("RELU6", (0.2, 0), (0.2, 0), None),
    ("LEAKY_RELU", (0.0472, 7), (0.0273, -81), {"alpha": 0.2}),
    ("LEAKY_RELU", (0.1, -30), (0.05, 40), {"alpha": 0.01}),
    ("LEAKY_RELU", (0.03, 0), (0.06, 0), {"alpha": -0.5}),
    ("QUANTIZE", (0.05, 3), (0.07, -9), None),
    ("QUANTIZE", (0.01, -128), (0.5, 127), None),
    ("QUANTIZE", (0.3, 20), (0.001, 0), None),
    ("LOGISTIC", (0.0406, -15), (1 / 256, -128), None),
    ("LOGISTIC", (0.1, 0), (1 / 256, -128), None),
    ("LOGISTIC", (0.004, 60), (1 / 256, -128), None),
    ("LOGISTIC", (0.6, -128), (1 / 256, -128), None),
    ("TANH", (0.0534, -1), (1 / 128, 0), None),
    ("TANH", (0.01, 30), (1 / 128, 0), None),
    ("TANH", (0.25, -100), (1 / 128, 0), None),
    ("HARD_SWISH", (0.0454, -7), (0.0254, -113), None),
    ("HARD_SWISH", (0.02, 10), (0.03, -100), None),
    ("HARD_SWISH", (0.1, -60), (0.08, -90), None),
    ("HARD_SWISH", (0.005, 0), (0.004, -20), None),
]
