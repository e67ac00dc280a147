"""Confusion-matrix metrics (Keras's names, arguments and values): TruePositives, FalsePositives, TrueNegatives,
FalseNegatives, Precision, Recall, SensitivityAtSpecificity, SpecificityAtSensitivity, PrecisionAtRecall,
RecallAtPrecision.

Inputs: y_true of 0/1 labels (any nonzero is positive), y_pred of probabilities, both (batch, ...) in the same
shape (or one with an extra trailing axis of 1). A prediction is positive when strictly above a threshold. The
state is the weighted counts per threshold, which sum across workers.
"""

import torch

from cnnkit.metrics.base import Metric
from cnnkit.metrics.base import divide_no_nan
from cnnkit.metrics.base import to_result
from cnnkit.metrics.confusion_utils import NEG_INF
from cnnkit.metrics.confusion_utils import ThresholdCache
from cnnkit.metrics.confusion_utils import confusion_counts
from cnnkit.metrics.confusion_utils import evenly_distributed
from cnnkit.metrics.confusion_utils import parse_thresholds

_CELLS = {"true_positives": "tp", "false_positives": "fp", "true_negatives": "tn", "false_negatives": "fn"}


class _ThresholdMetric(Metric):
    """Counts the confusion cells named in `_state` at `self.thresholds` (a list of floats)."""

    def _set_thresholds(self, thresholds, evenly=None):
        self.thresholds = thresholds
        self._evenly = evenly_distributed(thresholds) if evenly is None else evenly
        self._cache = ThresholdCache(thresholds)

    def _state_shape(self, name):
        return (len(self.thresholds),)

    def _count(self, y_true, y_pred, sample_weight, top_k=None, class_id=None):
        keys = [_CELLS.get(k, getattr(self, "_cond", None)) for k in self._state]
        counts = confusion_counts(keys, y_true, y_pred, self._cache, evenly=self._evenly, top_k=top_k,
                                  class_id=class_id, sample_weight=sample_weight)
        for state, key in zip(self._state, keys):
            self._add(state, counts[key])

    def _first_or_all(self, tensor):
        return to_result(tensor[0] if len(self.thresholds) == 1 else tensor)


class _ConfusionMatrixConditionCount(_ThresholdMetric):
    _state = ("accumulator",)
    _cond = None

    def __init__(self, thresholds=None, name=None, dtype=None):
        self.init_thresholds = thresholds
        self._set_thresholds(parse_thresholds(thresholds, default_threshold=0.5))
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._count(y_true, y_pred, sample_weight)

    def result(self):
        """The weighted count: a float for one threshold, an array (one per threshold) otherwise."""
        return self._first_or_all(self._value("accumulator"))

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConfusionMatrixConditionCount):
    """The (weighted) number of true positives, per threshold.

    Args:
        thresholds: a float or list of floats in [0, 1]; a prediction above it is positive. Default 0.5.
        name: the metric's name ('true_positives'). dtype: 'float32'.

    Example:
        >>> m = TruePositives()
        >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
        >>> m.result()
        2.0
    """
    _cond = "tp"


class FalsePositives(_ConfusionMatrixConditionCount):
    """The (weighted) number of false positives, per threshold (arguments as TruePositives)."""
    _cond = "fp"


class TrueNegatives(_ConfusionMatrixConditionCount):
    """The (weighted) number of true negatives, per threshold (arguments as TruePositives)."""
    _cond = "tn"


class FalseNegatives(_ConfusionMatrixConditionCount):
    """The (weighted) number of false negatives, per threshold (arguments as TruePositives)."""
    _cond = "fn"


class _PrecisionRecall(_ThresholdMetric):
    _direction = "up"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        self._set_thresholds(parse_thresholds(thresholds, default_threshold=0.5 if top_k is None else NEG_INF))
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._count(y_true, y_pred, sample_weight, top_k=self.top_k, class_id=self.class_id)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """tp / (tp + fp) over all data seen.

    Args:
        thresholds: float or list of floats in [0, 1]: a prediction above it is positive (default 0.5; with
            `top_k`, every one of the top k is positive). With several thresholds the result is an array.
        top_k: only the k largest predictions of each sample can be positive.
        class_id: the class (index on the last axis) to measure; default all entries.
        name: the metric's name ('precision', made unique like Keras). dtype: 'float32'.

    Example:
        >>> m = Precision()
        >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
        >>> round(m.result(), 4)
        0.6667
    """
    _state = ("true_positives", "false_positives")

    def result(self):
        tp, fp = self._value("true_positives"), self._value("false_positives")
        return self._first_or_all(divide_no_nan(tp, tp + fp))


