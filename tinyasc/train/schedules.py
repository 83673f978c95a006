"""Learning-rate schedules: triangular2 cyclic learning rate (Smith, "Cyclical learning rates for
training neural networks", 2017), as IDLab train their ResNet-SE: 1e-3 ↔ 1e-6, a full cycle of
120 epochs, the peak halved after each cycle.

The rate is a pure function of the optimizer's step, so a resumed run (whose checkpoint restores
the step) continues on exactly the same curve.
"""

from __future__ import annotations

import math

from tinyasc.errors import TinyascError
from tinyasc.tf_env import import_tf


def triangular2_rate(step: float, min_rate: float, max_rate: float, half_cycle_steps: float) -> float:
    """The triangular2 rate at `step` (plain Python; the Keras schedule computes the same thing).

    Each cycle climbs linearly from min_rate for half_cycle_steps, then falls back; the height
    above min_rate is halved after every full cycle. Step 0 is min_rate.
    """
    cycle = math.floor(1 + step / (2 * half_cycle_steps))
    distance_from_peak = abs(step / half_cycle_steps - 2 * cycle + 1)  # 1 at the valleys, 0 at the peak
    return min_rate + (max_rate - min_rate) * max(0.0, 1 - distance_from_peak) / 2 ** (cycle - 1)


def triangular2_schedule(min_rate: float, max_rate: float, half_cycle_steps: int):
    """A keras LearningRateSchedule for triangular2, serialisable via get_config."""
    if not 0 < min_rate <= max_rate:
        raise TinyascError(
            f"triangular2 needs 0 < min_rate <= max_rate; received: min_rate={min_rate}, max_rate={max_rate}"
        )
    if half_cycle_steps < 1:
        raise TinyascError(f"triangular2 needs half_cycle_steps >= 1; received: {half_cycle_steps}")
    return _triangular2_class()(min_rate, max_rate, half_cycle_steps)


_TRIANGULAR2 = None


def _triangular2_class():
    """Define the schedule class on first use: importing this module must not import TensorFlow."""
    global _TRIANGULAR2
    if _TRIANGULAR2 is not None:
        return _TRIANGULAR2
    tf, keras = import_tf()

    @keras.utils.register_keras_serializable(package="tinyasc")
    class Triangular2(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(self, min_rate: float, max_rate: float, half_cycle_steps: int):
            self.min_rate = float(min_rate)
            self.max_rate = float(max_rate)
            self.half_cycle_steps = int(half_cycle_steps)

        def __call__(self, step):
            step = tf.cast(step, tf.float32)
            half = tf.constant(float(self.half_cycle_steps), tf.float32)
            cycle = tf.floor(1.0 + step / (2.0 * half))
            distance_from_peak = tf.abs(step / half - 2.0 * cycle + 1.0)
            height = (self.max_rate - self.min_rate) * tf.maximum(0.0, 1.0 - distance_from_peak)
            return self.min_rate + height / tf.pow(2.0, cycle - 1.0)

        def get_config(self):
            return {"min_rate": self.min_rate, "max_rate": self.max_rate, "half_cycle_steps": self.half_cycle_steps}

    _TRIANGULAR2 = Triangular2
    return Triangular2


class PlateauSchedule:
    """Pajusco's schedule: multiply the rate by `factor` whenever the validation loss has not gone
    below its best for `patience` epochs (then count again from zero), never below `min_rate`.

    Unlike Keras' ReduceLROnPlateau callback it keeps no state of its own: the rate of the next
    epoch is a function of the validation losses so far, which the run's history (state.json)
    holds, so a resumed run continues on exactly the same rates.
    """

    def __init__(self, initial_rate: float, factor: float = 0.5, patience: int = 5, min_rate: float = 0.0):
        if not 0 < factor < 1 or patience < 1 or initial_rate <= 0:
            raise TinyascError(
                f"plateau schedule needs initial_rate > 0, 0 < factor < 1 and patience >= 1; received: "
                f"initial_rate={initial_rate}, factor={factor}, patience={patience}"
            )
        self.initial_rate, self.factor = float(initial_rate), float(factor)
        self.patience, self.min_rate = int(patience), float(min_rate)

    def rate_after(self, val_losses: list[float]) -> float:
        """The rate for the epoch that follows these validation losses (the first epoch: [])."""
        rate, best, waited = self.initial_rate, math.inf, 0
        for loss in val_losses:
            if loss < best:
                best, waited = loss, 0
                continue
            waited += 1
            if waited >= self.patience:
                rate, waited = max(self.min_rate, rate * self.factor), 0
        return rate


def should_stop_early(val_losses: list[float], patience: int | None) -> bool:
    """True when the last `patience` epochs brought no validation loss below the best before them
    (a function of the history, so a resumed run stops where an uninterrupted one would)."""
    if not patience or len(val_losses) <= patience:
        return False
    best_epoch = min(range(len(val_losses)), key=lambda i: (val_losses[i], i))
    return len(val_losses) - 1 - best_epoch >= patience
