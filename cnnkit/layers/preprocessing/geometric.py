"""Keras 3's geometric augmentation layers: RandomFlip, RandomRotation, RandomZoom, RandomTranslation, RandomShear,
RandomCrop and RandomPerspective.

Each wraps a transform of `cnnkit.data.geometric` (Keras 3's own formulas: its layers' affine matrices and the
torch backend's `affine_transform` / `perspective_transform`), drawn per image and applied to the whole batch in
torch. Like Keras's, they act only in training (inside `fit`, a direct call, or `training=True`) and are the
identity in `predict` / `evaluate`, except RandomCrop, which centre-crops outside training.

Example:
    >>> augment = Sequential([RandomFlip("horizontal"), RandomRotation(0.1), RandomZoom(0.2)])
    >>> augment(np.random.rand(4, 32, 32, 3), training=True).shape
    torch.Size([4, 32, 32, 3])
"""

from cnnkit.data import geometric
from cnnkit.layers.base import register
from cnnkit.layers.preprocessing.base import BaseImagePreprocessingLayer
from cnnkit.ops.arguments import is_int
from cnnkit.ops.arguments import is_real
from cnnkit.registry import did_you_mean

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")


def _check_choice(owner, name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{owner}: unknown `{name}` {value}. Expected of one {allowed}.{did_you_mean(value, allowed)}"
                         f" Received: {name}={value!r}")
    return value


