"""BatchNormalization with Keras's conventions (momentum 0.99, epsilon 1e-3, biased moving variance)."""

import torch

from cnnkit import initializers
from cnnkit import regularizers
from cnnkit.layers.base import Layer
from cnnkit.layers.base import register
from cnnkit.ops import layout
from cnnkit.ops import functional as nn
from cnnkit.ops.arguments import check_epsilon
from cnnkit.ops.arguments import check_unsupported
from cnnkit.ops.arguments import is_int


@register
class BatchNormalization(Layer):
    """Normalises each feature (channel) with batch statistics in training and moving statistics otherwise.

    `y = gamma * (x - mean) / sqrt(var + epsilon) + beta`

    Args:
        axis: the feature axis in Keras layout (default -1, the channels).
        momentum: Keras convention: moving = moving * momentum + batch * (1 - momentum). Default 0.99.
        epsilon: default 1e-3.
        center, scale: learn beta / gamma (default True).
        beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer: defaults
            'zeros', 'ones', 'zeros', 'ones'.
        beta_regularizer, gamma_regularizer: optional penalties.

    Input shape:
        any; output shape equals input shape.

    Note:
        torch.nn.BatchNorm2d's momentum=0.1 means Keras's 0.9; its eps default is 1e-5, and it updates the moving
        variance with the unbiased batch variance where Keras uses the biased one. A layer with
        `trainable = False` always runs in inference mode (moving statistics, no update), as in Keras.
        Training uses batch statistics only when called with training=True (as `fit` does).
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 synchronized=False, **kwargs):
        super().__init__(**kwargs)
        if not is_int(axis):
            raise ValueError(f"BatchNormalization: axis must be an int. Received: axis={axis!r}")
        axis = int(axis)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1]. Received: momentum={momentum!r}")
        check_unsupported("BatchNormalization", beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        self.axis, self.momentum = axis, float(momentum)
        self.epsilon = check_epsilon(epsilon, "BatchNormalization")
        self.center, self.scale = bool(center), bool(scale)
        self.synchronized = bool(synchronized)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def build(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"Layer '{self.name}' (BatchNormalization): axis={self.axis} is not a feature axis of an "
                             f"input with shape {tuple(input_shape)}.")
        features = input_shape[self.axis]
        if features is None:
            raise ValueError(f"Layer '{self.name}': axis {self.axis} of the input must be known. "
                             f"Received input_shape={tuple(input_shape)}")
        self._internal_axis = layout.internal_axis(self.axis, rank)
        shape = (features,)
        if self.scale:
            self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer)
        else:
            self.gamma = None
        if self.center:
            self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer)
        else:
            self.beta = None
        self.add_weight("moving_mean", shape, self.moving_mean_initializer, trainable=False)
        self.add_weight("moving_variance", shape, self.moving_variance_initializer, trainable=False)

    def call(self, inputs, training=False):
        return nn.batch_norm(inputs, self.gamma, self.beta, self.moving_mean, self.moving_variance,
                             bool(training) and self.trainable, self.momentum, self.epsilon, self._internal_axis)

    @property
    def updates_in_training(self):
        return self.trainable  # the moving statistics

    @property
    def folds_into_linear(self):
        return self.built and self._internal_axis == 1

    def is_channel_affine(self, training):
        """True unless this call uses batch statistics, or the feature axis is not the channels."""
        return self.folds_into_linear and not (bool(training) and self.trainable)

    def channel_affine(self):
        """(scale, shift) of the inference-mode map over the channels."""
        scale = torch.rsqrt(self.moving_variance + self.epsilon)
        if self.gamma is not None:
            scale = scale * self.gamma
        shift = -self.moving_mean * scale
        return scale, shift if self.beta is None else shift + self.beta

    def get_config(self):
        cfg = super().get_config()
        cfg.update(
            axis=self.axis, momentum=self.momentum, epsilon=self.epsilon, center=self.center, scale=self.scale,
            beta_initializer=initializers.serialize(self.beta_initializer),
            gamma_initializer=initializers.serialize(self.gamma_initializer),
            moving_mean_initializer=initializers.serialize(self.moving_mean_initializer),
            moving_variance_initializer=initializers.serialize(self.moving_variance_initializer),
            beta_regularizer=regularizers.serialize(self.beta_regularizer),
            gamma_regularizer=regularizers.serialize(self.gamma_regularizer),
            synchronized=self.synchronized,
        )
        return cfg
