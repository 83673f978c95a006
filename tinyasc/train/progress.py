"""Training progress: a rich bar per epoch on a terminal, one flushed line per epoch in a log, and
the epoch's throughput (clips/s, and where the time went: input stages vs training steps).
"""

from __future__ import annotations

import time

from tinyasc.tf_env import import_tf

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


def epoch_timer(train_clips: int, times):
    """A Keras callback timing each epoch: wall time, the training part of it, the time inside
    training steps (an input stall shows up here too, as a step waits for its batch), then with the
    pipeline's InputTimes (decode, augment, features: seconds over all input threads) a record
    in `.last`."""
    _, keras = import_tf()

    class EpochTimer(keras.callbacks.Callback):
        last: dict = {}

        def on_epoch_begin(self, _epoch, logs=None):
            self.start = self.batch_start = time.perf_counter()
            self.step_seconds, self.train_end = 0.0, None

        def on_train_batch_begin(self, batch, logs=None):
            self.batch_start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.step_seconds += time.perf_counter() - self.batch_start

        def on_test_begin(self, logs=None):
            self.train_end = self.train_end or time.perf_counter()

        def on_epoch_end(self, _epoch, logs=None):
            now = time.perf_counter()
            train_seconds = (self.train_end or now) - self.start
            self.last = {"seconds": round(now - self.start, 3), "train_seconds": round(train_seconds, 3),
                         "clips_per_s": round(train_clips / max(train_seconds, 1e-9), 1),
                         "step_s": round(self.step_seconds, 3), **times.take()}

    return EpochTimer()


def throughput_text(record: dict) -> str:
    """'123 clips/s (decode 1.2 s, augment 0.3 s, features 2.0 s, step 4.1 s)' for a log line."""
    if not record:
        return ""
    parts = ", ".join(f"{name} {record[name + '_s']:.1f} s" for name in ("decode", "augment", "features", "step")
                      if record.get(name + "_s"))
    return f"{record['clips_per_s']:.0f} clips/s ({parts})"


class NoBar:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


class EpochLines:
    """Progress when stdout is a file or a pipe: one flushed line per epoch, with its time and the
    ETA from the mean epoch time so far (a live bar would reach a log only at exit)."""

    def __enter__(self):
        self.seconds: list[float] = []
        return self

    def __exit__(self, *exc):
        return False

    def epoch_done(self, epoch: int, epochs: int, seconds: float, logs: dict, throughput: str = "") -> None:
        self.seconds.append(seconds)
        eta = (epochs - epoch - 1) * sum(self.seconds) / len(self.seconds)
        metrics = "  ".join(f"{k} {logs[k]:.3f}" for k in HISTORY_KEYS if k in logs)
        throughput = f"  {throughput}" if throughput else ""
        print(f"epoch {epoch + 1}/{epochs}  {seconds:.1f} s  {metrics}{throughput}  ETA {_duration(eta)}", flush=True)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def progress_bar(enabled: bool):
    """A rich Progress (context manager) on a terminal, flushed epoch lines elsewhere, or a context
    that yields None when progress is off."""
    import sys

    if not enabled:
        return NoBar()
    if not sys.stdout.isatty():
        return EpochLines()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[metrics]}"),
    )


def epoch_progress(bar, epoch: int, epochs: int, timer=None):
    """A Keras callback drawing one rich progress bar for this epoch: batches done, then the
    epoch's loss/accuracy. Defined here, not at module level, so importing this module is cheap."""
    _, keras = import_tf()

    if isinstance(bar, EpochLines):
        class EpochLine(keras.callbacks.Callback):
            def on_epoch_begin(self, _epoch, logs=None):
                self.start = time.monotonic()

            def on_epoch_end(self, _epoch, logs=None):
                bar.epoch_done(epoch, epochs, time.monotonic() - self.start, logs or {},
                               throughput_text(timer.last) if timer else "")

        return EpochLine()

    class EpochProgress(keras.callbacks.Callback):
        def on_epoch_begin(self, _epoch, logs=None):
            steps = self.params.get("steps") or 0
            self.task = bar.add_task(f"epoch {epoch + 1}/{epochs}", total=steps, metrics="")

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            bar.update(self.task, advance=1, metrics=f"loss {loss:.3f}" if loss is not None else "")

        def on_epoch_end(self, _epoch, logs=None):
            logs = logs or {}
            metrics = "  ".join(f"{k} {logs[k]:.3f}" for k in HISTORY_KEYS if k in logs)
            throughput = throughput_text(timer.last) if timer else ""
            bar.update(self.task, metrics=f"{metrics}  {throughput}" if throughput else metrics)

    return EpochProgress()
