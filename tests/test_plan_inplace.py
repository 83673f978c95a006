"""Memory planner: scratch buffers of kernels (planned like one-op tensors) and in-place execution
of element-wise ops (the output takes the bytes of an input that dies at the op)."""

import dataclasses

import numpy as np
import pytest

from op_models_activation import single_op_tflite
from tinyasc.compile import ops
from tinyasc.compile.codegen import compile_graph, render_model_sources, write_sources
from tinyasc.compile.host import build_host_runner, run_host
from tinyasc.compile.ir import Graph, Op, OpKind, Quantization, Tensor
from tinyasc.compile.options import CompileOptions
from tinyasc.compile.plan import plan_memory
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.tflite_reader import parse_tflite, read_tflite

QUANT = Quantization((0.05,), (0,))


def chain_graph(kinds: list[OpKind], sizes: list[int]) -> Graph:
    """input (tensor 0) → kinds[0] → tensor 1 → kinds[1] → … ; tensor i has sizes[i] int8 values."""
    tensors = [Tensor(i, f"t{i}", (1, size), "int8", QUANT) for i, size in enumerate(sizes)]
    chain = [Op(i, kind, (i,), (i + 1,)) for i, kind in enumerate(kinds)]
    return Graph(tensors=tensors, ops=chain, inputs=(0,), outputs=(len(sizes) - 1,))


# ---- scratch buffers ----


def test_scratch_is_live_only_during_its_op_and_counts_in_the_lower_bound():
    # t0 (input) → op0 → t1 (1024) → op1 → t2 (1024) → op2 → t3 (1024) → op3 → t4 (output)
    graph = chain_graph([OpKind.FULLY_CONNECTED] * 4, [64, 1024, 1024, 1024, 10])
    without = plan_memory(graph)
    assert without.arena_size == without.lower_bound == 2 * 1024  # two live tensors
    plan = plan_memory(graph, scratch={1: 500})
    scratch = plan.scratch_buffer[1]
    assert scratch.storage == "arena" and scratch.first_op == scratch.last_op == 1 and scratch.size == 500
    assert scratch.offset % 16 == 0
    assert plan.overlaps() == []
    # During op 1, t1, t2 and the scratch are live together: nothing else can take those bytes.
    assert plan.lower_bound == 2 * 1024 + 500 <= plan.arena_size
    t1, t2 = plan.tensor_buffer[1], plan.tensor_buffer[2]
    for tensor_buffer in (t1, t2):
        assert (scratch.offset + scratch.size <= tensor_buffer.offset
                or tensor_buffer.offset + tensor_buffer.size <= scratch.offset)
    assert plan.to_dict()["buffers"][-1]["scratch_op"] == 1


def test_scratch_reuses_bytes_of_tensors_dead_at_its_op():
    # Op 3 reads t3 and writes the output: t1's and t2's bytes are free and the scratch takes them.
    graph = chain_graph([OpKind.FULLY_CONNECTED] * 4, [64, 1024, 1024, 1024, 10])
    plan = plan_memory(graph, scratch={3: 900})
    assert plan.arena_size == plan.lower_bound == 2 * 1024


def test_bad_scratch_request_is_refused():
    graph = chain_graph([OpKind.FULLY_CONNECTED], [8, 4])
    with pytest.raises(AssertionError, match="bad scratch request"):
        plan_memory(graph, scratch={5: 16})


