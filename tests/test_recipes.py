"""Training recipes: triangular2 schedule, weight decay, tf.distribute strategies, evaluation per
recording, and a resume after a crash that ends on exactly the uninterrupted run's weights."""

import re
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
    from tinyasc.data.augment import AugmentSettings
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
                         weight_decay=1e-4, input_fn=lambda w: w.reshape(len(w), -1, 1, 1),
                         augmentation=AugmentSettings(sample_rate=16000, noise_probability=0.5, mixup_alpha=0.2))
    weights_finite = all(np.isfinite(w).all() for w in result.model.get_weights())
    print("REPLICAS", strategy.num_replicas_in_sync, "EPOCHS", len(result.history["loss"]), "FINITE", weights_finite)
""")


@pytest.mark.parametrize("strategy, replicas", [("mirrored", 2), ("multi_worker_mirrored", 1)])
def test_distribution_strategies_train_on_two_logical_cpus(strategy, replicas, tmp_path):
    """Mirrored splits each batch over the two logical CPUs; multi-worker without $TF_CONFIG is one
    worker (it uses one CPU device per worker). The augmented tf.data pipeline feeds both."""
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


# ---------------------------------------------------------------- a real kill, then --resume

KILL_CONFIG = """
# The anchor with every augmentation on and Pajusco's plateau schedule: the state a resume must
# rebuild is the optimizer (checkpoint), the augmentation stream (seed, epoch) and the rate (history).
model: {name: anchor_cnn}
data: {sample_rate: 16000, duration_s: 1.0, channels: 1}
training:
  epochs: 3
  batch_size: 16
  learning_rate: {schedule: plateau, max: 3.0e-3, patience: 1, factor: 0.5}
  early_stopping_patience: 5
  seed: 3
augmentation:
  random_crop_s: 0.5
  speed_perturbation: true
  mixup_alpha: 0.2
  temporal_mask_probability: 0.5
  fir_filter_probability: 0.5
  noise_probability: 0.5
  cutmix_alpha: 1.0
