"""Normalisation within each sample, with Keras's conventions: LayerNormalization, GroupNormalization (one
rank-generic base, `ScaleAndShift`, for their learnt gamma and beta) and UnitNormalization."""

import warnings

from cnnkit import initializers
from cnnkit import regularizers
from cnnkit.layers.base import Layer
from cnnkit.layers.base import register
from cnnkit.ops import layout
from cnnkit.ops import normalization
from cnnkit.ops.arguments import check_epsilon
from cnnkit.ops.arguments import check_unsupported
from cnnkit.ops.arguments import is_int
from cnnkit.ops.arguments import normalize_axes


class ScaleAndShift(Layer):
    """Base of the normalisations that learn a scale `gamma` and an offset `beta` (Keras's arguments)."""

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    def __init__(self, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros", gamma_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.epsilon = check_epsilon(epsilon, owner)
        check_unsupported(owner, beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def _check_known(self, input_shape, axes):
        if any(input_shape[a] is None for a in axes):
            raise ValueError(f"{self._owner()}: the normalised axes {list(axes)} of the input must have known sizes. "
                             f"Received input_shape={tuple(input_shape)}")

    def add_scale_and_shift(self, shape, scale, center):
        """Creates 'gamma' (when `scale`) then 'beta' (when `center`) of Keras-layout `shape`, Keras's order."""
        if scale:
            self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer)
        else:
            self.gamma = None
        if center:
            self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer)
        else:
            self.beta = None

    def compute_output_shape(self, input_shape):
        axis = self.axis if isinstance(self.axis, int) else list(self.axis)
        layout.keras_axes(axis, len(input_shape), self._owner())
        return tuple(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(
            epsilon=self.epsilon, center=self.center, scale=self.scale,
            beta_initializer=initializers.serialize(self.beta_initializer),
            gamma_initializer=initializers.serialize(self.gamma_initializer),
            beta_regularizer=regularizers.serialize(self.beta_regularizer),
            gamma_regularizer=regularizers.serialize(self.gamma_regularizer),
            beta_constraint=None, gamma_constraint=None,
        )
        return cfg


@register
class LayerNormalization(ScaleAndShift):
    """Normalises each sample over `axis`: `gamma * (x - mean) / sqrt(variance + epsilon) + beta`.

    The mean and the (biased) variance are taken per sample over the axes in `axis`; gamma and beta span those
    axes.

    Args:
        axis: Keras-layout axis or list of axes to normalise over (default -1, the channels); negative counts from
            the end; axis 0 (the batch) is allowed, as in Keras.
        epsilon: added to the variance (default 1e-3).
        center, scale: learn beta / gamma (default True).
        rms_scaling: Keras's deprecated option (it warns): `x * rsqrt(variance + epsilon) * gamma`, with the
            centred variance and no beta.
        beta_initializer, gamma_initializer: default 'zeros' and 'ones'.
        beta_regularizer, gamma_regularizer: optional penalties.

    Input shape:
        any; the sizes on `axis` must be known.

    Output shape:
        same as the input.

    Example:
        >>> LayerNormalization()(np.array([[1.0, 2.0, 3.0]]))
        tensor([[-1.2238,  0.0000,  1.2238]])

    Note:
        gamma and beta have Keras's shape: the input's sizes on the axes of `axis` sorted as given (so
        `axis=[1, -1]` gives (channels, height), reshaped row-major onto the input as Keras does); once built,
        `axis` is that sorted list, as in Keras. Unlike torch.nn.LayerNorm (eps 1e-5, trailing axes of a
        channels-first tensor), epsilon defaults to 1e-3 and the axes are Keras-layout ones.
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(epsilon=epsilon, center=center, scale=scale, beta_initializer=beta_initializer,
                         gamma_initializer=gamma_initializer, beta_regularizer=beta_regularizer,
                         gamma_regularizer=gamma_regularizer, beta_constraint=beta_constraint,
                         gamma_constraint=gamma_constraint, **kwargs)
        self.axis = normalize_axes(axis, "axis", "LayerNormalization", keep_int=True)
        self.rms_scaling = bool(rms_scaling)
        if self.rms_scaling:
            warnings.warn("LayerNormalization: rms_scaling=True is deprecated in Keras: it scales the input by the "
                          "variance, not the root mean square (cnnkit computes what Keras computes).",
                          stacklevel=2)

    def build(self, input_shape):
        self._axes = layout.keras_axes(self.axis, len(input_shape), self._owner())
        self._check_known(input_shape, self._axes)
        self._sizes = tuple(input_shape[a] for a in self._axes)
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]  # as Keras's build
        shape = tuple(input_shape[a] for a in self.axis)
        self.add_scale_and_shift(shape, self.scale or self.rms_scaling, self.center and not self.rms_scaling)

    def call(self, inputs, training=False):
        return normalization.layer_norm(inputs, self.gamma, self.beta, self._axes, self._sizes, self.epsilon,
                                        self.rms_scaling)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(axis=self.axis, rms_scaling=self.rms_scaling)
        return cfg


@register
class GroupNormalization(ScaleAndShift):
    """Splits the features on `axis` into `groups` consecutive groups and normalises each group of each sample
    over its features and all other non-batch axes; gamma and beta are per feature.

    Args:
        groups: number of groups (default 32); it must divide the number of features. -1: one group per
            feature (instance normalisation); once built, `groups` is that number, as in Keras.
        axis: the Keras-layout feature axis (default -1, the channels); not the batch axis.
        epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer, gamma_regularizer: as in
            `LayerNormalization`.

    Input shape:
        rank >= 2; the size on `axis` must be known.

    Output shape:
        same as the input.

    Example:
        >>> GroupNormalization(groups=2)(np.random.rand(2, 8, 8, 4)).shape
        torch.Size([2, 8, 8, 4])

    Note:
        torch.nn.GroupNorm takes channels-first input and eps 1e-5; here the input is Keras-layout and epsilon
        defaults to 1e-3. float16/bfloat16 inputs are normalised in float32, as Keras does.
    """

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(epsilon=epsilon, center=center, scale=scale, beta_initializer=beta_initializer,
                         gamma_initializer=gamma_initializer, beta_regularizer=beta_regularizer,
                         gamma_regularizer=gamma_regularizer, beta_constraint=beta_constraint,
                         gamma_constraint=gamma_constraint, **kwargs)
        if not is_int(groups) or (groups <= 0 and groups != -1):
            raise ValueError("GroupNormalization: groups must be a positive int, or -1 for one group per feature. "
                             f"Received: groups={groups!r}")
        if not is_int(axis):
            raise ValueError(f"GroupNormalization: axis must be an int. Received: axis={axis!r}")
        self.groups, self.axis = int(groups), int(axis)

    def build(self, input_shape):
        rank = len(input_shape)
        (axis,) = layout.keras_axes(self.axis, rank, self._owner())
        if axis == 0:
            raise ValueError(f"{self._owner()}: axis={self.axis} is the batch axis of an input of rank {rank}; it "
                             "must be a feature axis.")
        self._check_known(input_shape, (axis,))
        channels = input_shape[axis]
        if self.groups == -1:
            self.groups = channels  # as Keras's build
        if channels % self.groups:
            raise ValueError(f"{self._owner()}: groups={self.groups} must divide the number of channels "
                             f"({channels}, axis {self.axis} of input_shape={tuple(input_shape)}).")
        self._internal_axis = layout.internal_axis(axis, rank)
        self.add_scale_and_shift((channels,), self.scale, self.center)

    def call(self, inputs, training=False):
        return normalization.group_norm(inputs, self.groups, self.gamma, self.beta, self.epsilon, self._internal_axis)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(groups=self.groups, axis=self.axis)
        return cfg


@register
class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over `axis`: `x / max(||x||, 1e-12)` (zero vectors stay zero).

    Args:
        axis: Keras-layout axis or list of axes (default -1, the channels).

    Input shape:
        any. Output shape: same as the input.

    Example:
        >>> UnitNormalization()(np.array([[3.0, 4.0]]))
        tensor([[0.6000, 0.8000]])

    Note:
        Keras's `ops.normalize(order=2, epsilon=1e-12)`, computed as torch.nn.functional.normalize does, over
        Keras-layout axes (a list of axes is allowed).
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = normalize_axes(axis, "axis", "UnitNormalization", keep_int=True)

    def build(self, input_shape):
        rank = len(input_shape)
        axes = layout.keras_axes(self.axis, rank, f"Layer '{self.name}' (UnitNormalization)")
        self._dims = [layout.internal_axis(a, rank) for a in axes]

    def call(self, inputs, training=False):
        return normalization.unit_norm(inputs, self._dims)

    def compute_output_shape(self, input_shape):
        layout.keras_axes(self.axis, len(input_shape), f"Layer '{self.name}' (UnitNormalization)")
        return tuple(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg["axis"] = self.axis
        return cfg
