"""Hostile-input corpus, part 2: audio files and label CSVs. A bad file is a DatasetError naming it
(so `--skip-bad-files` leaves it out like any unreadable file), CSV errors give the right line,
and what tinyasc writes into dataset.csv cannot become a spreadsheet formula."""

import csv
import struct

import numpy as np
import pytest
import soundfile as sf
from hostile import assert_one_line_error

from tinyasc.data.audio_checks import MIN_FRAMES
from tinyasc.data.layouts import dataset_csv
from tinyasc.data.loader import load_csv_dataset, read_channels, read_mono
from tinyasc.errors import DatasetError

RATE = 16000


def noise(frames: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(frames)).astype(np.float32)


def float_wav(path, samples, rate=RATE):
    sf.write(path, samples, rate, subtype="FLOAT")
    return path


def patched(path, offset_of, value: int):
    """Overwrite one little-endian uint32 of a WAV header: at a fixed offset, or after a chunk id."""
    data = bytearray(path.read_bytes())
    offset = offset_of if isinstance(offset_of, int) else data.find(offset_of) + 4
    data[offset:offset + 4] = struct.pack("<I", value)
    path.write_bytes(bytes(data))
    return path


def lying_wav(tmp_path):
    """478 int16 samples whose data chunk (and RIFF size) claim 4 GB: a stream's never-fixed header."""
    path = tmp_path / "lying.wav"
    sf.write(path, noise(478), RATE, subtype="PCM_16")
    patched(path, 4, 0xFFFFFFF8)
    return patched(path, b"data", 0xFFFFFFF0)


def bad_files(tmp_path) -> dict:
    """name: (path, fragment of its DatasetError)."""
    with_nan, with_inf, as_integers = noise(RATE), noise(RATE), noise(RATE) * 32767
    with_nan[100] = np.nan
    with_inf[[5, 9]] = [np.inf, -np.inf]
    truncated = tmp_path / "truncated.wav"
    sf.write(truncated, noise(4000), RATE, subtype="PCM_16")
    truncated.write_bytes(truncated.read_bytes()[:-1000])
    one_rate = tmp_path / "one_hz.wav"
    sf.write(one_rate, noise(4000), RATE, subtype="PCM_16")
    patched(one_rate, 24, 1)
    (tmp_path / "zero.wav").write_bytes(b"")
    (tmp_path / "random.wav").write_bytes(np.random.default_rng(0).bytes(5000))
    return {
        "nan": (float_wav(tmp_path / "nan.wav", with_nan), "1 sample(s) are NaN or infinite (the first at sample 100)"),
        "inf": (float_wav(tmp_path / "inf.wav", with_inf), "2 sample(s) are NaN or infinite (the first at sample 5)"),
        "lying header": (lying_wav(tmp_path), "the WAV header says 4,294,967,280 bytes of audio but the file holds 956"),
        "truncated": (truncated, "bytes of audio but the file holds 7,000"),
        "one frame": (float_wav(tmp_path / "one.wav", noise(1)), "holds 1 sample(s) per channel, fewer than 8"),
        "seven frames": (float_wav(tmp_path / "seven.wav", noise(7)), "holds 7 sample(s) per channel"),
        "integers in a float WAV": (float_wav(tmp_path / "int.wav", as_integers), "far beyond full scale"),
        "1 Hz sample rate": (one_rate, "sample rate is 1 Hz, outside 1,000..768,000 Hz"),
        "empty file": (tmp_path / "zero.wav", "cannot read audio"),
        "random bytes": (tmp_path / "random.wav", "cannot read audio"),
    }


@pytest.mark.parametrize("case", ["nan", "inf", "lying header", "truncated", "one frame", "seven frames",
                                  "integers in a float WAV", "1 Hz sample rate", "empty file", "random bytes"])
def test_a_bad_audio_file_is_named_by_every_reader(tmp_path, case):
    path, fragment = bad_files(tmp_path)[case]
    for read in (lambda: read_mono(path, RATE), lambda: read_channels(path, RATE, 2)):
        with pytest.raises(DatasetError) as error:
            read()
        message = str(error.value)
        assert message.startswith(f"{path}: ") and fragment in message and "\n" not in message


