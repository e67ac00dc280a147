"""Keras 3's colour augmentation layers: RandomContrast, RandomBrightness, RandomGrayscale, RandomHue,
RandomSaturation, RandomColorJitter and RandomColorDegeneration, and the argument checks all the colour, tone
(`tone.py`) and filter (`filters.py`) layers share.

Each layer checks its arguments as Keras does (Keras's messages, prefixed with the class name), keeps them in
Keras's normalised form (`factor` as (lower, upper), see `factor_range`) and wraps one transform of
`cnnkit.data.photometric`. The output has the layer's compute dtype (float32 by default), also for integer input.

Example:
    >>> layer = RandomContrast(0.2, seed=1)
    >>> layer(np.random.uniform(0, 255, (2, 8, 8, 3))).shape   # each image gets its own factor in [0.8, 1.2]
    torch.Size([2, 8, 8, 3])
"""

from cnnkit.data import photometric
from cnnkit.layers.base import register
from cnnkit.layers.preprocessing.base import BaseImagePreprocessingLayer
from cnnkit.ops.arguments import as_tuple
from cnnkit.ops.arguments import is_real

_VALUE_RANGE_ERROR = "The `value_range` argument should be a list of two numbers. "


def python_number(value):
    """A numpy number as the Python number (configs stay JSON-safe)."""
    return value.item() if hasattr(value, "item") else value


def factor_range(owner, factor, bounds, name="factor", received=None):
    """Keras's `BaseImagePreprocessingLayer._set_factor`: a number f in `bounds` gives (max(-|f|, bounds[0]), |f|),
    a pair gives the pair sorted (it must overlap `bounds`); anything else raises Keras's ValueError (whose message
    names the value `received`, Keras's `factor=` for RandomGaussianBlur's sigma and RandomErasing's scale)."""
    message = (f"{owner}: The `{name}` argument should be a number (or a list of two numbers) in the range "
               f"[{bounds[0]}, {bounds[1]}]. Received: {received or name}={factor}")
    pair = as_tuple(factor) if isinstance(factor, (tuple, list)) else None
    if pair is not None:
        if len(pair) != 2 or not all(is_real(v) for v in pair):
            raise ValueError(message)
        if pair[0] > bounds[1] or pair[1] < bounds[0]:
            raise ValueError(message)
        lower, upper = sorted(python_number(v) for v in pair)
        return lower, upper
    if not is_real(factor) or factor < bounds[0] or factor > bounds[1]:
        raise ValueError(message)
    factor = abs(python_number(factor))
    return max(-factor, bounds[0]), factor


def sorted_value_range(owner, value_range):
    """Keras's `_set_value_range`: two numbers, returned sorted as a list."""
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2 or not all(
            is_real(v) for v in value_range):
        raise ValueError(f"{owner}: {_VALUE_RANGE_ERROR}Received: value_range={value_range}")
    return sorted(python_number(v) for v in value_range)


def given_value_range(owner, value_range):
    """A `value_range` Keras keeps as given (checked to be two numbers here, Keras's message); a tuple."""
    sorted_value_range(owner, value_range)
    return tuple(python_number(v) for v in value_range)


