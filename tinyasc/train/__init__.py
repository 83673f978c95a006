"""Training: the Keras fit loop with resumable checkpoints, and float evaluation."""

from tinyasc.train.loop import TrainResult, evaluate_float, seed_everything, train_model

__all__ = ["TrainResult", "evaluate_float", "seed_everything", "train_model"]
