"""Deterministic mutations of valid `.tflite` files, for tests/test_fuzz.py.

Random bit flips say little about a flatbuffer: most bytes are weights. So besides random flips,
the mutations aim at the fields a reader trusts: vtable entries and table offsets, tensor shape
vectors, buffer, opcode and tensor indices, buffer lengths, quantization scales and tensor types,
and they write absurd values there (2**31 − 1, negative, out of range). Truncations, appended
garbage and the empty file complete the set. Offsets are found with the schema's reader classes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1


@dataclass(frozen=True)
class Case:
    family: str
    name: str
    data: bytes


@dataclass
class Layout:
    """Byte positions of the fields worth mutating in one flatbuffer."""

    vtable_entries: list[int]  # uint16 field offsets inside vtables
    table_offsets: list[int]  # uoffset fields pointing at sub-tables and vectors
    shape_dims: list[int]  # int32 entries of tensor shape vectors
    shape_lengths: list[int]  # uint32 length prefixes of shape vectors
    buffer_indices: list[int]  # tensor.buffer (uint32)
    tensor_types: list[int]  # tensor.type (int8)
    opcode_indices: list[int]  # operator.opcodeIndex (uint32)
    op_tensor_indices: list[int]  # operator inputs/outputs entries (int32)
    op_output_indices: list[int]  # operator outputs entries only
    graph_io_indices: list[int]  # subgraph inputs/outputs entries (int32)
    buffer_lengths: list[int]  # uint32 length prefixes of non-empty buffer data vectors
    quant_scales: list[int]  # float32 scale entries
    option_fields: list[int]  # first byte of every field stored in an op's builtin options table
    options_types: list[int]  # operator.builtinOptionsType (uint8): which options table it holds
    constant_tensor: int  # index of a tensor with data (for "an op writes a constant")
    num_tensors: int
    num_buffers: int
    num_opcodes: int


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def _field(table, slot: int) -> int | None:
    """Absolute position of a scalar field, or None when it is absent (default value)."""
    relative = table._tab.Offset(slot)
    return table._tab.Pos + relative if relative else None


def _vector(table, slot: int) -> tuple[int, int] | None:
    """(position of the first element, length) of a vector field."""
    relative = table._tab.Offset(slot)
    if not relative:
        return None
    return table._tab.Vector(relative), table._tab.VectorLen(relative)


def _vtable_entries(data: bytes, table) -> list[int]:
    """Positions of the uint16 entries of a table's vtable (its two size fields first)."""
    position = table._tab.Pos if hasattr(table, "_tab") else table.Pos
    vtable = position - struct.unpack_from("<i", data, position)[0]
    size = struct.unpack_from("<H", data, vtable)[0]
    return list(range(vtable, vtable + size, 2))


def _offset_fields(table, slots) -> list[int]:
    return [p for p in (_field(table, s) for s in slots) if p is not None]


def _int32_entries(table, slot: int) -> list[int]:
    vector = _vector(table, slot)
    return [] if vector is None else [vector[0] + 4 * j for j in range(vector[1])]


def _option_fields(data: bytes, op) -> list[int]:
    """Positions of the fields present in the op's options table (strides, padding, activation...)."""
    options = op.BuiltinOptions()
    if options is None:
        return []
    entries = _vtable_entries(data, options)[2:]  # skip the vtable's own two size fields
    offsets = [struct.unpack_from("<H", data, entry)[0] for entry in entries]
    return [options.Pos + offset for offset in offsets if offset]


def layout(data: bytes) -> Layout:
    schema = _schema()
    model = schema.Model.GetRootAs(bytearray(data), 0)
    subgraph = model.Subgraphs(0)
    found = Layout([], [], [], [], [], [], [], [], [], [], [], [], [], [], -1, subgraph.TensorsLength(),
                   model.BuffersLength(), model.OperatorCodesLength())
    found.vtable_entries += _vtable_entries(data, model) + _vtable_entries(data, subgraph)
    found.table_offsets += _offset_fields(model, (6, 8, 12)) + _offset_fields(subgraph, (4, 6, 8, 10))
    found.graph_io_indices += _int32_entries(subgraph, 6) + _int32_entries(subgraph, 8)
    for i in range(subgraph.TensorsLength()):
        tensor = subgraph.Tensors(i)
        found.vtable_entries += _vtable_entries(data, tensor)
        found.table_offsets += _offset_fields(tensor, (4, 10, 12))
        found.shape_dims += _int32_entries(tensor, 4)
        shape = _vector(tensor, 4)
        if shape is not None:
            found.shape_lengths.append(shape[0] - 4)
        found.buffer_indices += _offset_fields(tensor, (8,))
        found.tensor_types += _offset_fields(tensor, (6,))
        quantization = tensor.Quantization()
        if quantization is not None:
            found.quant_scales += _int32_entries(quantization, 8)
        if found.constant_tensor < 0 and model.Buffers(tensor.Buffer()).DataLength() > 0:
            found.constant_tensor = i
    for i in range(subgraph.OperatorsLength()):
        op = subgraph.Operators(i)
        found.vtable_entries += _vtable_entries(data, op)
        found.table_offsets += _offset_fields(op, (6, 8, 12))
        found.opcode_indices += _offset_fields(op, (4,))
        found.op_output_indices += _int32_entries(op, 8)
        found.op_tensor_indices += _int32_entries(op, 6) + _int32_entries(op, 8)
        found.option_fields += _option_fields(data, op)
        found.options_types += _offset_fields(op, (10,))
    for i in range(model.BuffersLength()):
        data_vector = _vector(model.Buffers(i), 4)
        if data_vector is not None and data_vector[1] > 0:
            found.buffer_lengths.append(data_vector[0] - 4)
    return found


