"""`Variable`: a named tensor that is changed by assignment, as Keras's `keras.Variable` where a `Metric` keeps its
state (`self.add_variable(...)`, then `.assign(...)`, `.assign_add(...)` in `update_state`).

The value is a torch tensor that follows the data: `assign_add` of a tensor on the GPU moves the state there, and
a Python number assigned keeps the current device. A Variable works wherever a tensor does: in `cnnkit.ops`
(`ops.divide(v, 2)`), in torch functions (`torch.sqrt(v)`, through `__torch_function__`), in arithmetic and
comparisons (`v + 1`, `v / w`, `v > 0`, results are torch tensors), and in numpy (`np.asarray(v)`, `v.numpy()`).

Example:
    >>> v = Variable(initializer="zeros", shape=(), name="true_positives")
    >>> v.assign_add(3.0)
    >>> v.assign_sub(1.0)
    >>> float(v)
    2.0
"""

import operator

import numpy as np
import torch

from cnnkit.ops.keras_dtypes import floatx
from cnnkit.ops.keras_dtypes import standardize_dtype
from cnnkit.ops.keras_dtypes import to_torch_dtype

AGGREGATIONS = ("none", "mean", "sum", "only_first_replica")


def _device(values):
    """The device of the first tensor among `values` (and the items of list/tuple values), else None."""
    for value in values:
        if isinstance(value, torch.Tensor):
            return value.device
        if isinstance(value, (list, tuple)):
            found = _device(value)
            if found is not None:
                return found
    return None


def unwrap(value, device=None):
    """`value` with every Variable (also inside a list or tuple) replaced by its tensor (moved to `device`)."""
    if isinstance(value, Variable):
        tensor = value.value
        return tensor if device is None or tensor.device == device else tensor.to(device)
    if isinstance(value, (list, tuple)) and any(isinstance(v, (Variable, list, tuple)) for v in value):
        return type(value)(unwrap(v, device) for v in value)
    return value


class Variable:
    """A named, assignable tensor (Keras's `keras.Variable`, as used for metric state).

    Args:
        initializer: a name ('zeros', 'ones', ...), an initializer, a callable `(shape, dtype) -> tensor`, or the
            initial value itself (a number, an array or a tensor; then `shape` may be left out).
        shape: the variable's shape; default () (or the initial value's shape).
        dtype: its Keras dtype; default floatx ('float32').
        trainable: kept for Keras's signature (metric variables are not trained).
        aggregation: how replicas combine it, Keras's 'none', 'mean', 'sum' (default) or 'only_first_replica';
            only 'sum' state can be combined across processes by summing.
        name: the variable's name.

    Raises:
        ValueError: an unknown aggregation, or an initializer whose value does not have `shape`.
    """

    def __init__(self, initializer, shape=None, dtype=None, trainable=False, aggregation="sum", name=None):
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"Invalid value for argument `aggregation`. Expected one of {list(AGGREGATIONS)}. "
                             f"Received: aggregation={aggregation}")
        self.name = name or "variable"
        self.path = self.name  # Keras's '<metric>/<name>' for a metric's variable
        self.trainable, self.aggregation = bool(trainable), aggregation
        self._dtype = standardize_dtype(dtype or floatx())
        if isinstance(initializer, str) or (callable(initializer) and not isinstance(initializer, torch.Tensor)):
            from cnnkit import initializers  # noqa: PLC0415 (initializers import ops)

            shape = tuple(shape or ())
            value = initializers.to_tensor(initializers.get(initializer), shape, to_torch_dtype(self._dtype))
        else:
            value = torch.as_tensor(np.asarray(initializer) if not isinstance(initializer, torch.Tensor)
                                    else initializer.detach())
            if shape is not None and tuple(value.shape) != tuple(shape):
                raise ValueError(f"Variable {self.name}: the initial value has shape {tuple(value.shape)}, but "
                                 f"shape={tuple(shape)}.")
        self._value = value.to(to_torch_dtype(self._dtype)).detach()

    # ---- what the variable is --------------------------------------------------------------------------------

    @property
    def value(self):
        """The current value, a torch tensor."""
        return self._value

    @property
    def dtype(self):
        """The Keras dtype name ('float32', ...)."""
        return self._dtype

    @property
    def shape(self):
        return tuple(self._value.shape)

    @property
    def ndim(self):
        return self._value.dim()

    @property
    def device(self):
        return self._value.device

    def numpy(self):
        """The value as a numpy array."""
        return self._value.detach().cpu().numpy()

    # ---- assignment (Keras's rules: the shape must not change) -------------------------------------------------

    def assign(self, value):
        """Sets the value (a number, an array, a tensor or a Variable) and returns it; the shape must match."""
        value = unwrap(value)
        if isinstance(value, torch.Tensor):
            new = value.detach().to(to_torch_dtype(self._dtype))
        else:
            new = torch.as_tensor(np.asarray(value), device=self._value.device).to(to_torch_dtype(self._dtype))
        if tuple(new.shape) != self.shape:
            raise ValueError("The shape of the target variable and the shape of the target value in "
                             f"`variable.assign(value)` must match. variable.shape={self.shape}, Received: "
                             f"value.shape={tuple(new.shape)}. Target variable: {self}")
        self._value = new
        return value

    def assign_add(self, value):
        """Adds `value` (the state moves to `value`'s device); returns the new value."""
        return self.assign(self + value)

    def assign_sub(self, value):
        """Subtracts `value`; returns the new value."""
        return self.assign(self - value)

    # ---- use as a tensor ----------------------------------------------------------------------------------------

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        device = _device(list(args) + list(kwargs.values()))
        return func(*unwrap(tuple(args), device), **{k: unwrap(v, device) for k, v in kwargs.items()})

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def __float__(self):
        return float(self._value)

    def __int__(self):
        return int(self._value)

    def __bool__(self):
        return bool(self._value)

    def __index__(self):
        return int(self._value)

    def __getitem__(self, key):
        return self._value[key]

    def __len__(self):
        return len(self._value)

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}, value={self.numpy()}>"


def _binary(operation, reflected=False):
    """A binary operator on the variable's tensor; the variable goes to the other operand's device when that is a
    tensor with axes or on an accelerator (a CPU scalar tensor does not pull GPU state back)."""
    def method(self, other):
        device = None
        if isinstance(other, torch.Tensor) and (other.dim() or other.device.type != "cpu"):
            device = other.device
        mine = unwrap(self, device)
        theirs = unwrap(other, mine.device)
        return operation(theirs, mine) if reflected else operation(mine, theirs)
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"):
    setattr(Variable, f"__{_name}__", _binary(getattr(operator, _name)))
    setattr(Variable, f"__r{_name}__", _binary(getattr(operator, _name), reflected=True))
for _name in ("lt", "le", "gt", "ge"):
    setattr(Variable, f"__{_name}__", _binary(getattr(operator, _name)))
Variable.__neg__ = lambda self: -self.value
Variable.__abs__ = lambda self: abs(self.value)
