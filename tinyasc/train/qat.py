"""8-bit quantization-aware training (QAT) with TF-MOT, for every tinyasc model.

`quantize_aware(model)` annotates each layer and applies TF-MOT's scheme (default:
Default8BitQuantizeScheme). What that scheme does, read from TF-MOT 0.8.1's source:

- Conv2D / DepthwiseConv2D weights: per-output-channel symmetric int8 (narrow range, ±127);
  Dense weights: per-tensor symmetric, as the int8 converter stores FULLY_CONNECTED weights.
  Activations: asymmetric int8 with moving-average ranges.
- Conv2D → BatchNormalization: TF-MOT's layout transform only drops the fake quantization between
  the conv and BN; it does not fold. Measured with TF 2.21: the converter then leaves each BN as a
  separate int8 MUL after the CONV_2D (the fake-quantized weights block its folding), one extra op
  and tensor per conv. So `quantize_aware` first folds every conv → BN pair into one conv with a
  bias (`fold_batch_norms`, exact in float) and trains QAT on that: the int8 graph has the same
  CONV_2D ops as PTQ, and the weights QAT saw are the weights the device gets.
- Layers TF-MOT does not know get a config from `LAYER_QUANTIZE_CONFIGS` (layer class →
  QuantizeConfig factory): Multiply (the squeeze-and-excitation gate), Lambda (the mean pooling of
  idlab_resnet_se), StatisticsPooling, and whatever `register_quantize_config` adds (the WSNet
  layers' config plugs in there).

Statistics pooling trains with QAT, but its SQRT has no int8 kernel in TFLM (nor in tinyasc's C):
a QAT'd statistics-pooling model converts but does not run on a device. Export uses
`pooling="mean"`, as benchmarks do.

A QAT model saves to `.h5` and reloads with `load_qat_model` (inside `quantize_scope` with the
custom configs); `.keras` does not reload (DESIGN §3).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from tinyasc.errors import TinyascError
from tinyasc.tf_env import import_tf

# layer class name → factory of a QuantizeConfig instance (class names, so that registering needs no
# TensorFlow import and subclasses registered by other modules are looked up by their own name).
LAYER_QUANTIZE_CONFIGS: dict[str, Callable[[], object]] = {}
# Extra classes for `quantize_scope` when reloading: name → class (QuantizeConfigs and custom layers).
_SCOPE_OBJECTS: dict[str, type] = {}


def register_quantize_config(layer_class, config_factory: Callable[[], object], custom_objects: dict | None = None):
    """Quantize every layer of `layer_class` with `config_factory()` (a TF-MOT QuantizeConfig).

    custom_objects: classes `.h5` reloading needs (the QuantizeConfig class, the layer class);
    both are added automatically when they can be found.
    """
    name = layer_class if isinstance(layer_class, str) else layer_class.__name__
    LAYER_QUANTIZE_CONFIGS[name] = config_factory
    if not isinstance(layer_class, str):
        _SCOPE_OBJECTS[layer_class.__name__] = layer_class
    config = config_factory()
    _SCOPE_OBJECTS[type(config).__name__] = type(config)
    _SCOPE_OBJECTS.update(custom_objects or {})


def _output_quantize_config_class():
    """OutputQuantizeConfig: no weights, no inner activation; the layer's output is quantized to
    asymmetric int8 with a moving-average range, like TF-MOT's Add and Concatenate. Fits layers
    whose int8 TFLite ops re-quantize their output: MUL (SE gate), MEAN/CONCATENATION (pooling)."""
    global _OUTPUT_CONFIG
    if _OUTPUT_CONFIG is not None:
        return _OUTPUT_CONFIG
    import_tf()
    import tensorflow_model_optimization as tfmot

    quantizers = tfmot.quantization.keras.quantizers

    class OutputQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
        def get_weights_and_quantizers(self, layer):
            return []

        def get_activations_and_quantizers(self, layer):
            return []

        def set_quantize_weights(self, layer, quantize_weights):
            pass

        def set_quantize_activations(self, layer, quantize_activations):
            pass

        def get_output_quantizers(self, layer):
            return [quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)]

        def get_config(self):
            return {}

    _OUTPUT_CONFIG = OutputQuantizeConfig
    return OutputQuantizeConfig


_OUTPUT_CONFIG = None


def _mean_pooling_layer():
    """idlab_resnet_se's registered MeanPooling layer (older models used a `Lambda` of the same
    name, which TF-MOT cannot clone: `fold_batch_norms` swaps it for this class)."""
    from tinyasc.models.resnet_se import mean_pooling_layer

    return mean_pooling_layer()
MEAN_POOLING_LAMBDA = "mean_pooling"  # the Lambda layer's name in tinyasc.models.resnet_se


def _register_project_layers() -> None:
    """The project's own layers that TF-MOT's default registry refuses."""
    if "Multiply" in LAYER_QUANTIZE_CONFIGS:
        return
    output_config = _output_quantize_config_class()
    for name in ("Multiply", "MeanPooling", "StatisticsPooling"):
        register_quantize_config(name, output_config)
    _SCOPE_OBJECTS["MeanPooling"] = _mean_pooling_layer()
    from tinyasc.models.resnet_se import _statistics_pooling_layer

    _SCOPE_OBJECTS["StatisticsPooling"] = _statistics_pooling_layer()
    _register_ws_layers()


def _register_ws_layers() -> None:
    """The WSNet layers' configs, from tinyasc.models.wsnet_quant's
    `register_qat_configs(register_quantize_config)` when that module is there."""
    try:
        from tinyasc.models import wsnet_quant
    except ImportError:
        return
    register = getattr(wsnet_quant, "register_qat_configs", None)
    if register is not None:
        register(register_quantize_config)


def custom_objects() -> dict:
    """Everything `quantize_scope` needs to reload a tinyasc QAT model."""
    _register_project_layers()
    return dict(_SCOPE_OBJECTS)


def quantize_aware(model, scheme=None, representative=None):
    """A QAT copy of `model` (a functional tf-keras model): fake int8 quantization of weights and
    activations as TF-MOT's `scheme` (default Default8BitQuantizeScheme; pass
    Default8BitPrunePreserveQuantizeScheme() to keep a pruned model's zeros).

    representative: model inputs to start the activation ranges from (see `initialize_ranges`);
    without them they start at TF-MOT's [-6, 6], fine only for long fine-tuning."""
    tf, keras = import_tf()
    import tensorflow_model_optimization as tfmot

    _register_project_layers()
    qk = tfmot.quantization.keras
    if not isinstance(model, keras.Model) or not getattr(model, "_is_graph_network", False):
        raise TinyascError(f"QAT needs a functional tf-keras model; received: {type(model).__name__}")
    if scheme is None:
        scheme = qk.default_8bit.Default8BitQuantizeScheme()
    registry = scheme.get_quantize_registry()

    def known(layer) -> bool:
        return (type(layer).__name__ in LAYER_QUANTIZE_CONFIGS or registry.supports(layer)
                or isinstance(layer, (keras.layers.InputLayer, keras.layers.BatchNormalization))
                or (isinstance(layer, keras.layers.Lambda) and layer.name == MEAN_POOLING_LAMBDA))

    unknown = [f"{layer.name} ({type(layer).__name__})" for layer in model.layers if not known(layer)]
    if unknown:
        raise TinyascError(
            f"QAT does not know layer {', '.join(unknown)}; give its class a QuantizeConfig with "
            "tinyasc.train.qat.register_quantize_config, or use quantization.mode: ptq"
        )
    model = fold_batch_norms(model)  # ranges below come from this folded model's layers

    def annotate(layer):
        name = type(layer).__name__
        if name in LAYER_QUANTIZE_CONFIGS:
            return qk.quantize_annotate_layer(layer, LAYER_QUANTIZE_CONFIGS[name]())
        if isinstance(layer, (keras.layers.InputLayer, keras.layers.BatchNormalization)):
            return layer  # inputs get TF-MOT's input quantizer; a BN not after a conv stays float
        return qk.quantize_annotate_layer(layer)

    with qk.quantize_scope(custom_objects()):
        annotated = keras.models.clone_model(model, clone_function=annotate)
        _copy_weights(model, annotated)
        qat_model = qk.quantize_apply(annotated, scheme)
    if representative is not None:
        initialize_ranges(qat_model, model, representative)
    return qat_model


