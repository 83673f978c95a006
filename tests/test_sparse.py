"""Sparse weights (tinyasc/compile/sparse.py, firmware_templates/kernels/tas_*sparse*): pruned CONV_2D
and FULLY_CONNECTED layers store only their non-zero weights and skip the zeros, bit-exact with TFLM.

The models are real Keras models whose weights we zero by magnitude (per layer, or whole output
channels) before the real TFLite converter quantizes them; the generated C runs on the host with
ASan + UBSan and, for one model, in QEMU on the Cortex-M4 twin."""

import numpy as np
import pytest

from tinyasc.compile.codegen import compile_graph, render_model_sources, write_sources
from tinyasc.compile.host import build_host_runner, run_host
from tinyasc.compile.ir import OpKind
from tinyasc.compile.options import CompileOptions
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.sparse import MAX_STEP, decode_sparse, encode_sparse, entries_needed
from tinyasc.compile.tflite_reader import read_tflite
from tinyasc.errors import TinyascError
from tinyasc.artifacts.boards import get_board

# ---- the format ----


def test_encoding_round_trips_random_patterns_long_gaps_and_empty_channels():
    rng = np.random.default_rng(0)
    weights = rng.integers(-127, 128, (6, 700)).astype(np.int8)
    weights[rng.random(weights.shape) < 0.8] = 0
    weights[1] = 0  # an all-zero channel
    weights[2] = 0
    weights[2, [0, 300, 699]] = [5, -7, 9]  # gaps of 300 and 399 bytes: zero-weight entries carry them
    weights[3] = 0
    weights[3, 699] = -128  # a lone weight at the far end
    sparse = encode_sparse(weights)
    assert sparse.counts.dtype == np.uint16 and sparse.steps.dtype == np.uint8 and sparse.values.dtype == np.int8
    assert np.array_equal(decode_sparse(sparse, 700), weights)
    assert sparse.counts[1] == 0
    assert sparse.counts[2] == 3 + 1 + 1  # 300 = 255 + 45 and 399 = 255 + 144
    assert sparse.counts[3] == 699 // MAX_STEP + 1
    assert entries_needed(weights) == len(sparse.values) == int(sparse.counts.sum())


def test_dense_and_empty_layers_encode_too():
    dense = np.arange(1, 25, dtype=np.int8).reshape(2, 3, 1, 4)
    sparse = encode_sparse(dense)
    assert sparse.counts.tolist() == [12, 12] and sparse.steps.tolist() == [0] + [1] * 11 + [0] + [1] * 11
    assert np.array_equal(decode_sparse(sparse, 12), dense.reshape(2, 12))
    empty = encode_sparse(np.zeros((3, 5), dtype=np.int8))
    assert empty.counts.tolist() == [0, 0, 0] and empty.values.size == 0


# ---- models: pruned by magnitude in Keras, converted by the real converter ----


