"""Regression metrics (Keras's names, arguments and values): MeanSquaredError, MeanAbsoluteError,
RootMeanSquaredError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError, LogCoshError, CosineSimilarity,
R2Score, PearsonCorrelation, ConcordanceCorrelation, and the per-sample functions behind them."""

import math
import warnings

import torch

from cnnkit import losses
from cnnkit.metrics.base import EPSILON
from cnnkit.metrics.base import Mean
from cnnkit.metrics.base import ErrorMetric
from cnnkit.metrics.base import MeanMetricWrapper
from cnnkit.metrics.base import Metric
from cnnkit.metrics.base import pair
from cnnkit.metrics.base import squeeze_or_expand_to_same_rank
from cnnkit.metrics.base import to_result


def _aligned(y_true, y_pred):
    y_true, y_pred = pair(y_true, y_pred)
    return squeeze_or_expand_to_same_rank(y_true, y_pred)


def mean_squared_error(y_true, y_pred):
    """Mean over the last axis of (y_true - y_pred)^2."""
    y_true, y_pred = _aligned(y_true, y_pred)
    return (y_true - y_pred).square().mean(dim=-1)


def mean_absolute_error(y_true, y_pred):
    """Mean over the last axis of |y_true - y_pred|."""
    y_true, y_pred = _aligned(y_true, y_pred)
    return (y_true - y_pred).abs().mean(dim=-1)


# Keras's metric functions are its loss functions.
mean_absolute_percentage_error = losses.mean_absolute_percentage_error
mean_squared_logarithmic_error = losses.mean_squared_logarithmic_error
log_cosh = losses.log_cosh


def _l2_normalize(x, axis):
    inv_norm = torch.rsqrt(x.square().sum(dim=axis, keepdim=True)).clamp(max=1.0 / EPSILON)
    return x * inv_norm


def cosine_similarity(y_true, y_pred, axis=-1):
    """The cosine of the angle between y_true and y_pred along `axis` (the metric's form: +cos, not -cos)."""
    y_true, y_pred = _aligned(y_true, y_pred)
    return (_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis)).sum(dim=axis)


def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson's correlation of y_true and y_pred along `axis` (population standard deviations)."""
    y_true, y_pred = _aligned(y_true, y_pred)
    y_true = y_true - y_true.mean(dim=axis, keepdim=True)
    y_pred = y_pred - y_pred.mean(dim=axis, keepdim=True)
    y_true = y_true / y_true.std(dim=axis, keepdim=True, correction=0)
    y_pred = y_pred / y_pred.std(dim=axis, keepdim=True, correction=0)
    return (y_true * y_pred).mean(dim=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance correlation along `axis`, in Keras's form (its covariance term centres y_true on y_pred's
    mean)."""
    y_true, y_pred = _aligned(y_true, y_pred)
    true_mean, pred_mean = y_true.mean(dim=axis, keepdim=True), y_pred.mean(dim=axis, keepdim=True)
    true_var = (y_true - true_mean).var(dim=axis, keepdim=True, correction=0)
    pred_var = (y_pred - pred_mean).var(dim=axis, keepdim=True, correction=0)
    covar = (y_true - pred_mean) * (y_pred - pred_mean)
    norm = true_var + pred_var + (true_mean - pred_mean).square()
    return (2 * covar / (norm + EPSILON)).mean(dim=axis)


class MeanSquaredError(ErrorMetric):
    """Mean of the squared errors (name 'mean_squared_error'; string 'mse')."""
    _fn, _default_name = staticmethod(mean_squared_error), "mean_squared_error"


class MeanAbsoluteError(ErrorMetric):
    """Mean of the absolute errors (name 'mean_absolute_error'; string 'mae')."""
    _fn, _default_name = staticmethod(mean_absolute_error), "mean_absolute_error"


class MeanAbsolutePercentageError(ErrorMetric):
    """Mean absolute percentage error, 100 * |(y_true - y_pred) / y_true| (name
    'mean_absolute_percentage_error'; string 'mape').

    Example:
        >>> m = MeanAbsolutePercentageError()
        >>> m.update_state([[1.0, 2.0]], [[1.5, 2.0]])
        >>> round(m.result(), 4)
        25.0
    """
    _fn, _default_name = staticmethod(mean_absolute_percentage_error), "mean_absolute_percentage_error"


class MeanSquaredLogarithmicError(ErrorMetric):
    """Mean squared error of log(1 + y) (name 'mean_squared_logarithmic_error'; string 'msle')."""
    _fn, _default_name = staticmethod(mean_squared_logarithmic_error), "mean_squared_logarithmic_error"


class LogCoshError(ErrorMetric):
    """Mean of log(cosh(y_pred - y_true)) (name 'logcosh', as Keras; string 'log_cosh_error')."""
    _fn, _default_name = staticmethod(log_cosh), "logcosh"


class CosineSimilarity(MeanMetricWrapper):
    """Mean cosine similarity between y_true and y_pred along `axis` (name 'cosine_similarity').

    Example:
        >>> m = CosineSimilarity()
        >>> m.update_state([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]])
        >>> round(m.result(), 4)
        0.5
    """

    _direction = "up"

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, name=name, dtype=dtype, axis=axis)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean squared error over all data seen (name 'root_mean_squared_error').

    Example:
        >>> m = RootMeanSquaredError()
        >>> m.update_state([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])
        >>> m.result()
        0.5
    """

    _direction = "down"

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _aligned(y_true, y_pred)
        super().update_state((y_pred - y_true).square(), sample_weight=sample_weight)

    def result(self):
        return math.sqrt(super().result())


