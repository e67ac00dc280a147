"""Callbacks against Keras's: the same scripted epoch logs (or the same training run) must give the same decisions.

Monitor callbacks (EarlyStopping, ReduceLROnPlateau) are driven by hand with scripted logs on a stub model, exactly
as `fit` drives them, and their stop epoch / best value / learning rates compared with Keras's callbacks fed the same
logs. The others run inside `fit` in both libraries on a tiny Dense model with copied weights and shuffle=False.
"""

import csv
import os

import numpy as np
import pytest

import cnnkit

# ---- helpers ------------------------------------------------------------------------------------------------


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32)
    return x, y


def _model(lib, weights=None):
    """A 4 -> 6 -> 1 sigmoid classifier; cnnkit gets the Keras model's weights."""
    if weights is None:
        lib.utils.set_random_seed(11)
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(6, activation="tanh"),
                            lib.layers.Dense(1, activation="sigmoid")])
    if weights is not None:
        model.set_weights(weights)
    return model


def _pair(keras, optimizer="SGD", lr=0.1, metrics=("accuracy",)):
    """The same compiled model in Keras and cnnkit."""
    reference = _model(keras)
    ours = _model(cnnkit, reference.get_weights())
    for model, lib in ((reference, keras), (ours, cnnkit)):
        model.compile(optimizer=getattr(lib.optimizers, optimizer)(learning_rate=lr), loss="binary_crossentropy",
                      metrics=list(metrics))
    return reference, ours


