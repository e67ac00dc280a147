"""Keras 3's reductions, statistics, cumulative ops, sorting and searching (`keras.ops.numpy`) on torch.

`axis` takes None (all axes), an int or a sequence of ints; `keepdims` keeps the reduced axes with size 1. Means,
variances, medians and quantiles of integer inputs are floatx, as in Keras; sums of bool are int32.

Example:
    >>> mean(np.arange(6).reshape(2, 3), axis=-1)
    tensor([1., 4.])
"""

import torch

from cnnkit.ops.dispatch import axes
from cnnkit.ops.dispatch import float_tensor
from cnnkit.ops.dispatch import keras_op
from cnnkit.ops.dispatch import not_implemented
from cnnkit.ops.dispatch import tensor
from cnnkit.ops.keras_dtypes import to_torch_dtype


def _dims(x, axis):
    dim = axes(axis, x.dim())
    return tuple(range(x.dim())) if dim is None else dim


def _sum_dtype(x):
    if x.dtype in (torch.bool, torch.int8, torch.int16):
        return torch.int32
    if x.dtype == torch.uint8 or x.dtype == torch.uint16:
        return torch.uint32
    return x.dtype


@keras_op("sum")
def sum_(x, axis=None, keepdims=False):
    x = tensor(x)
    dtype = _sum_dtype(x)
    return torch.sum(x.to(dtype), dim=_dims(x, axis), keepdim=keepdims).to(dtype)


@keras_op("prod")
def prod(x, axis=None, keepdims=False, dtype=None):
    x = tensor(x)
    dtype = to_torch_dtype(dtype) if dtype else _sum_dtype(x)
    x = x.to(dtype)
    for d in sorted(((_dims(x, axis),) if isinstance(_dims(x, axis), int) else _dims(x, axis)), reverse=True):
        x = torch.prod(x, dim=d, keepdim=keepdims)
    return x.to(dtype)


@keras_op("mean")
def mean(x, axis=None, keepdims=False):
    x = float_tensor(x)
    return torch.mean(x, dim=_dims(x, axis), keepdim=keepdims)


@keras_op("var")
def var(x, axis=None, keepdims=False):
    x = float_tensor(x)
    return torch.var(x, dim=_dims(x, axis), keepdim=keepdims, correction=0)


@keras_op("std")
def std(x, axis=None, keepdims=False):
    x = float_tensor(x)
    return torch.std(x, dim=_dims(x, axis), keepdim=keepdims, correction=0)


def _extreme(name, function, initial_fn):
    @keras_op(name)
    def op(x, axis=None, keepdims=False, initial=None):
        x = tensor(x)
        out = function(x, dim=_dims(x, axis), keepdim=keepdims)
        return out if initial is None else initial_fn(out, torch.as_tensor(initial, dtype=out.dtype))

    return op


max_ = _extreme("max", torch.amax, torch.maximum)
min_ = _extreme("min", torch.amin, torch.minimum)


@keras_op("amax")
def amax(x, axis=None, keepdims=False):
    x = tensor(x)
    return torch.amax(x, dim=_dims(x, axis), keepdim=keepdims)


@keras_op("amin")
def amin(x, axis=None, keepdims=False):
    x = tensor(x)
    return torch.amin(x, dim=_dims(x, axis), keepdim=keepdims)


@keras_op("all")
def all_(x, axis=None, keepdims=False):
    x = tensor(x).bool()
    return torch.all(x, dim=_dims(x, axis), keepdim=keepdims)


@keras_op("any")
def any_(x, axis=None, keepdims=False):
    x = tensor(x).bool()
    return torch.any(x, dim=_dims(x, axis), keepdim=keepdims)


@keras_op("ptp")
def ptp(x, axis=None, keepdims=False):
    x = tensor(x)
    return torch.amax(x, dim=_dims(x, axis), keepdim=keepdims) - torch.amin(x, dim=_dims(x, axis), keepdim=keepdims)


