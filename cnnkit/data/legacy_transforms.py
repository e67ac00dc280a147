"""ImageDataGenerator's augmentations as `Transform` objects (Keras's legacy formulas), and `Pipeline`, an ordered
list of transforms run as one.

`ImageDataGenerator` compiles its settings to these transforms (`augmentation_transforms` in
`cnnkit.data.params`), in Keras's order: `AffineWarp` (rotation, shifts, shear and zoom as Keras's one combined
matrix, resampled like scipy), `Flip`, `ChannelShift`, `Brightness`, then cnnkit's extras `Contrast`,
`GaussianBlur`, `Sharpen`, `GaussianNoise`. Each draws its per-image parameters under Keras's
`get_random_transform` keys (theta, tx, ty, shear, zx, zy, flip_horizontal, flip_vertical,
channel_shift_intensity, brightness; cnnkit's contrast, blur, sharpen, noise_std, noise_seed), so the parameters of
a whole pipeline are one flat dict of arrays (n,) that `apply_transform` users can also write by hand; a transform
whose key is missing or None leaves the images as they are. The kernels are `cnnkit.data.augment`'s.

Their parameters depend only on the images' shape, not on their pixels: `draw` reads `images.shape` only (callers
that draw before decoding pass `shape_only(n, height, width)`).

Example:
    >>> pipeline = Pipeline([AffineWarp(rotation_range=20), Flip(horizontal=True)])
    >>> images = torch.rand(4, 8, 8, 3) * 255
    >>> params = pipeline.draw(images, np.random.default_rng(0))
    >>> sorted(params)[:3], pipeline.apply(images, params).shape
    (['flip_horizontal', 'flip_vertical', 'shear'], torch.Size([4, 8, 8, 3]))
"""

import numbers

import numpy as np
import torch

from cnnkit.data import augment as aug
from cnnkit.data.transforms import Transform

AFFINE_KEYS = ("theta", "tx", "ty", "shear", "zx", "zy")
AFFINE_NEUTRAL = (0.0, 0.0, 0.0, 0.0, 1.0, 1.0)


def shape_only(n, height, width):
    """A stand-in batch for `draw` before the images exist: an empty tensor of shape (n, height, width, 0)."""
    return torch.empty((n, height, width, 0))


def per_image(params, key, n, dtype=np.float64):
    """`params[key]` as a numpy array (n,) (a scalar broadcast), or None when missing or None."""
    value = params.get(key)
    if value is None:
        return None
    return np.broadcast_to(np.asarray(value, dtype=dtype).reshape(-1), (n,))


class Pipeline:
    """Transforms run in order as one: `draw` merges their parameter dicts (disjoint keys) into one, `apply` runs
    each on the output of the previous one.

    A transform may take over part of the work of the transforms after it (`fold(params, later)` returns the
    parameters with that work moved; `AffineWarp` folds the following flips into its matrices).

    Args:
        transforms: The `Transform`s, in the order they run.
    """

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __iter__(self):
        return iter(self.transforms)

    def __len__(self):
        return len(self.transforms)

    def draw(self, images, rng):
        """All transforms' parameters for `images` (N, H, W, C), drawn in order from `rng`: one dict."""
        params = {}
        for transform in self.transforms:
            params.update(transform.draw(images, rng) or {})
        return params

    def apply(self, images, params):
        """`images` through every transform with `params` (from `draw`, or any subset of its keys)."""
        for k, transform in enumerate(self.transforms):
            fold = getattr(transform, "fold", None)
            if fold is not None:
                params = fold(params, self.transforms[k + 1:], images.shape)
            images = transform.apply(images, params)
        return images

    def __call__(self, images, rng):
        return self.apply(images, self.draw(images, rng))


def _shifts(setting, n, size, rng):
    """Keras's shift draw: uniform in [-r, r] (times `size` when r < 1), or for an int r >= 1 / a list a choice
    (of range(r) / of the list) with a random sign."""
    if isinstance(setting, np.ndarray) or (isinstance(setting, numbers.Integral) and setting >= 1):
        choices = setting if isinstance(setting, np.ndarray) else np.arange(setting)
        values = rng.choice(choices, n) * rng.choice([-1, 1], n)
    elif setting:
        values = rng.uniform(-setting, setting, n)
    else:
        return np.zeros(n)
    return values * size if np.max(setting) < 1 else values.astype(np.float64)


