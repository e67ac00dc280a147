"""The metric base classes: `Metric`, `Mean`, `Sum`, `MeanMetricWrapper`, and the tensor helpers the metrics share.

A metric keeps its state as torch tensors on the device of the data it is given: `update_state` only queues
device work (no `.item()`, no host copy), `result()` is where numbers are read. The state is declared by
`variables` in a form that sums: the element-wise sum of several workers' `variables` is the state over all their
data, which is how distributed training combines metrics (`assign_variables` puts the sum back).
"""

import numpy as np
import torch

from cnnkit.ops.variable import Variable
from cnnkit.utils.naming import to_snake_case
from cnnkit.utils.naming import unique_name

EPSILON = 1e-7  # Keras's backend.epsilon()


def as_float(x, device=None, dtype=torch.float32):
    """`x` (array, list, number or tensor) as a detached tensor of `dtype` on `device` (or x's own device)."""
    if isinstance(x, torch.Tensor):
        return x.detach().to(device=device or x.device, dtype=dtype)
    if isinstance(x, (int, float, np.number)):  # made on the device: no host copy (the trainer's batch size)
        return torch.full((), x, dtype=dtype, device=device)
    return torch.as_tensor(np.asarray(x), device=device).to(dtype)


def pair(y_true, y_pred, dtype=torch.float32):
    """(y_true, y_pred) as float tensors on y_pred's device."""
    y_pred = as_float(y_pred, dtype=dtype)
    return as_float(y_true, y_pred.device, dtype), y_pred


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rule: when the ranks differ by one and the longer has a last axis of 1, squeeze it (or expand a
    rank-1 partner instead, with `expand_rank_1`)."""
    if x1.dim() == x2.dim() + 1 and x1.shape[-1] == 1:
        if x2.dim() == 1 and expand_rank_1:
            x2 = x2.unsqueeze(-1)
        else:
            x1 = x1.squeeze(-1)
    if x2.dim() == x1.dim() + 1 and x2.shape[-1] == 1:
        if x1.dim() == 1 and expand_rank_1:
            x1 = x1.unsqueeze(-1)
        else:
            x2 = x2.squeeze(-1)
    return x1, x2


def divide_no_nan(a, b):
    """a / b, 0 where b == 0."""
    safe = torch.where(b == 0, torch.ones_like(b), b)
    return torch.where(b == 0, torch.zeros_like(a * b), a / safe)


def to_result(tensor):
    """A result tensor as Keras's logs show it: a Python float for a scalar, a float32 numpy array otherwise."""
    tensor = tensor.detach()
    if tensor.dim() == 0:
        return float(tensor)
    return tensor.to(torch.float32).cpu().numpy()


def log_value(result):
    """A metric's `result()` as the logs hold it: a Python float for a scalar (tensor, Variable or number), a
    float32 numpy array otherwise; a dict of results (Keras lets `result()` return one) item by item."""
    if isinstance(result, dict):
        return {key: log_value(value) for key, value in result.items()}
    if isinstance(result, Variable):
        result = result.value
    if isinstance(result, torch.Tensor):
        return to_result(result)
    if isinstance(result, (np.ndarray, np.generic)):
        return float(result) if np.ndim(result) == 0 else np.asarray(result, np.float32)
    return result


def _reduce_to_samplewise(values, sample_weight, reduce):
    """Keras's reduce_to_samplewise_values: (values * weight per sample, weight per sample)."""
    values = values.to(torch.float32)
    if sample_weight is not None:
        sample_weight = as_float(sample_weight, values.device)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim, values_ndim = sample_weight.dim(), values.dim()
        if values_ndim > weight_ndim:
            values = reduce(values, dim=tuple(range(weight_ndim, values_ndim)))
        sample_weight = torch.broadcast_to(sample_weight, values.shape)
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = reduce(sample_weight, dim=tuple(range(1, weight_ndim)))
    if values.dim() > 1:
        values = reduce(values, dim=tuple(range(1, values.dim())))
    return values, sample_weight


def _unwrap(value):
    """A config value as Keras serializes it ({'class_name': '__tensor__' | '__numpy__' | '__tuple__', 'config':
    {'value': ...}}) as a plain Python value."""
    if isinstance(value, dict) and value.get("class_name") in ("__tensor__", "__numpy__", "__tuple__"):
        inner = value.get("config", {}).get("value")
        return tuple(inner) if value["class_name"] == "__tuple__" else inner
    return value


_LOSS_FUNCTIONS = {"mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
                   "mean_squared_logarithmic_error", "log_cosh", "huber", "hinge", "squared_hinge", "categorical_hinge",
                   "poisson", "kl_divergence", "binary_crossentropy", "categorical_crossentropy",
                   "sparse_categorical_crossentropy", "binary_focal_crossentropy", "categorical_focal_crossentropy"}


