"""Bring your own model: any full-int8 `.tflite` goes through `tinyasc export` like a trained run,
a float model gets one line saying how to quantize it, and the manifest sets tinyasc's arena next to
TFLM's own minimal arena for the same file."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tinyasc.compile.codegen import compile_graph
from tinyasc.compile.reference import ARENA_GRANULE, tflm_minimal_arena, tflm_runs_with_arena
from tinyasc.compile.tflite_reader import read_tflite


def tinyasc(*args):
    return subprocess.run(
        [sys.executable, "-m", "tinyasc.cli", *map(str, args)], capture_output=True, text=True,
        env=dict(os.environ), timeout=900,
    )


def autoencoder():
    """A model tinyasc never trained: a dense autoencoder (anomaly detection shape), Dense only."""
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    keras.utils.set_random_seed(0)
    x = inputs = keras.Input((64,))
    for units in (32, 8, 32):
        x = keras.layers.Dense(units, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(64)(x))


@pytest.fixture(scope="module")
def autoencoder_tflite(tmp_path_factory):
    from tinyasc.convert import quantize_int8

    model = autoencoder()
    x = np.random.default_rng(0).normal(size=(32, 64)).astype(np.float32)
    return quantize_int8(model, x, tmp_path_factory.mktemp("byom") / "autoencoder.tflite")


# ---- TFLM's minimal arena ----


def test_tflm_minimal_arena_is_really_minimal(anchor_tflite):
    data = anchor_tflite.read_bytes()
    arena = tflm_minimal_arena(data)
    assert arena % ARENA_GRANULE == 0
    assert tflm_runs_with_arena(data, arena)
    assert not tflm_runs_with_arena(data, arena - ARENA_GRANULE)


def test_tinyasc_arena_is_below_tflms_minimal_arena_for_the_anchor(anchor_tflite):
    compiled = compile_graph(read_tflite(anchor_tflite))
    assert compiled.plan.arena_size < tflm_minimal_arena(anchor_tflite.read_bytes())


# ---- a model tinyasc did not train, from the command line ----


def test_export_and_verify_a_foreign_int8_model(autoencoder_tflite, tmp_path):
    out = tmp_path / "export"
    result = tinyasc("export", "--tflite", autoencoder_tflite, "--board", "nrf52840", "--out", out, "--name", "ae")
    assert result.returncode == 0, result.stderr
    # export itself compares the host build with TFLM: 4 test vectors and 1,000 random inputs by default
    assert "1004/1004 outputs bit-exact" in result.stdout, result.stdout
    figures = json.loads((out / "ae" / "manifest.json").read_text())["export"]
    assert figures["ops"] == ["FULLY_CONNECTED"] * 4
    assert figures["tflm_arena_bytes"] == tflm_minimal_arena(autoencoder_tflite.read_bytes())
    assert figures["arena_lower_bound_bytes"] <= figures["arena_bytes"] < figures["tflm_arena_bytes"]

    result = tinyasc("verify", out / "ae", "--random", "50")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "54/54 outputs bit-exact" in result.stdout


@pytest.mark.e2e
def test_foreign_model_builds_and_runs_bit_exact_in_qemu(autoencoder_tflite, tmp_path):
    out = tmp_path / "export"
    assert tinyasc("export", "--tflite", autoencoder_tflite, "--out", out, "--name", "ae").returncode == 0
    build = tinyasc("build", out / "ae")
    assert build.returncode == 0, build.stderr
    result = tinyasc("emulate", out / "ae")
    assert result.returncode == 0 and "PASS: self-test 4/4 vectors bit-exact" in result.stdout, result.stdout + result.stderr


def test_float_model_export_says_how_to_quantize(tmp_path):
    from tinyasc.tf_env import import_tf

    tf, _ = import_tf()
    path = tmp_path / "float.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(autoencoder()).convert())
    result = tinyasc("export", "--tflite", path, "--out", tmp_path / "export")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("tinyasc export: error:")]
    assert len(error) == 1
    assert "floating point" in error[0] and "quantize_int8" in error[0] and "representative dataset" in error[0]
    assert not (tmp_path / "export" / "float").exists()
