"""Convolution layers: `ConvLayer` (what every convolution layer shares), the rank-generic `BaseConv`, and
Conv1D / Conv2D / Conv3D passing `rank`."""

from cnnkit import activations
from cnnkit import initializers
from cnnkit import regularizers
from cnnkit.layers.base import Layer
from cnnkit.layers.base import check_rank
from cnnkit.layers.base import register
from cnnkit.ops import layout
from cnnkit.ops import functional as nn
from cnnkit.ops.arguments import check_data_format
from cnnkit.ops.arguments import check_positive_int
from cnnkit.ops.arguments import check_unsupported
from cnnkit.ops.arguments import is_int
from cnnkit.ops.arguments import normalize_padding
from cnnkit.ops.arguments import normalize_tuple
from cnnkit.ops.shapes import conv_output_shape


class ConvLayer(Layer):
    """What every convolution layer shares: the window arguments, the activation, and the linear part / activation
    split (`convolve`, then `activation`) that the fusion pass relies on.

    Subclasses call `_init_conv` from `__init__`, implement `build`, `convolve` and `compute_output_shape`, and
    list the prefixes of their '<prefix>_initializer' / '<prefix>_regularizer' options in `_weight_options`.
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    _paddings = ("valid", "same")
    _weight_options = ("kernel", "bias")

    def _init_conv(self, rank, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                   initializers_, regularizers_, **unsupported):
        """Normalises and checks the shared arguments (ValueError naming the class, the argument and the value).

        `initializers_` / `regularizers_` hold one value per `_weight_options` prefix; `unsupported` are Keras
        options cnnkit lacks (activity_regularizer, constraints), refused unless None.
        """
        owner = type(self).__name__
        self.rank = rank
        self.kernel_size = normalize_tuple(kernel_size, rank, "kernel_size", owner)
        self.strides = normalize_tuple(strides, rank, "strides", owner)
        self.dilation_rate = normalize_tuple(dilation_rate, rank, "dilation_rate", owner)
        self.padding = normalize_padding(padding, owner, self._paddings)
        check_data_format(data_format, owner)
        check_unsupported(owner, **unsupported)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        for prefix, init, reg in zip(self._weight_options, initializers_, regularizers_):
            setattr(self, f"{prefix}_initializer", initializers.get(init))
            setattr(self, f"{prefix}_regularizer", regularizers.get(reg))

    def _input_channels(self, input_shape):
        """Checks the input rank and returns its (known) channel count."""
        check_rank(self, input_shape, self.rank + 2)
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"Layer '{self.name}': the channel axis (last) of the input must be known. "
                             f"Received input_shape={tuple(input_shape)}")
        return channels

    def convolve(self, inputs):
        """The linear part (convolution plus bias), before the activation, on internal-layout tensors."""
        raise NotImplementedError

    def call(self, inputs, training=False):
        return activations.apply(self.activation, self.convolve(inputs))

    def activation_split(self):
        return self.convolve, self.activation

    absorbs_channel_affine = True  # fold_channel_affine is implemented (see cnnkit.models.fusion)

    @staticmethod
    def _fold(weight, scale, axis):
        """`weight` (torch layout) with its output channels, along `axis`, multiplied by `scale`."""
        shape = [1] * weight.dim()
        shape[axis] = -1
        return layout.channels_last_kernel(weight * scale.reshape(shape))

    def _folded_bias(self, scale, shift):
        return shift if self.bias is None else self.bias * scale + shift

    def get_config(self):
        cfg = super().get_config()
        cfg.update(kernel_size=list(self.kernel_size), strides=list(self.strides), padding=self.padding,
                   data_format="channels_last", dilation_rate=list(self.dilation_rate),
                   activation=activations.serialize(self.activation), use_bias=self.use_bias)
        for prefix in self._weight_options:
            cfg[f"{prefix}_initializer"] = initializers.serialize(getattr(self, f"{prefix}_initializer"))
            cfg[f"{prefix}_regularizer"] = regularizers.serialize(getattr(self, f"{prefix}_regularizer"))
        return cfg


class BaseConv(ConvLayer):
    """N-d convolution layer (Keras semantics): `activation(conv(x, kernel) + bias)`.

    Args:
        rank: number of spatial axes (1, 2 or 3).
        filters: number of output channels.
        kernel_size: int or tuple of `rank` ints.
        strides: int or tuple (default 1).
        padding: 'valid' (none), 'same' (output = ceil(input / stride); when the total padding is odd the
            extra zero goes at the end, TensorFlow's rule) or, for Conv1D only, 'causal'.
        data_format: None or 'channels_last'.
        dilation_rate: int or tuple (default 1).
        groups: number of channel groups (input and output channels must be divisible by it).
        activation: name or callable applied to the output (default: none).
        use_bias: add a bias vector (default True).
        kernel_initializer, bias_initializer: default 'glorot_uniform' and 'zeros' (Keras's, not torch's).
        kernel_regularizer, bias_regularizer: optional penalties added to the training loss.

    Input shape:
        (batch, *spatial, in_channels) in Keras layout.

    Output shape:
        (batch, *new_spatial, filters); new size per axis: `cnnkit.ops.conv_output_length`.

    Note:
        The kernel is stored in torch layout (filters, in_channels // groups, *kernel_size); `get_weights()`
        returns it in Keras layout (*kernel_size, in_channels // groups, filters). Unlike torch.nn.Conv2d,
        'same' works with any stride, and strides > 1 combined with dilation_rate > 1 is allowed.
    """

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.filters = check_positive_int(filters, "filters", owner)
        if not is_int(groups) or groups <= 0 or self.filters % groups:
            raise ValueError(
                f"{owner}: groups must be a positive int that divides filters={filters}. Received: groups={groups!r}"
            )
        self.groups = int(groups)
        self._init_conv(rank, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                        (kernel_initializer, bias_initializer), (kernel_regularizer, bias_regularizer),
                        activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                        bias_constraint=bias_constraint)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        if channels % self.groups:
            raise ValueError(
                f"Layer '{self.name}': input channels ({channels}) must be divisible by groups={self.groups}."
            )
        self.compute_output_shape(input_shape)
        self.add_weight("kernel", (*self.kernel_size, channels // self.groups, self.filters),
                        self.kernel_initializer, self.kernel_regularizer, kind="conv")
        self.kernel.data = layout.channels_last_kernel(self.kernel.data)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer)
        else:
            self.bias = None

    def convolve(self, inputs, bias=True):
        """The convolution plus bias (without it for `bias=False`), before the activation (internal layout)."""
        return nn.conv(inputs, self.kernel, self.bias if bias else None, self.strides, self.padding,
                       self.dilation_rate, self.groups)

    def bias_split(self):
        if self.bias is None:
            return None
        return (lambda inputs: self.convolve(inputs, bias=False)), self.bias

    def fold_channel_affine(self, scale, shift):
        kernel, bias = self._fold(self.kernel, scale, 0), self._folded_bias(scale, shift)
        return lambda x: nn.conv(x, kernel, bias, self.strides, self.padding, self.dilation_rate, self.groups)

    def compute_output_shape(self, input_shape):
        spatial = conv_output_shape(input_shape[1:-1], self.kernel_size, self.strides, self.padding,
                                    self.dilation_rate, owner=self._owner())
        return (input_shape[0], *spatial, self.filters)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(filters=self.filters, groups=self.groups)
        return cfg


@register(aliases=("Convolution1D",))
class Conv1D(BaseConv):
    """1-D convolution over (batch, steps, channels); padding may also be 'causal' (zeros before only).

    Example:
        >>> Conv1D(64, 3)(np.zeros((2, 10, 8))).shape
        torch.Size([2, 8, 64])
    """

    _paddings = ("valid", "same", "causal")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank=1, filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, groups=groups, activation=activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                         bias_constraint=bias_constraint, **kwargs)


@register(aliases=("Convolution2D",))
class Conv2D(BaseConv):
    """2-D convolution over (batch, height, width, channels).

    Example:
        >>> Conv2D(64, 3)(np.zeros((2, 32, 32, 3))).shape
        torch.Size([2, 30, 30, 64])
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank=2, filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, groups=groups, activation=activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                         bias_constraint=bias_constraint, **kwargs)


@register(aliases=("Convolution3D",))
class Conv3D(BaseConv):
    """3-D convolution over (batch, depth, height, width, channels).

    Example:
        >>> Conv3D(8, 3)(np.zeros((1, 5, 6, 7, 2))).shape
        torch.Size([1, 3, 4, 5, 8])
    """

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(rank=3, filters=filters, kernel_size=kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, groups=groups, activation=activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                         bias_constraint=bias_constraint, **kwargs)


Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution3D = Conv3D
