"""Activations as layers (Keras's keras.layers.ReLU, LeakyReLU, PReLU, ELU, Softmax).

Each layer declares `monotonic` (see `Layer`): whether it is an elementwise non-decreasing function, so that a max
pooling may run before it.
"""

import contextlib
import numbers
import warnings


import torch

from cnnkit import activations
from cnnkit import initializers
from cnnkit import regularizers
from cnnkit.layers import node as node_module
from cnnkit.layers.base import Layer
from cnnkit.layers.base import check_rank
from cnnkit.layers.base import register
from cnnkit.ops import layout
from cnnkit.ops import functional as nn
from cnnkit.ops.arguments import check_broadcastable
from cnnkit.ops.arguments import check_unsupported
from cnnkit.ops.arguments import normalize_axes
from cnnkit.ops.arguments import normalize_float


@register
class ReLU(Layer):
    """Rectified linear unit with Keras's options.

    `f(x) = min(x, max_value)` where `x > threshold`, `negative_slope * (x - threshold)` elsewhere.

    Args:
        max_value: float >= 0, or None (no upper bound, the default).
        negative_slope: float >= 0 (default 0.0).
        threshold: float >= 0 (default 0.0); inputs at or below it take the negative branch.

    Input shape:
        any; output shape equals input shape.

    Note:
        torch.nn.ReLU has none of the options; ReLU(max_value=6) is torch.nn.ReLU6. Keras's rule is kept at the
        threshold: f(threshold) = 0 (not threshold).

    Example:
        >>> ReLU(max_value=10, negative_slope=0.5)(np.array([[-10.0, -5.0, 0.0, 5.0, 20.0]]))
        tensor([[-5.0000, -2.5000,  0.0000,  5.0000, 10.0000]])
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = normalize_float(max_value, "max_value", "ReLU", low=0.0, allow_none=True)
        self.negative_slope = normalize_float(negative_slope, "negative_slope", "ReLU", low=0.0)
        self.threshold = normalize_float(threshold, "threshold", "ReLU", low=0.0)

    @property
    def monotonic(self):
        return self.negative_slope >= 0

    @property
    def elementwise_activation(self):
        if self.max_value is None and self.negative_slope == 0 and self.threshold == 0:
            return activations.relu
        return self.call

    def call(self, inputs, training=False):
        return activations.relu(inputs, negative_slope=self.negative_slope, max_value=self.max_value,
                                threshold=self.threshold)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(max_value=self.max_value, negative_slope=self.negative_slope, threshold=self.threshold)
        return cfg


@register
class LeakyReLU(Layer):
    """`x` where `x >= 0`, `negative_slope * x` elsewhere.

    Args:
        negative_slope: float >= 0 (default 0.3, Keras's layer default). Keras 2's keyword `alpha` is accepted,
            with a deprecation warning, as Keras 3 accepts it.

    Input shape:
        any; output shape equals input shape.

    Note:
        torch.nn.LeakyReLU's default slope is 0.01; this layer's is Keras's 0.3 (and the `leaky_relu` activation
        function's is 0.2, as in Keras).

    Example:
        >>> LeakyReLU(negative_slope=0.5)(np.array([[-10.0, 0.0, 10.0]]))
        tensor([[-5.,  0., 10.]])
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.", stacklevel=2)
        super().__init__(**kwargs)
        self.negative_slope = normalize_float(negative_slope, "negative_slope", "LeakyReLU", low=0.0)

    @classmethod
    def _accepted_kwargs(cls):
        return sorted({*super()._accepted_kwargs(), "alpha"})  # Keras 2 configs name the slope 'alpha'

    @property
    def monotonic(self):
        return self.negative_slope >= 0

    @property
    def elementwise_activation(self):
        return self.call

    def call(self, inputs, training=False):
        return activations.leaky_relu(inputs, self.negative_slope)

    def get_config(self):
        cfg = super().get_config()
        cfg["negative_slope"] = self.negative_slope
        return cfg


@register
class PReLU(Layer):
    """Parametric ReLU: `x` where `x >= 0`, `alpha * x` elsewhere, with a learned `alpha` per input element.

    Args:
        alpha_initializer: default 'zeros' (the layer starts as a ReLU).
        alpha_regularizer: optional penalty on alpha.
        alpha_constraint: not supported by cnnkit (NotImplementedError unless None).
        shared_axes: Keras-layout axes (1 = the first axis after the batch) along which one alpha is shared: an
            int or a list of ints. For (batch, height, width, channels) inputs, `shared_axes=[1, 2]` learns one
            alpha per channel.

    Input shape:
        (batch, ...), every non-shared axis known; output shape equals input shape.

    Weights:
        'alpha' of Keras's shape: the input shape without the batch axis, with 1 on the shared axes.

    Note:
        torch.nn.PReLU learns one alpha (or one per channel) initialised to 0.25; Keras's (and this) PReLU learns
        one per element unless `shared_axes` says otherwise, initialised to zeros. One alpha per channel (or a
        single one) runs torch's `F.prelu`.

    Example:
        >>> PReLU(shared_axes=[1, 2])(np.zeros((2, 8, 8, 3))).shape
        torch.Size([2, 8, 8, 3])
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    monotonic = False  # alpha is learned and may become negative

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        check_unsupported("PReLU", alpha_constraint=alpha_constraint)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.shared_axes = None if shared_axes is None else normalize_axes(shared_axes, "shared_axes", "PReLU",
                                                                            low=1)

    def build(self, input_shape):
        check_rank(self, input_shape, 2, exact=False)
        rank = len(input_shape)
        shared = self.shared_axes or []
        if any(axis >= rank for axis in shared):
            raise ValueError(f"Layer '{self.name}' (PReLU): shared_axes={self.shared_axes} names an axis the input "
                             f"does not have. Received input_shape={tuple(input_shape)}")
        shape = tuple(1 if axis in shared else input_shape[axis] for axis in range(1, rank))
        if None in shape:
            raise ValueError(f"Layer '{self.name}' (PReLU): every axis that is not in shared_axes must be known "
                             f"(alpha has one value per element on them). Received input_shape={tuple(input_shape)}"
                             f", shared_axes={self.shared_axes}")
        self._expected = {axis: input_shape[axis] for axis in range(1, rank) if axis not in shared}
        self._rank = rank
        self.add_weight("alpha", shape, self.alpha_initializer, self.alpha_regularizer, kind="sample")

    def call(self, inputs, training=False):
        if inputs.dim() != self._rank or any(inputs.shape[layout.internal_axis(axis, self._rank)] != size
                                             for axis, size in self._expected.items()):
            self._incompatible(layout.shape_to_keras(inputs.shape))
        return nn.prelu(inputs, self.alpha)

    def _incompatible(self, shape):
        """Keras's InputSpec error: alpha fixes the rank and the size of every axis not in shared_axes."""
        check_rank(self, shape, self._rank)
        axis = next(a for a, size in self._expected.items() if shape[a] != size)
        raise ValueError(f"Input 0 of layer '{self.name}' (PReLU) is incompatible with the layer: expected axis "
                         f"{axis} of input shape to have value {self._expected[axis]}, but received input with "
                         f"shape {tuple(shape)}")

    def get_config(self):
        cfg = super().get_config()
        cfg.update(alpha_initializer=initializers.serialize(self.alpha_initializer),
                   alpha_regularizer=regularizers.serialize(self.alpha_regularizer), alpha_constraint=None,
                   shared_axes=self.shared_axes)
        return cfg


@register
class ELU(Layer):
    """Exponential linear unit: `x` where `x > 0`, `alpha * (exp(x) - 1)` elsewhere.

    Args:
        alpha: float (default 1.0), the scale of the negative part.

    Input shape:
        any; output shape equals input shape.

    Example:
        >>> ELU(alpha=0.5)(np.array([[-1.0, 2.0]]))
        tensor([[-0.3161,  2.0000]])
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = normalize_float(alpha, "alpha", "ELU")

    @property
    def monotonic(self):
        return self.alpha >= 0

    @property
    def elementwise_activation(self):
        return self.call

    def call(self, inputs, training=False):
        return activations.elu(inputs, self.alpha)

    def get_config(self):
        cfg = super().get_config()
        cfg["alpha"] = self.alpha
        return cfg


@register
class Softmax(Layer):
    """Softmax over `axis`: `exp(x) / sum(exp(x), axis)`.

    Args:
        axis: Keras-layout axis (default -1, the channels), or a list of axes normalised together.

    Call arguments:
        inputs: the logits.
        mask: optional, broadcastable to the inputs (Keras layout; booleans, or numbers kept where > 0.5): masked
            positions get a large negative logit (-1e9) before the softmax and 0 after, as in Keras. Only in calls
            on data, not in a functional model (NotImplementedError).

    Input shape:
        any; output shape equals input shape.

    Note:
        The axes are Keras's (channels last): the default -1 is the channel axis, dim 1 of cnnkit's internal
        channels-first tensors (torch.nn.Softmax has no default dim).

    Example:
        >>> Softmax()(np.array([[1.0, 2.0, 1.0]]))
        tensor([[0.2119, 0.5761, 0.2119]])
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    monotonic = False  # not elementwise

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        axes = normalize_axes(axis, "axis", "Softmax")
        self.axis = axes[0] if isinstance(axis, numbers.Integral) else axes  # an int stays an int, as in Keras
        self._axes_by_rank = {}

    def build(self, input_shape):
        self._internal_axes(len(input_shape))

    def _internal_axes(self, rank):
        """The internal axis (or tuple of axes) for an input of `rank` dims; checked and cached per rank."""
        if rank not in self._axes_by_rank:
            internal = tuple(layout.internal_axis(a, rank) for a in layout.keras_axes(self.axis, rank, self._owner()))
            self._axes_by_rank[rank] = internal if isinstance(self.axis, list) else internal[0]
        return self._axes_by_rank[rank]

    def call(self, inputs, training=False):
        return activations.softmax(inputs, axis=self._internal_axes(inputs.dim()))

    def __call__(self, inputs, training=None, mask=None, **kwargs):
        if mask is None:
            return super().__call__(inputs, training=training, **kwargs)
        owner = f"Layer '{self.name}' (Softmax)"
        if node_module.is_symbolic(inputs):
            raise NotImplementedError(f"{owner}: a mask in a functional model is not supported by cnnkit yet; call "
                                      "the layer on data with mask=..., or mask the logits before the layer.")
        with contextlib.nullcontext() if isinstance(inputs, torch.Tensor) else torch.no_grad():
            x = self._to_tensor(inputs)
            keep = nn.keep_mask(mask, x.device)
            check_broadcastable(tuple(keep.shape), tuple(x.shape), "mask", owner)
            out = super().__call__(nn.mask_logits(x, keep), training=training, **kwargs)
            return out.masked_fill(~keep, 0.0)  # an axis masked everywhere gives zeros, not a uniform softmax

    def get_config(self):
        cfg = super().get_config()
        cfg["axis"] = self.axis
        return cfg
