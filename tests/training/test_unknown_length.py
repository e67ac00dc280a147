"""fit / evaluate / predict on data whose length is unknown or infinite, against Keras 3 with tf.data.

The same tiny model and data go through Keras with a `tf.data.Dataset` and through cnnkit with a
`cnnkit.data.Dataset` built by the same methods (`filter`, `unbatch`, `batch`, `repeat`): the steps run in each
epoch (the callbacks' `on_train_batch_end` calls and their `params['steps']`), the history (its length and its
values) and the final weights must agree.
"""

import warnings

import numpy as np
import pytest

import cnnkit
from cnnkit.data.pipeline import UNKNOWN_CARDINALITY
from cnnkit.data.pipeline import Dataset

# ---- helpers ------------------------------------------------------------------------------------------------


def _data(n=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32).reshape(n, 1)
    return x, y


def _model(lib, weights=None):
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1)])
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=lib.optimizers.SGD(learning_rate=0.1), loss="mse")
    return model


def _recorder(lib):
    """A callback recording ('epoch', index, params['steps']) at each epoch's start, each training batch index,
    and 'val' at each validation run."""

    class Recorder(lib.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.events = []

        def on_epoch_begin(self, epoch, logs=None):
            self.events.append(("epoch", epoch, self.params.get("steps")))

        def on_train_batch_end(self, batch, logs=None):
            self.events.append(batch)

        def on_test_end(self, logs=None):
            self.events.append("val")

    return Recorder()


def _fit(lib, weights, data, **kwargs):
    """(callback events, history dict, final weights) of a 3-epoch fit."""
    model, recorder = _model(lib, weights), _recorder(lib)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns "ran out of data" at the end of each unknown-length epoch
        history = model.fit(data, epochs=3, verbose=0, callbacks=[recorder], shuffle=False, **kwargs)
    return recorder.events, history.history, model.get_weights()


def _assert_same_fit(ours, theirs):
    assert ours[0] == theirs[0]
    assert sorted(ours[1]) == sorted(theirs[1])
    for key in theirs[1]:
        assert len(ours[1][key]) == len(theirs[1][key]) == 3
        np.testing.assert_allclose(ours[1][key], theirs[1][key], rtol=1e-5, atol=1e-7, err_msg=key)
    for a, b in zip(ours[2], theirs[2]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def _both(keras, build):
    """`build(from_tensor_slices)` applied to tf.data and to cnnkit's Dataset over the same (x, y)."""
    import tensorflow as tf  # noqa: PLC0415 (the oracle's, imported with Keras)

    x, y = _data()
    return build(Dataset.from_tensor_slices((x, y))), build(tf.data.Dataset.from_tensor_slices((x, y)))


# ---- fit ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [
    lambda ds: ds.filter(lambda x, y: x[0] > -5.0).batch(4),
    lambda ds: ds.batch(3).unbatch().batch(4),
], ids=["filter_batch", "unbatch_batch"])
def test_unknown_length_runs_each_epoch_until_exhausted_like_keras(keras, build):
    mine, tf_ds = _both(keras, build)
    assert int(mine.cardinality()) == int(tf_ds.cardinality()) == UNKNOWN_CARDINALITY
    weights = _model(keras).get_weights()
    ours, theirs = _fit(cnnkit, weights, mine), _fit(keras, weights, tf_ds)
    # steps unknown in params (None) every epoch, 3 batches each, a new pass each epoch
    assert theirs[0] == [("epoch", 0, None), 0, 1, 2, ("epoch", 1, None), 0, 1, 2, ("epoch", 2, None), 0, 1, 2]
    _assert_same_fit(ours, theirs)


def test_unknown_length_validation_data_without_validation_steps_like_keras(keras):
    (train, val), (tf_train, tf_val) = zip(_both(keras, lambda ds: ds.batch(4)),
                                           _both(keras, lambda ds: ds.filter(lambda x, y: x[1] > 0.0).batch(2)))
    weights = _model(keras).get_weights()
    ours = _fit(cnnkit, weights, train, validation_data=val)
    theirs = _fit(keras, weights, tf_train, validation_data=tf_val)
    assert "val_loss" in theirs[1]
    _assert_same_fit(ours, theirs)


