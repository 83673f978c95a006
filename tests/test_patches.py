"""Patch-based execution of the first stages (compile/patches.py): the image's first convs and
depthwise convs run patch by patch, their geometry proven exact, bit-exact with TFLM on the host
(ASan/UBSan) and in QEMU, with a smaller arena than the plan without patches."""

import dataclasses

import numpy as np
import pytest

from tinyasc.artifacts.boards import get_board
from tinyasc.compile import memory_choice
from tinyasc.compile.codegen import _prepare, compile_graph, render_model_sources, write_sources
from tinyasc.compile.host import build_host_runner, run_host
from tinyasc.compile.options import CompileOptions
from tinyasc.compile.patches import make_stage, patches_are_exact, stage_ops
from tinyasc.compile.plan_check import check_plan
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.tflite_reader import read_tflite
from tinyasc.errors import TinyascError


def first_stage_model(shape, variant):
    """A high-resolution first stage: a strided conv over the image (SAME), a depthwise conv, a 1x1
    conv (read as H·W pixels), a strided depthwise conv (VALID or SAME), then a small head; variant 1
    adds a max pool and an average pool (unpadded)."""
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    L = keras.layers
    x = inputs = keras.Input(shape)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    if variant == 1:
        x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(12, 1, activation="relu")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="valid" if variant == 0 else "same", activation="relu")(x)
    x = L.Conv2D(7, (3, 2) if variant == 0 else 1, padding="valid", activation="relu")(x)
    if variant == 1:
        x = L.AveragePooling2D((2, 1), strides=1)(x)
    x = L.Conv2D(16, 1, activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(5)(x))


def heavy_tail_model():
    """A first stage that holds the arena's peak and a tail holding most of the MACs: recomputing
    the stage's halos costs little, so the planner runs it on patches by itself ("auto")."""
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    L = keras.layers
    x = inputs = keras.Input((40, 36, 1))
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = L.Conv2D(32, 1, activation="relu")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(x)
    for _ in range(3):
        x = L.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(5)(x))


SHAPES = {"rgb_odd": ((37, 29, 3), 0), "mono_spectrogram": ((49, 40, 1), 1), "two_channel": ((31, 33, 2), 0)}


def _stage_tflite(name, folder):
    from tinyasc.convert import quantize_int8
    from tinyasc.train import seed_everything

    shape, variant = SHAPES[name]
    seed_everything(7)
    calibration = np.random.default_rng(7).normal(0, 1, (32, *shape)).astype(np.float32)
    return quantize_int8(first_stage_model(shape, variant), calibration, folder / f"{name}.tflite")


@pytest.fixture(scope="module", params=sorted(SHAPES))
def stage_tflite(request, tmp_path_factory):
    return _stage_tflite(request.param, tmp_path_factory.mktemp("patches"))


def stage_of(tflite, grid, length=None, bands=False):
    graph = read_tflite(tflite)
    prepared = [_prepare(op, graph, CompileOptions()) for op in graph.ops]
    ops = stage_ops(graph, prepared, set())
    return make_stage(graph, prepared, ops[:length] if length else ops, grid, bands)


def band_count(graph, ops, least):
    """The least band count from `least` that tiles the stage's output height."""
    height = graph.tensors[graph.ops[ops[-1]].outputs[0]].shape[1]
    return next(g for g in range(min(least, height), height + 1) if height % g == 0)


@pytest.fixture
def pin(monkeypatch):
    """The planner's only candidate: this stage length on this grid, whatever its recomputation."""
    def pinned(grid, length=None, bands=False):
        def only(graph, prepared, taken, graph_macs):
            ops = stage_ops(graph, prepared, taken)[:length]
            rows = (band_count(graph, ops, grid[0]), 1) if bands else grid
            stage = make_stage(graph, prepared, ops, rows, bands)
            assert patches_are_exact(stage)
            return [stage]
        monkeypatch.setattr(memory_choice, "candidate_stages", only)
    return pinned


# ---- the geometry and its proof ----


@pytest.mark.parametrize("grid", [(2, 1), (3, 2), (3, 3), (1, 3)])
def test_every_grid_is_exact_and_a_wrong_halo_is_caught(stage_tflite, grid):
    stage = stage_of(stage_tflite, grid)
    assert stage is not None and len(stage.ops) == (8 if "mono" in stage_tflite.name else 6)  # all before the head
    assert patches_are_exact(stage)
    for axis_name in ("rows", "cols"):
        axis = getattr(stage, axis_name)
        for k in range(len(stage.ops)):  # one position less of any region: a kernel reads past it
            smaller = dataclasses.replace(axis, sizes=axis.sizes[:k] + (axis.sizes[k] - 1,) + axis.sizes[k + 1:])
            assert not patches_are_exact(dataclasses.replace(stage, **{axis_name: smaller})), (axis_name, k)
        shifted = dataclasses.replace(axis, shifts=(axis.shifts[0] + 1,) + axis.shifts[1:])  # the halo misplaced
        assert not patches_are_exact(dataclasses.replace(stage, **{axis_name: shifted}))
        gap = dataclasses.replace(axis, origins=axis.origins[:-1])  # a patch left out
        if len(axis.origins) > 1:
            assert not patches_are_exact(dataclasses.replace(stage, **{axis_name: gap}))


