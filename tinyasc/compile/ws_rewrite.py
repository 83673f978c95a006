"""Rewrite a converted WSNet flatbuffer so each weight-sampling conv is one CUSTOM `WS_CONV` op.

Under QAT the converter keeps the sampling: the conv's filter is computed at run time by a chain
GATHER(int8 Φ, int32 rows) → GATHER(…, int32 channels) → [TRANSPOSE] → RESHAPE → TRANSPOSE →
CONV_2D, whose int32 index arrays are larger than the full kernel. This module finds every CONV_2D
whose filter comes from such a chain of GATHER / TRANSPOSE / RESHAPE ops (constant indices) out of
one constant int8 tensor, runs the chain in numpy on Φ's element *positions* to learn which Φ
element each kernel element is, checks that it is WSNet's sampling K[n, l, 0, m] = Φ[n·s + l,
m mod M*] (DESIGN §4), and replaces chain + conv by

    CUSTOM "WS_CONV"  inputs (x, Φ, bias)  outputs (y)

with FlexBuffer options (docs/ws_conv.md): kernel_size L, filters N, sampling_stride s,
channel_repeat C, stride, padding ("same"/"valid"), activation ("none"/"relu"/"relu6"). The
output requantization is that of the conv it replaces: real multiplier s_x·s_Φ/s_y (Φ has one
scale), the output tensor's own quantization. Unused tensors, buffers and operator codes are
dropped and the buffers repacked (an empty buffer must be None, or tf.lite rejects the file), so
the file stays loadable by tf.lite.Interpreter and tinyasc's reader.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import flatbuffers
import numpy as np
from flatbuffers import flexbuffers

from tinyasc.compile.wsconv import WSConvShape, sampled_kernel
from tinyasc.errors import TinyascError

CUSTOM_CODE = "WS_CONV"
CUSTOM_BUILTIN = 32  # BuiltinOperator.CUSTOM
OPTION_KEYS = ("kernel_size", "filters", "sampling_stride", "channel_repeat", "stride", "padding", "activation")
ACTIVATION_NAMES = {0: "none", 1: "relu", 3: "relu6"}
PADDING_NAMES = {0: "same", 1: "valid"}


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


@dataclass(frozen=True)
class WSConvOptions:
    kernel_size: int
    filters: int
    sampling_stride: int
    channel_repeat: int
    stride: int
    padding: str
    activation: str

    def to_flexbuffer(self) -> bytes:
        return bytes(flexbuffers.Dumps({key: getattr(self, key) for key in OPTION_KEYS}))


def read_options(custom_options, where: str = "WS_CONV") -> WSConvOptions:
    """Parse and check a WS_CONV op's FlexBuffer options; damage becomes one TinyascError."""
    try:
        values = flexbuffers.Loads(bytes(bytearray(custom_options if custom_options is not None else b"")))
    except Exception as e:  # the flexbuffers package raises index/struct errors on damage
        raise TinyascError(f"{where}: its custom options are not a FlexBuffer map ({type(e).__name__}); "
                           "rewrite the model again with tinyasc.compile.ws_rewrite") from None
    if not isinstance(values, dict) or any(key not in values for key in OPTION_KEYS):
        raise TinyascError(f"{where}: its custom options must be a map with {', '.join(OPTION_KEYS)}; "
                           f"found {sorted(values) if isinstance(values, dict) else type(values).__name__}")
    for key in OPTION_KEYS[:5]:
        value = values[key]
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1 << 16:
            raise TinyascError(f"{where}: option {key}={value!r} must be a positive integer")
    if values["padding"] not in ("same", "valid"):
        raise TinyascError(f"{where}: option padding={values['padding']!r} must be 'same' or 'valid'")
    if values["activation"] not in ACTIVATION_NAMES.values():
        raise TinyascError(f"{where}: option activation={values['activation']!r} must be one of "
                           f"{', '.join(ACTIVATION_NAMES.values())}")
    return WSConvOptions(**{key: values[key] for key in OPTION_KEYS})


