"""Photometric transforms of Keras 3's colour layers (`keras.layers.RandomContrast`, `RandomBrightness`, ...).

Each class is a `cnnkit.data.transforms.Transform` holding Keras's already-normalised arguments (factor ranges as
(lower, upper), `value_range` as (low, high)); `draw` makes the per-image draws Keras's `get_random_transformation`
makes (from a numpy Generator instead of Keras's seed generator) and `apply` computes Keras's `transform_images`
with whole-batch torch operations on a channels_last float batch (N, H, W, C).

With the draw pinned (a factor range of one value) the results equal Keras's (TensorFlow backend) within float
rounding.

Example:
    >>> t = Contrast((0.5, 0.5), (0, 255))       # RandomContrast(factor=0.5): factor drawn in [0.5, 1.5]
    >>> t(torch.rand(4, 8, 8, 3) * 255, np.random.default_rng(0)).shape
    torch.Size([4, 8, 8, 3])
"""

import numpy as np
import torch

from cnnkit.data.transforms import Transform


def per_image(values, images):
    """Per-image values (numpy (N,) or scalar) as a (N, 1, 1, 1) tensor in the dtype and device of `images`."""
    return torch.as_tensor(np.asarray(values), dtype=images.dtype, device=images.device).reshape(-1, 1, 1, 1)


def per_image_flags(flags, images):
    """Per-image booleans as a (N, 1, 1, 1) bool tensor on the device of `images`."""
    return torch.as_tensor(np.asarray(flags, dtype=bool), device=images.device).reshape(-1, 1, 1, 1)


def rescale(images, source, target):
    """Keras's `_transform_value_range`: values mapped linearly from the range `source` to `target`."""
    if source[0] == target[0] and source[1] == target[1]:
        return images
    images = (images - float(source[0])) / (float(source[1]) - float(source[0]))
    return images * (float(target[1]) - float(target[0])) + float(target[0])


def clip(images, value_range):
    """Values clipped to `value_range` (low, high), as Keras's `ops.clip`."""
    return images.clamp(float(value_range[0]), float(value_range[1]))


class Contrast(Transform):
    """`RandomContrast`: per image a factor c uniform in [1 - factor[0], 1 + factor[1]]; each channel becomes
    (x - mean) * c + mean, its mean over height and width, then clipped to `value_range`."""

    def __init__(self, factor, value_range):
        self.factor, self.value_range = factor, value_range

    def draw(self, images, rng):
        return {"contrast_factor": rng.uniform(1.0 - self.factor[0], 1.0 + self.factor[1], images.shape[0])}

    def apply(self, images, params):
        mean = images.mean(dim=(1, 2), keepdim=True)
        out = (images - mean) * per_image(params["contrast_factor"], images) + mean
        return clip(out, self.value_range)
