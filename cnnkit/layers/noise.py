"""Noise and regularization layers (Keras's keras.layers.SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout,
AlphaDropout, ActivityRegularization).

The random layers act only in a training call (`layer(x, training=True)`, as `fit` makes) and are the identity
otherwise; they draw from torch's global generator (`cnnkit.utils.set_random_seed` makes runs repeatable). Their
`seed` argument is accepted and kept in the config, as Keras writes it, but does not seed anything.
"""

from cnnkit import mixed_precision
from cnnkit import regularizers
from cnnkit.layers.base import Layer
from cnnkit.layers.base import check_rank
from cnnkit.layers.base import register
from cnnkit.layers.core import BaseRandomLayer
from cnnkit.layers.core import Dropout
from cnnkit.ops import layout
from cnnkit.ops import functional as nn
from cnnkit.ops import noise
from cnnkit.ops.arguments import check_data_format
from cnnkit.ops.arguments import normalize_float


class BaseSpatialDropout(BaseRandomLayer):
    """Dropout of whole feature maps: one draw per (sample, channel), shared over the `rank` spatial axes; kept
    maps are scaled by 1 / (1 - rate).

    Args:
        rank: number of spatial axes (1, 2 or 3).
        rate: float in [0, 1), the fraction of feature maps dropped.
        data_format: None or 'channels_last' (2D and 3D, as in Keras).
        seed: accepted and stored in the config (see the module docstring).

    Input shape:
        (batch, *spatial, channels) with `rank` spatial axes; output shape equals input shape.

    Note:
        torch.nn.Dropout2d drops channels of (N, C, H, W) tensors; this layer takes Keras's (N, H, W, C) and
        drops the same maps (cnnkit runs channels-first internally). Its config has Keras's keys for this layer:
        no 'trainable'.
    """

    def __init__(self, rank, rate, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rank = rank
        self.rate = self._rate(rate)
        check_data_format(data_format, type(self).__name__)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank + 2)

    def call(self, inputs, training=False):
        if inputs.dim() != self.rank + 2:  # the mask would broadcast to a wrong shape
            check_rank(self, layout.shape_to_keras(inputs.shape), self.rank + 2)
        return noise.dropout(inputs, self.rate, training, (*inputs.shape[:2], *[1] * self.rank))

    def get_config(self):
        # Keras's SpatialDropout configs have exactly these keys (and its constructors take no 'trainable').
        cfg = {"rate": self.rate, "seed": self.seed, "name": self.name,
               "dtype": mixed_precision.serialize(self.dtype_policy)}
        if self.rank > 1:
            cfg["data_format"] = "channels_last"
        return cfg


