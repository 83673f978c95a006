"""`tinyasc emulate --audio PATH EXPORT`: audio files as int16 PCM through the firmware's own front-end
and network. Files are read as training reads them (resampled, mixed, cut into windows or padded);
a trained raw and log-mel model score the synthetic test WAVs the same in QEMU, on the host and in
the run's int8 path; silence, full-scale squares and DC run; bad input is a clear error."""

import json

import numpy as np
import pytest
import soundfile as sf

from tinyasc.artifacts.audio import AudioInput
from tinyasc.errors import DatasetError
from tinyasc.emulate.audio_files import audio_items, pcm_windows, treatment_text

LABELS = ["hum", "chirp"]
RATE = 8000


def write_wav(path, samples, rate=RATE):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, rate, subtype="PCM_16")
    return path


def hostile_wavs(folder, rate: int) -> list:
    """Silence and a full-scale square wave (one second each), and 2.5 s of DC at the positive rail."""
    square = np.where((np.arange(rate) // 10) % 2 == 0, 1.0, -1.0)
    return [write_wav(folder / "silence.wav", np.zeros(rate), rate),
            write_wav(folder / "square.wav", square * 32767 / 32768, rate),
            write_wav(folder / "dc.wav", np.full(5 * rate // 2, 32767 / 32768), rate)]


def raw_audio(channels: int = 1) -> AudioInput:
    return AudioInput(sample_rate=RATE, kind="raw", channels=channels, input_samples=RATE)


def test_a_labels_csv_runs_its_test_split_unless_told_otherwise(tmp_path):
    (tmp_path / "list.csv").write_text("path,label,split\na.wav,hum,train\nb.wav,chirp,test\nc.wav,hum,test\n")
    items, source, split = audio_items(tmp_path / "list.csv", LABELS)
    assert [(item.path.name, item.label) for item in items] == [("b.wav", 1), ("c.wav", 0)] and split == "test"
    assert "labels CSV" in source
    assert len(audio_items(tmp_path / "list.csv", LABELS, split="all")[0]) == 3
    (tmp_path / "bad.csv").write_text("path,label\nb.wav,bird\n")
    with pytest.raises(DatasetError, match=r"line 2: label 'bird' is not one of the model's classes \(hum, chirp\)"):
        audio_items(tmp_path / "bad.csv", LABELS)


def test_a_folder_of_class_subfolders_is_labelled_by_its_folders(tmp_path):
    write_wav(tmp_path / "chirp" / "one.wav", np.zeros(100))
    write_wav(tmp_path / "hum" / "two.wav", np.zeros(100))
    items, _, _ = audio_items(tmp_path, LABELS)
    assert sorted((item.path.name, item.label) for item in items) == [("one.wav", 1), ("two.wav", 0)]


def test_files_are_resampled_mixed_cut_into_windows_and_padded_as_training_does(tmp_path):
    seconds = 2.5
    t = np.arange(int(16000 * seconds)) / 16000
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 300 * t), 0.25 * np.sin(2 * np.pi * 500 * t)], axis=1)
    long_file = write_wav(tmp_path / "long.wav", stereo, 16000)
    short_file = write_wav(tmp_path / "short.wav", np.full(RATE // 4, 0.5))
    items, _, _ = audio_items(long_file, LABELS)
    items += audio_items(short_file, LABELS)[0]
    windows = pcm_windows(items, raw_audio())
    long_loaded, short_loaded = windows.files
    assert windows.pcm.shape == (4, RATE) and windows.pcm.dtype == np.int16
    assert long_loaded.window_starts_s == (0.0, 1.0, 1.5), "consecutive windows, the last flush with the end"
    assert short_loaded.padded and short_loaded.first_window == 3
    assert np.all(windows.pcm[3, :RATE // 4] == 16384) and not windows.pcm[3, RATE // 4:].any()
    text = " ".join(treatment_text(windows, raw_audio()))
    assert "resampled to 8,000 Hz from 16,000 Hz" in text and "mixed to mono from 2 channel(s)" in text
    assert "1 file(s) shorter than one window zero-padded" in text
    # A binaural model takes both channels, interleaved; a mono file fills both.
    binaural = pcm_windows(audio_items(short_file, LABELS)[0], raw_audio(channels=2))
    assert binaural.pcm.shape == (1, 2 * RATE) and np.array_equal(binaural.pcm[0, 0::2], binaural.pcm[0, 1::2])


def test_an_unreadable_file_is_an_error_that_names_it(tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt not really")
    with pytest.raises(DatasetError, match=f"{broken}: cannot read audio"):
        pcm_windows(audio_items(broken, LABELS)[0], raw_audio())
    with pytest.raises(DatasetError, match="no such audio file, folder or labels CSV"):
        audio_items(tmp_path / "missing.wav", LABELS)


def test_an_export_without_a_pcm_front_end_says_so_and_what_to_do(tmp_path, capsys):
    from tinyasc.artifacts.manifest import write_manifest
    from tinyasc.cli import main

    (tmp_path / "src").mkdir()
    write_manifest(tmp_path, {"name": "bare", "board": "nrf52840", "export": {"labels": LABELS}})
    write_wav(tmp_path / "clip.wav", np.zeros(RATE))
    assert main(["emulate", "--audio", str(tmp_path / "clip.wav"), str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "has no PCM front-end" in error and "tinyasc export --run RUN_DIR" in error
    assert "Traceback" not in error


def _trained_export(name: str, tmp_path):
    """A 1-epoch run of a TRAINED_FRONTENDS config on the built-in data, exported and built."""
    from test_pcm_frontend import TRAINED_FRONTENDS

    from tinyasc.artifacts.run import read_run
    from tinyasc.compile.export import export_model
    from tinyasc.config import config_from_dict
    from tinyasc.firmware.build import build_firmware
    from tinyasc.train.run import synthetic_dir, train_run

    sections, rate = TRAINED_FRONTENDS[name]
    config = config_from_dict({**sections, "training": {"epochs": 1, "batch_size": 16}})
    run_dir = tmp_path / "run"
    summary = train_run("synthetic", run_dir=run_dir, config=config, work_dir=tmp_path, clips_per_class=4,
                        progress=False)
    run = read_run(run_dir)
    export = export_model(run.tflite, board_name="nrf52840", out_root=tmp_path / "export", audio=run.audio,
                          labels=run.labels, test_inputs=run.test_inputs, num_test_vectors=1)
    build_firmware(export.export_dir)
    return summary, run, export.export_dir, synthetic_dir(tmp_path, rate, 1.0) / "metadata.csv", rate


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["logmel-8k", "raw-peak"])
def test_test_wavs_score_the_same_in_qemu_on_the_host_and_in_the_runs_int8_path(name, tmp_path, capsys):
    from tinyasc.cli import main
    from tinyasc.compile.host import build_host_runner, run_host
    from tinyasc.emulate.audio_eval import evaluate_audio

    summary, run, export_dir, test_csv, rate = _trained_export(name, tmp_path)
    assert main(["emulate", "--audio", str(test_csv), str(export_dir)]) == 0
    printed = capsys.readouterr().out
    assert "(split 'test')" in printed and "QEMU equals the host build (ASan + UBSan) bit for bit on every file (10/10)" in printed
    section = json.loads((export_dir / "manifest.json").read_text())["audio_evaluation"]
    int8_metrics = summary["int8_test_metrics"]
    assert section["files"] == 10 and section["qemu_equals_host"]
    assert section["accuracy"] == pytest.approx(int8_metrics["accuracy"])
    assert section["macro_f1"] == pytest.approx(int8_metrics["macro_f1"])
    assert f"accuracy {section['accuracy']:.3f}" in printed
    # Per input level: QEMU equals the host build file by file, so its buckets are the run's int8 ones.
    qemu_levels, host_levels = section["accuracy_by_level"], summary["accuracy_by_level"]["int8_host"]
    assert {k: (b["clips"], b["accuracy"]) for k, b in qemu_levels.items()} == \
        {k: (b["clips"], b["accuracy"]) for k, b in host_levels.items()}
    assert sum(b["clips"] for b in qemu_levels.values()) == 10 and "accuracy by level (QEMU" in printed
    assert section["frontend_instructions_per_second_of_audio"] > rate, "a few instructions per sample at least"
    assert section["network_instructions_per_inference"] > 10_000 and 0 < section["real_time_factor_estimate"] < 1
    assert main(["report", str(export_dir)]) == 0
    page = (export_dir / "report.html").read_text()
    audio_part = page[page.index('<section id="audio">'):page.index('<section id="layers">')]
    assert f"{section['accuracy']:.4f}" in audio_part and "yes, on every file" in audio_part
    level_table = page[page.index('<table id="accuracy-by-level">'):]
    assert "int8 QEMU" in level_table[:level_table.index("</table>")]
    assert f"{section['frontend_instructions_per_second_of_audio']:,}" in audio_part and "confusion matrix" in audio_part

    # The run's int8 path: its test inputs through the same network give QEMU's outputs from PCM.
    evaluation = evaluate_audio(export_dir, test_csv)
    runner = build_host_runner(export_dir / "src", tmp_path / "int8_runner")
    np.testing.assert_array_equal(run_host(runner, run.test_inputs, evaluation.outputs.shape[1]), evaluation.outputs)

    for wav, windows in zip(hostile_wavs(tmp_path / "hostile", rate), (1, 1, 3)):
        hostile = evaluate_audio(export_dir, wav)
        assert hostile.host_equal.all() and hostile.windows.pcm.shape[0] == windows, wav.name
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt broken")
    assert main(["emulate", "--audio", str(broken), str(export_dir)]) == 2
    error = capsys.readouterr().err
    assert f"{broken}: cannot read audio" in error and "Traceback" not in error
