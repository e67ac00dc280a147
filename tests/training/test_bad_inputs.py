"""Bad inputs to compile / fit / evaluate / predict (issue 20): a clear ValueError naming the argument, or the
result Keras gives (float16 inputs, numpy ints), never a raw torch error or a silently wrong result."""

import numpy as np
import pytest

import cnnkit


def _model(lib, loss="sparse_categorical_crossentropy", activation="softmax", units=3, weights=None, **kwargs):
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(units, activation=activation)])
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=lib.optimizers.SGD(learning_rate=0.1), loss=loss, **kwargs)
    return model


def _data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 3, n)


# ---- empty data --------------------------------------------------------------------------------------------


def test_fit_and_evaluate_on_empty_arrays_raise():
    x, y = _data()
    model = _model(cnnkit)
    with pytest.raises(ValueError, match=r"fit: x has no samples.*shape \(0, 4\)"):
        model.fit(x[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: x has no samples"):
        model.evaluate(x[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match=r"fit: validation_data has no samples"):
        model.fit(x, y, validation_data=(x[:0], y[:0]), verbose=0)


def test_fit_and_evaluate_on_empty_iterators_raise():
    x, y = _data()
    model = _model(cnnkit)

    class Empty:  # a Keras-style Sequence of no batch
        def __len__(self):
            return 0

        def __getitem__(self, i):
            raise IndexError(i)

    with pytest.raises(ValueError, match="fit: x has no samples"):
        model.fit(Empty(), verbose=0)
    with pytest.raises(ValueError, match="Received an empty generator"):  # Keras's words for generators
        model.fit((b for b in []), verbose=0)
    with pytest.raises(ValueError, match="evaluate: the data yielded no batch"):
        model.evaluate((b for b in []), verbose=0)
    history = model.fit(((x, y) for _ in range(2)), epochs=1, verbose=0)  # data is still fine afterwards
    assert len(history.history["loss"]) == 1


# ---- labels the loss would misread ---------------------------------------------------------------------------


def test_sparse_loss_refuses_fractional_and_out_of_range_labels():
    x, y = _data()
    model = _model(cnnkit)
    with pytest.raises(ValueError, match=r"integer class indices.*in y, e\.g\. \d\.5"):
        model.fit(x, y + 0.5, verbose=0)
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)\. Received labels in \[0, 3\]"):
        model.fit(x, np.where(y == 2, 3, y), verbose=0)
    with pytest.raises(ValueError, match="integer class indices"):
        model.evaluate(x, y + 0.5, verbose=0)
    model.fit(x, y.astype(np.float32), verbose=0)  # whole-valued floats are class indices (iterators give them)
    model.fit(x, y.reshape(-1, 1), verbose=0)
    ignoring = _model(cnnkit, loss=cnnkit.losses.SparseCategoricalCrossentropy(ignore_class=-1))
    ignoring.fit(x, np.where(y == 2, -1, y), verbose=0)  # ignore_class is not a class index


def test_binary_crossentropy_refuses_labels_outside_0_1():
    x, y = _data()
    model = _model(cnnkit, loss="binary_crossentropy", activation="sigmoid", units=1)
    with pytest.raises(ValueError, match=r"binary_crossentropy: labels must be in \[0, 1\].*\[0, 2\] in y"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 1\]"):
        model.fit(x, (y > 0) * 1.0, validation_data=(x, y), verbose=0)
    model.fit(x, (y > 0).astype(np.float32), verbose=0)
    model.fit(x, np.full(len(x), 0.3, np.float32), verbose=0)  # soft labels are probabilities: accepted
    logits = _model(cnnkit, loss=cnnkit.losses.BinaryCrossentropy(from_logits=True), activation=None, units=1)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 1\]"):
        logits.fit(x, -y, verbose=0)


def test_iterator_labels_are_checked_on_the_first_batch_only():
    x, y = _data()
    model = _model(cnnkit)
    with pytest.raises(ValueError, match="in the first batch of y"):
        model.fit(iter([(x, y + 0.5), (x, y)]), verbose=0)
    # later batches are not checked (that would cost a device sync per step): only the first one is
    model.fit(iter([(x, y), (x, y + 0.5)]), verbose=0)


# ---- values Keras accepts -----------------------------------------------------------------------------------


def test_float16_inputs_train_as_in_keras(keras):
    x, y = _data(16)
    x16 = x.astype(np.float16)
    reference = _model(keras)
    ours = _model(cnnkit, weights=reference.get_weights())
    expected = reference.fit(x16, y, batch_size=8, shuffle=False, epochs=2, verbose=0).history["loss"]
    got = ours.fit(x16, y, batch_size=8, shuffle=False, epochs=2, verbose=0).history["loss"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.predict(x16, verbose=0), reference.predict(x16, verbose=0), rtol=1e-5,
                               atol=1e-6)


def test_numpy_integer_counts_are_accepted():
    x, y = _data()
    model = _model(cnnkit)
    history = model.fit(x, y, batch_size=np.int64(4), epochs=np.int32(2), steps_per_epoch=np.int64(2),
                        validation_data=(x, y), validation_batch_size=np.int64(8), validation_steps=np.int64(1),
                        validation_freq=np.int64(1), initial_epoch=np.int64(0), verbose=0)
    assert len(history.history["val_loss"]) == 2
    model.evaluate(x, y, batch_size=np.int64(4), steps=np.int64(2), verbose=0)
    assert model.predict(x, batch_size=np.int64(3), verbose=0).shape == (8, 3)


# ---- clear errors ---------------------------------------------------------------------------------------------


def test_bad_arguments_are_named():
    x, y = _data()
    model = _model(cnnkit)
    with pytest.raises(ValueError, match=r"epochs must be an int\. Received: epochs='3'"):
        model.fit(x, y, epochs="3", verbose=0)
    with pytest.raises(ValueError, match=r"batch_size must be a positive int\. Received: batch_size=0"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match=r"steps_per_epoch must be an int\. Received: steps_per_epoch=2\.0"):
        model.fit(x, y, steps_per_epoch=2.0, verbose=0)


def test_compile_metrics_string_and_loss_weights_mismatch_get_keras_errors(keras):
    for lib in (keras, cnnkit):  # the same message in both
        with pytest.raises(ValueError, match=r"Expected `metrics` argument to be a list, tuple, or dict\. "
                                             r"Received instead: metrics=accuracy"):
            _model(lib, metrics="accuracy").fit(*_data(), verbose=0)
    with pytest.raises(ValueError, match=r"`loss_weights` must match the number of losses, got 1 losses and 2"):
        _model(cnnkit, loss_weights=[1.0, 2.0])
    _model(cnnkit, loss_weights=[2.0])  # one weight for one output


def test_string_arrays_get_a_clear_error():
    x, y = _data()
    model = _model(cnnkit)
    strings = np.array([["a"] * 4] * 8)
    with pytest.raises(ValueError, match=r"Invalid dtype: <U1 \(strings\)\. x must hold numbers"):
        model.fit(strings, y, verbose=0)
    with pytest.raises(ValueError, match="Invalid dtype"):
        model.predict(strings, verbose=0)
    with pytest.raises(ValueError, match=r"Invalid dtype: <U3 \(strings\)\. y must hold numbers"):
        model.fit(x, np.array(["cat", "dog"] * 4), verbose=0)


def test_truncated_backup_names_its_file(tmp_path):
    x, y = _data()
    backup = cnnkit.callbacks.BackupAndRestore(str(tmp_path / "backup"), delete_checkpoint=False)
    _model(cnnkit).fit(x, y, epochs=1, callbacks=[backup], verbose=0)
    path = tmp_path / "backup" / "backup.h5"
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 3])
    with pytest.raises(ValueError, match=r"BackupAndRestore: the backup file '.*backup\.h5' cannot be read"):
        _model(cnnkit).fit(x, y, epochs=2, callbacks=[backup], verbose=0)
