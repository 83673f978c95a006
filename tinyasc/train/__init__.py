"""Training: the Keras fit loop with resumable checkpoints, recipes (schedules, weight decay,
distribution strategies) and evaluation per recording."""

from tinyasc.train.loop import TrainResult, evaluate_float, make_strategy, seed_everything, train_model

__all__ = ["TrainResult", "evaluate_float", "make_strategy", "seed_everything", "train_model"]