def test_the_patch_buffers_are_the_stages_scratch_and_counted(stage_tflite, pin):
    pin((3, 3))
    graph = read_tflite(stage_tflite)
    compiled = compile_graph(graph, board=get_board("nrf52840"), options=CompileOptions(patches="always"))
    first = next(s for s in compiled.steps if "patch by patch" in s.summary)
    buffers = compiled.plan.scratch_buffer[first.index]
    assert buffers.size >= sum(stage_of(stage_tflite, (3, 3)).slot_bytes())
    assert compiled.plan.lower_bound >= buffers.size
    assert check_plan(compiled.plan) == []
    # A stage output placed over the patch buffers is refused by the checker.
    output = next(b for b in compiled.plan.buffers if b.storage == "arena" and b.tensors
                  and b.first_op == buffers.first_op and b.last_op > b.first_op)
    output.offset = buffers.offset
    assert any("share bytes while both live" in p for p in check_plan(compiled.plan))


def test_unknown_patch_mode_is_one_line():
    with pytest.raises(TinyascError, match="unknown patch mode"):
        CompileOptions(patches="sometimes")


# ---- bit-exact ----


def _host_matches(tflite, compiled, folder) -> None:
    graph = compiled.graph
    write_sources(render_model_sources(compiled, tflite.name, []), folder / "src")
    runner = build_host_runner(folder / "src", folder / "host_runner")
    x = graph.tensors[graph.inputs[0]]
    inputs = np.random.default_rng(8).integers(-128, 128, (12, x.num_elements), dtype=np.int8)
    actual = run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)
    expected = tflm_outputs(tflite.read_bytes(), inputs, x.shape)
    assert len(np.unique(expected)) > 8, "degenerate case: outputs nearly constant"
    assert np.array_equal(actual, expected)


@pytest.mark.parametrize("grid,length", [((2, 3), 6), ((3, 2), 4), ((4, 4), 2), ((3, 3), 5)])
def test_patches_are_bit_exact_on_the_host(stage_tflite, pin, grid, length, tmp_path):
    pin(grid, length)
    graph = read_tflite(stage_tflite)
    compiled = compile_graph(graph, board=get_board("nrf52840"), options=CompileOptions(patches="always"))
    summaries = [s.summary for s in compiled.steps if "patch by patch" in s.summary]
    assert len(summaries) == length and f"({grid[0]}x{grid[1]})" in summaries[0]
    assert check_plan(compiled.plan) == []
    _host_matches(stage_tflite, compiled, tmp_path)


@pytest.mark.parametrize("least,length", [(2, 6), (3, 4), (5, 2), (99, 3)])
def test_bands_keeping_their_halos_are_bit_exact_on_the_host(stage_tflite, pin, least, length, tmp_path):
    pin((least, 1), length, bands=True)
    graph = read_tflite(stage_tflite)
    compiled = compile_graph(graph, board=get_board("nrf52840"), options=CompileOptions(patches="always"))
    summaries = [s.summary for s in compiled.steps if "patch by patch" in s.summary]
    assert len(summaries) == min(length, 8 if "mono" in stage_tflite.name else 6)
    assert check_plan(compiled.plan) == []
    _host_matches(stage_tflite, compiled, tmp_path)


def test_bands_recompute_nothing_and_a_wrong_kept_row_is_caught(stage_tflite):
    graph = read_tflite(stage_tflite)
    prepared = [_prepare(op, graph, CompileOptions()) for op in graph.ops]
    ops = stage_ops(graph, prepared, set())[:3]
    gh = band_count(graph, ops, 2)
    bands, patches = make_stage(graph, prepared, ops, (gh, 1), True), make_stage(graph, prepared, ops, (gh, 1))
    assert patches_are_exact(bands) and bands.kept is not None
    assert bands.macs < patches.macs  # the halos are kept, not recomputed
    assert bands.macs - bands.base_macs <= patches.macs - patches.base_macs
    for k in range(len(ops)):
        if bands.kept[k]:  # one row fewer kept: the band's first rows of that tensor are missing
            wrong = dataclasses.replace(bands, kept=bands.kept[:k] + (bands.kept[k] - 1,) + bands.kept[k + 1:])
            assert not patches_are_exact(wrong), k


