"""Cross-entropies (plain and focal), KL divergence and Poisson, with Keras's formulas.

Probabilities are clipped to [1e-7, 1 - 1e-7] before the log, as in Keras; torch's CrossEntropyLoss takes logits
and class indices instead. With `from_logits=True` the numerically stable log-softmax / log-sigmoid forms are used
(the focal losses, like Keras, apply the softmax / sigmoid first and then clip). As in Keras, the three plain
cross-entropies given the output of a softmax (categorical ones) or a sigmoid (binary) compute from the logits kept
on it (`cnnkit.ops.logits`): a model ending in Dense(n, activation="softmax") trains on the exact log-softmax.
"""

import warnings

import torch
import torch.nn.functional as F

from cnnkit.losses.base import EPSILON
from cnnkit.losses.base import Loss
from cnnkit.losses.base import _float_tensors
from cnnkit.losses.base import _tensors
from cnnkit.losses.base import set_loss_mask
from cnnkit.ops.logits import logits_of


def _get_logits(y_pred, from_logits, activation, fn_name):
    """Keras's `_get_logits`: (the logits kept on `y_pred` by a `activation` ('Softmax' / 'Sigmoid'), True) when
    there are some, with Keras's warning if `from_logits` was already True; else (y_pred, from_logits)."""
    logits = logits_of(y_pred)
    if logits is None:
        return y_pred, from_logits
    if from_logits:
        warnings.warn(f'"`{fn_name}` received `from_logits=True`, but the `output` argument was produced by a '
                      f"{activation} activation and thus does not represent logits. Was this intended?", stacklevel=3)
    return logits, True