@keras_op("count_nonzero")
def count_nonzero(x, axis=None):
    x = tensor(x)
    return torch.count_nonzero(x, dim=_dims(x, axis)).to(torch.int32)


def _arg(name, function, nan=False):
    @keras_op(name)
    def op(x, axis=None, keepdims=False):
        x = tensor(x)
        if nan and x.is_floating_point():
            fill = -torch.inf if name == "nanargmax" else torch.inf
            x = torch.where(torch.isnan(x), torch.full_like(x, fill), x)
        if axis is None:
            out = function(x.reshape(-1))
            return out.reshape([1] * x.dim()).to(torch.int32) if keepdims else out.to(torch.int32)
        return function(x, dim=axis, keepdim=keepdims).to(torch.int32)

    return op


argmax = _arg("argmax", torch.argmax)
argmin = _arg("argmin", torch.argmin)
nanargmax = _arg("nanargmax", torch.argmax, nan=True)
nanargmin = _arg("nanargmin", torch.argmin, nan=True)


@keras_op("average")
def average(x, axis=None, weights=None):
    x = float_tensor(x)
    if weights is None:
        return torch.mean(x, dim=_dims(x, axis))
    w = tensor(weights, device=x.device).to(x.dtype)
    if w.dim() == 1 and x.dim() > 1 and axis is not None:
        shape = [1] * x.dim()
        shape[axis] = -1
        w = w.reshape(shape)
    w = torch.broadcast_to(w, x.shape)
    return torch.sum(x * w, dim=_dims(x, axis)) / torch.sum(w, dim=_dims(x, axis))


def _quantile(x, q, axis, method, keepdims, nan=False):
    x = float_tensor(x)
    q = tensor(q, device=x.device).to(x.dtype)
    function = torch.nanquantile if nan else torch.quantile
    if axis is None:
        out = function(x.reshape(-1), q, interpolation=method)
        return out.reshape(q.shape + (1,) * x.dim()) if keepdims else out
    dims = _dims(x, axis)
    dims = (dims,) if isinstance(dims, int) else dims
    dims = tuple(d % x.dim() for d in dims)
    rest = [d for d in range(x.dim()) if d not in dims]
    flat = x.permute(*rest, *dims).reshape(*[x.shape[d] for d in rest], -1)
    out = function(flat, q, dim=-1, interpolation=method)
    if keepdims:
        shape = list(out.shape[:q.dim()]) + [1 if d in dims else x.shape[d] for d in range(x.dim())]
        out = out.reshape(shape)
    return out


@keras_op("quantile")
def quantile(x, q, axis=None, method="linear", keepdims=False):
    return _quantile(x, q, axis, method, keepdims)


@keras_op("percentile")
def percentile(x, q, axis=None, method="linear", keepdims=False):
    return _quantile(x, tensor(q) / 100.0, axis, method, keepdims)


@keras_op("nanquantile")
def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    return _quantile(x, q, axis, method, keepdims, nan=True)


@keras_op("nanpercentile")
def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    return _quantile(x, tensor(q) / 100.0, axis, method, keepdims, nan=True)


@keras_op("median")
def median(x, axis=None, keepdims=False):
    return _quantile(x, 0.5, axis, "linear", keepdims)


@keras_op("nanmedian")
def nanmedian(x, axis=None, keepdims=False):
    return _quantile(x, 0.5, axis, "linear", keepdims, nan=True)


def _nan_reduction(name, function, fill):
    @keras_op(name)
    def op(x, axis=None, keepdims=False):
        x = tensor(x)
        if x.is_floating_point():
            x = torch.where(torch.isnan(x), torch.full_like(x, fill), x)
        return function(x, axis=axis, keepdims=keepdims)

    return op


nansum = _nan_reduction("nansum", sum_, 0.0)
nanprod = _nan_reduction("nanprod", prod, 1.0)
nanmax = _nan_reduction("nanmax", amax, -torch.inf)
nanmin = _nan_reduction("nanmin", amin, torch.inf)


