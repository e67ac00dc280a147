"""Layers that change the spatial size: UpSampling1D/2D/3D, Cropping1D/2D/3D (rank-generic `BaseUpSampling` and
`BaseCropping`), and Keras's image preprocessing layers Resizing and CenterCrop."""

from cnnkit.layers.base import Layer
from cnnkit.layers.base import check_rank
from cnnkit.layers.base import register
from cnnkit.ops import image_math as image
from cnnkit.ops import layout
from cnnkit.ops import functional as nn
from cnnkit.ops.arguments import check_data_format
from cnnkit.ops.arguments import check_positive_int
from cnnkit.ops.arguments import is_int
from cnnkit.ops.arguments import is_real
from cnnkit.ops.arguments import normalize_pairs
from cnnkit.ops.arguments import normalize_tuple
from cnnkit.ops.shapes import cropped_shape
from cnnkit.ops.shapes import upsampled_shape
from cnnkit.registry import did_you_mean


class BaseUpSampling(Layer):
    """Makes each spatial axis `size` times longer.

    Args:
        rank: 1, 2 or 3.
        size: int or tuple of `rank` positive ints: the factor per spatial axis.
        interpolation: 'nearest' (repeat each element, the only choice for ranks 1 and 3) or, for rank 2,
            'bilinear', 'bicubic', 'lanczos3', 'lanczos5' or 'area': Keras's (TensorFlow's) image resize to
            (size[0] * height, size[1] * width), see `cnnkit.ops.image_math`.

    Input shape:
        (batch, *spatial, channels).

    Output shape:
        (batch, *[n * s for n, s in zip(spatial, size)], channels).
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    resamples = True

    def __init__(self, rank, size, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.rank = rank
        self.size = normalize_tuple(size, rank, "size", owner)
        check_data_format(data_format, owner)
        name = interpolation.lower() if isinstance(interpolation, str) else interpolation
        allowed = image.INTERPOLATIONS if rank == 2 else ("nearest",)
        self.interpolation = image.check_interpolation(name, owner, allowed)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank + 2)

    def call(self, inputs, training=False):
        return image.upsample(inputs, self.size, self.interpolation)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *upsampled_shape(input_shape[1:-1], self.size), input_shape[-1])

    def get_config(self):
        cfg = super().get_config()
        cfg.update(size=list(self.size), data_format="channels_last")
        return cfg


@register
class UpSampling1D(BaseUpSampling):
    """Repeats each step of (batch, steps, features) `size` times (default 2).

    Example:
        >>> UpSampling1D(3)(np.zeros((2, 4, 5))).shape
        torch.Size([2, 12, 5])
    """

    def __init__(self, size=2, **kwargs):
        if not is_int(size):
            raise ValueError(f"UpSampling1D: size must be a positive int. Received: size={size!r}")
        super().__init__(rank=1, size=size, **kwargs)

    def get_config(self):
        cfg = super().get_config()
        del cfg["data_format"]
        cfg["size"] = self.size[0]
        return cfg


@register
class UpSampling2D(BaseUpSampling):
    """Up-samples (batch, height, width, channels) by `size` (default (2, 2)), repeating rows and columns
    ('nearest', the default) or resizing with `interpolation` as Keras does (see `BaseUpSampling`).

    Example:
        >>> UpSampling2D((2, 3), interpolation="bilinear")(np.zeros((1, 4, 4, 3))).shape
        torch.Size([1, 8, 12, 3])

    Note:
        'bilinear' is torch's bilinear interpolation with align_corners=False (TensorFlow's half-pixel centres),
        not torch.nn.Upsample's default 'nearest' with scale_factor.
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(rank=2, size=size, data_format=data_format, interpolation=interpolation, **kwargs)

    def get_config(self):
        cfg = super().get_config()
        cfg["interpolation"] = self.interpolation
        return cfg


@register
class UpSampling3D(BaseUpSampling):
    """Repeats the three spatial axes of (batch, d1, d2, d3, channels) by `size` (default (2, 2, 2))."""

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(rank=3, size=size, data_format=data_format, **kwargs)


class BaseCropping(Layer):
    """Removes elements from the start and end of each spatial axis.

    Args:
        rank: 1, 2 or 3.
        cropping: int (the same on every side), a tuple of `rank` ints (symmetric per axis), or a tuple of `rank`
            (before, after) pairs; Cropping1D also takes one (before, after) pair.

    Input shape:
        (batch, *spatial, channels).

    Output shape:
        (batch, *[n - before - after], channels). Cropping as much as or more than an axis's size raises a
        ValueError when the layer is built (and on a later call with such an input).
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    resamples = True

    def __init__(self, rank, cropping, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_data_format(data_format, type(self).__name__)
        self.rank = rank
        self.cropping = normalize_pairs(cropping, rank, "cropping", type(self).__name__)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank + 2)
        self.compute_output_shape(input_shape)

    def call(self, inputs, training=False):
        cropped_shape(layout.shape_to_keras(inputs.shape), self.cropping, self._owner())
        return nn.crop(inputs, self.cropping)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *cropped_shape(input_shape, self.cropping, self._owner()), input_shape[-1])

    def get_config(self):
        cfg = super().get_config()
        cfg.update(cropping=[list(p) for p in self.cropping], data_format="channels_last")
        return cfg


@register
class Cropping1D(BaseCropping):
    """Crops (batch, steps, features) along the steps; cropping default (1, 1) (before, after).

    Example:
        >>> Cropping1D((1, 2))(np.zeros((2, 6, 3))).shape
        torch.Size([2, 3, 3])
    """

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(rank=1, cropping=cropping, **kwargs)

    def get_config(self):
        cfg = super().get_config()
        del cfg["data_format"]
        cfg["cropping"] = list(self.cropping[0])
        return cfg


@register
class Cropping2D(BaseCropping):
    """Crops (batch, height, width, channels); cropping default ((0, 0), (0, 0)): ((top, bottom), (left, right)).

    Example:
        >>> Cropping2D(((1, 0), 2))(np.zeros((1, 8, 8, 3))).shape
        torch.Size([1, 7, 4, 3])
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(rank=2, cropping=cropping, data_format=data_format, **kwargs)


