"""What fit / evaluate / predict accept as data, and how they batch, shuffle, split and weight it.

Keras is the oracle where it defines the behaviour (validation_split, class_weight, sample_weight with validation,
the batch size implied by steps_per_epoch); the other forms (torch tensors, Python lists, Keras-style iterators,
generators, DataLoaders) must train exactly as the same batches given as numpy arrays.
"""

import warnings

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit.training import data_adapter

# ---- helpers ------------------------------------------------------------------------------------------------


def _data(n=40, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    y = np.digitize(x[:, 0] + 0.3 * x[:, 1], [-0.4, 0.4]).astype(np.int64) % classes
    return x, y


def _model(lib, weights=None, classes=3):
    if weights is None:
        lib.utils.set_random_seed(3)
    model = lib.Sequential([lib.Input((5,)), lib.layers.Dense(7, activation="relu"),
                            lib.layers.Dense(classes, activation="softmax")])
    if weights is not None:
        model.set_weights(weights)
    return model


def _compile(model, lib, lr=0.1, **kwargs):
    model.compile(optimizer=lib.optimizers.SGD(learning_rate=lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], **kwargs)
    return model


def _pair(keras, lr=0.1, **kwargs):
    reference = _compile(_model(keras), keras, lr, **kwargs)
    ours = _compile(_model(cnnkit, reference.get_weights()), cnnkit, lr, **kwargs)
    return reference, ours


def _fresh(weights, lr=0.1, **kwargs):
    return _compile(_model(cnnkit, weights), cnnkit, lr, **kwargs)


def _assert_same_run(a, b, rtol=1e-5):
    """Two (history dict, weights) results agree."""
    assert set(a[0]) == set(b[0])
    for key in a[0]:
        np.testing.assert_allclose(a[0][key], b[0][key], rtol=rtol, atol=1e-7, err_msg=key)
    for wa, wb in zip(a[1], b[1]):
        np.testing.assert_allclose(wa, wb, rtol=rtol, atol=1e-7)


def _run(model, *args, **kwargs):
    history = model.fit(*args, verbose=0, **kwargs)
    return history.history, model.get_weights()


def _recording_loss(seen):
    """A loss (sparse crossentropy) that records the labels of every batch it sees."""
    def recording(y_true, y_pred):
        seen.append(np.asarray(y_true.detach().cpu()).reshape(-1).copy())
        return cnnkit.losses.sparse_categorical_crossentropy(y_true, y_pred)
    return recording


# ---- arrays -------------------------------------------------------------------------------------------------


def test_numpy_matches_keras_and_torch_tensors_and_lists_match_numpy(keras):
    x, y = _data()
    reference, ours = _pair(keras)
    weights = reference.get_weights()
    theirs = _run(reference, x, y, batch_size=8, epochs=2, shuffle=False, validation_data=(x[:12], y[:12]))
    mine = _run(ours, x, y, batch_size=8, epochs=2, shuffle=False, validation_data=(x[:12], y[:12]))
    _assert_same_run(mine, theirs, rtol=1e-4)
    tensors = _run(_fresh(weights), torch.from_numpy(x), torch.from_numpy(y), batch_size=8, epochs=2, shuffle=False,
                   validation_data=(torch.from_numpy(x[:12]), torch.from_numpy(y[:12])))
    _assert_same_run(tensors, mine)
    lists = _run(_fresh(weights), x.tolist(), y.tolist(), batch_size=8, epochs=2, shuffle=False,
                 validation_data=[x[:12].tolist(), y[:12].tolist()])  # a list [x, y] is read as (x, y), as Keras
    _assert_same_run(lists, mine)


def test_evaluate_and_predict_accept_tensors_and_lists():
    x, y = _data(20)
    model = _compile(_model(cnnkit), cnnkit)
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(torch.from_numpy(x), verbose=0), expected, rtol=1e-6)
    np.testing.assert_allclose(model.predict(x.tolist(), verbose=0), expected, rtol=1e-6)
    loss = model.evaluate(x, y, verbose=0)[0]
    assert model.evaluate(x.tolist(), y.tolist(), verbose=0)[0] == pytest.approx(loss)
    assert model.evaluate(torch.from_numpy(x), torch.from_numpy(y), verbose=0)[0] == pytest.approx(loss)


# ---- Keras-style iterators ----------------------------------------------------------------------------------


