"""Augmentation transforms: one object per augmentation, shared by ImageDataGenerator and the preprocessing layers.

A `Transform` works on a batch of channels_last float images, a torch tensor (N, H, W, C). `draw(images, rng)`
draws each image's random parameters from `rng` (a `numpy.random.Generator`) and returns them (a dict of arrays of
length N, or None when nothing is random); `apply(images, params)` applies them to the whole batch with tensor
operations (no Python loop over images) and returns a new tensor. `stage` says where the transform runs relative to
standardisation: 'augment' (before it, on raw pixel values, ImageDataGenerator's geometric and photometric
transforms) or 'standardize' (the standardisation itself).

Example:
    >>> class Invert(Transform):
    ...     def draw(self, images, rng):
    ...         return {"apply": rng.random(images.shape[0]) < 0.5}
    ...     def apply(self, images, params):
    ...         flags = torch.as_tensor(params["apply"], device=images.device).view(-1, 1, 1, 1)
    ...         return torch.where(flags, 255.0 - images, images)
    >>> Invert()(torch.zeros(4, 8, 8, 3), np.random.default_rng(0)).shape
    torch.Size([4, 8, 8, 3])
"""

import numpy as np
import torch

STAGES = ("augment", "standardize")


class Transform:
    """One augmentation step on a batch of channels_last images (see the module docstring)."""

    stage = "augment"

    def draw(self, images, rng):
        """Per-image random parameters for `images` (N, H, W, C), drawn from `rng`; None when nothing is random."""
        return None

    def apply(self, images, params):
        """`images` (N, H, W, C) transformed with `params` (from `draw`); a new tensor."""
        raise NotImplementedError(f"{type(self).__name__}.apply")

    def __call__(self, images, rng):
        """Draws and applies in one step."""
        return self.apply(images, self.draw(images, rng))


def generator_from(seed=None):
    """A `numpy.random.Generator`: seeded by `seed`, or (seed None) by torch's global generator, so that
    `cnnkit.utils.set_random_seed` makes unseeded draws repeatable."""
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    return np.random.default_rng(seed)
