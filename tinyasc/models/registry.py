"""Models by name, so configs and the CLI can say `model: anchor_cnn`."""

from __future__ import annotations

from typing import Callable

from tinyasc.errors import TinyascError
from tinyasc.models.cnn1d import ANCHOR_INPUT_SAMPLES, anchor_cnn, pajusco_a, pajusco_b, pajusco_c, pajusco_d
from tinyasc.models.resnet_se import idlab_resnet_se


def soundnet8(num_classes: int = 10, input_samples: int = ANCHOR_INPUT_SAMPLES, config: str = "baseline", width: float = 1.0):
    from tinyasc.models import wsnet  # imports TensorFlow: only when the model is built

    return wsnet.soundnet8(num_classes=num_classes, input_samples=input_samples, config=config, width=width)


def ds_cnn(num_classes: int = 12, input_shape: tuple = (49, 40, 1), filters: int = 64, blocks: int = 4,
           first_kernel: tuple = (10, 4)):
    from tinyasc.models import kws  # imports TensorFlow: only when the model is built

    return kws.ds_cnn(num_classes=num_classes, input_shape=input_shape, filters=filters, blocks=blocks,
                      first_kernel=first_kernel)


def wsnet_mini(num_classes: int = 10, input_samples: int = ANCHOR_INPUT_SAMPLES, config: str = "S8C4D2"):
    from tinyasc.models import wsnet

    return wsnet.wsnet_mini(num_classes=num_classes, input_samples=input_samples, config=config)


MODELS: dict[str, Callable] = {
    "anchor_cnn": anchor_cnn,
    "ds_cnn": ds_cnn,  # keyword-spotting DS-CNN on log-mel input: input_shape=(frames, bands, 1)
    "idlab_resnet_se": idlab_resnet_se,  # log-mel input: input_shape=(frames, 128, 1)
    "pajusco_a": pajusco_a,  # raw waveforms: input_samples, channels
    "pajusco_b": pajusco_b,
    "pajusco_c": pajusco_c,
    "pajusco_d": pajusco_d,
    "soundnet8": soundnet8,  # WSNet's SoundNet-8 on raw audio: config baseline | S8C4D2 | S8C8D2, width
    "wsnet_mini": wsnet_mini,  # a SoundNet-8-shaped WSNet for a 256 KB board: config baseline | S8C4D2 | S8C8D2
}


def build_model(name: str, **kwargs):
    """Build the model registered as `name`, passing kwargs (num_classes, input_samples, …)."""
    if name not in MODELS:
        raise TinyascError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return MODELS[name](**kwargs)
