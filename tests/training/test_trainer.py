"""compile / evaluate / predict / *_on_batch, several outputs, 'accuracy' resolution, regularizers, progress output
and seeding, against Keras with copied weights."""

import re

import numpy as np
import pytest
import torch

import cnnkit

# ---- helpers ------------------------------------------------------------------------------------------------


def _images(n=24, seed=0, classes=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 6, 1)).astype(np.float32)
    y = (np.abs(x[:, :3].mean(axis=(1, 2, 3))) * 8).astype(np.int64) % classes
    return x, y


def _convnet(lib, weights=None, classes=4, activation="softmax", **dense_kwargs):
    """A small convnet (Conv2D, pooling, Dense) in either library."""
    if weights is None:
        lib.utils.set_random_seed(5)
    L = lib.layers
    model = lib.Sequential([lib.Input((6, 6, 1)), L.Conv2D(3, 3, activation="relu", padding="same"),
                            L.MaxPooling2D(2), L.Flatten(), L.Dense(classes, activation=activation, **dense_kwargs)])
    if weights is not None:
        model.set_weights(weights)
    return model


def _both(keras, build, compile_kwargs):
    """(Keras model, cnnkit model) with the same weights, compiled with the same keyword arguments."""
    reference = build(keras, None)
    ours = build(cnnkit, reference.get_weights())
    for model, lib in ((reference, keras), (ours, cnnkit)):
        kwargs = dict(compile_kwargs)
        optimizer = kwargs.pop("optimizer", ("SGD", {"learning_rate": 0.1}))
        model.compile(optimizer=getattr(lib.optimizers, optimizer[0])(**optimizer[1]), **kwargs)
    return reference, ours


def _close(mine, theirs, rtol=1e-4, atol=1e-6):
    np.testing.assert_allclose(np.asarray(mine, dtype=np.float64), np.asarray(theirs, dtype=np.float64), rtol=rtol,
                               atol=atol)


# ---- evaluate -----------------------------------------------------------------------------------------------


def test_evaluate_return_dict_list_and_batch_size_match_keras(keras):
    x, y = _images(300)
    one_hot = cnnkit.utils.to_categorical(y, 4)
    reference, ours = _both(keras, _convnet, dict(loss="categorical_crossentropy", metrics=["accuracy", "mae"]))
    for batch_size in (None, 128, 7):
        theirs = reference.evaluate(x, one_hot, batch_size=batch_size, verbose=0, return_dict=True)
        mine = ours.evaluate(x, one_hot, batch_size=batch_size, verbose=0, return_dict=True)
        assert list(mine) == list(theirs) == ["accuracy", "loss", "mae"]
        _close([mine[k] for k in mine], [theirs[k] for k in mine])
    theirs_list = reference.evaluate(x, one_hot, batch_size=128, verbose=0)
    mine_list = ours.evaluate(x, one_hot, batch_size=128, verbose=0)
    assert len(mine_list) == 3
    _close(mine_list, theirs_list)  # [loss, accuracy, mae]: Keras's order
    assert ours.metrics_names == ["loss", "accuracy", "mae"]
    # the loss alone comes back as a float
    reference, ours = _both(keras, _convnet, dict(loss="categorical_crossentropy"))
    loss = ours.evaluate(x, one_hot, verbose=0)
    assert isinstance(loss, float)
    _close(loss, reference.evaluate(x, one_hot, verbose=0))


def test_evaluate_with_sample_weight_and_steps(keras):
    x, y = _images(40)
    weights = np.linspace(0.1, 2, 40).astype(np.float32)
    reference, ours = _both(keras, _convnet, dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                                                  weighted_metrics=["accuracy"]))
    theirs = reference.evaluate(x, y, sample_weight=weights, batch_size=8, verbose=0, return_dict=True)
    mine = ours.evaluate(x, y, sample_weight=weights, batch_size=8, verbose=0, return_dict=True)
    assert set(mine) == set(theirs) == {"loss", "accuracy", "weighted_accuracy"}
    _close([mine[k] for k in theirs], [theirs[k] for k in theirs])
    # steps=2 evaluates only the first two batches
    first_two = ours.evaluate(x[:16], y[:16], verbose=0)
    _close(ours.evaluate(x, y, batch_size=8, steps=2, verbose=0), first_two, rtol=1e-6)


# ---- predict ------------------------------------------------------------------------------------------------


class _XBatches:
    def __init__(self, x, batch_size, with_labels):
        self.x, self.batch_size, self.with_labels = x, batch_size, with_labels

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        part = self.x[index * self.batch_size:(index + 1) * self.batch_size]
        return (part, np.zeros(len(part))) if self.with_labels else (part,)