def test_an_op_that_asks_for_scratch_gets_a_working_pointer(monkeypatch, tmp_path):
    """A RELU rebuilt to go through its scratch buffer (table into scratch, then an identity table
    into the output): the generated C must stay bit-exact with TFLM, under ASan + UBSan."""
    from tinyasc.compile.ops import activation

    def emit_through_scratch(params, kernel, ctx):
        table = ctx.constant("table", params.table, "int8_t", "relu table")
        identity = ctx.constant("identity", np.arange(-128, 128, dtype=np.int8), "int8_t", "identity table")
        return (f"{kernel.name}({ctx.params}, {table}, {ctx.input()}, {ctx.scratch()}), "
                f"{kernel.name}({ctx.params}, {identity}, {ctx.scratch()}, {ctx.output()})")

    kernel = dataclasses.replace(activation.LUT_KERNEL, scratch_bytes=lambda params: params.size)
    spec = dataclasses.replace(activation.RELU_SPEC, reference=kernel, emit=emit_through_scratch)
    monkeypatch.setitem(ops.REGISTRY, OpKind.RELU, spec)
    data = single_op_tflite("RELU", (1, 7, 1, 37), (0.05, 10), (0.03, -128))
    graph = parse_tflite(data)
    compiled = compile_graph(graph)
    assert compiled.plan.scratch_buffer[0].size == 7 * 37
    assert compiled.plan.arena_size == 272  # 259 bytes, aligned to 16
    sources = render_model_sources(compiled, "relu.tflite", [])
    assert "tas_arena" in sources["model.c"]
    write_sources(sources, tmp_path / "src")
    runner = build_host_runner(tmp_path / "src", tmp_path / "runner")
    inputs = np.random.default_rng(3).integers(-128, 128, (20, 7 * 37), dtype=np.int8)
    expected = tflm_outputs(data, inputs, (1, 7, 1, 37))
    assert len(np.unique(expected)) > 8
    assert np.array_equal(run_host(runner, inputs, 7 * 37), expected)


def test_emitting_scratch_without_asking_is_a_compiler_bug(monkeypatch):
    from tinyasc.compile.ops import activation

    def emit_without_request(params, kernel, ctx):
        return f"{kernel.name}({ctx.params}, 0, {ctx.input()}, {ctx.scratch()})"

    monkeypatch.setitem(ops.REGISTRY, OpKind.RELU, dataclasses.replace(activation.RELU_SPEC, emit=emit_without_request))
    graph = parse_tflite(single_op_tflite("RELU", (1, 4), (0.05, 0), (0.05, 0)))
    with pytest.raises(AssertionError, match="asked for no scratch_bytes"):
        compile_graph(graph)


# ---- in-place execution ----


def graph_of(tensors: list[tuple[tuple[int, ...], str]], ops_spec: list[tuple[OpKind, tuple, tuple]],
             inputs=(0,), outputs=None) -> Graph:
    """Tensors from (shape, kind) with kind "act" or "const"; ops from (kind, inputs, outputs)."""
    made = [
        Tensor(i, f"t{i}", shape, "int8", QUANT, np.zeros(shape, np.int8) if kind == "const" else None)
        for i, (shape, kind) in enumerate(tensors)
    ]
    ops_ = [Op(i, kind, ins, outs) for i, (kind, ins, outs) in enumerate(ops_spec)]
    return Graph(tensors=made, ops=ops_, inputs=inputs, outputs=outputs or (len(tensors) - 1,))


def shares(plan, a: int, b: int) -> bool:
    return plan.tensor_buffer[a] is plan.tensor_buffer[b]


def test_activation_table_overwrites_its_dying_input():
    # input → FC → t1 → RELU → t2 → LOGISTIC → t3 → FC → output
    graph = chain_graph([OpKind.FULLY_CONNECTED, OpKind.RELU, OpKind.LOGISTIC, OpKind.FULLY_CONNECTED],
                        [64, 1024, 1024, 1024, 10])
    plan, separate = plan_memory(graph), plan_memory(graph, in_place=False)
    assert shares(plan, 1, 2) and shares(plan, 2, 3)
    assert plan.arena_size == plan.lower_bound == 1024
    assert separate.arena_size == 2 * 1024
    assert plan.overlaps() == []


def test_the_planner_takes_in_place_safety_from_the_kernel_each_op_runs():
    """Same graph, a table kernel whose record does not declare its access order: no sharing."""
    from tinyasc.compile.ops.activation import LUT_KERNEL
    from tinyasc.compile.ops.fully_connected import FULLY_CONNECTED

    graph = chain_graph([OpKind.FULLY_CONNECTED, OpKind.RELU, OpKind.FULLY_CONNECTED], [64, 1024, 1024, 10])
    unknown_order = dataclasses.replace(LUT_KERNEL, in_place=None)
    assert shares(plan_memory(graph, kernels=[FULLY_CONNECTED, LUT_KERNEL, FULLY_CONNECTED]), 1, 2)
    assert not shares(plan_memory(graph, kernels=[FULLY_CONNECTED, unknown_order, FULLY_CONNECTED]), 1, 2)


