"""Structured pruning as in Pajusco et al.: iterative L1-norm filter pruning with fine-tuning.

Each step removes the `step_fraction` of filters with the smallest L1 norm from every prunable
Conv2D, physically: the conv loses output channels, the BN after it loses the same channels, and
the next conv or dense layer loses the matching input channels. The result is a smaller plain
Keras model, so the .tflite and the generated C shrink with it. Between steps the model is
fine-tuned at a low learning rate (1e-5 in the paper).

Which convs are pruned: a Conv2D (groups=1) whose output reaches, through channel-wise layers only
(BatchNormalization, ReLU/Activation, pooling, Dropout), nothing but Conv2D (groups=1) or Dense
inputs. That covers the anchor and the VGG-like Pajusco A/B completely. In the ResNets C/D the
first conv of each basic block is pruned; a conv whose output reaches a residual Add (the block's
second conv, the projection shortcut, and every conv before an identity shortcut) is refused and
kept whole, because all branches of an Add would have to drop the same channels. Grouped/depthwise
convs, convs feeding them (in idlab_resnet_se only the input conv is pruned) and a conv whose channels
are the model's output are refused too; `refused` says why per layer.

Removing a filter equals zeroing it: a filter whose kernel, bias and following BN γ, β are zero
outputs exact zeros, which the next layer ignores (`mask_filters` builds that masked model).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyasc.errors import TinyascError
from tinyasc.tf_env import import_tf

STEP_MODEL_FILE = "pruned.h5"
STEP_INFO_FILE = "step.json"


@dataclass
class StructuredPruningResult:
    """The physically pruned model and one record per pruning step."""

    model: object
    steps: list[dict] = field(default_factory=list)  # {step, filters, parameters, val_accuracy}
    refused: dict[str, str] = field(default_factory=dict)  # conv name → why it is kept whole

    def as_dict(self) -> dict:
        return {"parameters": int(self.model.count_params()), "steps": self.steps, "refused": self.refused}


def _channel_wise_types():
    """Layers that act on each channel separately: a removed channel passes straight through."""
    _, keras = import_tf()
    L = keras.layers
    return (L.BatchNormalization, L.ReLU, L.Activation, L.LeakyReLU, L.MaxPooling2D, L.AveragePooling2D,
            L.GlobalAveragePooling2D, L.GlobalMaxPooling2D, L.Dropout, L.ZeroPadding2D)


def _is_plain_conv(layer) -> bool:
    _, keras = import_tf()
    return type(layer) is keras.layers.Conv2D and layer.groups == 1


def _graph(model) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(inbound layer names, outbound layer names) per layer, from the functional config."""
    config = model.get_config()
    if "layers" not in config or not all("inbound_nodes" in spec for spec in config["layers"]):
        raise TinyascError(f"structured pruning needs a functional Keras model; {model.name} is not one")
    inbound = {}
    for spec in config["layers"]:
        names = []
        for node in spec["inbound_nodes"]:
            names += [entry[0] for entry in node]
        inbound[spec["name"]] = names
    outbound = {name: [] for name in inbound}
    for name, sources in inbound.items():
        for source in sources:
            outbound[source].append(name)
    return inbound, outbound


