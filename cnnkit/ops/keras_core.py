"""Keras 3's core ops (`keras.src.ops.core`) on torch: conversion, dtype and shape queries, control flow (cond,
while_loop, fori_loop, scan, map, switch, associative_scan), gradients (stop_gradient, custom_gradient), scatter and
vectorized_map. Control flow runs eagerly in Python, as Keras's torch backend does.

Example:
    >>> fori_loop(0, 3, lambda i, acc: acc + i, 0)
    3
"""

import numpy as np
import torch

from cnnkit.ops.dispatch import keras_op
from cnnkit.ops.dispatch import not_implemented
from cnnkit.ops.dispatch import tensor as to_tensor
from cnnkit.ops.keras_dtypes import standardize_dtype
from cnnkit.ops.keras_dtypes import to_torch_dtype


@keras_op("convert_to_tensor")
def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    if sparse or ragged:
        not_implemented("convert_to_tensor", "sparse and ragged tensors")
    return to_tensor(x, None if dtype is None else standardize_dtype(dtype))


@keras_op("convert_to_numpy")
def convert_to_numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


@keras_op("is_tensor")
def is_tensor(x):
    return isinstance(x, torch.Tensor)


@keras_op("dtype")
def dtype(x):
    return standardize_dtype(to_tensor(x).dtype)


@keras_op("shape")
def shape(x):
    return tuple(to_tensor(x).shape)


@keras_op("cast")
def cast(x, dtype):
    return to_tensor(x).to(to_torch_dtype(dtype))


@keras_op("saturate_cast")
def saturate_cast(x, dtype):
    x = to_tensor(x)
    target = to_torch_dtype(dtype)
    info = torch.iinfo(target) if not target.is_floating_point else torch.finfo(target)
    if x.is_floating_point() and not target.is_floating_point:
        x = torch.clamp(x, float(info.min), float(info.max))
    elif not x.is_floating_point() and not target.is_floating_point:
        x = torch.clamp(x.to(torch.int64), max(info.min, torch.iinfo(torch.int64).min), min(info.max, 2 ** 63 - 1))
    return x.to(target)


@keras_op("stop_gradient")
def stop_gradient(variable):
    return to_tensor(variable).detach()


@keras_op("cond")
def cond(pred, true_fn, false_fn):
    return true_fn() if bool(pred) else false_fn()


@keras_op("switch")
def switch(index, branches, *operands):
    index = min(max(int(index), 0), len(branches) - 1)
    return branches[index](*operands)


@keras_op("while_loop")
def while_loop(cond, body, loop_vars, maximum_iterations=None):
    single = not isinstance(loop_vars, (list, tuple))
    state = (loop_vars,) if single else tuple(loop_vars)
    count = 0
    while (maximum_iterations is None or count < maximum_iterations) and bool(cond(*state)):
        out = body(*state)
        state = (out,) if single or not isinstance(out, (list, tuple)) else tuple(out)
        count += 1
    return state[0] if single else (list(state) if isinstance(loop_vars, list) else state)


@keras_op("fori_loop")
def fori_loop(lower, upper, body_fun, init_val):
    value = init_val
    for i in range(int(lower), int(upper)):
        value = body_fun(i, value)
    return value


@keras_op("scan")
def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    if xs is None and length is None:
        raise ValueError("Got no `xs` to scan over and `length` not provided.")
    n = length if xs is None else len(to_tensor(xs) if not isinstance(xs, (list, tuple, dict)) else
                                      next(iter(xs.values() if isinstance(xs, dict) else xs)))
    carry, ys = _tensors(init), []
    for i in (reversed(range(n)) if reverse else range(n)):
        x = None if xs is None else _index(xs, i)
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    return carry, _stack(ys)


def _tensors(value):
    if isinstance(value, (list, tuple)):
        return type(value)(_tensors(v) for v in value)
    if isinstance(value, dict):
        return {k: _tensors(v) for k, v in value.items()}
    return to_tensor(value) if isinstance(value, np.ndarray) else value


def _index(xs, i):
    if isinstance(xs, dict):
        return {k: _index(v, i) for k, v in xs.items()}
    if isinstance(xs, (list, tuple)):
        return type(xs)(_index(v, i) for v in xs)
    return to_tensor(xs)[i]


def _stack(ys):
    if not ys or ys[0] is None:
        return None
    if isinstance(ys[0], dict):
        return {k: _stack([y[k] for y in ys]) for k in ys[0]}
    if isinstance(ys[0], (list, tuple)):
        return type(ys[0])(_stack(list(items)) for items in zip(*ys))
    return torch.stack([to_tensor(y) for y in ys])


@keras_op("map")
def map_(f, xs):
    n = len(to_tensor(xs)) if not isinstance(xs, (list, tuple, dict)) else len(next(iter(
        xs.values() if isinstance(xs, dict) else xs)))
    return _stack([f(_index(xs, i)) for i in range(n)])


@keras_op("associative_scan")
def associative_scan(f, elems, reverse=False, axis=0):
    x = to_tensor(elems)
    x = torch.flip(x, [axis]) if reverse else x
    pieces = list(torch.unbind(x, dim=axis))
    out = [pieces[0]]
    for piece in pieces[1:]:
        out.append(f(out[-1], piece))
    result = torch.stack(out, dim=axis)
    return torch.flip(result, [axis]) if reverse else result


@keras_op("vectorized_map")
def vectorized_map(function, elements):
    return torch.vmap(function)(elements if not isinstance(elements, np.ndarray) else to_tensor(elements))


@keras_op("scatter")
def scatter(indices, values, shape):
    values = to_tensor(values)
    idx = to_tensor(indices, device=values.device).to(torch.int64)
    out = torch.zeros(tuple(int(s) for s in shape), dtype=values.dtype, device=values.device)
    return out.index_put(tuple(idx[..., i] for i in range(idx.shape[-1])), values, accumulate=True)


@keras_op("scatter_update")
def scatter_update(inputs, indices, updates, reduction=None):
    x = to_tensor(inputs)
    idx = to_tensor(indices, device=x.device).to(torch.int64)
    u = to_tensor(updates, device=x.device).to(x.dtype)
    key = tuple(idx[..., i] for i in range(idx.shape[-1]))
    if reduction is None:
        return x.index_put(key, u)
    if reduction == "add":
        return x.index_put(key, u, accumulate=True)
    flat = x.clone()
    if reduction in ("max", "min"):
        function = torch.maximum if reduction == "max" else torch.minimum
        return flat.index_put(key, function(flat[key], u))
    if reduction == "mul":
        return flat.index_put(key, flat[key] * u)
    raise ValueError(f"Unsupported reduction: {reduction}")


class _CustomGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, forward_fn, *args):
        ctx.save_for_backward(*args)
        output, ctx.grad_fn = forward_fn(*args)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        grads = ctx.grad_fn(*ctx.saved_tensors, upstream=grad_output)
        grads = grads if isinstance(grads, tuple) else (grads,)
        return (None, *grads)


@keras_op("custom_gradient")
def custom_gradient(f):
    """Decorator: `f(*args)` returns `(output, grad_fn)`, `grad_fn(*args, upstream)` the inputs' gradients."""

    def wrapped(*args):
        return _CustomGradient.apply(f, *[to_tensor(a) for a in args])

    return wrapped