def rewrite_ws_conv_file(in_path: str | os.PathLike, out_path: str | os.PathLike) -> int:
    """Rewrite `in_path` into `out_path` (atomically); returns how many WS_CONV ops it made."""
    in_path = Path(in_path)
    if not in_path.is_file():
        raise TinyascError(f"{in_path}: no such .tflite file")
    data, count = rewrite_ws_conv(in_path.read_bytes(), source=str(in_path))
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out_path)
    return count


def rewrite_ws_conv(data: bytes, source: str = "<bytes>") -> tuple[bytes, int]:
    """The rewritten flatbuffer and the number of WS_CONV ops in it."""
    schema = _schema()
    if len(data) < 8 or data[4:8] != b"TFL3":
        return bytes(data), 0  # not a flatbuffer: the reader says so
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception:  # damaged: left as it is, for the reader to name what is wrong
        return bytes(data), 0
    if len(model.subgraphs or []) != 1:
        return bytes(data), 0
    try:
        return _rewrite(model, schema, data)
    except Exception:  # damaged indices or shapes: left as it is, for the reader to name what is wrong
        return bytes(data), 0


def _rewrite(model, schema, data: bytes) -> tuple[bytes, int]:
    graph = model.subgraphs[0]
    names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}

    def op_name(op):
        return op_name_of(model, op, names)

    if not any(op_name_of(model, op, names) == "GATHER" for op in graph.operators or []):
        return bytes(data), 0
    producer = {out: op for op in graph.operators for out in (op.outputs if op.outputs is not None else ())}
    readers: dict[int, int] = {}
    for op in graph.operators:
        for i in op.inputs if op.inputs is not None else ():
            readers[int(i)] = readers.get(int(i), 0) + 1
    for i in graph.outputs:
        readers[int(i)] = readers.get(int(i), 0) + 1

    def constant(index: int) -> np.ndarray | None:
        tensor = graph.tensors[index]
        buffer = model.buffers[tensor.buffer] if tensor.buffer > 0 else None
        if buffer is None or buffer.data is None or len(buffer.data) == 0:
            return None
        dtype = {2: np.int32, 4: np.int64, 9: np.int8}.get(tensor.type)
        return None if dtype is None else np.frombuffer(np.asarray(buffer.data, np.uint8).tobytes(), dtype).reshape(tensor.shape)

    replaced, new_ops = 0, {}
    for conv in graph.operators:
        if op_name(conv) != "CONV_2D" or constant(conv.inputs[1]) is not None:
            continue
        match = _match_chain(graph, conv, producer, readers, op_name, constant)
        if match is None:
            continue
        chain, condensed_index, options = match
        new_ops[id(conv)] = (chain, _custom_op(model, conv, condensed_index, options))
        replaced += 1
    if not replaced:
        return bytes(data), 0

    dropped = {id(op) for chain, _ in new_ops.values() for op in chain}
    operators = []
    for op in graph.operators:
        if id(op) in new_ops:
            operators.append(new_ops[id(op)][1])
        elif id(op) not in dropped:
            operators.append(op)
    graph.operators = operators
    _drop_unused(model, graph)
    builder = flatbuffers.Builder(len(data))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), replaced


def op_name_of(model, op, names) -> str:
    codes = model.operatorCodes or []
    if not 0 <= op.opcodeIndex < len(codes):
        return ""
    code = codes[op.opcodeIndex]
    return names.get(max(int(code.builtinCode), int(code.deprecatedBuiltinCode)), "")


