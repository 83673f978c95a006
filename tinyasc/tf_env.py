"""Import TensorFlow the one way that works with TF-MOT: legacy Keras 2 (tf-keras), quiet C++ logs.

Every module that needs TensorFlow calls `import_tf()` instead of `import tensorflow` so the
environment variables are set before the first import (DESIGN §3).
"""

import os


def import_tf():
    """Return (tensorflow, tf_keras) with TF_USE_LEGACY_KERAS=1 set before the import."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    import tf_keras as keras

    return tf, keras
