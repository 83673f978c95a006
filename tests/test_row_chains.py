"""Row chains (compile/rowchain.py): convs and ADDs of residual blocks run row by row, every tensor
inside the chain held as a ring of rows, the schedule proven safe by simulation, bit-exact with
TFLM on the host and in QEMU."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tinyasc.artifacts.boards import get_board
from tinyasc.compile.codegen import _prepare, compile_graph, render_model_sources, write_sources
from tinyasc.compile.host import build_host_runner, run_host
from tinyasc.compile.options import CompileOptions
from tinyasc.compile.plan_check import check_plan
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.rowchain import chain_is_safe, find_row_chains
from tinyasc.compile.tflite_reader import read_tflite


def residual_model():
    """Every kind of chain node: a padded first conv reading the image (copied into a ring), an
    identity block, a projection block at stride 2 over an odd row count (bottom padding), a
    dilated conv, a 5x3 filter, a 1x1 stride-1 conv (read as H·W pixels) and odd channel counts."""
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    L = keras.layers
    x = inputs = keras.Input((13, 9, 3))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = L.Conv2D(8, (5, 3), padding="same")(y)
    x = L.ReLU()(L.Add()([x, y]))
    y = L.Conv2D(13, 3, strides=2, padding="same", activation="relu")(x)
    y = L.Conv2D(13, 3, padding="same", dilation_rate=2)(y)
    x = L.Add()([L.Conv2D(13, 1, strides=2)(x), y])
    x = L.Conv2D(9, 1, activation="relu")(x)
    x = L.Conv2D(9, 3, padding="valid", activation="relu")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(5)(x))


@pytest.fixture(scope="module")
def chain_tflite(tmp_path_factory):
    from tinyasc.convert import quantize_int8
    from tinyasc.train import seed_everything

    seed_everything(4)
    folder = tmp_path_factory.mktemp("chains")
    calibration = np.random.default_rng(4).normal(0, 1, (32, 13, 9, 3)).astype(np.float32)
    return quantize_int8(residual_model(), calibration, folder / "chains.tflite")


def chains_of(tflite):
    graph = read_tflite(tflite)
    prepared = [_prepare(op, graph, CompileOptions()) for op in graph.ops]
    return graph, find_row_chains(graph, prepared, set())


# ---- the schedule and its proof ----


def test_the_chain_covers_the_residual_blocks_and_its_schedule_is_proven(chain_tflite):
    graph, chains = chains_of(chain_tflite)
    assert len(chains) == 1
    chain = chains[0]
    assert len(chain.ops) == 10 and len(chain.outputs) == 1  # every conv and ADD, one tensor leaves
    assert chain.merged  # convs writing straight into their ADD's row
    assert any(r.pad_bottom for r in chain.rings.values()) and any(r.pad_top for r in chain.rings.values())
    assert chain_is_safe(chain)
    # The capacities are the least for the order: one row less and some read finds its row gone.
    for ring in chain.rings.values():
        ring.capacity -= 1
        assert not chain_is_safe(chain), ring
        ring.capacity += 1


def test_an_unsafe_order_is_caught(chain_tflite):
    _, (chain,) = chains_of(chain_tflite)
    order = chain.order
    # A row read before its producer computed it: move the last step of the first ADD's conv later.
    for k in range(1, len(order)):
        if order[k] != order[k - 1]:
            swapped = order[:k - 1] + [order[k], order[k - 1]] + order[k + 1:]
            if not chain_is_safe(dataclasses.replace(chain, order=swapped)):
                break
    else:
        pytest.fail("no swap of two steps was caught")
    assert chain_is_safe(chain)


# ---- the models ----


@pytest.mark.parametrize("board_name", ["nrf52840", "cortex-m3"])
def test_chains_are_bit_exact_on_the_host_and_take_less_memory(board_name, chain_tflite, tmp_path):
    graph = read_tflite(chain_tflite)
    board = get_board(board_name)
    compiled = compile_graph(graph, board=board)
    unfused = compile_graph(graph, board=board, options=CompileOptions(fuse=False))
    assert sum("in the chain of op" in s.summary for s in compiled.steps) == 10
    assert compiled.plan.arena_size < unfused.plan.arena_size
    assert compiled.plan.lower_bound <= compiled.plan.arena_size
    assert check_plan(compiled.plan) == []
    write_sources(render_model_sources(compiled, chain_tflite.name, []), tmp_path / "src")
    runner = build_host_runner(tmp_path / "src", tmp_path / "host_runner")
    x = graph.tensors[graph.inputs[0]]
    inputs = np.random.default_rng(6).integers(-128, 128, (20, x.num_elements), dtype=np.int8)
    actual = run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)
    expected = tflm_outputs(chain_tflite.read_bytes(), inputs, x.shape)
    assert len(np.unique(expected)) > 10, "degenerate case: outputs nearly constant"
    assert np.array_equal(actual, expected)


def test_the_checker_refuses_a_chain_output_over_its_rings(chain_tflite):
    graph = read_tflite(chain_tflite)
    plan = compile_graph(graph, board=get_board("nrf52840")).plan
    assert check_plan(plan) == []
    rings = plan.scratch_buffer[min(plan.scratch_buffer)]  # the chain's rings: its first op's scratch (the FC's comes later)
    output = next(b for b in plan.buffers if b.storage == "arena" and b.tensors and b.first_op == rings.first_op)
    output.offset = rings.offset
    assert any("share bytes while both live" in p for p in check_plan(plan))


def test_a_chain_input_its_add_reads_is_never_written_over(tmp_path):
    """Fuzz seed 22 graph 48764: a conv and an ADD chained, both reading the chain's input. The ADD's
    kernel may run in place over that input one op at a time, but in the chain the conv writes its
    row into the ADD's output row before the ADD reads the input's: the planner once shared the two
    tensors' bytes and the checker refused the plan. Chain ops now never run in place."""
    case = Path(__file__).parent / "data" / "fuzz" / "depthwise_conv_2d_conv_2d_add_ws_conv_b2e6224819.tflite"
    graph = read_tflite(case)
    compiled = compile_graph(graph, options=CompileOptions(row_chains="always"))
    assert sum("in the chain of op" in s.summary for s in compiled.steps) == 2
    assert check_plan(compiled.plan) == [] and not set(compiled.plan.in_place_ops) & {1, 2}
    write_sources(render_model_sources(compiled, case.name, []), tmp_path / "src")
    runner = build_host_runner(tmp_path / "src", tmp_path / "host_runner")
    x = graph.tensors[graph.inputs[0]]
    inputs = np.random.default_rng(7).integers(-128, 128, (64, x.num_elements), dtype=np.int8)
    actual = run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)
    assert np.array_equal(actual, tflm_outputs(case.read_bytes(), inputs, x.shape))


@pytest.mark.e2e
@pytest.mark.parametrize("board_name", ["nrf52840", "cortex-m3"])
def test_chains_run_bit_exact_in_qemu(board_name, chain_tflite, tmp_path):
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    export = export_model(chain_tflite, board_name=board_name, out_root=tmp_path, name="chains")
    assert any("in the chain of op" in s.summary for s in export.compiled.steps)
    build_firmware(export.export_dir)
    result = run_firmware(export.export_dir, timeout_s=120)
    assert result.passed, result.log
    assert result.mismatches == 0 and result.vectors > 0


def test_random_residual_graphs_are_bit_exact_with_tflm():
    from tinyasc.compile.fuzz.draw_residual import draw_residual_batch
    from tinyasc.compile.fuzz.run import FUZZ_BOARDS, FuzzStats, check_batch

    graphs = draw_residual_batch(404, 0, 30, FUZZ_BOARDS)
    stats = FuzzStats()
    findings = check_batch(graphs, np.random.default_rng(404), stats)
    assert findings == [], findings[0]
    assert stats.compared >= 25
