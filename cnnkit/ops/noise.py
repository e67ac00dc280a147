"""Random layers' math (Keras semantics) on internal-layout tensors: dropout with a noise shape, Gaussian noise and
dropout, alpha dropout.

Every function acts only when `training` is true (the identity otherwise) and draws from torch's global generator;
masks with a noise shape are drawn small and broadcast.
"""

import math

import torch
import torch.nn.functional as F


def dropout(x, rate, training, noise_shape=None):
    """Inverted dropout (kept units scaled by 1 / (1 - rate)), as Keras and torch both do.

    Args:
        noise_shape: internal-order shape of the mask (1 = one draw shared along that axis, e.g. (N, C, 1, 1) drops
            whole feature maps), or None for one draw per element.
    """
    if not training or rate == 0.0:
        return x
    if noise_shape is None:
        return F.dropout(x, rate, True)
    return x * _bernoulli(noise_shape, 1.0 - rate, x).div_(1.0 - rate)  # the (small) mask scaled, one pass over x


def _bernoulli(shape, keep, like):
    return torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(keep)


def gaussian_noise(x, stddev, training):
    """x + N(0, stddev^2) noise in training (Keras's GaussianNoise); x otherwise."""
    if not training or stddev == 0.0:
        return x
    return torch.add(x, torch.randn_like(x), alpha=stddev)


def gaussian_dropout(x, rate, training):
    """x * N(1, rate / (1 - rate)) noise in training (Keras's GaussianDropout); x otherwise."""
    if not training or rate == 0.0:
        return x
    return torch.addcmul(x, x, torch.randn_like(x), value=math.sqrt(rate / (1.0 - rate)))


# SELU's constants (Keras's and torch's): selu(x) = scale * (x if x > 0 else alpha * (exp(x) - 1)).
SELU_ALPHA = 1.6732632423543772848170429916717


SELU_SCALE = 1.0507009873554804934193349852946


def alpha_dropout(x, rate, training, noise_shape=None):
    """Keras's AlphaDropout in training: each unit is dropped with probability `rate` and set to SELU's negative
    saturation alpha' = -alpha * scale, then `a * x + b` with a = ((1 - rate) * (1 + rate * alpha'^2)) ** -0.5 and
    b = -a * alpha' * rate, which keeps zero mean and unit variance. torch's `F.alpha_dropout` is this formula.

    Args:
        noise_shape: internal-order shape of the mask (1 = shared along that axis), or None (one per element).
    """
    if not training or rate == 0.0:
        return x
    if noise_shape is None:
        return F.alpha_dropout(x, rate, True)
    saturation = -SELU_ALPHA * SELU_SCALE
    a = ((1.0 - rate) * (1.0 + rate * saturation ** 2)) ** -0.5
    keep = _bernoulli(noise_shape, 1.0 - rate, x)
    # kept: a * x + b; dropped: a * saturation + b. Coefficients on the (small) mask, then one pass over x.
    shift = (1.0 - keep).mul_(a * saturation).add_(-a * saturation * rate)
    return torch.addcmul(shift, x, keep.mul_(a))