def json_form(config):
    """`config` with its tuples as lists, the form Keras's configs take in JSON (and in `.keras` files)."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in config.items()}


class ColorLayer(BaseImagePreprocessingLayer):
    """A colour layer: same output shape; `factor`, `value_range` and `seed` in its config (Keras's order)."""

    def get_config(self):
        cfg = super().get_config()
        cfg.update(factor=self.factor, value_range=self.value_range, seed=self.seed)
        return json_form(cfg)


@register
class RandomContrast(ColorLayer):
    """Randomly adjusts the contrast of each image: per image a factor c uniform in [1 - lower, 1 + upper]; each
    channel x becomes (x - mean) * c + mean (mean over the image's pixels of that channel), clipped to
    `value_range`.

    Args:
        factor: a number in [0, 1] (lower = upper = factor) or a pair (lower, upper).
        value_range: (low, high), the range of the input values, e.g. (0, 255) or (0, 1).
        seed: int or None: repeatable draws.

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as the input.

    Example:
        >>> RandomContrast((0.5, 0.5))(np.full((1, 2, 2, 1), 100.0), training=True).shape  # c in [0.5, 1.5]
        torch.Size([1, 2, 2, 1])
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        owner = type(self).__name__
        self.factor = factor_range(owner, factor, (0, 1))
        self.value_range = given_value_range(owner, value_range)
        self.transform = photometric.Contrast(self.factor, self.value_range)


@register
class RandomBrightness(ColorLayer):
    """Randomly changes the brightness of each image: per image a delta uniform in [lower, upper] times
    (value_range[1] - value_range[0]) is added to every pixel, then the result is clipped to `value_range`.

    Args:
        factor: a number in [-1, 1] (the range [-|factor|, |factor|]) or a pair (lower, upper) within [-1, 1].
        value_range: (low, high), the range of the input values (kept sorted).
        seed: int or None: repeatable draws.

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as the input.

    Example:
        >>> RandomBrightness((0.2, 0.2))(np.zeros((1, 2, 2, 3))).numpy().max()   # + 0.2 * 255
        51.0
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        owner = type(self).__name__
        self.factor = factor_range(owner, factor, (-1, 1))
        self.value_range = sorted_value_range(owner, value_range)
        self.transform = photometric.Brightness(self.factor, self.value_range)


@register
class RandomGrayscale(BaseImagePreprocessingLayer):
    """Turns each image grey with probability `factor`: Keras's rgb_to_grayscale (0.2989 R + 0.5870 G +
    0.1140 B) repeated over the 3 channels; one-channel images are left as they are.

    Args:
        factor: the probability, a number in [0, 1].
        data_format: 'channels_last' (or None).
        seed: int or None: repeatable draws.

    Input shape:
        (batch, height, width, 3 or 1) or (height, width, 3 or 1).

    Output shape:
        Same as the input.

    Example:
        >>> RandomGrayscale(1.0)(np.random.uniform(0, 255, (2, 4, 4, 3))).shape
        torch.Size([2, 4, 4, 3])
    """

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if not is_real(factor) or factor < 0 or factor > 1:
            raise ValueError(f"{type(self).__name__}: `factor` should be between 0 and 1. Received: factor={factor}")
        self.factor = python_number(factor)
        self.transform = photometric.Grayscale(self.factor)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("seed")  # as Keras, whose RandomGrayscale config has no seed
        cfg.update(factor=self.factor)
        return json_form(cfg)


@register
class RandomHue(ColorLayer):
    """Randomly shifts the hue of each image by +-f / 2 of the colour wheel (f uniform in [lower, upper], the sign
    a coin flip), in HSV space on the images rescaled from `value_range` to [0, 1].

    Args:
        factor: a number in [0, 1] or a pair (lower, upper); 1 can shift the hue by half the wheel.
        value_range: (low, high), the range of the input values.
        data_format: 'channels_last' (or None).
        seed: int or None: repeatable draws.

    Input shape:
        (batch, height, width, 3) or (height, width, 3).

    Output shape:
        Same as the input.

    Example:
        >>> RandomHue(0.5, seed=1)(np.random.uniform(0, 255, (2, 4, 4, 3))).shape
        torch.Size([2, 4, 4, 3])
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        owner = type(self).__name__
        self.factor = factor_range(owner, factor, (0, 1))
        self.value_range = given_value_range(owner, value_range)
        self.transform = photometric.Hue(self.factor, self.value_range)


@register
class RandomSaturation(ColorLayer):
    """Randomly changes the saturation of each image: per image u uniform in [lower, upper]; the HSV saturation is
    multiplied by u / (1 - u + epsilon) and clipped to `value_range` (0.5 keeps it, 0 gives grey, 1 the most
    saturated), computed as Keras does on the images as they are.

    Args:
        factor: a number in [-1, 1] or a pair (lower, upper) (Keras's default bounds).
        value_range: (low, high), the range of the input values (kept sorted).
        data_format: 'channels_last' (or None).
        seed: int or None: repeatable draws.

    Input shape:
        (batch, height, width, 3) or (height, width, 3).

    Output shape:
        Same as the input.

    Example:
        >>> RandomSaturation((0.0, 0.0))(np.random.uniform(0, 255, (1, 4, 4, 3))).shape   # grey
        torch.Size([1, 4, 4, 3])
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        owner = type(self).__name__
        self.factor = factor_range(owner, factor, (-1, 1))
        self.value_range = sorted_value_range(owner, value_range)
        self.transform = photometric.Saturation(self.factor, self.value_range)


@register
class RandomColorJitter(BaseImagePreprocessingLayer):
    """Random brightness, contrast, saturation and hue, in this order, each as its own layer does
    (RandomBrightness, RandomContrast, RandomSaturation, RandomHue with this `value_range`); a factor left None
    skips that step.

    Args:
        value_range: (low, high), the range of the input values.
        brightness_factor, contrast_factor, saturation_factor, hue_factor: each step's `factor`, or None.
        seed: int or None: repeatable draws.
        data_format: 'channels_last' (or None).

    Input shape:
        (batch, height, width, 3) or (height, width, 3).

    Output shape:
        Same as the input.

    Example:
        >>> jitter = RandomColorJitter(brightness_factor=0.2, contrast_factor=0.2, hue_factor=0.1, seed=1)
        >>> jitter(np.random.uniform(0, 255, (2, 4, 4, 3))).shape
        torch.Size([2, 4, 4, 3])
    """

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None, saturation_factor=None,
                 hue_factor=None, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        owner = type(self).__name__
        self.value_range = given_value_range(owner, value_range)
        as_given = [tuple(f) if isinstance(f, (tuple, list)) else f
                    for f in (brightness_factor, contrast_factor, saturation_factor, hue_factor)]
        self.brightness_factor, self.contrast_factor, self.saturation_factor, self.hue_factor = as_given
        steps = []
        if brightness_factor is not None:
            steps.append(photometric.Brightness(factor_range(owner, brightness_factor, (-1, 1)),
                                                sorted(self.value_range)))
        if contrast_factor is not None:
            steps.append(photometric.Contrast(factor_range(owner, contrast_factor, (0, 1)), self.value_range))
        if saturation_factor is not None:
            steps.append(photometric.Saturation(factor_range(owner, saturation_factor, (-1, 1)),
                                                sorted(self.value_range)))
        if hue_factor is not None:
            steps.append(photometric.Hue(factor_range(owner, hue_factor, (0, 1)), self.value_range))
        self.transform = photometric.Sequence(steps)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(value_range=self.value_range, brightness_factor=self.brightness_factor,
                   contrast_factor=self.contrast_factor, saturation_factor=self.saturation_factor,
                   hue_factor=self.hue_factor, seed=self.seed)
        return json_form(cfg)


@register
class RandomColorDegeneration(ColorLayer):
    """Randomly blends each image with its grey version: x + f * (grey - x), f uniform in [lower, upper] per
    image (grey: Keras's rgb_to_grayscale), clipped to `value_range`.

    Args:
        factor: a number in [-1, 1] or a pair (lower, upper) (Keras's default bounds).
        value_range: (low, high), the range of the input values (kept sorted).
        data_format: 'channels_last' (or None).
        seed: int or None: repeatable draws.

    Input shape:
        (batch, height, width, 3) or (height, width, 3).

    Output shape:
        Same as the input.

    Example:
        >>> RandomColorDegeneration((1.0, 1.0))(np.random.uniform(0, 255, (1, 4, 4, 3))).shape   # grey
        torch.Size([1, 4, 4, 3])
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        owner = type(self).__name__
        self.factor = factor_range(owner, factor, (-1, 1))
        self.value_range = sorted_value_range(owner, value_range)
        self.transform = photometric.ColorDegeneration(self.factor, self.value_range)