class Batches:
    """A Keras Sequence / directory-iterator look-alike: consecutive batches, optionally with sample weights."""

    def __init__(self, x, y, batch_size, sample_weight=None):
        self.x, self.y, self.batch_size, self.sample_weight = x, y, batch_size, sample_weight
        self.epoch_begins, self.epoch_ends, self.requests = 0, 0, []

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, index):
        self.requests.append(index)
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        if self.sample_weight is None:
            return self.x[part], self.y[part]
        return self.x[part], self.y[part], self.sample_weight[part]

    def on_epoch_begin(self):
        self.epoch_begins += 1

    def on_epoch_end(self):
        self.epoch_ends += 1


def test_indexable_iterator_trains_like_arrays_and_gets_on_epoch_end():
    x, y = _data()
    sample_weight = np.linspace(0.5, 2.0, len(x)).astype(np.float32)
    weights = _model(cnnkit).get_weights()
    arrays = _run(_fresh(weights, weighted_metrics=["accuracy"]), x, y, batch_size=8, epochs=3, shuffle=False,
                  sample_weight=sample_weight, validation_data=(x[:16], y[:16]))
    train, val = Batches(x, y, 8, sample_weight), Batches(x[:16], y[:16], 8)
    iterated = _run(_fresh(weights, weighted_metrics=["accuracy"]), train, epochs=3, validation_data=val,
                    shuffle=False)
    _assert_same_run(iterated, arrays)
    assert train.epoch_ends == 3 and train.epoch_begins == 3
    assert train.requests == [0, 1, 2, 3, 4] * 3
    assert val.requests == [0, 1] * 3
    # shuffle=True (the default) takes every batch once per epoch in a new order, as Keras does for a PyDataset
    train = Batches(x, y, 4)
    _run(_fresh(weights), train, epochs=3, validation_data=val)
    epochs = [train.requests[i * 10:(i + 1) * 10] for i in range(3)]
    assert all(sorted(e) == list(range(10)) for e in epochs) and epochs[0] != epochs[1] != epochs[2]
    assert val.requests[-2:] == [0, 1]
    # steps_per_epoch takes the first batches of each epoch
    train = Batches(x, y, 8)
    _run(_fresh(weights), train, epochs=2, steps_per_epoch=2, shuffle=False)
    assert train.requests == [0, 1, 0, 1] and train.epoch_ends == 2
    # evaluate and predict go through it once, in order
    model = _fresh(weights)
    np.testing.assert_allclose(model.predict(Batches(x, y, 16), verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert model.evaluate(Batches(x, y, 16), verbose=0)[0] == pytest.approx(model.evaluate(x, y, verbose=0)[0])


def test_indexable_iterator_matches_keras_py_dataset(keras):
    x, y = _data()
    reference, ours = _pair(keras)

    class KerasBatches(keras.utils.PyDataset):
        def __init__(self, data):
            super().__init__()
            self.data = data

        def __len__(self):
            return len(self.data)

        def __getitem__(self, index):
            return self.data[index]

    theirs = _run(reference, KerasBatches(Batches(x, y, 10)), epochs=2, shuffle=False)
    mine = _run(ours, Batches(x, y, 10), epochs=2, shuffle=False)
    _assert_same_run(mine, theirs, rtol=1e-4)


def test_class_weight_with_an_iterator():
    x, y = _data()
    weights = _model(cnnkit).get_weights()
    class_weight = {0: 2.0, 1: 0.5, 2: 1.5}
    arrays = _run(_fresh(weights), x, y, batch_size=10, epochs=2, shuffle=False, class_weight=class_weight)
    iterated = _run(_fresh(weights), Batches(x, y, 10), epochs=2, class_weight=class_weight, shuffle=False)
    _assert_same_run(iterated, arrays)
    with pytest.raises(ValueError, match="class_weight"):
        _fresh(weights).fit(Batches(x, y, 10, np.ones(len(x))), class_weight=class_weight, verbose=0)


# ---- generators and DataLoaders -----------------------------------------------------------------------------


def test_generator_with_steps_per_epoch_continues_across_epochs():
    x, y = _data(48)
    weights = _model(cnnkit).get_weights()
    produced = []

    def batches():
        index = 0
        while True:
            produced.append(index)
            part = slice(index * 8 % 48, index * 8 % 48 + 8)
            yield x[part], y[part]
            index += 1

    streamed = _run(_fresh(weights), batches(), epochs=2, steps_per_epoch=3)
    assert produced == [0, 1, 2, 3, 4, 5]  # the second epoch continues where the first stopped
    arrays_model = _fresh(weights)
    history = arrays_model.fit(x[:24], y[:24], batch_size=8, epochs=1, shuffle=False, verbose=0).history
    history2 = arrays_model.fit(x[24:], y[24:], batch_size=8, epochs=1, shuffle=False, verbose=0).history
    np.testing.assert_allclose(streamed[0]["loss"], history["loss"] + history2["loss"], rtol=1e-5)
    for a, b in zip(streamed[1], arrays_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_generator_without_steps_runs_until_exhausted():
    x, y = _data(16)
    weights = _model(cnnkit).get_weights()

    def batches():
        for i in range(2):
            yield x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]

    streamed = _run(_fresh(weights), batches(), epochs=1)
    arrays = _run(_fresh(weights), x, y, batch_size=8, epochs=1, shuffle=False)
    _assert_same_run(streamed, arrays)
    model = _fresh(weights)
    np.testing.assert_allclose(model.predict(batches(), verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    # a second epoch finds the generator exhausted: a warning, and training stops after the first
    with pytest.warns(UserWarning, match="ran out of data after 0 steps in epoch 2"):
        history = model.fit(batches(), epochs=3, verbose=0)
    assert history.epoch == [0]


def test_generator_that_runs_out_warns_and_stops():
    x, y = _data(40)

    def five_batches():
        for i in range(5):
            yield x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]

    model = _fresh(_model(cnnkit).get_weights())
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(five_batches(), epochs=3, steps_per_epoch=3, verbose=0)
    assert history.epoch == [0, 1]  # 3 + 2 batches; epoch 3 never starts training
    assert all(np.isfinite(history.history["loss"]))


def test_torch_dataloader_matches_arrays():
    x, y = _data()
    weights = _model(cnnkit).get_weights()
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=False)
    val_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x[:16]),
                                                                            torch.from_numpy(y[:16])), batch_size=8)
    arrays = _run(_fresh(weights), x, y, batch_size=8, epochs=2, shuffle=False, validation_data=(x[:16], y[:16]))
    loaded = _run(_fresh(weights), loader, epochs=2, validation_data=val_loader)
    _assert_same_run(loaded, arrays)
    model = _fresh(weights)
    x_only = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x)), batch_size=16)
    np.testing.assert_allclose(model.predict(x_only, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(model.predict(loader, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(model.evaluate(loader, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)
    # steps_per_epoch beyond one pass starts the DataLoader again
    seen = []
    model.compile(optimizer="sgd", loss=_recording_loss(seen))
    model.fit(loader, epochs=1, steps_per_epoch=7, verbose=0)
    assert len(seen) == 7 and np.array_equal(seen[5], y[:8])


# ---- validation_split, shuffling ----------------------------------------------------------------------------


def test_validation_split_takes_the_last_fraction_before_shuffling(keras):
    x, y = _data(50)
    reference, ours = _pair(keras, lr=0.0)  # no learning: val_loss is the loss of the validation part itself
    theirs = reference.fit(x, y, batch_size=8, epochs=2, validation_split=0.3, shuffle=True, verbose=0).history
    mine = ours.fit(x, y, batch_size=8, epochs=2, validation_split=0.3, shuffle=True, verbose=0).history
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        np.testing.assert_allclose(mine[key], theirs[key], rtol=1e-5, err_msg=key)
    cut = int(50 * 0.7)  # 35 training samples, the last 15 validate
    last = ours.evaluate(x[cut:], y[cut:], verbose=0, return_dict=True)
    first = ours.evaluate(x[:cut], y[:cut], verbose=0, return_dict=True)
    assert mine["val_loss"][-1] == pytest.approx(last["loss"], rel=1e-6)
    assert mine["loss"][-1] == pytest.approx(first["loss"], rel=1e-5)
    assert mine["val_loss"][-1] != pytest.approx(first["loss"], rel=1e-3)


def test_validation_split_with_several_inputs_and_errors():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 3)).astype(np.float32), rng.normal(size=(20, 2)).astype(np.float32)
    y = rng.normal(size=(20, 1)).astype(np.float32)
    first, second = cnnkit.Input((3,), name="a"), cnnkit.Input((2,), name="b")
    out = cnnkit.layers.Dense(1)(cnnkit.layers.Concatenate()([first, second]))
    model = cnnkit.Model([first, second], out)
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit([a, b], y, batch_size=4, epochs=1, validation_split=0.25, verbose=0).history
    assert history["val_loss"][0] == pytest.approx(model.evaluate([a[15:], b[15:]], y[15:], verbose=0), rel=1e-6)
    by_name = model.fit({"b": b, "a": a}, y, batch_size=4, epochs=1, shuffle=False, verbose=0)  # a dict by name
    assert len(by_name.history["loss"]) == 1
    with pytest.raises(ValueError, match="validation_split"):
        model.fit([a, b], y, validation_split=1.0, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(Batches(a, y, 4), validation_split=0.2, verbose=0)


def test_shuffle_visits_every_sample_once_per_epoch_in_a_new_order():
    x, _ = _data(24)
    labels = np.arange(24)  # each sample is its own class, so the recorded labels name the samples
    seen = []
    model = _model(cnnkit, classes=24)
    model.compile(optimizer="sgd", loss=_recording_loss(seen))
    model.fit(x, labels, batch_size=5, epochs=3, shuffle=True, verbose=0, validation_data=(x[:10], labels[:10]))
    # per epoch: 5 training batches (24 samples), then 2 validation batches (10 samples, in order)
    assert len(seen) == 3 * 7
    orders = []
    for epoch in range(3):
        batches = seen[epoch * 7:(epoch + 1) * 7]
        train = np.concatenate(batches[:5]).tolist()
        assert sorted(train) == list(range(24))
        assert np.concatenate(batches[5:]).tolist() == list(range(10))
        orders.append(train)
    assert orders[0] != orders[1] and orders[1] != orders[2] and orders[0] != list(range(24))
    seen.clear()
    model.fit(x, labels, batch_size=5, epochs=1, shuffle=False, verbose=0)
    assert np.concatenate(seen).tolist() == list(range(24))


def test_array_adapter_shuffles_with_torch_seed():
    x = np.arange(10, dtype=np.float32)[:, None]
    orders = []
    for _ in range(2):
        torch.manual_seed(5)
        adapter = data_adapter.make(x, np.arange(10), batch_size=4, shuffle=True)
        orders.append([b[1].tolist() for b in adapter.epoch()])
    assert orders[0] == orders[1] and len(orders[0]) == 3 and [len(b) for b in orders[0]] == [4, 4, 2]


def test_steps_per_epoch_without_batch_size_splits_the_arrays_like_keras():
    x, y = _data(40)
    seen = []
    model = _model(cnnkit)
    model.compile(optimizer="sgd", loss=_recording_loss(seen))
    model.fit(x, y, epochs=1, steps_per_epoch=4, shuffle=False, verbose=0)  # Keras: batch_size = ceil(40 / 4)
    assert [len(b) for b in seen] == [10, 10, 10, 10]
    seen.clear()
    model.fit(x, y, epochs=1, verbose=0)  # default batch_size 32
    assert [len(b) for b in seen] == [32, 8]


def test_validation_freq_int_and_list():
    x, y = _data(20)
    model = _fresh(_model(cnnkit).get_weights())
    history = model.fit(x, y, epochs=4, verbose=0, validation_data=(x, y), validation_freq=2).history
    assert len(history["loss"]) == 4 and len(history["val_loss"]) == 2
    history = model.fit(x, y, epochs=4, verbose=0, validation_data=(x, y), validation_freq=[1, 4]).history
    assert len(history["val_loss"]) == 2
    with pytest.raises(ValueError, match="validation_freq"):
        model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y), validation_freq=0)


# ---- class_weight and sample_weight -------------------------------------------------------------------------


def test_class_weight_matches_keras(keras):
    x, y = _data(48)
    reference, ours = _pair(keras)
    weights = reference.get_weights()
    class_weight = {0: 0.5, 2: 3.0}  # class 1 is missing: weight 1.0, as in Keras
    theirs = _run(reference, x, y, batch_size=12, epochs=2, shuffle=False, class_weight=class_weight)
    mine = _run(ours, x, y, batch_size=12, epochs=2, shuffle=False, class_weight=class_weight)
    _assert_same_run(mine, theirs, rtol=1e-4)
    # one-hot labels (categorical crossentropy) are weighted by their argmax
    one_hot = _model(cnnkit, weights)
    one_hot.compile(optimizer=cnnkit.optimizers.SGD(learning_rate=0.1), loss="categorical_crossentropy",
                    metrics=["accuracy"])
    from_one_hot = _run(one_hot, x, cnnkit.utils.to_categorical(y, 3), batch_size=12, epochs=2, shuffle=False,
                        class_weight=class_weight)
    _assert_same_run(from_one_hot, mine)


def test_class_weight_balanced_is_n_over_classes_times_count():
    x, y = _data(48)
    counts = np.bincount(y, minlength=3)
    explicit = {c: len(y) / (3 * counts[c]) for c in range(3)}
    weights = _model(cnnkit).get_weights()
    balanced = _run(_fresh(weights), x, y, batch_size=12, epochs=2, shuffle=False, class_weight="balanced")
    dict_weighted = _run(_fresh(weights), x, y, batch_size=12, epochs=2, shuffle=False, class_weight=explicit)
    plain = _run(_fresh(weights), x, y, batch_size=12, epochs=2, shuffle=False)
    _assert_same_run(balanced, dict_weighted)
    assert balanced[0]["loss"][0] != pytest.approx(plain[0]["loss"][0], rel=1e-4)
    np.testing.assert_allclose(data_adapter.class_weights_to_sample_weights(y, "balanced"),
                               [explicit[c] for c in y], rtol=1e-6)
    with pytest.raises(ValueError, match="class_weight"):
        _fresh(weights).fit(x, y, class_weight="uniform", verbose=0)


def test_sample_weight_with_weighted_validation_matches_keras(keras):
    x, y = _data(48)
    rng = np.random.default_rng(4)
    sample_weight = rng.uniform(0.2, 3.0, size=len(x)).astype(np.float32)
    val_weight = rng.uniform(0.2, 3.0, size=16).astype(np.float32)
    reference, ours = _pair(keras, weighted_metrics=["accuracy"])
    kwargs = dict(batch_size=12, epochs=2, shuffle=False, sample_weight=sample_weight,
                  validation_data=(x[:16], y[:16], val_weight))
    theirs = _run(reference, x, y, **kwargs)
    mine = _run(ours, x, y, **kwargs)
    assert set(mine[0]) == {"loss", "accuracy", "weighted_accuracy", "val_loss", "val_accuracy",
                            "val_weighted_accuracy"}
    _assert_same_run(mine, theirs, rtol=1e-4)
    unweighted_val = _fresh(reference.get_weights()).evaluate(x[:16], y[:16], verbose=0)[0]
    weighted_val = _fresh(reference.get_weights()).evaluate(x[:16], y[:16], sample_weight=val_weight, verbose=0)[0]
    assert unweighted_val != pytest.approx(weighted_val, rel=1e-3)


# ---- errors -------------------------------------------------------------------------------------------------


def test_mismatched_lengths_are_a_clear_value_error():
    x, y = _data(20)
    model = _fresh(_model(cnnkit).get_weights())
    with pytest.raises(ValueError, match=r"cardinality.*\[19, 20\]"):
        model.fit(x, y[:19], verbose=0)
    with pytest.raises(ValueError, match=r"cardinality.*\[18, 20\]"):
        model.fit(x, y, sample_weight=np.ones(18), verbose=0)
    with pytest.raises(ValueError, match="cardinality"):
        model.fit(x, y, validation_data=(x[:5], y[:6]), verbose=0)
    with pytest.raises(ValueError, match="cardinality"):
        model.evaluate(x[:3], y, verbose=0)
    with pytest.raises(ValueError, match="y must not be given"):
        model.fit(Batches(x, y, 4), y, verbose=0)


def test_misspelt_fit_arguments_suggest_the_right_name():
    x, y = _data(20)
    model = _fresh(_model(cnnkit).get_weights())
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'epoch'\. Did you mean 'epochs'\?"):
        model.fit(x, y, epoch=3, verbose=0)
    with pytest.raises(TypeError, match=r"'validations_split'\. Did you mean 'validation_split'\?"):
        model.fit(x, y, epochs=3, validations_split=0.2, verbose=0)
    # seed 004 misspells two arguments in one call: both are named
    with pytest.raises(TypeError) as info:
        model.fit(x, y, validation_split=0.2, n_split=0.2, batch_size=10, epoch=3)
    assert "'n_split'" in str(info.value) and "'epoch'. Did you mean 'epochs'?" in str(info.value)
    with pytest.raises(TypeError, match="Did you mean 'batch_size'"):
        model.evaluate(x, y, batchsize=128)
    with pytest.raises(TypeError, match="Did you mean 'metrics'"):
        model.compile(optimizer="adam", loss="mse", metric=["accuracy"])


def test_fit_evaluate_before_compile_is_a_clear_error():
    x, y = _data(10)
    model = _model(cnnkit)
    for call in (lambda: model.fit(x, y, verbose=0), lambda: model.evaluate(x, y, verbose=0),
                 lambda: model.train_on_batch(x, y), lambda: model.test_on_batch(x, y)):
        with pytest.raises(ValueError, match=r"You must call compile\(\) before"):
            call()
    assert model.predict(x, verbose=0).shape == (10, 3)  # predict needs no compile, as in Keras


def test_unsupported_data_types():
    model = _fresh(_model(cnnkit).get_weights())
    with pytest.raises(TypeError):
        model.fit("images/", epochs=1, verbose=0)
    with pytest.raises(ValueError, match="x is required"):
        model.fit(None, np.zeros(3), verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(*_data(10), batch_size=0, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(*_data(10), batch_size=4, verbose=0)  # nothing to warn about
