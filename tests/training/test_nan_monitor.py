"""A NaN monitored value is never "best": ModelCheckpoint(save_best_only), EarlyStopping(restore_best_weights) and
ReduceLROnPlateau treat a NaN epoch as one without improvement (Keras 3 takes a first NaN as best for the whole
run: shown here with Keras itself). The oracle for cnnkit is numpy's nan-aware running minimum, and Keras where
the NaN is not first (a NaN after a finite best never beats it in either)."""

import os

import numpy as np
import pytest

import cnnkit

NAN = float("nan")


class _Stub:
    """What the monitor callbacks need of a model: stop_training, get/set_weights and an optimizer."""

    def __init__(self, optimizer=None):
        self.stop_training = False
        self.optimizer = optimizer
        self.epoch = 0
        self.restored = None

    def get_weights(self):
        return [np.array(self.epoch, dtype=np.float32)]  # "the weights" are the epoch they were taken at

    def set_weights(self, weights):
        self.restored = int(weights[0])


def _drive(callback, stub, values, monitor="val_loss"):
    """Feeds epoch logs {monitor: value} to `callback` as fit does; returns the epoch training stopped at."""
    callback.set_model(stub)
    callback.on_train_begin()
    stopped = None
    for epoch, value in enumerate(values):
        stub.epoch = epoch
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {"loss": 0.5, monitor: float(value)})
        if stub.stop_training:
            stopped = epoch
            break
    callback.on_train_end()
    return stopped


def _running_best_epochs(values):
    """numpy oracle: the epochs whose value is below every earlier finite value (NaN never counts)."""
    best, epochs = np.inf, []
    for epoch, value in enumerate(values):
        if not np.isnan(value) and value < best:
            best = value
            epochs.append(epoch)
    return epochs


@pytest.mark.parametrize("values", [[NAN, 0.8, 0.9, 0.7, NAN, 0.75], [0.9, NAN, 0.8, NAN], [NAN, NAN, 0.5]])
def test_early_stopping_restores_the_best_finite_epoch(values):
    stub = _Stub()
    callback = cnnkit.callbacks.EarlyStopping(patience=len(values), restore_best_weights=True)
    _drive(callback, stub, values)
    assert stub.restored == int(np.nanargmin(values)) == callback.best_epoch
    assert callback.best == np.nanmin(values)


def test_early_stopping_counts_a_nan_epoch_as_no_improvement():
    stub = _Stub()
    assert _drive(cnnkit.callbacks.EarlyStopping(patience=2), stub, [0.9, NAN, NAN, 0.1]) == 2


def test_keras_keeps_a_first_nan_as_best(keras):
    """What cnnkit does differently (README, Reliability): Keras 3 restores the NaN epoch."""
    stub = _Stub()
    callback = keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True)
    _drive(callback, stub, [NAN, 0.8, 0.7])
    assert stub.restored == 0 and np.isnan(callback.best)


def test_early_stopping_matches_keras_when_the_nan_comes_after_a_finite_best(keras):
    values = [0.9, 0.8, NAN, 0.85, NAN, 0.7, 0.75, NAN, NAN]
    results = []
    for lib in (keras, cnnkit):
        stub = _Stub()
        stopped = _drive(lib.callbacks.EarlyStopping(patience=2, restore_best_weights=True), stub, values)
        results.append((stopped, stub.restored))
    assert results[0] == results[1] == (3, 1)  # two epochs without improvement after epoch 1 (a NaN, 0.85)


def _checkpoint_epochs(lib, tmp_path, values, **kwargs):
    """The epochs ModelCheckpoint(save_best_only) writes a file for, with `lib`'s callback."""
    model = lib.Sequential([lib.Input((2,)), lib.layers.Dense(1)])
    model.stop_training = False
    folder = tmp_path / lib.__name__
    callback = lib.callbacks.ModelCheckpoint(str(folder / "w{epoch:02d}.weights.h5"), save_best_only=True,
                                             save_weights_only=True, **kwargs)
    _drive(callback, model, values)
    return sorted(int(name[1:3]) - 1 for name in os.listdir(folder)) if folder.exists() else []


@pytest.mark.parametrize("values", [[NAN, 0.8, 0.9, 0.7, NAN, 0.75], [NAN, NAN], [0.5, NAN, 0.4]])
def test_model_checkpoint_never_saves_a_nan_epoch(tmp_path, values):
    assert _checkpoint_epochs(cnnkit, tmp_path, values) == _running_best_epochs(values)


def test_model_checkpoint_differs_from_keras_only_by_the_first_nan(keras, tmp_path):
    values = [NAN, 0.8, 0.7]
    assert _checkpoint_epochs(keras, tmp_path, values) == [0]  # Keras: the NaN epoch, then nothing beats NaN
    assert _checkpoint_epochs(cnnkit, tmp_path, values) == [1, 2]
    later = [0.9, NAN, 0.8, NAN, 0.95, 0.6]  # a NaN after a finite best: the same files in both
    assert _checkpoint_epochs(keras, tmp_path / "b", later) == _checkpoint_epochs(cnnkit, tmp_path / "b", later) \
        == [0, 2, 5]


def test_reduce_lr_on_plateau_takes_nan_as_a_plateau_epoch(keras):
    """After a NaN the best stays the last finite one; NaN epochs count toward patience as in Keras once a finite
    best exists (checked against Keras), and a first NaN is not kept as best (Keras: never improves again)."""
    values = [0.9, NAN, NAN, 0.95, 0.5, NAN, 0.6, 0.4]
    lrs = {}
    for lib in (keras, cnnkit):
        model = lib.Sequential([lib.Input((2,)), lib.layers.Dense(1)])
        model.compile(optimizer=lib.optimizers.SGD(learning_rate=1.0), loss="mse")
        callback = lib.callbacks.ReduceLROnPlateau(factor=0.5, patience=2)
        seen = []
        callback.set_model(model)
        callback.on_train_begin()
        for epoch, value in enumerate(values):
            callback.on_epoch_end(epoch, {"val_loss": value})
            seen.append(float(np.asarray(model.optimizer.learning_rate)))
        lrs[lib.__name__] = seen
    assert lrs["cnnkit"] == lrs["keras"] == [1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25]
    callback = cnnkit.callbacks.ReduceLROnPlateau(patience=1)
    stub = _Stub(cnnkit.optimizers.SGD(learning_rate=1.0))
    _drive(callback, stub, [NAN, 0.5])
    assert callback.best == 0.5