def _scripted(lib, key, values):
    """A callback (listed first) that overwrites logs[key] with values[epoch] at each epoch end."""
    class Script(lib.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs[key] = float(values[epoch])
    return Script()


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


def _drive(callback, stub, monitor, values):
    """Feeds epoch logs {loss, monitor} to `callback` as fit does; returns what happened."""
    callback.set_model(stub)
    callback.on_train_begin()
    stopped, lrs, logged = None, [], []
    for epoch, value in enumerate(values):
        stub.epoch = epoch
        callback.on_epoch_begin(epoch)
        logs = {"loss": 0.5, monitor: float(value)}
        callback.on_epoch_end(epoch, logs)
        if stub.optimizer is not None:
            lrs.append(float(np.asarray(stub.optimizer.learning_rate)))
            logged.append(logs.get("learning_rate"))
        if stub.stop_training:
            stopped = epoch
            break
    callback.on_train_end()
    return stopped, lrs, logged


# ---- EarlyStopping ------------------------------------------------------------------------------------------

LOSSES = [1.0, 0.9, 0.95, 0.92, 0.91, 0.89, 0.9, 0.93, 0.94, 0.95, 0.96, 0.97]
ACCURACIES = [0.5, 0.6, 0.58, 0.61, 0.605, 0.7, 0.69, 0.68, 0.71, 0.69, 0.6, 0.6]

EARLY_STOPPING = [
    ("val_loss", LOSSES, {}),
    ("val_loss", LOSSES, {"patience": 2}),
    ("val_loss", LOSSES, {"patience": 2, "min_delta": 0.02}),
    ("val_loss", LOSSES, {"patience": 3, "restore_best_weights": True}),
    ("val_loss", LOSSES, {"patience": 1, "baseline": 0.85}),
    ("val_loss", LOSSES, {"patience": 2, "baseline": 0.95, "restore_best_weights": True}),
    ("val_loss", LOSSES, {"patience": 1, "start_from_epoch": 4}),
    ("val_loss", LOSSES, {"patience": 1, "mode": "max"}),
    ("val_loss", LOSSES, {"patience": 20, "restore_best_weights": True}),
    ("val_accuracy", ACCURACIES, {"patience": 2, "mode": "max"}),
    ("val_accuracy", ACCURACIES, {"patience": 2, "mode": "auto", "restore_best_weights": True}),
    ("val_accuracy", ACCURACIES, {"patience": 1, "mode": "min", "min_delta": 0.005}),
    ("accuracy", ACCURACIES, {"patience": 3, "min_delta": -0.02}),  # a negative min_delta counts as its size
]


@pytest.mark.parametrize("monitor,values,kwargs", EARLY_STOPPING,
                         ids=[f"{m}-{k}" for m, _, k in EARLY_STOPPING])
def test_early_stopping_matches_keras_on_scripted_logs(keras, monitor, values, kwargs):
    # Keras can only infer 'auto' for accuracy from a compiled model's metrics: give it the direction it would infer
    keras_kwargs = dict(kwargs)
    if monitor.endswith("accuracy") and kwargs.get("mode", "auto") == "auto":
        keras_kwargs["mode"] = "max"
    theirs_cb = keras.callbacks.EarlyStopping(monitor=monitor, **keras_kwargs)
    ours_cb = cnnkit.callbacks.EarlyStopping(monitor=monitor, **kwargs)
    theirs_stub, ours_stub = _Stub(), _Stub()
    theirs = _drive(theirs_cb, theirs_stub, monitor, values)[0]
    ours = _drive(ours_cb, ours_stub, monitor, values)[0]
    assert ours == theirs
    assert ours_cb.stopped_epoch == theirs_cb.stopped_epoch
    assert ours_cb.wait == theirs_cb.wait
    assert ours_cb.best_epoch == theirs_cb.best_epoch
    assert (ours_cb.best is None) == (theirs_cb.best is None)
    if theirs_cb.best is not None:
        assert float(ours_cb.best) == pytest.approx(float(theirs_cb.best))
    assert ours_stub.restored == theirs_stub.restored


def test_early_stopping_reusable_across_fits_and_verbose_message(capsys):
    callback = cnnkit.callbacks.EarlyStopping(patience=0, verbose=1, restore_best_weights=True)
    stub = _Stub()
    assert _drive(callback, stub, "val_loss", [1.0, 1.2])[0] == 1
    assert stub.restored == 0
    out = capsys.readouterr().out
    assert "Epoch 2: early stopping" in out and "best epoch: 1." in out
    # a second run starts from scratch (on_train_begin resets best / wait)
    stub = _Stub()
    assert _drive(callback, stub, "val_loss", [5.0, 4.0, 3.0])[0] is None
    assert callback.best == 3.0 and stub.restored == 2


def test_early_stopping_missing_monitor_warns_and_continues():
    callback = cnnkit.callbacks.EarlyStopping(monitor="val_los")
    with pytest.warns(UserWarning, match="val_los"):
        assert _drive(callback, _Stub(), "val_loss", [1.0, 2.0, 3.0])[0] is None


def test_early_stopping_in_fit_restores_best_weights_like_keras(keras):
    """A scripted val_loss (best at epoch 2, then worse) stops both at the same epoch with the same weights."""
    x, y = _data()
    reference, ours = _pair(keras)
    script = [0.9, 0.8, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
    results = []
    for model, lib in ((reference, keras), (ours, cnnkit)):
        stopper = lib.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
        history = model.fit(x, y, batch_size=10, epochs=len(script), shuffle=False, verbose=0,
                            callbacks=[_scripted(lib, "val_loss", script), stopper])
        results.append((history.history, stopper.stopped_epoch, model.get_weights()))
    (theirs, theirs_stop, theirs_w), (mine, mine_stop, mine_w) = results
    assert mine_stop == theirs_stop == 4
    assert mine["val_loss"] == theirs["val_loss"] == script[:5]
    np.testing.assert_allclose(mine["loss"], theirs["loss"], rtol=1e-4)
    for a, b in zip(mine_w, theirs_w):  # the weights after epoch 3 (index 2), not after epoch 5
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# ---- ReduceLROnPlateau --------------------------------------------------------------------------------------

PLATEAU = [1.0, 0.99995, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85]

REDUCE_LR = [
    ("val_loss", PLATEAU, {"factor": 0.5, "patience": 1}),
    ("val_loss", PLATEAU, {"factor": 0.5, "patience": 1, "min_delta": 0.0}),
    ("val_loss", PLATEAU, {"factor": 0.5, "patience": 2, "cooldown": 2}),
    ("val_loss", PLATEAU, {"factor": 0.1, "patience": 1, "min_lr": 0.005}),
    ("val_loss", PLATEAU, {"factor": 0.2, "patience": 3, "cooldown": 1, "min_delta": 0.06}),
    ("val_loss", PLATEAU, {"factor": 0.5, "patience": 0}),
    ("val_accuracy", ACCURACIES, {"factor": 0.5, "patience": 1, "mode": "max"}),
    ("val_loss", PLATEAU, {"factor": 0.5, "patience": 1, "mode": "max", "cooldown": 3}),
]


@pytest.mark.parametrize("monitor,values,kwargs", REDUCE_LR, ids=[f"{m}-{k}" for m, _, k in REDUCE_LR])
def test_reduce_lr_on_plateau_matches_keras_on_scripted_logs(keras, monitor, values, kwargs):
    theirs_stub = _Stub(keras.optimizers.SGD(learning_rate=0.1))
    ours_stub = _Stub(cnnkit.optimizers.SGD(learning_rate=0.1))
    _, theirs_lrs, theirs_logged = _drive(keras.callbacks.ReduceLROnPlateau(monitor=monitor, **kwargs), theirs_stub,
                                          monitor, values)
    _, ours_lrs, ours_logged = _drive(cnnkit.callbacks.ReduceLROnPlateau(monitor=monitor, **kwargs), ours_stub,
                                      monitor, values)
    assert len(set(np.round(theirs_lrs, 9))) > 1  # the script does trigger reductions
    np.testing.assert_allclose(ours_lrs, theirs_lrs, rtol=1e-6)
    np.testing.assert_allclose(ours_logged, theirs_logged, rtol=1e-6)  # logs['learning_rate'] before reduction


def test_reduce_lr_on_plateau_in_fit_changes_training_like_keras(keras):
    x, y = _data()
    reference, ours = _pair(keras, lr=0.5)
    script = [0.5, 0.6, 0.6, 0.6, 0.6]
    histories = []
    for model, lib in ((reference, keras), (ours, cnnkit)):
        reducer = lib.callbacks.ReduceLROnPlateau(factor=0.2, patience=1)
        histories.append(model.fit(x, y, batch_size=20, epochs=len(script), shuffle=False, verbose=0,
                                   callbacks=[_scripted(lib, "val_loss", script), reducer]).history)
    theirs, mine = histories
    np.testing.assert_allclose(mine["learning_rate"], theirs["learning_rate"], rtol=1e-6)
    np.testing.assert_allclose(mine["loss"], theirs["loss"], rtol=1e-4)
    for a, b in zip(ours.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_reduce_lr_on_plateau_rejects_factor_of_one():
    with pytest.raises(ValueError, match="factor"):
        cnnkit.callbacks.ReduceLROnPlateau(factor=1.0)


# ---- LearningRateScheduler ----------------------------------------------------------------------------------


def _halve_after_first(epoch, lr):
    return lr if epoch < 1 else lr * 0.5


def _one_arg(epoch):
    return 0.2 / (epoch + 1)


@pytest.mark.parametrize("schedule", [_halve_after_first, _one_arg], ids=["epoch_lr", "epoch_only"])
def test_learning_rate_scheduler_matches_keras(keras, schedule):
    x, y = _data()
    reference, ours = _pair(keras, lr=0.3)
    histories = []
    for model, lib in ((reference, keras), (ours, cnnkit)):
        histories.append(model.fit(x, y, batch_size=20, epochs=4, shuffle=False, verbose=0,
                                   callbacks=[lib.callbacks.LearningRateScheduler(schedule)]).history)
    theirs, mine = histories
    np.testing.assert_allclose(mine["learning_rate"], theirs["learning_rate"], rtol=1e-6)
    np.testing.assert_allclose(mine["loss"], theirs["loss"], rtol=1e-4)
    for a, b in zip(ours.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_learning_rate_scheduler_verbose_and_bad_return(capsys):
    stub = _Stub(cnnkit.optimizers.SGD(learning_rate=0.1))
    _drive(cnnkit.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5, verbose=1), stub, "val_loss",
           [1.0, 1.0])
    out = capsys.readouterr().out
    assert "Epoch 1: LearningRateScheduler setting learning rate to 0.05." in out
    assert float(stub.optimizer.learning_rate) == pytest.approx(0.025)
    with pytest.raises(ValueError, match="float"):
        _drive(cnnkit.callbacks.LearningRateScheduler(lambda epoch, lr: "fast"), _Stub(stub.optimizer), "val_loss",
               [1.0])


# ---- CSVLogger ----------------------------------------------------------------------------------------------


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_csv_logger_matches_keras_and_appends(keras, tmp_path):
    x, y = _data()
    reference, ours = _pair(keras)
    files = {}
    for model, lib in ((reference, keras), (ours, cnnkit)):
        path = str(tmp_path / f"{lib.__name__}.csv")
        model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0, callbacks=[lib.callbacks.CSVLogger(path)])
        model.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0, validation_data=(x[:10], y[:10]),
                  callbacks=[lib.callbacks.CSVLogger(path, append=True)])
        files[lib.__name__] = _read_csv(path)
    theirs, mine = files["keras"], files["cnnkit"]
    assert mine[0] == theirs[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(mine) == len(theirs) == 4  # one header, 2 + 1 rows: append=True adds rows, not a second header
    for row_mine, row_theirs in zip(mine[1:], theirs[1:]):
        assert row_mine[0] == row_theirs[0]  # the epoch
        for a, b in zip(row_mine[1:], row_theirs[1:]):
            if b == "NA":
                assert a == "NA"
            else:
                assert float(a) == pytest.approx(float(b), rel=1e-4)
    assert [row[0] for row in mine[1:]] == ["0", "1", "0"]


def test_csv_logger_separator_and_overwrite(tmp_path):
    x, y = _data(20)
    model = _model(cnnkit)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    path = tmp_path / "log.tsv"
    logger = cnnkit.callbacks.CSVLogger(path, separator="\t")
    model.fit(x, y, epochs=3, verbose=0, validation_split=0.25, callbacks=[logger])
    model.fit(x, y, epochs=1, verbose=0, validation_split=0.25, callbacks=[logger])  # append=False overwrites
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == ["epoch", "loss", "val_loss"]
    assert len(lines) == 2 and lines[1].startswith("0\t")


# ---- TerminateOnNaN -----------------------------------------------------------------------------------------


def _batch_counter(lib, seen):
    return lib.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))


