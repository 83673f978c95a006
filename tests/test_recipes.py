"""Training recipes: triangular2 schedule, weight decay, tf.distribute strategies, evaluation per
recording, and a resume after a crash that ends on exactly the uninterrupted run's weights."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tinyasc.errors import TinyascError
from tinyasc.train.evaluate import crop_starts, recording_logits, recording_metrics
from tinyasc.train.schedules import triangular2_rate, triangular2_schedule

MIN_RATE, MAX_RATE, HALF = 1e-6, 1e-3, 10


# ---------------------------------------------------------------- triangular2


@pytest.mark.parametrize(
    "step, expected",
    [
        (0, MIN_RATE),  # a cycle starts in the valley
        (5, MIN_RATE + (MAX_RATE - MIN_RATE) / 2),  # half way up
        (10, MAX_RATE),  # the first peak
        (20, MIN_RATE),  # end of cycle 1
        (30, MIN_RATE + (MAX_RATE - MIN_RATE) / 2),  # cycle 2 peaks at half the height
        (50, MIN_RATE + (MAX_RATE - MIN_RATE) / 4),  # cycle 3: a quarter
        (45, MIN_RATE + (MAX_RATE - MIN_RATE) / 8),  # half way up cycle 3
    ],
)
def test_triangular2_rate_at_landmark_steps(step, expected):
    assert triangular2_rate(step, MIN_RATE, MAX_RATE, HALF) == pytest.approx(expected, rel=1e-9)


def test_keras_triangular2_schedule_matches_the_formula():
    schedule = triangular2_schedule(MIN_RATE, MAX_RATE, HALF)
    for step in (0, 3, 10, 17, 20, 30, 44, 50, 61):
        assert float(schedule(step)) == pytest.approx(triangular2_rate(step, MIN_RATE, MAX_RATE, HALF), rel=1e-5)
    assert schedule.get_config() == {"min_rate": MIN_RATE, "max_rate": MAX_RATE, "half_cycle_steps": HALF}


def test_triangular2_refuses_impossible_settings():
    with pytest.raises(TinyascError, match="min_rate <= max_rate"):
        triangular2_schedule(1e-2, 1e-3, 10)
    with pytest.raises(TinyascError, match="half_cycle_steps >= 1"):
        triangular2_schedule(1e-6, 1e-3, 0)


def test_config_half_cycle_in_epochs_becomes_optimizer_steps():
    from tinyasc.config import config_from_dict
    from tinyasc.train.run import learning_rate_for

    config = config_from_dict({
        "model": {"name": "idlab_resnet_se"},
        "training": {"epochs": 9, "batch_size": 10, "learning_rate": {"schedule": "triangular2", "half_cycle_epochs": 2}},
    })
    schedule = learning_rate_for(config, train_clips=95)  # 10 steps per epoch
    assert schedule.half_cycle_steps == 20


# ---------------------------------------------------------------- weight decay, optimizers, strategies


def test_adam_weight_decay_is_an_l2_penalty_on_kernels_only():
    from tinyasc.models import build_model
    from tinyasc.train.loop import _make_optimizer

    model = build_model("anchor_cnn", num_classes=3, input_samples=2000)
    _make_optimizer("adam", 1e-3, 1e-4, model)
    _make_optimizer("adam", 1e-3, 1e-4, model)  # a second call (resume) must not add it twice
    kernels = [w.numpy() for w in model.trainable_weights if "kernel" in w.name]
    expected = 0.5 * 1e-4 * sum(float(np.sum(k.astype(np.float64) ** 2)) for k in kernels)
    assert len(model.losses) == 1
    assert float(model.losses[0]) == pytest.approx(expected, rel=1e-5)


def test_unknown_optimizer_or_strategy_says_what_is_known():
    from tinyasc.train.loop import _make_optimizer, make_strategy

    with pytest.raises(TinyascError, match="expected adam or adamw"):
        _make_optimizer("sgd", 1e-3, 0.0, None)
    with pytest.raises(TinyascError, match="expected one of none, mirrored, multi_worker_mirrored"):
        make_strategy("tpu")


STRATEGY_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from tinyasc.tf_env import import_tf
    tf, keras = import_tf()
    cpu = tf.config.list_physical_devices("CPU")[0]
    # Before anything initialises TF's devices: one physical CPU seen as two replicas.
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tinyasc.data import AudioDataset
    from tinyasc.models import build_model
    from tinyasc.train import make_strategy, seed_everything, train_model

    strategy = make_strategy(sys.argv[1])
    rng = np.random.default_rng(0)
    y = np.tile(np.arange(2), 8)
    x = (rng.normal(size=(16, 3000)) * (1 + y[:, None])).astype(np.float32)  # class = loudness
    split = np.array(["train"] * 12 + ["val"] * 4)
    data = AudioDataset(x=x, y=y, labels=["quiet", "loud"], split=split, paths=[""] * 16, sample_rate=16000)
    seed_everything(0)
    with strategy.scope():
        model = build_model("pajusco_a", num_classes=2, input_samples=3000, channels=1)
    result = train_model(model, data, sys.argv[2], epochs=2, batch_size=8, progress=False, strategy=strategy,
                         weight_decay=1e-4, input_fn=lambda w: w.reshape(len(w), -1, 1, 1))
    weights_finite = all(np.isfinite(w).all() for w in result.model.get_weights())
    print("REPLICAS", strategy.num_replicas_in_sync, "EPOCHS", len(result.history["loss"]), "FINITE", weights_finite)
""")