def prunable_convs(model) -> tuple[list[str], dict[str, str]]:
    """(names of the Conv2D layers whose filters can be removed, {conv name: why not} for the rest)."""
    channel_wise = _channel_wise_types()
    _, keras = import_tf()
    _, outbound = _graph(model)
    output_names = {t._keras_history.layer.name for t in model.outputs}
    prunable, refused = [], {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        if not _is_plain_conv(layer):
            refused[layer.name] = f"{type(layer).__name__} with groups={getattr(layer, 'groups', '?')}: channels are tied to its input"
            continue
        reason = _why_not_prunable(model, layer.name, outbound, output_names, channel_wise)
        if reason:
            refused[layer.name] = reason
        else:
            prunable.append(layer.name)
    return prunable, refused


def _why_not_prunable(model, name, outbound, output_names, channel_wise) -> str | None:
    _, keras = import_tf()
    pending, seen = [name], set()
    while pending:
        current = pending.pop()
        if current in output_names:
            return "its channels are the model's output"
        for consumer_name in outbound[current]:
            if consumer_name in seen:
                continue
            seen.add(consumer_name)
            consumer = model.get_layer(consumer_name)
            if isinstance(consumer, channel_wise):
                pending.append(consumer_name)
            elif not (_is_plain_conv(consumer) or type(consumer) is keras.layers.Dense):
                groups = getattr(consumer, "groups", 1)
                kind = type(consumer).__name__ + (f" with groups={groups}" if groups != 1 else "")
                return (f"its output reaches {consumer_name} ({kind}), whose input channels must stay "
                        "aligned with its other inputs or groups; kept whole")
    return None


def l1_filter_plan(model, step_fraction: float, convs: list[str] | None = None) -> dict[str, np.ndarray]:
    """{conv name: sorted indices of the filters to keep}: each prunable conv drops
    floor(step_fraction × filters) filters (at least one while it has two or more) with the smallest
    L1 norm of their kernel; ties go to the lower index, so the plan is deterministic."""
    if not 0.0 < step_fraction < 1.0:
        raise TinyascError(f"step_fraction must be between 0 and 1 (0.2 = a fifth of the filters per step); received: {step_fraction}")
    if convs is None:
        convs, _ = prunable_convs(model)
    plan = {}
    for name in convs:
        kernel = model.get_layer(name).get_weights()[0]
        filters = kernel.shape[-1]
        drop = min(filters - 1, max(1, math.floor(step_fraction * filters))) if filters > 1 else 0
        norms = np.abs(kernel).reshape(-1, filters).sum(axis=0)
        order = np.argsort(-norms, kind="stable")  # largest first, lower index first among ties
        plan[name] = np.sort(order[: filters - drop])
    return plan


def mask_filters(model, plan: dict[str, np.ndarray]) -> None:
    """Zero, in place, every filter the plan drops: its kernel, its bias and the γ, β of the BNs
    that follow, so that the dropped channels are exact zeros wherever the next layer reads them."""
    channel_wise = _channel_wise_types()
    _, keras = import_tf()
    _, outbound = _graph(model)
    for name, keep in plan.items():
        conv = model.get_layer(name)
        drop = np.setdiff1d(np.arange(conv.filters), keep)
        weights = conv.get_weights()
        weights[0][..., drop] = 0
        if conv.use_bias:
            weights[1][drop] = 0
        conv.set_weights(weights)
        pending = [name]
        while pending:
            for consumer_name in outbound[pending.pop()]:
                consumer = model.get_layer(consumer_name)
                if not isinstance(consumer, channel_wise):
                    continue
                if isinstance(consumer, keras.layers.BatchNormalization):
                    bn = dict(zip((w.name.split("/")[-1].split(":")[0] for w in consumer.weights), consumer.get_weights()))
                    for key in ("gamma", "beta"):
                        if key in bn:
                            bn[key][drop] = 0
                    consumer.set_weights([bn[w.name.split("/")[-1].split(":")[0]] for w in consumer.weights])
                pending.append(consumer_name)


def remove_filters(model, plan: dict[str, np.ndarray]):
    """A new, smaller model without the filters the plan drops (and their downstream channels);
    the other weights are copied. Same layer names, same predictions as `mask_filters`' model."""
    _, keras = import_tf()
    inbound, _ = _graph(model)
    kept_out: dict[str, np.ndarray | None] = {}  # None: every channel kept
    kept_in: dict[str, np.ndarray | None] = {}
    for layer in model.layers:
        sources = inbound[layer.name]
        incoming = kept_out[sources[0]] if len(sources) == 1 else None
        if len(sources) > 1 and any(kept_out[s] is not None for s in sources):
            raise TinyascError(f"{layer.name} joins pruned channels; structured pruning cannot align them")
        kept_in[layer.name] = incoming
        if isinstance(layer, keras.layers.Conv2D) or type(layer) is keras.layers.Dense:
            kept_out[layer.name] = plan.get(layer.name) if isinstance(layer, keras.layers.Conv2D) else None
        elif isinstance(layer, _channel_wise_types()):
            kept_out[layer.name] = incoming
        elif incoming is not None:
            raise TinyascError(f"{layer.name} ({type(layer).__name__}) reads pruned channels; structured pruning cannot follow it")
        else:
            kept_out[layer.name] = None

    config = model.get_config()
    for spec in config["layers"]:
        if spec["name"] in plan:
            spec["config"]["filters"] = int(len(plan[spec["name"]]))
    smaller = keras.Model.from_config(config)
    for layer in smaller.layers:
        old = model.get_layer(layer.name)
        layer.set_weights(_slice_weights(old, kept_in[layer.name], kept_out[layer.name]))
    return smaller


def _slice_weights(layer, keep_in, keep_out) -> list[np.ndarray]:
    _, keras = import_tf()
    weights = layer.get_weights()
    if isinstance(layer, keras.layers.Conv2D):
        kernel = weights[0]
        if keep_in is not None:
            kernel = kernel[:, :, keep_in, :]
        if keep_out is not None:
            kernel = kernel[..., keep_out]
            weights = [kernel] + [w[keep_out] for w in weights[1:]]
        else:
            weights = [kernel] + weights[1:]
    elif type(layer) is keras.layers.Dense and keep_in is not None:
        weights = [weights[0][keep_in, :]] + weights[1:]
    elif isinstance(layer, keras.layers.BatchNormalization) and keep_in is not None:
        weights = [w[keep_in] for w in weights]
    return weights


def filter_counts(model) -> dict[str, int]:
    _, keras = import_tf()
    return {layer.name: int(layer.filters) for layer in model.layers if isinstance(layer, keras.layers.Conv2D)}


def structured_prune(
    model,
    dataset,
    run_dir: str | os.PathLike,
    step_fraction: float = 0.2,
    steps: int = 1,
    fine_tune_epochs: int = 1,
    learning_rate: float = 1e-5,
    batch_size: int = 32,
    seed: int = 0,
    input_fn=None,
    progress: bool = False,
    resume: bool = False,
    augmentation=None,
) -> StructuredPruningResult:
    """`steps` rounds of: drop the step_fraction of filters with the smallest L1 norm from every
    prunable conv, then fine-tune `fine_tune_epochs` epochs at `learning_rate`.

    Each finished step is saved in run_dir/step_<k>/ (pruned.h5, step.json); resume=True continues
    after the last finished step, and inside a step from train_model's last checkpoint.
    augmentation goes to train_model as it is.
    """
    from tinyasc.train.loop import train_model

    _, keras = import_tf()
    if steps < 1:
        raise TinyascError(f"structured pruning needs steps >= 1; received: {steps}")
    if fine_tune_epochs < 0:
        raise TinyascError(f"fine_tune_epochs must be >= 0; received: {fine_tune_epochs}")
    run_dir = Path(run_dir)
    convs, refused = prunable_convs(model)
    if not convs:
        reasons = "; ".join(f"{k}: {v}" for k, v in refused.items()) or "it has no Conv2D"
        raise TinyascError(f"model {model.name} has no conv whose filters can be removed ({reasons})")
    records: list[dict] = []
    first_step = 1
    if resume:
        for step in range(steps, 0, -1):
            info = run_dir / f"step_{step}" / STEP_INFO_FILE
            if info.is_file():
                model = keras.models.load_model(info.parent / STEP_MODEL_FILE, compile=False)
                records = json.loads(info.read_text())["records"]
                first_step = step + 1
                break
    for step in range(first_step, steps + 1):
        step_dir = run_dir / f"step_{step}"
        model = remove_filters(model, l1_filter_plan(model, step_fraction, convs))
        val_accuracy = None
        if fine_tune_epochs:
            trained = train_model(model, dataset, step_dir, epochs=fine_tune_epochs, batch_size=batch_size,
                                  learning_rate=learning_rate, seed=seed, progress=progress, resume=resume,
                                  input_fn=input_fn, augmentation=augmentation)
            model, val_accuracy = trained.model, float(trained.val_accuracy)
        records.append({"step": step, "filters": filter_counts(model), "parameters": int(model.count_params()),
                        "val_accuracy": val_accuracy})
        _save_step(model, step_dir, records)
    return StructuredPruningResult(model, records, refused)


def _save_step(model, step_dir: Path, records: list[dict]) -> None:
    """The step's model, then step.json (written last: it marks the step finished)."""
    step_dir.mkdir(parents=True, exist_ok=True)
    tmp = step_dir / ("tmp_" + STEP_MODEL_FILE)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*HDF5 file.*legacy", category=UserWarning)
        model.save(tmp, include_optimizer=False)
    os.replace(tmp, step_dir / STEP_MODEL_FILE)
    info = step_dir / (STEP_INFO_FILE + ".tmp")
    info.write_text(json.dumps({"records": records}, indent=1) + "\n")
    os.replace(info, step_dir / STEP_INFO_FILE)
