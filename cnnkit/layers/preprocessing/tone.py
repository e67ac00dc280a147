"""Keras 3's tone layers: RandomInvert, Solarization, RandomPosterization, AutoContrast and Equalization (argument
checks and configs as Keras; the transforms in `cnnkit.data.photometric`).

Example:
    >>> AutoContrast()(np.array([[[[10.0], [20.0]]]])).numpy().ravel()     # stretched to 0..255
    array([  0., 255.], dtype=float32)
"""

from cnnkit.data import photometric
from cnnkit.layers.base import register
from cnnkit.layers.preprocessing.base import BaseImagePreprocessingLayer
from cnnkit.layers.preprocessing.color import ColorLayer
from cnnkit.layers.preprocessing.color import factor_range
from cnnkit.layers.preprocessing.color import given_value_range
from cnnkit.layers.preprocessing.color import json_form
from cnnkit.layers.preprocessing.color import python_number
from cnnkit.layers.preprocessing.color import sorted_value_range
from cnnkit.ops.arguments import as_tuple
from cnnkit.ops.arguments import is_int
from cnnkit.ops.arguments import is_real


@register
class RandomInvert(ColorLayer):
    """Inverts each image (value_range[1] - x) with probability p, p uniform in [lower, upper] per image.

    Args:
        factor: a number in [0, 1] (the range [0, factor]) or a pair (lower, upper); the default 1.0 inverts about
            half the images, (1, 1) all of them.
        value_range: (low, high), the range of the input values.
        seed: int or None: repeatable draws.
        data_format: 'channels_last' (or None).

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as the input.

    Example:
        >>> RandomInvert((1.0, 1.0))(np.full((1, 2, 2, 1), 55.0)).numpy().ravel()
        array([200., 200., 200., 200.], dtype=float32)
    """

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        owner = type(self).__name__
        self.factor = factor_range(owner, factor, (0, 1))
        self.value_range = given_value_range(owner, value_range)
        self.transform = photometric.Invert(self.factor, self.value_range)


_SOLARIZATION_FACTOR_ERROR = ("The `addition_factor` and `threshold_factor` arguments should be a number (or a list "
                              "of two numbers) in the range [0, 1]. ")


def _solarization_factor(owner, factor, name):
    """Keras's `Solarization._set_factor`: a number f in [0, 1] gives (0, f), a pair in [0, 1] the pair sorted."""
    def check(number):
        if not is_real(number) or number > 1.0 or number < 0:
            raise ValueError(f"{owner}: {_SOLARIZATION_FACTOR_ERROR}Received: input_number={number}")

    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(f"{owner}: {_SOLARIZATION_FACTOR_ERROR}Received: {name}={factor}")
        check(factor[0])
        check(factor[1])
        lower, upper = sorted(python_number(v) for v in as_tuple(factor))
        return lower, upper
    if not is_real(factor):
        raise ValueError(f"{owner}: {_SOLARIZATION_FACTOR_ERROR}Received: {name}={factor}")
    check(factor)
    return 0, python_number(factor)


@register
class Solarization(BaseImagePreprocessingLayer):
    """Solarizes each image: on the images rescaled to 0..255, y = clip(x + addition, 0, 255), then pixels at or
    above the threshold are inverted (255 - y); per image the addition is uniform in [addition_factor[0],
    addition_factor[1] * 255] and the threshold in [threshold_factor[0], threshold_factor[1] * 255] (Keras scales
    only the upper bounds).

    Args:
        addition_factor: a number in [0, 1] (the range [0, f]) or a pair within [0, 1].
        threshold_factor: a number in [0, 1] (the range [0, f]) or a pair within [0, 1].
        value_range: (low, high), the range of the input values (kept sorted).
        seed: int or None: repeatable draws.

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as the input.

    Example:
        >>> Solarization()(np.full((1, 1, 2, 1), 55.0)).numpy().ravel()    # threshold 0: every pixel inverted
        array([200., 200.], dtype=float32)
    """

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        owner = type(self).__name__
        self.addition_factor = _solarization_factor(owner, addition_factor, "addition_factor")
        self.threshold_factor = _solarization_factor(owner, threshold_factor, "threshold_factor")
        self.value_range = sorted_value_range(owner, value_range)
        self.transform = photometric.Solarize(self.addition_factor, self.threshold_factor, self.value_range)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(value_range=self.value_range, addition_factor=self.addition_factor,
                   threshold_factor=self.threshold_factor, seed=self.seed)
        return json_form(cfg)


@register
class RandomPosterization(ColorLayer):
    """Reduces each image to b bits per channel, b an int drawn in [lower, upper) per image (lower when both are
    equal): on the images rescaled to 0..255 and truncated to integers, the 8 - b low bits are cleared.

    Args:
        factor: an int in [1, 8] (the range [1, factor)) or a pair (lower, upper) within [1, 8].
        value_range: (low, high), the range of the input values (kept sorted).
        data_format: 'channels_last' (or None).
        seed: int or None: repeatable draws.

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as the input.

    Example:
        >>> RandomPosterization((2, 2))(np.full((1, 1, 1, 1), 200.0)).numpy().ravel()     # 2 bits: multiples of 64
        array([192.], dtype=float32)
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        owner = type(self).__name__
        self.factor = factor_range(owner, factor, (1, 8))
        self.value_range = sorted_value_range(owner, value_range)
        self.transform = photometric.Posterize(self.factor, self.value_range)


@register
class AutoContrast(BaseImagePreprocessingLayer):
    """Stretches each channel of each image linearly so that its minimum becomes value_range[0] and its maximum
    value_range[1] (constant channels are left as they are). Deterministic, and applied in inference too, as in
    Keras.

    Args:
        value_range: (low, high), the range of the input values (kept sorted).

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as the input.

    Example:
        >>> AutoContrast(value_range=(0, 1))(np.array([[[[0.2], [0.4]]]])).numpy().ravel()
        array([0., 1.], dtype=float32)
    """

    stochastic = False

    def __init__(self, value_range=(0, 255), **kwargs):
        super().__init__(**kwargs)
        self.value_range = sorted_value_range(type(self).__name__, value_range)
        self.transform = photometric.AutoContrast(self.value_range)

    def augment(self, images, training):
        return self.transform(images, None)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("seed")
        cfg.update(value_range=self.value_range)
        return json_form(cfg)


@register
class Equalization(BaseImagePreprocessingLayer):
    """Equalizes the histogram of each channel in training (the identity in inference, as in Keras): each
    channel's histogram of `bins` bins over the whole batch (as Keras computes it) mapped through its rounded
    cumulative distribution; a channel whose values fall in one bin is left as it is.

    Args:
        value_range: (low, high), the range of the input values (kept sorted).
        bins: the number of histogram bins (a positive int).
        data_format: 'channels_last' (or None).

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as the input.

    Example:
        >>> Equalization()(np.array([[[[10.0], [20.0], [30.0]]]]), training=True).numpy().ravel()
        array([  0., 128., 255.], dtype=float32)
    """

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        owner = type(self).__name__
        if not is_int(bins) or bins < 1:
            raise ValueError(f"{owner}: bins must be a positive int. Received: bins={bins!r}")
        self.bins = int(bins)
        self.value_range = sorted_value_range(owner, value_range)
        self.transform = photometric.Equalize(self.value_range, self.bins)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("seed")
        cfg.update(bins=self.bins, value_range=self.value_range)
        return json_form(cfg)