@register
class SpatialDropout1D(BaseSpatialDropout):
    """Drops whole 1-D feature maps of (batch, steps, channels) inputs in training.

    Example:
        >>> SpatialDropout1D(0.5)(np.ones((2, 4, 3)), training=True).shape
        torch.Size([2, 4, 3])
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rank=1, rate=rate, seed=seed, **kwargs)


@register
class SpatialDropout2D(BaseSpatialDropout):
    """Drops whole 2-D feature maps (channels) of (batch, height, width, channels) inputs in training.

    Example:
        >>> SpatialDropout2D(0.5)(np.ones((2, 4, 4, 3)), training=True).shape
        torch.Size([2, 4, 4, 3])
    """

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rank=2, rate=rate, data_format=data_format, seed=seed, **kwargs)


@register
class SpatialDropout3D(BaseSpatialDropout):
    """Drops whole 3-D feature maps of (batch, depth, height, width, channels) inputs in training.

    Example:
        >>> SpatialDropout3D(0.5)(np.ones((2, 3, 4, 4, 3)), training=True).shape
        torch.Size([2, 3, 4, 4, 3])
    """

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rank=3, rate=rate, data_format=data_format, seed=seed, **kwargs)


@register
class GaussianNoise(BaseRandomLayer):
    """Adds zero-centred Gaussian noise of standard deviation `stddev` in training.

    Args:
        stddev: float in [0, 1] (Keras 3's range).
        seed: accepted and stored in the config (see the module docstring).

    Input shape:
        any; output shape equals input shape.

    Example:
        >>> GaussianNoise(0.1)(np.zeros((2, 3))).sum().item()  # inference: the identity
        0.0
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.stddev = normalize_float(stddev, "stddev", "GaussianNoise", low=0.0, high=1.0)

    def call(self, inputs, training=False):
        return noise.gaussian_noise(inputs, self.stddev, training)

    def get_config(self):
        cfg = super().get_config()
        cfg["stddev"] = self.stddev
        return cfg


@register
class GaussianDropout(BaseRandomLayer):
    """Multiplies by 1-centred Gaussian noise of variance rate / (1 - rate) in training.

    Args:
        rate: float in [0, 1), as Dropout's rate.
        seed: accepted and stored in the config (see the module docstring).

    Input shape:
        any; output shape equals input shape.

    Example:
        >>> GaussianDropout(0.2)(np.ones((2, 3)), training=True).shape
        torch.Size([2, 3])
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = self._rate(rate)

    def call(self, inputs, training=False):
        return noise.gaussian_dropout(inputs, self.rate, training)

    def get_config(self):
        cfg = super().get_config()
        cfg["rate"] = self.rate
        return cfg


@register
class AlphaDropout(Dropout):
    """Dropout that keeps the mean and variance of SELU-normalised inputs (self-normalizing networks).

    In training each unit is dropped with probability `rate` and set to SELU's negative saturation
    -alpha * scale (about -1.758), then the output is `a * x + b` with a = ((1 - rate) * (1 + rate *
    1.758^2)) ** -0.5 and b = 1.758 * a * rate.

    Args:
        rate: float in [0, 1).
        noise_shape: Keras-layout shape of the mask (1 = one draw shared along that axis, None = the input's
            size), e.g. (None, 1, 1, channels); default: one draw per element.
        seed: accepted and stored in the config (see the module docstring).

    Input shape:
        any; output shape equals input shape.

    Note:
        Without a noise_shape this is torch's `F.alpha_dropout` (the same formula). Arguments and config are
        Dropout's, so it shares Dropout's code (in Keras the two classes are unrelated).

    Example:
        >>> AlphaDropout(0.1)(np.ones((2, 3)), training=True).shape
        torch.Size([2, 3])
    """

    _drop = staticmethod(noise.alpha_dropout)


@register
class ActivityRegularization(Layer):
    """The identity, whose input adds `(l1 * sum(|x|) + l2 * sum(x ** 2)) / batch_size` to the training loss.

    After each call `layer.losses` holds that penalty for the call's input (divided by the batch size, as Keras 3
    does), so `fit` (which adds `model.losses` to the loss) minimises it, and `evaluate` reports it, as in Keras.

    Args:
        l1, l2: floats >= 0 (default 0.0).

    Input shape:
        any; output shape equals input shape.

    Note:
        The penalty is computed when `losses` is read, from the input of the layer's latest call (a reference is
        kept until the next call). A layer called several times in one model counts its latest call only.

    Example:
        >>> layer = ActivityRegularization(l1=0.1)
        >>> _ = layer(np.array([[-1.0, 3.0]]))
        >>> float(layer.losses[0])
        0.4000000059604645
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    input_losses = True

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.l1 = normalize_float(l1, "l1", "ActivityRegularization", low=0.0)
        self.l2 = normalize_float(l2, "l2", "ActivityRegularization", low=0.0)
        self._penalty = regularizers.L1L2(self.l1, self.l2)
        self._last_input = None

    def call(self, inputs, training=False):
        self._last_input = inputs
        return inputs

    @property
    def losses(self):
        losses = super().losses
        if self._last_input is not None:
            losses.append(nn.activity_penalty(self._penalty, self._last_input))
        return losses

    def __getstate__(self):
        # Copies and pickles leave the latest input behind (a tensor inside an autograd graph cannot be deep-copied).
        state = super().__getstate__()
        return {**state, "_last_input": None}

    def get_config(self):
        cfg = super().get_config()
        cfg.update(l1=self.l1, l2=self.l2)
        return cfg
