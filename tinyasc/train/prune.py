"""Unstructured magnitude pruning with TF-MOT: wrap, fine-tune to a target sparsity, strip.

    trained model → prune_low_magnitude on every built-in layer with a kernel (Conv2D, Dense, …)
                  → fine-tune with train_model (checkpoints: the wrappers' masks and pruning step
                    are variables, so a killed run resumes where it stopped)
                  → masks applied once more, wrappers stripped → a plain Keras model with zeros.

TFLite stores no sparsity: the zeros pay off only in tinyasc's own C (sparse weight formats).
The schedule's `frequency` is derived from the steps per epoch, because TF-MOT's usual
frequency=100 never prunes in a short run (DESIGN §3). Custom layers TF-MOT cannot wrap
(weight-sampling, squeeze-and-excitation, …) stay dense and are reported as skipped.

Prune-preserving QAT: pass `prune_preserving_scheme()` as the QAT scheme, so quantization-aware
training keeps the zeros (TF-MOT's Default8BitPrunePreserveQuantizeScheme).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyasc.errors import TinyascError
from tinyasc.tf_env import import_tf

SCHEDULES = ("polynomial", "constant")
PRUNES_PER_EPOCH = 4  # mask updates per epoch: often enough to follow the polynomial ramp


@dataclass
class PruningResult:
    """The stripped model (plain Keras layers, pruned weights are exact zeros) and what happened."""

    model: object
    layer_sparsity: dict[str, float]  # fraction of zero weights in each pruned kernel
    skipped: list[str] = field(default_factory=list)  # layers with weights TF-MOT could not wrap
    val_accuracy: float = 0.0

    def as_dict(self) -> dict:
        return {
            "layer_sparsity": self.layer_sparsity,
            "skipped": self.skipped,
            "parameters": int(self.model.count_params()),
            "nonzero_parameters": nonzero_parameters(self.model),
            "val_accuracy": self.val_accuracy,
        }


def pruning_schedule(kind: str, target_sparsity: float, steps_per_epoch: int, epochs: int):
    """TF-MOT schedule reaching `target_sparsity` within the run.

    polynomial: 0 → target over the first half of the fine-tuning (at least one epoch), then held,
    so the second half recovers accuracy at the final sparsity. constant: target from step 0.
    Masks are updated PRUNES_PER_EPOCH times per epoch; the ramp ends on an update step.
    """
    import tensorflow_model_optimization as tfmot

    _check_sparsity(target_sparsity)
    if kind not in SCHEDULES:
        raise TinyascError(f"unknown pruning schedule {kind!r}; expected one of {', '.join(SCHEDULES)}")
    if steps_per_epoch < 1 or epochs < 1:
        raise TinyascError(f"pruning needs at least one step and one epoch; received {steps_per_epoch} steps × {epochs} epochs")
    frequency = max(1, steps_per_epoch // PRUNES_PER_EPOCH)
    ramp_steps = steps_per_epoch * max(1, math.ceil(epochs / 2))
    end_step = frequency * ((ramp_steps - 1) // frequency)  # ≤ the last step, and an update step
    if kind == "constant" or end_step == 0:
        return tfmot.sparsity.keras.ConstantSparsity(target_sparsity, begin_step=0, frequency=frequency)
    return tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=target_sparsity, begin_step=0, end_step=end_step, frequency=frequency
    )


def wrap_for_pruning(model, schedule) -> tuple[object, list[str]]:
    """(model with prune_low_magnitude around every prunable layer, notes on skipped layers).

    The wrappers hold the original layers, so the new model starts from `model`'s weights.
    """
    import tensorflow_model_optimization as tfmot
    from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import PruneLowMagnitude

    _, keras = import_tf()
    skipped: list[str] = []

    def wrap(layer):
        if _tfmot_can_prune(layer):
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        if layer.weights and not _tfmot_knows(layer):
            skipped.append(f"{layer.name} ({type(layer).__name__}): TF-MOT cannot prune this layer type; left dense")
        return layer

    if not isinstance(model, keras.Model) or not hasattr(model, "_is_graph_network") or not model._is_graph_network:
        raise TinyascError("pruning needs a functional or Sequential Keras model (tf_keras); subclassed models cannot be cloned")
    wrapped = keras.models.clone_model(model, clone_function=wrap)
    if not any(isinstance(layer, PruneLowMagnitude) for layer in wrapped.layers):
        raise TinyascError(f"model {model.name} has no layer TF-MOT can prune (Conv2D, Dense, …); nothing to prune")
    return wrapped, skipped


def strip_pruning(wrapped):
    """Apply each wrapper's mask to its weights one last time, then remove the wrappers."""
    import tensorflow_model_optimization as tfmot
    from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import PruneLowMagnitude

    for layer in wrapped.layers:
        if isinstance(layer, PruneLowMagnitude):
            layer.pruning_obj.weight_mask_op()
    return tfmot.sparsity.keras.strip_pruning(wrapped)


