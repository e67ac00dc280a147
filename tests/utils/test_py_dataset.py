"""cnnkit.utils.PyDataset / Sequence: fit, evaluate and predict read them, workers (threads or processes) keep the
batch order, on_epoch_begin / on_epoch_end run each epoch, errors in workers arrive with their message."""

import threading

import numpy as np
import pytest

from cnnkit import utils
from cnnkit.layers import Dense
from cnnkit.layers import Input
from cnnkit.models import Sequential
from cnnkit.utils import PyDataset
from cnnkit.utils import Sequence

X = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
Y = (X @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")


class Batches(PyDataset):
    """Batches of 8 rows of X, Y; records the indices asked and the epoch hooks."""

    def __init__(self, fail_at=None, **kwargs):
        super().__init__(**kwargs)
        self.fail_at, self.asked, self.threads = fail_at, [], set()
        self.begins = self.ends = 0

    def __len__(self):
        return 5

    def __getitem__(self, index):
        if index == self.fail_at:
            raise ValueError(f"bad batch {index}")
        self.asked.append(index)
        self.threads.add(threading.get_ident())
        return X[index * 8:(index + 1) * 8], Y[index * 8:(index + 1) * 8]

    def on_epoch_begin(self):
        self.begins += 1

    def on_epoch_end(self):
        self.ends += 1


class Counted(PyDataset):
    """Only `num_batches` (no __len__); index i is a batch full of i."""

    def __init__(self, count, **kwargs):
        super().__init__(**kwargs)
        self.count = count

    @property
    def num_batches(self):
        return self.count

    def __getitem__(self, index):
        return np.full((2, 3), float(index), "float32")


def _model():
    model = Sequential([Input((3,)), Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_keras_names_and_defaults(keras):
    assert Sequence is PyDataset is utils.PyDataset
    data = Batches()
    assert (data.workers, data.use_multiprocessing, data.max_queue_size) == (1, False, 10)
    kdata = keras.utils.PyDataset()
    assert (kdata.workers, kdata.use_multiprocessing, kdata.max_queue_size) == (1, False, 10)
    assert [batch[0, 0] for batch in Counted(3)] == [0.0, 1.0, 2.0]  # __iter__ over num_batches
    with pytest.raises(ValueError, match="workers must be an int >= 0. Received: workers=-1"):
        Batches(workers=-1)
    with pytest.raises(ValueError, match="max_queue_size"):
        Batches(max_queue_size=0)


@pytest.mark.parametrize("workers,processes", [(1, False), (3, False), (2, True)])
def test_fit_with_workers_matches_arrays(workers, processes):
    reference = _model()
    reference.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model = _model()
    data = Batches(workers=workers, use_multiprocessing=processes, max_queue_size=2)
    model.fit(data, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(model.get_weights()[0], reference.get_weights()[0], rtol=1e-6)
    assert data.begins == data.ends == 2
    if not processes:
        assert sorted(data.asked) == sorted(list(range(5)) * 2)  # (the order of results: test_predict_...)
    if workers > 1 and not processes:
        assert threading.get_ident() not in data.threads


def test_validation_data_can_be_a_py_dataset():
    val = Batches(workers=2)
    history = _model().fit(Batches(), validation_data=val, epochs=2, verbose=0)
    assert len(history.history["val_loss"]) == 2 and val.ends == 2


def test_predict_keeps_order_and_evaluate():
    model = _model()
    model.set_weights([np.ones((3, 1), "float32"), np.zeros(1, "float32")])
    out = model.predict(Counted(7, workers=4, max_queue_size=3), verbose=0)
    np.testing.assert_allclose(out[:, 0], np.repeat(np.arange(7) * 3.0, 2))
    loss = model.evaluate(Batches(workers=2), verbose=0)
    expected = np.mean((X @ np.ones((3, 1)) - Y) ** 2)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


@pytest.mark.parametrize("processes", [False, True])
def test_worker_errors_propagate_with_their_message(processes):
    with pytest.raises(ValueError, match="bad batch 3"):
        _model().fit(Batches(fail_at=3, workers=2, use_multiprocessing=processes), epochs=1, verbose=0)


def test_shuffle_visits_every_batch_once_per_epoch():
    data = Batches(workers=2)
    _model().fit(data, epochs=2, shuffle=True, verbose=0)
    assert sorted(data.asked) == sorted(list(range(5)) * 2)


def test_subclass_without_super_init_warns_and_works():
    class NoSuper(PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 1

        def __getitem__(self, index):
            return X[:4], Y[:4]

    with pytest.warns(UserWarning, match="super"):
        _model().fit(NoSuper(), epochs=1, verbose=0)