def _function_direction(fn):
    """'up' for cnnkit's accuracy functions, 'down' for its loss functions (Keras's MeanMetricWrapper rule: a
    function of keras.losses is minimised), else None."""
    name, module = getattr(fn, "__name__", ""), getattr(fn, "__module__", "") or ""
    if not module.startswith("cnnkit."):
        return None
    if name.endswith("accuracy"):
        return "up"
    return "down" if name in _LOSS_FUNCTIONS else None


class Metric:
    """Base class of stateful metrics (Keras's `keras.metrics.Metric`).

    Subclasses name their state tensors in `_state` and give their shapes in `_state_shape()` (None while the
    shape is unknown, before the first update); the base class then provides `reset_state`, `variables` and
    `assign_variables`. A subclass may instead override those three (and must keep `variables` summable).

    Keras-style subclasses work as written for Keras (keras.io's "Writing your own metrics"): state made in
    `__init__` with `self.add_variable(shape, initializer, dtype=None, aggregation='sum', name=None)` (or the older
    `self.add_weight(name=..., initializer='zeros')`) is a `cnnkit.ops.variable.Variable` changed with `.assign`,
    `.assign_add`, `.assign_sub` in `update_state(y_true, y_pred, sample_weight=None)`; `result()` may return the
    variable, a tensor, a number or a dict of them (the logs get Python floats); `reset_state()` defaults to
    assigning zeros, as Keras's. Such variables with aggregation 'sum' are the metric's `variables` (as tensors),
    so distributed training sums them.

    Args:
        name: the metric's name (its key in the logs). Default: the class name in snake_case, made unique in the
            session like Keras ('precision', then 'precision_1', ...; `clear_session()` restarts the count).
        dtype: the dtype of the state and results; 'float32' (Keras's default).

    Example:
        >>> m = Mean()
        >>> m.update_state([1.0, 2.0, 3.0])
        >>> m.result()
        2.0
    """

    _state = ()
    _state_dtype = torch.float32
    _direction = None  # 'up' / 'down': which way is better (Keras's; what callbacks' mode='auto' reads)

    def __init__(self, name=None, dtype=None):
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._dtype = dtype or "float32"
        Metric.reset_state(self)  # not a subclass's own: Keras-style ones assign variables made after this

    def add_variable(self, shape, initializer, dtype=None, aggregation="sum", name=None):
        """A state variable, as Keras's `Metric.add_variable`: made from `initializer` ('zeros', ...) with `shape`
        and `dtype` (default float32); changed with `.assign` / `.assign_add` / `.assign_sub`."""
        variable = Variable(initializer if initializer is not None else "zeros", shape=tuple(shape or ()),
                            dtype=dtype, aggregation=aggregation, name=name)
        variable.path = f"{self.name}/{variable.name}"
        self.__dict__.setdefault("_tracked_variables", []).append(variable)
        return variable

    def add_weight(self, shape=(), initializer=None, dtype=None, name=None):
        """Keras's older alias of `add_variable` (shape () by default)."""
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    def _variables(self):
        return self.__dict__.get("_tracked_variables", [])

    @property
    def dtype(self):
        return self._dtype

    @property
    def direction(self):
        """'up' when a higher value is better (accuracies, Precision, AUC, F1Score, IoU, R2Score, ...), 'down' when
        lower is (errors, crossentropies, losses), None when unknown: what callbacks' mode='auto' reads, as Keras
        reads its metrics' direction."""
        return self._direction

    def _state_shape(self, name):
        return ()

    def reset_state(self):
        """Forgets everything seen (the state is rebuilt on the device of the next data); variables made with
        `add_variable` are assigned zeros, as Keras's."""
        for key in self._state:
            setattr(self, key, None)
        for variable in self._variables():
            variable.assign(torch.zeros(variable.shape, dtype=variable.value.dtype, device=variable.device))

    def _add(self, key, delta):
        current = getattr(self, key)
        setattr(self, key, delta if current is None else current + delta)

    def _value(self, key):
        """The state tensor `key` (zeros of its shape before the first update)."""
        value = getattr(self, key)
        if value is None:
            return torch.zeros(self._state_shape(key) or (), dtype=self._state_dtype)
        return value

    def update_state(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        """update_state(...) then result(), as Keras."""
        self.update_state(*args, **kwargs)
        return self.result()

    @property
    def variables(self):
        """The metric's state as a list of tensors whose element-wise sum over several workers is the state over
        all their data (how distributed training combines metrics): the values of the `add_variable` variables,
        then the `_state` tensors. Empty for a metric that cannot be combined (a variable whose aggregation is not
        'sum'), or whose state shape is not known before its first update."""
        tracked = self._variables()
        if any(v.aggregation != "sum" for v in tracked):
            return []
        if any(getattr(self, k) is None and self._state_shape(k) is None for k in self._state):
            return []
        return [v.value for v in tracked] + [self._value(k) for k in self._state]

    def assign_variables(self, values):
        """Sets the state to `values` (tensors in the order and shapes of `variables`)."""
        values = list(values)
        tracked = self._variables()
        if not self._state and not tracked:
            if values:
                raise NotImplementedError(f"{type(self).__name__} has no state to assign.")
            return
        names = [v.name for v in tracked] + list(self._state)
        if len(values) != len(names):
            raise ValueError(f"{type(self).__name__}.assign_variables expects {len(names)} tensors "
                             f"({', '.join(names)}). Received: {len(values)}.")
        for variable, value in zip(tracked, values):
            variable.assign(torch.as_tensor(value))
        for key, value in zip(self._state, values[len(tracked):]):
            setattr(self, key, torch.as_tensor(value).to(self._state_dtype))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        """The metric of `config` (cnnkit's or Keras's: Keras's wrapped tensors and tuples are unwrapped)."""
        return cls(**{key: _unwrap(value) for key, value in config.items()})

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class Sum(Metric):
    """The (weighted) sum of the values given to `update_state(values, sample_weight=None)`.

    Example:
        >>> m = Sum()
        >>> m.update_state([1.0, 3.0, 5.0, 7.0])
        >>> m.result()
        16.0
    """

    _state = ("total",)

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, values, sample_weight=None):
        values, _ = _reduce_to_samplewise(as_float(values), sample_weight, torch.sum)
        self._add("total", values.sum())

    def result(self):
        return to_result(self._value("total"))


