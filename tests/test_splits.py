"""A CSV with train and test rows only gets a validation split carved from train (no TensorFlow)."""

import csv
from collections import Counter

import numpy as np
import soundfile as sf

from tinyasc.data import load_csv_dataset
from tinyasc.data.splits import VAL_FRACTION, carve_validation


def write_rows(tmp_path, rows, header):
    sf.write(tmp_path / "x.wav", np.zeros(10), 16000)
    path = tmp_path / "official.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def speaker_rows(speakers=20, labels=("yes", "no"), takes=3, test_speakers=4):
    """Every speaker says every label `takes` times; the last `test_speakers` speakers are test."""
    return [
        ("x.wav", label, "test" if s >= speakers - test_speakers else "train", f"spk{s:02d}")
        for s in range(speakers) for label in labels for _ in range(takes)
    ]


def test_train_test_csv_gets_val_carved_from_whole_speakers(tmp_path, capsys):
    rows = speaker_rows()
    csv_path = write_rows(tmp_path, rows, ("path", "label", "split", "speaker"))
    data = load_csv_dataset(csv_path, sample_rate=16000, duration_s=0.01)
    split_of_speaker: dict[str, set] = {}
    for (_, _, _, speaker), split in zip(rows, data.split):
        split_of_speaker.setdefault(speaker, set()).add(split)
    assert all(len(splits) == 1 for splits in split_of_speaker.values()), "a speaker is in two splits"
    counts = Counter(data.split)
    assert counts["test"] == 4 * 6, "test rows are untouched"
    assert counts["val"] >= VAL_FRACTION * 16 * 6 and counts["val"] % 6 == 0
    assert counts["train"] + counts["val"] == 16 * 6
    log = capsys.readouterr().out
    assert f"carved {counts['val']} of 96 train clips into 'val', whole speaker groups" in log


def test_carving_is_deterministic(tmp_path):
    csv_path = write_rows(tmp_path, speaker_rows(), ("path", "label", "split", "speaker"))
    first = load_csv_dataset(csv_path, sample_rate=16000, duration_s=0.01).split
    assert np.array_equal(load_csv_dataset(csv_path, sample_rate=16000, duration_s=0.01).split, first)


def test_a_recording_column_groups_when_there_is_no_speaker(tmp_path, capsys):
    rows = [("x.wav", label, split, f"rec{r}") for r in range(12) for label in ("a", "b")
            for split in ("train",)] + [("x.wav", "a", "test", "rec99")]
    data = load_csv_dataset(write_rows(tmp_path, rows, ("path", "label", "split", "recording")), sample_rate=16000, duration_s=0.01)
    val_recordings = {rows[i][3] for i in np.flatnonzero(data.split == "val")}
    train_recordings = {rows[i][3] for i in np.flatnonzero(data.split == "train")}
    assert val_recordings and not val_recordings & train_recordings
    assert "whole recording groups" in capsys.readouterr().out


def test_without_a_group_column_val_is_stratified_by_label(tmp_path, capsys):
    rows = [("x.wav", label, "train") for label in ("a", "b") for _ in range(20)] + [("x.wav", "a", "test")]
    data = load_csv_dataset(write_rows(tmp_path, rows, ("path", "label", "split")), sample_rate=16000, duration_s=0.01)
    for label_id in (0, 1):
        assert Counter(data.split[(data.y == label_id) & (data.split != "test")]) == {"train": 17, "val": 3}
    assert "carved 6 of 40 train clips into 'val', stratified by label" in capsys.readouterr().out


def test_csv_with_val_rows_is_untouched(tmp_path, capsys):
    rows = [("x.wav", "a", split, f"spk{i}") for i, split in enumerate(("train", "train", "val", "test"))]
    data = load_csv_dataset(write_rows(tmp_path, rows, ("path", "label", "split", "speaker")), sample_rate=16000, duration_s=0.01)
    assert list(data.split) == ["train", "train", "val", "test"]
    assert "carved" not in capsys.readouterr().out


def test_one_group_only_falls_back_to_labels():
    rows = [{"path": "x", "label": "a", "split": "train", "speaker": "only"} for _ in range(10)]
    line = carve_validation(rows, "speaker")
    assert sum(row["split"] == "val" for row in rows) == 2
    assert "stratified by label (one speaker only: cannot group)" in line