def _match_chain(graph, conv, producer, readers, op_name, constant):
    """(chain ops, Φ tensor index, options) when the conv's filter is WS-sampled from one int8 Φ."""
    chain, tensor = [], int(conv.inputs[1])
    while graph.tensors[tensor].buffer == 0 or constant(tensor) is None:
        op = producer.get(tensor)
        if op is None or op_name(op) not in ("GATHER", "TRANSPOSE", "RESHAPE") or readers.get(tensor, 0) != 1:
            return None
        if any(constant(int(i)) is None for i in list(op.inputs)[1:]):
            return None
        chain.append(op)
        tensor = int(op.inputs[0])
    phi = graph.tensors[tensor]
    filter_tensor = graph.tensors[int(conv.inputs[1])]
    if phi.type != 9 or len(phi.shape) != 2 or not chain:
        return None
    if phi.quantization is None or len(phi.quantization.scale) != 1 or filter_tensor.quantization is None \
            or list(filter_tensor.quantization.scale) != list(phi.quantization.scale):
        return None
    # Run the chain on Φ's flat positions: `where[n, l, 0, m]` = the Φ element of K[n, l, 0, m].
    where = np.arange(int(np.prod(phi.shape))).reshape(phi.shape)
    for op in reversed(chain):
        name = op_name(op)
        if name == "GATHER":
            if op.builtinOptions is None or op.builtinOptions.batchDims:
                return None
            where = np.take(where, constant(int(op.inputs[1])).astype(np.int64), axis=int(op.builtinOptions.axis))
        elif name == "TRANSPOSE":
            where = np.transpose(where, constant(int(op.inputs[1])).astype(np.int64))
        else:
            where = where.reshape([int(d) for d in graph.tensors[int(op.outputs[0])].shape])
    filters, kernel, width, channels = (int(d) for d in filter_tensor.shape)
    condensed_length, condensed_channels = (int(d) for d in phi.shape)
    if tuple(where.shape) != (filters, kernel, width, channels) or width != 1 or channels % condensed_channels:
        return None
    rows, columns = where // condensed_channels, where % condensed_channels
    step = int(rows[1, 0, 0, 0] - rows[0, 0, 0, 0]) if filters > 1 else 1
    expected_rows = np.arange(filters)[:, None] * step + np.arange(kernel)[None, :]
    if step < 1 or condensed_length != kernel + (filters - 1) * step:
        return None
    if not np.array_equal(rows[:, :, 0, :], np.broadcast_to(expected_rows[:, :, None], (filters, kernel, channels))):
        return None
    if not np.array_equal(columns[:, :, 0, :], np.broadcast_to(np.arange(channels) % condensed_channels, (filters, kernel, channels))):
        return None
    o = conv.builtinOptions
    if o.strideW != 1 or o.dilationHFactor != 1 or o.dilationWFactor != 1 or o.fusedActivationFunction not in ACTIVATION_NAMES:
        return None
    options = WSConvOptions(
        kernel_size=kernel, filters=filters, sampling_stride=step, channel_repeat=channels // condensed_channels,
        stride=int(o.strideH), padding=PADDING_NAMES[int(o.padding)], activation=ACTIVATION_NAMES[int(o.fusedActivationFunction)],
    )
    return chain, tensor, options


def _custom_op(model, conv, condensed_index: int, options: WSConvOptions):
    schema = _schema()
    opcode = _custom_opcode_index(model)
    op = schema.OperatorT()
    op.opcodeIndex = opcode
    bias = int(conv.inputs[2]) if len(conv.inputs) > 2 else -1
    op.inputs = [int(conv.inputs[0]), condensed_index, bias]
    op.outputs = [int(o) for o in conv.outputs]
    op.customOptions = list(options.to_flexbuffer())
    op.customOptionsFormat = schema.CustomOptionsFormat.FLEXBUFFERS
    return op


