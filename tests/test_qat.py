"""8-bit QAT (tinyasc/train/qat.py): BN folding, custom QuantizeConfigs (squeeze-and-excitation,
mean and statistics pooling), fine-tuning the anchor, conversion to int8, bit-exactness of the
generated C against TFLM, the .h5 round trip, and the run.json figures of a QAT run."""

import numpy as np
import pytest

from tinyasc.compile.codegen import compile_graph, render_model_sources, write_sources
from tinyasc.compile.host import build_host_runner, run_host
from tinyasc.compile.reference import tflm_outputs
from tinyasc.compile.tflite_reader import read_tflite
from tinyasc.errors import TinyascError

QAT_EPOCHS = 2
QAT_LEARNING_RATE = 1e-4
# A small IDLab ResNet-SE: the six blocks with their SE gates and projections, 16 mel bands.
SMALL_SE = {"input_shape": (24, 16, 1), "widths": (8, 8, 8, 16, 16, 16), "se_bottlenecks": (2,) * 6, "num_classes": 4}


def host_and_tflm_outputs(tflite_path, inputs, tmp_path):
    """(generated C on the host with ASan + UBSan, TFLM's interpreter) outputs for int8 inputs."""
    graph = read_tflite(tflite_path)
    compiled = compile_graph(graph)
    write_sources(render_model_sources(compiled, tflite_path.name, []), tmp_path / "src")
    runner = build_host_runner(tmp_path / "src", tmp_path / "host_runner")
    host = run_host(runner, inputs, graph.tensors[graph.outputs[0]].num_elements)
    return host, tflm_outputs(tflite_path.read_bytes(), inputs, graph.tensors[graph.inputs[0]].shape)


def random_int8(tflite_path, count, seed=0):
    graph = read_tflite(tflite_path)
    size = graph.tensors[graph.inputs[0]].num_elements
    return np.random.default_rng(seed).integers(-128, 128, (count, size), dtype=np.int8)


def copy_of(model):
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def with_random_batch_norms(model, seed=0):
    """Non-trivial BN statistics, so that folding them is really tested."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in layer.get_weights()])
    return model


@pytest.fixture(scope="module")
def qat_anchor(trained_anchor, synthetic_dataset, tmp_path_factory):
    """The session's trained anchor, QAT-fine-tuned for two epochs and converted to int8."""
    from tinyasc.convert import quantize_int8
    from tinyasc.train.loop import as_model_input
    from tinyasc.train.qat import fine_tune, quantize_aware

    train_x = as_model_input(synthetic_dataset.subset("train").x)
    qat_model = quantize_aware(copy_of(trained_anchor.model), representative=train_x[:64])
    fine_tune(qat_model, synthetic_dataset, QAT_EPOCHS, QAT_LEARNING_RATE, batch_size=16)
    out = tmp_path_factory.mktemp("qat_anchor") / "anchor_qat_int8.tflite"
    return qat_model, quantize_int8(qat_model, synthetic_dataset.subset("train").x, out)


@pytest.fixture(scope="module")
def qat_se_model():
    """A QAT small ResNet-SE (mean pooling, random weights and BN statistics) whose quantizer
    ranges were set by one epoch on random inputs."""
    from tinyasc.models import build_model
    from tinyasc.train import seed_everything
    from tinyasc.train.qat import quantize_aware

    seed_everything(0)
    model = with_random_batch_norms(build_model("idlab_resnet_se", pooling="mean", **SMALL_SE))
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (64,) + SMALL_SE["input_shape"]).astype(np.float32)
    qat_model = quantize_aware(model, representative=x)
    qat_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    qat_model.fit(x, rng.integers(0, 4, 64), epochs=1, batch_size=16, verbose=0)
    return qat_model, x


def test_qat_anchor_keeps_the_ptq_op_list_and_its_accuracy(qat_anchor, trained_anchor, synthetic_dataset):
    from tinyasc.train.evaluate import evaluate_recordings
    from tinyasc.train.loop import as_model_input
    from tinyasc.train.qat import evaluate_int8

    _, tflite = qat_anchor
    assert [op.kind.value for op in read_tflite(tflite).ops] == [
        "CONV_2D", "MAX_POOL_2D", "CONV_2D", "MAX_POOL_2D", "CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED",
    ]
    test = synthetic_dataset.subset("test")
    float_accuracy = evaluate_recordings(trained_anchor.model, test).accuracy
    qat_int8 = evaluate_int8(tflite, test, test.x.shape[1], as_model_input)
    assert float_accuracy > 0.5, "degenerate test: the float anchor did not learn"
    assert qat_int8["accuracy"] >= float_accuracy - 0.05


def test_qat_anchor_generated_c_is_bit_exact_with_tflm(qat_anchor, synthetic_dataset, tmp_path):
    from tinyasc.artifacts.tflm import quantize_input, tflite_io_details

    _, tflite = qat_anchor
    io = tflite_io_details(tflite)["input"]
    test_x = synthetic_dataset.subset("test").x[:20]
    inputs = np.concatenate([
        quantize_input(test_x, io.scale, io.zero_point).reshape(len(test_x), -1), random_int8(tflite, 20),
    ])
    host, tflm = host_and_tflm_outputs(tflite, inputs, tmp_path)
    assert len(np.unique(tflm, axis=0)) > 1, "degenerate test: every input gave the same output"
    assert np.array_equal(host, tflm)