# ---- byte edits ----


def flip_bit(data: bytes, position: int, bit: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 1 << bit
    return bytes(out)


def write(data: bytes, position: int, fmt: str, value) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, position, value)
    return bytes(out)


def _pick(rng: np.random.Generator, positions: list[int], count: int) -> list[int]:
    if not positions:
        return []
    chosen = rng.choice(len(positions), size=min(count, len(positions)), replace=False)
    return [positions[i] for i in sorted(chosen)]


# ---- mutation families: each yields Case records ----


def random_bit_flips(base: str, data: bytes, rng, count: int = 20):
    for position in sorted(rng.choice(len(data), size=count, replace=False)):
        bit = int(rng.integers(8))
        yield Case("random_bit_flip", f"{base}@{position}.{bit}", flip_bit(data, int(position), bit))


def structural_bit_flips(base: str, data: bytes, shape: Layout, rng, per_field: int = 4):
    fields = {
        "vtable": (shape.vtable_entries, 2), "table_offset": (shape.table_offsets, 4),
        "shape_dim": (shape.shape_dims, 4), "shape_length": (shape.shape_lengths, 4),
        "buffer_index": (shape.buffer_indices, 4), "opcode_index": (shape.opcode_indices, 4),
        "op_tensor_index": (shape.op_tensor_indices, 4), "graph_io": (shape.graph_io_indices, 4),
        "buffer_length": (shape.buffer_lengths, 4), "quant_scale": (shape.quant_scales, 4),
        "tensor_type": (shape.tensor_types, 1),
    }
    for field, (positions, width) in fields.items():
        for position in _pick(rng, positions, per_field):
            byte, bit = position + int(rng.integers(width)), int(rng.integers(8))
            yield Case("structural_bit_flip", f"{base}:{field}@{byte}.{bit}", flip_bit(data, byte, bit))


def absurd_values(base: str, data: bytes, shape: Layout, rng):
    """Values a careless reader would trust: huge, negative, out of range, inconsistent."""
    edits = [
        ("shape_dim", shape.shape_dims, "<i", [INT32_MAX, -1, -(2**31), 0, 1 << 20]),
        ("shape_length", shape.shape_lengths, "<I", [0, 9, UINT32_MAX]),
        ("buffer_index", shape.buffer_indices, "<I", [shape.num_buffers, shape.num_buffers + 7, UINT32_MAX]),
        ("opcode_index", shape.opcode_indices, "<I", [shape.num_opcodes, UINT32_MAX]),
        ("op_tensor_index", shape.op_tensor_indices, "<i", [shape.num_tensors, -2, -(2**31), INT32_MAX]),
        ("op_output_constant", shape.op_output_indices, "<i", [shape.constant_tensor]),
        ("graph_io", shape.graph_io_indices, "<i", [shape.num_tensors, -1, INT32_MAX]),
        ("buffer_length", shape.buffer_lengths, "<I", [1, UINT32_MAX, INT32_MAX]),
        ("quant_scale", shape.quant_scales, "<f", [0.0, float("nan"), float("inf"), -1.0, 1e38, 1e-45]),
        ("tensor_type", shape.tensor_types, "<b", [0, 2, 99, -1]),
        ("vtable", shape.vtable_entries, "<H", [0xFFFF, 3]),
        ("options_type", shape.options_types, "<B", [0, 1, 5, 22, 255]),
        ("table_offset", shape.table_offsets, "<I", [UINT32_MAX, len(data), 1]),
    ]
    for field, positions, fmt, values in edits:
        for value in values:
            for position in _pick(rng, positions, 2):
                yield Case("absurd_value", f"{base}:{field}={value}@{position}", write(data, position, fmt, value))
    # Two ops writing one tensor: the second op's first output becomes the first op's.
    if len(shape.op_output_indices) >= 2:
        first = struct.unpack_from("<i", data, shape.op_output_indices[0])[0]
        yield Case("absurd_value", f"{base}:two_producers", write(data, shape.op_output_indices[-1], "<i", first))


def option_edits(base: str, data: bytes, shape: Layout):
    """Small values in op options: some give another valid model (relu6 instead of relu), others
    shapes that no longer fit (stride 7) or values TFLite does not define (padding 3)."""
    for position in shape.option_fields:
        for value in (0, 1, 2, 3, 7, 255):
            yield Case("option_edit", f"{base}:option={value}@{position}", write(data, position, "<B", value))


def truncations(base: str, data: bytes, count: int = 24):
    lengths = sorted({0, 1, 4, 7, 8, 12, 16, 32, len(data) - 1, len(data) - 4}
                     | {int(len(data) * k / count) for k in range(1, count)})
    for length in lengths:
        if 0 <= length < len(data):
            yield Case("truncation", f"{base}[:{length}]", data[:length])


def appended_garbage(base: str, data: bytes, rng):
    for size in (1, 7, 100, 5000):
        yield Case("appended_garbage", f"{base}+{size}", data + rng.integers(0, 256, size, dtype=np.uint8).tobytes())


def all_cases(bases: dict[str, bytes], seed: int = 0) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = [Case("empty", "empty", b""), Case("empty", "identifier_only", b"\x00\x00\x00\x00TFL3")]
    for base, data in bases.items():
        shape = layout(data)
        cases += list(random_bit_flips(base, data, rng))
        cases += list(structural_bit_flips(base, data, shape, rng))
        cases += list(absurd_values(base, data, shape, rng))
        cases += list(option_edits(base, data, shape))
        cases += list(truncations(base, data))
        cases += list(appended_garbage(base, data, rng))
    # Short truncations of different models, or a value written over itself, repeat a file.
    unique = {}
    for case in cases:
        unique.setdefault(case.data, case)
    return list(unique.values())
