"""A saved Keras model (.keras, .h5 or a SavedModel folder) + a calibration folder → int8 .tflite,
for `tinyasc export --model FILE --calibration DIR`.

The calibration folder holds model inputs as .npy files (one input, or a batch of them) and/or
.wav/.flac files of a raw-waveform model (read as float in [-1, 1), mono-mixed, cut or zero-padded
to the model's input length; their rate must be the model's, given with --sample-rate).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyasc.convert.quantize import MAX_REPRESENTATIVE_SAMPLES, quantize_int8
from tinyasc.errors import TinyascError
from tinyasc.tf_env import import_tf

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
AUDIO_SUFFIXES = (".wav", ".flac")


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


def load_keras_model(path: Path):
    if not (path.suffix in MODEL_SUFFIXES and path.is_file()) and not is_saved_model(path):
        raise TinyascError(f"{path}: not a .keras/.h5 file or a SavedModel folder (with saved_model.pb)")
    _, keras = import_tf()
    try:
        return keras.models.load_model(str(path), compile=False)
    except Exception as e:  # Keras raises many types for a file it cannot read: one line for the user
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TinyascError(f"{path}: cannot load the Keras model ({first_line})") from None


def _audio_input(path: Path, size: int, sample_rate: int | None) -> np.ndarray:
    import soundfile

    if sample_rate is None:
        raise TinyascError(f"{path}: audio calibration files need the model's rate: give --sample-rate")
    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    if rate != sample_rate:
        raise TinyascError(f"{path} is {rate} Hz, the model takes {sample_rate} Hz; resample it")
    mono = samples.mean(axis=1)[:size]
    return np.pad(mono, (0, size - len(mono)))


def calibration_inputs(folder: Path, input_shape: tuple[int, ...], sample_rate: int | None = None) -> np.ndarray:
    """Float32 inputs of `input_shape` from the folder's .npy and audio files, sorted by name."""
    if not folder.is_dir():
        raise TinyascError(f"calibration folder {folder} does not exist")
    size = int(np.prod(input_shape))
    inputs = []
    for path in sorted(folder.iterdir()):
        if path.suffix == ".npy":
            array = np.load(path, allow_pickle=False).astype(np.float32)
            if array.size % size:
                raise TinyascError(f"{path}: {array.shape} is not a whole number of model inputs {input_shape}")
            inputs.extend(array.reshape((-1, *input_shape)))
        elif path.suffix.lower() in AUDIO_SUFFIXES:
            inputs.append(_audio_input(path, size, sample_rate).reshape(input_shape))
        if len(inputs) >= MAX_REPRESENTATIVE_SAMPLES:
            break
    if not inputs:
        raise TinyascError(f"calibration folder {folder} has no .npy, .wav or .flac files")
    return np.stack(inputs).astype(np.float32)


def quantize_model_file(model_path, calibration_dir, out_path, sample_rate: int | None = None) -> Path:
    """Load, calibrate on the folder, write the int8 .tflite at `out_path`."""
    model = load_keras_model(Path(model_path))
    input_shape = tuple(int(d) for d in model.input_shape[1:])
    return quantize_int8(model, calibration_inputs(Path(calibration_dir), input_shape, sample_rate), out_path)
