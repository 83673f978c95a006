"""Post-training int8 quantization of the anchor: op list, int8 I/O, size, accuracy under TFLM."""

import numpy as np
import pytest

from tinyasc.artifacts.tflm import dequantize, quantize_input
from tinyasc.errors import TinyascError

ANCHOR_OPS = {"CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED"}


def op_names(tflite_path) -> list[str]:
    """Builtin op names of the first subgraph, in execution order, read with TFLM's schema."""
    from tflite_micro.python.tflite_micro import runtime
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    model = runtime.convert_bytearray_to_object(tflite_path.read_bytes())
    codes = model.operatorCodes
    return [names[runtime.get_builtin_code_from_operator_code(codes[op.opcodeIndex])]
            for op in model.subgraphs[0].operators]


def test_anchor_converts_to_the_shortest_op_list(anchor_tflite):
    ops = op_names(anchor_tflite)
    assert set(ops) <= ANCHOR_OPS | {"RESHAPE"}, f"unexpected ops: {set(ops) - ANCHOR_OPS}"
    assert ops.count("RESHAPE") <= 1
    assert [op for op in ops if op != "RESHAPE"] == [
        "CONV_2D", "MAX_POOL_2D", "CONV_2D", "MAX_POOL_2D", "CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED",
    ]


def test_anchor_tflite_has_int8_batch_1_input_and_output(anchor_tflite):
    from tinyasc.artifacts.tflm import tflite_io_details

    io = tflite_io_details(anchor_tflite)
    assert io["input"].shape == (1, 16000, 1, 1)
    assert io["output"].shape == (1, 10)
    assert io["input"].dtype == np.int8 and io["output"].dtype == np.int8
    assert 0 < io["input"].scale < 0.02 and -128 <= io["input"].zero_point <= 127


def test_anchor_tflite_size_is_near_the_design_figure(anchor_tflite):
    size = anchor_tflite.stat().st_size
    print(f"anchor int8 .tflite: {size} B (DESIGN §6: 20,432 B)")
    assert 12_000 < size < 24_000
    assert not list(anchor_tflite.parent.glob("*.tmp")), "the atomic write left its temporary file"


def test_int8_accuracy_under_tflm_stays_close_to_float(anchor_tflite, trained_anchor, synthetic_dataset):
    from tinyasc.artifacts.tflm import evaluate_int8_tflm
    from tinyasc.train import evaluate_float

    test = synthetic_dataset.subset("test")
    float_accuracy = evaluate_float(trained_anchor.model, test)
    int8_accuracy = evaluate_int8_tflm(anchor_tflite, test)
    print(f"test accuracy: float {float_accuracy:.3f}, int8 TFLM {int8_accuracy:.3f}")
    assert int8_accuracy > 0.6
    assert int8_accuracy >= float_accuracy - 0.075  # 3 of 40 clips


def test_int8_logits_track_the_float_logits(anchor_tflite, trained_anchor, synthetic_dataset):
    from tinyasc.artifacts.tflm import predict_int8_tflm, tflite_io_details

    clips = synthetic_dataset.subset("val").x[:5]
    out = tflite_io_details(anchor_tflite)["output"]
    int8_logits = dequantize(predict_int8_tflm(anchor_tflite, clips), out.scale, out.zero_point)
    float_logits = trained_anchor.model.predict(clips.reshape(5, -1, 1, 1), verbose=0)
    assert np.corrcoef(int8_logits.ravel(), float_logits.ravel())[0, 1] > 0.95


def test_quantize_input_rounds_and_saturates():
    x = np.array([-1.0, -0.0126, 0.0, 0.0124, 0.0126, 1.0])
    q = quantize_input(x, scale=0.01, zero_point=-3)
    assert q.dtype == np.int8
    assert q.tolist() == [-103, -4, -3, -2, -2, 97]
    assert quantize_input(np.array([5.0, -5.0]), 0.01, 0).tolist() == [127, -128]
    np.testing.assert_allclose(dequantize(q, 0.01, -3), [-1.0, -0.01, 0.0, 0.01, 0.01, 1.0], atol=1e-6)


def test_quantizing_without_representative_samples_is_an_error(trained_anchor, tmp_path):
    from tinyasc.convert import quantize_int8

    with pytest.raises(TinyascError, match="representative"):
        quantize_int8(trained_anchor.model, np.zeros((0, 16000), np.float32), tmp_path / "m.tflite")
    with pytest.raises(TinyascError, match=r"expected \(16000, 1, 1\)"):
        quantize_int8(trained_anchor.model, np.zeros((3, 800), np.float32), tmp_path / "m.tflite")


def test_tflm_runs_inputs_far_larger_than_the_model_file(tmp_path):
    """10 s of 18-kHz binaural audio through a 2-KB model: TFLM's default arena (10x the file)
    cannot hold the input, ours is bounded from the activation tensors."""
    from tinyasc.artifacts.tflm import activation_bytes, tflm_arena_bound
    from tinyasc.artifacts.tflm import predict_int8_tflm
    from tinyasc.convert import quantize_int8
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    L = keras.layers
    x = L.Input((180_000, 1, 2))
    y = L.Conv2D(4, (64, 1), strides=(4, 1), activation="relu")(x)
    y = L.GlobalAveragePooling2D()(y)
    model = keras.Model(x, L.Dense(3)(y))
    clips = np.random.default_rng(0).normal(scale=0.1, size=(2, 180_000, 1, 2)).astype(np.float32)
    path = quantize_int8(model, clips, tmp_path / "long.tflite")
    model_bytes = path.read_bytes()
    assert activation_bytes(model_bytes) > 10 * len(model_bytes)
    assert tflm_arena_bound(model_bytes) >= 2 * activation_bytes(model_bytes)
    assert predict_int8_tflm(path, clips).shape == (2, 3)


def test_an_int8_model_tflm_cannot_run_is_a_clear_error(tmp_path):
    """Statistics pooling converts to an int8 SQRT, which TFLM has no kernel for."""
    from tinyasc.artifacts.tflm import predict_int8_tflm
    from tinyasc.convert import quantize_int8
    from tinyasc.models.resnet_se import idlab_resnet_se

    model = idlab_resnet_se(num_classes=3, input_shape=(12, 16, 1), widths=(4, 4), se_bottlenecks=(4, 4),
                            strides=(1, 2), pooling="statistics")
    x = np.random.default_rng(0).normal(size=(4, 12, 16, 1)).astype(np.float32)
    path = quantize_int8(model, x, tmp_path / "statistics.tflite")
    with pytest.raises(TinyascError, match="no int8 SQRT kernel.*pooling: mean"):
        predict_int8_tflm(path, x[:1])
