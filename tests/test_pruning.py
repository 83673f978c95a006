"""Pruning: TF-MOT unstructured pruning (target sparsity, resume, prune-preserving QAT), structured
L1 filter pruning (exact removal, smaller .tflite, iterative steps, ResNet refusals), float16 export
and the config sections. Tiny runs on the session's synthetic data and trained anchor."""

import json

import numpy as np
import pytest

from tinyasc.errors import TinyascError

PRUNED_LAYERS = ("conv1", "conv2", "conv3", "logits")


def tiny_tflite(model, dataset, path):
    from tinyasc.convert import quantize_int8

    return quantize_int8(model, dataset.subset("train").x[:20], path)


@pytest.fixture(scope="module")
def pruned_anchor(trained_anchor, synthetic_dataset, tmp_path_factory):
    """The trained anchor pruned to 50 % with the polynomial schedule over 3 fine-tuning epochs."""
    from tinyasc.train.prune import prune_and_fine_tune

    before = [w.copy() for w in trained_anchor.model.get_weights()]
    result = prune_and_fine_tune(trained_anchor.model, synthetic_dataset, tmp_path_factory.mktemp("prune"),
                                 target_sparsity=0.5, schedule="polynomial", epochs=3, learning_rate=1e-3,
                                 batch_size=16)
    return result, before


# ---------------------------------------------------------------- unstructured (TF-MOT)


def test_pruning_reaches_the_target_in_every_layer_and_stays_accurate(pruned_anchor, trained_anchor, synthetic_dataset,
                                                                     tmp_path):
    from tinyasc.compile.tflite_reader import read_tflite
    from tinyasc.report.summary import summarize
    from tinyasc.train import evaluate_float

    result, before = pruned_anchor
    assert set(PRUNED_LAYERS) <= set(result.layer_sparsity)
    for name in PRUNED_LAYERS:
        assert result.layer_sparsity[name] == pytest.approx(0.5, abs=0.01), name
    assert result.skipped == []
    assert [type(layer).__name__ for layer in result.model.layers].count("PruneLowMagnitude") == 0
    assert evaluate_float(result.model, synthetic_dataset.subset("test")) > 0.5  # chance is 0.1
    # The caller's model is not touched (the wrappers fine-tune a copy).
    for original, now in zip(before, trained_anchor.model.get_weights()):
        np.testing.assert_array_equal(original, now)
    # The zeros survive int8 conversion: that is what the sparse C kernels exploit.
    summary = summarize(read_tflite(tiny_tflite(result.model, synthetic_dataset, tmp_path / "pruned.tflite")))
    assert summary["nonzero_parameters"] < 0.56 * summary["parameters"]
    assert result.as_dict()["nonzero_parameters"] < 0.55 * result.as_dict()["parameters"]


def test_schedule_frequency_fits_short_runs():
    from tinyasc.train.prune import pruning_schedule

    schedule = pruning_schedule("polynomial", 0.75, steps_per_epoch=12, epochs=3)
    config = schedule.get_config()["config"]
    assert config["frequency"] == 3 and config["end_step"] == 21 and config["end_step"] < 36
    assert float(schedule(21)[1]) == pytest.approx(0.75)  # reached at an update step inside the run
    single = pruning_schedule("polynomial", 0.5, steps_per_epoch=1, epochs=1)
    assert type(single).__name__ == "ConstantSparsity"  # a one-step run prunes at its only step
    with pytest.raises(TinyascError, match="between 0 and 1"):
        pruning_schedule("constant", 1.0, 10, 2)
    with pytest.raises(TinyascError, match="polynomial, constant"):
        pruning_schedule("cubic", 0.5, 10, 2)