@register
class Cropping3D(BaseCropping):
    """Crops (batch, d1, d2, d3, channels); cropping default ((1, 1), (1, 1), (1, 1))."""

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(rank=3, cropping=cropping, data_format=data_format, **kwargs)


class _ImageLayer(Layer):
    """Shared by Resizing and CenterCrop: a (height, width) target for a batch (batch, H, W, C) or one image
    (H, W, C)."""

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    resamples = True

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.height = check_positive_int(height, "height", owner)
        self.width = check_positive_int(width, "width", owner)
        check_data_format(data_format, owner)

    def build(self, input_shape):
        self._check_rank(input_shape)

    def _check_rank(self, input_shape):
        if len(input_shape) not in (3, 4):
            raise ValueError(
                f"{self._owner()}: expected a batch of images (batch, height, width, "
                f"channels) or one image (height, width, channels). Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs, training=False):
        images, batched = image.to_image_batch(inputs)
        return image.from_image_batch(self.transform(images), batched)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        return (*input_shape[:-3], self.height, self.width, input_shape[-1])

    def get_config(self):
        cfg = super().get_config()
        cfg.update(height=self.height, width=self.width, data_format="channels_last")
        return cfg


@register
class Resizing(_ImageLayer):
    """Resizes images to (height, width), as Keras's Resizing preprocessing layer.

    Args:
        height, width: the output size (positive ints).
        interpolation: 'bilinear' (default), 'nearest', 'bicubic', 'lanczos3', 'lanczos5' or 'area', computed
            as Keras's TensorFlow backend does (`cnnkit.ops.image_math`); downscaling does not low-pass filter unless
            `antialias`.
        crop_to_aspect_ratio: first take the largest centred crop with the target's aspect ratio.
        pad_to_aspect_ratio: first pad (centred) with `fill_value` to the target's aspect ratio.
        fill_mode: 'constant' (the only mode of Keras's TensorFlow backend).
        fill_value: the padding value with pad_to_aspect_ratio (default 0.0).
        antialias: widen the kernel when downscaling (TensorFlow's scale_and_translate); 'nearest' and 'area'
            ignore it.

    Input shape:
        (batch, height, width, channels) or one image (height, width, channels).

    Output shape:
        (batch, height, width, channels) or (height, width, channels).

    Example:
        >>> Resizing(4, 6)(np.zeros((2, 8, 8, 3))).shape
        torch.Size([2, 4, 6, 3])

    Note:
        Keras's 'bilinear' is torch's bilinear with align_corners=False and antialias=False, and its 'bicubic' is
        not torch's (Keys' a = -0.5 with renormalised edges, not a = -0.75 with repeated edges). The layer
        resizes in training and in inference alike (deterministic).
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, antialias=False,
                 data_format=None, **kwargs):
        super().__init__(height=height, width=width, data_format=data_format, **kwargs)
        self.interpolation = image.check_interpolation(interpolation, "Resizing")
        self.crop_to_aspect_ratio, self.pad_to_aspect_ratio = bool(crop_to_aspect_ratio), bool(pad_to_aspect_ratio)
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError("Resizing: only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True. "
                             f"Received: crop_to_aspect_ratio={crop_to_aspect_ratio!r}, "
                             f"pad_to_aspect_ratio={pad_to_aspect_ratio!r}")
        if fill_mode != "constant":
            raise ValueError(f"Resizing: fill_mode must be 'constant' (the only mode of Keras's TensorFlow "
                             f"backend).{did_you_mean(fill_mode, ('constant',))} Received: "
                             f"fill_mode={fill_mode!r}")
        if not is_real(fill_value):
            raise ValueError(f"Resizing: fill_value must be a number. Received: fill_value={fill_value!r}")
        self.fill_mode, self.fill_value, self.antialias = fill_mode, float(fill_value), bool(antialias)

    def transform(self, images):
        return image.resize_images(images, (self.height, self.width), self.interpolation, self.antialias,
                                   self.crop_to_aspect_ratio, self.pad_to_aspect_ratio, self.fill_value)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(interpolation=self.interpolation, crop_to_aspect_ratio=self.crop_to_aspect_ratio,
                   pad_to_aspect_ratio=self.pad_to_aspect_ratio, fill_mode=self.fill_mode,
                   fill_value=self.fill_value, antialias=self.antialias)
        return cfg


@register
class CenterCrop(_ImageLayer):
    """Crops the centre (height, width) of images, as Keras's CenterCrop preprocessing layer.

    An image smaller than the target on either axis is not padded: as Keras does, its largest centred crop with
    the target's aspect ratio is resized (bilinearly) to (height, width). When the extra rows (or columns) are
    odd, the one more is cropped from the end (bottom, right).

    Input shape:
        (batch, H, W, channels) or one image (H, W, channels).

    Output shape:
        (batch, height, width, channels) or (height, width, channels).

    Example:
        >>> CenterCrop(4, 4)(np.zeros((2, 7, 9, 3))).shape
        torch.Size([2, 4, 4, 3])

    Note:
        Under a mixed dtype policy Keras returns float32 (not the compute dtype) when it resizes a small image;
        cnnkit returns the compute dtype in both cases.
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(height=height, width=width, data_format=data_format, **kwargs)

    def transform(self, images):
        return image.center_crop(images, (self.height, self.width))
