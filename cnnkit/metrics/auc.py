"""`AUC`: the area under the ROC or precision-recall curve, as Keras computes it (a Riemann sum over
`num_thresholds` thresholds, or the interpolated PR area of Davis & Goadrich)."""

import numpy as np
import torch

from cnnkit.metrics.base import EPSILON
from cnnkit.metrics.base import Metric
from cnnkit.metrics.base import as_float
from cnnkit.metrics.base import divide_no_nan
from cnnkit.metrics.base import to_result
from cnnkit.metrics.confusion_utils import ThresholdCache
from cnnkit.metrics.confusion_utils import confusion_counts
from cnnkit.metrics.confusion_utils import evenly_distributed

_CURVES = {"roc": "ROC", "ROC": "ROC", "pr": "PR", "PR": "PR", "prgain": "PRGAIN", "PRGAIN": "PRGAIN"}
_SUMMATIONS = {"interpolation": "interpolation", "Interpolation": "interpolation", "majoring": "majoring",
               "Majoring": "majoring", "minoring": "minoring", "Minoring": "minoring"}


class AUC(Metric):
    """Area under the ROC curve (default) or the precision-recall curve.

    Args:
        num_thresholds: the number of thresholds evenly spread over [0, 1] (> 1; 200).
        curve: 'ROC', 'PR' or 'PRGAIN'.
        summation_method: 'interpolation' (trapezoids; for PR, Davis & Goadrich's interpolation), 'minoring' or
            'majoring'.
        name: default 'auc' (made unique like Keras: 'auc_1', ...). dtype: 'float32'.
        thresholds: explicit thresholds in [0, 1] (instead of `num_thresholds`; -eps and 1 + eps are added).
        multi_label: True for (batch, labels) data: one curve per label, the result their (weighted) mean. False
            flattens every entry into one curve.
        num_labels: the number of labels with multi_label (else read from the first batch).
        label_weights: per-label weights (the mean's weights with multi_label, else weights of the entries).
        from_logits: apply a sigmoid to y_pred first.

    Example:
        >>> m = AUC(num_thresholds=3)
        >>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
        >>> m.result()
        0.75
    """

    _state = ("true_positives", "false_positives", "true_negatives", "false_negatives")
    _direction = "up"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        if curve not in _CURVES:
            raise ValueError(f'Invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC", "PRGAIN"]')
        if summation_method not in _SUMMATIONS:
            raise ValueError(f'Invalid AUC summation method value: "{summation_method}". Expected values are '
                             '["interpolation", "majoring", "minoring"]')
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            values = [float(t) for t in (thresholds if isinstance(thresholds, (list, tuple, np.ndarray))
                                         else [thresholds])]
            invalid = [t for t in values if t < 0 or t > 1]
            if invalid:
                raise ValueError(f"Threshold values must be in [0, 1]. Received: {invalid}")
            self.num_thresholds = len(values) + 2
            inner = sorted(values)
            self._evenly = evenly_distributed([0.0, *inner, 1.0])
        else:
            if num_thresholds <= 1:
                raise ValueError("AUC: Argument `num_thresholds` must be an integer > 1. Received: "
                                 f"num_thresholds={num_thresholds}")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._thresholds = [0.0 - EPSILON, *inner, 1.0 + EPSILON]
        self._cache = ThresholdCache(self._thresholds)
        self.curve = _CURVES[curve]
        self.summation_method = _SUMMATIONS[summation_method]
        self.multi_label, self.num_labels = multi_label, num_labels
        if label_weights is not None:
            label_weights = [float(w) for w in np.asarray(label_weights, dtype=np.float32).reshape(-1)]
        self.label_weights = label_weights
        self._label_weights = None if label_weights is None else ThresholdCache(label_weights)
        self._from_logits = from_logits
        if not multi_label and num_labels:
            raise ValueError("`num_labels` is needed only when `multi_label` is True.")
        self._num_labels = num_labels
        super().__init__(name=name, dtype=dtype)

    @property
    def thresholds(self):
        """The thresholds used, -eps and 1 + eps included."""
        return list(self._thresholds)

    def _state_shape(self, name):
        if not self.multi_label:
            return (self.num_thresholds,)
        return None if self._num_labels is None else (self.num_thresholds, self._num_labels)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = as_float(y_pred)
        if self.multi_label:
            if y_pred.dim() != 2:
                raise ValueError(f"`y_pred` must have rank 2 when `multi_label=True`. Found rank {y_pred.dim()}. "
                                 f"Full shape received for `y_pred`: {tuple(y_pred.shape)}")
            if self._num_labels is None:
                self._num_labels = y_pred.shape[1]
        if self._from_logits:
            y_pred = torch.sigmoid(y_pred)
        counts = confusion_counts(("tp", "fp", "tn", "fn"), y_true, y_pred, self._cache, evenly=self._evenly,
                                  sample_weight=sample_weight, multi_label=self.multi_label,
                                  label_weights=None if self.multi_label else self._label_weights)
        for state, key in zip(self._state, ("tp", "fp", "tn", "fn")):
            self._add(state, counts[key])

    def _by_label(self, terms):
        if not self.multi_label:
            return terms.sum()
        by_label = terms.sum(0)
        if self.label_weights is None:
            return by_label.mean()
        weights = self._label_weights.on(by_label.device)
        return divide_no_nan((by_label * weights).sum(), weights.sum())

    def interpolate_pr_auc(self):
        """Davis & Goadrich's interpolated area under the precision-recall curve (Keras's formula)."""
        tp, fp, fn = self._value("true_positives"), self._value("false_positives"), self._value("false_negatives")
        n = self.num_thresholds
        dtp = tp[:n - 1] - tp[1:]
        p = tp + fp
        dp = p[:n - 1] - p[1:]
        prec_slope = divide_no_nan(dtp, dp.clamp(min=0))
        intercept = tp[1:] - prec_slope * p[1:]
        safe_p_ratio = torch.where((p[:n - 1] > 0) & (p[1:] > 0), divide_no_nan(p[:n - 1], p[1:].clamp(min=0)),
                                   torch.ones_like(p[1:]))
        increment = divide_no_nan(prec_slope * (dtp + intercept * torch.log(safe_p_ratio)),
                                  (tp[1:] + fn[1:]).clamp(min=0))
        return self._by_label(increment)

    def result(self):
        """The area as a float."""
        if self.curve == "PR" and self.summation_method == "interpolation":
            return to_result(self.interpolate_pr_auc())
        tp, fp, tn, fn = (self._value(k) for k in self._state)
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(tp, tp + fp)
        else:
            scaling = divide_no_nan(tp + fn, tn + fp)
            recall_gain = 1.0 - scaling * divide_no_nan(fn, tp)
            precision_gain = 1.0 - scaling * divide_no_nan(fp, tp)
            recall_gain = torch.where(tp == 0, torch.zeros_like(recall_gain), recall_gain).clamp(min=0.0)
            precision_gain = torch.where(tp == 0, torch.ones_like(precision_gain), precision_gain)
            x, y = recall_gain, precision_gain
        n = self.num_thresholds
        if self.summation_method == "interpolation":
            heights = (y[:n - 1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = torch.minimum(y[:n - 1], y[1:])
        else:
            heights = torch.maximum(y[:n - 1], y[1:])
        return to_result(self._by_label((x[:n - 1] - x[1:]) * heights))

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels, "label_weights": self.label_weights,
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