def _bounded_factor(owner, factor, bounds):
    """Keras's `BaseImagePreprocessingLayer._set_factor`: a number f in `bounds` -> (max(-|f|, low), |f|); a pair
    -> sorted. Returns (lower, upper)."""
    message = (f"{owner}: The `factor` argument should be a number (or a list of two numbers) in the range "
               f"[{bounds[0]}, {bounds[1]}]. Received: factor={factor}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(is_real(f) for f in factor):
            raise ValueError(message)
        if factor[0] > bounds[1] or factor[1] < bounds[0]:
            raise ValueError(message)
        return tuple(sorted(factor))
    if not is_real(factor) or factor < bounds[0] or factor > bounds[1]:
        raise ValueError(message)
    factor = abs(factor)
    return (max(-factor, bounds[0]), factor)


def _range_factor(owner, factor, name, message, out_of_range):
    """Keras's per-layer `_set_factor(factor, name)` (RandomZoom, RandomTranslation, RandomShear): a number f ->
    (-|f|, |f|), a pair -> sorted; every number checked by `out_of_range`."""
    def check(number):
        if not is_real(number) or out_of_range(number):
            raise ValueError(f"{owner}: {message}Received: input_number={number}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(f"{owner}: {message}Received: {name}={factor}")
        check(factor[0])
        check(factor[1])
        return tuple(sorted(factor))
    if not is_real(factor):
        raise ValueError(f"{owner}: {message}Received: {name}={factor}")
    check(factor)
    return (-abs(factor), abs(factor))


def _pair_as_list(factor):
    """A factor kept for the config: a list or tuple as a list (Keras's tuples in its JSON form), a number as it
    is."""
    return list(factor) if isinstance(factor, (list, tuple)) else factor


class _WarpLayer(BaseImagePreprocessingLayer):
    """Shared arguments of the affine-warp layers: fill_mode, interpolation, fill_value."""

    def _check_warp(self, fill_mode, interpolation, fill_value):
        owner = type(self).__name__
        self.fill_mode = _check_choice(owner, "fill_mode", fill_mode, FILL_MODES)
        self.interpolation = _check_choice(owner, "interpolation", interpolation, INTERPOLATIONS)
        if not is_real(fill_value):
            raise ValueError(f"{owner}: fill_value must be a number. Received: fill_value={fill_value!r}")
        self.fill_value = fill_value

    def get_config(self):
        cfg = super().get_config()
        cfg.update(fill_mode=self.fill_mode, interpolation=self.interpolation, fill_value=self.fill_value)
        return cfg


@register
class RandomFlip(BaseImagePreprocessingLayer):
    """Flips each image with probability 1/2 in training (Keras's RandomFlip).

    Args:
        mode: 'horizontal' (left-right), 'vertical' (upside-down) or 'horizontal_and_vertical' (both at once,
            one draw for the two axes, as Keras).
        seed: int or None: a seeded layer draws the same flips on every run.

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as input.

    Example:
        >>> RandomFlip("horizontal", seed=0)(np.zeros((2, 8, 8, 3))).shape
        torch.Size([2, 8, 8, 3])
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in geometric.FLIP_MODES:
            raise ValueError(f"RandomFlip: mode must be one of {', '.join(map(repr, geometric.FLIP_MODES))}."
                             f"{did_you_mean(mode, geometric.FLIP_MODES)} Received: mode={mode!r}")
        self.mode = mode
        self.transform = geometric.Flip(mode)

    def get_config(self):
        cfg = super().get_config()
        cfg["mode"] = self.mode
        return cfg


@register
class RandomRotation(_WarpLayer):
    """Rotates each image about its centre by a random angle in training (Keras's RandomRotation).

    Args:
        factor: fraction of a full turn: a number f in [-1, 1] (angles in [-f, f] * 360 degrees) or a pair
            (lower, upper); positive angles turn counter-clockwise.
        fill_mode: 'reflect' (default), 'wrap', 'constant' or 'nearest': how points outside the image are filled.
        interpolation: 'bilinear' (default) or 'nearest'.
        seed: int or None.
        fill_value: the value outside the image for fill_mode 'constant'.

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as input.

    Example:
        >>> RandomRotation((0.25, 0.25))(np.zeros((2, 8, 8, 3))).shape     # a quarter turn
        torch.Size([2, 8, 8, 3])
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded_factor("RandomRotation", factor, (-1, 1))
        self._check_warp(fill_mode, interpolation, fill_value)
        self.transform = geometric.Rotation(self.factor, self.fill_mode, self.interpolation, self.fill_value)

    def get_config(self):
        cfg = super().get_config()
        cfg["factor"] = list(self.factor)
        return cfg


_ZOOM_MESSAGE = ("The `height_factor` and `width_factor` arguments should be a number (or a list of two numbers) "
                 "in the range (-1.0, 1.0]. ")


@register
class RandomZoom(_WarpLayer):
    """Zooms each image in or out about its centre in training (Keras's RandomZoom).

    Args:
        height_factor: a number f in (-1, 1] (vertical zoom drawn from [-f, f]) or a pair (lower, upper); the
            image is sampled at (1 + draw) times its scale: a positive draw zooms out, a negative one zooms in.
        width_factor: the same for the horizontal zoom; None (default) keeps the aspect ratio (the vertical draw).
        fill_mode, interpolation, seed, fill_value: as RandomRotation.

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as input.

    Example:
        >>> RandomZoom((-0.5, -0.5))(np.zeros((1, 8, 8, 3))).shape           # 2x zoom in
        torch.Size([1, 8, 8, 3])
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        out = lambda f: f > 1.0 or f <= -1.0  # noqa: E731
        self.height_factor, self.width_factor = _pair_as_list(height_factor), _pair_as_list(width_factor)
        height_range = _range_factor("RandomZoom", height_factor, "height_factor", _ZOOM_MESSAGE, out)
        width_range = (None if width_factor is None else
                       _range_factor("RandomZoom", width_factor, "width_factor", _ZOOM_MESSAGE, out))
        self._check_warp(fill_mode, interpolation, fill_value)
        self.transform = geometric.Zoom(height_range, width_range, self.fill_mode, self.interpolation,
                                        self.fill_value)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(height_factor=self.height_factor, width_factor=self.width_factor)
        return cfg


@register
class RandomTranslation(_WarpLayer):
    """Shifts each image by a random fraction of its height and width in training (Keras's RandomTranslation).

    Args:
        height_factor: a number f in [-1, 1] (a shift of [-f, f] * height rows) or a pair (lower, upper);
            positive shifts move the image down.
        width_factor: the same for columns; positive shifts move the image right.
        fill_mode, interpolation, seed, fill_value: as RandomRotation.

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as input.

    Example:
        >>> RandomTranslation((0.25, 0.25), 0)(np.zeros((1, 8, 8, 3))).shape   # 2 rows down
        torch.Size([1, 8, 8, 3])
    """

    _MESSAGE = "The `factor` argument should be a number (or a list of two numbers) in the range [-1.0, 1.0]. "

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        out = lambda f: f > 1.0 or f < -1.0  # noqa: E731
        self.height_factor, self.width_factor = _pair_as_list(height_factor), _pair_as_list(width_factor)
        ranges = [_range_factor("RandomTranslation", f, name, self._MESSAGE, out)
                  for f, name in ((height_factor, "height_factor"), (width_factor, "width_factor"))]
        self._check_warp(fill_mode, interpolation, fill_value)
        self.transform = geometric.Translation(*ranges, self.fill_mode, self.interpolation, self.fill_value)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(height_factor=self.height_factor, width_factor=self.width_factor)
        return cfg


def _symmetric_as_number(factor):
    """(-f, f) as f: Keras 3.15's RandomShear writes a number f to its config as the pair (-f, f), which its own
    check (every number in [0, 1]) then refuses; cnnkit reads that pair as f and writes f back."""
    if isinstance(factor, (tuple, list)) and len(factor) == 2 and all(is_real(f) for f in factor):
        if factor[0] == -factor[1] and factor[1] > 0:
            return factor[1]
    return factor


@register
class RandomShear(_WarpLayer):
    """Shears each image about its top-left corner in training (Keras's RandomShear).

    Args:
        x_factor: a number f in [0, 1] (horizontal shear drawn from [-f, f]) or a pair in [0, 1]; the output
            samples the input at x + shear * y.
        y_factor: the same for the vertical shear (y + shear * x). Both shears change sign for half the images.
        interpolation, fill_mode, fill_value, seed: as RandomRotation.

    Note:
        The config keeps `x_factor` and `y_factor` as given (Keras 3.15 writes a number f as (-f, f), a config
        Keras cannot read back; cnnkit reads it as f).

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as input.

    Example:
        >>> RandomShear(x_factor=0.2)(np.zeros((2, 8, 8, 3))).shape
        torch.Size([2, 8, 8, 3])
    """

    _MESSAGE = "The `factor` argument should be a number (or a list of two numbers) in the range [0, 1.0]. "

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        out = lambda f: f > 1.0 or f < 0.0  # noqa: E731
        self.x_factor = _pair_as_list(_symmetric_as_number(x_factor))
        self.y_factor = _pair_as_list(_symmetric_as_number(y_factor))
        ranges = [_range_factor("RandomShear", f, name, self._MESSAGE, out)
                  for f, name in ((self.x_factor, "x_factor"), (self.y_factor, "y_factor"))]
        self._check_warp(fill_mode, interpolation, fill_value)
        self.transform = geometric.Shear(*ranges, self.fill_mode, self.interpolation, self.fill_value)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(x_factor=self.x_factor, y_factor=self.y_factor)
        return cfg


@register
class RandomCrop(BaseImagePreprocessingLayer):
    """Crops each image to (height, width) at a random position in training (Keras's RandomCrop).

    In training, an image larger than the target in both axes is cropped at a position drawn per image; otherwise,
    and outside training, the layer takes Keras's deterministic crop: a (height, width) window at the top-left
    corner of the largest centred box with the target's aspect ratio (so centred along the axis that box is cut
    on), resized (bilinear) to (height, width) when the image is smaller.

    Args:
        height, width: the output size (positive ints).
        seed: int or None.

    Input shape:
        (batch, in_height, in_width, channels) or (in_height, in_width, channels).

    Output shape:
        (batch, height, width, channels) or (height, width, channels).

    Example:
        >>> RandomCrop(6, 6)(np.zeros((2, 8, 8, 3))).shape
        torch.Size([2, 6, 6, 3])

    Note:
        Keras 3.15 draws one crop position for the whole batch; cnnkit draws one per image (the same distribution
        for each image). Keras 3.15 also returns its input unchanged outside training, contradicting its own
        documentation and `compute_output_shape`; cnnkit takes the documented centred crop.
    """

    def __init__(self, height, width, seed=None, data_format=None, name=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, name=name, **kwargs)
        for value, arg in ((height, "height"), (width, "width")):
            if not is_int(value) or value < 1:
                raise ValueError(f"RandomCrop: {arg} must be a positive int. Received: {arg}={value!r}")
        self.height, self.width = int(height), int(width)
        self.transform = geometric.Crop(self.height, self.width)

    def augment(self, images, training):
        if training:
            return super().augment(images, training)
        return self.transform.center(images)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[-3], shape[-2] = self.height, self.width
        return tuple(shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(height=self.height, width=self.width)
        return cfg


@register
class RandomPerspective(BaseImagePreprocessingLayer):
    """Applies a random perspective warp to some of the images in training (Keras's RandomPerspective).

    Args:
        factor: a number f in [0, 1] or a pair: each image is warped with a probability drawn from [0, f]
            (Keras's rule: a uniform threshold below a uniform draw from `factor`).
        scale: in [0, 1]: each corner moves by up to scale / 2 of its coordinates.
        interpolation: 'bilinear' (default) or 'nearest'.
        fill_value: the value outside the warped image.
        seed: int or None.

    Input shape:
        (batch, height, width, channels) or (height, width, channels).

    Output shape:
        Same as input.

    Example:
        >>> RandomPerspective(factor=1.0, scale=0.5)(np.zeros((2, 8, 8, 3))).shape
        torch.Size([2, 8, 8, 3])
    """

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0, seed=None,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _bounded_factor("RandomPerspective", factor, (0, 1))
        if not is_real(scale) or scale < 0.0 or scale > 1.0:
            raise ValueError(f"RandomPerspective: The `scale` argument should be a number in the range [0,1]. "
                             f"Received: scale={scale}")
        self.scale = scale
        self.interpolation = _check_choice("RandomPerspective", "interpolation", interpolation, INTERPOLATIONS)
        if not is_real(fill_value):
            raise ValueError(f"RandomPerspective: fill_value must be a number. Received: fill_value={fill_value!r}")
        self.fill_value = fill_value
        self.transform = geometric.Perspective(self.factor, scale, self.interpolation, fill_value)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(factor=list(self.factor), scale=self.scale, interpolation=self.interpolation,
                   fill_value=self.fill_value)
        return cfg
