"""Small Keras models for the structural and arithmetic ops (depthwise conv, ADD/SUB/MUL with
broadcasting and constant operands, concatenation, padding, squeeze/expand_dims, transpose, strided
slice, SUM, keep_dims MEAN) and three multi-op blocks (squeeze-and-excitation, residual,
depthwise-separable). Each entry names the ops its converted .tflite must contain, so a converter
change that removes the op under test fails loudly instead of testing nothing."""

import numpy as np


def _tf():
    from tinyasc.tf_env import import_tf

    return import_tf()


def _layers():
    _, keras = _tf()
    return keras, keras.layers


def _conv(L, filters, name=None):
    """A 1x1 conv that gives the op under test an arena tensor with its own quantization."""
    return L.Conv2D(filters, (1, 1), name=name)


# ---- DEPTHWISE_CONV_2D ----


def depthwise_same_stride2_relu():
    keras, L = _layers()
    x = L.Input((9, 7, 3))
    return keras.Model(x, L.DepthwiseConv2D((3, 3), strides=2, padding="same", activation="relu")(x))


def depthwise_multiplier2_dilated():
    keras, L = _layers()
    x = L.Input((20, 1, 4))
    return keras.Model(x, L.DepthwiseConv2D((3, 1), depth_multiplier=2, dilation_rate=(2, 1), padding="same")(x))


def depthwise_valid_relu6_no_bias():
    keras, L = _layers()
    x = L.Input((12, 6, 5))
    return keras.Model(x, L.DepthwiseConv2D((5, 3), padding="valid", use_bias=False, activation="relu6")(x))


def depthwise_stride_1x2_multiplier3():
    keras, L = _layers()
    x = L.Input((8, 10, 2))
    return keras.Model(x, L.DepthwiseConv2D((2, 4), strides=(1, 2), depth_multiplier=3, padding="same")(x))


# ---- ADD, SUB, MUL ----


def add_two_branches_relu():
    keras, L = _layers()
    x = L.Input((6, 5, 4))
    y = L.Add()([_conv(L, 4)(x), L.Conv2D(4, (3, 3), padding="same")(x)])
    return keras.Model(x, L.ReLU()(y))


def add_input_to_branch():
    keras, L = _layers()
    x = L.Input((7, 3, 3))
    return keras.Model(x, L.Add()([x, _conv(L, 3)(x)]))


def add_constant_broadcast():
    tf, keras = _tf()
    L = keras.layers
    x = L.Input((5, 4, 6))
    bias = tf.constant(np.linspace(-2, 3, 6, dtype=np.float32))
    # Applied to the model input: after a conv, the converter would fold it into the conv's bias.
    return keras.Model(x, L.Lambda(lambda t: t + bias)(x))


def sub_two_branches():
    keras, L = _layers()
    x = L.Input((6, 4, 3))
    return keras.Model(x, L.Subtract()([_conv(L, 3)(x), L.Conv2D(3, (3, 1), padding="same")(x)]))


def sub_broadcast_channel_mean():
    tf, keras = _tf()
    L = keras.layers
    x = L.Input((5, 5, 4))
    y = _conv(L, 4)(x)
    mean = L.GlobalAveragePooling2D(keepdims=True)(y)
    return keras.Model(x, L.Subtract()([y, mean]))


def mul_two_branches():
    keras, L = _layers()
    x = L.Input((6, 5, 3))
    return keras.Model(x, L.Multiply()([_conv(L, 3)(x), L.Conv2D(3, (3, 3), padding="same")(x)]))


def mul_constant_per_channel():
    tf, keras = _tf()
    L = keras.layers
    x = L.Input((4, 6, 5))
    scale = tf.constant(np.linspace(-1.5, 2.5, 5, dtype=np.float32))
    return keras.Model(x, L.Lambda(lambda t: t * scale)(x))


def mul_broadcast_rows():
    tf, keras = _tf()
    L = keras.layers
    x = L.Input((6, 4, 3))
    y = _conv(L, 3)(x)
    row = L.AveragePooling2D((6, 1))(y)  # [1, 1, W, C]
    row = _conv(L, 3)(row)
    return keras.Model(x, L.ReLU()(L.Multiply()([y, row])))  # the ReLU fuses into MUL


def mul_input_by_itself():
    keras, L = _layers()
    x = L.Input((5, 3, 2))
    return keras.Model(x, L.Multiply()([x, x]))


def sub_from_constant():
    keras, L = _layers()
    x = L.Input((4, 4, 3))
    return keras.Model(x, L.Lambda(lambda t: 1.5 - t)(x))


# ---- CONCATENATION ----


