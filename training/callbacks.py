"""Callbacks of a training run: crash backups, the stop on a non-finite loss, throughput and learning-rate
logging, flip-TTA evaluation.

A run that diverges is stopped by an exception of its own type (`NonFiniteError`, `NonFiniteLossError`), so
that `training.train` tells divergence from any other failure by its type, never by the words of a message.
"""

import json
import os
import re
import shutil
import tempfile
import time

import keras
import numpy as np


def trained_batches(optimizer):
    """How many batches `optimizer` has trained on. That is Keras' `iterations`, except with gradient
    accumulation, where `iterations` counts updates (one per `gradient_accumulation_steps` batches): then it is
    the batch counter Keras keeps beside it (`_iterations`, read here because Keras exposes no other)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # under a LossScaleOptimizer
    counter = inner._iterations if inner.gradient_accumulation_steps else inner.iterations
    return int(keras.ops.convert_to_numpy(counter))


class CrashBackup(keras.callbacks.Callback):
    """Writes a resumable backup every `every_steps` optimizer steps and at every epoch end.

    A backup is a directory `step-<global step>/` holding the model and optimizer state
    (`state.weights.h5`: weights, BN statistics, optimizer slots and step counter) and `state.json`.
    It is written into a temporary directory and renamed into place, then `latest.json` is replaced
    atomically (`os.replace`) to point at it, so a crash (even SIGKILL) at any moment leaves the
    previous complete backup in use. Only the newest `keep` backups are kept, and only backups this
    callback wrote (`step-<9 digits>` folders holding its `state.json`) are ever deleted. A backup is never
    written from NaN or infinite weights, nor after an epoch whose loss or validation loss is not finite:
    `NonFiniteError` stops the run instead.

    Unlike `keras.callbacks.BackupAndRestore` (which replays an interrupted epoch from its start), the
    optimizer step count is the position: `training.train` resumes the data stream at exactly that step.
    Place this callback after `StopOnNonFiniteLoss` so a NaN step raises before it could be backed up
    (keras#21771).
    """

    def __init__(self, directory, every_steps, keep=2):
        super().__init__()
        self.directory = os.fspath(directory)
        self.every_steps = int(every_steps)
        self.keep = keep
        os.makedirs(self.directory, exist_ok=True)

    # ---- reading -------------------------------------------------------------------------------
    @staticmethod
    def latest(directory):
        """The newest complete backup's state dict (with its `path`), or None."""
        pointer = os.path.join(os.fspath(directory), "latest.json")
        if not os.path.exists(pointer):
            return None
        with open(pointer) as f:
            name = json.load(f)["backup"]
        path = os.path.join(os.fspath(directory), name)
        with open(os.path.join(path, "state.json")) as f:
            state = json.load(f)
        state["path"] = path
        return state

    @staticmethod
    def restore(model, state):
        """Loads the backup `state` (from `latest`) into `model`: weights, BN statistics and optimizer state."""
        model.load_weights(os.path.join(state["path"], "state.weights.h5"))

    # ---- writing -------------------------------------------------------------------------------
    def _step(self):
        return trained_batches(self.model.optimizer)

    def save(self, epoch):
        """Writes the backup of the current step (atomically; a no-op when it exists) and prunes older ones.

        Raises:
            NonFiniteError: the model holds NaN or infinite values; nothing is written.
        """
        # The loss a step reports is computed before its update, so a diverging step can leave
        # non-finite weights (often BatchNorm's moving variance) behind a finite loss: stop the run rather
        # than let them replace the last good backup.
        bad = [v.path for v in self.model.weights if not np.all(np.isfinite(keras.ops.convert_to_numpy(v)))]
        if bad:
            raise NonFiniteError(f"{len(bad)} of the model's variables hold NaN or infinite values, e.g. {bad[:3]}")
        step = self._step()
        name = f"step-{step:09d}"
        final = os.path.join(self.directory, name)
        if os.path.exists(final):
            return
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=self.directory)
        try:
            self.model.save_weights(os.path.join(tmp, "state.weights.h5"))
            with open(os.path.join(tmp, "state.json"), "w") as f:
                json.dump({"global_step": step, "epoch": epoch, "time": time.time()}, f)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        pointer_tmp = os.path.join(self.directory, ".latest.json.tmp")
        with open(pointer_tmp, "w") as f:
            json.dump({"backup": name}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(pointer_tmp, os.path.join(self.directory, "latest.json"))
        backups = sorted(d for d in os.listdir(self.directory) if self._is_backup(d))
        for old in backups[: -self.keep]:
            shutil.rmtree(os.path.join(self.directory, old), ignore_errors=True)

    def _is_backup(self, name):
        """A folder this callback writes: `step-<9 digits>` with exactly its two files."""
        path = os.path.join(self.directory, name)
        return (re.fullmatch(r"step-\d{9}", name) is not None and not os.path.islink(path) and os.path.isdir(path)
                and sorted(os.listdir(path)) == ["state.json", "state.weights.h5"])

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        # `>=` rather than `%`: with steps_per_execution > 1 this runs only every few steps.
        step = self._step()
        if self.every_steps and step - getattr(self, "_last_saved", 0) >= self.every_steps:
            self._last_saved = step - step % self.every_steps
            self.save(self._epoch)

    def on_epoch_end(self, epoch, logs=None):
        for key in ("loss", "val_loss"):
            value = (logs or {}).get(key)
            if value is not None and not np.isfinite(value):
                raise NonFiniteError(f"The epoch's {key} is {value}")
        self.save(epoch + 1)


class NonFiniteError(RuntimeError):
    """Raised by `CrashBackup` when the weights or the epoch's losses are NaN or infinite: the run diverged."""


class NonFiniteLossError(NonFiniteError):
    """Raised by `StopOnNonFiniteLoss` when a training step's loss is NaN or infinite: the run diverged."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first step whose loss is NaN or infinite, by raising `NonFiniteLossError`.

    `keras.callbacks.TerminateOnNaN(raise_error=True)` does the same with a plain `RuntimeError`, which the
    run could only tell from other failures by its message. Raising (rather than setting `stop_training`)
    skips every later callback of the step and `on_train_end`, so the last good backup is never overwritten.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            raise NonFiniteLossError(f"The loss became NaN or infinite ({loss})")


class ThroughputLogger(keras.callbacks.Callback):
    """Adds `learning_rate` and `images_per_second` to the logs every other callback sees."""

    def __init__(self, global_batch_size):
        super().__init__()
        self.global_batch_size = global_batch_size

    def _learning_rate(self):
        return float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._batch_start = self._epoch_start
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        # With steps_per_execution > 1 Keras calls this once per execution, `batch` being its last step's index.
        now = time.perf_counter()
        steps = batch + 1 - self._steps
        if logs is not None:
            logs["learning_rate"] = self._learning_rate()
            logs["images_per_second"] = steps * self.global_batch_size / max(now - self._batch_start, 1e-9)
        self._batch_start = now
        self._steps = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        # Training time only: Keras calls on_epoch_end after the validation pass.
        if logs is not None:
            elapsed = self._batch_start - self._epoch_start
            logs["learning_rate"] = self._learning_rate()
            logs["images_per_second"] = self._steps * self.global_batch_size / max(elapsed, 1e-9)
            logs["epoch_seconds"] = elapsed
            # Wall time of the whole epoch, the per-epoch evaluation included (time to accuracy).
            logs["epoch_wall_seconds"] = time.perf_counter() - self._epoch_start


class FlipTTAEvaluation(keras.callbacks.Callback):
    """After every epoch, evaluates `tta_model` (`training.train.flip_tta_evaluator`: the trained model with
    flip test-time augmentation) on `dataset` and logs `val_flip_tta_accuracy` and `val_flip_tta_loss`.

    Place it first in the callback list: Keras calls callbacks in order, so the epoch's wall time
    (`ThroughputLogger`), the CSV history and W&B then include it.
    """

    def __init__(self, tta_model, dataset):
        super().__init__()
        self.tta_model = tta_model
        self.dataset = dataset

    def on_epoch_end(self, epoch, logs=None):
        loss, accuracy = self.tta_model.evaluate(self.dataset, verbose=0)
        if logs is not None:
            logs["val_flip_tta_loss"] = float(loss)
            logs["val_flip_tta_accuracy"] = float(accuracy)


class EMAEvaluation(keras.callbacks.Callback):
    """After every epoch, evaluates the EMA of the weights (`optimizer.ema_momentum`) on `dataset` and logs
    `val_ema_accuracy` and `val_ema_loss` beside the raw weights' `val_*`: the averages are swapped into the
    model for the evaluation and swapped back (`keras.callbacks.SwapEMAWeights`). Place it first, as
    `FlipTTAEvaluation`."""

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset

    def on_epoch_end(self, epoch, logs=None):
        swap = keras.callbacks.SwapEMAWeights(swap_on_epoch=False)
        swap.set_model(self.model)
        swap.on_test_begin()
        try:
            loss, accuracy = self.model.evaluate(self.dataset, verbose=0)
        finally:
            swap.on_test_end()
        if logs is not None:
            logs["val_ema_loss"] = float(loss)
            logs["val_ema_accuracy"] = float(accuracy)