def test_predict_on_arrays_iterators_and_dataloaders_matches_keras(keras):
    x, _ = _images(30)
    reference = _convnet(keras)
    ours = _convnet(cnnkit, reference.get_weights())  # predict needs no compile
    expected = reference.predict(x, verbose=0)
    for batch_size in (None, 4, 64):
        _close(ours.predict(x, batch_size=batch_size, verbose=0), expected, rtol=1e-5)
    _close(ours.predict(_XBatches(x, 7, with_labels=False), verbose=0), expected, rtol=1e-5)
    _close(ours.predict(_XBatches(x, 7, with_labels=True), verbose=0), expected, rtol=1e-5)
    _close(ours.predict(_XBatches(x, 7, with_labels=True), steps=2, verbose=0), expected[:14], rtol=1e-5)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x)), batch_size=8)
    _close(ours.predict(loader, verbose=0), expected, rtol=1e-5)
    prediction = ours.predict(x[:3], verbose=0)
    assert isinstance(prediction, np.ndarray) and prediction.dtype == np.float32 and prediction.shape == (3, 4)


# ---- single batches -----------------------------------------------------------------------------------------


def test_train_test_predict_on_batch_match_keras(keras):
    x, y = _images(48)
    reference, ours = _both(keras, _convnet, dict(optimizer=("Adam", {"learning_rate": 0.01}),
                                                  loss="sparse_categorical_crossentropy", metrics=["accuracy"]))
    for step in range(3):
        part = slice(step * 16, (step + 1) * 16)
        theirs = reference.train_on_batch(x[part], y[part])
        mine = ours.train_on_batch(x[part], y[part])
        assert len(mine) == 2
        _close(mine, theirs)  # each call reports its own batch (metrics are reset), as in Keras
    theirs = reference.train_on_batch(x[:16], y[:16], class_weight={0: 2.0, 3: 0.5}, return_dict=True)
    mine = ours.train_on_batch(x[:16], y[:16], class_weight={0: 2.0, 3: 0.5}, return_dict=True)
    assert list(mine) == list(theirs)
    _close(list(mine.values()), list(theirs.values()))
    _close(ours.test_on_batch(x[16:40], y[16:40]), reference.test_on_batch(x[16:40], y[16:40]))
    _close(ours.test_on_batch(x, y, sample_weight=np.arange(48.0)),
           reference.test_on_batch(x, y, sample_weight=np.arange(48.0)))
    assert ours.test_on_batch(x[:8], y[:8], return_dict=True).keys() == {"loss", "accuracy"}
    mine = ours.predict_on_batch(x[:5])
    assert isinstance(mine, np.ndarray)
    _close(mine, reference.predict_on_batch(x[:5]), rtol=1e-5)
    for a, b in zip(ours.get_weights(), reference.get_weights()):
        _close(a, b, rtol=1e-3, atol=1e-5)


# ---- several outputs ----------------------------------------------------------------------------------------


def _two_outputs(lib, weights=None):
    if weights is None:
        lib.utils.set_random_seed(8)
    L = lib.layers
    inputs = L.Input((6, 6, 1))
    features = L.Flatten()(L.Conv2D(2, 3, activation="relu")(inputs))
    label = L.Dense(3, activation="softmax", name="label")(features)
    box = L.Dense(2, name="box")(features)
    model = lib.Model(inputs, [label, box])
    if weights is not None:
        model.set_weights(weights)
    return model


MULTI_OUTPUT = [
    ("list", dict(loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.3],
                  metrics=[["accuracy"], ["mae"]])),
    ("dict", dict(loss={"label": "sparse_categorical_crossentropy", "box": "mse"},
                  loss_weights={"label": 0.5, "box": 2.0}, metrics={"label": "accuracy", "box": ["mae", "mse"]})),
]