def test_qat_se_model_folds_batch_norm_and_is_bit_exact_with_tflm(qat_se_model, tmp_path):
    from tinyasc.convert import quantize_int8

    qat_model, x = qat_se_model
    conv_wrappers = [layer for layer in qat_model.layers if type(getattr(layer, "layer", None)).__name__ == "Conv2D"]
    assert len(conv_wrappers) == 18 and not [layer for layer in qat_model.layers if "_bn" in layer.name]
    for wrapper in conv_wrappers:  # conv → BN → ReLU folded into one conv whose weights QAT quantizes
        assert any("kernel_min" in w.name for w in wrapper.weights), wrapper.name
    tflite = quantize_int8(qat_model, x, tmp_path / "se_qat.tflite")
    kinds = [op.kind.value for op in read_tflite(tflite).ops]
    convs = 1 + 2 * 6 + 5  # input conv, two per block, five projections
    assert kinds.count("CONV_2D") == convs
    assert kinds.count("MUL") == 6, "one MUL per SE gate and none left over from BatchNormalization"
    assert kinds.count("LOGISTIC") == 6 and kinds[-1] == "FULLY_CONNECTED"
    inputs = random_int8(tflite, 30, seed=2)
    host, tflm = host_and_tflm_outputs(tflite, inputs, tmp_path)
    assert len(np.unique(tflm, axis=0)) > 1
    assert np.array_equal(host, tflm)


def test_qat_model_round_trips_through_h5(qat_se_model, tmp_path):
    from tinyasc.train.qat import load_qat_model, save_qat_model

    qat_model, x = qat_se_model
    reloaded = load_qat_model(save_qat_model(qat_model, tmp_path / "se_qat.h5"))
    assert [layer.name for layer in reloaded.layers] == [layer.name for layer in qat_model.layers]
    assert np.array_equal(reloaded.predict(x, verbose=0), qat_model.predict(x, verbose=0))
    with pytest.raises(TinyascError, match=r"\.h5"):
        save_qat_model(qat_model, tmp_path / "se_qat.keras")


def test_fold_batch_norms_is_exact_in_float_and_removes_every_folded_bn():
    from tinyasc.models import build_model
    from tinyasc.train.qat import fold_batch_norms

    model = with_random_batch_norms(build_model("pajusco_a", num_classes=4, input_samples=4000, channels=2), seed=3)
    folded = fold_batch_norms(model)
    assert not [layer for layer in folded.layers if type(layer).__name__ == "BatchNormalization"]
    x = np.random.default_rng(4).normal(0, 0.3, (8, 4000, 1, 2)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    assert np.abs(expected).max() > 1e-3
    np.testing.assert_allclose(folded.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)


def test_statistics_pooling_trains_with_qat(qat_se_model):
    """The custom config makes statistics pooling trainable with QAT; its int8 SQRT has no TFLM
    kernel, which is why exports use pooling='mean' (see qat.py)."""
    from tinyasc.models import build_model
    from tinyasc.train.qat import quantize_aware

    _, x = qat_se_model
    qat_model = quantize_aware(build_model("idlab_resnet_se", pooling="statistics", **SMALL_SE))
    assert "quant_statistics_pooling" in [layer.name for layer in qat_model.layers]
    outputs = qat_model(x[:4], training=True).numpy()
    assert outputs.shape == (4, 4) and np.all(np.isfinite(outputs))


def test_a_layer_without_a_quantize_config_is_a_clear_error():
    from tinyasc.tf_env import import_tf
    from tinyasc.train.qat import quantize_aware

    _, keras = import_tf()
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Lambda(lambda t: t * 2, name="double")(inputs)))
    with pytest.raises(TinyascError, match=r"double \(Lambda\).*register_quantize_config"):
        quantize_aware(model)


def test_register_quantize_config_plugs_in_a_custom_layer(qat_se_model):
    """The hook the WSNet layers use: a layer class TF-MOT refuses becomes quantizable."""
    from tinyasc.tf_env import import_tf
    from tinyasc.train import qat

    _, keras = import_tf()

    class Halve(keras.layers.Layer):
        def call(self, x):
            return x * 0.5

    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(2)(Halve(name="halve")(inputs)))
    with pytest.raises(TinyascError):
        qat.quantize_aware(model)
    qat.register_quantize_config(Halve, qat._output_quantize_config_class())
    try:
        quantized = qat.quantize_aware(model)
        assert "quant_halve" in [layer.name for layer in quantized.layers]
    finally:
        qat.LAYER_QUANTIZE_CONFIGS.pop("Halve")
        qat._SCOPE_OBJECTS.pop("Halve")


def test_a_qat_run_records_float_ptq_and_qat_metrics(synthetic_csv, tmp_path):
    """train_run with quantization.mode: qat and calibration: the exported .tflite is the QAT one,
    run.json has the three sets of metrics and the calibration log losses."""
    import json

    from tinyasc.config import config_from_dict
    from tinyasc.train.run import RUN_FILE, TFLITE_FILE, train_run

    config = config_from_dict({
        "model": {"name": "anchor_cnn"},
        "training": {"epochs": 3, "batch_size": 16, "learning_rate": {"max": 3e-3}},
        "quantization": {"mode": "qat", "qat_epochs": 1},
        "calibration": {"kind": "multinomial"},
    })
    train_run(str(synthetic_csv), run_dir=tmp_path / "run", config=config, progress=False, work_dir=tmp_path)
    run = json.loads((tmp_path / "run" / RUN_FILE).read_text())
    assert run["quantization"] == "qat"
    for key in ("float_test_metrics", "ptq_test_metrics", "qat_test_metrics"):
        assert 0 <= run[key]["accuracy"] <= 1 and run[key]["log_loss"] > 0
    assert run["calibration"]["kind"] == "multinomial"
    assert run["calibration"]["val_log_loss_after"] <= run["calibration"]["val_log_loss_before"]
    assert (tmp_path / "run" / TFLITE_FILE).read_bytes() != (tmp_path / "run" / run["ptq_tflite"]).read_bytes()
    assert (tmp_path / "run" / run["qat_model"]).is_file()
