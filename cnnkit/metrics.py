"""Metrics with Keras names: stateful objects (`update_state`, `result`, `reset_state`) and per-sample functions.

Metric state lives in tensors on the device of the data, so updating a metric every step never waits for the
device; only `result()` reads a number. Like Keras, a metric averages over samples weighted by `sample_weight`
(the denominator is the sum of the weights).
"""

import torch

from cnnkit import losses
from cnnkit.registry import Registry

METRICS = Registry("metric")


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


class Metric:
    """Base class of stateful metrics."""

    def __init__(self, name=None, dtype=None):
        self.name = name or type(self).__name__
        self.reset_state()

    def reset_state(self):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    @property
    def variables(self):
        """The metric's state as a list of tensors whose element-wise sum over several workers is the state over
        all their data (how distributed training combines metrics). Empty for a metric that cannot be combined."""
        return []

    def assign_variables(self, values):
        """Sets the state to `values` (tensors in the order and shapes of `variables`)."""
        if list(values):
            raise NotImplementedError(f"{type(self).__name__} has no state to assign.")

    def get_config(self):
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Mean(Metric):
    """The (weighted) mean of the values given to `update_state(values, sample_weight=None)`."""

    def reset_state(self):
        self.total = None
        self.count = None

    @property
    def variables(self):
        """[total, count] (zeros before the first update)."""
        if self.total is None:
            return [torch.zeros((), dtype=torch.float32), torch.zeros((), dtype=torch.float32)]
        return [self.total, self.count]

    def assign_variables(self, values):
        self.total, self.count = values

    def _accumulate(self, values, sample_weight=None):
        values = torch.as_tensor(values).detach().to(torch.float32)
        if sample_weight is None:
            total, count = values.sum(), values.new_tensor(float(values.numel()))
        else:
            weight = torch.as_tensor(sample_weight, device=values.device).to(torch.float32)
            while weight.dim() > values.dim() and weight.shape[-1] == 1:
                weight = weight.squeeze(-1)
            weight = torch.broadcast_to(weight.reshape(weight.shape + (1,) * (values.dim() - weight.dim())),
                                        values.shape)
            total, count = (values * weight).sum(), weight.sum()
        if self.total is None:
            self.total, self.count = total, count
        else:
            self.total, self.count = self.total + total, self.count + count

    def update_state(self, values, sample_weight=None):
        self._accumulate(values, sample_weight)

    def result(self):
        """The mean so far as a Python float (0.0 before any update)."""
        if self.total is None:
            return 0.0
        count = float(self.count)
        return float(self.total) / count if count else 0.0


class MeanMetricWrapper(Mean):
    """Averages `fn(y_true, y_pred, **kwargs)` over all samples seen."""

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        self.fn, self.fn_kwargs = fn, kwargs
        super().__init__(name=name or fn.__name__, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._accumulate(self.fn(y_true, y_pred, **self.fn_kwargs), sample_weight)

    def get_config(self):
        return {"name": self.name, **self.fn_kwargs}


def _wrapper(fn, default_name, doc, **defaults):
    """Builds the __init__ of a Keras metric class over the per-sample function `fn`."""
    def __init__(self, name=default_name, dtype=None, **kwargs):
        MeanMetricWrapper.__init__(self, fn, name=name, dtype=dtype, **{**defaults, **kwargs})
    __init__.__doc__ = doc
    return __init__


class Accuracy(MeanMetricWrapper):
    __init__ = _wrapper(accuracy, "accuracy", "Fraction of exact matches.")


class BinaryAccuracy(MeanMetricWrapper):
    __init__ = _wrapper(binary_accuracy, "binary_accuracy", "Accuracy of thresholded predictions.", threshold=0.5)


class CategoricalAccuracy(MeanMetricWrapper):
    __init__ = _wrapper(categorical_accuracy, "categorical_accuracy", "Accuracy for one-hot labels.")


class SparseCategoricalAccuracy(MeanMetricWrapper):
    __init__ = _wrapper(sparse_categorical_accuracy, "sparse_categorical_accuracy", "Accuracy for integer labels.")


class TopKCategoricalAccuracy(MeanMetricWrapper):
    __init__ = _wrapper(top_k_categorical_accuracy, "top_k_categorical_accuracy", "Top-k accuracy, one-hot.", k=5)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    __init__ = _wrapper(sparse_top_k_categorical_accuracy, "sparse_top_k_categorical_accuracy",
                        "Top-k accuracy, integer labels.", k=5)


class MeanSquaredError(MeanMetricWrapper):
    __init__ = _wrapper(losses.mean_squared_error, "mean_squared_error", "Mean of the squared errors.")


class MeanAbsoluteError(MeanMetricWrapper):
    __init__ = _wrapper(losses.mean_absolute_error, "mean_absolute_error", "Mean of the absolute errors.")


for _names, _cls in [
    (("accuracy", "Accuracy"), Accuracy), (("binary_accuracy", "BinaryAccuracy"), BinaryAccuracy),
    (("categorical_accuracy", "CategoricalAccuracy"), CategoricalAccuracy),
    (("sparse_categorical_accuracy", "SparseCategoricalAccuracy"), SparseCategoricalAccuracy),
    (("top_k_categorical_accuracy", "TopKCategoricalAccuracy"), TopKCategoricalAccuracy),
    (("sparse_top_k_categorical_accuracy", "SparseTopKCategoricalAccuracy"), SparseTopKCategoricalAccuracy),
    (("mean_squared_error", "mse", "MeanSquaredError"), MeanSquaredError),
    (("mean_absolute_error", "mae", "MeanAbsoluteError"), MeanAbsoluteError),
    (("mean", "Mean"), Mean),
]:
    METRICS.register(_names[0], _cls, aliases=_names[1:])


def resolve_accuracy(y_true_shape, y_pred_shape):
    """The accuracy Keras picks for 'accuracy'/'acc' from the label and output shapes.

    Binary when the output has one unit; sparse categorical when labels have fewer axes than the output (or a
    last axis of 1 against several outputs); categorical otherwise.
    """
    if y_pred_shape[-1] == 1:
        return binary_accuracy
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        return sparse_categorical_accuracy
    return categorical_accuracy


def get(identifier, y_true_shape=None, y_pred_shape=None):
    """A metric object from a name, an instance, a class or a callable `fn(y_true, y_pred)`.

    'accuracy' and 'acc' become binary, sparse-categorical or categorical accuracy from the shapes (as in Keras),
    keeping the name the user wrote (so 'acc' logs as 'acc' and 'val_acc').
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str) and identifier in ("accuracy", "acc"):
        if y_true_shape is None or y_pred_shape is None:
            raise ValueError("metrics.get('accuracy') needs the label and output shapes to pick the variant.")
        return MeanMetricWrapper(resolve_accuracy(y_true_shape, y_pred_shape), name=identifier)
    if isinstance(identifier, str):
        return METRICS.lookup(identifier)(name=identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", "metric"))
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}.")
