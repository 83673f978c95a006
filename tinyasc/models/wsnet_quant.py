"""8-bit quantization-aware training of WSNet layers with TF-MOT.

A weight-sampling layer stores one condensed filter Φ and every sampled filter shares its int8
values, so Φ gets ONE per-tensor symmetric int8 scale (narrow range, zero point 0), never per
channel: per-channel scales would need per-filter copies of Φ. The layer's activation (ReLU
inside the layer, as a bias replaces the batch norm in the QAT models) gets the usual moving-
average 8-bit range.

Batch norm: a BN right after a WS conv cannot be folded into Φ (its factor is per output channel,
Φ is shared), so the QAT models use a bias instead (`use_bias=True`, no BN; DESIGN §4). Denser
sampling (D > 1) is written as two layers for QAT: a WSConv2D with D·N filters and compactness
S·D (the same sampling stride: ⌊⌊L/S⌋/D⌋ = ⌊L/(S·D)⌋) followed by an ordinary 1×1 Conv2D, so the
tensor between them is fake-quantized like any other activation.

`QUANTIZE_CONFIGS` maps layer class → QuantizeConfig class, for the general QAT code
(tinyasc/train/qat.py); `quantize_wsnet(model)` is the whole QAT wrapping on its own.
"""

from __future__ import annotations

from tinyasc.models.wsnet import CUSTOM_OBJECTS, WSConv2D, WSDense
from tinyasc.tf_env import import_tf

tf, keras = import_tf()

import tensorflow_model_optimization as tfmot  # noqa: E402  (after import_tf sets TF_USE_LEGACY_KERAS)

_quantizers = tfmot.quantization.keras.quantizers


def _condensed_quantizer():
    # One symmetric scale for the whole of Φ: the C kernels read one int8 Φ for all filters.
    return _quantizers.LastValueQuantizer(num_bits=8, per_axis=False, symmetric=True, narrow_range=True)


def _activation_quantizer():
    return _quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)


@keras.utils.register_keras_serializable(package="tinyasc")
class WSQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
    """Fake-quantizes Φ (and a denser-sampling projection, also per tensor) and the activation."""

    def _weights(self, layer):
        weights = [layer.condensed]
        if getattr(layer, "projection", None) is not None:
            weights.append(layer.projection)
        return weights

    def get_weights_and_quantizers(self, layer):
        return [(weight, _condensed_quantizer()) for weight in self._weights(layer)]

    def get_activations_and_quantizers(self, layer):
        return [(layer.activation, _activation_quantizer())]

    def set_quantize_weights(self, layer, quantize_weights):
        layer.condensed = quantize_weights[0]
        if len(quantize_weights) > 1:
            layer.projection = quantize_weights[1]

    def set_quantize_activations(self, layer, quantize_activations):
        layer.activation = quantize_activations[0]

    def get_output_quantizers(self, layer):
        return []

    def get_config(self):
        return {}


QUANTIZE_CONFIGS = {WSConv2D: WSQuantizeConfig, WSDense: WSQuantizeConfig}


def quantize_scope():
    """Custom objects needed to build, save or load a QAT'd WSNet model."""
    return tfmot.quantization.keras.quantize_scope({**CUSTOM_OBJECTS, "WSQuantizeConfig": WSQuantizeConfig})


def quantize_wsnet(model):
    """The QAT model of `model`: WS layers with `WSQuantizeConfig`, every other layer with TF-MOT's
    default 8-bit config. Train it, then convert it with `tinyasc.convert.quantize.quantize_int8`."""
    annotate = tfmot.quantization.keras.quantize_annotate_layer

    def annotated(layer):
        config = QUANTIZE_CONFIGS.get(type(layer))
        if config is None:
            return layer.__class__.from_config(layer.get_config())
        return annotate(layer.__class__.from_config(layer.get_config()), config())

    with quantize_scope():
        clone = keras.models.clone_model(model, clone_function=annotated)
        clone.set_weights(model.get_weights())
        clone = tfmot.quantization.keras.quantize_annotate_model(clone)
        return tfmot.quantization.keras.quantize_apply(clone)


def register_qat_configs(register) -> None:
    """Plug the WS configs into tinyasc.train.qat (`register` is its register_quantize_config)."""
    for layer_class, config_class in QUANTIZE_CONFIGS.items():
        register(layer_class, config_class, {"WSQuantizeConfig": WSQuantizeConfig, layer_class.__name__: layer_class})
