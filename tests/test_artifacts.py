"""The ground floor (tinyasc/artifacts/): a run folder read back without the training stack, the
audio facts travelling run → manifest → model.h → summary, and a package that imports no stage."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tinyasc.artifacts.audio import AudioInput
from tinyasc.artifacts.run import RUN_FILE, TFLITE_FILE, read_run, write_run
from tinyasc.errors import TinyascError

TINY_RUN_RATE = 8000  # not 16 kHz on purpose: nothing may fall back to 16 kHz unnoticed
TINY_RUN_SAMPLES = 256  # conftest.WAVEFORM_SAMPLES


def python(code: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ), timeout=600)


def tinyasc(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinyasc.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=600)


def write_tiny_run(run_dir, tflite_bytes: bytes, audio: dict | None = None, config: dict | None = None):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / TFLITE_FILE).write_bytes(tflite_bytes)
    summary = {"labels": ["a", "b", "c", "d"], "tflite": TFLITE_FILE, "input_samples": TINY_RUN_SAMPLES,
               **({"audio": audio} if audio is not None else {}), **({"config": config} if config else {})}
    inputs = np.random.default_rng(0).integers(-128, 128, (3, TINY_RUN_SAMPLES), dtype=np.int8)
    write_run(run_dir, summary, inputs, np.array([0, 1, 2]))
    return run_dir


@pytest.fixture
def tiny_run(tiny_cnn_tflite, tmp_path):
    audio = AudioInput(sample_rate=TINY_RUN_RATE, kind="raw", channels=1, input_samples=TINY_RUN_SAMPLES)
    return write_tiny_run(tmp_path / "runs" / "tiny", tiny_cnn_tflite.read_bytes(), audio.to_dict())


def test_run_folder_reads_back_labels_test_set_and_audio_facts(tmp_path):
    audio = AudioInput(sample_rate=TINY_RUN_RATE, kind="raw", channels=2, input_samples=TINY_RUN_SAMPLES)
    write_tiny_run(tmp_path, b"not a model", audio.to_dict())
    run = read_run(tmp_path)
    assert run.labels == ("a", "b", "c", "d") and run.tflite == tmp_path / TFLITE_FILE
    assert run.test_inputs.shape == (3, TINY_RUN_SAMPLES) and run.test_inputs.dtype == np.int8
    assert run.test_labels.tolist() == [0, 1, 2]
    assert run.audio == audio and run.audio.seconds_per_inference == TINY_RUN_SAMPLES / TINY_RUN_RATE
    assert json.loads((tmp_path / RUN_FILE).read_text())["audio"]["seconds_per_inference"] == 0.032
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary file left behind"


def test_a_run_written_before_the_audio_section_gets_its_facts_from_the_config_copy(tmp_path):
    config = {"data": {"sample_rate": 44100, "duration_s": 1.0, "channels": 2},
              "features": {"kind": "logmel", "preset": "idlab"}}
    write_tiny_run(tmp_path, b"", config=config)
    audio = read_run(tmp_path).audio
    assert (audio.sample_rate, audio.kind, audio.channels) == (44100, "logmel", 1)
    assert audio.log_mel == {"preset": "idlab"} and audio.input_samples == TINY_RUN_SAMPLES


def test_a_log_mel_runs_audio_facts_carry_its_analysis_and_the_audio_per_inference():
    from tinyasc.config import load_config
    from tinyasc.paths import REPO_ROOT
    from tinyasc.train.run import audio_input

    config = load_config(REPO_ROOT / "configs" / "idlab-resnet-se.yaml")
    samples = round(config.data.sample_rate * config.data.duration_s)
    audio = audio_input(config, samples)
    assert (audio.kind, audio.channels, audio.sample_rate) == ("logmel", 1, config.data.sample_rate)
    assert audio.seconds_per_inference == samples / config.data.sample_rate
    assert audio.log_mel["hop_length"] == round(audio.log_mel["hop_s"] * config.data.sample_rate)
    assert AudioInput.from_dict(json.loads(json.dumps(audio.to_dict()))) == audio, "run.json round trip"


def test_missing_pieces_of_a_run_and_bad_audio_facts_are_clear_errors(tmp_path):
    with pytest.raises(TinyascError, match="not a finished training run"):
        read_run(tmp_path)
    (tmp_path / RUN_FILE).write_text("{}")
    with pytest.raises(TinyascError, match="has no test_set.npz"):
        read_run(tmp_path)
    with pytest.raises(TinyascError, match="Received: kind='mfcc'"):
        AudioInput(kind="mfcc")
    assert AudioInput().to_dict() == {} and not AudioInput().is_known


def test_importing_the_artifacts_package_loads_no_stage():
    result = python(
        "import sys\n"
        "import tinyasc.artifacts.audio, tinyasc.artifacts.boards, tinyasc.artifacts.export_folder\n"
        "import tinyasc.artifacts.manifest, tinyasc.artifacts.run, tinyasc.artifacts.tflm, tinyasc.artifacts.twin\n"
        "print(sorted(m for m in sys.modules if m.startswith('tinyasc.') and not m.startswith('tinyasc.artifacts')))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['tinyasc.errors']"


def test_export_from_a_run_imports_no_audio_or_training_code_and_carries_the_rate(tiny_run, tmp_path):
    out = tmp_path / "export"
    result = python(
        "import sys\n"
        "from tinyasc.cli import main\n"
        f"code = main(['export', '--board', 'cortex-m4', '--run', {str(tiny_run)!r}, '--out', {str(out)!r}])\n"
        "loaded = [m for m in ('soundfile', 'librosa', 'tensorflow', 'tinyasc.data', 'tinyasc.train') if m in sys.modules]\n"
        "print('loaded', loaded)\n"
        "sys.exit(code)\n"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loaded []" in result.stdout, result.stdout
    manifest = json.loads((out / "tiny" / "manifest.json").read_text())
    assert manifest["audio"] == {"sample_rate": TINY_RUN_RATE, "kind": "raw", "channels": 1,
                                 "input_samples": TINY_RUN_SAMPLES, "seconds_per_inference": 0.032}
    assert manifest["export"]["labels"] == ["a", "b", "c", "d"]
    header = (out / "tiny" / "src" / "model.h").read_text()
    assert f"#define TINYASC_SAMPLE_RATE_HZ {TINY_RUN_RATE}\n" in header
    assert "#define TINYASC_INPUT_KIND_RAW 1\n" in header
    summary = tinyasc("summary", out / "tiny")  # an export folder carries the run's rate on
    assert summary.returncode == 0 and "8,000 Hz" in summary.stdout and "covers 0.032 s" in summary.stdout


def test_a_bare_tflite_export_has_no_rate_unless_given(tiny_cnn_tflite, tmp_path):
    assert tinyasc("export", "--tflite", tiny_cnn_tflite, "--name", "bare", "--out", tmp_path).returncode == 0
    assert "audio" not in json.loads((tmp_path / "bare" / "manifest.json").read_text())
    assert "TINYASC_SAMPLE_RATE_HZ" not in (tmp_path / "bare" / "src" / "model.h").read_text()
    result = tinyasc("export", "--tflite", tiny_cnn_tflite, "--name", "rated", "--out", tmp_path,
                     "--sample-rate", 22050)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "rated" / "manifest.json").read_text())["audio"] == {"sample_rate": 22050}
    header = (tmp_path / "rated" / "src" / "model.h").read_text()
    assert "#define TINYASC_SAMPLE_RATE_HZ 22050\n" in header and "TINYASC_INPUT_KIND" not in header


def test_summary_of_a_run_uses_the_runs_rate_and_a_bare_tflite_says_it_is_unknown(tiny_run, tiny_cnn_tflite):
    from_run = tinyasc("summary", tiny_run)
    assert from_run.returncode == 0, from_run.stderr
    assert "8,000 Hz" in from_run.stdout and "covers 0.032 s of audio" in from_run.stdout
    bare = tinyasc("summary", tiny_cnn_tflite)
    assert bare.returncode == 0, bare.stderr
    assert "audio rate unknown" in bare.stdout and "--sample-rate" in bare.stdout
    assert "16,000" not in bare.stdout and "covers" not in bare.stdout
    given = tinyasc("summary", tiny_cnn_tflite, "--sample-rate", 8000)
    assert "covers 0.032 s of audio" in given.stdout
    refused = tinyasc("summary", tiny_run, "--sample-rate", 16000)
    assert refused.returncode == 2 and "trained at 8000 Hz" in refused.stderr