class AffineWarp(Transform):
    """Keras's combined affine warp: rotation (degrees), shifts, shear (degrees) and zoom as the one matrix of
    `apply_affine_transform`, resampled like `scipy.ndimage.affine_transform` (`cnnkit.data.augment.warp`).

    Args:
        rotation_range, width_shift_range, height_shift_range, shear_range: ImageDataGenerator's settings.
        zoom_range: [lower, upper] (already expanded from a float).
        fill_mode, cval, interpolation_order: The resampling (see `augment.warp`).
    """

    def __init__(self, rotation_range=0, width_shift_range=0.0, height_shift_range=0.0, shear_range=0.0,
                 zoom_range=(1.0, 1.0), fill_mode="nearest", cval=0.0, interpolation_order=1):
        self.rotation_range, self.shear_range = rotation_range, shear_range
        self.width_shift_range, self.height_shift_range = width_shift_range, height_shift_range
        self.zoom_range = list(zoom_range) if zoom_range is not None else [1.0, 1.0]
        self.fill_mode, self.cval, self.interpolation_order = fill_mode, cval, interpolation_order

    @property
    def active(self):
        """Whether `draw` draws anything that moves pixels."""
        shifts = any(s.any() if isinstance(s, np.ndarray) else s for s in (self.width_shift_range,
                                                                           self.height_shift_range))
        return bool(self.rotation_range or shifts or self.shear_range or self.zoom_range != [1.0, 1.0])

    def draw(self, images, rng):
        n, height, width = images.shape[:3]
        zoom = self.zoom_range
        zx, zy = (np.ones(n), np.ones(n)) if zoom == [1.0, 1.0] else rng.uniform(zoom[0], zoom[1], (2, n))
        return {
            "theta": rng.uniform(-self.rotation_range, self.rotation_range, n) if self.rotation_range else np.zeros(n),
            "tx": _shifts(self.height_shift_range, n, height, rng),
            "ty": _shifts(self.width_shift_range, n, width, rng),
            "shear": rng.uniform(-self.shear_range, self.shear_range, n) if self.shear_range else np.zeros(n),
            "zx": zx, "zy": zy,
        }

    def matrices(self, params, shape):
        """Keras's matrices (n, 3, 3) for `params` on images of `shape`; None when every parameter is neutral."""
        n, height, width = shape[:3]
        values = [params.get(k) for k in AFFINE_KEYS]
        if not any(v is not None and np.any(np.asarray(v) != d) for v, d in zip(values, AFFINE_NEUTRAL)):
            return None
        values = [np.broadcast_to(np.asarray(d if v is None else v, dtype=np.float64), (n,))
                  for v, d in zip(values, AFFINE_NEUTRAL)]
        return aug.affine_matrices(*values, height, width)

    def fold(self, params, later, shape):
        """Folds a directly following `Flip` into the matrices of the warped images.

        A flip after the warp is the warp of the flipped output grid. Only where the result is continuous in the
        coordinates (bilinear, 'nearest' / 'reflect'): the folded matrix rounds differently, which elsewhere moves
        coordinates across order-0 ties or the 'constant' / 'wrap' edge (e.g. theta=90 with a flip,
        fill_mode='constant': a whole cval row where Keras has pixels).
        """
        matrices = self.matrices(params, shape)
        params = dict(params, _affine_matrices=matrices)
        if matrices is None or not later or not isinstance(later[0], Flip):
            return params
        n, height, width = shape[:3]
        warped = np.any(matrices != np.eye(3), axis=(1, 2))
        warped &= self.interpolation_order == 1 and self.fill_mode in ("nearest", "reflect")
        for key, flip in (("flip_horizontal", [[1, 0, 0], [0, -1, width - 1], [0, 0, 1]]),
                          ("flip_vertical", [[-1, 0, height - 1], [0, 1, 0], [0, 0, 1]])):
            flags = per_image(params, key, n, bool)
            if flags is None:
                continue
            folded = flags & warped
            matrices[folded] = matrices[folded] @ np.asarray(flip, dtype=np.float64)
            params[key] = flags & ~warped
        return params

    def apply(self, images, params):
        matrices = params["_affine_matrices"] if "_affine_matrices" in params else self.matrices(params, images.shape)
        if matrices is None:
            return images
        return aug.warp(images, matrices, fill_mode=self.fill_mode, cval=self.cval, order=self.interpolation_order)


