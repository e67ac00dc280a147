"""Keras semantics for convolution, pooling and normalisation, on torch tensors in cnnkit's internal layout.

All functions take (N, C, *spatial) tensors. What differs from torch.nn.functional:
- 'same' padding works with any stride and follows TensorFlow: when the total padding is odd, the extra zero
  goes at the end (bottom/right). Symmetric cases pass the padding to the kernel (no copy); only asymmetric ones
  pad explicitly, as timm's `pad_same` does.
- max pooling with 'same' ignores the padded positions (padding with -inf); average pooling with 'same' divides
  by the number of real (non-padded) inputs in each window.
- batch normalisation takes Keras's momentum (0.99 = keep 99% of the old statistics; torch's momentum is
  1 - that) and updates the moving variance with the biased batch variance, as Keras does (torch uses the
  unbiased one).
"""

import math

import torch
import torch.nn.functional as F

from cnnkit.ops import layout
from cnnkit.ops.shapes import adaptive_windows
from cnnkit.ops.shapes import padding_amounts

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _torch_pad_arg(pads):
    """[(before, after) per spatial axis] -> F.pad's flat list, last axis first."""
    flat = []
    for before, after in reversed(pads):
        flat += [before, after]
    return flat


def pad(x, pads, value=0.0):
    """Pads the spatial axes of an internal-layout tensor; `pads` is [(before, after)] per spatial axis."""
    if not any(before or after for before, after in pads):
        return x
    return F.pad(x, _torch_pad_arg(pads), value=value)


def conv(x, kernel, bias, strides, padding, dilation, groups=1):
    """N-d convolution (cross-correlation, no kernel flip) with Keras padding semantics.

    Args:
        x: (N, C_in, *spatial).
        kernel: (C_out, C_in // groups, *kernel_size), torch layout.
        bias: (C_out,) or None.
        strides, dilation: tuples of ints, one per spatial axis.
        padding: 'valid', 'same' or 'causal'.

    Returns:
        (N, C_out, *out_spatial).
    """
    rank = x.dim() - 2
    if x.shape[1] == 1 and any(s > 1 for s in strides):
        # A one-channel Keras-layout view has channels_last strides, on which torch's CPU (oneDNN) convolution
        # can return wrong values when a stride is > 1 (e.g. batch >= 2, strides (1, 2), one output column; cf.
        # pytorch#82060; of ~3,600 configurations scanned, every failure had a stride > 1). A view with standard
        # strides avoids it (no copy for a contiguous input, the usual case). Stride-1 convolutions keep the
        # channels_last view, so the network stays on torch's fast channels_last kernels.
        x = x.reshape(x.shape[0], math.prod(x.shape[1:])).view(x.shape)
    pads = padding_amounts(x.shape[2:], kernel.shape[2:], strides, dilation, padding)
    if all(before == after for before, after in pads):
        return _CONV[rank](x, kernel, bias, strides, [p[0] for p in pads], dilation, groups)
    return _CONV[rank](pad(x, pads), kernel, bias, strides, 0, dilation, groups)


def _pool_pads(x, pool_size, strides, padding):
    return padding_amounts(x.shape[2:], pool_size, strides, (1,) * len(pool_size), padding)