@keras_op("nanmean")
def nanmean(x, axis=None, keepdims=False):
    x = float_tensor(x)
    return torch.nanmean(x, dim=_dims(x, axis), keepdim=keepdims)


@keras_op("nanvar")
def nanvar(x, axis=None, keepdims=False):
    x = float_tensor(x)
    m = torch.nanmean(x, dim=_dims(x, axis), keepdim=True)
    return torch.nanmean((x - m) ** 2, dim=_dims(x, axis), keepdim=keepdims)


@keras_op("nanstd")
def nanstd(x, axis=None, keepdims=False):
    return torch.sqrt(nanvar(x, axis=axis, keepdims=keepdims))


def _cumulative(name, function, fill=None):
    @keras_op(name)
    def op(x, axis=None, dtype=None):
        x = tensor(x)
        dtype_ = to_torch_dtype(dtype) if dtype else _sum_dtype(x)
        x = x.to(dtype_)
        if fill is not None and x.is_floating_point():
            x = torch.where(torch.isnan(x), torch.full_like(x, fill), x)
        if axis is None:
            return function(x.reshape(-1), dim=0).to(dtype_)
        return function(x, dim=axis).to(dtype_)

    return op


cumsum = _cumulative("cumsum", torch.cumsum)
cumprod = _cumulative("cumprod", torch.cumprod)
nancumsum = _cumulative("nancumsum", torch.cumsum, 0.0)
nancumprod = _cumulative("nancumprod", torch.cumprod, 1.0)


@keras_op("sort")
def sort(x, axis=-1):
    x = tensor(x)
    if axis is None:
        return torch.sort(x.reshape(-1)).values
    return torch.sort(x, dim=axis, stable=True).values


@keras_op("argsort")
def argsort(x, axis=-1):
    x = tensor(x)
    if axis is None:
        return torch.argsort(x.reshape(-1), stable=True).to(torch.int32)
    return torch.argsort(x, dim=axis, stable=True).to(torch.int32)


@keras_op("argpartition")
def argpartition(x, kth, axis=-1):
    not_implemented("argpartition", "torch has no partial sort whose index order matches numpy's introselect")


@keras_op("searchsorted")
def searchsorted(sorted_sequence, values, side="left"):
    seq = tensor(sorted_sequence)
    if seq.dim() != 1:
        raise ValueError(f"searchsorted only supports 1-D sorted sequences. Received: sorted_sequence.shape="
                         f"{tuple(seq.shape)}")
    vals = tensor(values, device=seq.device).to(seq.dtype)
    return torch.searchsorted(seq, vals, right=side == "right").to(torch.int32)


@keras_op("digitize")
def digitize(x, bins):
    x = tensor(x)
    b = tensor(bins, device=x.device)
    return torch.bucketize(x, b.to(x.dtype), right=True).to(torch.int32)


@keras_op("bincount")
def bincount(x, weights=None, minlength=0, sparse=False):
    if sparse:
        not_implemented("bincount", "sparse=True (torch has no sparse output for it)")
    x = tensor(x)
    w = None if weights is None else tensor(weights, device=x.device)
    if x.dim() == 2:
        length = max(int(x.max()) + 1 if x.numel() else 0, minlength)
        rows = [torch.bincount(r, None if w is None else w[i], minlength=length) for i, r in enumerate(x)]
        out = torch.stack(rows)
    else:
        out = torch.bincount(x, w, minlength=minlength)
    return out if w is not None else out.to(torch.int32)


@keras_op("histogram")
def histogram(x, bins=10, range=None):  # noqa: A002 (Keras's argument name)
    x = float_tensor(x)
    low, high = (float(x.min()), float(x.max())) if range is None else range
    counts = torch.histc(x, bins=bins, min=low, max=high)
    return counts, torch.linspace(low, high, bins + 1, dtype=x.dtype)
