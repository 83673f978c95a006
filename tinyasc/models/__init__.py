"""Keras model definitions (tf_keras, 2-D form) and the name → builder registry."""

from tinyasc.models.cnn1d import anchor_cnn
from tinyasc.models.registry import MODELS, build_model

__all__ = ["anchor_cnn", "MODELS", "build_model"]
