"""Keras 3's filtering layers: RandomSharpness, RandomGaussianBlur and RandomErasing (argument checks and configs as
Keras; the transforms in `cnnkit.data.photometric`).

Example:
    >>> RandomGaussianBlur(factor=(1.0, 1.0), sigma=(0.5, 0.5))(np.zeros((2, 8, 8, 3))).shape
    torch.Size([2, 8, 8, 3])
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
from cnnkit.ops.arguments import is_real


@register
class RandomSharpness(ColorLayer):
    """Randomly sharpens or blurs each image: x + (1 - 2 f) * (smooth - x), f uniform in [lower, upper] per image
    (0.5 keeps the image, 0 is the smoothed image, 1 sharpens), smooth the image through the 3x3 kernel
    [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 with zero padding; clipped to `value_range`.

    Args:
        factor: a number in [0, 1] (the range [0, factor]) or a pair (lower, upper) within [0, 1].
        value_range: (low, high), the range of the input values (kept sorted).
        data_format: 'channels_last' (or None).
        seed: int or None: repeatable draws.

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as the input.

    Example:
        >>> RandomSharpness((0.5, 0.5))(np.ones((1, 4, 4, 3))).numpy().max()     # f = 0.5: unchanged
        1.0
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        owner = type(self).__name__
        self.factor = factor_range(owner, factor, (0, 1))
        self.value_range = sorted_value_range(owner, value_range)
        self.transform = photometric.Sharpness(self.factor, self.value_range)


def _kernel_size(owner, value, name="kernel_size"):
    """Keras's `RandomGaussianBlur._set_kernel_size`: an odd number n gives (n, n), a pair of odd numbers the pair."""
    message = f"{owner}: {name} must be an odd number. Received: {name}={value}"
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{owner}: The `{name}` argument should be a number (or a list of two numbers) "
                             f"Received: {name}={value}")
        if not all(is_real(v) and v > 0 and v % 2 == 1 for v in value):
            raise ValueError(message)
        return python_number(value[0]), python_number(value[1])
    if not is_real(value) or value <= 0 or value % 2 != 1:
        raise ValueError(message)
    return python_number(value), python_number(value)


@register
class RandomGaussianBlur(BaseImagePreprocessingLayer):
    """Randomly blurs images with a Gaussian: each image with probability p (p uniform in `factor` per image),
    with one pair of standard deviations (x, y) uniform in `sigma` drawn per batch (as Keras does) and Keras's
    `kernel_size` kernel, zero padding; every image is then clipped to `value_range`.

    Args:
        factor: the blur probability: a number in [0, 1] (the range [0, factor]) or a pair within [0, 1].
        kernel_size: an odd int or a pair of odd ints (Keras's reading of a pair: kernels (k0, k1) reshaped).
        sigma: a number in [0, 1] (the range [0, sigma]) or a pair within [0, 1] (Keras's bounds).
        value_range: (low, high), the range of the input values.
        data_format: 'channels_last' (or None).
        seed: int or None: repeatable draws.

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as the input.

    Example:
        >>> RandomGaussianBlur((1.0, 1.0), sigma=(1.0, 1.0))(np.zeros((1, 5, 5, 1))).shape
        torch.Size([1, 5, 5, 1])
    """

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255), data_format=None, seed=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        owner = type(self).__name__
        self.factor = factor_range(owner, factor, (0, 1))
        self.kernel_size = _kernel_size(owner, kernel_size)
        self.sigma = factor_range(owner, sigma, (0, 1), name="sigma", received="factor")
        self.value_range = given_value_range(owner, value_range)
        self.transform = photometric.GaussianBlur(self.factor, self.kernel_size, self.sigma, self.value_range)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(factor=self.factor, kernel_size=self.kernel_size, sigma=self.sigma, value_range=self.value_range,
                   seed=self.seed)
        return json_form(cfg)


_FILL_VALUE_ERROR = "The `fill_value` argument should be a number (or a list of three numbers) "


@register
class RandomErasing(BaseImagePreprocessingLayer):
    """Randomly erases a box of each image, with probability p (p uniform in `factor` per image): the box's width
    and height are sqrt(s_x) and sqrt(s_y) of the image's (s uniform in `scale`), its position uniform; its pixels
    become `fill_value` (None: Gaussian noise times value_range[1]), clipped to `value_range`.

    Args:
        factor: the erasing probability: a number in [0, 1] (the range [0, factor]) or a pair within [0, 1].
        scale: the range of the box's area fractions, a number or a pair within [0, 1].
        fill_value: None, a number, or 3 numbers (one per channel).
        value_range: (low, high), the range of the input values.
        seed: int or None: repeatable draws.
        data_format: 'channels_last' (or None).

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as the input.

    Example:
        >>> RandomErasing((1.0, 1.0), scale=(1.0, 1.0), fill_value=0)(np.ones((1, 4, 4, 3))).numpy().max()
        0.0
    """

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255), seed=None,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        owner = type(self).__name__
        self.factor = factor_range(owner, factor, (0, 1))
        self.scale = factor_range(owner, scale, (0, 1), name="scale", received="factor")
        if fill_value is not None:
            if isinstance(fill_value, (tuple, list)):
                if len(fill_value) != 3 or not all(is_real(v) for v in fill_value):
                    raise ValueError(f"{owner}: {_FILL_VALUE_ERROR}Received: fill_value={fill_value}")
                fill_value = [python_number(v) for v in fill_value]
            elif is_real(fill_value):
                fill_value = python_number(fill_value)
            else:
                raise ValueError(f"{owner}: {_FILL_VALUE_ERROR}Received: fill_value={fill_value}")
        self.fill_value = fill_value
        self.value_range = given_value_range(owner, value_range)
        self.transform = photometric.Erasing(self.factor, self.scale, self.fill_value, self.value_range)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(factor=self.factor, scale=self.scale, fill_value=self.fill_value, value_range=self.value_range,
                   seed=self.seed)
        return json_form(cfg)
