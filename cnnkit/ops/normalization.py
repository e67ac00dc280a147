"""Per-sample normalisation (layer, group, unit, L2) and feature standardisation with Keras semantics.

Keras computes layer and group normalisation in at least float32 (float16/bfloat16 inputs are upcast) with the
biased variance inside the square root, rsqrt(variance + epsilon), and returns the input's dtype; so do these.
Batch normalisation, which keeps moving statistics, is `cnnkit.ops.functional.batch_norm`.
"""

import math

import torch
import torch.nn.functional as F

from cnnkit.ops import layout


def l2_normalize(x, axis, epsilon):
    """x / max(||x||_2 along `axis`, epsilon): Keras's `ops.normalize` (x * min(rsqrt(sum(x^2)), 1 / epsilon))."""
    return F.normalize(x, p=2.0, dim=axis, eps=epsilon)


_HALF = (torch.float16, torch.bfloat16)


def _at_least_float32(x):
    return x.float() if x.dtype in _HALF else x


def layer_norm(x, gamma, beta, axes, sizes, epsilon, rms_scaling=False):
    """Keras's layer normalisation over the Keras-layout `axes` of an internal-layout tensor.

    Args:
        x: internal-layout tensor.
        gamma, beta: tensors of `sizes`' number of elements (in any shape: Keras stores them in the order of its
            sorted `axis` list and reshapes them row-major onto `sizes`, which this repeats), or None.
        axes: sorted non-negative Keras-layout axes (see `layout.keras_axes`).
        sizes: x's sizes at `axes`, as ints (known when the layer is built).
        epsilon: added to the variance.
        rms_scaling: Keras's deprecated option: `x * rsqrt(variance + epsilon) * gamma` (the variance is still
            centred; no mean is subtracted and beta is not used).

    Returns:
        A tensor like x, from torch's fused `F.layer_norm` on a view with the normalised axes last (in Keras's
        order). For Keras's usual axis=-1 that view is the Keras-layout one, contiguous for a channels_last
        tensor: no copy in or out. (The fused kernel on a permuted copy is still a few times faster than
        var_mean with elementwise ops, forward and backward, on CPU.) rms_scaling uses torch.var and
        elementwise ops.
    """
    rank = x.dim()
    xs = _at_least_float32(x)
    dims = [layout.internal_axis(a, rank) for a in axes]
    if not rms_scaling:
        order = [d for d in range(rank) if d not in dims] + dims
        out = F.layer_norm(xs.permute(order), sizes, _reshaped(gamma, sizes), _reshaped(beta, sizes), epsilon)
        return out.permute([order.index(d) for d in range(rank)]).to(x.dtype)
    variance = torch.var(xs, dim=dims, correction=0, keepdim=True)  # rms_scaling: Keras's centred variance
    out = xs * torch.rsqrt(variance + epsilon)
    if gamma is not None:
        out = out * layout.broadcast_to_internal(gamma, axes, sizes, rank)
    return out.to(x.dtype)


def _reshaped(weight, shape):
    return None if weight is None else weight.reshape(shape)


def group_norm(x, groups, gamma, beta, epsilon, axis=1):
    """Keras's group normalisation: the `axis` features of each sample split into `groups` consecutive groups,
    each normalised over its features and every other non-batch axis. `axis` is internal (1: Keras's -1)."""
    if axis != 1:
        return group_norm(x.movedim(axis, 1), groups, gamma, beta, epsilon).movedim(1, axis)
    xs = _at_least_float32(x)
    # torch.group_norm, not F.group_norm, whose check refuses groups of one value (Keras gives beta there).
    if gamma is None and beta is not None:
        # torch's CPU backward fails for a bias without a weight ("tensor does not have a device"): add it after.
        out = torch.group_norm(xs, groups, None, None, epsilon) + beta.reshape(-1, *[1] * (x.dim() - 2))
    else:
        out = torch.group_norm(xs, groups, gamma, beta, epsilon)
    return out.to(x.dtype)


def unit_norm(x, dims, epsilon=1e-12):
    """x / max(||x||_2, epsilon) over the internal axes `dims`: Keras's `ops.normalize(order=2)`, which
    computes x * min(rsqrt(sum(x^2)), 1 / epsilon) (zero vectors stay zero)."""
    return x / torch.linalg.vector_norm(x, 2, dim=dims, keepdim=True).clamp_min(epsilon)


def standardize(x, mean, variance, invert=False, epsilon=1e-7):
    """Keras's Normalization: (x - mean) / max(sqrt(variance), epsilon), or with `invert` the inverse,
    mean + x * max(sqrt(variance), epsilon); epsilon is Keras's `backend.epsilon()`."""
    std = variance.sqrt().clamp_min(epsilon)
    return torch.addcmul(mean, x, std) if invert else (x - mean) / std


def moments(batch, reduce_axes):
    """Mean and biased variance (float64) of a Keras-layout batch over `reduce_axes`, with the number of values
    each statistic covers; no axes: the batch itself, variance 0."""
    batch = torch.as_tensor(batch).to(torch.float64)
    if not reduce_axes:
        return batch, torch.zeros_like(batch), 1
    variance, mean = torch.var_mean(batch, dim=list(reduce_axes), correction=0)
    return mean, variance, math.prod(batch.shape[d] for d in reduce_axes)


def combine_moments(mean, variance, count, batch_mean, batch_variance, batch_count):
    """Mean and variance of two parts of the data from each part's (Chan et al.'s rule, which is Keras's
    'lack-of-fit' update in `Normalization.adapt`)."""
    total = count + batch_count
    weight = batch_count / total
    new_mean = mean * (1.0 - weight) + batch_mean * weight
    new_variance = ((variance + (mean - new_mean) ** 2) * (1.0 - weight)
                    + (batch_variance + (batch_mean - new_mean) ** 2) * weight)
    return new_mean, new_variance, total