@pytest.mark.parametrize("strategy, replicas", [("mirrored", 2), ("multi_worker_mirrored", 1)])
def test_distribution_strategies_train_on_two_logical_cpus(strategy, replicas, tmp_path):
    """Mirrored splits each batch over the two logical CPUs; multi-worker without $TF_CONFIG is one
    worker (it uses one CPU device per worker)."""
    result = subprocess.run(
        [sys.executable, "-c", STRATEGY_SCRIPT, strategy, str(tmp_path)], capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"REPLICAS {replicas} EPOCHS 2 FINITE True" in result.stdout


# ---------------------------------------------------------------- evaluation per recording


def test_crops_cover_the_whole_recording():
    assert crop_starts(10, 4) == [0, 4, 6]
    assert crop_starts(8, 4) == [0, 4]
    assert crop_starts(10, 4, hop_samples=3) == [0, 3, 6]
    with pytest.raises(TinyascError, match="do not fit"):
        crop_starts(3, 4)


def test_recording_logits_are_the_mean_over_crops():
    waveforms = np.arange(20, dtype=np.float32).reshape(2, 10)

    def predict(crops):  # logits: [first sample, last sample] of each crop
        return np.stack([crops[:, 0], crops[:, -1]], axis=1)

    logits = recording_logits(predict, waveforms, crop_samples=4)  # crops at 0, 4, 6
    np.testing.assert_allclose(logits[0], [(0 + 4 + 6) / 3, (3 + 7 + 9) / 3])
    np.testing.assert_allclose(logits[1], [(10 + 14 + 16) / 3, (13 + 17 + 19) / 3])


def test_recording_metrics_by_hand():
    labels = np.array([0, 0, 1, 2])
    logits = np.array([[2.0, 0, 0], [0, 3.0, 0], [0, 1.0, 0], [0, 0, 0.5]])  # predicted 0, 1, 1, 2
    metrics = recording_metrics(logits, labels, num_classes=3)
    np.testing.assert_array_equal(metrics.confusion, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])
    assert metrics.accuracy == 0.75
    # F1 per class: 0 → 2/(2+1) ; 1 → 2/(2+1) ; 2 → 1
    assert metrics.macro_f1 == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert metrics.log_loss == pytest.approx(-np.mean(np.log(probabilities[np.arange(4), labels])))
    assert metrics.as_dict()["confusion"][0] == [1, 1, 0]


# ---------------------------------------------------------------- resume after a crash


class Crash(Exception):
    pass


def crash_in_epoch(epoch_to_crash: int):
    """A Keras callback that raises in the middle of the given (0-based) epoch, like a kill."""
    from tinyasc.tf_env import import_tf

    _, keras = import_tf()

    class CrashMidEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == epoch_to_crash and batch == 1:
                raise Crash(f"injected crash in epoch {epoch_to_crash + 1}")

    return CrashMidEpoch()


def test_resume_after_a_crash_ends_with_the_uninterrupted_weights(synthetic_dataset, tmp_path):
    """The IDLab recipe (triangular2 + weight decay) on Pajusco A: a run that crashes in epoch 2
    and is resumed ends bit for bit where an uninterrupted run with the same seed ends."""
    import dataclasses

    from tinyasc.models import build_model
    from tinyasc.train import seed_everything, train_model
    from tinyasc.train.loop import CHECKPOINT_DIR, STATE_FILE

    data = dataclasses.replace(synthetic_dataset, x=np.ascontiguousarray(synthetic_dataset.x[:, :3000]))
    keep = np.isin(data.split, ["train", "val"]) & (np.arange(len(data)) % 3 == 0)
    data = dataclasses.replace(data, x=data.x[keep], y=data.y[keep], split=data.split[keep],
                               paths=[p for p, k in zip(data.paths, keep) if k])

    def run(run_dir, resume=False, callbacks=()):
        seed_everything(7)
        model = build_model("pajusco_a", num_classes=10, input_samples=3000, channels=1)
        return train_model(
            model, data, run_dir, epochs=3, batch_size=8, seed=7, progress=False, resume=resume,
            learning_rate=triangular2_schedule(1e-5, 3e-3, 5), weight_decay=1e-4, callbacks=callbacks,
        )

    uninterrupted = run(tmp_path / "a")
    with pytest.raises(Crash):
        run(tmp_path / "b", callbacks=(crash_in_epoch(1),))
    assert '"epochs_done": 1' in (tmp_path / "b" / STATE_FILE).read_text()
    resumed = run(tmp_path / "b", resume=True)

    assert resumed.history == uninterrupted.history
    for a, b in zip(uninterrupted.model.get_weights(), resumed.model.get_weights()):
        assert np.array_equal(a, b)
    last_a = _checkpoint_tensors(tmp_path / "a" / CHECKPOINT_DIR)
    last_b = _checkpoint_tensors(tmp_path / "b" / CHECKPOINT_DIR)
    assert last_a.keys() == last_b.keys() and len(last_a) > 20
    for name in last_a:
        assert np.array_equal(last_a[name], last_b[name]), name


def _checkpoint_tensors(directory) -> dict:
    """Every variable of the latest checkpoint (weights, BN statistics, Adam moments, step)."""
    from tinyasc.tf_env import import_tf

    tf, _ = import_tf()
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(directory)))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map() if "_CHECKPOINTABLE" not in name}
