"""Structural and arithmetic ops: the generated C (host build, ASan + UBSan) is bit-exact with the
TFLM reference interpreter on every model of op_models_structural.py, aliases take no memory, and
what the kernels cannot run is refused with a clear error."""

import numpy as np
import pytest

from op_models_structural import (
    STRUCTURAL_MODELS,
    build,
    representative,
    split_reshape_into_squeeze_and_expand_dims,
)
from tinyasc.compile.codegen import compile_graph, render_model_sources, write_sources
from tinyasc.compile.host import build_host_runner, run_host
from tinyasc.compile.ir import Graph, Op, OpKind, Quantization, Tensor
from tinyasc.compile.ops import prepare
from tinyasc.compile.plan import plan_memory
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.tflite_reader import read_tflite
from tinyasc.errors import UnsupportedModelError

INPUTS_PER_MODEL = 40


@pytest.fixture(scope="session")
def structural_tflites(tmp_path_factory):
    """Every model of op_models_structural.py converted once to an int8 .tflite."""
    from tinyasc.convert import quantize_int8

    folder = tmp_path_factory.mktemp("structural_models")
    paths = {}
    for seed, name in enumerate(STRUCTURAL_MODELS):
        model = build(name, seed)
        paths[name] = quantize_int8(model, representative(model, seed), folder / f"{name}.tflite")
    squeezed = paths["squeeze_then_expand_dims"]
    squeezed.write_bytes(split_reshape_into_squeeze_and_expand_dims(squeezed.read_bytes()))
    return paths


def host_outputs(graph, inputs, tmp_path):
    compiled = compile_graph(graph)
    write_sources(render_model_sources(compiled, "structural", []), tmp_path / "src")
    runner = build_host_runner(tmp_path / "src", tmp_path / "host_runner")
    return run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)


@pytest.mark.parametrize("name", list(STRUCTURAL_MODELS))
def test_generated_c_is_bit_exact_with_tflm(name, structural_tflites, tmp_path):
    path = structural_tflites[name]
    graph = read_tflite(path)
    kinds = {op.kind.value for op in graph.ops}
    assert STRUCTURAL_MODELS[name][1] <= kinds, f"the converter produced {sorted(kinds)}"
    x = graph.tensors[graph.inputs[0]]
    inputs = np.random.default_rng(7).integers(-128, 128, (INPUTS_PER_MODEL, x.num_elements), dtype=np.int8)
    expected = tflm_outputs(path.read_bytes(), inputs, x.shape)
    assert len(np.unique(expected, axis=0)) > 1, "degenerate test: every input gave the same output"
    np.testing.assert_array_equal(host_outputs(graph, inputs, tmp_path), expected)


def test_squeeze_and_expand_dims_share_their_input_buffer(structural_tflites):
    graph = read_tflite(structural_tflites["squeeze_then_expand_dims"])
    aliases = [op for op in graph.ops if op.kind in (OpKind.SQUEEZE, OpKind.EXPAND_DIMS)]
    assert len(aliases) == 2
    plan = plan_memory(graph)
    for op in aliases:
        assert plan.tensor_buffer[op.outputs[0]] is plan.tensor_buffer[op.inputs[0]]
    steps = compile_graph(graph).steps
    assert all(step.call is None for step in steps if step.kind in ("SQUEEZE", "EXPAND_DIMS"))


def test_two_input_ops_keep_both_operands_alive(structural_tflites):
    graph = read_tflite(structural_tflites["residual_block"])
    plan = plan_memory(graph)
    assert plan.overlaps() == []
    for op in (op for op in graph.ops if op.kind == OpKind.ADD):
        a, b = (plan.tensor_buffer[i] for i in op.inputs)
        assert a is not b and a.last_op >= op.index and b.last_op >= op.index


def test_constant_operand_is_emitted_as_a_constant(structural_tflites):
    compiled = compile_graph(read_tflite(structural_tflites["mul_constant_per_channel"]))
    mul = next(step for step in compiled.steps if step.kind == "MUL")
    assert any(c.name in mul.call and "operand" in c.name for c in compiled.constants)


