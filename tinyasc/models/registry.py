"""Models by name, so configs and the CLI can say `model: anchor_cnn`."""

from __future__ import annotations

from typing import Callable

from tinyasc.errors import TinyascError
from tinyasc.models.cnn1d import anchor_cnn

MODELS: dict[str, Callable] = {"anchor_cnn": anchor_cnn}


def build_model(name: str, **kwargs):
    """Build the model registered as `name`, passing kwargs (num_classes, input_samples, …)."""
    if name not in MODELS:
        raise TinyascError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return MODELS[name](**kwargs)