def prune_and_fine_tune(
    model,
    dataset,
    run_dir: str | os.PathLike,
    target_sparsity: float,
    schedule: str = "polynomial",
    epochs: int = 2,
    learning_rate: float = 1e-4,
    batch_size: int = 32,
    seed: int = 0,
    input_fn=None,
    progress: bool = False,
    resume: bool = False,
    augmentation=None,
    callbacks: tuple = (),
) -> PruningResult:
    """Prune a trained `model` to `target_sparsity` while fine-tuning it for `epochs` epochs on the
    dataset's train split; checkpoints in `run_dir` (resume=True continues a killed run).
    augmentation and callbacks go to train_model as they are.

    Returns the last epoch's model, not the best-validation one: with a polynomial schedule an
    earlier epoch can be less sparse than asked.
    """
    import tensorflow_model_optimization as tfmot

    from tinyasc.train.loop import train_model

    tf, keras = import_tf()
    steps_per_epoch = math.ceil(len(dataset.subset("train")) / batch_size)
    # The wrappers train the layers they hold: give them a copy, so the caller's model stays as it was.
    original, model = model, keras.models.clone_model(model)
    model.set_weights(original.get_weights())
    wrapped, skipped = wrap_for_pruning(model, pruning_schedule(schedule, target_sparsity, steps_per_epoch, epochs))
    run_dir = Path(run_dir)
    with tfmot.sparsity.keras.prune_scope():  # a resumed train_model reloads the wrapped best model
        trained = train_model(
            wrapped, dataset, run_dir, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
            progress=progress, resume=resume, input_fn=input_fn, augmentation=augmentation,
            callbacks=(tfmot.sparsity.keras.UpdatePruningStep(), *callbacks),
        )
    last = tf.train.latest_checkpoint(run_dir / "ckpt")
    tf.train.Checkpoint(model=wrapped).read(last).expect_partial()
    stripped = strip_pruning(wrapped)
    # The last epoch's validation accuracy: the model returned is the last epoch's.
    return PruningResult(stripped, kernel_sparsity(stripped), skipped, float(trained.history["val_accuracy"][-1]))


def prune_configured(config, trained, dataset, run_dir: str | os.PathLike, input_fn=None, augmentation=None,
                     progress: bool = False, resume: bool = False) -> tuple[object, dict]:
    """The run step between training and quantization: structured pruning, then unstructured
    pruning, as the config's `structured_pruning:` and `pruning:` sections ask (either may be
    absent). Returns (the TrainResult with the pruned model, a report for run.json; {} when the
    config asks for neither). Work goes to run_dir/structured_pruning and run_dir/pruning."""
    import dataclasses

    from tinyasc.train.structured import structured_prune

    report: dict = {}
    model, run_dir, recipe = trained.model, Path(run_dir), config.training
    val_accuracy = trained.val_accuracy
    common = {"batch_size": recipe.batch_size, "seed": recipe.seed, "input_fn": input_fn, "progress": progress,
              "resume": resume, "augmentation": augmentation}
    if config.structured_pruning is not None:
        settings = config.structured_pruning
        result = structured_prune(model, dataset, run_dir / "structured_pruning", settings.step_fraction,
                                  settings.steps, settings.fine_tune_epochs, settings.learning_rate, **common)
        model, report["structured_pruning"] = result.model, result.as_dict()
        if result.steps[-1]["val_accuracy"] is not None:
            val_accuracy = result.steps[-1]["val_accuracy"]
    if config.pruning is not None:
        settings = config.pruning
        result = prune_and_fine_tune(model, dataset, run_dir / "pruning", settings.target_sparsity, settings.schedule,
                                     settings.epochs, settings.learning_rate, **common)
        model, report["pruning"], val_accuracy = result.model, result.as_dict(), result.val_accuracy
    if report:
        report["nonzero_parameters"] = nonzero_parameters(model)
        # run.json's val_accuracy then describes the pruned model, as its test accuracy does.
        trained = dataclasses.replace(trained, model=model, val_accuracy=val_accuracy)
    return trained, report


def prune_preserving_scheme():
    """The TF-MOT QAT scheme that keeps pruned weights at zero (give it to QAT as `scheme`)."""
    import tensorflow_model_optimization as tfmot

    return tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()


def kernel_sparsity(model) -> dict[str, float]:
    """Fraction of exact zeros in the kernel of every layer that has one (biases excluded)."""
    sparsity = {}
    for layer in _all_layers(model):
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and not isinstance(kernel, (list, tuple)):
            values = np.asarray(kernel.numpy() if hasattr(kernel, "numpy") else kernel)
            sparsity[layer.name] = float(np.mean(values == 0))
    return sparsity


def nonzero_parameters(model) -> int:
    """Parameters that are not exactly zero (all weights, BN statistics included)."""
    return int(sum(np.count_nonzero(w) for w in model.get_weights()))


def _tfmot_can_prune(layer) -> bool:
    import tensorflow_model_optimization as tfmot
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import PruneRegistry

    if isinstance(layer, tfmot.sparsity.keras.PrunableLayer):
        return True
    # Supported with an empty weight list (BN, pooling, ReLU…): nothing to prune, no wrapper needed.
    return PruneRegistry.supports(layer) and bool(PruneRegistry._weight_names(layer))


def _tfmot_knows(layer) -> bool:
    """A built-in layer TF-MOT knows, with weights it deliberately leaves dense (BatchNormalization)."""
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import PruneRegistry

    return PruneRegistry.supports(layer)


def _all_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _all_layers(layer)
        else:
            yield layer


def _check_sparsity(target_sparsity: float) -> None:
    if not 0.0 < target_sparsity < 1.0:
        raise TinyascError(f"target sparsity must be between 0 and 1 (0.5 = half the weights zero); received: {target_sparsity}")