class Flip(Transform):
    """Keras's flips: each image left-right (`horizontal`) and/or upside down (`vertical`) with probability 1/2.

    Both coins are drawn for every image even when a flip is off (as Keras's `get_random_transform` does, so the
    draws after them line up).
    """

    def __init__(self, horizontal=False, vertical=False):
        self.horizontal, self.vertical = bool(horizontal), bool(vertical)

    @property
    def active(self):
        return self.horizontal or self.vertical

    def draw(self, images, rng):
        n = images.shape[0]
        return {"flip_horizontal": (rng.random(n) < 0.5) & self.horizontal,
                "flip_vertical": (rng.random(n) < 0.5) & self.vertical}

    def apply(self, images, params):
        n = images.shape[0]
        horizontal = per_image(params, "flip_horizontal", n, bool)
        vertical = per_image(params, "flip_vertical", n, bool)
        horizontal = np.zeros(n, bool) if horizontal is None else horizontal
        vertical = np.zeros(n, bool) if vertical is None else vertical
        if not (horizontal.any() or vertical.any()):
            return images
        return aug.flip(images, horizontal, vertical)


class _Uniform(Transform):
    """A per-image factor drawn uniformly in `bounds` ([lower, upper], or None: off) under `key`, applied by
    `kernel(images, values)`."""

    key = kernel = None

    def __init__(self, bounds=None):
        self.bounds = None if not bounds else [float(bounds[0]), float(bounds[1])]

    @property
    def active(self):
        return self.bounds is not None

    def draw(self, images, rng):
        if self.bounds is None:
            return {self.key: None}
        return {self.key: rng.uniform(self.bounds[0], self.bounds[1], images.shape[0])}

    def apply(self, images, params):
        values = per_image(params, self.key, images.shape[0])
        return images if values is None else type(self).kernel(images, values)


class ChannelShift(_Uniform):
    """Keras's channel shift: intensity uniform in [-r, r], added to every channel and clipped to the image's own
    range (`augment.channel_shift`). Per image it commutes with flips."""

    key, kernel = "channel_shift_intensity", aug.channel_shift

    def __init__(self, channel_shift_range=0.0):
        super().__init__([-channel_shift_range, channel_shift_range] if channel_shift_range else None)


class Brightness(_Uniform):
    """Keras's brightness_range: a factor uniform in the range (`augment.brightness`)."""

    key, kernel = "brightness", aug.brightness


class Contrast(_Uniform):
    """cnnkit's contrast_range (`augment.contrast`)."""

    key, kernel = "contrast", aug.contrast


class GaussianBlur(_Uniform):
    """cnnkit's blur_range: a Gaussian sigma in pixels (`augment.gaussian_blur`)."""

    key, kernel = "blur", aug.gaussian_blur


class Sharpen(_Uniform):
    """cnnkit's sharpen_range (`augment.sharpen`)."""

    key, kernel = "sharpen", aug.sharpen


class GaussianNoise(Transform):
    """cnnkit's noise_std: Gaussian noise of that std (pixel scale), each image's from its own seeded generator
    (so an image's noise does not depend on its batch-mates)."""

    def __init__(self, std=0.0):
        self.std = float(std)

    @property
    def active(self):
        return bool(self.std)

    def draw(self, images, rng):
        n = images.shape[0]
        if not self.std:
            return {"noise_std": None, "noise_seed": None}
        return {"noise_std": np.full(n, self.std), "noise_seed": rng.integers(2**62, size=n)}

    def apply(self, images, params):
        n = images.shape[0]
        stds = per_image(params, "noise_std", n)
        if stds is None or not np.any(stds > 0):
            return images
        seeds = np.broadcast_to(np.asarray(params["noise_seed"]).reshape(-1), (n,))
        return torch.cat([aug.add_noise(images[k:k + 1], stds[k], torch.Generator().manual_seed(int(seeds[k])))
                          for k in range(n)])