class Recall(_PrecisionRecall):
    """tp / (tp + fn) over all data seen (arguments as Precision; name 'recall').

    Example:
        >>> m = Recall()
        >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
        >>> round(m.result(), 4)
        0.6667
    """
    _state = ("true_positives", "false_negatives")

    def result(self):
        tp, fn = self._value("true_positives"), self._value("false_negatives")
        return self._first_or_all(divide_no_nan(tp, tp + fn))


class SensitivitySpecificityBase(_ThresholdMetric):
    """Counts all four cells at `num_thresholds` thresholds evenly spread over [0, 1] (0.5 alone for 1)."""
    _state = ("true_positives", "false_positives", "true_negatives", "false_negatives")
    _value_name = None
    _direction = "up"

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        cls = type(self).__name__
        if value < 0 or value > 1:
            raise ValueError(f"Argument `{self._value_name}` must be in the range [0, 1]. Received: "
                             f"{self._value_name}={value}")
        if num_thresholds <= 0:
            raise ValueError(f"{cls}: Argument `num_thresholds` must be an integer > 0. Received: "
                             f"num_thresholds={num_thresholds}")
        self.value, self.class_id, self.num_thresholds = value, class_id, num_thresholds
        setattr(self, self._value_name, value)
        if num_thresholds == 1:
            self._set_thresholds([0.5], evenly=False)
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._set_thresholds([0.0, *inner, 1.0], evenly=True)
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._count(y_true, y_pred, sample_weight, class_id=self.class_id)

    def _rates(self):
        tp, fp, tn, fn = (self._value(k) for k in self._state)
        return {"sensitivity": divide_no_nan(tp, tp + fn), "specificity": divide_no_nan(tn, tn + fp),
                "recall": divide_no_nan(tp, tp + fn), "precision": divide_no_nan(tp, tp + fp)}

    def _max_under_constraint(self, constrained, dependent):
        rates = self._rates()
        feasible = rates[constrained] >= self.value
        best = torch.where(feasible, rates[dependent], torch.zeros_like(rates[dependent])).max()
        return to_result(best.clamp(min=0.0))

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id, "num_thresholds": self.num_thresholds,
                self._value_name: self.value}


class SensitivityAtSpecificity(SensitivitySpecificityBase):
    """The best sensitivity (recall) at a threshold where the specificity is >= `specificity`.

    Args:
        specificity: a float in [0, 1].
        num_thresholds: the number of thresholds evenly spread over [0, 1] (200).
        class_id: the class to measure (last axis); default all entries.
        name: default 'sensitivity_at_specificity' (made unique). dtype: 'float32'.

    Example:
        >>> m = SensitivityAtSpecificity(0.5)
        >>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8])
        >>> m.result()
        0.5
    """
    _value_name = "specificity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)

    def result(self):
        return self._max_under_constraint("specificity", "sensitivity")


class SpecificityAtSensitivity(SensitivitySpecificityBase):
    """The best specificity at a threshold where the sensitivity (recall) is >= `sensitivity` (arguments as
    SensitivityAtSpecificity)."""
    _value_name = "sensitivity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)

    def result(self):
        return self._max_under_constraint("sensitivity", "specificity")


class PrecisionAtRecall(SensitivitySpecificityBase):
    """The best precision at a threshold where the recall is >= `recall` (arguments as
    SensitivityAtSpecificity)."""
    _value_name = "recall"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)

    def result(self):
        return self._max_under_constraint("recall", "precision")


class RecallAtPrecision(SensitivitySpecificityBase):
    """The best recall at a threshold where the precision is >= `precision` (arguments as
    SensitivityAtSpecificity)."""
    _value_name = "precision"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds=num_thresholds, class_id=class_id, name=name, dtype=dtype)

    def result(self):
        return self._max_under_constraint("precision", "recall")