def test_graph_input_and_output_are_never_overwritten_in_place():
    # RELU on the caller's input, and a RELU writing the caller's output: both keep their buffers.
    graph = chain_graph([OpKind.RELU, OpKind.FULLY_CONNECTED, OpKind.RELU], [64, 64, 32, 32])
    plan = plan_memory(graph)
    assert not shares(plan, 0, 1) and not shares(plan, 2, 3)
    assert plan.tensor_buffer[0].storage == "input" and plan.tensor_buffer[3].storage == "output"


def test_input_read_after_the_op_is_not_overwritten():
    # t1 → RELU → t2, and t1 is read again by the ADD: RELU must not overwrite it.
    graph = graph_of(
        [((1, 64), "act"), ((1, 256), "act"), ((1, 256), "act"), ((1, 256), "act"), ((1, 10), "act")],
        [(OpKind.FULLY_CONNECTED, (0,), (1,)), (OpKind.RELU, (1,), (2,)), (OpKind.ADD, (1, 2), (3,)),
         (OpKind.FULLY_CONNECTED, (3,), (4,))],
    )
    plan = plan_memory(graph)
    assert not shares(plan, 1, 2)
    assert shares(plan, 3, 1) or shares(plan, 3, 2)  # the ADD itself runs in place: both operands die there
    assert plan.overlaps() == []


def test_add_overwrites_only_a_full_shape_operand():
    # MUL(t1 [1, 4, 1, 8] broadcast over rows, t2 [1, 1, 1, 8]): only t1 may be overwritten, even
    # though t2 comes first as input 0 in the second MUL.
    shapes = [((1, 4, 1, 8), "act"), ((1, 4, 1, 8), "act"), ((1, 1, 1, 8), "act"), ((1, 4, 1, 8), "act"),
              ((1, 4, 1, 8), "act"), ((1, 10), "act")]
    graph = graph_of(
        shapes,
        [(OpKind.CONV_2D, (0,), (1,)), (OpKind.MEAN, (1,), (2,)), (OpKind.MUL, (1, 2), (3,)),
         (OpKind.MUL, (2, 3), (4,)), (OpKind.FULLY_CONNECTED, (4,), (5,))],
    )
    plan = plan_memory(graph)
    assert shares(plan, 1, 3) and shares(plan, 3, 4) and not shares(plan, 2, 4)
    assert plan.overlaps() == []


def test_broadcast_only_operands_never_run_in_place():
    # ADD(t1 [1, 8], constant [4, 8]) → [4, 8]: t1 is broadcast, its 8 bytes cannot hold 32.
    graph = graph_of(
        [((1, 16), "act"), ((1, 8), "act"), ((4, 8), "const"), ((4, 8), "act"), ((1, 2), "act")],
        [(OpKind.FULLY_CONNECTED, (0,), (1,)), (OpKind.ADD, (1, 2), (3,)), (OpKind.FULLY_CONNECTED, (3,), (4,))],
    )
    assert not shares(plan_memory(graph), 1, 3)


def test_an_alias_of_an_in_place_output_joins_the_same_buffer():
    # FC → t1 → RELU (in place) → t2 → RESHAPE → t3 → FC: t1, t2 and t3 are one buffer.
    graph = graph_of(
        [((1, 16), "act"), ((1, 64), "act"), ((1, 64), "act"), ((1, 8, 8), "act"), ((1, 4), "act")],
        [(OpKind.FULLY_CONNECTED, (0,), (1,)), (OpKind.RELU, (1,), (2,)), (OpKind.RESHAPE, (2,), (3,)),
         (OpKind.FULLY_CONNECTED, (3,), (4,))],
    )
    plan = plan_memory(graph)
    assert shares(plan, 1, 2) and shares(plan, 2, 3)
    assert len([b for b in plan.buffers if b.storage == "arena"]) == 1


