"""Row streams (compile/rowstream.py): depthwise convs writing their output rows over input rows
they have read, alone or fused with the 1×1 conv after them, and the plan checker
(compile/plan_check.py) that refuses any plan whose live tensors share bytes otherwise."""

import dataclasses
import itertools

import numpy as np
import pytest

from tinyasc.artifacts.boards import get_board
from tinyasc.compile.codegen import compile_graph, render_model_sources, write_sources
from tinyasc.compile.host import build_host_runner, run_host
from tinyasc.compile.options import CompileOptions
from tinyasc.compile.plan_check import check_plan
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.rowstream import RowGeometry, Schedule, choose_schedule, least_shift, stream_is_safe
from tinyasc.compile.tflite_reader import read_tflite

# ---- the schedule and its proof ----


def test_writing_a_same_padded_row_over_its_own_input_row_is_caught():
    # 3x3 same, stride 1: output row r sits on input row r, which row r + 1 still reads.
    g = RowGeometry(output_rows=6, output_row_bytes=40, input_rows=6, input_row_bytes=40, stride=1, pad_top=1, window=3)
    assert not stream_is_safe(g, Schedule(delay=-1, shift=0))
    assert not stream_is_safe(g, Schedule(delay=0, shift=0))
    assert stream_is_safe(g, Schedule(delay=1, shift=0))  # held back one row: row r + 1 has read row r
    assert least_shift(g, -1) == 80 and stream_is_safe(g, Schedule(delay=-1, shift=80))
    assert not stream_is_safe(g, Schedule(delay=-1, shift=79))