def _prune(model, sparsity, seed, zero_channels=()):
    """Zero the smallest |w| of every kernel (per layer), and the listed output channels."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        kernel = rng.normal(0, 0.4, weights[0].shape)
        if sparsity >= 1:
            kernel[...] = 0
        elif sparsity > 0:
            kernel[np.abs(kernel) <= np.quantile(np.abs(kernel), sparsity)] = 0
        for channel in zero_channels:
            kernel[..., channel] = 0
        weights[0] = kernel
        if len(weights) > 1:
            weights[1] = rng.normal(0, 0.2, weights[1].shape)
        layer.set_weights(weights)
    return model


def _conv_model(input_shape, filters, kernel, strides=(1, 1), activation=None):
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    x = keras.layers.Input(input_shape)
    return keras.Model(x, keras.layers.Conv2D(filters, kernel, strides=strides, activation=activation)(x))


def _conv_pool_model(input_shape, filters, kernel, pool):
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    x = keras.layers.Input(input_shape)
    y = keras.layers.Conv2D(filters, kernel, activation="relu")(x)
    return keras.Model(x, keras.layers.MaxPool2D(pool)(y))


def _dense_model(inputs, units, activation=None):
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    x = keras.layers.Input((inputs,))
    return keras.Model(x, keras.layers.Dense(units, activation=activation)(x))


# name: (builder, sparsity, zero output channels, the op that must run sparse)
CASES = {
    "conv_1d_k3_depth32_like_the_anchor_70pc": (lambda: _conv_model((30, 1, 32), 64, (3, 1), activation="relu"), 0.7, (), OpKind.CONV_2D),
    "conv_1d_k3_depth32_like_the_anchor_90pc": (lambda: _conv_model((30, 1, 32), 64, (3, 1), activation="relu"), 0.9, (), OpKind.CONV_2D),
    "conv_1d_k32_stride4_50pc_zero_channels": (lambda: _conv_model((150, 1, 1), 6, (32, 1), (4, 1)), 0.5, (0, 4), OpKind.CONV_2D),
    "conv_1x1_on_a_2d_map_90pc": (lambda: _conv_model((5, 7, 8), 9, (1, 1), activation="relu6"), 0.9, (3,), OpKind.CONV_2D),
    "conv_fused_with_its_pool_75pc": (lambda: _conv_pool_model((70, 1, 8), 16, (3, 1), (4, 1)), 0.75, (), OpKind.CONV_2D),
    "conv_dense_weights_0pc": (lambda: _conv_model((23, 1, 3), 5, (4, 1)), 0.0, (), OpKind.CONV_2D),
    "conv_all_weights_zero_100pc": (lambda: _conv_model((20, 1, 2), 4, (3, 1)), 1.0, (), OpKind.CONV_2D),
    "dense_600_inputs_long_gaps_95pc": (lambda: _dense_model(600, 8), 0.95, (2,), OpKind.FULLY_CONNECTED),
    "dense_64_to_10_relu_60pc": (lambda: _dense_model(64, 10, activation="relu"), 0.6, (), OpKind.FULLY_CONNECTED),
    "dense_256_to_64_80pc": (lambda: _dense_model(256, 64), 0.8, (), OpKind.FULLY_CONNECTED),
}


@pytest.fixture(scope="module")
def sparse_tflites(tmp_path_factory):
    from tinyasc.convert import quantize_int8

    folder = tmp_path_factory.mktemp("sparse_models")
    paths = {}
    for seed, (name, (build, sparsity, zero_channels, _)) in enumerate(CASES.items()):
        model = _prune(build(), sparsity, seed, zero_channels)
        shape = tuple(model.input_shape[1:])
        calibration = np.random.default_rng(seed).normal(0.2, 1, (32,) + shape).astype(np.float32)
        paths[name] = quantize_int8(model, calibration, folder / f"{name}.tflite")
    return paths


def _host_outputs(path, inputs, folder, board=None, sparse="always"):
    graph = read_tflite(path)
    compiled = compile_graph(graph, board=board, options=CompileOptions(sparse=sparse))
    write_sources(render_model_sources(compiled, path.name, []), folder / "src")
    runner = build_host_runner(folder / "src", folder / "host_runner")
    return compiled, run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)


@pytest.mark.parametrize("name", list(CASES))
def test_sparse_kernels_are_bit_exact_with_tflm_on_the_host(name, sparse_tflites, tmp_path):
    path = sparse_tflites[name]
    _, sparsity, zero_channels, kind = CASES[name]
    graph = read_tflite(path)
    x = graph.tensors[graph.inputs[0]]
    inputs = np.random.default_rng(7).integers(-128, 128, (24, x.num_elements), dtype=np.int8)
    compiled, actual = _host_outputs(path, inputs, tmp_path)
    step = next(s for s in compiled.steps if s.kind == kind.value)
    assert step.kernel.endswith("_sparse_s8") and step.sparsity["weight_format"] == "sparse"
    weights = next(graph.tensors[i] for i in graph.ops[step.index].inputs if graph.tensors[i].dtype == "int8"
                   and graph.tensors[i].is_constant)
    assert step.sparsity["nonzero_weights"] == int(np.count_nonzero(weights.data))
    if sparsity == 1.0:
        assert step.sparsity["nonzero_weights"] == 0
    elif sparsity == 0.0:
        assert step.sparsity["sparsity"] < 0.1
    else:  # rounding to int8 can only add zeros; whole zeroed channels add theirs
        channels = weights.shape[0]
        expected = 1 - (1 - sparsity) * (1 - len(zero_channels) / channels)
        assert expected - 0.02 <= step.sparsity["sparsity"] < expected + 0.1
    expected = tflm_outputs(path.read_bytes(), inputs, x.shape)
    if 0 < sparsity < 1:
        assert len(np.unique(expected)) > 2, "degenerate case: outputs nearly constant"
    assert np.array_equal(actual, expected)


def test_a_sparse_conv_still_fuses_with_its_max_pool(sparse_tflites):
    """Fused, the conv output never sits in memory whole (compile/fusion.py): sparse must not cost RAM."""
    graph = read_tflite(sparse_tflites["conv_fused_with_its_pool_75pc"])
    conv = graph.tensors[graph.ops[0].outputs[0]]
    for mode in ("never", "always"):
        compiled = compile_graph(graph, board=get_board("nrf52840"), options=CompileOptions(sparse=mode))
        assert "fused with op 1" in compiled.steps[0].summary
        assert compiled.plan.arena_size < conv.num_elements
    assert compiled.steps[0].kernel == "tas_conv2d_sparse_s8"


def test_sparse_conv_beside_dense_kernels_in_one_model_on_the_m4(sparse_tflites, tmp_path):
    """auto on the M4: the 90 %-sparse conv runs sparse; at 70 % zeros im2col's SMLAD pairs (~1.3
    insns/MAC) are estimated cheaper than one sparse entry per non-zero weight, so it stays dense, as
    does the dense conv (on the DSP kernel the cost model ranks cheapest)."""
    sparse_path, dense_path = sparse_tflites["conv_1d_k3_depth32_like_the_anchor_90pc"], sparse_tflites["conv_dense_weights_0pc"]
    board = get_board("nrf52840")
    sparse = compile_graph(read_tflite(sparse_path), board=board).steps[0]
    assert sparse.kernel == "tas_conv2d_sparse_s8" and sparse.sparsity["sparse_instructions_saved_estimate"] > 0
    half = compile_graph(read_tflite(sparse_tflites["conv_1d_k3_depth32_like_the_anchor_70pc"]), board=board).steps[0]
    assert half.kernel == "tas_conv2d_im2col_s8_dsp" and half.sparsity["weight_format"] == "dense"
    dense = compile_graph(read_tflite(dense_path), board=board).steps[0]
    assert dense.kernel.endswith("_dsp") and dense.sparsity["weight_format"] == "dense"
    never = compile_graph(read_tflite(sparse_path), board=board, options=CompileOptions(sparse="never")).steps[0]
    assert never.kernel == "tas_conv2d_im2col_s8_dsp"


# ---- the cost model and the user's choice ----


def test_auto_takes_sparse_only_where_it_saves_instructions_and_bytes(sparse_tflites):
    board = get_board("nrf52840")
    for name in ("conv_1d_k3_depth32_like_the_anchor_70pc", "conv_dense_weights_0pc", "dense_64_to_10_relu_60pc",
                 "dense_256_to_64_80pc"):
        step = compile_graph(read_tflite(sparse_tflites[name]), board=board).steps[0]
        report = step.sparsity
        if report["weight_format"] == "sparse":
            assert report["sparse_bytes_saved"] >= 0 and report["sparse_instructions_saved_estimate"] > 0
        else:
            assert report["sparse_bytes_saved"] == 0
    dense = compile_graph(read_tflite(sparse_tflites["conv_dense_weights_0pc"]), board=board).steps[0]
    assert dense.sparsity["weight_format"] == "dense"
    # 80 % zeros: on the M4 the SMLAD kernel (~1.4 insns/MAC) beats 8 per non-zero weight; 95 % pays off.
    pruned = compile_graph(read_tflite(sparse_tflites["dense_256_to_64_80pc"]), board=board).steps[0]
    assert pruned.sparsity["weight_format"] == "dense" and pruned.kernel == "tas_fully_connected_s8_dsp"
    on_m3 = compile_graph(read_tflite(sparse_tflites["dense_256_to_64_80pc"]), board=get_board("cortex-m3")).steps[0]
    assert on_m3.sparsity["weight_format"] == "sparse" and on_m3.kernel == "tas_fully_connected_sparse_s8"
    sparser = compile_graph(read_tflite(sparse_tflites["dense_600_inputs_long_gaps_95pc"]), board=board).steps[0]
    assert sparser.sparsity["weight_format"] == "sparse" and sparser.kernel == "tas_fully_connected_sparse_s8"
    # 640 weights: the sparse kernel's inlined code (~0.9 KB) would outweigh the 60 % of zeros.
    small = compile_graph(read_tflite(sparse_tflites["dense_64_to_10_relu_60pc"]), board=board).steps[0]
    assert small.sparsity["weight_format"] == "dense" and small.sparsity["nonzero_weights"] < 0.5 * 640


def test_without_smlad_the_blocked_dense_kernel_still_wins_at_half_zeros(sparse_tflites):
    """On a Cortex-M3 the dense rows kernel (tas_mat_mult_s8.h, ~2.4 instructions per MAC) keeps a
    layer with half its weights zero (sparse: 3.5 per entry, ~1.75 per MAC, not 10 % better once the
    outputs are counted); 70 % zeros pays off. Fully dense layers stay dense."""
    m3 = get_board("cortex-m3")
    half = compile_graph(read_tflite(sparse_tflites["conv_1d_k32_stride4_50pc_zero_channels"]), board=m3).steps[0]
    assert half.kernel == "tas_conv2d_rows_s8" and half.sparsity["weight_format"] == "dense"
    most = compile_graph(read_tflite(sparse_tflites["conv_1d_k3_depth32_like_the_anchor_70pc"]), board=m3).steps[0]
    assert most.kernel == "tas_conv2d_sparse_s8" and most.sparsity["sparse_instructions_saved_estimate"] > 0
    dense = compile_graph(read_tflite(sparse_tflites["conv_dense_weights_0pc"]), board=m3).steps[0]
    assert dense.kernel == "tas_conv2d_rows_s8" and dense.sparsity["weight_format"] == "dense"


def test_sparse_weights_take_fewer_bytes_than_the_dense_layout(sparse_tflites):
    path = sparse_tflites["conv_1d_k32_stride4_50pc_zero_channels"]
    board = get_board("nrf52840")
    dense = compile_graph(read_tflite(path), board=board, options=CompileOptions(sparse="never"))
    sparse = compile_graph(read_tflite(path), board=board, options=CompileOptions(sparse="always"))
    saved = sparse.steps[0].sparsity["sparse_bytes_saved"]
    # The report counts filter bytes only; the dense kernel chosen by cost (here the first-layer
    # kernel) may store larger per-channel tables too, never smaller ones.
    assert saved > 0 and dense.weight_bytes - sparse.weight_bytes >= saved
    assert dense.steps[0].kernel.endswith("_dsp") and sparse.steps[0].kernel == "tas_conv2d_sparse_s8"


def test_an_unknown_sparse_mode_is_one_clear_error():
    with pytest.raises(TinyascError, match="unknown sparse mode 'sometimes'; use one of: auto, never, always"):
        CompileOptions(sparse="sometimes")


# ---- the real instructions: QEMU on the Cortex-M4 twin ----


@pytest.mark.e2e
def test_a_sparse_model_runs_bit_exact_in_qemu_with_fewer_instructions(sparse_tflites, tmp_path):
    from tinyasc.compile.export import export_model
    from tinyasc.emulate.qemu import run_firmware
    from tinyasc.firmware.build import build_firmware

    path = sparse_tflites["conv_1d_k3_depth32_like_the_anchor_90pc"]
    instructions, weight_bytes = {}, {}
    for mode in ("never", "always"):
        result = export_model(path, board_name="nrf52840", out_root=tmp_path, name=mode,
                              options=CompileOptions(sparse=mode))
        build_firmware(result.export_dir)
        run = run_firmware(result.export_dir)
        assert run.passed, run.failure  # the firmware checks its outputs against TFLM's, bit for bit
        instructions[mode] = run.instructions_per_inference
        weight_bytes[mode] = result.manifest["export"]["weight_bytes"]
        layer = result.manifest["export"]["layers"][0]
        assert layer["weight_format"] == ("sparse" if mode == "always" else "dense")
    assert result.manifest["export"]["sparse_layers"] == 1
    from tinyasc.report.html import render_report

    html = render_report(result.export_dir)  # the report's layer table names the format and the savings
    assert "sparse, " in html and "instructions saved (estimate)" in html
    assert instructions["always"] < 0.8 * instructions["never"]
    assert weight_bytes["always"] < weight_bytes["never"]


def test_export_command_takes_the_sparse_mode_and_lists_the_sparse_layers(sparse_tflites, tmp_path, capsys):
    import json

    from tinyasc.cli import main

    path = sparse_tflites["conv_1d_k32_stride4_50pc_zero_channels"]
    argv = ["export", "--tflite", str(path), "--board", "nrf52840", "--out", str(tmp_path), "--name", "m"]
    assert main(argv + ["--sparse", "always"]) == 0
    assert "op 0 CONV_2D: sparse weights" in capsys.readouterr().out
    layer = json.loads((tmp_path / "m" / "manifest.json").read_text())["export"]["layers"][0]
    assert layer["weight_format"] == "sparse" and layer["kernel"] == "tas_conv2d_sparse_s8"
    assert main(argv + ["--sparse", "never"]) == 0
    assert "sparse weights" not in capsys.readouterr().out
    with pytest.raises(SystemExit):  # argparse refuses other modes with a usage line
        main(argv + ["--sparse", "sometimes"])
