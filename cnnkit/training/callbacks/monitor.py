"""Callbacks that watch a logged quantity: EarlyStopping, ReduceLROnPlateau, ModelCheckpoint; and
LearningRateScheduler, CSVLogger."""

import csv
import os
import warnings

import numpy as np

from cnnkit.training.callbacks.callback import Callback
from cnnkit.training.callbacks.callback import check_save_freq


def _mode_is_max(monitor, mode, owner):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max'. Received: mode={mode!r}")
    if mode == "auto":
        name = monitor.removeprefix("val_")
        return name in ("acc", "accuracy", "auc") or name.endswith("accuracy") or name.endswith("_acc")
    return mode == "max"


def _compiled_direction(model, monitor):
    """'up' / 'down' of the compiled metric named `monitor` (without 'val_'), Keras 3's rule for mode='auto'
    (Precision, AUC, F1Score, IoU, R2Score, ... are maximised; errors and crossentropies minimised); None when
    the metrics are not built yet or the metric has no direction."""
    lookup = getattr(model, "compiled_metric", None)
    name = monitor.removeprefix("val_")
    metric = lookup(name) if lookup is not None else None
    if metric is None:
        return None
    if name == "loss":
        return "down"
    return metric.direction if getattr(metric, "direction", None) in ("up", "down") else None


def _is_nan(value):
    try:
        return bool(np.isnan(value))
    except TypeError:
        return False


