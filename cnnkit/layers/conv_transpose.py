"""Transposed convolution layers: one rank-generic `BaseConvTranspose`, and Conv1DTranspose / Conv2DTranspose /
Conv3DTranspose passing `rank`."""

from cnnkit.layers.base import register
from cnnkit.layers.convolutional import ConvLayer
from cnnkit.ops import layout
from cnnkit.ops import functional as nn
from cnnkit.ops.arguments import check_positive_int
from cnnkit.ops.arguments import normalize_output_padding
from cnnkit.ops.shapes import conv_transpose_output_shape


class BaseConvTranspose(ConvLayer):
    """N-d transposed convolution (Keras semantics): `activation(conv_transpose(x, kernel) + bias)`, the gradient
    of a convolution with respect to its input, used to upsample (decoders, segmentation, GAN generators).

    Args:
        rank: number of spatial axes (1, 2 or 3).
        filters: number of output channels.
        kernel_size: int or tuple of `rank` ints.
        strides: int or tuple (default 1): the upsampling factor.
        padding: 'valid' or 'same' (case-insensitive); see the output shape.
        output_padding: None (default) or int / tuple of non-negative ints, each strictly smaller than the stride
            on its axis: extra positions at the end of each axis.
        data_format: None or 'channels_last'.
        dilation_rate: int or tuple (default 1); a value > 1 requires strides 1 (Keras's rule).
        activation: name or callable applied to the output (default: none).
        use_bias: add a bias vector (default True).
        kernel_initializer, bias_initializer: default 'glorot_uniform' and 'zeros' (Keras's, not torch's).
        kernel_regularizer, bias_regularizer: optional penalties added to the training loss.

    Input shape:
        (batch, *spatial, in_channels) in Keras layout.

    Output shape:
        (batch, *new_spatial, filters), per axis (`cnnkit.ops.shapes.deconv_output_length`, K' the dilated
        kernel size): 'same' gives n * stride ((n - 1) * stride + K' % 2 + output_padding with output_padding),
        'valid' (n - 1) * stride + max(K', stride) ((n - 1) * stride + K' + output_padding with it).

    Note:
        The kernel is (*kernel_size, filters, in_channels) in Keras layout (`get_weights()`), stored in torch's
        conv_transpose layout (in_channels, filters, *kernel_size). The output is TensorFlow's: with 'same' and a
        stride, torch.nn.ConvTranspose2d cannot express its alignment (one more position dropped at the end than
        at the start), so cnnkit crops torch's output. Where TensorFlow's CPU kernels refuse (dilation_rate > 1,
        'same' with an even kernel and no output_padding), cnnkit computes what Keras's other backends do.

    Example:
        >>> Conv2DTranspose(16, 3, strides=2, padding="same")(np.zeros((2, 8, 8, 32))).shape
        torch.Size([2, 16, 16, 16])
    """

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.filters = check_positive_int(filters, "filters", owner)
        self._init_conv(rank, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                        (kernel_initializer, bias_initializer), (kernel_regularizer, bias_regularizer),
                        activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                        bias_constraint=bias_constraint)
        self.output_padding = normalize_output_padding(output_padding, self.strides, owner)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{owner}: strides > 1 is not supported together with dilation_rate > 1 (Keras's rule). "
                f"Received: strides={strides!r}, dilation_rate={dilation_rate!r}"
            )

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.compute_output_shape(input_shape)
        self.add_weight("kernel", (*self.kernel_size, self.filters, channels), self.kernel_initializer,
                        self.kernel_regularizer, kind="conv_transpose")
        self.kernel.data = layout.channels_last_kernel(self.kernel.data)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer)
        else:
            self.bias = None

    def convolve(self, inputs):
        """The transposed convolution plus bias, before the activation (internal layout)."""
        return nn.conv_transpose(inputs, self.kernel, self.bias, self.strides, self.padding, self.output_padding,
                                 self.dilation_rate)

    def fold_channel_affine(self, scale, shift):
        kernel, bias = self._fold(self.kernel, scale, 1), self._folded_bias(scale, shift)  # kernel (in, out, *k)
        return lambda x: nn.conv_transpose(x, kernel, bias, self.strides, self.padding, self.output_padding,
                                           self.dilation_rate)

    def compute_output_shape(self, input_shape):
        spatial = conv_transpose_output_shape(input_shape[1:-1], self.kernel_size, self.strides, self.padding,
                                              self.output_padding, self.dilation_rate, owner=self._owner())
        return (input_shape[0], *spatial, self.filters)

    def get_config(self):
        cfg = super().get_config()
        output_padding = None if self.output_padding is None else list(self.output_padding)
        cfg.update(filters=self.filters, output_padding=output_padding)
        return cfg


@register(aliases=("Convolution1DTranspose",))
class Conv1DTranspose(BaseConvTranspose):
    """1-D transposed convolution over (batch, steps, channels).

    Example:
        >>> Conv1DTranspose(8, 3, strides=2)(np.zeros((2, 10, 4))).shape
        torch.Size([2, 21, 8])
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank=1, filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
                         output_padding=output_padding, data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs)


@register(aliases=("Convolution2DTranspose",))
class Conv2DTranspose(BaseConvTranspose):
    """2-D transposed convolution over (batch, height, width, channels).

    Example:
        >>> Conv2DTranspose(32, 3, strides=2, padding="same")(np.zeros((2, 16, 16, 64))).shape
        torch.Size([2, 32, 32, 32])
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(rank=2, filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
                         output_padding=output_padding, data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs)


@register(aliases=("Convolution3DTranspose",))
class Conv3DTranspose(BaseConvTranspose):
    """3-D transposed convolution over (batch, depth, height, width, channels). As in Keras, data_format comes
    before output_padding among the positional arguments (unlike Conv1DTranspose / Conv2DTranspose).

    Example:
        >>> Conv3DTranspose(4, 2, strides=2)(np.zeros((1, 3, 4, 5, 2))).shape
        torch.Size([1, 6, 8, 10, 4])
    """

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 output_padding=None, dilation_rate=(1, 1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(rank=3, filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
                         output_padding=output_padding, data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs)


Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
Convolution3DTranspose = Conv3DTranspose
