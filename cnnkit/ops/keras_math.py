"""Keras 3's `keras.src.ops.math` on torch: segment reductions, top_k, logsumexp, erf family, rsqrt, FFTs and
short-time Fourier transforms, extract_sequences, cdist and complex views.

FFT ops take and return (real, imaginary) pairs of tensors, as Keras's do.

Example:
    >>> segment_sum(np.array([1., 2., 3.]), np.array([0, 0, 1]), num_segments=2)
    tensor([3., 3.])
"""

import torch

from cnnkit.ops.dispatch import float_tensor
from cnnkit.ops.dispatch import keras_op
from cnnkit.ops.dispatch import operands
from cnnkit.ops.dispatch import tensor


def _segment(name, reduce, empty):
    @keras_op(name)
    def op(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002 (Keras's argument name)
        data = tensor(data)
        ids = tensor(segment_ids, device=data.device).to(torch.int64)
        n = int(ids.max()) + 1 if num_segments is None else int(num_segments)
        keep = (ids >= 0) & (ids < n)
        data, ids = data[keep], ids[keep]
        out = torch.full((n, *data.shape[1:]), empty, dtype=data.dtype, device=data.device)
        index = ids.reshape(-1, *[1] * (data.dim() - 1)).expand_as(data)
        out = out.scatter_reduce(0, index, data, reduce=reduce, include_self=reduce in ("sum", "prod"))
        return out

    return op


segment_sum = _segment("segment_sum", "sum", 0)
segment_prod = _segment("segment_prod", "prod", 1)
segment_max = _segment("segment_max", "amax", float("-inf"))
segment_min = _segment("segment_min", "amin", float("inf"))


@keras_op("top_k")
def top_k(x, k, sorted=True):  # noqa: A002
    values, indices = torch.topk(tensor(x), k, dim=-1, sorted=True)
    return values, indices.to(torch.int32)


@keras_op("in_top_k")
def in_top_k(targets, predictions, k):
    predictions = tensor(predictions)
    targets = tensor(targets, device=predictions.device).to(torch.int64)
    target_scores = torch.gather(predictions, 1, targets.reshape(-1, 1))
    return (predictions > target_scores).sum(-1) < k


@keras_op("logsumexp")
def logsumexp(x, axis=None, keepdims=False):
    x = float_tensor(x)
    dims = tuple(range(x.dim())) if axis is None else axis
    return torch.logsumexp(x, dim=dims, keepdim=keepdims)


@keras_op("erf")
def erf(x):
    return torch.erf(float_tensor(x))


@keras_op("erfc")
def erfc(x):
    return torch.erfc(float_tensor(x))


@keras_op("erfinv")
def erfinv(x):
    return torch.erfinv(float_tensor(x))


@keras_op("rsqrt")
def rsqrt(x):
    return torch.rsqrt(float_tensor(x))


def _complex(x):
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"Input `x` should be a tuple of two tensors - real and imaginary. Received: x={x}")
    real, imag = operands(*x)
    return torch.complex(real, imag)


@keras_op("fft")
def fft(x):
    out = torch.fft.fft(_complex(x))
    return out.real, out.imag


@keras_op("fft2")
def fft2(x):
    out = torch.fft.fft2(_complex(x))
    return out.real, out.imag


@keras_op("ifft2")
def ifft2(x):
    out = torch.fft.ifft2(_complex(x))
    return out.real, out.imag


@keras_op("rfft")
def rfft(x, fft_length=None):
    out = torch.fft.rfft(float_tensor(x), n=fft_length)
    return out.real, out.imag


@keras_op("irfft")
def irfft(x, fft_length=None):
    return torch.fft.irfft(_complex(x), n=fft_length)


def _window(window, length, like):
    if window is None:
        return None
    if isinstance(window, str):
        if window not in ("hann", "hamming"):
            raise ValueError(f"If a string is passed to `window`, it must be one of ('hann', 'hamming'). Received: "
                             f"window={window}")
        function = torch.hann_window if window == "hann" else torch.hamming_window
        return function(length, periodic=True, dtype=like.dtype, device=like.device)
    return tensor(window, device=like.device).to(like.dtype)


def _padded_window(window, sequence_length, fft_length, like):
    w = _window(window, sequence_length, like)
    if w is None:
        w = torch.ones(sequence_length, dtype=like.dtype, device=like.device)
    left = (fft_length - sequence_length) // 2
    return torch.nn.functional.pad(w, [left, fft_length - sequence_length - left])


@keras_op("stft")
def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    x = float_tensor(x)
    w = _padded_window(window, sequence_length, fft_length, x)
    flat = x.reshape(-1, x.shape[-1])
    out = torch.stft(flat, n_fft=fft_length, hop_length=sequence_stride, win_length=fft_length, window=w,
                     center=center, pad_mode="reflect", return_complex=True).transpose(-1, -2)
    out = out.reshape(*x.shape[:-1], *out.shape[-2:])
    return out.real, out.imag


@keras_op("istft")
def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann", center=True):
    spec = _complex(x)
    w = _padded_window(window, sequence_length, fft_length, spec.real)
    flat = spec.reshape(-1, *spec.shape[-2:]).transpose(-1, -2)
    out = torch.istft(flat, n_fft=fft_length, hop_length=sequence_stride, win_length=fft_length, window=w,
                      center=center, length=length)
    return out.reshape(*spec.shape[:-2], out.shape[-1])


@keras_op("extract_sequences")
def extract_sequences(x, sequence_length, sequence_stride):
    return tensor(x).unfold(-1, sequence_length, sequence_stride)


@keras_op("cdist")
def cdist(x, y):
    a, b = operands(x, y)
    return torch.cdist(a, b)


@keras_op("view_as_complex")
def view_as_complex(x):
    return torch.view_as_complex(tensor(x).contiguous())


@keras_op("view_as_real")
def view_as_real(x):
    return torch.view_as_real(tensor(x))


@keras_op("polar")
def polar(abs_, angle):
    a, b = operands(abs_, angle)
    return torch.polar(a, b)
