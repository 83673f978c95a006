"""The anchor model's shape and size, and the training loop: learning, artifacts, seeds, resume."""

import csv

import numpy as np
import pytest

from tinyasc.data import AudioDataset
from tinyasc.errors import DatasetError, TinyascError


def tiny_dataset(dataset: AudioDataset, per_class_and_split: int = 2) -> AudioDataset:
    """A few clips per class from the train and val splits: enough to run the loop in ~1 s."""
    keep = np.zeros(len(dataset), dtype=bool)
    for split in ("train", "val"):
        for label_id in range(len(dataset.labels)):
            rows = np.flatnonzero((dataset.split == split) & (dataset.y == label_id))
            keep[rows[:per_class_and_split]] = True
    return AudioDataset(
        x=dataset.x[keep], y=dataset.y[keep], labels=dataset.labels, split=dataset.split[keep],
        paths=[p for p, k in zip(dataset.paths, keep) if k], sample_rate=dataset.sample_rate,
    )


def train_tiny(dataset, run_dir, epochs, resume=False, seed=0):
    from tinyasc.models import build_model
    from tinyasc.train import seed_everything, train_model

    seed_everything(seed)
    model = build_model("anchor_cnn")
    return train_model(model, tiny_dataset(dataset), run_dir, epochs=epochs, batch_size=8, seed=seed,
                       progress=False, resume=resume)


# ---------------------------------------------------------------- model


def test_anchor_cnn_matches_the_design_parameter_count_and_shapes():
    from tinyasc.models import anchor_cnn

    model = anchor_cnn()
    assert model.count_params() == 9466
    assert model.input_shape == (None, 16000, 1, 1)
    assert model.output_shape == (None, 10)
    assert [layer.output_shape[1] for layer in model.layers[1:8]] == [3985, 996, 994, 248, 246, 61, 64]
    assert model.layers[-1].get_config()["activation"] == "linear", "the model must output logits"


def test_anchor_cnn_follows_num_classes_and_input_length():
    from tinyasc.models import build_model

    model = build_model("anchor_cnn", num_classes=4, input_samples=8000)
    assert model.output_shape == (None, 4)
    assert model.input_shape == (None, 8000, 1, 1)
    assert model.count_params() == 9466 - 6 * 65


def test_unknown_model_name_lists_the_known_ones():
    from tinyasc.models import build_model

    with pytest.raises(TinyascError, match="unknown model 'wsnet-xl'.*anchor_cnn"):
        build_model("wsnet-xl")


# ---------------------------------------------------------------- training on the shared fixture


def test_trained_anchor_classifies_test_clips_far_above_chance(trained_anchor, synthetic_dataset):
    from tinyasc.train import evaluate_float

    accuracy = evaluate_float(trained_anchor.model, synthetic_dataset.subset("test"))
    print(f"float test accuracy: {accuracy:.3f} (best val {trained_anchor.val_accuracy:.3f})")
    assert accuracy > 0.6


def test_training_writes_history_and_the_best_model(trained_anchor):
    from tinyasc.tf_env import import_tf

    run_dir = trained_anchor.best_path.parent
    history = trained_anchor.history
    assert set(history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history["loss"]) == 10
    assert trained_anchor.val_accuracy == pytest.approx(max(history["val_accuracy"]))
    assert history["loss"][-1] < history["loss"][0]

    with open(run_dir / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 11))
    assert float(rows[3]["val_accuracy"]) == pytest.approx(history["val_accuracy"][3], abs=1e-6)

    _, keras = import_tf()
    reloaded = keras.models.load_model(trained_anchor.best_path, compile=False)
    x = np.random.default_rng(0).uniform(-0.1, 0.1, (2, 16000, 1, 1)).astype(np.float32)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), trained_anchor.model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- seeds and resume (tiny runs)


def test_training_is_deterministic_by_seed(synthetic_dataset, tmp_path):
    first = train_tiny(synthetic_dataset, tmp_path / "a", epochs=2)
    second = train_tiny(synthetic_dataset, tmp_path / "b", epochs=2)
    other = train_tiny(synthetic_dataset, tmp_path / "c", epochs=1, seed=1)
    assert first.history == second.history
    for w1, w2 in zip(first.model.get_weights(), second.model.get_weights()):
        np.testing.assert_array_equal(w1, w2)
    assert not np.array_equal(first.model.get_weights()[0], other.model.get_weights()[0])


def test_resume_continues_after_the_last_finished_epoch(synthetic_dataset, tmp_path):
    from tinyasc.tf_env import import_tf

    straight = train_tiny(synthetic_dataset, tmp_path / "straight", epochs=3)
    train_tiny(synthetic_dataset, tmp_path / "killed", epochs=2)  # as if killed after epoch 2
    resumed = train_tiny(synthetic_dataset, tmp_path / "killed", epochs=3, resume=True)

    assert len(resumed.history["loss"]) == 3
    assert resumed.history["loss"] == pytest.approx(straight.history["loss"], rel=1e-5)
    assert resumed.val_accuracy == pytest.approx(straight.val_accuracy)
    # The resumed run continued from epoch 2's weights and Adam state, not from a fresh model:
    # the last checkpoints of both runs hold the same weights.
    tf, _ = import_tf()
    for name in ("straight", "killed"):
        assert tf.train.latest_checkpoint(tmp_path / name / "ckpt").endswith("ckpt-3")
    a = tf.train.load_checkpoint(str(tmp_path / "straight" / "ckpt" / "ckpt-3"))
    b = tf.train.load_checkpoint(str(tmp_path / "killed" / "ckpt" / "ckpt-3"))
    for key in a.get_variable_to_shape_map():
        if "model" in key and "kernel" in key:
            np.testing.assert_allclose(a.get_tensor(key), b.get_tensor(key), rtol=1e-5, atol=1e-6)


def test_resume_of_a_finished_run_trains_no_more(synthetic_dataset, tmp_path):
    done = train_tiny(synthetic_dataset, tmp_path, epochs=1)
    again = train_tiny(synthetic_dataset, tmp_path, epochs=1, resume=True)
    assert again.history == done.history
    for w1, w2 in zip(done.model.get_weights(), again.model.get_weights()):
        np.testing.assert_array_equal(w1, w2)


def test_training_without_validation_clips_says_what_to_add(synthetic_dataset, tmp_path):
    from tinyasc.models import build_model
    from tinyasc.train import train_model

    train_only = synthetic_dataset.subset("train")
    with pytest.raises(DatasetError, match="no clips in split 'val'"):
        train_model(build_model("anchor_cnn"), train_only, tmp_path, epochs=1, progress=False)


def test_evaluating_an_empty_split_is_an_error(trained_anchor, synthetic_dataset):
    from tinyasc.train import evaluate_float

    empty = synthetic_dataset.subset("train").subset("test")
    with pytest.raises(DatasetError, match="empty"):
        evaluate_float(trained_anchor.model, empty)


def test_resuming_with_a_different_model_says_what_to_do(synthetic_dataset, tmp_path):
    from tinyasc.models import build_model
    from tinyasc.train import train_model

    train_tiny(synthetic_dataset, tmp_path, epochs=1)
    other = build_model("anchor_cnn", num_classes=5)
    with pytest.raises(TinyascError, match="cannot resume.*new run directory"):
        train_model(other, tiny_dataset(synthetic_dataset), tmp_path, epochs=2, progress=False, resume=True)