def test_custom_layers_are_skipped_with_a_note(synthetic_dataset, tmp_path):
    from tinyasc.models.wsnet import WSConv2D
    from tinyasc.tf_env import import_tf
    from tinyasc.train.prune import prune_and_fine_tune

    _, keras = import_tf()
    x = keras.Input((16000, 1, 1))
    y = WSConv2D(8, 64, compactness=8, strides=16, activation="relu", name="ws1")(x)
    y = keras.layers.GlobalAveragePooling2D()(y)
    model = keras.Model(x, keras.layers.Dense(10, name="logits")(y))
    result = prune_and_fine_tune(model, synthetic_dataset, tmp_path, target_sparsity=0.5, schedule="constant",
                                 epochs=1, batch_size=32)
    assert len(result.skipped) == 1 and result.skipped[0].startswith("ws1 (WSConv2D): TF-MOT cannot prune")
    assert result.layer_sparsity["logits"] == pytest.approx(0.5, abs=0.01)
    assert "ws1" not in result.layer_sparsity or result.layer_sparsity["ws1"] < 0.5


class Killed(Exception):
    pass


def test_a_killed_pruning_run_resumes_and_finishes_at_the_target(trained_anchor, synthetic_dataset, tmp_path):
    from tinyasc.tf_env import import_tf
    from tinyasc.train.prune import prune_and_fine_tune

    _, keras = import_tf()

    class KillDuringSecondEpoch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model.optimizer.iterations.numpy() > 16:  # 14 steps per epoch: inside epoch 2
                raise Killed

    run_dir = tmp_path / "prune"
    settings = {"target_sparsity": 0.6, "schedule": "polynomial", "epochs": 3, "learning_rate": 1e-3, "batch_size": 16}
    with pytest.raises(Killed):
        prune_and_fine_tune(trained_anchor.model, synthetic_dataset, run_dir, callbacks=(KillDuringSecondEpoch(),),
                            **settings)
    first_epoch = json.loads((run_dir / "state.json").read_text())["history"]
    assert len(first_epoch["loss"]) == 1
    resumed = prune_and_fine_tune(trained_anchor.model, synthetic_dataset, run_dir, resume=True, **settings)
    history = json.loads((run_dir / "state.json").read_text())["history"]
    assert len(history["loss"]) == 3 and history["loss"][0] == first_epoch["loss"][0]
    for name in PRUNED_LAYERS:
        assert resumed.layer_sparsity[name] == pytest.approx(0.6, abs=0.01), name


def test_prune_preserving_qat_keeps_the_zeros(pruned_anchor, synthetic_dataset):
    from tinyasc.train.prune import prune_preserving_scheme
    from tinyasc.train.qat import fine_tune, quantize_aware

    result, _ = pruned_anchor
    qat_model = quantize_aware(result.model, scheme=prune_preserving_scheme())
    fine_tune(qat_model, synthetic_dataset, epochs=1, learning_rate=1e-3, batch_size=16)
    kernels = [w.numpy() for w in qat_model.weights if w.name.endswith("kernel:0")]
    assert len(kernels) == len(PRUNED_LAYERS)
    for kernel in kernels:
        assert np.mean(kernel == 0) == pytest.approx(0.5, abs=0.01)


# ---------------------------------------------------------------- structured (L1 filters)


def test_removing_filters_equals_masking_them_and_shrinks_the_tflite(trained_anchor, synthetic_dataset, tmp_path):
    from tinyasc.tf_env import import_tf
    from tinyasc.train.structured import l1_filter_plan, mask_filters, remove_filters

    _, keras = import_tf()
    model = trained_anchor.model
    plan = l1_filter_plan(model, 0.2)
    assert {name: len(keep) for name, keep in plan.items()} == {"conv1": 13, "conv2": 26, "conv3": 52}
    kernel = model.get_layer("conv2").get_weights()[0]
    norms = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
    dropped = np.setdiff1d(np.arange(32), plan["conv2"])
    assert norms[dropped].max() <= norms[plan["conv2"]].min()  # the smallest L1 norms go

    smaller = remove_filters(model, plan)
    masked = keras.models.clone_model(model)
    masked.set_weights(model.get_weights())
    mask_filters(masked, plan)
    x = synthetic_dataset.subset("test").x[:16].reshape(16, -1, 1, 1)
    np.testing.assert_allclose(smaller.predict(x, verbose=0), masked.predict(x, verbose=0), rtol=1e-5, atol=1e-4)
    assert smaller.count_params() < 0.75 * model.count_params()

    small_bytes = tiny_tflite(smaller, synthetic_dataset, tmp_path / "small.tflite").stat().st_size
    full_bytes = tiny_tflite(model, synthetic_dataset, tmp_path / "full.tflite").stat().st_size
    assert small_bytes < full_bytes - 2000