def _smooth_categorical(y_true, label_smoothing):
    if not label_smoothing:
        return y_true
    return y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """-sum(y_true * log(y_pred)) over `axis`, y_true one-hot (or a distribution). Returns (batch, ...)."""
    y_true, y_pred = _tensors(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"categorical_crossentropy: y_true and y_pred must have the same shape (one-hot labels). "
                         f"Received: y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}. For "
                         "integer labels use sparse_categorical_crossentropy.")
    y_true = _smooth_categorical(y_true.to(y_pred.dtype), label_smoothing)
    y_pred, from_logits = _get_logits(y_pred, from_logits, "Softmax", "categorical_crossentropy")
    if from_logits:
        log_probs = torch.log_softmax(y_pred, dim=axis)
    else:
        probs = y_pred / y_pred.sum(dim=axis, keepdim=True)
        log_probs = probs.clamp(EPSILON, 1.0 - EPSILON).log()
    return -(y_true * log_probs).sum(dim=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """-log(y_pred[y_true]) with integer labels y_true of shape (batch,) or (batch, 1). Returns (batch,).

    Labels outside [0, classes) raise a ValueError on the CPU; on CUDA they trip a device-side assert (checking
    them there would wait for the device at every step).

    For probabilities, Keras clips them to [1e-7, 1 - 1e-7], takes the log and applies a softmax cross-entropy to
    that (which renormalises the clipped values); cnnkit does the same.
    """
    y_true, y_pred = _tensors(y_true, y_pred)
    if ignore_class is None:  # Keras masks y_pred first with ignore_class, which drops the logits
        y_pred, from_logits = _get_logits(y_pred, from_logits, "Softmax", "sparse_categorical_crossentropy")
    if axis not in (-1, y_pred.dim() - 1):
        y_pred = y_pred.movedim(axis, -1)
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    if tuple(y_true.shape) != tuple(y_pred.shape[:-1]):
        raise ValueError(
            "sparse_categorical_crossentropy: y_true must hold one integer class index per sample, shape "
            f"{tuple(y_pred.shape[:-1])} (or with a trailing 1). Received: y_true.shape={tuple(y_true.shape)}, "
            f"y_pred.shape={tuple(y_pred.shape)}. For one-hot labels use categorical_crossentropy."
        )
    labels = y_true.long()
    num_classes = y_pred.shape[-1]
    valid = labels != ignore_class if ignore_class is not None else None
    if valid is not None:
        labels = torch.where(valid, labels, torch.zeros_like(labels))
    logits = y_pred if from_logits else y_pred.clamp(EPSILON, 1.0 - EPSILON).log()
    log_probs = torch.log_softmax(logits, dim=-1)
    try:  # gather checks the label range itself: no host sync per step
        picked = log_probs.gather(-1, labels.unsqueeze(-1))
    except (RuntimeError, IndexError):
        raise ValueError(f"sparse_categorical_crossentropy: labels must be in [0, {num_classes}). Received labels in "
                         f"[{int(labels.min())}, {int(labels.max())}].") from None
    loss = -picked.squeeze(-1)
    if valid is None:
        return loss
    return set_loss_mask(torch.where(valid, loss, torch.zeros_like(loss)), valid)  # Loss objects average the valid


def _binary_elementwise(y_true, p):
    p = p.clamp(EPSILON, 1.0 - EPSILON)
    return -(y_true * p.log() + (1.0 - y_true) * (1.0 - p).log())


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Mean over `axis` of -(y log p + (1 - y) log(1 - p)). Returns (batch, ...)."""
    y_true, y_pred = _float_tensors(y_true, y_pred)
    y_pred, from_logits = _get_logits(y_pred, from_logits, "Sigmoid", "binary_crossentropy")
    if y_true.dim() == y_pred.dim() - 1:
        y_true = y_true.unsqueeze(-1)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        elementwise = F.binary_cross_entropy_with_logits(y_pred, y_true.expand_as(y_pred), reduction="none")
    else:
        elementwise = _binary_elementwise(y_true, y_pred)
    return elementwise.mean(dim=axis)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1):
    """Focal loss (Lin et al.): mean over `axis` of (1 - p_t)^gamma * bce, p_t = y p + (1 - y)(1 - p); with
    `apply_class_balancing`, weighted by alpha (positives) / 1 - alpha (negatives). Returns (batch, ...).

    Example:
        >>> float(binary_focal_crossentropy([[1.0]], [[0.5]], gamma=0.0)[0])  # gamma 0: the plain cross-entropy
        0.693...
    """
    y_true, y_pred = _float_tensors(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = torch.sigmoid(y_pred)
    bce = _binary_elementwise(y_true, y_pred)
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = (1.0 - p_t).pow(gamma) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return focal.mean(dim=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    """sum over `axis` of alpha * (1 - p)^gamma * (-y log p), p the (clipped, renormalised) probabilities.
    Returns (batch, ...)."""
    if isinstance(axis, bool):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}")
    y_true, y_pred = _float_tensors(y_true, y_pred)
    if y_pred.shape[-1] == 1:
        warnings.warn("In loss categorical_focal_crossentropy, expected y_pred.shape to be (batch_size, num_classes) "
                      f"with num_classes > 1. Received: y_pred.shape={tuple(y_pred.shape)}. Consider using "
                      "'binary_crossentropy' if you only have 2 classes.", SyntaxWarning, stacklevel=2)
    y_true = _smooth_categorical(y_true, label_smoothing)
    if from_logits:
        y_pred = torch.softmax(y_pred, dim=axis)
    output = (y_pred / y_pred.sum(dim=axis, keepdim=True)).clamp(EPSILON, 1.0 - EPSILON)
    cce = -y_true * output.log()
    return ((1.0 - output).pow(gamma) * alpha * cce).sum(dim=axis)


def kl_divergence(y_true, y_pred):
    """sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to [1e-7, 1]."""
    y_true, y_pred = _float_tensors(y_true, y_pred)
    y_true = y_true.clamp(EPSILON, 1.0)
    y_pred = y_pred.clamp(EPSILON, 1.0)
    return (y_true * (y_true / y_pred).log()).sum(dim=-1)


def poisson(y_true, y_pred):
    """mean(y_pred - y_true * log(y_pred + 1e-7)) over the last axis."""
    y_true, y_pred = _float_tensors(y_true, y_pred)
    return (y_pred - y_true * (y_pred + EPSILON).log()).mean(dim=-1)


class CategoricalCrossentropy(Loss):
    fn = staticmethod(categorical_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(reduction, name, dtype, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(Loss):
    fn = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(reduction, name, dtype, from_logits=from_logits, ignore_class=ignore_class)


class BinaryCrossentropy(Loss):
    fn = staticmethod(binary_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(reduction, name, dtype, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class BinaryFocalCrossentropy(Loss):
    """Binary focal cross-entropy (`binary_focal_crossentropy`), Keras's arguments and defaults.

    Args:
        apply_class_balancing: weight positives by alpha and negatives by 1 - alpha (default False).
        alpha: default 0.25. gamma: the focusing parameter, default 2.0.
        from_logits, label_smoothing, axis: as `BinaryCrossentropy`.

    Example:
        >>> loss = BinaryFocalCrossentropy(gamma=2.0, from_logits=True)
        >>> loss(torch.tensor([[0.0, 1.0]]), torch.tensor([[-2.0, 3.0]])).shape
        torch.Size([])
    """

    fn = staticmethod(binary_focal_crossentropy)

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name="binary_focal_crossentropy", dtype=None):
        _check_focal(type(self).__name__, alpha, gamma, label_smoothing)
        super().__init__(reduction, name, dtype, apply_class_balancing=apply_class_balancing, alpha=alpha,
                         gamma=gamma, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class CategoricalFocalCrossentropy(Loss):
    """Categorical focal cross-entropy (`categorical_focal_crossentropy`), one-hot labels.

    Args:
        alpha: default 0.25. gamma: default 2.0. from_logits, label_smoothing, axis: as `CategoricalCrossentropy`.
    """

    fn = staticmethod(categorical_focal_crossentropy)

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy", dtype=None):
        _check_focal(type(self).__name__, alpha, gamma, label_smoothing)
        super().__init__(reduction, name, dtype, alpha=alpha, gamma=gamma, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


def _check_focal(owner, alpha, gamma, label_smoothing):
    for arg, value in (("alpha", alpha), ("gamma", gamma), ("label_smoothing", label_smoothing)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{owner}: {arg} must be a float >= 0. Received: {arg}={value!r}")


class KLDivergence(Loss):
    fn = staticmethod(kl_divergence)

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(reduction, name, dtype)


class Poisson(Loss):
    """Poisson loss: mean(y_pred - y_true * log(y_pred + 1e-7)) over the last axis."""

    fn = staticmethod(poisson)

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(reduction, name, dtype)
