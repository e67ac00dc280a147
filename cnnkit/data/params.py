"""The augmentation settings of `ImageDataGenerator`, checked once, compiled to its augmentation transforms
(`augmentation_transforms`, `cnnkit.data.legacy_transforms`), and their random parameters for a whole batch at once
(`sample_params`).

The draws follow Keras's `get_random_transform`: rotation uniform in [-r, r] degrees; shifts uniform in [-r, r]
(times the image size when r < 1), or for an int / list r a choice (of range(r) / of the list) with a random sign;
shear uniform in degrees; two independent zoom factors in [lower, upper]; each flip with probability 1/2; channel
shift uniform in [-r, r]; brightness uniform in the range. cnnkit adds contrast, blur sigma, sharpen factor
(uniform in their ranges) and Gaussian noise.
"""

import numbers

import numpy as np

from cnnkit.data.legacy_transforms import (AffineWarp, Brightness, ChannelShift, Contrast, Flip, GaussianBlur,
                                           GaussianNoise, Pipeline, Sharpen, shape_only)

FILL_MODES = ("constant", "nearest", "reflect", "wrap")


def _number(value, what, low=0.0):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < low:
        raise ValueError(f"ImageDataGenerator: {what} must be a number >= {low}. Received: {what}={value!r}")
    return value


def _pair(value, what, scalar_to_range, low=0.0):
    """None, or a [lower, upper] list from a number (via scalar_to_range) or two numbers."""
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        _number(value, what)
        return None if value == 0 else [float(v) for v in scalar_to_range(value)]
    if (isinstance(value, (tuple, list, np.ndarray)) and len(value) == 2
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
            and low <= value[0] <= value[1]):
        return [float(value[0]), float(value[1])]
    raise ValueError(f"ImageDataGenerator: {what} must be a number or two numbers [lower, upper] with "
                     f"{low} <= lower <= upper. Received: {what}={value!r}")


def _shift(value, what):
    if isinstance(value, (list, tuple, np.ndarray)):
        if not len(value) or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value):
            raise ValueError(f"ImageDataGenerator: {what} as a list must hold numbers. Received: {what}={value!r}")
        return np.asarray(value, dtype=np.float64)
    return _number(value, what)


class GeneratorParams:
    """Holds and validates the random-transform settings (the base of `ImageDataGenerator`)."""

    def __init__(self, rotation_range=0, width_shift_range=0.0, height_shift_range=0.0, brightness_range=None,
                 shear_range=0.0, zoom_range=0.0, channel_shift_range=0.0, fill_mode="nearest", cval=0.0,
                 horizontal_flip=False, vertical_flip=False, interpolation_order=1, contrast_range=None,
                 blur_range=None, sharpen_range=None, noise_std=0.0):
        self.rotation_range = _number(rotation_range, "rotation_range")
        self.width_shift_range = _shift(width_shift_range, "width_shift_range")
        self.height_shift_range = _shift(height_shift_range, "height_shift_range")
        self.shear_range = _number(shear_range, "shear_range")
        if isinstance(zoom_range, numbers.Real) and not isinstance(zoom_range, bool):
            self.zoom_range = [1 - float(_number(zoom_range, "zoom_range")), 1 + float(zoom_range)]
        else:
            self.zoom_range = _pair(zoom_range, "zoom_range", None)
        if brightness_range is not None and (not isinstance(brightness_range, (tuple, list))
                                             or len(brightness_range) != 2):
            raise ValueError(f"`brightness_range should be tuple or list of two floats. Received: {brightness_range}")
        self.brightness_range = _pair(brightness_range, "brightness_range", None)
        self.channel_shift_range = _number(channel_shift_range, "channel_shift_range")
        if fill_mode not in FILL_MODES:
            raise ValueError(f"ImageDataGenerator: fill_mode must be one of {list(FILL_MODES)}. Received: "
                             f"fill_mode={fill_mode!r}")
        if interpolation_order not in (0, 1):
            raise ValueError(f"ImageDataGenerator: interpolation_order must be 0 (nearest) or 1 (bilinear); cnnkit "
                             f"does not do higher spline orders. Received: interpolation_order={interpolation_order!r}")
        self.fill_mode, self.cval, self.interpolation_order = fill_mode, float(cval), interpolation_order
        self.horizontal_flip, self.vertical_flip = bool(horizontal_flip), bool(vertical_flip)
        self.contrast_range = _pair(contrast_range, "contrast_range", lambda c: (max(0.0, 1 - c), 1 + c))
        self.blur_range = _pair(blur_range, "blur_range", lambda s: (0.0, s))
        self.sharpen_range = _pair(sharpen_range, "sharpen_range", lambda s: (1.0, 1 + s))
        self.noise_std = float(_number(noise_std, "noise_std"))

    @property
    def augments(self):
        """Whether any random transform is set (else batches skip the augmentation step)."""
        return any(t.active for t in augmentation_transforms(self))


def augmentation_transforms(settings):
    """The augmentation `Transform`s of ImageDataGenerator settings, in Keras's order (a `Pipeline`): every one,
    also those whose setting is off (they draw None or neutral values under their keys, and apply the keys they are
    given: `apply_transform` takes any of Keras's keys, whatever the settings)."""
    s = settings
    return Pipeline([
        AffineWarp(s.rotation_range, s.width_shift_range, s.height_shift_range, s.shear_range, s.zoom_range,
                   s.fill_mode, s.cval, s.interpolation_order),
        Flip(s.horizontal_flip, s.vertical_flip),
        ChannelShift(s.channel_shift_range),
        Brightness(s.brightness_range),
        Contrast(s.contrast_range),
        GaussianBlur(s.blur_range),
        Sharpen(s.sharpen_range),
        GaussianNoise(s.noise_std),
    ])


def sample_params(settings, n, image_size, rng):
    """Random transform parameters for `n` images of (height, width) `image_size`: a dict of arrays (n,).

    Keys: Keras's theta, tx (rows), ty (columns), shear, zx, zy, flip_horizontal, flip_vertical,
    channel_shift_intensity, brightness; cnnkit's contrast, blur, sharpen, noise_std, noise_seed. A key whose
    transform is off holds None (channel shift, brightness and the extras) or the neutral value.
    """
    return augmentation_transforms(settings).draw(shape_only(n, *image_size), rng)