def test_terminate_on_nan_stops_at_the_same_batch_as_keras(keras, capsys):
    x, y = _data()
    y = y.copy()
    y[23] = np.nan  # the third batch of 10 has a NaN label: the loss becomes NaN there
    reference, ours = _pair(keras)
    results = []
    for model, lib in ((reference, keras), (ours, cnnkit)):
        seen = []
        history = model.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0,
                            callbacks=[lib.callbacks.TerminateOnNaN(), _batch_counter(lib, seen)])
        results.append((seen, history.history, capsys.readouterr().out))
    (theirs_seen, theirs, theirs_out), (mine_seen, mine, mine_out) = results
    assert mine_seen == theirs_seen == [0, 1, 2]
    assert len(mine["loss"]) == len(theirs["loss"]) == 1
    assert np.isnan(mine["loss"][0])
    assert "Batch 2: Invalid loss, terminating training" in theirs_out
    assert "Batch 2: Invalid loss, terminating training" in mine_out


def test_terminate_on_nan_with_a_huge_learning_rate():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4)).astype(np.float32) * 100
    y = rng.normal(size=(64, 1)).astype(np.float32) * 100
    cnnkit.utils.set_random_seed(0)
    model = cnnkit.Sequential([cnnkit.Input((4,)), cnnkit.layers.Dense(8), cnnkit.layers.Dense(1)])
    model.compile(optimizer=cnnkit.optimizers.SGD(learning_rate=1e8), loss="mse")
    seen = []
    history = model.fit(x, y, batch_size=8, epochs=5, verbose=0,
                        callbacks=[cnnkit.callbacks.TerminateOnNaN(), _batch_counter(cnnkit, seen)])
    assert len(history.history["loss"]) == 1 and len(seen) < 8
    assert not np.isfinite(history.history["loss"][0])