def _custom_opcode_index(model) -> int:
    schema = _schema()
    for index, code in enumerate(model.operatorCodes):
        custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
        if max(code.builtinCode, code.deprecatedBuiltinCode) == CUSTOM_BUILTIN and custom == CUSTOM_CODE:
            return index
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = CUSTOM_BUILTIN
    code.customCode = CUSTOM_CODE
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _drop_unused(model, graph) -> None:
    """Renumber tensors, buffers and operator codes after ops were removed; empty buffers → None."""
    used = sorted({int(i) for op in graph.operators for i in list(op.inputs) + list(op.outputs) if int(i) >= 0}
                  | {int(i) for i in graph.inputs} | {int(i) for i in graph.outputs})
    tensor_map = {old: new for new, old in enumerate(used)}
    graph.tensors = [graph.tensors[i] for i in used]
    for op in graph.operators:
        op.inputs = [tensor_map[int(i)] if int(i) >= 0 else -1 for i in op.inputs]
        op.outputs = [tensor_map[int(i)] for i in op.outputs]
    graph.inputs = [tensor_map[int(i)] for i in graph.inputs]
    graph.outputs = [tensor_map[int(i)] for i in graph.outputs]
    for signature in model.signatureDefs or []:
        for entry in list(signature.inputs or []) + list(signature.outputs or []):
            entry.tensorIndex = tensor_map[int(entry.tensorIndex)]

    # Buffer 0 stays the shared empty buffer; metadata keeps its buffers.
    kept_buffers = sorted({0} | {t.buffer for t in graph.tensors} | {m.buffer for m in model.metadata or []})
    buffer_map = {old: new for new, old in enumerate(kept_buffers)}
    model.buffers = [model.buffers[i] for i in kept_buffers]
    for buffer in model.buffers:
        if buffer.data is not None and len(buffer.data) == 0:
            buffer.data = None
    for tensor in graph.tensors:
        tensor.buffer = buffer_map[tensor.buffer]
    for metadata in model.metadata or []:
        metadata.buffer = buffer_map[metadata.buffer]

    used_codes = sorted({op.opcodeIndex for op in graph.operators})
    code_map = {old: new for new, old in enumerate(used_codes)}
    model.operatorCodes = [model.operatorCodes[i] for i in used_codes]
    for op in graph.operators:
        op.opcodeIndex = code_map[op.opcodeIndex]


def expand_ws_conv(data: bytes) -> bytes:
    """The inverse for running the model in stock TFLite (Micro): each WS_CONV becomes a CONV_2D whose
    constant int8 filter is the explicitly sampled kernel, with Φ's single scale. The GATHER chain it
    came from only copied Φ's int8 values, so the result computes exactly what the unrewritten graph
    did; tinyasc's TFLM oracle (compile/reference.py) runs this. Models without WS_CONV pass through."""
    if CUSTOM_CODE.encode() not in data:
        return bytes(data)
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    graph = model.subgraphs[0]
    ws_codes = {
        index for index, code in enumerate(model.operatorCodes)
        if max(code.builtinCode, code.deprecatedBuiltinCode) == CUSTOM_BUILTIN
        and (code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode) == CUSTOM_CODE
    }
    conv_code = _builtin_opcode_index(model, schema.BuiltinOperator.CONV_2D, version=3)
    for op in graph.operators:
        if op.opcodeIndex not in ws_codes:
            continue
        options = read_options(op.customOptions)
        x, phi = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
        values = np.frombuffer(np.asarray(model.buffers[phi.buffer].data, np.uint8).tobytes(), np.int8).reshape(phi.shape)
        channels = int(x.shape[-1])
        shape = WSConvShape(int(x.shape[1]), channels, options.kernel_size, options.filters, options.sampling_stride,
                            options.channel_repeat, options.stride, options.padding)
        kernel = np.ascontiguousarray(sampled_kernel(values, shape))
        buffer = schema.BufferT()
        buffer.data = list(kernel.view(np.uint8).reshape(-1))
        model.buffers.append(buffer)
        tensor = schema.TensorT()
        tensor.shape, tensor.type, tensor.buffer = list(kernel.shape), 9, len(model.buffers) - 1
        tensor.name = (phi.name or b"") + b"/sampled"
        tensor.quantization = schema.QuantizationParametersT()
        tensor.quantization.scale, tensor.quantization.zeroPoint = list(phi.quantization.scale), [0]
        graph.tensors.append(tensor)
        conv = schema.Conv2DOptionsT()
        conv.padding = {v: k for k, v in PADDING_NAMES.items()}[options.padding]
        conv.strideH, conv.strideW = options.stride, 1
        conv.dilationHFactor = conv.dilationWFactor = 1
        conv.fusedActivationFunction = {v: k for k, v in ACTIVATION_NAMES.items()}[options.activation]
        op.opcodeIndex, op.inputs[1] = conv_code, len(graph.tensors) - 1
        op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.Conv2DOptions, conv
        op.customOptions, op.customOptionsFormat = None, 0
    _drop_unused(model, graph)
    builder = flatbuffers.Builder(len(data) * 2)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _builtin_opcode_index(model, builtin: int, version: int) -> int:
    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return index
    code = _schema().OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = version
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1