class MonitorCallback(Callback):
    """Base: tracks the best value of `monitor` ('val_loss' by default) in direction `mode`."""

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0.0, baseline=None):
        super().__init__()
        self.monitor, self.min_delta, self.baseline = monitor, abs(min_delta), baseline
        self.maximize = _mode_is_max(monitor, mode, type(self).__name__)
        self._auto = mode == "auto"  # settled from the compiled metric's direction once the metrics are built
        self.best = None

    def improved(self, current, reference):
        """Whether `current` beats `reference` (None: nothing yet) by `min_delta`. A NaN is never an improvement,
        so a NaN epoch is never "best" (Keras 3 takes a first NaN as best, and then nothing beats it)."""
        if self._auto:
            direction = _compiled_direction(self.model, self.monitor)
            if direction is not None:
                self.maximize, self._auto = direction == "up", False
        if _is_nan(current):
            return False
        if reference is None or _is_nan(reference):
            return True
        if self.maximize:
            return current - self.min_delta > reference
        return current + self.min_delta < reference

    def current(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{type(self).__name__}: '{self.monitor}' is not in the logs (available: "
                          f"{sorted(logs or {})}); skipping this epoch.", stacklevel=3)
        return value


class EarlyStopping(MonitorCallback):
    """Stops training when `monitor` has not improved by `min_delta` for `patience` epochs (Keras's rules).

    Args:
        monitor: default 'val_loss'.
        min_delta, patience, baseline, start_from_epoch: as in Keras.
        mode: 'auto' (the compiled metric's direction, as Keras 3: max for accuracies, Precision, Recall, AUC,
            F-scores, IoUs, R2Score; min for the loss, errors and crossentropies; otherwise max for names of
            accuracies, min for the rest), 'min' or 'max'.
        restore_best_weights: put back the weights of the best epoch when training ends.

    A NaN monitored value counts as an epoch without improvement and is never the best (Keras 3 keeps a first
    NaN as best for the whole run, so restore_best_weights would put back that epoch's weights).
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta, baseline)
        self.patience, self.verbose = patience, verbose
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0

    def on_epoch_end(self, epoch, logs=None):
        current = self.current(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self.improved(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self.improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies the learning rate by `factor` when `monitor` stalls for `patience` epochs (Keras's rules; a NaN
    monitored value counts as an epoch without improvement, where Keras 3 keeps a first NaN as best)."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__(monitor, mode, min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1. Received: factor={factor}")
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr
        self.wait, self.cooldown_counter = 0, 0

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        current = self.current(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.improved(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(self.model.optimizer.learning_rate)
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class ModelCheckpoint(MonitorCallback):
    """Saves the model (or only its weights) after each epoch or every `save_freq` batches.

    Args:
        filepath: may hold `{epoch:02d}` and any log key, e.g. 'w.{epoch:02d}-{val_loss:.2f}.h5'. '.keras' saves the
            whole model, '.h5'/'.hdf5' the whole model in Keras's HDF5 layout (or weights only), '.weights.h5' the
            weights in Keras 3's layout.
        monitor, mode: what "best" means for save_best_only (default 'val_loss', min).
        save_best_only: save only when `monitor` improves.
        save_weights_only: save only the weights.
        save_freq: 'epoch' or an int number of batches.
        initial_value_threshold: a value the first saved result must beat.

    With save_best_only an epoch whose monitored value is NaN is never saved and never becomes the best (Keras 3
    saves a first NaN epoch and then never saves again).

    Every save writes a temporary file and renames it, so a crash never leaves a half-written checkpoint.
    """

    chief_only = True  # under torchrun, process 0 alone writes

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode)
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.save_freq = check_save_freq("ModelCheckpoint", save_freq)
        self.best = initial_value_threshold
        self._batches = 0
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches += 1
            if self._batches % self.save_freq == 0:
                self._save(self._epoch, dict(logs or {}), batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, dict(logs or {}))

    def _save(self, epoch, logs, batch=None):
        try:
            path = self.filepath.format(epoch=epoch + 1, batch=batch, **logs)
        except KeyError as err:
            raise KeyError(f"ModelCheckpoint: filepath '{self.filepath}' uses {err}, which is not in the logs "
                           f"(available: epoch, batch, {', '.join(sorted(logs))}).") from None
        current = logs.get(self.monitor) if self.save_best_only else None
        if self.save_best_only and current is None:
            # as Keras: without the monitored value there is nothing to compare, so the model is saved
            warnings.warn(f"ModelCheckpoint: can save the best model only with '{self.monitor}' available (logs "
                          f"have {sorted(logs)}); saving anyway.", stacklevel=3)
        elif self.save_best_only:
            best = "None" if self.best is None else f"{self.best:.5f}"
            if not self.improved(current, self.best):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, saving model "
                      f"to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path, overwrite=True)
        else:
            self.model.save(path, overwrite=True)


class LearningRateScheduler(Callback):
    """Sets the learning rate at each epoch start to `schedule(epoch, lr)` (or `schedule(epoch)`)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.model.optimizer.learning_rate)
        try:
            new = self.schedule(epoch, lr)
        except TypeError:
            new = self.schedule(epoch)
        if not isinstance(new, (float, int, np.floating)):
            raise ValueError(f"LearningRateScheduler: the schedule must return a float. Received: {new!r}")
        self.model.optimizer.learning_rate = float(new)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {new}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """Writes one CSV row per epoch: epoch, then each log key in sorted order (Keras's columns).

    As in Keras, when the first epoch's logs have no 'val_' keys, 'val_' columns are added for each key (filled
    with 'NA'), so a later run appending to the file with validation fits the same header. With `append=True` rows
    go after the existing ones (no second header) in the columns of the file's header.
    """

    chief_only = True  # under torchrun, process 0 alone writes

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.keys, self.file, self.writer = None, None, None
        self._header_written = False

    def on_train_begin(self, logs=None):
        if self.file is not None and not self.file.closed:
            self.file.close()
        self.keys, self.writer = None, None
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        if exists:
            with open(self.filename, newline="", encoding="utf-8") as existing:
                header = next(csv.reader(existing, delimiter=self.separator), [])
            if header[:1] == ["epoch"]:
                self.keys = header[1:]
        self._header_written = exists
        self.file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")  # noqa: SIM115

    @staticmethod
    def _value(value):
        if isinstance(value, str):
            return value
        if isinstance(value, np.ndarray) and value.ndim == 0:
            return value.item()
        if isinstance(value, (list, tuple, np.ndarray)):
            return f'"[{", ".join(map(str, value))}]"'
        return value

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys += [f"val_{key}" for key in self.keys]
        if self.writer is None:
            self.writer = csv.DictWriter(self.file, fieldnames=["epoch", *self.keys], delimiter=self.separator,
                                         extrasaction="ignore")
            if not self._header_written:
                self.writer.writeheader()
                self._header_written = True
        self.writer.writerow({"epoch": epoch, **{k: self._value(logs.get(k, "NA")) for k in self.keys}})
        self.file.flush()

    def on_train_end(self, logs=None):
        if self.file is not None:
            self.file.close()
        self.file, self.writer = None, None
