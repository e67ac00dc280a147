"""fit() against Keras's fit: same initial weights, same batches (shuffle=False), 2 epochs.

Per-epoch losses and metrics, final weights and BatchNormalization moving statistics must agree within 0.2%.
"""

import numpy as np
import pytest

import cnnkit


def _build(lib, seed_weights=None):
    if seed_weights is None:
        lib.utils.set_random_seed(1234)  # the same initial weights whatever ran before
    L = lib.layers
    model = lib.Sequential([
        L.Conv2D(6, 3, strides=2, padding="same", use_bias=False, input_shape=(12, 12, 1)),  # BN follows
        L.BatchNormalization(momentum=0.9),
        L.Activation("relu"),
        L.Conv2D(8, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dense(16, activation="tanh"),
        L.Dense(5, activation="softmax"),
    ])
    if seed_weights is not None:
        model.set_weights(seed_weights)
    return model


def _data(rng, n=192):
    x = rng.normal(size=(n, 12, 12, 1)).astype(np.float32)
    y = (x[:, :6].mean(axis=(1, 2, 3)) * 4 + rng.normal(size=n) * 0.3).clip(-2, 1.99)
    return x, np.floor((y + 2) * 5 / 4).astype(np.int64)


OPTIMIZERS = [
    ("SGD", {"learning_rate": 0.05}),
    ("SGD", {"learning_rate": 0.02, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"learning_rate": 0.003}),
    ("RMSprop", {"learning_rate": 0.002}),
]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=[n + str(k) for n, k in OPTIMIZERS])
def test_two_epochs_match_keras(keras, rng, name, kwargs):
    x, y = _data(rng)
    reference = _build(keras)
    ours = _build(cnnkit, reference.get_weights())
    for model, lib in ((reference, keras), (ours, cnnkit)):
        model.compile(optimizer=getattr(lib.optimizers, name)(**kwargs), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    theirs_hist = reference.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0,
                                validation_data=(x[:64], y[:64])).history
    ours_hist = ours.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0,
                         validation_data=(x[:64], y[:64])).history
    assert set(ours_hist) == set(theirs_hist) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    np.testing.assert_allclose(ours_hist["loss"], theirs_hist["loss"], rtol=2e-3)
    np.testing.assert_allclose(ours_hist["val_loss"], theirs_hist["val_loss"], rtol=2e-3)
    for mine, theirs in zip(ours.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=2e-3, atol=2e-4)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), reference.evaluate(x, y, verbose=0), rtol=2e-3)


def test_sample_weight_class_weight_and_validation_split_match_keras(keras, rng):
    x, y = _data(rng)
    weights = rng.uniform(0.5, 2, size=len(x)).astype(np.float32)
    reference = _build(keras)
    ours = _build(cnnkit, reference.get_weights())
    for model, lib in ((reference, keras), (ours, cnnkit)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy", metrics=["acc"],
                      weighted_metrics=["acc"])
    theirs = reference.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0, validation_split=0.25,
                           sample_weight=weights).history
    mine = ours.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0, validation_split=0.25,
                    sample_weight=weights).history
    assert set(mine) == set(theirs) == {"loss", "acc", "weighted_acc", "val_loss", "val_acc", "val_weighted_acc"}
    for key in mine:
        np.testing.assert_allclose(mine[key], theirs[key], rtol=2e-3, atol=1e-6)
    class_weight = {i: 1.0 + i / 4 for i in range(5)}
    theirs = reference.fit(x, y, batch_size=48, epochs=1, shuffle=False, verbose=0, class_weight=class_weight)
    mine = ours.fit(x, y, batch_size=48, epochs=1, shuffle=False, verbose=0, class_weight=class_weight)
    np.testing.assert_allclose(mine.history["loss"], theirs.history["loss"], rtol=2e-3)


def test_categorical_one_hot_and_dropout_in_training(keras, rng):
    x, y = _data(rng, 64)
    model = _build(cnnkit)
    model.add(cnnkit.layers.Dropout(0.5))
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, cnnkit.utils.to_categorical(y, 5), epochs=2, batch_size=16, verbose=0)
    assert len(history.history["loss"]) == 2 and history.history["accuracy"][0] >= 0
    predictions = model.predict(x[:4])
    np.testing.assert_allclose(predictions, model.predict(x[:4]))  # dropout is off in predict