@pytest.mark.parametrize("name,compile_kwargs", MULTI_OUTPUT, ids=[m[0] for m in MULTI_OUTPUT])
def test_multi_output_losses_weights_and_names_match_keras(keras, name, compile_kwargs):
    x, y = _images(40)
    boxes = x[:, :2, 0, 0] * 2
    y = y % 3
    reference, ours = _both(keras, _two_outputs, compile_kwargs)
    labels = {"label": y, "box": boxes} if name == "dict" else [y, boxes]
    theirs = reference.fit(x, labels, batch_size=8, epochs=1, shuffle=False, verbose=0,
                           validation_data=(x[:16], [y[:16], boxes[:16]])).history
    mine = ours.fit(x, labels, batch_size=8, epochs=1, shuffle=False, verbose=0,
                    validation_data=(x[:16], [y[:16], boxes[:16]])).history
    assert list(mine) == list(theirs)
    assert {"loss", "label_loss", "box_loss", "label_accuracy", "box_mae"} <= set(mine)
    for key in theirs:
        _close(mine[key], theirs[key], rtol=2e-4)
    theirs_eval = reference.evaluate(x, [y, boxes], batch_size=10, verbose=0)
    mine_eval = ours.evaluate(x, [y, boxes], batch_size=10, verbose=0)
    assert len(mine_eval) == len(theirs_eval)
    _close(mine_eval, theirs_eval, rtol=2e-4)  # [loss, label_loss, box_loss, *metrics sorted by name]
    assert ours.metrics_names[:3] == ["loss", "label_loss", "box_loss"]
    # with a partial last batch the per-output losses are sample means (Keras 3 averages the batch means there)
    logs = ours.evaluate(x, [y, boxes], batch_size=32, verbose=0, return_dict=True)
    label, box = ours.predict(x, verbose=0)
    _close(logs["box_loss"], ((box - boxes) ** 2).mean(), rtol=1e-5)
    _close(logs["label_loss"], -np.log(label[np.arange(len(y)), y]).mean(), rtol=1e-5)
    weights = compile_kwargs["loss_weights"]
    weights = [weights["label"], weights["box"]] if isinstance(weights, dict) else weights
    _close(logs["loss"], weights[0] * logs["label_loss"] + weights[1] * logs["box_loss"], rtol=1e-5)
    predictions = ours.predict(x[:4], verbose=0)
    assert isinstance(predictions, list) and [p.shape for p in predictions] == [(4, 3), (4, 2)]


def test_multi_output_errors():
    model = _two_outputs(cnnkit)
    with pytest.raises(ValueError, match="2 outputs"):
        model.compile(optimizer="sgd", loss=["mse"])
    with pytest.raises(ValueError, match="labels"):
        model.compile(optimizer="sgd", loss={"label": "mse", "labels": "mse"})
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"])
    x, y = _images(8)
    with pytest.raises(ValueError, match="2 outputs but y has 1"):
        model.fit(x, [y % 3], verbose=0)
    with pytest.raises(ValueError, match="single output"):
        model.fit(x, [y % 3, np.zeros((8, 2))], class_weight={0: 1.0}, verbose=0)
    with pytest.raises(ValueError, match="outputs"):
        model.fit(x, {"label": y % 3, "boxes": np.zeros((8, 2))}, verbose=0)


# ---- 'accuracy' resolution ----------------------------------------------------------------------------------


def _binary(lib, weights=None):
    return _convnet(lib, weights, classes=1, activation="sigmoid")


ACCURACY_CASES = [
    ("binary", _binary, "binary_crossentropy", lambda y: (y > 1).astype(np.float32)),
    ("binary_column", _binary, "binary_crossentropy", lambda y: (y > 1).astype(np.float32)[:, None]),
    ("categorical", _convnet, "categorical_crossentropy", lambda y: cnnkit.utils.to_categorical(y, 4)),
    ("sparse", _convnet, "sparse_categorical_crossentropy", lambda y: y),
    ("sparse_column", _convnet, "sparse_categorical_crossentropy", lambda y: y[:, None]),
]


@pytest.mark.parametrize("case,build,loss,labels", ACCURACY_CASES, ids=[c[0] for c in ACCURACY_CASES])
def test_accuracy_resolution_matches_keras(keras, case, build, loss, labels):
    x, y = _images(60, seed=2)
    target = labels(y)
    reference, ours = _both(keras, build, dict(loss=loss, metrics=["accuracy", "acc"]))
    theirs = reference.evaluate(x, target, verbose=0, return_dict=True)
    mine = ours.evaluate(x, target, verbose=0, return_dict=True)
    assert set(mine) == set(theirs) == {"loss", "accuracy", "acc"}
    for key in theirs:
        _close(mine[key], theirs[key])
    assert 0 < mine["accuracy"] < 1  # a value that tells the variants apart


# ---- regularizers -------------------------------------------------------------------------------------------

REGULARIZED = [
    ("l2", dict(kernel_regularizer="l2")),
    ("l1_l2", dict(kernel_regularizer=("l1_l2", {"l1": 0.01, "l2": 0.01}), bias_regularizer="l1")),
    ("objects", dict(kernel_regularizer=("L1L2", {"l1": 0.003, "l2": 0.02}), bias_regularizer=("L2", {"l2": 0.1}))),
]


@pytest.mark.parametrize("name,kwargs", REGULARIZED, ids=[r[0] for r in REGULARIZED])
def test_regularizers_add_to_the_loss_like_keras(keras, name, kwargs):
    x, y = _images(32)

    def build(lib, weights):
        args = {k: getattr(lib.regularizers, v[0])(**v[1]) if isinstance(v, tuple) else v for k, v in kwargs.items()}
        model = _convnet(lib, weights, **args)
        if weights is None:  # a non-zero bias, so the bias regularizer counts
            model.set_weights(model.get_weights()[:-1] + [np.full(4, 0.5, np.float32)])
        return model

    reference, ours = _both(keras, build, dict(loss="sparse_categorical_crossentropy"))
    plain = _convnet(cnnkit, ours.get_weights())
    plain.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    theirs, mine = reference.evaluate(x, y, verbose=0), ours.evaluate(x, y, verbose=0)
    _close(mine, theirs)
    assert mine > plain.evaluate(x, y, verbose=0) + 1e-3  # the penalty is there
    _close(ours.test_on_batch(x, y), reference.test_on_batch(x, y))
    theirs = reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    mine = ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    _close(mine, theirs, rtol=2e-4)
    for a, b in zip(ours.get_weights(), reference.get_weights()):
        _close(a, b, rtol=1e-3, atol=1e-5)


