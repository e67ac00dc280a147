"""The residual-branch layers Keras defines in its applications: `LayerScale` (a learned per-channel scale) and
`StochasticDepth` (drop path: the whole branch of a sample dropped in training) of `keras.applications.convnext`,
and `CustomScaleLayer` (InceptionResNetV2's scaled residual sum). Their configs and registered names are Keras's
('keras.src.applications.convnext' > LayerScale, ...), so `.keras` files with them interchange with Keras; they
are registered whenever `cnnkit.layers` is loaded, so such files load without importing the applications.

Example:
    >>> from cnnkit.layers.residual import LayerScale, StochasticDepth  # (not in cnnkit.layers: Keras keeps them in
    >>> # keras.applications.convnext, re-exported by cnnkit.applications.convnext)
    >>> x = Input((8, 8, 16))
    >>> branch = LayerScale(1e-6, 16, name='scale')(Dense(16)(x))
    >>> y = x + StochasticDepth(0.1, name='drop_path')(branch)
"""

import torch

from cnnkit.initializers import Constant
from cnnkit.layers.base import Layer
from cnnkit.layers.base import register
from cnnkit.ops.arguments import is_int
from cnnkit.ops.arguments import is_real

KERAS_MODULE = "keras.src.applications.convnext"


@register
class LayerScale(Layer):
    """`x * gamma`, gamma a trainable vector over the last (channel) axis, initialized to `init_values`.

    Args:
        init_values: the initial value of every entry of gamma (ConvNeXt: 1e-6).
        projection_dim: the number of channels (gamma's size).

    Input shape:
        (..., projection_dim); output shape: the same.
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    keras_module = KERAS_MODULE
    keras_registered_name = "LayerScale"

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        if not is_real(init_values):
            raise ValueError(f"LayerScale: init_values must be a number. Received: init_values={init_values!r}")
        if not is_int(projection_dim) or projection_dim < 1:
            raise ValueError("LayerScale: projection_dim must be a positive integer. Received: "
                             f"projection_dim={projection_dim!r}")
        self.init_values, self.projection_dim = init_values, int(projection_dim)

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != self.projection_dim:
            raise ValueError(f"{self._owner()}: the input's last axis ({input_shape[-1]}) must equal projection_dim="
                             f"{self.projection_dim}. Received input_shape={tuple(input_shape)}")
        self.add_weight("gamma", (self.projection_dim,), Constant(self.init_values), trainable=True)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, training=False):
        gamma = self.gamma.to(inputs.dtype)
        if inputs.dim() >= 3:  # internal layout: channels on axis 1
            gamma = gamma.reshape(-1, *([1] * (inputs.dim() - 2)))
        return inputs * gamma

    def get_config(self):
        cfg = super().get_config()
        cfg.update(init_values=self.init_values, projection_dim=self.projection_dim)
        return cfg


@register
class StochasticDepth(Layer):
    """Drop path: in training each sample's input is zeroed with probability `drop_path_rate` and the kept ones
    are divided by 1 - drop_path_rate (Keras's `floor(keep_prob + uniform)` mask); the identity in inference.

    Args:
        drop_path_rate: float in [0, 1). At 0 the layer is deterministic (`stochastic` is False), so a frozen
            model holding it can be cached by `fit(cache_frozen=True)`.
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    keras_module = KERAS_MODULE
    keras_registered_name = "StochasticDepth"
    resamples = True

    def __init__(self, drop_path_rate, **kwargs):
        super().__init__(**kwargs)
        if not is_real(drop_path_rate) or not 0 <= drop_path_rate < 1:
            raise ValueError("StochasticDepth: drop_path_rate must be a float in [0, 1). Received: "
                             f"drop_path_rate={drop_path_rate!r}")
        self.drop_path_rate = drop_path_rate

    @property
    def stochastic(self):
        """Random in training only with a positive rate."""
        return self.drop_path_rate > 0

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, training=False):
        if not training or self.drop_path_rate == 0:
            return inputs
        keep_prob = 1 - self.drop_path_rate
        shape = (inputs.shape[0],) + (1,) * (inputs.dim() - 1)
        mask = torch.floor(keep_prob + torch.rand(shape, dtype=inputs.dtype, device=inputs.device))
        return inputs / keep_prob * mask

    def get_config(self):
        cfg = super().get_config()
        cfg["drop_path_rate"] = self.drop_path_rate
        return cfg


@register
class CustomScaleLayer(Layer):
    """`inputs[0] + inputs[1] * scale`: Keras's InceptionResNetV2 residual sum, same class name, config and module
    in `.keras` files (Keras opens cnnkit's files and cnnkit opens Keras's).

    Args:
        scale: the factor of the residual branch (a number).

    Input shape:
        A list of two tensors of the same shape. Output shape: that shape.

    Example:
        >>> CustomScaleLayer(0.5)([np.ones((1, 2)), np.ones((1, 2))])
        tensor([[1.5000, 1.5000]])
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    keras_module = "keras.src.applications.inception_resnet_v2"  # how Keras's files name the class
    keras_registered_name = "CustomScaleLayer"

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        if not is_real(scale):
            raise ValueError(f"CustomScaleLayer: `scale` should be a number. Received: scale={scale!r}")
        self.scale = scale

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 or not all(
                isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"CustomScaleLayer '{self.name}' must be called on a list of two tensors. Received "
                             f"input shape: {input_shape}")
        if len(input_shape[0]) != len(input_shape[1]) or any(
                a is not None and b is not None and a != b for a, b in zip(*input_shape)):
            raise ValueError(f"CustomScaleLayer '{self.name}': inputs of different shapes {list(input_shape)}.")
        return tuple(input_shape[0])

    def call(self, inputs, training=False):
        return inputs[0] + inputs[1] * self.scale

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale)
        return config