class R2Score(Metric):
    """The coefficient of determination, 1 - SS_res / SS_tot, per output column and aggregated.

    Inputs are (batch, outputs). The state is sums (of y, y^2, squared errors, weights, samples), so it adds up
    across batches and workers exactly.

    Args:
        class_aggregation: 'uniform_average' (mean over outputs), 'variance_weighted_average' (weighted by each
            output's variance) or None (one score per output, an array).
        num_regressors: the number of independent regressors, for the adjusted R2 (0: plain R2).
        name: 'r2_score'. dtype: 'float32'.

    Example:
        >>> m = R2Score()
        >>> m.update_state([[1.0], [4.0], [3.0]], [[2.0], [4.0], [4.0]])
        >>> round(m.result(), 4)
        0.5714
    """

    _state = ("squared_sum", "sum", "total_mse", "count", "num_samples")
    _direction = "up"

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        valid = (None, "uniform_average", "variance_weighted_average")
        if class_aggregation not in valid:
            raise ValueError(f"Invalid value for argument `class_aggregation`. Expected one of {valid}. Received: "
                             f"class_aggregation={class_aggregation}")
        if num_regressors < 0:
            raise ValueError("Invalid value for argument `num_regressors`. Expected a value >= 0. Received: "
                             f"num_regressors={num_regressors}")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        self._num_outputs = None
        super().__init__(name=name, dtype=dtype)

    def _state_shape(self, name):
        if name == "num_samples":
            return ()
        return None if self._num_outputs is None else (self._num_outputs,)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _aligned(y_true, y_pred)
        if y_pred.dim() != 2 or y_true.dim() != 2:
            raise ValueError("R2Score expects 2D inputs with shape (batch_size, output_dim). Received input shapes: "
                             f"y_pred.shape={tuple(y_pred.shape)} and y_true.shape={tuple(y_true.shape)}.")
        if self._num_outputs is None:
            self._num_outputs = y_pred.shape[-1]
        weight = torch.ones((), device=y_true.device) if sample_weight is None else pair(sample_weight, y_true)[0]
        if weight.dim() == 1:
            weight = weight.unsqueeze(1)
        weight = torch.broadcast_to(weight, y_true.shape)
        weighted = y_true * weight
        self._add("sum", weighted.sum(0))
        self._add("squared_sum", (y_true * weighted).sum(0))
        self._add("total_mse", ((y_true - y_pred) ** 2 * weight).sum(0))
        self._add("count", weight.sum(0))
        self._add("num_samples", torch.full((), float(y_true.numel()), device=y_true.device))

    def result(self):
        """A float, or an array of one score per output with class_aggregation=None."""
        total_sum, count = self._value("sum"), self._value("count")
        mean = total_sum / count
        total = self._value("squared_sum") - total_sum * mean
        raw = 1 - self._value("total_mse") / total
        raw = torch.where(torch.isinf(raw), torch.zeros_like(raw), raw)
        if self.class_aggregation == "uniform_average":
            score = raw.mean()
        elif self.class_aggregation == "variance_weighted_average":
            score = (total * raw).sum() / total.sum()
        else:
            score = raw
        if self.num_regressors != 0:
            n = float(self._value("num_samples"))
            if self.num_regressors > n - 1:
                warnings.warn("More independent predictors than datapoints in adjusted R2 score. Falling back to "
                              "standard R2 score.", stacklevel=2)
            elif self.num_regressors == n - 1:
                warnings.warn("Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                              stacklevel=2)
            else:
                score = 1.0 - (1.0 - score) * (n - 1.0) / (n - float(self.num_regressors) - 1.0)
        return to_result(score)

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


class _Correlation(MeanMetricWrapper):
    _direction = "up"

    def __init__(self, fn, name, dtype, axis):
        super().__init__(fn, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "axis": self.axis}


class PearsonCorrelation(_Correlation):
    """The mean over samples (and batches) of Pearson's correlation along `axis` of each sample's values, as
    Keras: inputs (batch, values) (name 'pearson_correlation')."""

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name, dtype, axis)


class ConcordanceCorrelation(_Correlation):
    """The mean over samples (and batches) of Lin's concordance correlation along `axis`, in Keras's form (name
    'concordance_correlation')."""

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name, dtype, axis)