"""


def _train_command(config, data, out, *extra):
    return [sys.executable, "-m", "tinyasc.cli", "train", "--config", str(config), "--data", str(data),
            "--out", str(out), *extra]


def test_sigkill_mid_run_then_resume_ends_with_the_uninterrupted_weights(synthetic_csv, tmp_path):
    """`tinyasc train` is SIGKILLed as soon as epoch 1 is committed; `--resume` then finishes the run,
    and every variable of its last checkpoint, its history and its best model equal an
    uninterrupted run's, bit for bit."""
    import json
    import os
    import signal
    import time

    from tinyasc.train.loop import CHECKPOINT_DIR, HISTORY_FILE, STATE_FILE

    config = tmp_path / "kill.yaml"
    config.write_text(KILL_CONFIG)
    # Half of the session's clips (absolute paths), to keep three trainings short.
    rows = synthetic_csv.read_text().splitlines()
    header, rows = rows[0].split(","), [line.split(",") for line in rows[1:]]
    path_column = header.index("path")
    for row in rows:
        row[path_column] = str(synthetic_csv.parent / row[path_column])
    subset = tmp_path / "half.csv"
    subset.write_text("\n".join([",".join(header)] + [",".join(row) for row in rows[::2]]) + "\n")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    killed = tmp_path / "killed"
    victim = subprocess.Popen(_train_command(config, subset, killed), env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    state_file = killed / STATE_FILE
    deadline = time.monotonic() + 240
    while not (state_file.is_file() and json.loads(state_file.read_text())["epochs_done"] >= 1):
        assert victim.poll() is None, f"training ended before its first checkpoint: {victim.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, "no checkpoint of epoch 1 after 240 s"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    victim.stderr.close()
    epochs_at_kill = json.loads(state_file.read_text())["epochs_done"]
    assert victim.returncode == -signal.SIGKILL and epochs_at_kill < 3, "the kill came after the last epoch"
    print(f"killed after epoch {epochs_at_kill} of 3")

    uninterrupted = tmp_path / "uninterrupted"
    for command in (_train_command(config, subset, killed, "--resume"),
                    _train_command(config, subset, uninterrupted)):
        finished = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr[-3000:]
    # Output to a pipe: one line per epoch as it ends (with an ETA), then float and int8 test figures.
    assert re.search(r"^epoch 3/3  [\d.]+ s  loss [\d.]+ .* ETA 0 s$", finished.stdout, re.MULTILINE), finished.stdout
    assert re.search(r"accuracy / log loss float [\d.]+ / [\d.]+, int8 PTQ \(TFLM interpreter\) [\d.]+ / [\d.]+",
                     finished.stdout), finished.stdout

    history = (uninterrupted / HISTORY_FILE).read_text()
    assert (killed / HISTORY_FILE).read_text() == history and len(history.splitlines()) == 4
    rates = [float(line.split(",")[-1]) for line in history.splitlines()[1:]]
    assert rates[0] == 3e-3, "the plateau schedule starts at learning_rate.max"
    last_a = _checkpoint_tensors(uninterrupted / CHECKPOINT_DIR)
    last_b = _checkpoint_tensors(killed / CHECKPOINT_DIR)
    assert last_a.keys() == last_b.keys() and len(last_a) > 10
    for name in last_a:
        assert np.array_equal(last_a[name], last_b[name]), name
    best_a, best_b = (json.loads((d / "run.json").read_text()) for d in (uninterrupted, killed))
    assert best_a["float_test_metrics"] == best_b["float_test_metrics"]
    assert (uninterrupted / "model_int8.tflite").read_bytes() == (killed / "model_int8.tflite").read_bytes()


# ---------------------------------------------------------------- config: augmentation, plateau, early stopping


def _config(**sections):
    from tinyasc.config import config_from_dict

    return config_from_dict({"model": {"name": "pajusco_a"}, "training": {"epochs": 2}, **sections})


def test_augmentation_section_becomes_augment_settings():
    from tinyasc.data.augment import AugmentSettings
    from tinyasc.train.run import augment_settings

    config = _config(data={"sample_rate": 18000, "duration_s": 10.0}, augmentation={
        "random_crop_s": 3, "speed_perturbation": True, "mixup_alpha": 0.2, "temporal_mask_probability": 0.99,
        "fir_filter_probability": 0.5, "noise_probability": 0.25, "noise_min_snr_db": 10, "cutmix_alpha": "1e0"})
    assert augment_settings(config) == AugmentSettings(
        sample_rate=18000, crop_samples=54000, speed=True, temporal_mask_probability=0.99, fir_probability=0.5,
        noise_probability=0.25, noise_snr_db=(10.0, 32.0), mixup_alpha=0.2, cutmix_alpha=1.0)
    assert augment_settings(_config()) is None, "no augmentation section: the plain training loop"


@pytest.mark.parametrize("section, message", [
    ({"augmentation": {"mixup": 0.2}}, "unknown key 'augmentation.mixup'; did you mean 'mixup_alpha'"),
    ({"augmentation": {"noise_probability": 1.5}}, "augmentation.noise_probability must be between 0 and 1"),
    ({"augmentation": {"cutmix_alpha": 0}}, "augmentation.cutmix_alpha must be > 0"),
    ({"augmentation": {"speed_perturbation": "yes"}}, "augmentation.speed_perturbation must be true or false"),
    ({"augmentation": {"random_crop_s": 3.0}}, r"random_crop_s \(3.0\) is longer than data.duration_s \(1.0\)"),
    ({"augmentation": {"noise_min_snr_db": 40}}, r"noise_min_snr_db \(40.0\) is above noise_max_snr_db"),
    ({"augmentation": {"fir_filter_probability": 1.0}, "data": {"sample_rate": 6000}},
     "fir_filter_probability needs data.sample_rate above 6800 Hz"),
    ({"training": {"epochs": 2, "learning_rate": {"schedule": "plateaux"}}},
     "must be one of constant, triangular2, plateau"),
    ({"training": {"epochs": 2, "learning_rate": {"schedule": "plateau", "factor": 2}}},
     "factor must be between 0 and 1"),
    ({"training": {"epochs": 2, "early_stopping_patience": 0}}, "early_stopping_patience must be >= 1"),
])
def test_bad_augmentation_or_schedule_settings_are_named(section, message):
    from tinyasc.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        _config(**section)


def test_pajusco_configs_hold_the_papers_schedule_and_augmentation():
    from pathlib import Path

    from tinyasc.config import load_config
    from tinyasc.train.run import learning_rate_for
    from tinyasc.train.schedules import PlateauSchedule

    configs = Path(__file__).resolve().parent.parent / "configs"
    for letter in "abcd":
        config = load_config(configs / f"pajusco-{letter}.yaml")
        schedule = learning_rate_for(config, 100)
        assert isinstance(schedule, PlateauSchedule)
        assert (schedule.initial_rate, schedule.factor, schedule.patience) == (1e-3, 0.5, 5)
        assert config.training.early_stopping_patience
        a = config.augmentation
        if letter in "ab":  # §5.2: A and B with masking, filtering and noise; C and D with CutMix only
            assert a.temporal_mask_probability == a.fir_filter_probability == a.noise_probability == 0.99
            assert (a.noise_min_snr_db, a.noise_max_snr_db, a.cutmix_alpha) == (6, 32, None)
        else:
            assert a.cutmix_alpha == 1.0 and a.temporal_mask_probability == a.noise_probability == 0
    idlab = load_config(configs / "idlab-resnet-se.yaml").augmentation
    assert (idlab.random_crop_s, idlab.speed_perturbation, idlab.mixup_alpha) == (3.0, True, 0.2)


# ---------------------------------------------------------------- plateau schedule and early stopping


def test_plateau_schedule_halves_after_patience_epochs_without_a_lower_loss():
    from tinyasc.train.schedules import PlateauSchedule

    schedule = PlateauSchedule(1e-3, factor=0.5, patience=2, min_rate=3e-4)
    losses = [1.0, 0.9, 0.95, 0.91, 0.8, 0.85, 0.85, 0.85, 0.85]
    rates = [schedule.rate_after(losses[:k]) for k in range(len(losses) + 1)]
    # stalls after 0.9 (two epochs: halve), 0.8 improves, then two stalls (halve), two more (floor)
    assert rates == pytest.approx([1e-3] * 4 + [5e-4] * 3 + [3e-4] * 3)
    with pytest.raises(TinyascError, match="0 < factor < 1"):
        PlateauSchedule(1e-3, factor=1.0)


def test_early_stopping_counts_epochs_since_the_best_validation_loss():
    from tinyasc.train.schedules import should_stop_early

    assert not should_stop_early([1.0, 0.9, 0.95], 2)
    assert should_stop_early([1.0, 0.9, 0.95, 0.9], 2), "an equal loss is no improvement"
    assert not should_stop_early([1.0, 0.9, 0.95, 0.8], 2)
    assert not should_stop_early([1.0] * 50, None)


def test_training_halves_the_rate_and_stops_early_on_a_flat_validation_loss(tmp_path):
    """All-zero inputs into a bias-free dense layer: the gradient is zero, so the validation loss is
    exactly flat. With patience 1 the rate halves after every epoch that brings no lower loss (as
    Keras' ReduceLROnPlateau does); early stopping (patience 3) ends the run after 4 of 10 epochs.
    A run stopped after 2 epochs and resumed takes the same rates and stops at the same epoch."""
    from tinyasc.data import AudioDataset
    from tinyasc.tf_env import import_tf
    from tinyasc.train import seed_everything, train_model
    from tinyasc.train.loop import HISTORY_FILE
    from tinyasc.train.schedules import PlateauSchedule

    _, keras = import_tf()
    data = AudioDataset(x=np.zeros((12, 100), np.float32), y=np.arange(12) % 3, labels=["a", "b", "c"],
                        split=np.array(["train"] * 9 + ["val"] * 3), paths=[""] * 12, sample_rate=16000)

    def run(run_dir, epochs, resume=False):
        seed_everything(0)
        model = keras.Sequential([keras.Input((100, 1, 1)), keras.layers.Flatten(),
                                  keras.layers.Dense(3, use_bias=False)])
        return train_model(model, data, run_dir, epochs=epochs, batch_size=4, progress=False, resume=resume,
                           learning_rate=PlateauSchedule(1e-3, factor=0.5, patience=1), early_stopping_patience=3)

    result = run(tmp_path / "a", 10)
    assert result.history["learning_rate"] == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4])
    assert len(set(result.history["val_loss"])) == 1
    assert len((tmp_path / "a" / HISTORY_FILE).read_text().splitlines()) == 5

    assert len(run(tmp_path / "b", 2).history["loss"]) == 2
    assert run(tmp_path / "b", 10, resume=True).history == result.history


