"""TensorFlow's logging is off by default (tinyasc/tf_env.py) and back with --verbose: the int8
converter's native `fully_quantize: 0 …` line, C++ log lines and absl warnings, in a real process."""

import os
import subprocess
import sys

SCRIPT = """
import sys
import numpy as np
sys.path.insert(0, "tests")
from conftest import WAVEFORM_SAMPLES, tiny_audio_cnn
from tinyasc.convert import quantize_int8
from tinyasc.tf_env import set_verbose
set_verbose(len(sys.argv) > 1)
calibration = np.random.default_rng(0).normal(0, 0.5, (8, WAVEFORM_SAMPLES, 1, 1)).astype(np.float32)
quantize_int8(tiny_audio_cnn(), calibration, sys.argv[0] + ".tflite")
print("converted")
"""


def _convert(tmp_path, *verbose):
    script = tmp_path / "convert.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TINYASC_VERBOSE")}
    return subprocess.run([sys.executable, str(script), *verbose], capture_output=True, text=True, env=env,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), timeout=300)


def test_converter_and_tensorflow_logs_are_quiet_unless_verbose(tmp_path):
    quiet = _convert(tmp_path)
    assert quiet.returncode == 0 and quiet.stdout.strip() == "converted", quiet.stderr
    assert "fully_quantize" not in quiet.stderr and quiet.stderr.strip() == "", quiet.stderr
    verbose = _convert(tmp_path, "--verbose")
    assert verbose.returncode == 0 and "fully_quantize: 0" in verbose.stderr
