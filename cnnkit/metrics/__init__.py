"""Metrics with Keras names: stateful objects (`update_state`, `result`, `reset_state`) and per-sample functions.

Metric state lives in tensors on the device of the data, so updating a metric every step never waits for the
device; only `result()` reads a number. Like Keras, a metric averages over samples weighted by `sample_weight`
(the denominator is the sum of the weights). Every metric's state (`variables`) sums across workers, which is how
distributed training combines them.

String names are Keras 3's (`keras.metrics.get`): each class's name and its snake_case form ('Precision',
'precision', 'AUC', 'auc', 'R2Score', 'r2_score', ...), and 'mse', 'mae', 'mape', 'msle', 'bce' (and their upper
case). In `compile(metrics=[...])` a name becomes the metric's log key as written ('mape' logs as 'mape').
"""

import inspect

from cnnkit.losses import binary_crossentropy
from cnnkit.losses import categorical_crossentropy
from cnnkit.losses import kl_divergence
from cnnkit.losses import sparse_categorical_crossentropy
from cnnkit.metrics.accuracy import Accuracy
from cnnkit.metrics.accuracy import BinaryAccuracy
from cnnkit.metrics.accuracy import CategoricalAccuracy
from cnnkit.metrics.accuracy import SparseCategoricalAccuracy
from cnnkit.metrics.accuracy import SparseTopKCategoricalAccuracy
from cnnkit.metrics.accuracy import TopKCategoricalAccuracy
from cnnkit.metrics.accuracy import accuracy
from cnnkit.metrics.accuracy import binary_accuracy
from cnnkit.metrics.accuracy import categorical_accuracy
from cnnkit.metrics.accuracy import sparse_categorical_accuracy
from cnnkit.metrics.accuracy import sparse_top_k_categorical_accuracy
from cnnkit.metrics.accuracy import top_k_categorical_accuracy
from cnnkit.metrics.auc import AUC
from cnnkit.metrics.base import Mean
from cnnkit.metrics.base import MeanMetricWrapper
from cnnkit.metrics.base import Metric
from cnnkit.metrics.base import Sum
from cnnkit.metrics.confusion import FalseNegatives
from cnnkit.metrics.confusion import FalsePositives
from cnnkit.metrics.confusion import Precision
from cnnkit.metrics.confusion import PrecisionAtRecall
from cnnkit.metrics.confusion import Recall
from cnnkit.metrics.confusion import RecallAtPrecision
from cnnkit.metrics.confusion import SensitivityAtSpecificity
from cnnkit.metrics.confusion import SpecificityAtSensitivity
from cnnkit.metrics.confusion import TrueNegatives
from cnnkit.metrics.confusion import TruePositives
from cnnkit.metrics.f_score import F1Score
from cnnkit.metrics.f_score import FBetaScore
from cnnkit.metrics.iou import IoU
from cnnkit.metrics.iou import BinaryIoU
from cnnkit.metrics.iou import MeanIoU
from cnnkit.metrics.iou import OneHotIoU
from cnnkit.metrics.iou import OneHotMeanIoU
from cnnkit.metrics.probabilistic import BinaryCrossentropy
from cnnkit.metrics.probabilistic import CategoricalCrossentropy
from cnnkit.metrics.probabilistic import CategoricalHinge
from cnnkit.metrics.probabilistic import Hinge
from cnnkit.metrics.probabilistic import KLDivergence
from cnnkit.metrics.probabilistic import Poisson
from cnnkit.metrics.probabilistic import SparseCategoricalCrossentropy
from cnnkit.metrics.probabilistic import SquaredHinge
from cnnkit.metrics.probabilistic import categorical_hinge
from cnnkit.metrics.probabilistic import hinge
from cnnkit.metrics.probabilistic import poisson
from cnnkit.metrics.probabilistic import squared_hinge
from cnnkit.metrics.regression import ConcordanceCorrelation
from cnnkit.metrics.regression import CosineSimilarity
from cnnkit.metrics.regression import LogCoshError
from cnnkit.metrics.regression import MeanAbsoluteError
from cnnkit.metrics.regression import MeanAbsolutePercentageError
from cnnkit.metrics.regression import MeanSquaredError
from cnnkit.metrics.regression import MeanSquaredLogarithmicError
from cnnkit.metrics.regression import PearsonCorrelation
from cnnkit.metrics.regression import R2Score
from cnnkit.metrics.regression import RootMeanSquaredError
from cnnkit.metrics.regression import concordance_correlation
from cnnkit.metrics.regression import log_cosh
from cnnkit.metrics.regression import mean_absolute_error
from cnnkit.metrics.regression import mean_absolute_percentage_error
from cnnkit.metrics.regression import mean_squared_error
from cnnkit.metrics.regression import mean_squared_logarithmic_error
from cnnkit.metrics.regression import pearson_correlation
from cnnkit.registry import Registry
from cnnkit.utils.naming import to_snake_case