def initialize_ranges(qat_model, float_model, x, batch_size: int = 16) -> None:
    """Set every moving-average activation range of `qat_model` to the min/max (widened to hold 0)
    that the matching layer of `float_model` (the BN-folded model it was made from) produces on x.

    TF-MOT starts each range at [-6, 6] and moves it by an EMA with decay 0.999 per training step,
    so a few epochs of fine-tuning leave it near [-6, 6]. Measured on the anchor after a calibration
    that widened its logits: QAT int8 test accuracy 0.32 against 0.75 for PTQ. Pre-activation
    ranges (before a sigmoid) keep [-6, 6], where the sigmoid saturates anyway."""
    import numpy as np

    _, keras = import_tf()
    targets: dict[str | None, list] = {}  # float layer name (None: the model input) → [(min, max)]
    for layer in qat_model.layers:
        key = layer.layer.name if hasattr(layer, "layer") else None
        if key is None and type(layer).__name__ != "QuantizeLayer":
            continue
        variables = {w.name.split("/")[-1].split(":")[0]: w for w in layer.weights}
        for prefix in ("output", "post_activation", "quantize_layer"):
            if f"{prefix}_min" in variables:
                targets.setdefault(key, []).append((variables[f"{prefix}_min"], variables[f"{prefix}_max"]))
    x = np.asarray(x, dtype=np.float32).reshape((-1,) + tuple(float_model.input_shape[1:]))
    names = [name for name in targets if name is not None]
    ranges = {None: (float(x.min()), float(x.max()))}
    if names:
        probe = keras.Model(float_model.inputs, [float_model.get_layer(name).output for name in names])
        for start in range(0, len(x), batch_size):
            outputs = probe(x[start:start + batch_size], training=False)
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            for name, output in zip(names, outputs):
                low, high = float(np.min(output)), float(np.max(output))
                previous = ranges.get(name, (low, high))
                ranges[name] = (min(previous[0], low), max(previous[1], high))
    for key, pairs in targets.items():
        low, high = ranges[key]
        for minimum, maximum in pairs:
            minimum.assign(min(low, 0.0))
            maximum.assign(max(high, 0.0))