def test_no_op_overwrites_bytes_another_name_still_needs():
    # t1 → RESHAPE → t2 (same bytes); RELU(t1) while t2 is read later: not in place.
    graph = graph_of(
        [((1, 16), "act"), ((1, 64), "act"), ((1, 8, 8), "act"), ((1, 64), "act"), ((1, 64), "act"), ((1, 4), "act")],
        [(OpKind.FULLY_CONNECTED, (0,), (1,)), (OpKind.RESHAPE, (1,), (2,)), (OpKind.RELU, (1,), (3,)),
         (OpKind.ADD, (2, 3), (4,)), (OpKind.FULLY_CONNECTED, (4,), (5,))],
    )
    plan = plan_memory(graph)
    assert not shares(plan, 1, 3)
    assert plan.overlaps() == []


# ---- conv + max-pool fusion ----


def test_conv_and_max_pool_fuse_and_the_conv_output_never_exists(tiny_cnn_tflite, tmp_path):
    """tiny CNN: conv (8, k8, s4) → max-pool 2 → conv → mean → dense. Fused, the first conv's
    63×8 output is never in memory: a 2-row scratch block takes its place. Bit-exact with TFLM."""
    graph = read_tflite(tiny_cnn_tflite)
    fused, separate = compile_graph(graph), compile_graph(graph, options=CompileOptions(fuse=False))
    conv, pool = graph.ops[0], graph.ops[1]
    assert (conv.kind, pool.kind) == (OpKind.CONV_2D, OpKind.MAX_POOL_2D)
    assert conv.outputs[0] not in fused.plan.tensor_buffer and conv.outputs[0] in separate.plan.tensor_buffer
    assert fused.plan.scratch_buffer[0].size == 2 * 8  # the pool window's 2 conv rows of 8 channels
    assert fused.plan.arena_size < separate.plan.arena_size
    assert fused.plan.overlaps() == [] and fused.plan.lower_bound <= fused.plan.arena_size
    assert fused.steps[0].call.startswith("for (int32_t tas_row = 0; tas_row < 31;")
    assert fused.steps[1].call.startswith("(void)0") and fused.macs == separate.macs
    write_sources(render_model_sources(fused, "tiny.tflite", []), tmp_path / "src")
    runner = build_host_runner(tmp_path / "src", tmp_path / "runner")
    inputs = np.random.default_rng(4).integers(-128, 128, (30, 256), dtype=np.int8)
    expected = tflm_outputs(tiny_cnn_tflite.read_bytes(), inputs, (1, 256, 1, 1))
    assert len(np.unique(expected, axis=0)) > 20
    assert np.array_equal(run_host(runner, inputs, 4), expected)


def test_pool_output_is_live_from_the_fused_conv_on():
    """The pool output is written inside the conv's loop: it must not share bytes with the conv's
    input, which the loop still reads (the planner would otherwise reuse them)."""
    shapes = [((1, 16), "act"), ((1, 64, 1, 4), "act"), ((1, 62, 1, 4), "act"), ((1, 31, 1, 4), "act"),
              ((1, 4), "act")]
    graph = graph_of(shapes, [(OpKind.FULLY_CONNECTED, (0,), (1,)), (OpKind.CONV_2D, (1,), (2,)),
                              (OpKind.MAX_POOL_2D, (2,), (3,)), (OpKind.FULLY_CONNECTED, (3,), (4,))])
    plan = plan_memory(graph, scratch={1: 8}, elided=frozenset({2}), produced_at={3: 1})
    conv_input, pool_output = plan.tensor_buffer[1], plan.tensor_buffer[3]
    assert 2 not in plan.tensor_buffer and plan.overlaps() == []
    assert (pool_output.offset >= conv_input.offset + conv_input.size
            or conv_input.offset >= pool_output.offset + pool_output.size)
    assert plan.lower_bound == 256 + 124 + 8