def test_bad_files_are_skipped_with_skip_bad_files_and_stop_the_load_without(tmp_path):
    files = bad_files(tmp_path)
    good = float_wav(tmp_path / "good.wav", noise(MIN_FRAMES))  # the shortest file accepted
    rows = [(good.name, "a", "train"), (good.name, "b", "test")] + [(p.name, "a", "train") for p, _ in files.values()]
    csv_path = tmp_path / "m.csv"
    with open(csv_path, "w", newline="") as f:
        csv.writer(f).writerows([("path", "label", "split"), *rows])
    with pytest.raises(DatasetError, match="nan.wav: 1 sample"):
        load_csv_dataset(csv_path, sample_rate=RATE)
    data = load_csv_dataset(csv_path, sample_rate=RATE, skip_bad_files=True)
    assert len(data) == 2 and np.isfinite(data.x).all()
    assert sorted(path for path, _ in data.skipped) == sorted(str(p) for p, _ in files.values())


def test_train_refuses_a_nan_wav_in_one_line(capsys, tmp_path):
    path, _ = bad_files(tmp_path)["nan"]
    csv_path = tmp_path / "m.csv"
    csv_path.write_text(f"path,label,split\n{path.name},a,train\n{path.name},b,test\n")
    assert_one_line_error(capsys, ("train", "--data", csv_path, "--out", tmp_path / "run", "--epochs", "1"),
                          path, "NaN or infinite", "--skip-bad-files")


# ---- label CSVs -----------------------------------------------------------------------------------

def test_csv_errors_name_the_records_first_line_after_quoted_newlines(tmp_path):
    float_wav(tmp_path / "x.wav", noise(100))
    csv_path = tmp_path / "m.csv"
    csv_path.write_text('path,label,split\nx.wav,"two\nline label",train\nx.wav,"three\nline\nlabel",train\n'
                        "x.wav,a,training\n", newline="")
    with pytest.raises(DatasetError, match=r"m\.csv, line 7: split 'training'"):
        load_csv_dataset(csv_path, sample_rate=RATE)
    csv_path.write_text('path,label,split\r\nx.wav,"a\r\nb",train\r\nx.wav,c,test\r\nx.wav,dog,val\r\n', newline="")
    with pytest.raises(DatasetError, match=r"m\.csv, line 5: label 'dog' is not one of"):
        load_csv_dataset(csv_path, sample_rate=RATE, labels=["a\r\nb", "c"])


FORMULAS = ['=HYPERLINK("evil.example","click")', "+cmd|' -c calc'!A0", "-2+3", "@SUM(A1)", "'=quoted"]


def test_formula_like_class_names_are_neutralised_in_dataset_csv_and_read_back_unchanged(tmp_path):
    root = tmp_path / "clips"
    for index, label in enumerate(FORMULAS + ["dog"]):
        (root / label).mkdir(parents=True)
        for clip in range(3):
            float_wav(root / label / f"{clip}.wav", noise(200, seed=index * 10 + clip))
    written = dataset_csv(str(root), tmp_path / "run")
    cells = [row[1] for row in csv.reader(written.read_text().splitlines()[1:])]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert "dog" in cells and "'=HYPERLINK(\"evil.example\",\"click\")" in cells and "''=quoted" in cells
    data = load_csv_dataset(written, sample_rate=RATE)
    assert sorted(data.labels) == sorted(FORMULAS + ["dog"])


@pytest.mark.parametrize("content, fragment", [
    ("path,label\nx.wav,caf\xe9\n".encode("latin-1"), "not UTF-8 text"),
    (("path,label\nx.wav," + "x" * 200_000 + "\n").encode(), "not a readable CSV (field larger than field limit"),
    (("path" + ",p" * 100_000 + "\n").encode(), "missing column(s) label"),
])
def test_an_unreadable_label_csv_is_named_by_both_readers(tmp_path, content, fragment):
    from tinyasc.emulate.audio_files import audio_items

    csv_path = tmp_path / "m.csv"
    csv_path.write_bytes(content)
    with pytest.raises(DatasetError) as error:
        load_csv_dataset(csv_path, sample_rate=RATE)
    assert str(error.value).startswith(f"{csv_path}") and fragment in str(error.value) and len(str(error.value)) < 600
    with pytest.raises(DatasetError) as error:
        audio_items(csv_path, ["a"])
    assert str(error.value).startswith(f"{csv_path}") and len(str(error.value)) < 600


def test_emulate_audio_csv_errors_give_the_records_first_line(tmp_path):
    from tinyasc.emulate.audio_files import audio_items

    float_wav(tmp_path / "x.wav", noise(100))
    csv_path = tmp_path / "m.csv"
    csv_path.write_text('path,label\nx.wav,"a\nb"\nx.wav,cat\n', newline="")
    with pytest.raises(DatasetError, match=r"m\.csv, line 4"):
        audio_items(csv_path, ["a\nb", "dog"])
