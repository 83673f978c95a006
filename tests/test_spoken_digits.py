"""The spoken-digits set synthesised by espeak-ng (a small slice: 3 speakers × 10 digits × 2 takes).

Needs espeak-ng (`make test` installs it); no TensorFlow.
"""

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tinyasc.data import load_csv_dataset
from tinyasc.data import spoken_digits
from tinyasc.data.spoken_digits import DIGITS, make_spoken_digits_dataset
from tinyasc.errors import DatasetError

SPEAKERS = ("en-us+f2", "en-gb-x-rp+m3", "de+m1")
SLICE = {"speakers": SPEAKERS, "takes": 2, "sample_rate": 8000, "seed": 3}


def read_rows(csv_path):
    with open(csv_path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def slice_csv(tmp_path_factory):
    return make_spoken_digits_dataset(tmp_path_factory.mktemp("spoken"), **SLICE)


def test_every_clip_is_one_second_of_8_khz_16_bit_mono(slice_csv):
    rows = read_rows(slice_csv)
    assert len(rows) == 3 * 10 * 2
    assert list(rows[0]) == ["path", "label", "split", "speaker", "level_db"]
    for row in rows:
        info = sf.info(slice_csv.parent / row["path"])
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (8000, 1, 8000, "PCM_16")


def test_the_split_is_by_speaker(slice_csv):
    rows = read_rows(slice_csv)
    split_of_speaker = {}
    for row in rows:
        split_of_speaker.setdefault(row["speaker"], set()).add(row["split"])
    assert all(len(splits) == 1 for splits in split_of_speaker.values()), "a speaker is in two splits"
    assert {s for splits in split_of_speaker.values() for s in splits} == {"train", "val", "test"}
    assert set(split_of_speaker) == set(SPEAKERS)


def test_levels_span_minus_40_to_0_dbfs_and_match_the_audio(slice_csv):
    levels = []
    for row in read_rows(slice_csv):
        audio, _ = sf.read(slice_csv.parent / row["path"], dtype="int16")
        peak_db = 20 * np.log10(np.max(np.abs(audio.astype(np.int32))) / 32768)
        assert float(row["level_db"]) == pytest.approx(peak_db, abs=0.01)
        levels.append(peak_db)
    assert -40.01 <= min(levels) and max(levels) <= 0.0
    assert max(levels) - min(levels) > 20, "levels should spread over the range, not cluster"


def test_generation_is_deterministic_and_a_smaller_set_holds_the_same_clips(slice_csv, tmp_path):
    again = make_spoken_digits_dataset(tmp_path / "again", **SLICE)
    assert read_rows(again) == read_rows(slice_csv)
    for row in read_rows(again)[::7]:
        assert (again.parent / row["path"]).read_bytes() == (slice_csv.parent / row["path"]).read_bytes()
    one_speaker = make_spoken_digits_dataset(tmp_path / "one", **{**SLICE, "speakers": SPEAKERS[:1], "takes": 1})
    for row in read_rows(one_speaker):
        assert (one_speaker.parent / row["path"]).read_bytes() == (slice_csv.parent / row["path"]).read_bytes()


def test_a_complete_set_is_reused_without_espeak(slice_csv, monkeypatch, tmp_path):
    first_clip = slice_csv.parent / read_rows(slice_csv)[0]["path"]
    mtime = first_clip.stat().st_mtime_ns
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on it: a reuse must not need it
    assert make_spoken_digits_dataset(slice_csv.parent, **SLICE) == slice_csv
    assert first_clip.stat().st_mtime_ns == mtime


def test_missing_espeak_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DatasetError, match="apt-get install espeak-ng"):
        make_spoken_digits_dataset(tmp_path / "set", **SLICE)
    assert not (tmp_path / "set").exists()


def test_an_unknown_voice_is_named(tmp_path):
    with pytest.raises(DatasetError, match=r"voice 'xx\+m1'.*espeak-ng --voices"):
        make_spoken_digits_dataset(tmp_path, **{**SLICE, "speakers": ("xx+m1",), "takes": 1})
    assert not (tmp_path / "metadata.csv").exists()
    assert not list(tmp_path.glob(".partial-*"))


def test_the_loader_reads_it_with_digit_label_ids(slice_csv):
    data = load_csv_dataset(slice_csv, sample_rate=8000, duration_s=1.0)
    assert data.labels == list(DIGITS)
    assert data.x.shape == (60, 8000)
    assert set(data.split) == {"train", "val", "test"}


def test_train_resolves_spoken_digits_at_the_configs_rate(monkeypatch, tmp_path):
    from tinyasc.train.run import resolve_dataset

    made = []

    def small_slice(out_dir, **kwargs):
        made.append((Path(out_dir), kwargs))
        return make_spoken_digits_dataset(out_dir, **{**kwargs, "speakers": SPEAKERS, "takes": 1})

    monkeypatch.setattr(spoken_digits, "make_spoken_digits_dataset", small_slice)
    data = resolve_dataset("spoken-digits", tmp_path, tmp_path / "run", sample_rate=8000, duration_s=1.0)
    assert made[0][0] == tmp_path / "data" / "spoken-digits-8000hz"
    assert (data.sample_rate, data.num_samples, len(data)) == (8000, 8000, 30)


def test_an_interrupted_generation_leaves_no_set_that_looks_complete(monkeypatch, tmp_path):
    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    one_clip_each = {**SLICE, "speakers": SPEAKERS[:1], "takes": 1}
    monkeypatch.setattr(spoken_digits, "commit", killed)
    with pytest.raises(KeyboardInterrupt):
        make_spoken_digits_dataset(tmp_path, **one_clip_each)
    assert not (tmp_path / "metadata.csv").exists() and not (tmp_path / "spoken_digits.json").exists()
    assert not list(tmp_path.glob(".partial-*"))
    monkeypatch.undo()
    assert len(read_rows(make_spoken_digits_dataset(tmp_path, **one_clip_each))) == 10


def test_a_clip_has_the_same_level_and_split_at_8_and_16_khz(slice_csv, tmp_path):
    wide = make_spoken_digits_dataset(tmp_path, **{**SLICE, "speakers": SPEAKERS, "takes": 1, "sample_rate": 16000})
    at_8k = {row["path"]: row for row in read_rows(slice_csv)}
    for row in read_rows(wide):
        assert (row["level_db"], row["split"]) == (at_8k[row["path"]]["level_db"], at_8k[row["path"]]["split"])
        assert sf.info(wide.parent / row["path"]).samplerate == 16000