def _double_scale_of_first_concat_input(tflite: bytes) -> bytes:
    """The converter gives concatenation inputs the output's quantization; make one differ."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
    graph = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    concat = next(op for op in graph.operators if codes[op.opcodeIndex] == schema.BuiltinOperator.CONCATENATION)
    graph.tensors[concat.inputs[0]].quantization.scale = [2 * float(graph.tensors[concat.inputs[0]].quantization.scale[0])]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_concatenation_of_differently_quantized_inputs_is_refused_like_tflm(structural_tflites, tmp_path):
    from tinyasc.compile.reference import tflm_interpreter

    path = tmp_path / "concat_rescaled.tflite"
    path.write_bytes(_double_scale_of_first_concat_input(structural_tflites["concat_channels_three_parts"].read_bytes()))
    with pytest.raises(RuntimeError, match="failed to allocate"):
        tflm_interpreter(path.read_bytes())  # TFLM refuses it at Prepare
    with pytest.raises(UnsupportedModelError, match=r"CONCATENATION\): input 0 is quantized differently"):
        compile_graph(read_tflite(path))


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["squeeze_excitation_block", "residual_block", "depthwise_separable_block",
                                  "concat_channels_three_parts", "strided_slice_steps_and_reverse"])
def test_blocks_run_bit_exact_in_qemu(name, structural_tflites, tmp_path):
    """The same kernels cross-compiled for the nRF52840 (Cortex-M4) and run in QEMU: the firmware
    compares its outputs with TFLM's on 6 random inputs embedded at export."""
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    exported = export_model(structural_tflites[name], board_name="nrf52840", out_root=tmp_path, name=name,
                            num_test_vectors=6, seed=9)
    build_firmware(exported.export_dir)
    result = run_firmware(exported.export_dir)
    assert result.passed and result.vectors == 6 and result.mismatches == 0, result.failure


# ---- refusals name the op and what to do ----


def _tensor(index, shape, data=None, dtype="int8", scale=0.05, zero_point=0):
    quantization = Quantization((scale,), (zero_point,)) if dtype == "int8" else None
    return Tensor(index=index, name=f"t{index}", shape=tuple(shape), dtype=dtype, quantization=quantization, data=data)


def test_non_contiguous_sum_axes_are_refused():
    tensors = [_tensor(0, (1, 4, 3, 5)), _tensor(1, (2,), np.array([1, 3], dtype=np.int32), "int32"),
               _tensor(2, (1, 3))]
    op = Op(index=0, kind=OpKind.SUM, inputs=(0, 1), outputs=(2,), options={"keepDims": False})
    with pytest.raises(UnsupportedModelError, match=r"op 0 \(SUM\): reduction axes \[1, 3\] must be contiguous"):
        prepare(op, Graph(tensors, [op], (0,), (2,)))


def test_broadcast_of_incompatible_shapes_is_refused():
    tensors = [_tensor(0, (1, 4, 3, 5)), _tensor(1, (1, 4, 3, 2)), _tensor(2, (1, 4, 3, 5))]
    op = Op(index=0, kind=OpKind.ADD, inputs=(0, 1), outputs=(2,))
    with pytest.raises(UnsupportedModelError, match="does not broadcast to the output shape"):
        prepare(op, Graph(tensors, [op], (0,), (2,)))


def test_strided_slice_with_ellipsis_is_refused():
    vector = lambda i, v: _tensor(i, (4,), np.array(v, dtype=np.int32), "int32")  # noqa: E731
    tensors = [_tensor(0, (1, 4, 3, 5)), vector(1, [0, 0, 0, 0]), vector(2, [1, 2, 3, 5]), vector(3, [1, 1, 1, 1]),
               _tensor(4, (1, 2, 3, 5))]
    op = Op(index=0, kind=OpKind.STRIDED_SLICE, inputs=(0, 1, 2, 3), outputs=(4,), options={"ellipsisMask": 2})
    with pytest.raises(UnsupportedModelError, match="ellipsis_mask and new_axis_mask are not supported"):
        prepare(op, Graph(tensors, [op], (0,), (4,)))
