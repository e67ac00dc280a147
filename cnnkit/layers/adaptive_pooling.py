"""Adaptive pooling layers: a rank-generic `BaseAdaptivePooling` (max / average) and AdaptiveAveragePooling1D/2D/3D,
AdaptiveMaxPooling1D/2D/3D, as in Keras 3."""

from cnnkit.layers.base import Layer
from cnnkit.layers.base import check_rank
from cnnkit.layers.base import register
from cnnkit.ops import functional as nn
from cnnkit.ops.arguments import check_data_format
from cnnkit.ops.arguments import normalize_tuple


class BaseAdaptivePooling(Layer):
    """Max or average pooling to a fixed output size, whatever the input size.

    Along an axis of n inputs pooled to m outputs, output i pools the inputs [floor(i * n / m),
    ceil((i + 1) * n / m)): windows of ceil(n / m) or ceil(n / m) + 1 inputs, which may overlap when m does not
    divide n, and repeat inputs when m > n (Keras's bins, which are torch's).

    Args:
        rank: 1, 2 or 3.
        mode: 'max' or 'average'.
        output_size: int or tuple of `rank` positive ints.

    Input shape:
        (batch, *spatial, channels).

    Output shape:
        (batch, *output_size, channels).

    Note:
        Keras 3.15's AdaptiveMaxPooling crashes its TensorFlow process (SIGFPE) when an output size is 1 or an
        input axis has size 1; cnnkit returns the bins' maxima there too. ONNX export works for every size (the
        bins are exported as fixed-window pools and a gather when the sizes do not divide).
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    resamples = True

    def __init__(self, rank, mode, output_size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.rank, self.mode = rank, mode
        self.output_size = normalize_tuple(output_size, rank, "output_size", owner)
        check_data_format(data_format, owner)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank + 2)

    def call(self, inputs, training=False):
        return nn.adaptive_pool(inputs, self.output_size, self.mode)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.output_size, input_shape[-1])

    def get_config(self):
        cfg = super().get_config()
        cfg.update(output_size=list(self.output_size), data_format="channels_last")
        return cfg


@register
class AdaptiveAveragePooling1D(BaseAdaptivePooling):
    """Adaptive average pooling of (batch, steps, features) to `output_size` steps (see `BaseAdaptivePooling`).

    Example:
        >>> AdaptiveAveragePooling1D(4)(np.zeros((2, 10, 3))).shape
        torch.Size([2, 4, 3])
    """

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(rank=1, mode="average", output_size=output_size, data_format=data_format, **kwargs)


@register
class AdaptiveAveragePooling2D(BaseAdaptivePooling):
    """Adaptive average pooling of (batch, height, width, channels) to `output_size` = (height, width) or an int.

    Example:
        >>> AdaptiveAveragePooling2D((2, 3))(np.zeros((1, 7, 8, 4))).shape
        torch.Size([1, 2, 3, 4])
    """

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(rank=2, mode="average", output_size=output_size, data_format=data_format, **kwargs)


@register
class AdaptiveAveragePooling3D(BaseAdaptivePooling):
    """Adaptive average pooling of (batch, d1, d2, d3, channels) to `output_size` (3 ints or an int)."""

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(rank=3, mode="average", output_size=output_size, data_format=data_format, **kwargs)


@register
class AdaptiveMaxPooling1D(BaseAdaptivePooling):
    """Adaptive max pooling of (batch, steps, features) to `output_size` steps (see `BaseAdaptivePooling`)."""

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(rank=1, mode="max", output_size=output_size, data_format=data_format, **kwargs)


@register
class AdaptiveMaxPooling2D(BaseAdaptivePooling):
    """Adaptive max pooling of (batch, height, width, channels) to `output_size` = (height, width) or an int.

    Example:
        >>> AdaptiveMaxPooling2D(2)(np.zeros((1, 5, 5, 3))).shape
        torch.Size([1, 2, 2, 3])
    """

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(rank=2, mode="max", output_size=output_size, data_format=data_format, **kwargs)


@register
class AdaptiveMaxPooling3D(BaseAdaptivePooling):
    """Adaptive max pooling of (batch, d1, d2, d3, channels) to `output_size` (3 ints or an int)."""

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(rank=3, mode="max", output_size=output_size, data_format=data_format, **kwargs)
