"""Models by name, so configs and the CLI can say `model: anchor_cnn`."""

from __future__ import annotations

from typing import Callable

from tinyasc.errors import TinyascError
from tinyasc.models.cnn1d import anchor_cnn, pajusco_a, pajusco_b, pajusco_c, pajusco_d
from tinyasc.models.resnet_se import idlab_resnet_se

MODELS: dict[str, Callable] = {
    "anchor_cnn": anchor_cnn,
    "idlab_resnet_se": idlab_resnet_se,  # log-mel input: input_shape=(frames, 128, 1)
    "pajusco_a": pajusco_a,  # raw waveforms: input_samples, channels
    "pajusco_b": pajusco_b,
    "pajusco_c": pajusco_c,
    "pajusco_d": pajusco_d,
}


def build_model(name: str, **kwargs):
    """Build the model registered as `name`, passing kwargs (num_classes, input_samples, …)."""
    if name not in MODELS:
        raise TinyascError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return MODELS[name](**kwargs)
