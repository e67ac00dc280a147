"""Losses with Keras names, arguments, formulas and reductions.

Each loss has a function giving one value per sample (`categorical_crossentropy(y_true, y_pred)` -> (batch,))
and a class that reduces it (`CategoricalCrossentropy()(y_true, y_pred, sample_weight)` -> scalar). Inputs are
torch tensors (or arrays) in Keras layout, classes on the last axis.

Reductions, as in Keras 3: 'sum_over_batch_size' (default) = sum(loss * sample_weight) / number of loss values;
'sum'; 'none'; 'mean' is an alias of 'sum_over_batch_size'.

Note:
    Probabilities are clipped to [1e-7, 1 - 1e-7] before the log, as in Keras; torch's CrossEntropyLoss takes logits
    and class indices instead. With `from_logits=True` the numerically stable log-softmax / log-sigmoid forms are
    used.
"""

import torch
import torch.nn.functional as F

from cnnkit.registry import Registry

LOSSES = Registry("loss")
EPSILON = 1e-7
REDUCTIONS = ("sum_over_batch_size", "sum", "none", "mean", None)


def _tensors(y_true, y_pred):
    y_pred = torch.as_tensor(y_pred)
    if not y_pred.is_floating_point():
        y_pred = y_pred.float()
    return torch.as_tensor(y_true, device=y_pred.device), y_pred


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
    return loss if valid is None else loss * valid


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Mean over `axis` of -(y log p + (1 - y) log(1 - p)). Returns (batch, ...)."""
    y_true, y_pred = _tensors(y_true, y_pred)
    y_true = y_true.to(y_pred.dtype)
    if y_true.dim() == y_pred.dim() - 1:
        y_true = y_true.unsqueeze(-1)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        elementwise = F.binary_cross_entropy_with_logits(y_pred, y_true.expand_as(y_pred), reduction="none")
    else:
        p = y_pred.clamp(EPSILON, 1.0 - EPSILON)
        elementwise = -(y_true * p.log() + (1.0 - y_true) * (1.0 - p).log())
    return elementwise.mean(dim=axis)


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _tensors(y_true, y_pred)
    return (y_pred - y_true.to(y_pred.dtype)).square().mean(dim=-1)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _tensors(y_true, y_pred)
    return (y_pred - y_true.to(y_pred.dtype)).abs().mean(dim=-1)


def huber(y_true, y_pred, delta=1.0):
    """Mean over the last axis of 0.5 x^2 for |x| <= delta, else delta (|x| - 0.5 delta); x = y_pred - y_true."""
    y_true, y_pred = _tensors(y_true, y_pred)
    error = (y_pred - y_true.to(y_pred.dtype)).abs()
    return torch.where(error <= delta, 0.5 * error.square(), delta * (error - 0.5 * delta)).mean(dim=-1)


def kl_divergence(y_true, y_pred):
    """sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to [1e-7, 1]."""
    y_true, y_pred = _tensors(y_true, y_pred)
    y_true = y_true.to(y_pred.dtype).clamp(EPSILON, 1.0)
    y_pred = y_pred.clamp(EPSILON, 1.0)
    return (y_true * (y_true / y_pred).log()).sum(dim=-1)


def reduce_loss(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Applies Keras's reduction to per-sample loss values (weighted by `sample_weight` when given)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid reduction: {reduction!r}. Expected one of 'sum_over_batch_size', 'sum', 'none'.")
    if sample_weight is not None:
        weight = torch.as_tensor(sample_weight, dtype=values.dtype, device=values.device)
        while weight.dim() > values.dim() and weight.shape[-1] == 1:
            weight = weight.squeeze(-1)
        while weight.dim() < values.dim():
            weight = weight.unsqueeze(-1)
        values = values * weight
    if reduction in ("none", None):
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    return total / max(values.numel(), 1)


class Loss:
    """Base class: `loss(y_true, y_pred, sample_weight=None)` -> reduced scalar tensor.

    Args:
        reduction: 'sum_over_batch_size' (default), 'sum' or 'none'.
        name: used in logs.
    """

    fn = None

    def __init__(self, reduction="sum_over_batch_size", name=None, **fn_kwargs):
        if reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be 'sum_over_batch_size', 'sum' or 'none'. "
                             f"Received: reduction={reduction!r}")
        self.reduction = reduction
        self.name = name or LOSSES.name_of(type(self)) or type(self).__name__
        self.fn_kwargs = fn_kwargs

    def call(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, **self.fn_kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        return reduce_loss(self.call(y_true, y_pred), sample_weight, self.reduction)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, **self.fn_kwargs}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class CategoricalCrossentropy(Loss):
    fn = staticmethod(categorical_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy"):
        super().__init__(reduction, name, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(Loss):
    fn = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy"):
        super().__init__(reduction, name, from_logits=from_logits, ignore_class=ignore_class)


class BinaryCrossentropy(Loss):
    fn = staticmethod(binary_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy"):
        super().__init__(reduction, name, from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class MeanSquaredError(Loss):
    fn = staticmethod(mean_squared_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(reduction, name)


class MeanAbsoluteError(Loss):
    fn = staticmethod(mean_absolute_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(reduction, name)


class Huber(Loss):
    fn = staticmethod(huber)

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss"):
        super().__init__(reduction, name, delta=delta)


class KLDivergence(Loss):
    fn = staticmethod(kl_divergence)

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence"):
        super().__init__(reduction, name)


for _names, _cls, _fn in [
    (("categorical_crossentropy", "CategoricalCrossentropy"), CategoricalCrossentropy, categorical_crossentropy),
    (("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"), SparseCategoricalCrossentropy,
     sparse_categorical_crossentropy),
    (("binary_crossentropy", "BinaryCrossentropy"), BinaryCrossentropy, binary_crossentropy),
    (("mean_squared_error", "mse", "MSE", "MeanSquaredError"), MeanSquaredError, mean_squared_error),
    (("mean_absolute_error", "mae", "MAE", "MeanAbsoluteError"), MeanAbsoluteError, mean_absolute_error),
    (("huber", "huber_loss", "Huber"), Huber, huber),
    (("kl_divergence", "kld", "KLD", "kullback_leibler_divergence", "KLDivergence"), KLDivergence, kl_divergence),
]:
    LOSSES.register(_names[0], _cls, aliases=_names[1:])


def get(identifier):
    """A loss object from a name ('categorical_crossentropy', 'mse', 'CategoricalCrossentropy'), a config dict, a
    Loss instance, or any callable `fn(y_true, y_pred)` (wrapped with the default reduction)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return LOSSES.lookup(identifier["class_name"]).from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        return LOSSES.lookup(identifier)()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}. Expected a name, a Loss or a callable.")


class LossFunctionWrapper(Loss):
    """Wraps a per-sample function `fn(y_true, y_pred)` as a Loss with Keras's reduction."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name or getattr(fn, "__name__", "loss"))
        self.function = fn

    def call(self, y_true, y_pred):
        return self.function(y_true, y_pred)
