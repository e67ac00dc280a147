"""Depthwise and separable convolution layers: rank-generic `BaseDepthwiseConv` and `BaseSeparableConv`, with
DepthwiseConv1D / DepthwiseConv2D and SeparableConv1D / SeparableConv2D passing `rank`."""

from cnnkit.layers.base import register
from cnnkit.layers.convolutional import ConvLayer
from cnnkit.ops import layout
from cnnkit.ops import functional as nn
from cnnkit.ops.arguments import check_positive_int
from cnnkit.ops.shapes import conv_output_shape


class BaseDepthwiseConv(ConvLayer):
    """N-d depthwise convolution (Keras semantics): each input channel is convolved with its own
    `depth_multiplier` filters, `activation(depthwise_conv(x, kernel) + bias)`.

    Args:
        rank: number of spatial axes (1 or 2).
        kernel_size: int or tuple of `rank` ints.
        strides: int or tuple (default 1).
        padding: 'valid' or 'same' (TensorFlow's rule: the extra zero of an odd total padding goes at the end).
        depth_multiplier: output channels per input channel (default 1).
        data_format: None or 'channels_last'.
        dilation_rate: int or tuple (default 1); may be combined with strides > 1, as in Keras.
        activation: name or callable applied to the output (default: none).
        use_bias: add a bias vector (default True).
        depthwise_initializer, bias_initializer: default 'glorot_uniform' and 'zeros'.
        depthwise_regularizer, bias_regularizer: optional penalties added to the training loss.

    Input shape:
        (batch, *spatial, channels) in Keras layout.

    Output shape:
        (batch, *new_spatial, channels * depth_multiplier); output channel c * depth_multiplier + m is filter m of
        input channel c. New sizes as for Conv (`cnnkit.ops.conv_output_length`).

    Note:
        The weight is named 'kernel', as Keras 3 names it (tf.keras 2 files say 'depthwise_kernel'; they load by
        position). Its Keras layout is (*kernel_size, channels, depth_multiplier); cnnkit stores it as
        (channels, depth_multiplier, *kernel_size) and runs it as torch's grouped convolution
        (groups = channels). Unlike TensorFlow's CPU kernel, different strides on the two axes are allowed.
    """

    _weight_options = ("depthwise", "bias")

    def __init__(self, rank, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.depth_multiplier = check_positive_int(depth_multiplier, "depth_multiplier", type(self).__name__)
        self._init_conv(rank, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                        (depthwise_initializer, bias_initializer), (depthwise_regularizer, bias_regularizer),
                        activity_regularizer=activity_regularizer, depthwise_constraint=depthwise_constraint,
                        bias_constraint=bias_constraint)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.compute_output_shape(input_shape)
        self.add_weight("kernel", (*self.kernel_size, channels, self.depth_multiplier), self.depthwise_initializer,
                        self.depthwise_regularizer, kind="depthwise")
        if self.use_bias:
            self.add_weight("bias", (channels * self.depth_multiplier,), self.bias_initializer,
                            self.bias_regularizer)
        else:
            self.bias = None

    def convolve(self, inputs):
        """The depthwise convolution plus bias, before the activation (internal layout)."""
        return nn.depthwise_conv(inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate)

    def fold_channel_affine(self, scale, shift):
        # kernel (C, multiplier, *k): output channel c * multiplier + m is element (c, m)
        kernel = self.kernel * scale.reshape(*self.kernel.shape[:2], *(1,) * self.rank)
        bias = self._folded_bias(scale, shift)
        return lambda x: nn.depthwise_conv(x, kernel, bias, self.strides, self.padding, self.dilation_rate)

    def compute_output_shape(self, input_shape):
        spatial = conv_output_shape(input_shape[1:-1], self.kernel_size, self.strides, self.padding,
                                    self.dilation_rate, owner=self._owner())
        channels = None if input_shape[-1] is None else input_shape[-1] * self.depth_multiplier
        return (input_shape[0], *spatial, channels)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(depth_multiplier=self.depth_multiplier)
        return cfg


class BaseSeparableConv(ConvLayer):
    """N-d depthwise separable convolution (Keras semantics): a depthwise convolution (no bias) followed by a
    pointwise (1x1) convolution to `filters` channels, then bias and activation.

    Args:
        rank: number of spatial axes (1 or 2).
        filters: number of output channels.
        kernel_size, strides, padding, dilation_rate, depth_multiplier, data_format: of the depthwise step, as in
            `BaseDepthwiseConv`.
        activation: name or callable applied to the output (default: none).
        use_bias: add a bias vector (default True).
        depthwise_initializer, pointwise_initializer, bias_initializer: default 'glorot_uniform',
            'glorot_uniform' and 'zeros'.
        depthwise_regularizer, pointwise_regularizer, bias_regularizer: optional penalties.

    Input shape:
        (batch, *spatial, channels) in Keras layout.

    Output shape:
        (batch, *new_spatial, filters).

    Note:
        Weights, in Keras's order and layout: 'depthwise_kernel' (*kernel_size, channels, depth_multiplier),
        'pointwise_kernel' (1, ..., channels * depth_multiplier, filters), 'bias' (filters,). torch has no
        separable layer: cnnkit runs a grouped convolution then a 1x1 convolution.
    """

    _weight_options = ("depthwise", "pointwise", "bias")

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.filters = check_positive_int(filters, "filters", owner)
        self.depth_multiplier = check_positive_int(depth_multiplier, "depth_multiplier", owner)
        self._init_conv(rank, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                        (depthwise_initializer, pointwise_initializer, bias_initializer),
                        (depthwise_regularizer, pointwise_regularizer, bias_regularizer),
                        activity_regularizer=activity_regularizer, depthwise_constraint=depthwise_constraint,
                        pointwise_constraint=pointwise_constraint, bias_constraint=bias_constraint)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.compute_output_shape(input_shape)
        self.add_weight("depthwise_kernel", (*self.kernel_size, channels, self.depth_multiplier),
                        self.depthwise_initializer, self.depthwise_regularizer, kind="depthwise")
        self.add_weight("pointwise_kernel", (*(1,) * self.rank, channels * self.depth_multiplier, self.filters),
                        self.pointwise_initializer, self.pointwise_regularizer, kind="conv")
        self.pointwise_kernel.data = layout.channels_last_kernel(self.pointwise_kernel.data)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer)
        else:
            self.bias = None

    def convolve(self, inputs):
        """The separable convolution plus bias, before the activation (internal layout)."""
        return nn.separable_conv(inputs, self.depthwise_kernel, self.pointwise_kernel, self.bias, self.strides,
                                 self.padding, self.dilation_rate)

    def fold_channel_affine(self, scale, shift):
        pointwise, bias = self._fold(self.pointwise_kernel, scale, 0), self._folded_bias(scale, shift)
        return lambda x: nn.separable_conv(x, self.depthwise_kernel, pointwise, bias, self.strides, self.padding,
                                           self.dilation_rate)

    def compute_output_shape(self, input_shape):
        spatial = conv_output_shape(input_shape[1:-1], self.kernel_size, self.strides, self.padding,
                                    self.dilation_rate, owner=self._owner())
        return (input_shape[0], *spatial, self.filters)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(filters=self.filters, depth_multiplier=self.depth_multiplier)
        return cfg


