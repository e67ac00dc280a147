"""Probabilistic and hinge metrics (Keras's names, arguments and values): BinaryCrossentropy,
CategoricalCrossentropy, SparseCategoricalCrossentropy, KLDivergence, Poisson, Hinge, SquaredHinge,
CategoricalHinge, and the per-sample functions poisson, hinge, squared_hinge, categorical_hinge.

Each averages its per-sample function over all samples seen (weighted by sample_weight); the crossentropies and
KL divergence are cnnkit.losses' functions.
"""

import torch

from cnnkit import losses
from cnnkit.metrics.base import ErrorMetric
from cnnkit.metrics.base import MeanMetricWrapper
from cnnkit.metrics.base import as_float
from cnnkit.metrics.base import squeeze_or_expand_to_same_rank


# The per-sample functions are the losses' (Keras's metrics.hinge is losses.hinge, and so on).
poisson = losses.poisson
hinge = losses.hinge
squared_hinge = losses.squared_hinge
categorical_hinge = losses.categorical_hinge


class KLDivergence(ErrorMetric):
    """Mean Kullback-Leibler divergence, sum(y_true * log(y_true / y_pred)) (name 'kl_divergence')."""
    _fn, _default_name = staticmethod(losses.kl_divergence), "kl_divergence"


class Poisson(ErrorMetric):
    """Mean Poisson deviance term, y_pred - y_true * log(y_pred) (name 'poisson').

    Example:
        >>> m = Poisson()
        >>> m.update_state([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])
        >>> round(m.result(), 4)
        0.5
    """
    _fn, _default_name = staticmethod(poisson), "poisson"


class Hinge(ErrorMetric):
    """Mean hinge loss, max(1 - y_true * y_pred, 0) with labels -1/1 (or 0/1) (name 'hinge')."""
    _fn, _default_name = staticmethod(hinge), "hinge"


class SquaredHinge(ErrorMetric):
    """Mean squared hinge loss, max(1 - y_true * y_pred, 0)^2 (name 'squared_hinge')."""
    _fn, _default_name = staticmethod(squared_hinge), "squared_hinge"


class CategoricalHinge(ErrorMetric):
    """Mean categorical hinge loss for one-hot labels (name 'categorical_hinge')."""
    _fn, _default_name = staticmethod(categorical_hinge), "categorical_hinge"


class BinaryCrossentropy(MeanMetricWrapper):
    """Mean binary crossentropy.

    Args:
        name: 'binary_crossentropy'. dtype: 'float32'.
        from_logits: y_pred holds logits (a sigmoid is applied) rather than probabilities.
        label_smoothing: labels become y * (1 - s) + 0.5 * s.

    Example:
        >>> m = BinaryCrossentropy()
        >>> m.update_state([[0.0, 1.0], [0.0, 0.0]], [[0.6, 0.4], [0.4, 0.6]])
        >>> round(m.result(), 4)
        0.8149
    """
    _direction = "down"

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0):
        super().__init__(losses.binary_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing)
        self.from_logits, self.label_smoothing = from_logits, label_smoothing


class CategoricalCrossentropy(MeanMetricWrapper):
    """Mean categorical crossentropy for one-hot labels.

    Args:
        name: 'categorical_crossentropy'. dtype: 'float32'.
        from_logits: y_pred holds logits (softmax applied) rather than probabilities.
        label_smoothing: labels become y * (1 - s) + s / classes.
        axis: the class axis (-1).
    """
    _direction = "down"

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0, axis=-1):
        super().__init__(losses.categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """Mean crossentropy for integer labels.

    Args:
        name: 'sparse_categorical_crossentropy'. dtype: 'float32'.
        from_logits: y_pred holds logits rather than probabilities.
        ignore_class: a label whose samples give 0 (and, when sample weights are given, weigh 0 — Keras's rule).
        axis: the class axis (-1).
    """
    _direction = "down"

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, ignore_class=None,
                 axis=-1):
        super().__init__(losses.sparse_categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
                         ignore_class=ignore_class, axis=axis)
        self.from_logits, self.ignore_class, self.axis = from_logits, ignore_class, axis

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self.fn(y_true, y_pred, **self.fn_kwargs)
        if self.ignore_class is not None and sample_weight is not None:
            # Keras masks the ignored samples out of the weights (only when weights are given)
            labels = as_float(y_true, values.device)
            if labels.dim() == values.dim() + 1 and labels.shape[-1] == 1:
                labels = labels.squeeze(-1)
            mask = (labels != self.ignore_class).to(torch.float32)
            mask, sample_weight = squeeze_or_expand_to_same_rank(mask, as_float(sample_weight, values.device))
            sample_weight = sample_weight * mask
        super(MeanMetricWrapper, self).update_state(values, sample_weight)