def conv_rows(input_rows: int, window: int, stride: int, padding: str) -> tuple[int, int]:
    """Output rows and top padding as TFLite computes them."""
    if padding == "valid":
        return (input_rows - window) // stride + 1, 0
    rows = -(-input_rows // stride)
    return rows, max(0, (rows - 1) * stride + window - input_rows) // 2


SHAPES = [case for case in itertools.product((1, 2, 5, 9, 12), (1, 2, 3, 5), (1, 2, 3), ("same", "valid"), (0.5, 1, 2, 3))
          if case[3] == "same" or case[0] >= case[1]]  # input rows, window, stride, padding, output/input row bytes


def test_the_chosen_schedule_is_safe_and_no_smaller_one_is():
    shifted = 0
    for input_rows, window, stride, padding, growth in SHAPES:
        rows, pad = conv_rows(input_rows, window, stride, padding)
        width = 24
        g = RowGeometry(rows, int(width * growth) // stride, input_rows, width, stride, pad, window)
        chosen = choose_schedule(g)
        assert stream_is_safe(g, chosen), g
        if chosen.shift > 0:  # the least shift for its delay: one byte less overwrites a row still read
            shifted += 1
            assert not stream_is_safe(g, dataclasses.replace(chosen, shift=chosen.shift - 1)), g
    assert shifted > 10


# ---- the models ----


def stream_model(width=7, channels=6):
    """Every kind of stream: pointwise-fused blocks at stride 1 and 2 (same), growing and odd
    channel counts, a valid k×1 block, and a lone depthwise conv in place (another depthwise
    follows it, not a 1×1 conv)."""
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    L = keras.layers
    x = inputs = keras.Input((11, width, 3))
    x = L.Conv2D(channels, 1, activation="relu")(x)  # the first depthwise input lives in the arena
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.Conv2D(2 * channels + 1, 1, activation="relu")(x)  # grows: the output needs a shift
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6")(x)
    x = L.Conv2D(9, 1, activation="relu")(x)
    x = L.DepthwiseConv2D(3, padding="valid")(x)  # alone, in place, then a second one
    x = L.DepthwiseConv2D((2, 1), padding="valid", activation="relu")(x)
    x = L.Conv2D(5, 1)(x)
    return keras.Model(inputs, x)


@pytest.fixture(scope="module")
def stream_tflite(tmp_path_factory):
    from tinyasc.convert import quantize_int8
    from tinyasc.train import seed_everything

    seed_everything(3)
    folder = tmp_path_factory.mktemp("streams")
    calibration = np.random.default_rng(3).normal(0, 1, (32, 11, 7, 3)).astype(np.float32)
    return quantize_int8(stream_model(), calibration, folder / "streams.tflite")


@pytest.mark.parametrize("board_name", ["nrf52840", "cortex-m3"])
def test_streams_are_bit_exact_on_the_host_and_take_less_memory(board_name, stream_tflite, tmp_path):
    graph = read_tflite(stream_tflite)
    board = get_board(board_name)
    compiled = compile_graph(graph, board=board, options=CompileOptions(row_streams="always"))
    unfused = compile_graph(graph, board=board, options=CompileOptions(fuse=False))
    summaries = [s.summary for s in compiled.steps]
    assert sum("fused with op" in s for s in summaries) == 3
    assert sum("in place" in s for s in summaries) >= 3
    assert compiled.plan.arena_size < unfused.plan.arena_size
    assert check_plan(compiled.plan) == []
    write_sources(render_model_sources(compiled, stream_tflite.name, []), tmp_path / "src")
    runner = build_host_runner(tmp_path / "src", tmp_path / "host_runner")
    x = graph.tensors[graph.inputs[0]]
    inputs = np.random.default_rng(5).integers(-128, 128, (20, x.num_elements), dtype=np.int8)
    actual = run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)
    expected = tflm_outputs(stream_tflite.read_bytes(), inputs, x.shape)
    assert len(np.unique(expected)) > 10, "degenerate case: outputs nearly constant"
    assert np.array_equal(actual, expected)


def test_on_auto_a_stream_that_does_not_lower_the_arena_runs_op_at_a_time(stream_tflite):
    graph = read_tflite(stream_tflite)
    board = get_board("nrf52840")
    auto = compile_graph(graph, board=board)
    every = compile_graph(graph, board=board, options=CompileOptions(row_streams="always"))
    streamed = [sum("fused with op" in s.summary for s in c.steps) for c in (auto, every)]
    assert streamed[0] < streamed[1]  # one of the three streams is idle on this graph
    assert auto.plan.arena_size == every.plan.arena_size
    assert check_plan(auto.plan) == []


def test_the_checker_refuses_a_plan_whose_live_tensors_overlap(stream_tflite):
    graph = read_tflite(stream_tflite)
    plan = compile_graph(graph, board=get_board("nrf52840")).plan
    assert check_plan(plan) == []
    arena = sorted((b for b in plan.buffers if b.storage == "arena"), key=lambda b: -b.size)
    # Move the second largest buffer onto the largest: some of their tensors are live together.
    moved = [b for b in arena[1:] if any(s.live_with(t) for s in b.segments for t in arena[0].segments)][0]
    moved.offset = arena[0].offset
    problems = check_plan(plan)
    assert problems and "share bytes while both live" in problems[0]


def test_the_checker_refuses_an_in_place_pair_the_plan_does_not_declare(stream_tflite):
    graph = read_tflite(stream_tflite)
    plan = compile_graph(graph, board=get_board("nrf52840")).plan
    assert plan.in_place_ops
    manifest = plan.to_dict()  # the per-tensor plan the manifest carries
    placed = {row["tensor"]: row for row in manifest["tensors"]}
    for op, output in plan.in_place_ops.items():  # the in-place output starts inside its input's buffer
        assert placed[output]["first_op"] == op and str(op) in manifest["in_place_ops"]
    assert all(0 <= row["offset"] and row["offset"] + row["bytes"] <= manifest["arena_bytes"] for row in placed.values())
    plan.in_place_ops.clear()
    assert any("share bytes" in p for p in check_plan(plan))


@pytest.mark.e2e
@pytest.mark.parametrize("board_name", ["nrf52840", "cortex-m3"])
def test_streams_run_bit_exact_in_qemu(board_name, stream_tflite, tmp_path):
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    export = export_model(stream_tflite, board_name=board_name, out_root=tmp_path, name="streams")
    assert any("in place" in s.summary for s in export.compiled.steps)
    build_firmware(export.export_dir)
    result = run_firmware(export.export_dir, timeout_s=120)
    assert result.passed, result.log
    assert result.mismatches == 0 and result.vectors > 0


# ---- the 1×1 step kernel: pixel pairs across steps of an odd number of pixels ----


def odd_step_model(height: int, width: int):
    """Streams whose steps hand the 1×1 conv an odd number of pixels (rows of 5 and 3 pixels, 3-row
    and 1-row steps of one pixel each), its input depth a multiple of 4: stride 1 and 2, same and
    valid padding, odd output channel counts, rows held back in a ring, written in place or beside."""
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    L = keras.layers
    x = inputs = keras.Input((height, width, 3))
    x = L.Conv2D(8, 1, activation="relu")(x)
    x = L.DepthwiseConv2D(3 if width > 1 else (3, 1), padding="same", activation="relu")(x)
    x = L.Conv2D(8, 1, activation="relu")(x)  # as many channels: a ring of held-back rows, no shift
    x = L.DepthwiseConv2D(3 if width > 1 else (3, 1), strides=2, padding="same", activation="relu6")(x)
    x = L.Conv2D(12, 1, activation="relu")(x)
    x = L.DepthwiseConv2D((2, 1), padding="valid", activation="relu")(x)
    x = L.Conv2D(7, 1)(x)
    return keras.Model(inputs, x)


@pytest.fixture(scope="module", params=[(9, 5), (13, 1), (10, 3)], ids=["rows_of_5", "width_1", "rows_of_3"])
def odd_step_tflite(request, tmp_path_factory):
    from tinyasc.convert import quantize_int8
    from tinyasc.train import seed_everything

    seed_everything(4)
    height, width = request.param
    folder = tmp_path_factory.mktemp("odd_steps")
    calibration = np.random.default_rng(4).normal(0, 1, (32, height, width, 3)).astype(np.float32)
    return quantize_int8(odd_step_model(height, width), calibration, folder / f"odd_{height}x{width}.tflite")


def test_odd_steps_pair_pixels_across_steps_bit_exact_on_the_host(odd_step_tflite, tmp_path):
    graph = read_tflite(odd_step_tflite)
    compiled = compile_graph(graph, board=get_board("nrf52840"), options=CompileOptions(row_streams="always"))
    assert sum("fused with op" in s.summary for s in compiled.steps) == 3
    sources = render_model_sources(compiled, odd_step_tflite.name, [])
    assert "tas_conv2d_1x1_s8_dsp_step(&" in sources["model.c"]
    assert check_plan(compiled.plan) == []
    write_sources(sources, tmp_path / "src")
    runner = build_host_runner(tmp_path / "src", tmp_path / "host_runner")
    x = graph.tensors[graph.inputs[0]]
    inputs = np.random.default_rng(6).integers(-128, 128, (20, x.num_elements), dtype=np.int8)
    actual = run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)
    expected = tflm_outputs(odd_step_tflite.read_bytes(), inputs, x.shape)
    assert len(np.unique(expected)) > 10, "degenerate case: outputs nearly constant"
    assert np.array_equal(actual, expected)


@pytest.mark.e2e
def test_odd_steps_run_bit_exact_in_qemu(odd_step_tflite, tmp_path):
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    export = export_model(odd_step_tflite, board_name="nrf52840", out_root=tmp_path, name="odd_steps",
                          num_test_vectors=8, options=CompileOptions(row_streams="always"))
    assert "tas_conv2d_1x1_s8_dsp_step(&" in (export.export_dir / "src" / "model.c").read_text()
    build_firmware(export.export_dir)
    result = run_firmware(export.export_dir, timeout_s=120)
    assert result.passed, result.log
    assert result.mismatches == 0 and result.vectors == 8