def test_infinite_dataset_with_steps_per_epoch_continues_across_epochs_like_keras(keras):
    # 3 batches repeated, 2 steps per epoch: batches 0 1 | 2 0 | 1 2, as tf.data's iterator kept across epochs
    mine, tf_ds = _both(keras, lambda ds: ds.batch(4).repeat())
    weights = _model(keras).get_weights()
    ours = _fit(cnnkit, weights, mine, steps_per_epoch=2)
    theirs = _fit(keras, weights, tf_ds, steps_per_epoch=2)
    assert theirs[0] == [("epoch", 0, 2), 0, 1, ("epoch", 1, 2), 0, 1, ("epoch", 2, 2), 0, 1]
    _assert_same_fit(ours, theirs)


def test_infinite_dataset_without_steps_is_tf_keras_value_error():
    # Keras 3 runs such a fit forever; tf.keras (and cnnkit) refuse it with this message
    x, y = _data()
    infinite = Dataset.from_tensor_slices((x, y)).batch(4).repeat()
    model = _model(cnnkit)
    message = "When providing an infinite dataset, you must specify the number of steps to run"
    with pytest.raises(ValueError, match=message + r".*steps_per_epoch=None"):
        model.fit(infinite, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message + r".*validation_steps=None"):
        model.fit(x, y, validation_data=infinite, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=message + r".*Received: steps=None"):
        model.evaluate(infinite, verbose=0)
    with pytest.raises(ValueError, match=message + r".*Received: steps=None"):
        model.predict(infinite, verbose=0)
    # with steps they run
    assert len(model.predict(infinite, steps=4, verbose=0)) == 4 + 4 + 2 + 4  # batches of 4, 4, 2, repeated
    assert np.isfinite(model.evaluate(infinite, steps=2, verbose=0))
    model.fit(x, y, validation_data=infinite, validation_steps=1, epochs=1, verbose=0)


# ---- evaluate / predict ---------------------------------------------------------------------------------------


def test_evaluate_and_predict_on_unknown_length_like_keras(keras):
    mine, tf_ds = _both(keras, lambda ds: ds.filter(lambda x, y: x[2] < 5.0).batch(4))
    reference = _model(keras)
    model = _model(cnnkit, reference.get_weights())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras: "ran out of data" at the end of an unknown-length pass
        expected = reference.evaluate(tf_ds, verbose=0), reference.predict(tf_ds, verbose=0)
    np.testing.assert_allclose(model.evaluate(mine, verbose=0), expected[0], rtol=1e-5)
    np.testing.assert_allclose(model.predict(mine, verbose=0), expected[1], rtol=1e-5, atol=1e-6)


def test_iterable_without_len_runs_until_exhausted():
    x, y = _data()

    class Batches:  # an iterable (a new pass per iter()) with no __len__
        def __iter__(self):
            return ((x[i:i + 4], y[i:i + 4]) for i in range(0, 10, 4))

    model = _model(cnnkit)
    recorder = _recorder(cnnkit)
    history = model.fit(Batches(), epochs=2, verbose=0, callbacks=[recorder])
    assert recorder.events == [("epoch", 0, None), 0, 1, 2, ("epoch", 1, None), 0, 1, 2]
    assert len(history.history["loss"]) == 2
    np.testing.assert_allclose(model.predict(Batches(), verbose=0), model.predict(x, verbose=0), rtol=1e-6)


# ---- progress bar -----------------------------------------------------------------------------------------------


def test_progress_bar_shows_unknown_then_learns_the_count(capsys):
    x, y = _data()
    unknown = Dataset.from_tensor_slices((x, y)).filter(lambda a, b: True).batch(4)
    model = _model(cnnkit)
    model.fit(unknown, epochs=2, verbose=1)
    out = capsys.readouterr().out
    first, second = out.split("Epoch 2/2")
    assert "/Unknown" in first and "3/3" in first  # Keras: `      1/Unknown`, then `3/3` when the epoch ends
    assert "Unknown" not in second and "3/3" in second
    model.fit(unknown, epochs=2, verbose=2)
    assert capsys.readouterr().out.splitlines()[1].startswith("3/3 - ")
    model.evaluate(unknown, verbose=1)
    assert "/Unknown" in capsys.readouterr().out
