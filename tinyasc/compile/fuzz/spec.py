"""A fuzz graph in plain Python (tensors and ops), and its int8 `.tflite` flatbuffer.

The fuzzer writes models directly with the schema's object API instead of going through Keras and
the TFLite converter: it is thousands of times faster, and it reaches what the converter never
emits (odd zero points, extreme scales, any option a kernel accepts). The writer adds nothing of
its own: what the spec says is what TFLM and tinyasc read.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

TENSOR_TYPES = {"float32": 0, "int32": 2, "int8": 9}
ACTIVATIONS = {"none": 0, "relu": 1, "relu_n1_to_1": 2, "relu6": 3}
PADDINGS = {"same": 0, "valid": 1}
# CUSTOM ops by their custom code; TFLM (compile/reference.py) runs WS_CONV as the CONV_2D on the
# sampled kernel that the converter's GATHER chain computes (compile/ws_rewrite.expand_ws_conv).
CUSTOM_OPS = ("WS_CONV",)
# Options tables by op (the schema's BuiltinOptions name); ops absent here carry none.
OPTIONS_TABLES = {
    "CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions", "MAX_POOL_2D": "Pool2DOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions", "MEAN": "ReducerOptions", "SUM": "ReducerOptions",
    "ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions",
    "CONCATENATION": "ConcatenationOptions", "PAD": "PadOptions", "PADV2": "PadV2Options",
    "RESHAPE": "ReshapeOptions", "SQUEEZE": "SqueezeOptions", "EXPAND_DIMS": "ExpandDimsOptions",
    "TRANSPOSE": "TransposeOptions", "STRIDED_SLICE": "StridedSliceOptions",
    "LEAKY_RELU": "LeakyReluOptions", "SOFTMAX": "SoftmaxOptions", "HARD_SWISH": "HardSwishOptions",
    "QUANTIZE": "QuantizeOptions", "DEQUANTIZE": "DequantizeOptions",
}


@dataclass
class TensorSpec:
    shape: tuple[int, ...]
    dtype: str = "int8"  # a key of TENSOR_TYPES
    scales: tuple[float, ...] | None = None  # None: no quantization (int32 shapes, float32 I/O)
    zero_points: tuple[int, ...] | None = None
    axis: int = 0  # the quantized dimension of per-channel scales
    data: np.ndarray | None = None  # constant data (weights, bias, shapes, axes)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class OpSpec:
    name: str  # the builtin operator, as the schema spells it
    inputs: list[int]  # tensor indices; -1 omits an optional input
    outputs: list[int]
    options: dict = field(default_factory=dict)  # fields of the op's options table (schema names)


@dataclass
class FuzzGraph:
    tensors: list[TensorSpec] = field(default_factory=list)
    ops: list[OpSpec] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    board: str | None = None  # the board whose kernels the host build compiles (None: portable)
    options: dict = field(default_factory=dict)  # CompileOptions fields

    def add(self, tensor: TensorSpec) -> int:
        self.tensors.append(tensor)
        return len(self.tensors) - 1

    def describe(self) -> str:
        """One line per op: name, input and output shapes, options."""
        lines = []
        for op in self.ops:
            shapes = [list(self.tensors[i].shape) if i >= 0 else None for i in op.inputs]
            lines.append(f"{op.name} {shapes} -> {[list(self.tensors[o].shape) for o in op.outputs]} {op.options}")
        return "\n".join(lines)

    def subgraph(self, first: int, last: int) -> "FuzzGraph | None":
        """Ops first..last alone, the input of op `first` as the graph input and the output of op
        `last` as the graph output; None when that window reads another activation (a second
        input the cut would leave dangling)."""
        ops = copy.deepcopy(self.ops[first:last + 1])
        produced = {o for op in ops for o in op.outputs}
        needed = {i for op in ops for i in op.inputs if i >= 0 and i not in produced and self.tensors[i].data is None}
        if len(needed) != 1:
            return None
        entry = needed.pop()
        if self.tensors[entry].dtype != "int8" and first != 0:
            return None
        graph = FuzzGraph(tensors=copy.deepcopy(self.tensors), ops=ops, inputs=[entry],
                          outputs=[ops[-1].outputs[0]], board=self.board, options=dict(self.options))
        return graph.compacted()

    def compacted(self) -> "FuzzGraph":
        """The same graph with only the tensors its ops use, renumbered in order of use."""
        used: list[int] = []
        for index in [*self.inputs, *(i for op in self.ops for i in (*op.inputs, *op.outputs)), *self.outputs]:
            if index >= 0 and index not in used:
                used.append(index)
        new = {old: n for n, old in enumerate(used)}
        new[-1] = -1
        return FuzzGraph(
            tensors=[self.tensors[i] for i in used],
            ops=[OpSpec(op.name, [new[i] for i in op.inputs], [new[o] for o in op.outputs], dict(op.options))
                 for op in self.ops],
            inputs=[new[i] for i in self.inputs], outputs=[new[o] for o in self.outputs],
            board=self.board, options=dict(self.options),
        )


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def to_tflite(graph: FuzzGraph) -> bytes:
    """The graph as a .tflite flatbuffer (schema version 3, one subgraph)."""
    import flatbuffers

    schema = _schema()
    model = schema.ModelT()
    model.version = 3
    model.buffers = [schema.BufferT()]  # buffer 0: the empty buffer of every activation
    opcode_index: dict[str, int] = {}
    model.operatorCodes = []
    subgraph = schema.SubGraphT()
    subgraph.tensors = [_tensor(schema, model, n, t) for n, t in enumerate(graph.tensors)]
    subgraph.operators = []
    for op in graph.ops:
        if op.name not in opcode_index:
            opcode_index[op.name] = len(model.operatorCodes)
            code = schema.OperatorCodeT()
            code.builtinCode = getattr(schema.BuiltinOperator, "CUSTOM" if op.name in CUSTOM_OPS else op.name)
            code.deprecatedBuiltinCode = min(code.builtinCode, 127)
            code.customCode = op.name if op.name in CUSTOM_OPS else None
            code.version = 1
            model.operatorCodes.append(code)
        subgraph.operators.append(_operator(schema, op, opcode_index[op.name]))
    subgraph.inputs = list(graph.inputs)
    subgraph.outputs = list(graph.outputs)
    model.subgraphs = [subgraph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _tensor(schema, model, index: int, spec: TensorSpec):
    t = schema.TensorT()
    t.name = f"t{index}".encode()
    t.shape = [int(d) for d in spec.shape]
    t.type = TENSOR_TYPES[spec.dtype]
    t.buffer = 0
    if spec.data is not None:
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(np.ascontiguousarray(spec.data).astype(spec.data.dtype.newbyteorder("<")).tobytes(),
                                    dtype=np.uint8)
        model.buffers.append(buffer)
        t.buffer = len(model.buffers) - 1
    if spec.scales is not None:
        q = schema.QuantizationParametersT()
        q.scale = [float(np.float32(s)) for s in spec.scales]
        q.zeroPoint = [int(z) for z in spec.zero_points]
        q.quantizedDimension = spec.axis
        t.quantization = q
    return t


def _operator(schema, spec: OpSpec, opcode: int):
    op = schema.OperatorT()
    op.opcodeIndex = opcode
    op.inputs = list(spec.inputs)
    op.outputs = list(spec.outputs)
    if spec.name in CUSTOM_OPS:  # WS_CONV: FlexBuffer options, as compile/ws_rewrite.py writes them
        from tinyasc.compile.ws_rewrite import WSConvOptions

        op.customOptions = list(WSConvOptions(**spec.options).to_flexbuffer())
        op.customOptionsFormat = schema.CustomOptionsFormat.FLEXBUFFERS
        return op
    table = OPTIONS_TABLES.get(spec.name)
    if table is not None:
        options = getattr(schema, table + "T")()
        for key, value in spec.options.items():
            if key == "fusedActivationFunction":
                value = ACTIVATIONS[value]
            elif key == "padding":
                value = PADDINGS[value]
            setattr(options, key, value)
        op.builtinOptionsType = getattr(schema.BuiltinOptions, table)
        op.builtinOptions = options
    return op
