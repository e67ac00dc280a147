"""Losses against Keras (TensorFlow backend): per-sample values, reductions, sample weights, options."""

import numpy as np
import pytest
import torch

from cnnkit import losses


def _probs(rng, n, k):
    logits = rng.normal(size=(n, k)).astype(np.float32) * 3
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    p[0, 0] = 1e-9  # below Keras's clipping epsilon
    return logits, p.astype(np.float32)


CASES = [
    ("categorical_crossentropy", {}), ("categorical_crossentropy", {"from_logits": True}),
    ("categorical_crossentropy", {"label_smoothing": 0.1}),
    ("sparse_categorical_crossentropy", {}), ("sparse_categorical_crossentropy", {"from_logits": True}),
    ("binary_crossentropy", {}), ("binary_crossentropy", {"from_logits": True}),
    ("binary_crossentropy", {"label_smoothing": 0.2}),
    ("mean_squared_error", {}), ("mean_absolute_error", {}), ("huber", {"delta": 0.7}), ("kl_divergence", {}),
]


def _inputs(name, kwargs, rng):
    logits, probs = _probs(rng, 16, 5)
    labels = rng.integers(0, 5, size=16)
    pred = logits if kwargs.get("from_logits") else probs
    if name.startswith("sparse"):
        return labels, pred
    if name.startswith("categorical") or name == "kl_divergence":
        return np.eye(5, dtype=np.float32)[labels], pred
    if name == "binary_crossentropy":
        return rng.integers(0, 2, size=(16, 5)).astype(np.float32), pred
    return rng.normal(size=(16, 5)).astype(np.float32), logits


@pytest.mark.parametrize("name,kwargs", CASES)
def test_per_sample_function_matches_keras(keras, rng, name, kwargs):
    y_true, y_pred = _inputs(name, kwargs, rng)
    ours = getattr(losses, name)(y_true, y_pred, **kwargs).numpy()
    theirs = np.asarray(getattr(keras.losses, name)(y_true, y_pred, **kwargs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
@pytest.mark.parametrize("name,kwargs", CASES)
def test_loss_class_reduction_and_sample_weight_match_keras(keras, rng, name, kwargs, reduction):
    y_true, y_pred = _inputs(name, kwargs, rng)
    weight = rng.uniform(0, 2, size=16).astype(np.float32)
    ours_cls = type(losses.get(name))
    theirs_cls = getattr(keras.losses, ours_cls.__name__)
    ours = ours_cls(reduction=reduction, **kwargs)(y_true, y_pred, sample_weight=weight).numpy()
    theirs = np.asarray(theirs_cls(reduction=reduction, **kwargs)(y_true, y_pred, sample_weight=weight))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_names_and_aliases():
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert isinstance(losses.get("CategoricalCrossentropy"), losses.CategoricalCrossentropy)
    with pytest.raises(ValueError, match="Did you mean 'categorical_crossentropy'"):
        losses.get("categorical_crosentropy")


def test_callable_is_wrapped_with_mean_reduction():
    loss = losses.get(lambda t, p: (p - t).abs().sum(-1))
    value = loss(torch.zeros(4, 2), torch.ones(4, 2))
    assert float(value) == pytest.approx(2.0)


def test_label_shape_errors_are_clear():
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        losses.categorical_crossentropy(np.array([0, 1]), np.full((2, 3), 1 / 3, np.float32))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        losses.sparse_categorical_crossentropy(np.array([0, 5]), np.full((2, 3), 1 / 3, np.float32))


def test_gradient_matches_torch_cross_entropy():
    labels = torch.tensor([0, 1, 2, 0])
    ours = torch.randn(4, 3, requires_grad=True)
    reference = ours.detach().clone().requires_grad_()
    losses.SparseCategoricalCrossentropy(from_logits=True)(labels, ours).backward()
    torch.nn.functional.cross_entropy(reference, labels).backward()
    torch.testing.assert_close(ours.grad, reference.grad)
