"""The learning-rate range test: it leaves the model untouched, records one loss per step at exponentially growing
learning rates, stops when the loss diverges, and suggests a rate on the falling part of the curve."""

import numpy as np
import pytest

import cnnkit
from cnnkit import layers
from cnnkit.training import lr_find


def _model():
    cnnkit.utils.set_random_seed(0)
    model = cnnkit.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 1), dtype=np.float32)
    return x, (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype(int)


def test_lr_find_records_losses_and_leaves_the_model_untouched():
    model = _model()
    x, y = _data()
    before = [w.copy() for w in model.get_weights()]
    found = lr_find(model, x, y, batch_size=16, start_lr=1e-4, end_lr=1e4, steps=40, beta=0.7)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert float(model.optimizer.learning_rate) == 0.01 and model.optimizer.iterations == 0
    rates = np.asarray(found.learning_rates)
    np.testing.assert_allclose(rates, 1e-4 * (1e8 ** (1 / 39)) ** np.arange(len(rates)), rtol=1e-9)
    assert len(found.losses) == len(rates) and len(rates) < 40  # SGD at lr 1e4 diverges: stopped early
    assert found.smoothed[-1] > 4 * min(found.smoothed) or not np.isfinite(found.smoothed[-1])
    lowest = int(np.argmin(found.smoothed))
    assert found.min_loss_learning_rate == rates[lowest]
    assert rates[0] <= found.suggestion <= found.min_loss_learning_rate
    # the first steps reproduce plain SGD steps at those learning rates (checked independently on a copy)
    check = _model()
    for i in range(2):
        check.optimizer.learning_rate = rates[i]
        order = np.random.default_rng(0).permutation(64)[16 * i:16 * (i + 1)]
        loss = check.train_on_batch(x[order], y[order])
        assert loss == pytest.approx(found.losses[i], rel=1e-5)


def test_lr_find_plot_and_errors(tmp_path):
    model = _model()
    x, y = _data()
    found = lr_find(model, x, y, steps=10)
    fig = found.plot(str(tmp_path / "lr.png"))
    assert (tmp_path / "lr.png").exists() and fig.axes[0].get_xscale() == "log"
    with pytest.raises(ValueError, match="steps must be an int >= 2"):
        lr_find(model, x, y, steps=1)
    with pytest.raises(ValueError, match="need 0 < start_lr < end_lr"):
        lr_find(model, x, y, start_lr=1.0, end_lr=0.1)
    with pytest.raises(ValueError, match="compile the model first"):
        lr_find(cnnkit.Sequential([layers.Input((2,)), layers.Dense(1)]), x, y)