def test_terminate_on_nan_raise_error():
    x, y = _data(20)
    y = y.copy()
    y[0] = np.nan
    model = _model(cnnkit)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    ended = []
    with pytest.raises(RuntimeError, match="NaN or Inf loss"):
        model.fit(x, y, batch_size=10, epochs=2, verbose=0,
                  callbacks=[cnnkit.callbacks.TerminateOnNaN(raise_error=True),
                             cnnkit.callbacks.LambdaCallback(on_train_end=lambda logs: ended.append(1))])
    assert ended == []  # raise_error skips the other callbacks' cleanup, as in Keras


# ---- hook order, LambdaCallback, History --------------------------------------------------------------------

HOOKS = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
         "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
         "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end"]


def _recorder(lib, events):
    """A callback recording (hook, index, sorted log keys) for every hook."""
    def make(hook):
        def method(self, *args, **kwargs):
            args = args + tuple(kwargs.values())
            index = args[0] if len(args) == 2 else None
            logs = args[-1] if args else None
            keys = tuple(sorted(logs)) if logs else None
            events.append((hook, index, keys))
        return method
    return type("Recorder", (lib.callbacks.Callback,), {hook: make(hook) for hook in HOOKS})()


def test_hook_order_and_logs_match_keras_in_fit_evaluate_predict(keras):
    x, y = _data(30)
    reference, ours = _pair(keras)
    recorded = []
    for model, lib in ((reference, keras), (ours, cnnkit)):
        events = []
        recorder = _recorder(lib, events)
        model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0, validation_data=(x[:16], y[:16]),
                  validation_batch_size=8, callbacks=[recorder])
        model.evaluate(x, y, batch_size=16, verbose=0, callbacks=[recorder])
        model.predict(x, batch_size=16, verbose=0, callbacks=[recorder])
        recorded.append(events)
    theirs, mine = recorded
    assert mine == theirs
    assert ("on_test_batch_end", 1, ("accuracy", "loss")) in mine  # validation batches are reported
    assert ("on_predict_batch_end", 1, ("outputs",)) in mine