__all__ = [
    "AUC", "Accuracy", "BinaryAccuracy", "BinaryCrossentropy", "BinaryIoU", "CategoricalAccuracy",
    "CategoricalCrossentropy", "CategoricalHinge", "ConcordanceCorrelation", "CosineSimilarity", "F1Score",
    "FBetaScore", "FalseNegatives", "FalsePositives", "Hinge", "IoU", "KLDivergence", "LogCoshError", "METRICS", "Mean",
    "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanIoU", "MeanMetricWrapper", "MeanSquaredError",
    "MeanSquaredLogarithmicError", "Metric", "OneHotIoU", "OneHotMeanIoU", "PearsonCorrelation", "Poisson", "Precision",
    "PrecisionAtRecall", "R2Score", "Recall", "RecallAtPrecision", "RootMeanSquaredError", "SensitivityAtSpecificity",
    "SparseCategoricalAccuracy", "SparseCategoricalCrossentropy", "SparseTopKCategoricalAccuracy",
    "SpecificityAtSensitivity", "SquaredHinge", "Sum", "TopKCategoricalAccuracy", "TrueNegatives", "TruePositives",
    "accuracy", "binary_accuracy", "binary_crossentropy", "categorical_accuracy", "categorical_crossentropy",
    "categorical_hinge", "concordance_correlation", "deserialize", "get", "hinge", "kl_divergence", "log_cosh",
    "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_error", "mean_squared_logarithmic_error",
    "pearson_correlation", "poisson", "resolve_accuracy", "serialize", "sparse_categorical_accuracy",
    "sparse_categorical_crossentropy", "sparse_top_k_categorical_accuracy", "squared_hinge",
    "top_k_categorical_accuracy",
]

METRICS = Registry("metric")

_CLASSES = [
    Mean, Sum, MeanSquaredError, RootMeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, CosineSimilarity, LogCoshError, R2Score, PearsonCorrelation, ConcordanceCorrelation,
    AUC, FalseNegatives, FalsePositives, Precision, PrecisionAtRecall, Recall, RecallAtPrecision,
    SensitivityAtSpecificity, SpecificityAtSensitivity, TrueNegatives, TruePositives, Hinge, SquaredHinge,
    CategoricalHinge, KLDivergence, Poisson, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, F1Score, FBetaScore, IoU, BinaryIoU, MeanIoU, OneHotIoU, OneHotMeanIoU,
]
_ALIASES = {MeanSquaredError: ("mse", "MSE"), MeanAbsoluteError: ("mae", "MAE"),
            MeanAbsolutePercentageError: ("mape", "MAPE"), MeanSquaredLogarithmicError: ("msle", "MSLE"),
            BinaryCrossentropy: ("bce", "BCE")}
for _cls in _CLASSES:
    METRICS.register(to_snake_case(_cls.__name__), _cls, aliases=(_cls.__name__, *_ALIASES.get(_cls, ())))


def resolve_accuracy(y_true_shape, y_pred_shape):
    """The accuracy Keras picks for 'accuracy'/'acc' from the label and output shapes.

    Binary when the output has one unit; sparse categorical when labels have fewer axes than the output (or a
    last axis of 1 against several outputs); categorical otherwise.
    """
    if y_pred_shape[-1] == 1:
        return binary_accuracy
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        return sparse_categorical_accuracy
    return categorical_accuracy


def serialize(metric):
    """A metric object as Keras's {'module', 'class_name', 'config', 'registered_name'}."""
    return {"module": "keras.metrics", "class_name": type(metric).__name__, "config": metric.get_config(),
            "registered_name": None}


def deserialize(config, custom_objects=None):
    """The metric described by `config` ({'class_name', 'config'}, as `serialize` or Keras writes it)."""
    cls = (custom_objects or {}).get(config["class_name"]) or METRICS.lookup(config["class_name"])
    return cls.from_config(dict(config.get("config") or {}))


def _instantiate(cls, name):
    required = [p.name for p in inspect.signature(cls.__init__).parameters.values()
                if p.default is inspect.Parameter.empty and p.kind == p.POSITIONAL_OR_KEYWORD and p.name != "self"]
    if required:
        raise ValueError(f"Metric '{name}' ({cls.__name__}) needs argument(s) {', '.join(required)}: pass an "
                         f"instance instead, e.g. metrics=[{cls.__name__}({', '.join(r + '=...' for r in required)})].")
    metric = cls()  # as Keras: made with its default name (which counts for later unique names), then renamed
    if name is not None:
        metric.name = name
    return metric


def get(identifier, y_true_shape=None, y_pred_shape=None):
    """A metric object from a name, a config dict, an instance, a class or a callable `fn(y_true, y_pred)`.

    'accuracy' and 'acc' become binary, sparse-categorical or categorical accuracy from the shapes (as in Keras),
    keeping the name the user wrote (so 'acc' logs as 'acc' and 'val_acc'). Any other name gives the metric named
    as written ('mape' -> MeanAbsolutePercentageError named 'mape', as Keras's compile).
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str) and identifier in ("accuracy", "acc"):
        if y_true_shape is None or y_pred_shape is None:
            raise ValueError("metrics.get('accuracy') needs the label and output shapes to pick the variant.")
        return MeanMetricWrapper(resolve_accuracy(y_true_shape, y_pred_shape), name=identifier)
    if isinstance(identifier, str):
        found = METRICS.lookup(identifier)  # a custom object in scope first (a class or a function)
        if isinstance(found, type) and issubclass(found, Metric):
            return _instantiate(found, identifier)
        return found if isinstance(found, Metric) else MeanMetricWrapper(found, name=identifier)
    if isinstance(identifier, dict) and "class_name" in identifier:
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return _instantiate(identifier, None)
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", "metric"))
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}.")