class Mean(Metric):
    """The (weighted) mean of the values given to `update_state(values, sample_weight=None)`.

    As Keras: values with more axes than `sample_weight` are first averaged over the extra axes; the count is
    the sum of the weights (the number of samples without weights). State: [total, count].

    Example:
        >>> m = Mean()
        >>> m.update_state([1.0, 3.0, 5.0, 7.0], sample_weight=[1, 1, 0, 0])
        >>> m.result()
        2.0
    """

    _state = ("total", "count")

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, values, sample_weight=None):
        values, sample_weight = _reduce_to_samplewise(as_float(values), sample_weight, torch.mean)
        if sample_weight is not None:
            count = sample_weight.sum()
        else:
            count = torch.full((), float(values.shape[0]) if values.dim() >= 1 else 1.0, device=values.device)
        self._add("total", values.sum())
        self._add("count", count)

    def result(self):
        """The mean so far as a Python float (0.0 before any update)."""
        return to_result(divide_no_nan(self._value("total"), self._value("count")))


class MeanMetricWrapper(Mean):
    """Averages `fn(y_true, y_pred, **kwargs)` (one value per sample) over all samples seen.

    Args:
        fn: the per-sample function.
        name: the metric's name; default the function's name.
        dtype: the state dtype ('float32').
        **kwargs: keyword arguments given to `fn`.

    Example:
        >>> l1 = lambda t, p: (torch.as_tensor(t) - torch.as_tensor(p)).abs().mean(-1)
        >>> m = MeanMetricWrapper(l1, name="l1")
        >>> m.update_state([[0.0], [1.0]], [[0.5], [1.0]])
        >>> m.result()
        0.25
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        self.fn, self.fn_kwargs = fn, kwargs
        if type(self)._direction is None:
            self._direction = _function_direction(fn)
        super().__init__(name=name or getattr(fn, "__name__", "mean_metric_wrapper"), dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(self.fn(y_true, y_pred, **self.fn_kwargs), sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, **self.fn_kwargs}


class ErrorMetric(MeanMetricWrapper):
    """A Keras metric class averaging the per-sample function `_fn` (a class attribute, with the default name
    `_default_name`), lower is better; its only arguments are name and dtype (MSE, MAE, the hinges, Poisson, ...)."""

    _fn = None
    _default_name = None
    _direction = "down"

    def __init__(self, name=None, dtype=None):
        super().__init__(type(self)._fn, name=name or self._default_name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def wrapper_init(fn, default_name, doc, **defaults):
    """Builds the __init__ of a Keras metric class averaging the per-sample function `fn` (with keyword
    arguments `defaults`)."""
    def __init__(self, name=default_name, dtype=None, **kwargs):
        MeanMetricWrapper.__init__(self, fn, name=name, dtype=dtype, **{**defaults, **kwargs})
    __init__.__doc__ = doc
    return __init__