def _native_pad(pads, pool_size):
    """The symmetric padding torch's pooling kernels can do themselves, or None."""
    if all(before == after and before <= k // 2 for (before, after), k in zip(pads, pool_size)):
        return [p[0] for p in pads]
    return None


def max_pool(x, pool_size, strides, padding):
    """Max pooling; 'same' never picks a padded position."""
    rank = x.dim() - 2
    pads = _pool_pads(x, pool_size, strides, padding)
    native = _native_pad(pads, pool_size)
    if native is not None:
        return _MAX_POOL[rank](x, pool_size, strides, native)
    return _MAX_POOL[rank](pad(x, pads, value=-math.inf), pool_size, strides)


def avg_pool(x, pool_size, strides, padding):
    """Average pooling; 'same' divides each window by its count of real (non-padded) inputs."""
    rank = x.dim() - 2
    pads = _pool_pads(x, pool_size, strides, padding)
    native = _native_pad(pads, pool_size)
    if native is not None:
        return _AVG_POOL[rank](x, pool_size, strides, native, count_include_pad=False)
    ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
    counts = _AVG_POOL[rank](pad(ones, pads), pool_size, strides)
    return _AVG_POOL[rank](pad(x, pads), pool_size, strides) / counts


def global_pool(x, mode, keepdims=False):
    """Mean or max over all spatial axes: (N, C, *spatial) -> (N, C) or (N, C, 1, ...)."""
    dims = tuple(range(2, x.dim()))
    if mode == "max":
        return x.amax(dim=dims, keepdim=keepdims)
    return x.mean(dim=dims, keepdim=keepdims)


def dense(x, kernel, bias):
    """x @ kernel.T + bias over the Keras last axis; `kernel` is (out, in) (torch.nn.Linear layout)."""
    if x.dim() >= 3:
        return F.linear(x.movedim(1, -1), kernel, bias).movedim(-1, 1)
    return F.linear(x, kernel, bias)


def batch_norm(x, gamma, beta, moving_mean, moving_variance, training, momentum, epsilon, axis=1):
    """Batch normalisation with Keras conventions.

    Args:
        x: internal-layout tensor; `axis` is the internal feature axis (1 for Keras's default axis=-1).
        gamma, beta: (C,) tensors or None (scale=False / center=False).
        moving_mean, moving_variance: (C,) buffers, updated in place when `training`.
        training: use the batch statistics and update the moving ones.
        momentum: Keras momentum: moving = moving * momentum + batch * (1 - momentum).
        epsilon: added to the variance.
    """
    if axis != 1:
        y = batch_norm(x.movedim(axis, 1), gamma, beta, moving_mean, moving_variance, training, momentum,
                       epsilon)
        return y.movedim(1, axis)
    if not training:
        return F.batch_norm(x, moving_mean, moving_variance, gamma, beta, False, 0.0, epsilon)
    out, mean, invstd = torch.native_batch_norm(x, gamma, beta, None, None, True, 0.0, epsilon)
    with torch.no_grad():
        variance = invstd.reciprocal().square_().sub_(epsilon).clamp_(min=0)
        moving_mean.mul_(momentum).add_(mean.to(moving_mean.dtype), alpha=1.0 - momentum)
        moving_variance.mul_(momentum).add_(variance.to(moving_variance.dtype), alpha=1.0 - momentum)
    return out


def flatten(x):
    """Flattens in Keras (channels_last) order, so Dense weights port unchanged: (N, ...) -> (N, prod)."""
    return layout.to_keras(x).reshape(x.shape[0], -1)


def dropout(x, rate, training, noise_shape=None):
    """Inverted dropout (kept units scaled by 1 / (1 - rate)), as Keras and torch both do."""
    if not training or rate == 0.0:
        return x
    if noise_shape is None:
        return F.dropout(x, rate, True)
    mask = torch.empty(noise_shape, dtype=x.dtype, device=x.device).bernoulli_(1.0 - rate)
    return x * mask / (1.0 - rate)


# ---- cropping and adaptive pooling -------------------------------------------------------------------------------

_ADAPTIVE_POOL = {
    ("average", 1): F.adaptive_avg_pool1d, ("average", 2): F.adaptive_avg_pool2d,
    ("average", 3): F.adaptive_avg_pool3d, ("max", 1): F.adaptive_max_pool1d, ("max", 2): F.adaptive_max_pool2d,
    ("max", 3): F.adaptive_max_pool3d,
}


def crop(x, cropping):
    """Removes [(before, after)] elements from each spatial axis of an internal-layout tensor (a view)."""
    index = [slice(None), slice(None)]
    index += [slice(before, n - after) for n, (before, after) in zip(x.shape[2:], cropping)]
    return x[tuple(index)]


def adaptive_pool(x, output_size, mode):
    """Adaptive max or average pooling to `output_size`: bin i of an axis of n inputs covers
    [floor(i * n / m), ceil((i + 1) * n / m)) (Keras's bins, which are torch's).

    torch's kernels compute it; while exporting to ONNX, where torch's exporter takes only sizes that divide,
    the same bins are computed as Keras does: two fixed-window poolings per axis and a gather.
    """
    rank = x.dim() - 2
    divides = all(int(n) % m == 0 for n, m in zip(x.shape[2:], output_size))
    if not divides and torch.onnx.is_in_onnx_export():
        return _adaptive_pool_gather(x, output_size, mode)
    return _ADAPTIVE_POOL[(mode, rank)](x, tuple(output_size))


def _adaptive_pool_gather(x, output_size, mode):
    rank = x.dim() - 2
    pool = _MAX_POOL[rank] if mode == "max" else _AVG_POOL[rank]
    for axis, m in enumerate(output_size):
        small, big, index = adaptive_windows(int(x.shape[2 + axis]), m)
        pooled = []
        for window in (small, big) if big is not None else (small,):
            kernel = tuple(window if a == axis else 1 for a in range(rank))
            pooled.append(pool(x, kernel, 1))
        x = torch.cat(pooled, dim=2 + axis).index_select(2 + axis, torch.as_tensor(index, device=x.device))
    return x