def test_lambda_callback_hooks_fire_in_keras_order(keras):
    x, y = _data(30)
    reference, ours = _pair(keras)
    recorded = []
    for model, lib in ((reference, keras), (ours, cnnkit)):
        events = []
        callback = lib.callbacks.LambdaCallback(
            on_train_begin=lambda logs: events.append("train_begin"),
            on_epoch_begin=lambda epoch, logs: events.append(f"epoch_begin {epoch}"),
            on_train_batch_begin=lambda batch, logs: events.append(f"batch_begin {batch}"),
            on_train_batch_end=lambda batch, logs: events.append(f"batch_end {batch} {sorted(logs)}"),
            on_epoch_end=lambda epoch, logs: events.append(f"epoch_end {epoch} {sorted(logs)}"),
            on_train_end=lambda logs: events.append(f"train_end {sorted(logs)}"),
        )
        legacy = lib.callbacks.LambdaCallback(on_batch_end=lambda batch, logs: events.append(f"legacy {batch}"))
        model.fit(x, y, batch_size=15, epochs=2, shuffle=False, verbose=0, callbacks=[callback, legacy])
        recorded.append(events)
    theirs, mine = recorded
    assert mine == theirs
    assert mine[:5] == ["train_begin", "epoch_begin 0", "batch_begin 0", "batch_end 0 ['accuracy', 'loss']",
                        "legacy 0"]


def test_legacy_on_batch_hooks_of_a_subclass_fire():
    x, y = _data(20)
    model = _model(cnnkit)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    calls = []

    class Legacy(cnnkit.callbacks.Callback):
        def on_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            calls.append(("end", batch, round(logs["loss"], 6) > 0))

    model.fit(x, y, batch_size=10, epochs=1, verbose=0, callbacks=[Legacy()])
    assert calls == [("begin", 0), ("end", 0, True), ("begin", 1), ("end", 1, True)]


