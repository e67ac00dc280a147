"""Core layers: Dense, Activation, Dropout (and BaseRandomLayer, the base of random layers), Rescaling, Identity."""

import numpy as np
import torch

from cnnkit import activations
from cnnkit import initializers
from cnnkit import regularizers
from cnnkit.layers.base import Layer
from cnnkit.layers.base import check_rank
from cnnkit.layers.base import register
from cnnkit.ops import layout
from cnnkit.ops import functional as nn
from cnnkit.ops import noise
from cnnkit.ops.arguments import check_positive_int
from cnnkit.ops.arguments import check_seed
from cnnkit.ops.arguments import check_unsupported
from cnnkit.ops.arguments import normalize_float
from cnnkit.ops.arguments import normalize_noise_shape


@register
class Dense(Layer):
    """Fully connected layer: `activation(x @ kernel + bias)` over the last axis.

    Args:
        units: output size.
        activation: name or callable (default: none).
        use_bias: default True.
        kernel_initializer, bias_initializer: default 'glorot_uniform' and 'zeros'.
        kernel_regularizer, bias_regularizer: optional penalties.

    Input shape:
        (batch, ..., in_features).

    Output shape:
        (batch, ..., units).

    Note:
        The kernel is stored as torch.nn.Linear's (units, in_features); `get_weights()` gives Keras's
        (in_features, units).

    Example:
        >>> Dense(10)(np.zeros((4, 784))).shape
        torch.Size([4, 10])
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units", "Dense")
        check_unsupported("Dense", activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                          bias_constraint=bias_constraint)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape):
        check_rank(self, input_shape, 2, exact=False)
        if input_shape[-1] is None:
            raise ValueError(f"Layer '{self.name}' (Dense): the last axis of the input must be known. "
                             f"Received input_shape={tuple(input_shape)}")
        self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer, self.kernel_regularizer,
                        kind="dense")
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer)
        else:
            self.bias = None

    def call(self, inputs, training=False):
        return activations.apply(self.activation, nn.dense(inputs, self.kernel, self.bias))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(
            units=self.units, activation=activations.serialize(self.activation), use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
            kernel_regularizer=regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=regularizers.serialize(self.bias_regularizer),
        )
        return cfg


@register
class Activation(Layer):
    """Applies an activation function by name or callable; softmax runs over the channel (last Keras) axis.

    Example:
        >>> Activation('relu')(np.array([[-1.0, 2.0]]))
        tensor([[0., 2.]])
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    @property
    def monotonic(self):
        """Whether the function is non-decreasing (in `activations.MONOTONIC`): max pooling may run before it."""
        return self.activation in activations.MONOTONIC

    def call(self, inputs, training=False):
        return activations.apply(self.activation, inputs)

    @property
    def elementwise_activation(self):
        return None if getattr(self.activation, "uses_axis", False) else self.activation

    def get_config(self):
        cfg = super().get_config()
        cfg["activation"] = activations.serialize(self.activation)
        return cfg


class BaseRandomLayer(Layer):
    """A layer whose output in training depends on random draws (`stochastic`), with Keras's `seed` argument: an
    int or None, accepted and kept in the config as Keras writes it, but the draws come from torch's global
    generator (`cnnkit.utils.set_random_seed` makes runs repeatable)."""

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    resamples = True

    stochastic = True

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = check_seed(seed, type(self).__name__)

    def _rate(self, rate):
        """`rate` checked to be a float in [0, 1)."""
        return normalize_float(rate, "rate", type(self).__name__, low=0.0, high=1.0, high_open=True)

    def get_config(self):
        cfg = super().get_config()
        cfg["seed"] = self.seed
        return cfg


@register
class Dropout(BaseRandomLayer):
    """Sets a fraction `rate` of inputs to 0 during training and scales the rest by 1 / (1 - rate).

    Args:
        rate: float in [0, 1).
        noise_shape: Keras-layout shape of the mask (1 = shared along that axis, None = the input's size), e.g.
            (None, 1, 1, channels).
        seed: accepted for Keras compatibility; use `cnnkit.utils.set_random_seed` for repeatable runs.

    Note:
        Active only when called with training=True (as `fit` does), whatever torch's train()/eval() mode.
    """

    _drop = staticmethod(noise.dropout)  # (x, rate, training, internal noise shape or None) -> x with units dropped

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = self._rate(rate)
        self.noise_shape = normalize_noise_shape(noise_shape, type(self).__name__)

    def call(self, inputs, training=False):
        noise_shape = None
        if self.noise_shape is not None and training:
            noise_shape = layout.noise_shape_to_internal(self.noise_shape, inputs.shape,
                                                         self._owner())
        return self._drop(inputs, self.rate, training, noise_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(rate=self.rate, noise_shape=None if self.noise_shape is None else list(self.noise_shape))
        return cfg


@register
class Rescaling(Layer):
    """`x * scale + offset`; scale and offset may be per-channel lists (broadcast over the last Keras axis).

    Example:
        >>> Rescaling(1 / 255)(np.array([[255.0]]))
        tensor([[1.]])
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = _float_or_list(scale, "scale"), _float_or_list(offset, "offset")

    def _constant(self, value, like):
        tensor = torch.as_tensor(value, dtype=like.dtype, device=like.device)
        if tensor.dim() == 1 and like.dim() >= 3:
            tensor = tensor.reshape(-1, *([1] * (like.dim() - 2)))
        return tensor

    def call(self, inputs, training=False):
        return inputs * self._constant(self.scale, inputs) + self._constant(self.offset, inputs)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(scale=self.scale, offset=self.offset)
        return cfg


@register
class Identity(Layer):
    """Returns its input unchanged (a placeholder where no operation is wanted); also takes a list of tensors.

    Input shape:
        Any.

    Output shape:
        The input's.

    Example:
        >>> Identity()(np.ones((2, 3))).shape
        torch.Size([2, 3])
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    def call(self, inputs, training=False):
        return list(inputs) if isinstance(inputs, (list, tuple)) else inputs

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], (list, tuple)):
            return [tuple(s) for s in input_shape]
        return tuple(input_shape)


def _float_or_list(value, name):
    array = np.asarray(value, dtype=np.float64)
    if array.ndim > 1:
        raise ValueError(f"Rescaling: {name} must be a number or a 1-D list. Received: {name}={value!r}")
    return float(array) if array.ndim == 0 else array.tolist()