def fold_batch_norms(model):
    """A float copy of `model` in which every BatchNormalization that directly follows a linear
    Conv2D/DepthwiseConv2D (its only consumer) is folded into that conv: kernel·s and bias·s + β − μ·s
    with s = γ / √(σ² + ε). A plain ReLU layer right after such a BN becomes the conv's activation:
    TF-MOT's Conv→ReLU transform (LayerReLUQuantize) would otherwise give the conv a NoOp config, and
    its weights would train without fake quantization. Also swaps idlab_resnet_se's Lambda mean
    pooling for MeanPooling (see _mean_pooling_layer). The outputs equal the original's up to float
    rounding."""
    tf, keras = import_tf()
    import numpy as np

    config = model.get_config()
    entries = {entry["name"]: entry for entry in config["layers"]}
    consumers: dict[str, int] = {}
    for entry in config["layers"]:
        for node in entry["inbound_nodes"]:
            for inbound in node:
                consumers[inbound[0]] = consumers.get(inbound[0], 0) + 1
    folded = {}  # BN name → conv name
    for entry in config["layers"]:
        if entry["class_name"] != "BatchNormalization" or len(entry["inbound_nodes"]) != 1:
            continue
        (inbound,) = entry["inbound_nodes"][0]
        conv = entries[inbound[0]]
        if (conv["class_name"] in ("Conv2D", "DepthwiseConv2D") and conv["config"]["activation"] == "linear"
                and consumers[conv["name"]] == 1 and len(conv["inbound_nodes"]) == 1):
            folded[entry["name"]] = conv["name"]
            conv["config"]["use_bias"] = True
    merged = {}  # ReLU name → conv name
    for entry in config["layers"]:
        if entry["class_name"] != "ReLU" or len(entry["inbound_nodes"]) != 1:
            continue
        (inbound,) = entry["inbound_nodes"][0]
        relu = entry["config"]
        plain = relu.get("max_value") is None and not relu.get("negative_slope") and not relu.get("threshold")
        if inbound[0] in folded and consumers[inbound[0]] == 1 and plain:
            merged[entry["name"]] = folded[inbound[0]]
            entries[folded[inbound[0]]]["config"]["activation"] = "relu"
    if MEAN_POOLING_LAMBDA in entries and entries[MEAN_POOLING_LAMBDA]["class_name"] == "Lambda":
        entry = entries[MEAN_POOLING_LAMBDA]
        entry.update(class_name="tinyasc>MeanPooling", module=None, registered_name="tinyasc>MeanPooling",
                     config={"name": entry["name"], "trainable": True, "dtype": "float32"})
    if not folded and MEAN_POOLING_LAMBDA not in entries:
        return model

    def renamed(name: str) -> str:
        return folded.get(name, merged.get(name, name))

    config["layers"] = [entry for entry in config["layers"] if entry["name"] not in folded and entry["name"] not in merged]
    for entry in config["layers"]:
        for node in entry["inbound_nodes"]:
            for inbound in node:
                inbound[0] = renamed(inbound[0])
    for output in config["output_layers"]:
        output[0] = renamed(output[0])
    with tfmot_scope():
        rebuilt = keras.Model.from_config(config)

    originals = {layer.name: layer for layer in model.layers}
    bn_of_conv = {conv: bn for bn, conv in folded.items()}
    for layer in rebuilt.layers:
        source = originals[layer.name]
        if layer.name not in bn_of_conv:
            layer.set_weights(source.get_weights())
            continue
        bn = originals[bn_of_conv[layer.name]]
        gamma, beta, mean, variance = (
            np.asarray(w, dtype=np.float64) for w in (bn.gamma if bn.scale else np.ones(bn.beta.shape),
                                                      bn.beta if bn.center else np.zeros(bn.moving_mean.shape),
                                                      bn.moving_mean, bn.moving_variance)
        )
        scale = gamma / np.sqrt(variance + bn.epsilon)
        kernel = np.asarray(source.get_weights()[0], dtype=np.float64)
        bias = np.asarray(source.get_weights()[1], dtype=np.float64) if source.use_bias else np.zeros_like(scale)
        if isinstance(source, keras.layers.DepthwiseConv2D):  # kernel [kh, kw, C, multiplier]: output C·m + j
            folded_kernel = kernel * scale.reshape(kernel.shape[2], kernel.shape[3])
        else:
            folded_kernel = kernel * scale
        layer.set_weights([folded_kernel.astype(np.float32), (bias * scale + beta - mean * scale).astype(np.float32)])
    return rebuilt


