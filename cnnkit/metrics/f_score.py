"""`FBetaScore` and `F1Score` (Keras's names, arguments and values)."""

import torch

from cnnkit.metrics.base import EPSILON
from cnnkit.metrics.base import Metric
from cnnkit.metrics.base import as_float
from cnnkit.metrics.base import to_result

_AVERAGES = (None, "micro", "macro", "weighted")


class FBetaScore(Metric):
    """The F-beta score, (1 + beta^2) * precision * recall / (beta^2 * precision + recall), per class or averaged.

    Inputs are (batch, classes): y_true one-hot (or multi-hot), y_pred scores.

    Args:
        average: None (one score per class, an array), 'micro' (from the counts summed over classes), 'macro'
            (the mean of the per-class scores) or 'weighted' (their mean weighted by each class's true count).
        beta: a Python float > 0 (1.0).
        threshold: a prediction above it is positive (0 < threshold <= 1); None: the highest score of each sample
            is the positive one.
        name: 'fbeta_score'. dtype: 'float32'.

    Example:
        >>> m = FBetaScore(beta=2.0, threshold=0.5, average="micro")
        >>> m.update_state([[1, 0], [0, 1]], [[0.9, 0.8], [0.2, 0.6]])
        >>> round(m.result(), 4)
        0.9091
    """

    _state = ("true_positives", "false_positives", "false_negatives", "intermediate_weights")
    _direction = "up"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        if average not in _AVERAGES:
            raise ValueError("Invalid `average` argument value. Expected one of: {None, 'micro', 'macro', "
                             f"'weighted'}}. Received: average={average}")
        if not isinstance(beta, float):
            raise ValueError("Invalid `beta` argument value. It should be a Python float. Received: "
                             f"beta={beta} of type '{type(beta)}'")
        if beta <= 0.0:
            raise ValueError(f"Invalid `beta` argument value. It should be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError("Invalid `threshold` argument value. It should be a Python float. Received: "
                                 f"threshold={threshold} of type '{type(threshold)}'")
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError("Invalid `threshold` argument value. It should verify 0 < threshold <= 1. "
                                 f"Received: threshold={threshold}")
        self.average, self.beta, self.threshold = average, beta, threshold
        self.axis = None if average == "micro" else 0
        self._num_classes = None
        super().__init__(name=name, dtype=dtype)

    def _state_shape(self, name):
        if self.average == "micro":
            return ()
        return None if self._num_classes is None else (self._num_classes,)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = as_float(y_pred)
        y_true = as_float(y_true, y_pred.device)
        if y_pred.dim() != 2 or y_true.dim() != 2:
            raise ValueError(f"{type(self).__name__} expects 2D inputs with shape (batch_size, output_dim). "
                             f"Received input shapes: y_pred.shape={tuple(y_pred.shape)} and "
                             f"y_true.shape={tuple(y_true.shape)}.")
        if self._num_classes is None:
            self._num_classes = y_pred.shape[-1]
        if self.threshold is None:
            top = y_pred.max(dim=-1, keepdim=True).values
            y_pred = (y_pred >= top) & (y_pred.abs() > 1e-9)
        else:
            y_pred = y_pred > self.threshold
        y_pred = y_pred.to(torch.float32)
        weight = None if sample_weight is None else as_float(sample_weight, y_pred.device)

        def weighted_sum(values):
            if weight is not None:
                values = values * weight.unsqueeze(1)
            return values.sum() if self.axis is None else values.sum(dim=self.axis)

        self._add("true_positives", weighted_sum(y_pred * y_true))
        self._add("false_positives", weighted_sum(y_pred * (1 - y_true)))
        self._add("false_negatives", weighted_sum((1 - y_pred) * y_true))
        self._add("intermediate_weights", weighted_sum(y_true))

    def result(self):
        """A float (averaged) or an array of one score per class (average=None)."""
        tp, fp, fn, support = (self._value(k) for k in self._state)
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        beta2 = self.beta ** 2
        score = precision * recall / (beta2 * precision + recall + EPSILON) * (1 + beta2)
        if self.average == "weighted":
            score = (score * (support / (support.sum() + EPSILON))).sum()
        elif self.average is not None:
            score = score.mean()
        return to_result(score)

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score, 2 * precision * recall / (precision + recall) (FBetaScore with beta=1; name 'f1_score').

    Example:
        >>> m = F1Score(threshold=0.5)
        >>> m.update_state([[1, 1, 0], [0, 1, 1]], [[0.9, 0.7, 0.2], [0.1, 0.8, 0.3]])
        >>> [round(float(v), 4) for v in m.result()]
        [1.0, 1.0, 0.0]
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
