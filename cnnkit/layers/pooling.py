"""Pooling layers: rank-generic `BasePooling` (max / average) and `BaseGlobalPooling`, with 1D/2D/3D subclasses."""

from cnnkit.layers.base import Layer
from cnnkit.layers.base import check_rank
from cnnkit.layers.base import register
from cnnkit.ops import functional as nn
from cnnkit.ops.arguments import check_data_format
from cnnkit.ops.arguments import normalize_padding
from cnnkit.ops.arguments import normalize_tuple
from cnnkit.ops.shapes import conv_output_shape


class BasePooling(Layer):
    """Max or average pooling over `rank` spatial axes.

    Args:
        rank: 1, 2 or 3.
        mode: 'max' or 'average'.
        pool_size: int or tuple: the window.
        strides: int, tuple or None (None: equal to pool_size, as in Keras).
        padding: 'valid' or 'same'. With 'same', max pooling never picks a padded position and average pooling
            divides by the number of real inputs in the window (Keras/TensorFlow semantics).

    Input shape:
        (batch, *spatial, channels).

    Output shape:
        (batch, *pooled, channels): floor((n - pool) / stride) + 1 for 'valid', ceil(n / stride) for 'same'.

    Note:
        torch's avg_pool counts padded zeros by default and its max_pool limits padding to half the window;
        cnnkit follows Keras.
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    resamples = True

    def __init__(self, rank, mode, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.rank, self.mode = rank, mode
        self.pool_size = normalize_tuple(pool_size, rank, "pool_size", owner)
        self.strides = self.pool_size if strides is None else normalize_tuple(strides, rank, "strides", owner)
        self.padding = normalize_padding(padding, owner)
        check_data_format(data_format, owner)

    @property
    def commutes_with_monotonic(self):
        return self.mode == "max"

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank + 2)
        self.compute_output_shape(input_shape)

    def call(self, inputs, training=False):
        pool = nn.max_pool if self.mode == "max" else nn.avg_pool
        return pool(inputs, self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape):
        spatial = conv_output_shape(input_shape[1:-1], self.pool_size, self.strides, self.padding,
                                    (1,) * self.rank, owner=self._owner())
        return (input_shape[0], *spatial, input_shape[-1])

    def get_config(self):
        cfg = super().get_config()
        cfg.update(pool_size=list(self.pool_size), strides=list(self.strides), padding=self.padding,
                   data_format="channels_last")
        return cfg


@register(aliases=("MaxPool1D",))
class MaxPooling1D(BasePooling):
    """Max pooling over 1 spatial axis (see `BasePooling`); pool_size default 2, strides None = pool_size."""

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(1, "max", pool_size, strides, padding, data_format, **kwargs)


@register(aliases=("MaxPool2D",))
class MaxPooling2D(BasePooling):
    """Max pooling over 2 spatial axes (see `BasePooling`); pool_size default (2, 2), strides None = pool_size."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(2, "max", pool_size, strides, padding, data_format, **kwargs)


@register(aliases=("MaxPool3D",))
class MaxPooling3D(BasePooling):
    """Max pooling over 3 spatial axes (see `BasePooling`); pool_size default (2, 2, 2), strides None = pool_size."""

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(3, "max", pool_size, strides, padding, data_format, **kwargs)


@register(aliases=("AvgPool1D",))
class AveragePooling1D(BasePooling):
    """Average pooling over 1 spatial axis (see `BasePooling`); pool_size default 2, strides None = pool_size."""

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(1, "average", pool_size, strides, padding, data_format, **kwargs)


@register(aliases=("AvgPool2D",))
class AveragePooling2D(BasePooling):
    """Average pooling over 2 spatial axes (see `BasePooling`); pool_size default (2, 2), strides None = pool_size."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(2, "average", pool_size, strides, padding, data_format, **kwargs)


@register(aliases=("AvgPool3D",))
class AveragePooling3D(BasePooling):
    """Average pooling over 3 spatial axes (see `BasePooling`); pool_size default (2, 2, 2), strides None = pool_size"""

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(3, "average", pool_size, strides, padding, data_format, **kwargs)


MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D


class BaseGlobalPooling(Layer):
    """Mean or max over all spatial axes.

    Args:
        rank: 1, 2 or 3.
        mode: 'max' or 'average'.
        keepdims: keep the spatial axes with size 1 (default False).

    Input shape:
        (batch, *spatial, channels).

    Output shape:
        (batch, channels), or (batch, 1, ..., 1, channels) with keepdims.
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    resamples = True

    def __init__(self, rank, mode, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        check_data_format(data_format, type(self).__name__)
        self.rank, self.mode, self.keepdims = rank, mode, bool(keepdims)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank + 2)

    @property
    def commutes_with_monotonic(self):
        return self.mode == "max"

    def call(self, inputs, training=False):
        return nn.global_pool(inputs, self.mode, self.keepdims)

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0], *([1] * self.rank), input_shape[-1])
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        cfg = super().get_config()
        cfg.update(data_format="channels_last", keepdims=self.keepdims)
        return cfg


@register(aliases=("GlobalAvgPool1D",))
class GlobalAveragePooling1D(BaseGlobalPooling):
    """Global average pooling over 1 spatial axis (see `BaseGlobalPooling`)."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(1, "average", data_format, keepdims, **kwargs)


@register(aliases=("GlobalAvgPool2D",))
class GlobalAveragePooling2D(BaseGlobalPooling):
    """Global average pooling over 2 spatial axes (see `BaseGlobalPooling`)."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(2, "average", data_format, keepdims, **kwargs)


@register(aliases=("GlobalAvgPool3D",))
class GlobalAveragePooling3D(BaseGlobalPooling):
    """Global average pooling over 3 spatial axes (see `BaseGlobalPooling`)."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(3, "average", data_format, keepdims, **kwargs)


@register(aliases=("GlobalMaxPool1D",))
class GlobalMaxPooling1D(BaseGlobalPooling):
    """Global max pooling over 1 spatial axis (see `BaseGlobalPooling`)."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(1, "max", data_format, keepdims, **kwargs)


@register(aliases=("GlobalMaxPool2D",))
class GlobalMaxPooling2D(BaseGlobalPooling):
    """Global max pooling over 2 spatial axes (see `BaseGlobalPooling`)."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(2, "max", data_format, keepdims, **kwargs)


@register(aliases=("GlobalMaxPool3D",))
class GlobalMaxPooling3D(BaseGlobalPooling):
    """Global max pooling over 3 spatial axes (see `BaseGlobalPooling`)."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(3, "max", data_format, keepdims, **kwargs)


GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (GlobalAveragePooling1D, GlobalAveragePooling2D,
                                                     GlobalAveragePooling3D)
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