def tfmot_scope():
    """quantize_scope with tinyasc's custom layers and QuantizeConfigs."""
    import tensorflow_model_optimization as tfmot

    return tfmot.quantization.keras.quantize_scope(custom_objects())


def _copy_weights(source, annotated) -> None:
    """clone_model rebuilds layers with fresh weights; copy the trained ones layer by layer (an
    annotated layer wraps the original, so its weights come in the same order)."""
    for original, copy in zip(source.layers, annotated.layers):
        copy.set_weights(original.get_weights())


def fine_tune(qat_model, dataset, epochs: int, learning_rate: float, batch_size: int = 32, seed: int = 0,
              input_fn=None, progress: bool = False):
    """Train the QAT model for `epochs` on the train split (val split monitored), Adam at a
    constant `learning_rate`; returns the Keras history dict."""
    tf, keras = import_tf()
    from tinyasc.data.pipeline import waveform_batches
    from tinyasc.train.loop import as_model_input

    input_fn = input_fn or as_model_input
    train, val = dataset.subset("train"), dataset.subset("val")
    qat_model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    input_shape = tuple(qat_model.input_shape[1:])
    # Batches stream from the splits (data/pipeline.py), so a dataset bigger than memory fine-tunes too.
    validation = waveform_batches(val.x, val.y, batch_size, input_fn=input_fn, input_shape=input_shape) if len(val) else None
    keras.utils.set_random_seed(seed)
    shuffles = np.random.default_rng(seed)
    history: dict[str, list] = {}
    for epoch in range(epochs):  # a fresh shuffle of the train split each epoch
        batches = waveform_batches(train.x, train.y, batch_size, order=shuffles.permutation(len(train)),
                                   input_fn=input_fn, input_shape=input_shape)
        fit = qat_model.fit(batches, validation_data=validation, epochs=epoch + 1, initial_epoch=epoch,
                            verbose=1 if progress else 0)
        for key, values in fit.history.items():
            history.setdefault(key, []).extend(values)
    return history


def save_qat_model(qat_model, path: str | Path) -> Path:
    """Write the QAT model as .h5 (the format that reloads; see the module docstring)."""
    path = Path(path)
    if path.suffix != ".h5":
        raise TinyascError(f"QAT models reload only from .h5; received: {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.h5")
    with warnings.catch_warnings():  # "HDF5 is legacy": it is the format QAT models reload from
        warnings.simplefilter("ignore", UserWarning)
        qat_model.save(tmp)
    tmp.replace(path)
    return path


def load_qat_model(path: str | Path):
    """Reload a QAT model written by save_qat_model."""
    _, keras = import_tf()
    import tensorflow_model_optimization as tfmot

    path = Path(path)
    if not path.is_file():
        raise TinyascError(f"no QAT model at {path}; train with quantization.mode: qat first")
    with tfmot.quantization.keras.quantize_scope(custom_objects()):
        return keras.models.load_model(path, compile=False)


def evaluate_int8(tflite_path, dataset, crop_samples: int, input_fn) -> dict:
    """Per-recording metrics of an int8 .tflite run by TFLM's interpreter (the device's reference):
    dequantized outputs averaged over each recording's crops, as the float evaluation does."""
    from tinyasc.report.metrics import recording_metrics
    from tinyasc.train.ptq import int8_recording_logits

    logits = int8_recording_logits(tflite_path, dataset, crop_samples, input_fn)
    metrics = recording_metrics(logits, dataset.y, len(dataset.labels)).as_dict()
    metrics.pop("confusion")
    return metrics