def concat_channels_three_parts():
    keras, L = _layers()
    x = L.Input((5, 4, 3))
    parts = [_conv(L, 2)(x), L.Conv2D(3, (3, 3), padding="same")(x), _conv(L, 4)(x)]
    return keras.Model(x, L.Concatenate(axis=-1)(parts))


def concat_height():
    keras, L = _layers()
    x = L.Input((4, 3, 2))
    return keras.Model(x, L.Concatenate(axis=1)([_conv(L, 2)(x), L.MaxPool2D((2, 1))(_conv(L, 2)(x))]))


def concat_width_with_input():
    keras, L = _layers()
    x = L.Input((3, 4, 2))
    return keras.Model(x, L.Concatenate(axis=2)([x, _conv(L, 2)(x)]))


def concat_with_constant_part():
    tf, keras = _tf()
    L = keras.layers
    x = L.Input((4, 3, 2))
    part = tf.constant(np.linspace(-1, 1, 4 * 3 * 2, dtype=np.float32).reshape(1, 4, 3, 2))
    return keras.Model(x, L.Lambda(lambda t: tf.concat([t, part], axis=-1))(_conv(L, 2)(x)))


# ---- PAD, PADV2 ----


def zero_padding_asymmetric():
    keras, L = _layers()
    x = L.Input((5, 4, 3))
    return keras.Model(x, L.ZeroPadding2D(((1, 2), (0, 3)))(_conv(L, 3)(x)))


def pad_constant_value():
    tf, keras = _tf()
    L = keras.layers
    x = L.Input((4, 3, 2))
    y = _conv(L, 2)(x)
    return keras.Model(x, L.Lambda(lambda t: tf.pad(t, [[0, 0], [2, 1], [1, 1], [0, 1]], constant_values=0.75))(y))


def zero_padding_1d_on_3d_tensor():
    keras, L = _layers()
    x = L.Input((10, 3))
    return keras.Model(x, L.ZeroPadding1D((2, 1))(L.Dense(3)(x)))


# ---- SQUEEZE, EXPAND_DIMS ----


def squeeze_then_expand_dims():
    tf, keras = _tf()
    L = keras.layers
    x = L.Input((8, 1, 3))
    y = _conv(L, 4)(x)
    y = L.Lambda(lambda t: tf.squeeze(t, axis=2))(y)  # [1, 8, 4]
    y = L.Lambda(lambda t: tf.expand_dims(t, axis=1))(y)  # [1, 1, 8, 4]
    return keras.Model(x, _conv(L, 2)(y))


