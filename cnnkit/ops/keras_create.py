"""Keras 3's array creation and window functions (`keras.ops.numpy`) on torch, plus a few numpy-statistics ops
(`trapezoid`, `corrcoef`, `correlate`, `vander`).

`dtype=None` means Keras's default: floatx ('float32') for filled arrays, the inputs' type for ranges.

Example:
    >>> arange(5).dtype, linspace(0, 1, 3).dtype
    (torch.int32, torch.float32)
"""

import torch

from cnnkit.ops.dispatch import float_tensor
from cnnkit.ops.dispatch import keras_op
from cnnkit.ops.dispatch import not_implemented
from cnnkit.ops.dispatch import operands
from cnnkit.ops.dispatch import tensor
from cnnkit.ops.keras_dtypes import floatx
from cnnkit.ops.keras_dtypes import result_type
from cnnkit.ops.keras_dtypes import to_torch_dtype


def _size(shape):
    return tuple(int(s) for s in shape) if isinstance(shape, (list, tuple, torch.Size)) else (int(shape),)


@keras_op("zeros")
def zeros(shape, dtype=None):
    return torch.zeros(_size(shape), dtype=to_torch_dtype(dtype))


@keras_op("ones")
def ones(shape, dtype=None):
    return torch.ones(_size(shape), dtype=to_torch_dtype(dtype))


@keras_op("empty")
def empty(shape, dtype=None):
    return torch.zeros(_size(shape), dtype=to_torch_dtype(dtype))


@keras_op("full")
def full(shape, fill_value, dtype=None):
    dtype = dtype or floatx()
    return torch.broadcast_to(tensor(fill_value, dtype), _size(shape)).clone()


def _like(name, fill):
    @keras_op(name)
    def op(x, dtype=None):
        x = tensor(x)
        dtype = to_torch_dtype(dtype) if dtype else x.dtype
        return torch.zeros_like(x, dtype=dtype) if fill == 0 else torch.ones_like(x, dtype=dtype)

    return op


zeros_like = _like("zeros_like", 0)
ones_like = _like("ones_like", 1)
empty_like = _like("empty_like", 0)


@keras_op("full_like")
def full_like(x, fill_value, dtype=None):
    x = tensor(x)
    dtype = to_torch_dtype(dtype) if dtype else x.dtype
    return torch.broadcast_to(tensor(fill_value, device=x.device).to(dtype), x.shape).clone()


@keras_op("eye")
def eye(N, M=None, k=0, dtype=None):  # noqa: N803 (Keras's argument names)
    M = N if M is None else M  # noqa: N806
    return torch.ones(N, M, dtype=to_torch_dtype(dtype)).tril(k).triu(k)


@keras_op("identity")
def identity(n, dtype=None):
    return torch.eye(n, dtype=to_torch_dtype(dtype))


@keras_op("tri")
def tri(N, M=None, k=0, dtype=None):  # noqa: N803
    return torch.ones(N, N if M is None else M, dtype=to_torch_dtype(dtype)).tril(k)


@keras_op("arange")
def arange(start, stop=None, step=None, dtype=None):
    if stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    dtype = dtype or result_type(*(v for v in (start, stop, step)))
    return torch.arange(start, stop, step, dtype=to_torch_dtype(dtype))


@keras_op("linspace")
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    start_t, stop_t = operands(start, stop, dtype="float64")
    steps = torch.arange(num, dtype=torch.float64) / max(num - 1 if endpoint else num, 1)
    shape = (num,) + (1,) * start_t.dim()
    out = start_t + steps.reshape(shape) * (stop_t - start_t)
    out = torch.movedim(out, 0, axis).to(to_torch_dtype(dtype or result_type(start, stop, float)))
    if retstep:
        return out, (stop_t - start_t) / max(num - 1 if endpoint else num, 1)
    return out


@keras_op("logspace")
def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    exponents = linspace(start, stop, num=num, endpoint=endpoint, dtype="float64", axis=axis)
    return (float(base) ** exponents).to(to_torch_dtype(dtype or result_type(start, stop, float)))


@keras_op("geomspace")
def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    a, b = operands(start, stop, dtype="float64")
    exponents = linspace(torch.log10(a), torch.log10(b), num=num, endpoint=endpoint, dtype="float64", axis=axis)
    return (10.0 ** exponents).to(to_torch_dtype(dtype or result_type(start, stop, float)))


@keras_op("array")
def array(x, dtype=None):
    return tensor(x, dtype)


@keras_op("vander")
def vander(x, N=None, increasing=False):  # noqa: N803
    return torch.vander(tensor(x), N=N, increasing=increasing)


@keras_op("trapezoid")
def trapezoid(y, x=None, dx=1.0, axis=-1):
    y = float_tensor(y)
    if x is None:
        return torch.trapezoid(y, dx=dx, dim=axis)
    return torch.trapezoid(y, tensor(x, device=y.device).to(y.dtype), dim=axis)


@keras_op("corrcoef")
def corrcoef(x):
    return torch.corrcoef(float_tensor(x))


@keras_op("correlate")
def correlate(x1, x2, mode="valid"):
    a, b = operands(x1, x2, dtype=result_type(x1, x2, float))
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"mode must be either 'full', 'same', or 'valid'. Received: mode={mode}")
    n, m = a.shape[0], b.shape[0]
    pad = {"valid": 0, "full": m - 1, "same": (m - 1) // 2}[mode]
    right = {"valid": 0, "full": m - 1, "same": m - 1 - (m - 1) // 2}[mode]
    if n < m:
        not_implemented("correlate", "a second operand longer than the first")
    signal = torch.nn.functional.pad(a.reshape(1, 1, -1), [pad, right])
    return torch.nn.functional.conv1d(signal, b.reshape(1, 1, -1)).reshape(-1)


def _window(name, function):
    @keras_op(name)
    def op(x):
        n = int(x)
        return function(n, periodic=False, dtype=torch.float32) if n > 1 else torch.ones(max(n, 0))

    return op


bartlett = _window("bartlett", torch.bartlett_window)
blackman = _window("blackman", torch.blackman_window)
hamming = _window("hamming", torch.hamming_window)
hanning = _window("hanning", torch.hann_window)


@keras_op("kaiser")
def kaiser(x, beta):
    n = int(x)
    return torch.kaiser_window(n, periodic=False, beta=float(beta), dtype=torch.float32) if n > 1 else torch.ones(n)


@keras_op("vectorize")
def vectorize(pyfunc, *, excluded=None, signature=None):
    """numpy.vectorize's role on torch: torch.vmap of `pyfunc` over the leading axis (no `signature`)."""
    if signature is not None or excluded:
        not_implemented("vectorize", "signature= and excluded= (use vectorized_map)")
    return torch.vmap(pyfunc)