@pytest.fixture(scope="module")
def heavy_tail_tflite(tmp_path_factory):
    from tinyasc.convert import quantize_int8
    from tinyasc.train import seed_everything

    seed_everything(9)
    calibration = np.random.default_rng(9).normal(0, 1, (32, 40, 36, 1)).astype(np.float32)
    return quantize_int8(heavy_tail_model(), calibration, tmp_path_factory.mktemp("tail") / "tail.tflite")


@pytest.mark.parametrize("board_name", ["nrf52840", "cortex-m3"])
def test_auto_patches_shrink_the_arena_and_stay_exact(heavy_tail_tflite, board_name, tmp_path):
    graph = read_tflite(heavy_tail_tflite)
    board = get_board(board_name)
    compiled = compile_graph(graph, board=board)
    without = compile_graph(graph, board=board, options=CompileOptions(patches="never"))
    assert any("patch by patch" in s.summary for s in compiled.steps)
    assert not any("patch by patch" in s.summary for s in without.steps)
    assert compiled.plan.arena_size < without.plan.arena_size
    assert compiled.plan.lower_bound <= compiled.plan.arena_size
    _host_matches(heavy_tail_tflite, compiled, tmp_path)


def test_auto_refuses_patches_whose_recomputation_costs_too_much(stage_tflite):
    """On the stage shapes the first stage is nearly all the MACs: every grid recomputes more than
    MAX_EXTRA_MACS of them, so "auto" plans as before even though "always" saves bytes."""
    graph = read_tflite(stage_tflite)
    board = get_board("nrf52840")
    auto, never, always = (compile_graph(graph, board=board, options=CompileOptions(patches=mode))
                           for mode in ("auto", "never", "always"))
    assert not any("patch by patch" in s.summary for s in auto.steps)
    assert auto.plan.arena_size == never.plan.arena_size > always.plan.arena_size


@pytest.mark.e2e
def test_patches_run_bit_exact_in_qemu(tmp_path):
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    stage_tflite = _stage_tflite("rgb_odd", tmp_path)
    export = export_model(stage_tflite, board_name="nrf52840", out_root=tmp_path, name="patches",
                          options=CompileOptions(patches="always"))
    assert any("patch by patch" in s.summary for s in export.compiled.steps)
    build_firmware(export.export_dir)
    result = run_firmware(export.export_dir, timeout_s=120)
    assert result.passed, result.log
    assert result.mismatches == 0 and result.vectors > 0


@pytest.mark.e2e
def test_bands_run_bit_exact_in_qemu(pin, tmp_path):
    """Bands on the DSP kernels: the first conv runs its first band as steady blocks (one parameter
    struct for every call), the depthwise conv after it through a copy with the full block's sizes."""
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    stage_tflite = _stage_tflite("rgb_odd", tmp_path)
    pin((3, 1), 4, bands=True)
    export = export_model(stage_tflite, board_name="nrf52840", out_root=tmp_path, name="bands", num_test_vectors=8,
                          options=CompileOptions(patches="always"))
    model_c = (export.export_dir / "src" / "model.c").read_text()
    assert "halos kept" in model_c and "tas_first_op1 = " in model_c and "tas_first_op0" not in model_c
    build_firmware(export.export_dir)
    result = run_firmware(export.export_dir, timeout_s=120)
    assert result.passed, result.log
    assert result.mismatches == 0 and result.vectors == 8


def test_random_first_stages_are_bit_exact_with_tflm():
    from tinyasc.compile.fuzz.draw_patch import draw_patch_batch
    from tinyasc.compile.fuzz.run import FUZZ_BOARDS, FuzzStats, check_batch, compiled_sources

    graphs = draw_patch_batch(515, 0, 30, FUZZ_BOARDS)
    stats = FuzzStats()
    findings = check_batch(graphs, np.random.default_rng(515), stats)
    assert findings == [], findings[0]
    assert stats.compared >= 25
    patched = sum("tas_patch.h" in compiled_sources(graph)[2] for graph, _ in graphs)
    assert patched >= 10, patched  # most draws run a patch stage


def test_random_first_stages_as_bands_are_bit_exact_with_tflm(monkeypatch):
    """The fuzzer's first stages, every stage run as bands keeping their halos where the output's
    height allows (the planner's only candidates)."""
    from tinyasc.compile.fuzz.draw_patch import draw_patch_batch
    from tinyasc.compile.fuzz.run import FUZZ_BOARDS, FuzzStats, check_batch, compiled_sources

    found = memory_choice.candidate_stages
    monkeypatch.setattr(memory_choice, "candidate_stages",
                        lambda *args: [s for s in found(*args) if s.kept is not None])
    graphs = draw_patch_batch(516, 0, 30, FUZZ_BOARDS)
    stats = FuzzStats()
    findings = check_batch(graphs, np.random.default_rng(516), stats)
    assert findings == [], findings[0]
    banded = sum("halos kept" in "".join(compiled_sources(graph)[1].values()) for graph, _ in graphs)
    assert banded >= 10, banded