# ---- progress output ----------------------------------------------------------------------------------------


def _masked(text):
    """Progress lines with times and values replaced, to compare layouts."""
    text = re.sub(r"\d+(ms|us|s)/step", "T/step", text)
    text = re.sub(r" - \d+s - ", " - Ts - ", text)
    return re.sub(r": -?(\d+\.\d+|nan)", ": V", text)


def test_verbose_2_prints_keras_lines(keras, capsys):
    x, y = _images(24)
    reference, ours = _both(keras, _convnet, dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"]))
    outputs = []
    for model in (reference, ours):
        capsys.readouterr()
        model.fit(x, y, batch_size=8, epochs=2, verbose=2, validation_data=(x[:8], y[:8]))
        model.fit(x, y, batch_size=8, epochs=1, verbose=2)
        model.evaluate(x, y, batch_size=16, verbose=2)
        model.predict(x, batch_size=16, verbose=2)
        outputs.append(_masked(capsys.readouterr().out).strip().splitlines())
    theirs, mine = outputs
    assert mine == theirs
    assert mine[:2] == ["Epoch 1/2", "3/3 - Ts - T/step - accuracy: V - loss: V - val_accuracy: V - val_loss: V"]
    assert mine[-1] == "2/2 - Ts - T/step"


def test_verbose_1_shows_epochs_steps_and_metrics(capsys):
    x, y = _images(24)
    model = _convnet(cnnkit)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=8, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "Epoch 3" not in out
    assert "3/3" in out and "loss: " in out and "accuracy: " in out and re.search(r"\d+(ms|us|s)/step", out)
    model.evaluate(x, y, batch_size=8, verbose=1)
    out = capsys.readouterr().out
    assert "3/3" in out and "loss: " in out and "Epoch" not in out


def test_verbose_0_prints_nothing(capsys):
    x, y = _images(24)
    model = _convnet(cnnkit)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_split=0.25)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    model.train_on_batch(x, y)
    model.predict_on_batch(x)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[cnnkit.callbacks.ProgbarLogger()])  # follows verbose, as Keras
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    model.fit(x, y, batch_size=8, epochs=2, verbose=2, callbacks=[cnnkit.callbacks.ProgbarLogger()])
    assert capsys.readouterr().out.count("3/3 - ") == 2  # the user's logger replaces the default one
    with pytest.raises(ValueError, match="verbose"):
        model.fit(x, y, verbose=3)


# ---- seeding ------------------------------------------------------------------------------------------------


def _seeded_run(seed):
    cnnkit.utils.set_random_seed(seed)
    L = cnnkit.layers
    model = cnnkit.Sequential([cnnkit.Input((6, 6, 1)), L.Conv2D(4, 3, activation="relu"), L.Flatten(),
                               L.Dropout(0.3), L.Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = _images(40)
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=True, verbose=0, validation_split=0.2)
    return history.history, model.get_weights()


def test_set_random_seed_makes_runs_identical():
    first, second, other = _seeded_run(42), _seeded_run(42), _seeded_run(43)
    assert first[0] == second[0]
    for a, b in zip(first[1], second[1]):
        np.testing.assert_array_equal(a, b)
    assert first[0]["loss"] != other[0]["loss"]


def test_fit_that_raises_leaves_no_strategy_and_eval_mode():
    """An error inside fit (here from a callback) still ends in inference mode with no training strategy left on the
    model (under torchrun that would be a stale DDP wrapper)."""
    model = cnnkit.Sequential([cnnkit.layers.Input((3,)), cnnkit.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")

    def fail(batch, logs):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        model.fit(np.zeros((4, 3)), np.zeros((4, 2)), verbose=0,
                  callbacks=[cnnkit.callbacks.LambdaCallback(on_train_batch_end=fail)])
    assert "_strategy" not in model.__dict__ and not model.training


def test_auto_verbose_is_not_fooled_by_an_imported_ipykernel(monkeypatch):
    """Only a running notebook kernel makes 'auto' draw a bar in a redirected output; an imported module does not."""
    import sys  # noqa: PLC0415
    import types  # noqa: PLC0415

    from cnnkit.training.checks import verbose  # noqa: PLC0415

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert verbose("auto") == 2  # pytest captures stdout: not a terminal
