"""How every Keras op of `cnnkit.ops` takes its arguments: conversion to torch tensors and symbolic hand-off.

- `tensor(x)`: numpy arrays, Python numbers, lists and torch tensors -> a torch tensor (torch tensors pass through,
  so autograd sees the op); `operands(*xs)` converts several to their Keras result dtype (`keras_dtypes`).
- `keras_op(name)`: marks a function as Keras's op `name`. When one of its arguments is a symbolic tensor of a
  functional model (an `Input`), the call is handed to the handler that `cnnkit.layers` registers at import
  (`set_symbolic_handler`), which records the op as a graph node, as Keras 3 auto-wraps ops into operations. ops
  never imports layers (ops <- layers): without a handler, ops only compute.

Example:
    >>> a, b = operands(np.ones(2, np.int32), 2.5)
    >>> a.dtype, b.dtype
    (torch.float32, torch.float32)
"""

import functools

import numpy as np
import torch

from cnnkit.ops.keras_dtypes import floatx
from cnnkit.ops.keras_dtypes import dtype_of
from cnnkit.ops.keras_dtypes import result_type
from cnnkit.ops.keras_dtypes import to_torch_dtype
from cnnkit.ops.variable import Variable
from cnnkit.ops.variable import unwrap

_SYMBOLIC = {"is_symbolic": None, "handler": None}
#: Keras op name -> the (wrapped) function, filled by `keras_op`.
OPS = {}


def set_symbolic_handler(is_symbolic, handler):
    """Registers `handler(name, function, args, kwargs)` for calls where `is_symbolic(argument)` holds for an
    argument (or an item of a list/tuple argument); called once by `cnnkit.layers` at import."""
    _SYMBOLIC["is_symbolic"], _SYMBOLIC["handler"] = is_symbolic, handler


def _scan(values, check):
    """(whether `check` holds for a value or an item of a list/tuple value, whether any of them is a `Variable`),
    in one pass; stops at the first symbolic one."""
    variable = False
    for value in values:
        for item in (value, *value) if isinstance(value, (list, tuple)) else (value,):
            if check is not None and check(item):
                return True, variable
            variable = variable or isinstance(item, Variable)
    return False, variable


def keras_op(name):
    """Decorator: registers the function as Keras's op `name` and routes symbolic calls to the graph handler."""

    def wrap(function):
        @functools.wraps(function)
        def op(*args, **kwargs):
            symbolic, variable = _scan((*args, *kwargs.values()), _SYMBOLIC["is_symbolic"])
            if symbolic:
                return _SYMBOLIC["handler"](name, function, args, kwargs)
            if variable:
                args, kwargs = unwrap(args), {k: unwrap(v) for k, v in kwargs.items()}  # a metric's state
            return function(*args, **kwargs)

        op.keras_name = name
        op.__name__ = op.__qualname__ = name
        OPS[name] = op
        return op

    return wrap


def _device_of(values):
    for v in values:
        if isinstance(v, torch.Tensor):
            return v.device
    return None


def tensor(x, dtype=None, device=None):
    """`x` as a torch tensor of Keras dtype `dtype` (default: its own, Python numbers and lists as Keras types
    them: ints int32, floats floatx); torch tensors are cast only when `dtype` differs (autograd kept)."""
    if isinstance(x, torch.Tensor):
        out = x
    else:
        if dtype is None:
            dtype = result_type(x)
        if isinstance(x, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in x):
            out = torch.stack([tensor(v, dtype, device) for v in x])
        else:
            array = np.asarray(x)
            if array.dtype == object:
                raise TypeError(f"cnnkit.ops: cannot convert {x!r} to a tensor.")
            out = torch.as_tensor(array)
    if dtype is not None:
        target = to_torch_dtype(dtype)
        if out.dtype != target:
            out = out.to(target)
    if device is not None and out.device != device:
        out = out.to(device)
    return out


def operands(*xs, dtype=None):
    """The operands as tensors of their common Keras result dtype (or `dtype`), on the first tensor's device."""
    dtype = dtype or result_type(*xs)
    device = _device_of(xs)
    return [tensor(x, dtype, device) for x in xs]


def float_tensor(x):
    """`x` as a tensor; integer and bool inputs become floatx (Keras's rule for sqrt, exp, sin, mean, ...)."""
    dtype, _ = dtype_of(x)
    if dtype == "bool" or "int" in dtype:
        return tensor(x, floatx())
    return tensor(x)


def axes(axis, rank):
    """Keras's `axis` (None, an int or a sequence) as torch's dim argument (None, int or tuple)."""
    if axis is None:
        return None
    if isinstance(axis, (list, tuple)):
        return tuple(int(a) % max(rank, 1) for a in axis)
    return int(axis)


def not_implemented(name, why):
    """Raises NotImplementedError for Keras op `name`, which cnnkit does not provide on torch."""
    raise NotImplementedError(f"cnnkit.ops.{name} is not implemented on torch: {why}")