def test_history_matches_keras(keras):
    x, y = _data(30)
    reference, ours = _pair(keras)
    results = []
    for model, lib in ((reference, keras), (ours, cnnkit)):
        history = model.fit(x, y, batch_size=8, epochs=3, initial_epoch=1, shuffle=False, verbose=0,
                            validation_split=0.2)
        results.append((history, model))
    (theirs, theirs_model), (mine, mine_model) = results
    assert list(mine.history) == list(theirs.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert mine.epoch == theirs.epoch == [1, 2]
    assert mine.params == theirs.params == {"verbose": 0, "epochs": 3, "steps": 3}
    assert mine_model.history is mine
    for key in theirs.history:
        np.testing.assert_allclose(mine.history[key], theirs.history[key], rtol=1e-4)


# ---- ModelCheckpoint ----------------------------------------------------------------------------------------


def test_model_checkpoint_file_names_match_keras(keras, tmp_path):
    x, y = _data()
    reference, ours = _pair(keras)
    script = [0.5, 0.7, 0.4, 0.8, 0.45]
    listings, histories = {}, {}
    for model, lib in ((reference, keras), (ours, cnnkit)):
        folder = tmp_path / lib.__name__
        folder.mkdir()
        callbacks = [
            _scripted(lib, "val_score", script),
            lib.callbacks.ModelCheckpoint(str(folder / "w.{epoch:02d}-{val_loss:.2f}.weights.h5"),
                                          save_weights_only=True),
            lib.callbacks.ModelCheckpoint(str(folder / "max.{epoch:02d}.keras"), monitor="val_score", mode="max",
                                          save_best_only=True),
            lib.callbacks.ModelCheckpoint(str(folder / "min.{epoch:02d}.weights.h5"), monitor="val_score",
                                          mode="min", save_best_only=True, save_weights_only=True),
            lib.callbacks.ModelCheckpoint(str(folder / "sub" / "b{epoch:02d}-{batch:03d}.weights.h5"),
                                          save_weights_only=True, save_freq=3),
        ]
        histories[lib.__name__] = model.fit(x, y, batch_size=10, epochs=len(script), shuffle=False, verbose=0,
                                            validation_data=(x[:20], y[:20]), callbacks=callbacks).history
        listings[lib.__name__] = sorted(os.listdir(folder)) + sorted(os.listdir(folder / "sub"))
    names = listings["cnnkit"]
    assert names == listings["keras"]
    assert "max.01.keras" in names and "max.03.keras" not in names and "min.03.weights.h5" in names
    assert "b02-002.weights.h5" in names  # every 3rd batch of 4 per epoch: epoch 2 batch 2
    # the last epoch's checkpoint holds the final weights
    last = f"w.05-{histories['cnnkit']['val_loss'][-1]:.2f}.weights.h5"
    fresh = _model(cnnkit)
    fresh.load_weights(str(tmp_path / "cnnkit" / last))
    for a, b in zip(fresh.get_weights(), ours.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_tf_keras_style_h5_weights(tmp_path):
    """tf.keras's 'w.{epoch:02d}-{val_loss:.2f}.h5' with save_weights_only writes one file per epoch."""
    x, y = _data()
    model = _model(cnnkit)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    template = str(tmp_path / "w.{epoch:02d}-{val_loss:.2f}.h5")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, validation_split=0.25,
                        callbacks=[cnnkit.callbacks.ModelCheckpoint(template, save_weights_only=True),
                                   cnnkit.callbacks.ModelCheckpoint(str(tmp_path / "best.h5"), monitor="val_accuracy",
                                                                    save_best_only=True, save_weights_only=True)])
    expected = {f"w.{e + 1:02d}-{v:.2f}.h5" for e, v in enumerate(history.history["val_loss"])}
    assert expected | {"best.h5"} == set(os.listdir(tmp_path))


def test_model_checkpoint_missing_key_and_bad_save_freq(tmp_path):
    x, y = _data(20)
    model = _model(cnnkit)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    with pytest.raises(KeyError, match="val_acc"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[cnnkit.callbacks.ModelCheckpoint(str(tmp_path / "{val_acc:.2f}.weights.h5"))])
    with pytest.raises(ValueError, match="save_freq"):
        cnnkit.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"), save_freq="batch")


# ---- BackupAndRestore ---------------------------------------------------------------------------------------


class _Crash(Exception):
    pass


def _backup_run(backup, epochs_seen, crash_at=None, seed=None):
    """A fresh model trained 5 epochs with Adam, shuffle=False: from fixed initial weights, or random ones from
    `seed`."""
    x, y = _data(48, seed=3)
    cnnkit.utils.set_random_seed(seed or 0)
    model = cnnkit.Sequential([cnnkit.Input((4,)), cnnkit.layers.Dense(8, activation="relu"),
                               cnnkit.layers.Dense(1, activation="sigmoid")])
    if seed is None:
        rng = np.random.default_rng(5)
        model.set_weights([rng.normal(size=w.shape).astype(np.float32) * 0.5 for w in model.get_weights()])
    model.compile(optimizer=cnnkit.optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy")

    def on_epoch_begin(epoch, logs):
        epochs_seen.append(epoch)
        if epoch == crash_at:
            raise _Crash(f"simulated crash at epoch {epoch}")

    callbacks = [cnnkit.callbacks.LambdaCallback(on_epoch_begin=on_epoch_begin)]
    if backup is not None:
        callbacks.append(backup)
    history = model.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0, callbacks=callbacks)
    return model, history


def test_backup_and_restore_resumes_after_a_crash(tmp_path):
    reference, _ = _backup_run(None, [])
    backup_dir = tmp_path / "backup"
    backup = cnnkit.callbacks.BackupAndRestore(str(backup_dir))
    seen = []
    with pytest.raises(_Crash):
        _backup_run(backup, seen, crash_at=3)
    assert seen == [0, 1, 2, 3] and backup_dir.exists()
    # a new process builds a new model (other initial weights) and optimizer: the backup restores both
    seen = []
    model, history = _backup_run(backup, seen, seed=99)
    assert seen == [3, 4]
    assert history.epoch == [3, 4]
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert not backup_dir.exists()  # deleted after a finished run (delete_checkpoint=True)


def test_backup_and_restore_matches_keras_resume_epoch(keras, tmp_path):
    x, y = _data()
    reference, ours = _pair(keras, optimizer="Adam", lr=0.01)
    resumed = {}
    for model, lib in ((reference, keras), (ours, cnnkit)):
        backup = lib.callbacks.BackupAndRestore(str(tmp_path / lib.__name__), delete_checkpoint=False)
        seen = []

        def on_epoch_begin(epoch, logs, seen=seen):
            seen.append(epoch)
            if epoch == 2 and len(seen) == 3:
                raise _Crash()

        hook = lib.callbacks.LambdaCallback(on_epoch_begin=on_epoch_begin)
        with pytest.raises(_Crash):
            model.fit(x, y, batch_size=10, epochs=4, shuffle=False, verbose=0, callbacks=[hook, backup])
        model.fit(x, y, batch_size=10, epochs=4, shuffle=False, verbose=0, callbacks=[hook, backup])
        resumed[lib.__name__] = seen
    assert resumed["cnnkit"] == resumed["keras"] == [0, 1, 2, 2, 3]
    for a, b in zip(ours.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_backup_and_restore_arguments():
    with pytest.raises(ValueError, match="backup_dir"):
        cnnkit.callbacks.BackupAndRestore("")
    with pytest.raises(ValueError, match="save_freq"):
        cnnkit.callbacks.BackupAndRestore("x", save_freq="batch")
    cnnkit.callbacks.BackupAndRestore("x", save_freq=10, double_checkpoint=True)  # Keras's arguments