def randomize_batch_norms(model, seed=0):
    """Non-trivial BN statistics, so that a dropped channel is not zero unless masked properly."""
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 2, gamma.shape), rng.normal(size=beta.shape),
                               rng.normal(size=mean.shape), rng.uniform(0.5, 2, var.shape)])


@pytest.mark.parametrize("name", ["pajusco_a", "pajusco_c"])
def test_structured_pruning_of_paper_models_is_exact(name):
    from tinyasc.models import build_model
    from tinyasc.tf_env import import_tf
    from tinyasc.train.structured import l1_filter_plan, mask_filters, prunable_convs, remove_filters

    _, keras = import_tf()
    model = build_model(name, num_classes=10, input_samples=4000, channels=1)
    randomize_batch_norms(model)
    convs, refused = prunable_convs(model)
    if name == "pajusco_a":
        assert convs == ["conv1", "conv2", "conv3", "conv4"] and refused == {}
    else:  # residual branches feed Adds: only the first conv of each block (and the stem) is pruned
        assert "conv1" in convs and all(c.endswith("_conv1") for c in convs if c != "conv1")
        assert "layer1_0_conv2" in refused and "Add" in refused["layer1_0_conv2"]
        assert "layer2_0_shortcut" in refused
    plan = l1_filter_plan(model, 0.2, convs)
    smaller = remove_filters(model, plan)
    masked = keras.models.clone_model(model)
    masked.set_weights(model.get_weights())
    mask_filters(masked, plan)
    x = np.random.default_rng(1).normal(size=(4, 4000, 1, 1)).astype(np.float32)
    expected = masked.predict(x, verbose=0)
    np.testing.assert_allclose(smaller.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert not np.allclose(model.predict(x, verbose=0), expected)  # masking changed something
    assert smaller.count_params() < model.count_params()


def test_iterative_structured_pruning_fine_tunes_and_resumes(trained_anchor, synthetic_dataset, tmp_path):
    from tinyasc.train.structured import structured_prune

    settings = {"step_fraction": 0.2, "fine_tune_epochs": 1, "learning_rate": 1e-5, "batch_size": 16}
    two = structured_prune(trained_anchor.model, synthetic_dataset, tmp_path, steps=2, **settings)
    assert [r["filters"] for r in two.steps] == [{"conv1": 13, "conv2": 26, "conv3": 52},
                                                  {"conv1": 11, "conv2": 21, "conv3": 42}]
    assert two.steps[0]["parameters"] > two.steps[1]["parameters"] == two.model.count_params()
    assert (tmp_path / "step_2" / "pruned.h5").is_file()
    # Asking for a third step with resume continues from step 2's saved model.
    three = structured_prune(trained_anchor.model, synthetic_dataset, tmp_path, steps=3, resume=True, **settings)
    assert three.steps[:2] == two.steps
    assert three.steps[2]["filters"] == {"conv1": 9, "conv2": 17, "conv3": 34}
    assert trained_anchor.model.get_layer("conv1").filters == 16  # the input model is left whole


def test_structured_pruning_refuses_clearly():
    from tinyasc.models import build_model
    from tinyasc.tf_env import import_tf
    from tinyasc.train.structured import l1_filter_plan, structured_prune

    _, keras = import_tf()
    x = keras.Input((64, 1, 1))
    y = keras.layers.Conv2D(4, (3, 1))(x)
    only_output_conv = keras.Model(x, y)
    with pytest.raises(TinyascError, match="no conv whose filters can be removed.*model's output"):
        structured_prune(only_output_conv, None, "unused")
    with pytest.raises(TinyascError, match="step_fraction"):
        l1_filter_plan(build_model("anchor_cnn"), 1.0)


# ---------------------------------------------------------------- float16 export


def test_float16_tflite_is_about_half_of_float32_and_close(trained_anchor, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from tinyasc.convert.float16 import tflite_sizes

    sizes = tflite_sizes(trained_anchor.model, tmp_path)
    assert 0.45 < sizes["float16"] / sizes["float32"] < 0.65
    assert sizes["float32"] > 4 * trained_anchor.model.count_params()
    interpreter = Interpreter(model_path=str(tmp_path / "model_float16.tflite"))
    interpreter.allocate_tensors()
    assert any(d["dtype"] == np.float16 for d in interpreter.get_tensor_details())
    x = np.random.default_rng(0).normal(scale=0.3, size=(1, 16000, 1, 1)).astype(np.float32)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    expected = trained_anchor.model.predict(x, verbose=0)
    np.testing.assert_allclose(got, expected, atol=0.02 * np.abs(expected).max() + 1e-3)


# ---------------------------------------------------------------- config and the training run


def base_config(**sections):
    return {"model": {"name": "anchor_cnn"}, "training": {"epochs": 1}, **sections}


def test_pruning_config_sections_are_strict():
    from tinyasc.config import ConfigError, config_from_dict

    config = config_from_dict(base_config(pruning={"target_sparsity": 0.25, "schedule": "constant"},
                                          structured_pruning={"steps": 2}))
    assert config.pruning.target_sparsity == 0.25 and config.pruning.epochs == 2
    assert config.structured_pruning.step_fraction == 0.2 and config.structured_pruning.learning_rate == 1e-5
    assert config_from_dict(base_config()).pruning is None
    for section, message in [
        ({"pruning": {"target_sparsity": 1.5}}, "pruning.target_sparsity must be between 0 and 1"),
        ({"pruning": {}}, "missing key 'pruning.target_sparsity'"),
        ({"pruning": {"target_sparsity": 0.5, "shedule": "constant"}}, "did you mean 'schedule'"),
        ({"pruning": {"target_sparsity": 0.5, "schedule": "cubic"}}, "one of polynomial, constant"),
        ({"structured_pruning": {"step_fraction": 0}}, "step_fraction must be between 0 and 1"),
        ({"structured_pruning": "yes"}, "structured_pruning must be a mapping"),
    ]:
        with pytest.raises(ConfigError, match=message):
            config_from_dict(base_config(**section))


@pytest.mark.e2e
def test_train_run_prunes_and_records_sizes(tmp_path):
    from tinyasc.config import config_from_dict
    from tinyasc.train.run import train_run

    config = config_from_dict(base_config(
        training={"epochs": 2, "batch_size": 16, "learning_rate": {"max": 3e-3}},
        structured_pruning={"steps": 1, "fine_tune_epochs": 1},
        pruning={"target_sparsity": 0.5, "schedule": "constant", "epochs": 1, "learning_rate": 1e-3},
    ))
    run = train_run(run_dir=tmp_path / "run", config=config, progress=False, work_dir=tmp_path, clips_per_class=12)
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    assert saved["structured_pruning"]["steps"][0]["filters"] == {"conv1": 13, "conv2": 26, "conv3": 52}
    assert saved["parameters"] == saved["structured_pruning"]["parameters"] < 9466
    assert all(s == pytest.approx(0.5, abs=0.01) for s in saved["pruning"]["layer_sparsity"].values())
    assert saved["nonzero_parameters"] < 0.6 * saved["parameters"]
    sizes = saved["tflite_sizes"]
    assert sizes["int8"] == run["tflite_bytes"] < sizes["float16"] < sizes["float32"]
    assert (tmp_path / "run" / "model_float16.tflite").stat().st_size == sizes["float16"]