# Without patch stages and row chains, the fusion is the only schedule that shrinks the arena.
FUSION_ONLY = CompileOptions(patches="never", row_chains="never")


def test_a_fused_conv_whose_kernel_needs_scratch_gets_it_after_the_block(tmp_path):
    """On the M4 the anchor-shaped CNN's first conv (1 input channel) runs the first-layer kernel,
    which asks for scratch (its widened pixel pair): fused, the op's scratch is the 4-row block, then
    that scratch 16-byte aligned. Bit-exact with TFLM on the host (the kernel's portable twin)."""
    from pathlib import Path

    from tinyasc.artifacts.boards import get_board

    path = Path(__file__).resolve().parent / "fixtures" / "golden" / "anchor_shaped_cnn.tflite"
    graph = read_tflite(path)
    board = get_board("nrf52840")
    fused = compile_graph(graph, board=board, options=FUSION_ONLY)
    separate = compile_graph(graph, board=board, options=dataclasses.replace(FUSION_ONLY, fuse=False))
    assert fused.steps[0].kernel == "tas_conv2d_first_s8_dsp" and "fused with op 1" in fused.steps[0].summary
    block = 4 * graph.tensors[graph.ops[0].outputs[0]].shape[-1]  # the pool window's 4 conv rows
    offset = (block + 15) // 16 * 16
    assert fused.plan.scratch_buffer[0].size == offset + separate.plan.scratch_buffer[0].size
    assert f"+ {offset})" in fused.steps[0].call
    assert fused.plan.arena_size < separate.plan.arena_size
    write_sources(render_model_sources(fused, path.name, []), tmp_path / "src")
    runner = build_host_runner(tmp_path / "src", tmp_path / "runner")
    x, y = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    inputs = np.random.default_rng(5).integers(-128, 128, (30, x.num_elements), dtype=np.int8)
    expected = tflm_outputs(path.read_bytes(), inputs, x.shape)
    assert np.array_equal(run_host(runner, inputs, y.num_elements), expected)


def test_fusion_runs_only_where_it_lowers_the_arena(tiny_cnn_tflite):
    """With every schedule allowed, the fused plan runs only when no plan without it (patch stage,
    row chain) needs fewer bytes; equal arenas run unfused."""
    from tinyasc.artifacts.boards import get_board

    graph = read_tflite(tiny_cnn_tflite)
    for board in (None, get_board("nrf52840"), get_board("cortex-m3")):
        chosen = compile_graph(graph, board=board)
        unfused = compile_graph(graph, board=board, options=CompileOptions(fuse=False))
        fused = compile_graph(graph, board=board, options=FUSION_ONLY)
        if "fused with op 1" in chosen.steps[0].summary:
            assert chosen.plan.arena_size < unfused.plan.arena_size
        else:
            assert chosen.plan.arena_size <= fused.plan.arena_size


@pytest.mark.e2e
def test_fused_conv_pool_with_dsp_kernels_is_bit_exact_in_qemu(tmp_path, only_conv_kernel):
    from pathlib import Path

    from tinyasc.compile.export import export_model
    from tinyasc.compile.ops.conv import CONV2D_ROWS_DSP
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    path = Path(__file__).resolve().parent / "fixtures" / "golden" / "anchor_shaped_cnn.tflite"
    for name in ("first", "rows"):  # the kernel the cost model picks (with scratch), then the rows kernel (none)
        if name == "rows":
            only_conv_kernel(CONV2D_ROWS_DSP)
        exported = export_model(path, board_name="nrf52840", out_root=tmp_path, name=f"fused_{name}",
                                num_test_vectors=4, options=FUSION_ONLY)
        layers = exported.manifest["export"]["layers"]
        assert "fused with op 1" in layers[0]["summary"] and layers[0]["kernel"] == f"tas_conv2d_{name}_s8_dsp"
        build_firmware(exported.export_dir)
        result = run_firmware(exported.export_dir)
        assert result.passed and result.vectors == 4 and result.mismatches == 0