def split_reshape_into_squeeze_and_expand_dims(tflite: bytes) -> bytes:
    """The converter writes static squeezes and expand_dims as RESHAPE. Rewrite the one RESHAPE of
    `squeeze_then_expand_dims` ([1, 8, 1, 4] -> [1, 1, 8, 4]) into SQUEEZE(axis 2) -> [1, 8, 4] and
    EXPAND_DIMS(axis 1), so both ops reach TFLM and tinyasc as they would from another converter."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    graph = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    position = next(i for i, op in enumerate(graph.operators) if codes[op.opcodeIndex] == schema.BuiltinOperator.RESHAPE)
    reshape = graph.operators[position]
    source, target = graph.tensors[reshape.inputs[0]], graph.tensors[reshape.outputs[0]]
    assert list(source.shape) == [1, 8, 1, 4] and list(target.shape) == [1, 1, 8, 4]

    def add_buffer(data=None):
        buffer = schema.BufferT()
        buffer.data = None if data is None else np.frombuffer(data, dtype=np.uint8)
        model.buffers.append(buffer)
        return len(model.buffers) - 1

    def add_tensor(name, shape, tensor_type, buffer, quantization=None):
        tensor = schema.TensorT()
        tensor.name, tensor.shape, tensor.type, tensor.buffer = name, np.array(shape, dtype=np.int32), tensor_type, buffer
        tensor.quantization = quantization
        graph.tensors.append(tensor)
        return len(graph.tensors) - 1

    def add_code(builtin):
        code = schema.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
        model.operatorCodes.append(code)
        return len(model.operatorCodes) - 1

    squeezed = add_tensor(b"squeezed", [1, 8, 4], source.type, add_buffer(), source.quantization)
    axis = add_tensor(b"expand_axis", [1], schema.TensorType.INT32, add_buffer(np.int32(1).tobytes()))
    squeeze = schema.OperatorT()
    squeeze.opcodeIndex, squeeze.inputs, squeeze.outputs = add_code(schema.BuiltinOperator.SQUEEZE), [reshape.inputs[0]], [squeezed]
    squeeze.builtinOptionsType = schema.BuiltinOptions.SqueezeOptions
    squeeze.builtinOptions = schema.SqueezeOptionsT()
    squeeze.builtinOptions.squeezeDims = [2]
    expand = schema.OperatorT()
    expand.opcodeIndex, expand.inputs, expand.outputs = add_code(schema.BuiltinOperator.EXPAND_DIMS), [squeezed, axis], list(reshape.outputs)
    expand.builtinOptionsType = schema.BuiltinOptions.ExpandDimsOptions
    expand.builtinOptions = schema.ExpandDimsOptionsT()
    graph.operators[position : position + 1] = [squeeze, expand]

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


# ---- TRANSPOSE ----


def permute_height_width():
    keras, L = _layers()
    x = L.Input((6, 5, 4))
    return keras.Model(x, L.Permute((2, 1, 3))(_conv(L, 4)(x)))


def permute_channels_first():
    keras, L = _layers()
    x = L.Input((3, 4, 5))
    return keras.Model(x, L.Permute((3, 1, 2))(x))


def permute_3d_after_reshape():
    keras, L = _layers()
    x = L.Input((6, 1, 5))
    y = L.Reshape((6, 5))(_conv(L, 5)(x))
    return keras.Model(x, L.Permute((2, 1))(y))


# ---- STRIDED_SLICE ----


def strided_slice_steps_and_reverse():
    tf, keras = _tf()
    L = keras.layers
    x = L.Input((9, 6, 5))
    y = _conv(L, 5)(x)
    return keras.Model(x, L.Lambda(lambda t: tf.strided_slice(t, [0, 1, 5, 0], [1, 8, -7, 3], [1, 2, -2, 1]))(y))


def strided_slice_shrink_axis():
    tf, keras = _tf()
    L = keras.layers
    x = L.Input((5, 4, 6))
    y = _conv(L, 6)(x)
    return keras.Model(x, L.Lambda(lambda t: t[:, 2, :, 1:])(y))


def strided_slice_masks():
    tf, keras = _tf()
    L = keras.layers
    x = L.Input((7, 5, 4))
    y = _conv(L, 4)(x)
    return keras.Model(x, L.Lambda(lambda t: t[:, -4:, :3, ::3])(y))


# ---- SUM, MEAN ----


def sum_height_width():
    tf, keras = _tf()
    L = keras.layers
    x = L.Input((4, 3, 5))
    y = _conv(L, 5)(x)
    return keras.Model(x, L.Lambda(lambda t: tf.reduce_sum(t, axis=[1, 2]))(y))


def sum_channels_keep_dims():
    tf, keras = _tf()
    L = keras.layers
    x = L.Input((5, 4, 6))
    y = _conv(L, 6)(x)
    return keras.Model(x, L.Lambda(lambda t: tf.reduce_sum(t, axis=3, keepdims=True))(y))


def mean_keep_dims_height_width():
    keras, L = _layers()
    x = L.Input((7, 5, 6))
    y = L.Conv2D(6, (3, 3), activation="relu")(x)
    return keras.Model(x, L.GlobalAveragePooling2D(keepdims=True)(y))


def mean_keep_dims_long_window():
    keras, L = _layers()
    x = L.Input((50, 1, 4))
    return keras.Model(x, L.GlobalAveragePooling2D(keepdims=True)(_conv(L, 8)(x)))


# ---- multi-op blocks ----


def squeeze_excitation_block():
    keras, L = _layers()
    x = L.Input((8, 6, 8))
    y = L.Conv2D(8, (3, 3), padding="same", activation="relu")(x)
    s = L.GlobalAveragePooling2D(keepdims=True)(y)
    s = L.Conv2D(2, (1, 1), activation="relu")(s)
    s = L.Conv2D(8, (1, 1), activation="relu6")(s)
    return keras.Model(x, L.Multiply()([y, s]))


def residual_block():
    keras, L = _layers()
    x = L.Input((10, 4, 6))
    y = L.Conv2D(6, (3, 3), padding="same", activation="relu")(x)
    y = L.Conv2D(6, (3, 3), padding="same")(y)
    y = L.ReLU()(L.Add()([x, y]))
    y = L.Conv2D(6, (3, 3), padding="same")(y)
    return keras.Model(x, L.ReLU()(L.Add()([y, _conv(L, 6)(x)])))


def depthwise_separable_block():
    keras, L = _layers()
    x = L.Input((16, 8, 1))
    y = L.Conv2D(8, (3, 3), strides=2, padding="same", use_bias=False)(x)
    y = L.ReLU()(L.BatchNormalization()(y))
    y = L.DepthwiseConv2D((3, 3), padding="same", use_bias=False)(y)
    y = L.ReLU()(L.BatchNormalization()(y))
    y = L.Conv2D(12, (1, 1), use_bias=False)(y)
    y = L.ReLU()(L.BatchNormalization()(y))
    y = L.GlobalAveragePooling2D()(y)
    return keras.Model(x, L.Dense(5)(y))


# name: (builder, op kinds the converted model must contain)
# squeeze_then_expand_dims goes through split_reshape_into_squeeze_and_expand_dims after conversion.
STRUCTURAL_MODELS = {
    "depthwise_same_stride2_relu": (depthwise_same_stride2_relu, {"DEPTHWISE_CONV_2D"}),
    "depthwise_multiplier2_dilated": (depthwise_multiplier2_dilated, {"DEPTHWISE_CONV_2D"}),
    "depthwise_valid_relu6_no_bias": (depthwise_valid_relu6_no_bias, {"DEPTHWISE_CONV_2D"}),
    "depthwise_stride_1x2_multiplier3": (depthwise_stride_1x2_multiplier3, {"DEPTHWISE_CONV_2D"}),
    "add_two_branches_relu": (add_two_branches_relu, {"ADD"}),
    "add_input_to_branch": (add_input_to_branch, {"ADD"}),
    "add_constant_broadcast": (add_constant_broadcast, {"ADD"}),
    "sub_two_branches": (sub_two_branches, {"SUB"}),
    "sub_broadcast_channel_mean": (sub_broadcast_channel_mean, {"SUB", "MEAN"}),
    "mul_two_branches": (mul_two_branches, {"MUL"}),
    "mul_constant_per_channel": (mul_constant_per_channel, {"MUL"}),
    "mul_broadcast_rows": (mul_broadcast_rows, {"MUL"}),
    "mul_input_by_itself": (mul_input_by_itself, {"MUL"}),
    "sub_from_constant": (sub_from_constant, {"SUB"}),
    "concat_channels_three_parts": (concat_channels_three_parts, {"CONCATENATION"}),
    "concat_height": (concat_height, {"CONCATENATION"}),
    "concat_width_with_input": (concat_width_with_input, {"CONCATENATION"}),
    "concat_with_constant_part": (concat_with_constant_part, {"CONCATENATION"}),
    "zero_padding_asymmetric": (zero_padding_asymmetric, {"PAD"}),
    "pad_constant_value": (pad_constant_value, {"PADV2"}),
    "zero_padding_1d_on_3d_tensor": (zero_padding_1d_on_3d_tensor, {"PAD"}),
    "squeeze_then_expand_dims": (squeeze_then_expand_dims, {"SQUEEZE", "EXPAND_DIMS"}),
    "permute_height_width": (permute_height_width, {"TRANSPOSE"}),
    "permute_channels_first": (permute_channels_first, {"TRANSPOSE"}),
    "permute_3d_after_reshape": (permute_3d_after_reshape, {"TRANSPOSE"}),
    "strided_slice_steps_and_reverse": (strided_slice_steps_and_reverse, {"STRIDED_SLICE"}),
    "strided_slice_shrink_axis": (strided_slice_shrink_axis, {"STRIDED_SLICE"}),
    "strided_slice_masks": (strided_slice_masks, {"STRIDED_SLICE"}),
    "sum_height_width": (sum_height_width, {"SUM"}),
    "sum_channels_keep_dims": (sum_channels_keep_dims, {"SUM"}),
    "mean_keep_dims_height_width": (mean_keep_dims_height_width, {"MEAN"}),
    "mean_keep_dims_long_window": (mean_keep_dims_long_window, {"MEAN"}),
    "squeeze_excitation_block": (squeeze_excitation_block, {"MEAN", "MUL"}),
    "residual_block": (residual_block, {"ADD"}),
    "depthwise_separable_block": (depthwise_separable_block, {"DEPTHWISE_CONV_2D", "CONV_2D"}),
}


def build(name, seed=0):
    """The model with random (non-zero) biases and batch-norm statistics, so the converter keeps
    them and the requantization sees realistic ranges. Kernels are seeded too: Keras would draw
    them from a global RNG whose state depends on which tests ran before."""
    from tinyasc.tf_env import import_tf

    import_tf()[1].utils.set_random_seed(seed)
    model = STRUCTURAL_MODELS[name][0]()
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if getattr(layer, "use_bias", False):
            weights[-1] = rng.normal(0, 0.2, weights[-1].shape).astype(np.float32)
        if type(layer).__name__ == "BatchNormalization":  # gamma, beta, moving mean, moving variance
            weights = [rng.uniform(0.5, 1.5, w.shape).astype(np.float32) if i in (0, 3)
                       else rng.normal(0, 0.3, w.shape).astype(np.float32) for i, w in enumerate(weights)]
        layer.set_weights(weights)
    return model


def representative(model, seed=0, count=32):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (count,) + tuple(model.input_shape[1:])).astype(np.float32)
