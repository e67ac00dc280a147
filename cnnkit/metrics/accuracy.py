"""Accuracy metrics (Keras's names): per-sample functions and the classes averaging them."""

import torch

from cnnkit.metrics.base import MeanMetricWrapper
from cnnkit.metrics.base import wrapper_init


def _pair(y_true, y_pred):
    y_pred = torch.as_tensor(y_pred)
    return torch.as_tensor(y_true, device=y_pred.device), y_pred


def accuracy(y_true, y_pred):
    """1.0 where y_pred equals y_true exactly (Keras's `Accuracy`)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return (y_true == y_pred).to(torch.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Mean over the last axis of (y_pred > threshold) == y_true."""
    y_true, y_pred = _pair(y_true, y_pred)
    if y_true.dim() == y_pred.dim() - 1:
        y_true = y_true.unsqueeze(-1)
    return ((y_pred > threshold).to(y_true.dtype) == y_true).to(torch.float32).mean(dim=-1)


def categorical_accuracy(y_true, y_pred):
    """argmax(y_pred) == argmax(y_true) for one-hot labels."""
    y_true, y_pred = _pair(y_true, y_pred)
    return (y_pred.argmax(dim=-1) == y_true.argmax(dim=-1)).to(torch.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    """argmax(y_pred) == y_true for integer labels of shape (batch,) or (batch, 1)."""
    y_true, y_pred = _pair(y_true, y_pred)
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    return (y_pred.argmax(dim=-1) == y_true.long()).to(torch.float32)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the true class (one-hot) is among the k highest predictions."""
    y_true, _ = _pair(y_true, y_pred)
    return sparse_top_k_categorical_accuracy(y_true.argmax(dim=-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the integer label is among the k highest predictions."""
    y_true, y_pred = _pair(y_true, y_pred)
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    k = min(k, y_pred.shape[-1])
    top = y_pred.topk(k, dim=-1).indices
    return (top == y_true.long().unsqueeze(-1)).any(dim=-1).to(torch.float32)



class Accuracy(MeanMetricWrapper):
    _direction = "up"
    __init__ = wrapper_init(accuracy, "accuracy", "Fraction of exact matches.")


class BinaryAccuracy(MeanMetricWrapper):
    _direction = "up"
    __init__ = wrapper_init(binary_accuracy, "binary_accuracy", "Accuracy of thresholded predictions.", threshold=0.5)


class CategoricalAccuracy(MeanMetricWrapper):
    _direction = "up"
    __init__ = wrapper_init(categorical_accuracy, "categorical_accuracy", "Accuracy for one-hot labels.")


class SparseCategoricalAccuracy(MeanMetricWrapper):
    _direction = "up"
    __init__ = wrapper_init(sparse_categorical_accuracy, "sparse_categorical_accuracy", "Accuracy for integer labels.")


class TopKCategoricalAccuracy(MeanMetricWrapper):
    _direction = "up"
    __init__ = wrapper_init(top_k_categorical_accuracy, "top_k_categorical_accuracy", "Top-k accuracy, one-hot.", k=5)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    _direction = "up"
    __init__ = wrapper_init(sparse_top_k_categorical_accuracy, "sparse_top_k_categorical_accuracy",
                            "Top-k accuracy, integer labels.", k=5)
