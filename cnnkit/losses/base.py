"""`Loss`, Keras's reductions and the helpers every loss shares.

Reductions, as in Keras 3: 'sum_over_batch_size' (default) = sum(loss * sample_weight) / number of loss values;
'mean' (its alias); 'mean_with_sample_weight' = sum(loss * sample_weight) / sum(sample_weight); 'sum'; 'none' / None.
"""

import torch

from cnnkit.registry import Registry

LOSSES = Registry("loss")
EPSILON = 1e-7
REDUCTIONS = ("sum_over_batch_size", "sum", "none", "mean", "mean_with_sample_weight", None)
_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}


def _tensors(y_true, y_pred):
    y_pred = torch.as_tensor(y_pred)
    if not y_pred.is_floating_point():
        y_pred = y_pred.float()
    return torch.as_tensor(y_true, device=y_pred.device), y_pred


def _float_tensors(y_true, y_pred):
    """(y_true cast to y_pred's float dtype, y_pred)."""
    y_true, y_pred = _tensors(y_true, y_pred)
    return y_true.to(y_pred.dtype), y_pred


def same_rank(x1, x2, expand_rank_1=True):
    """Keras's `squeeze_or_expand_to_same_rank`: when the ranks differ by one and the longer tensor ends in a
    size-1 axis, squeeze that axis (or, if the other tensor is rank 1, expand it instead)."""
    if x1.dim() == x2.dim() + 1 and x1.shape[-1] == 1:
        if x2.dim() == 1 and expand_rank_1:
            x2 = x2.unsqueeze(-1)
        else:
            x1 = x1.squeeze(-1)
    elif x2.dim() == x1.dim() + 1 and x2.shape[-1] == 1:
        if x1.dim() == 1 and expand_rank_1:
            x1 = x1.unsqueeze(-1)
        else:
            x2 = x2.squeeze(-1)
    return x1, x2


def _check_reduction(owner, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{owner}: Invalid value for argument `reduction`. Expected one of 'sum_over_batch_size', "
                         f"'sum', 'mean', 'mean_with_sample_weight', 'none', None. Received: reduction={reduction!r}")


MASK_ATTRIBUTE = "_keras_mask"  # Keras's `set_keras_mask`: the entries of a loss's values that count


def set_loss_mask(values, mask):
    """Marks which entries of per-sample loss `values` count (booleans shaped like them; Keras's `set_keras_mask`,
    e.g. `sparse_categorical_crossentropy` with `ignore_class`); `Loss` objects reduce over those only."""
    setattr(values, MASK_ATTRIBUTE, mask)
    return values


def reduce_loss(values, sample_weight=None, reduction="sum_over_batch_size", mask=None):
    """Applies Keras's reduction to per-sample loss values (weighted by `sample_weight` when given). With a `mask`
    (booleans shaped like `values`), as Keras's `apply_mask`: masked entries weigh 0, and for 'sum_over_batch_size'
    and 'mean' the others weigh total / valid, so the result is the mean over the valid entries (0 if none)."""
    _check_reduction("reduce_loss", reduction)
    weight = None
    if sample_weight is not None:
        weight = torch.as_tensor(sample_weight, dtype=values.dtype, device=values.device)
        while weight.dim() > values.dim() and weight.shape[-1] == 1:
            weight = weight.squeeze(-1)
        while weight.dim() < values.dim():
            weight = weight.unsqueeze(-1)
    if mask is not None:
        mask = mask.to(values.dtype)
        if reduction in ("mean", "sum_over_batch_size"):
            valid = mask.sum()
            mask = mask * torch.where(valid > 0, mask.numel() / valid.clamp(min=1.0), torch.zeros_like(valid))
        weight = mask if weight is None else weight * mask
    if weight is not None:
        values = values * weight
    if reduction in ("none", None) or values.dim() == 0 or tuple(values.shape) == (0,):
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and weight is not None:
        divisor = weight.sum()
        return torch.where(divisor == 0, torch.zeros_like(total), total / divisor)
    return total / max(values.numel(), 1)


class Loss:
    """Base class: `loss(y_true, y_pred, sample_weight=None)` -> reduced scalar tensor.

    Subclasses set `fn` (a per-sample function) or override `call(y_true, y_pred)`.

    Args:
        reduction: 'sum_over_batch_size' (default), 'mean', 'mean_with_sample_weight', 'sum' or 'none'.
        name: used in logs.
        dtype: the dtype the loss computes in ('float32', 'float64', ...); None keeps y_pred's float dtype.

    Example:
        >>> from cnnkit.losses import MeanSquaredError
        >>> float(MeanSquaredError()(torch.zeros(2, 3), torch.ones(2, 3)))
        1.0
    """

    fn = None

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None, **fn_kwargs):
        _check_reduction(type(self).__name__, reduction)
        if dtype is not None and str(getattr(dtype, "name", dtype)) not in _DTYPES:
            raise ValueError(f"{type(self).__name__}: dtype must be one of {sorted(_DTYPES)} or None. "
                             f"Received: dtype={dtype!r}")
        self.reduction = reduction
        self.name = name or LOSSES.name_of(type(self)) or type(self).__name__
        self.dtype = None if dtype is None else str(getattr(dtype, "name", dtype))
        self.fn_kwargs = fn_kwargs

    def call(self, y_true, y_pred):
        y_true, y_pred = _tensors(y_true, y_pred)
        y_true, y_pred = same_rank(y_true, y_pred)
        return type(self).fn(y_true, y_pred, **self.fn_kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if self.dtype is not None:
            y_pred = torch.as_tensor(y_pred).to(_DTYPES[self.dtype])
        values = self.call(y_true, y_pred)
        return reduce_loss(values, sample_weight, self.reduction, getattr(values, MASK_ATTRIBUTE, None))

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, **self.fn_kwargs}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class LossFunctionWrapper(Loss):
    """Wraps a per-sample function `fn(y_true, y_pred)` as a Loss with Keras's reduction."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        super().__init__(reduction, name or getattr(fn, "__name__", "loss"), dtype, **kwargs)
        self.function = fn

    def call(self, y_true, y_pred):
        y_true, y_pred = same_rank(*_tensors(y_true, y_pred))
        return self.function(y_true, y_pred, **self.fn_kwargs)