@register
class DepthwiseConv1D(BaseDepthwiseConv):
    """1-D depthwise convolution over (batch, steps, channels).

    Example:
        >>> DepthwiseConv1D(3, depth_multiplier=2)(np.zeros((2, 10, 4))).shape
        torch.Size([2, 8, 8])
    """

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank=1, kernel_size=kernel_size, strides=strides, padding=padding,
                         depth_multiplier=depth_multiplier, data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer, depthwise_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint, bias_constraint=bias_constraint, **kwargs)


@register
class DepthwiseConv2D(BaseDepthwiseConv):
    """2-D depthwise convolution over (batch, height, width, channels) (MobileNet's building block).

    Example:
        >>> DepthwiseConv2D(3, padding="same")(np.zeros((2, 32, 32, 64))).shape
        torch.Size([2, 32, 32, 64])
    """

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank=2, kernel_size=kernel_size, strides=strides, padding=padding,
                         depth_multiplier=depth_multiplier, data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer, depthwise_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint, bias_constraint=bias_constraint, **kwargs)


@register(aliases=("SeparableConvolution1D",))
class SeparableConv1D(BaseSeparableConv):
    """1-D depthwise separable convolution over (batch, steps, channels).

    Example:
        >>> SeparableConv1D(16, 3, padding="same")(np.zeros((2, 10, 4))).shape
        torch.Size([2, 10, 16])
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank=1, filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, depth_multiplier=depth_multiplier,
                         activation=activation, use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         pointwise_initializer=pointwise_initializer, bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer, pointwise_regularizer=pointwise_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint, pointwise_constraint=pointwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)


@register(aliases=("SeparableConvolution2D",))
class SeparableConv2D(BaseSeparableConv):
    """2-D depthwise separable convolution over (batch, height, width, channels) (Xception's building block).

    Example:
        >>> SeparableConv2D(128, 3, padding="same")(np.zeros((2, 32, 32, 64))).shape
        torch.Size([2, 32, 32, 128])
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank=2, filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, depth_multiplier=depth_multiplier,
                         activation=activation, use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         pointwise_initializer=pointwise_initializer, bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer, pointwise_regularizer=pointwise_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint, pointwise_constraint=pointwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)


SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D
