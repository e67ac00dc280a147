"""Regression, hinge and overlap (Dice, Tversky) losses with Keras's formulas and epsilons."""

import math

import torch
import torch.nn.functional as F

from cnnkit.losses.base import EPSILON
from cnnkit.losses.base import Loss
from cnnkit.losses.base import _float_tensors
from cnnkit.losses.base import same_rank


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _float_tensors(y_true, y_pred)
    return (y_pred - y_true).square().mean(dim=-1)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _float_tensors(y_true, y_pred)
    return (y_pred - y_true).abs().mean(dim=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7)) over the last axis. Returns (batch, ...)."""
    y_true, y_pred = same_rank(*_float_tensors(y_true, y_pred))
    return 100.0 * ((y_true - y_pred) / y_true.abs().clamp(min=EPSILON)).abs().mean(dim=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))^2) over the last axis."""
    y_true, y_pred = same_rank(*_float_tensors(y_true, y_pred))
    return (torch.log(y_pred.clamp(min=EPSILON) + 1.0) - torch.log(y_true.clamp(min=EPSILON) + 1.0)).square().mean(-1)


def huber(y_true, y_pred, delta=1.0):
    """Mean over the last axis of 0.5 x^2 for |x| <= delta, else delta (|x| - 0.5 delta); x = y_pred - y_true."""
    y_true, y_pred = _float_tensors(y_true, y_pred)
    error = (y_pred - y_true).abs()
    return torch.where(error <= delta, 0.5 * error.square(), delta * (error - 0.5 * delta)).mean(dim=-1)


def log_cosh(y_true, y_pred):
    """mean(log(cosh(y_pred - y_true))) over the last axis, computed as x + softplus(-2x) - log 2 (no overflow)."""
    y_true, y_pred = same_rank(*_float_tensors(y_true, y_pred))
    x = y_pred - y_true
    return (x + F.softplus(-2.0 * x) - math.log(2.0)).mean(dim=-1)


def cosine_similarity(y_true, y_pred, axis=-1):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred)) over `axis` (norms floored at 1e-7, as Keras)."""
    y_true, y_pred = same_rank(*_float_tensors(y_true, y_pred))

    def normalize(x):
        return x * torch.rsqrt(x.square().sum(dim=axis, keepdim=True)).clamp(max=1.0 / EPSILON)

    return -(normalize(y_true) * normalize(y_pred)).sum(dim=axis)


def _hinge_labels(y_true):
    """Keras's rule: labels that are all 0 or 1 become -1 / 1; other labels are used as given (no host sync)."""
    binary = ((y_true == 0) | (y_true == 1)).all()
    return torch.where(binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0)) over the last axis; y_true in {-1, 1} (or {0, 1}, converted)."""
    y_true, y_pred = _float_tensors(y_true, y_pred)
    return (1.0 - _hinge_labels(y_true) * y_pred).clamp(min=0.0).mean(dim=-1)


def squared_hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0)^2) over the last axis; y_true in {-1, 1} (or {0, 1}, converted)."""
    y_true, y_pred = _float_tensors(y_true, y_pred)
    return (1.0 - _hinge_labels(y_true) * y_pred).clamp(min=0.0).square().mean(dim=-1)


def categorical_hinge(y_true, y_pred):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0) over the last axis; y_true one-hot."""
    y_true, y_pred = _float_tensors(y_true, y_pred)
    pos = (y_true * y_pred).sum(dim=-1)
    neg = ((1.0 - y_true) * y_pred).amax(dim=-1)
    return (neg - pos + 1.0).clamp(min=0.0)


def _sum(x, axis):
    return x.sum() if axis is None else x.sum(dim=axis)


def dice(y_true, y_pred, axis=None):
    """1 - 2 sum(y_true * y_pred) / (sum(y_true) + sum(y_pred) + 1e-7), summed over `axis` (None: every axis, a
    scalar)."""
    y_true, y_pred = _float_tensors(y_true, y_pred)
    intersection = _sum(y_true * y_pred, axis)
    return 1.0 - 2.0 * intersection / (_sum(y_true, axis) + _sum(y_pred, axis) + EPSILON)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """1 - TP / (TP + alpha FP + beta FN + 1e-7), with TP = sum(y_true y_pred), FP = sum((1 - y_pred) y_true) and
    FN = sum(y_pred (1 - y_true)) as Keras defines them, summed over `axis` (None: every axis)."""
    y_true, y_pred = _float_tensors(y_true, y_pred)
    intersection = _sum(y_true * y_pred, axis)
    fp = _sum((1.0 - y_pred) * y_true, axis)
    fn = _sum(y_pred * (1.0 - y_true), axis)
    return 1.0 - intersection / (intersection + fp * alpha + fn * beta + EPSILON)


class MeanSquaredError(Loss):
    fn = staticmethod(mean_squared_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(reduction, name, dtype)


class MeanAbsoluteError(Loss):
    fn = staticmethod(mean_absolute_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(reduction, name, dtype)


class MeanAbsolutePercentageError(Loss):
    fn = staticmethod(mean_absolute_percentage_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None):
        super().__init__(reduction, name, dtype)


class MeanSquaredLogarithmicError(Loss):
    fn = staticmethod(mean_squared_logarithmic_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(reduction, name, dtype)


class Huber(Loss):
    fn = staticmethod(huber)

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(reduction, name, dtype, delta=delta)


class LogCosh(Loss):
    fn = staticmethod(log_cosh)

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(reduction, name, dtype)


class CosineSimilarity(Loss):
    """Negative cosine similarity along `axis` (-1: opposite, 0: orthogonal, -1 is the best)."""

    fn = staticmethod(cosine_similarity)

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(reduction, name, dtype, axis=axis)


class Hinge(Loss):
    fn = staticmethod(hinge)

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(reduction, name, dtype)


class SquaredHinge(Loss):
    fn = staticmethod(squared_hinge)

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(reduction, name, dtype)


class CategoricalHinge(Loss):
    fn = staticmethod(categorical_hinge)

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(reduction, name, dtype)


class Dice(Loss):
    """Dice loss for segmentation masks: `dice` over `axis` (None: the whole batch at once, as Keras).

    Example:
        >>> float(Dice()(torch.ones(2, 4, 4, 1), torch.ones(2, 4, 4, 1)))  # a perfect overlap
        0.0
    """

    fn = staticmethod(dice)

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        super().__init__(reduction, name, dtype, axis=axis)


class Tversky(Loss):
    """Tversky loss (`tversky`): alpha weighs false positives, beta false negatives (0.5 each: Dice)."""

    fn = staticmethod(tversky)

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky", axis=None, dtype=None):
        super().__init__(reduction, name, dtype, alpha=alpha, beta=beta, axis=axis)
