"""Import TensorFlow the one way that works with TF-MOT: legacy Keras 2 (tf-keras), quiet logs.

Every module that needs TensorFlow calls `import_tf()` instead of `import tensorflow` so the
environment variables are set before the first import (DESIGN §3). TensorFlow's own logging (C++
INFO/WARNING/ERROR lines such as oneDNN notices and per-epoch `E0000 … NodeDef` lines, absl and the
Python logger) is off unless `tinyasc --verbose` (or TINYASC_VERBOSE=1) asks for it; the converter's
native stderr chatter (`fully_quantize: 0 …`) is held back by `quiet_native_stderr` and shown only
when the conversion fails.
"""

import contextlib
import os
import sys
import tempfile

VERBOSE_ENV_VAR = "TINYASC_VERBOSE"


def set_verbose(verbose: bool) -> None:
    """Called by the CLI before anything imports TensorFlow."""
    if verbose:
        os.environ[VERBOSE_ENV_VAR] = "1"


def is_verbose() -> bool:
    return os.environ.get(VERBOSE_ENV_VAR, "") not in ("", "0")


def import_tf():
    """Return (tensorflow, tf_keras) with TF_USE_LEGACY_KERAS=1 set before the import."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if is_verbose() else "3")
    import tensorflow as tf
    import tf_keras as keras

    if not is_verbose():
        tf.get_logger().setLevel("ERROR")
        try:
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
        except ImportError:  # absl comes with TensorFlow; nothing to quiet without it
            pass
    return tf, keras


@contextlib.contextmanager
def quiet_native_stderr():
    """Hold back what native code writes to file descriptor 2 (Python's own errors still surface as
    exceptions); replay it if the block raises, or always with --verbose."""
    if is_verbose():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
