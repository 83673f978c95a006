"""`tinyasc export --model FILE --calibration DIR`: a saved Keras model (.keras, .h5, SavedModel) quantized to
int8 on a folder of inputs (.npy) or clips (.wav), then exported like any .tflite."""

import json

import numpy as np
import pytest
import soundfile

from conftest import WAVEFORM_SAMPLES, tiny_audio_cnn
from tinyasc.cli import main


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    from tinyasc.train import seed_everything

    seed_everything(0)
    folder = tmp_path_factory.mktemp("keras_models")
    model = tiny_audio_cnn()
    paths = {"keras": folder / "tiny.keras", "h5": folder / "tiny.h5", "savedmodel": folder / "tiny_savedmodel"}
    for path in paths.values():
        model.save(str(path))
    return paths


def test_keras_and_h5_models_are_quantized_on_npy_and_wav_calibration_and_exported(saved_models, tmp_path, capsys):
    rng = np.random.default_rng(0)
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    np.save(calibration / "batch.npy", rng.normal(0, 0.3, (6, WAVEFORM_SAMPLES)).astype(np.float32))
    soundfile.write(calibration / "clip.wav", rng.uniform(-0.5, 0.5, WAVEFORM_SAMPLES * 2), 16000)
    for kind, path in saved_models.items():
        assert main(["export", "--model", str(path), "--calibration", str(calibration), "--sample-rate", "16000",
                     "--board", "cortex-m4", "--name", kind, "--out", str(tmp_path / "export")]) == 0
        manifest = json.loads((tmp_path / "export" / kind / "manifest.json").read_text())
        assert manifest["export"]["macs"] > 0 and manifest["audio"]["sample_rate"] == 16000
        assert (tmp_path / "export" / kind / "src" / "model.c").is_file()
    assert "exported" in capsys.readouterr().out


def test_bad_model_or_calibration_is_a_one_line_error(saved_models, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    not_a_model = tmp_path / "model.keras"
    not_a_model.write_text("no")
    cases = [
        (["--model", str(saved_models["h5"])], "--model needs --calibration DIR"),
        (["--model", str(saved_models["h5"]), "--calibration", str(empty)], "has no .npy, .wav or .flac files"),
        (["--model", str(not_a_model), "--calibration", str(empty)], "cannot load the Keras model"),
        (["--model", str(tmp_path / "missing.onnx"), "--calibration", str(empty)], "not a .keras/.h5 file"),
    ]
    for arguments, message in cases:
        assert main(["export", *arguments, "--out", str(tmp_path / "export")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("tinyasc export: error:") and message in err and err.count("\n") == 1, err