# ---------------------------------------------------------------- binaural data


def test_a_binaural_model_learns_what_a_mono_mix_cannot_tell_apart(tmp_path):
    """Two classes that differ only in which ear is loud: their mono mixes are the same signal. With
    data.channels: 2 the loader keeps both channels and Pajusco A separates them."""
    import soundfile as sf

    from tinyasc.config import config_from_dict
    from tinyasc.train.run import train_run

    rng = np.random.default_rng(0)
    rows = ["path,label,split"]
    for i in range(48):
        label = ("left", "right")[i % 2]
        noise = rng.normal(0, 0.1, (4000, 1))
        gains = np.array([[1.0, 0.2]]) if label == "left" else np.array([[0.2, 1.0]])
        sf.write(tmp_path / f"clip{i}.wav", noise * gains, 8000)
        rows.append(f"clip{i}.wav,{label},{('train', 'train', 'train', 'train', 'val', 'test')[i // 2 % 6]}")
    (tmp_path / "binaural.csv").write_text("\n".join(rows) + "\n")
    config = config_from_dict({
        "model": {"name": "pajusco_a"},
        "data": {"sample_rate": 8000, "duration_s": 0.5, "channels": 2},
        "training": {"epochs": 6, "batch_size": 8, "learning_rate": {"max": 3e-3}},
    })
    result = train_run(data=str(tmp_path / "binaural.csv"), run_dir=tmp_path / "run", config=config, progress=False)
    assert result["float_test_accuracy"] == 1.0
    assert np.load(tmp_path / "run" / "test_set.npz")["inputs"].shape == (8, 8000), "4000 samples × 2 channels"


def test_log_mel_features_of_a_binaural_config_are_refused():
    from tinyasc.train.run import model_input

    config = _config(data={"channels": 2}, features={"kind": "logmel", "preset": "idlab-16k"})
    with pytest.raises(TinyascError, match="log-mel features are computed from mono audio"):
        model_input(config, 16000)
    raw_input, _ = model_input(_config(data={"channels": 2}), 100)
    with pytest.raises(TinyascError, match="the data has 3 channels but data.channels is 2"):
        raw_input(np.zeros((1, 100, 3), np.float32))
