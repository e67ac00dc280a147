"""Keras 3's colour augmentation layers: RandomContrast, RandomBrightness, RandomGrayscale, RandomHue,
RandomSaturation, RandomColorJitter, RandomInvert, Solarization, RandomPosterization, RandomColorDegeneration,
AutoContrast, Equalization.

Each layer checks its arguments as Keras does (Keras's messages, prefixed with the class name), keeps them in
Keras's normalised form (`factor` as (lower, upper), see `factor_range`) and wraps one transform of
`cnnkit.data.photometric`. The output is float (the layer's dtype, float32 by default), also for integer input.

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


def _python(value):
    """A numpy number as the Python number (configs stay JSON-safe)."""
    return value.item() if hasattr(value, "item") else value


def factor_range(owner, factor, bounds, name="factor"):
    """Keras's `BaseImagePreprocessingLayer._set_factor`: a number f in `bounds` gives (max(-|f|, bounds[0]), |f|),
    a pair gives the pair sorted (it must overlap `bounds`); anything else raises Keras's ValueError."""
    message = (f"{owner}: The `{name}` argument should be a number (or a list of two numbers) in the range "
               f"[{bounds[0]}, {bounds[1]}]. Received: {name}={factor}")
    pair = as_tuple(factor) if isinstance(factor, (tuple, list)) else None
    if pair is not None:
        if len(pair) != 2 or not all(is_real(v) for v in pair):
            raise ValueError(message)
        if pair[0] > bounds[1] or pair[1] < bounds[0]:
            raise ValueError(message)
        lower, upper = sorted(_python(v) for v in pair)
        return lower, upper
    if not is_real(factor) or factor < bounds[0] or factor > bounds[1]:
        raise ValueError(message)
    factor = abs(_python(factor))
    return max(-factor, bounds[0]), factor


def sorted_value_range(owner, value_range):
    """Keras's `_set_value_range`: two numbers, returned sorted as a list."""
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2 or not all(
            is_real(v) for v in value_range):
        raise ValueError(f"{owner}: {_VALUE_RANGE_ERROR}Received: value_range={value_range}")
    return sorted(_python(v) for v in value_range)


def given_value_range(owner, value_range):
    """A `value_range` Keras keeps as given (checked to be two numbers here, Keras's message); a tuple."""
    sorted_value_range(owner, value_range)
    return tuple(_python(v) for v in value_range)


class ColorLayer(BaseImagePreprocessingLayer):
    """A colour layer: same output shape; `factor`, `value_range` and `seed` in its config (Keras's order)."""

    def get_config(self):
        cfg = super().get_config()
        cfg.update(factor=self.factor, value_range=self.value_range, seed=self.seed)
        return cfg


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
