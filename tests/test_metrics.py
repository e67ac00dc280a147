"""Metrics against Keras (TensorFlow backend): accumulation over batches, sample weights, 'accuracy' resolution."""

import numpy as np
import pytest

from cnnkit import metrics


def _data(name, rng):
    probs = rng.dirichlet(np.ones(6), size=40).astype(np.float32)
    labels = rng.integers(0, 6, size=40)
    if name.startswith("sparse"):
        return labels, probs
    if name in ("categorical_accuracy", "top_k_categorical_accuracy"):
        return np.eye(6, dtype=np.float32)[labels], probs
    if name == "binary_accuracy":
        return rng.integers(0, 2, size=(40, 1)).astype(np.float32), probs[:, :1] * 2
    if name == "accuracy":
        return labels, rng.integers(0, 6, size=40)
    return rng.normal(size=(40, 6)).astype(np.float32), probs


NAMES = ["accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
         "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "mean_squared_error",
         "mean_absolute_error"]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_metric_accumulates_like_keras(keras, rng, name, weighted):
    y_true, y_pred = _data(name, rng)
    weight = rng.uniform(0, 2, size=40).astype(np.float32) if weighted else None
    cls_name = type(metrics.METRICS.lookup(name)(name=name)).__name__
    ours, theirs = metrics.METRICS.lookup(name)(), getattr(keras.metrics, cls_name)()
    for start in (0, 13, 29):  # uneven batches
        stop = {0: 13, 13: 29, 29: 40}[start]
        sw = None if weight is None else weight[start:stop]
        ours.update_state(y_true[start:stop], y_pred[start:stop], sample_weight=sw)
        theirs.update_state(y_true[start:stop], y_pred[start:stop], sample_weight=sw)
    assert ours.result() == pytest.approx(float(theirs.result()), rel=1e-5, abs=1e-6)
    ours.reset_state()
    assert ours.result() == 0.0


@pytest.mark.parametrize("y_true_shape,y_pred_shape,expected", [
    ((32,), (32, 10), "sparse_categorical_accuracy"), ((32, 1), (32, 10), "sparse_categorical_accuracy"),
    ((32, 10), (32, 10), "categorical_accuracy"), ((32, 1), (32, 1), "binary_accuracy"),
])
def test_accuracy_resolution_keeps_user_name(y_true_shape, y_pred_shape, expected):
    for name in ("accuracy", "acc"):
        metric = metrics.get(name, y_true_shape, y_pred_shape)
        assert metric.name == name and metric.fn.__name__ == expected


def test_unknown_metric_suggests():
    with pytest.raises(ValueError, match="Did you mean 'categorical_accuracy'"):
        metrics.get("categorical_acuracy")
