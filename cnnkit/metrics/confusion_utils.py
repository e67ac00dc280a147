"""Confusion counts at thresholds (Keras's metrics_utils.update_confusion_matrix_variables), in torch.

Two paths, as Keras: thresholds evenly spread over [0, 1] (AUC, the *At* metrics, Precision(thresholds=[0, .5,
1])...) count by buckets (one scatter-add, O(n + thresholds)); other thresholds compare every prediction with every
threshold. Both count a prediction as positive when it is strictly above the threshold.
"""

import numpy as np
import torch

from cnnkit.metrics.base import EPSILON
from cnnkit.metrics.base import as_float
from cnnkit.metrics.base import squeeze_or_expand_to_same_rank

NEG_INF = -1e10
CONDITIONS = ("tp", "fp", "tn", "fn")


def check_thresholds(thresholds):
    """Raises Keras's ValueError for thresholds outside [0, 1]."""
    if thresholds is not None:
        values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
        invalid = [t for t in values if t is None or t < 0 or t > 1]
        if invalid:
            raise ValueError(f"Threshold values must be in [0, 1]. Received: {invalid}")


def parse_thresholds(thresholds, default_threshold=0.5):
    """The thresholds as a list of floats (`default_threshold` when None), checked to be in [0, 1]."""
    check_thresholds(thresholds)
    if thresholds is None:
        thresholds = default_threshold
    if isinstance(thresholds, (list, tuple, np.ndarray)):
        return [float(t) for t in thresholds]
    return [float(thresholds)]


def evenly_distributed(thresholds):
    """True for 3 or more thresholds i / (n - 1), i = 0..n-1 (to Keras's tolerance)."""
    n = len(thresholds)
    if n < 3:
        return False
    return bool(np.allclose(thresholds, np.arange(n, dtype=np.float32) / (n - 1), atol=EPSILON))


def filter_top_k(x, k):
    """x with all but the k largest entries of the last axis set to -1e10."""
    mask = torch.zeros_like(x).scatter_(-1, x.topk(k, dim=-1).indices, 1.0)
    return x * mask + NEG_INF * (1 - mask)


class ThresholdCache:
    """A float32 tensor of constants, kept per device: copied once (from pinned memory, without waiting for the
    device), never again at later updates."""

    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float32)
        self._on = {}

    def on(self, device):
        device = torch.device(device)
        if device not in self._on:
            host = torch.as_tensor(self.values)
            if device.type == "cuda":
                host = host.pin_memory()  # kept alive with the copy, so the asynchronous copy may read it
                self._on[device] = (host.to(device, non_blocking=True), host)
            else:
                self._on[device] = (host, host)
        return self._on[device][0]


def _bucket_counts(y_true, y_pred, num_thresholds, weights, multi_label, with_epsilon):
    """tp and fp per threshold (and the totals of true and false labels) by bucketing the predictions."""
    y_pred = y_pred.clamp(0.0, 1.0)
    y_true = (y_true != 0).to(y_pred.dtype)
    if not multi_label:
        y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
        weights = weights if weights.dim() == 0 else weights.reshape(-1)
    true_labels = y_true * weights
    false_labels = (1.0 - y_true) * weights
    buckets = torch.ceil(y_pred * float(num_thresholds - 1)) - 1
    if with_epsilon:
        buckets = buckets.clamp(min=0)
    buckets = buckets.to(torch.int64)
    valid = buckets >= 0  # as a segment sum, a prediction of exactly 0 falls in no bucket
    index = buckets.clamp(min=0)
    if multi_label:  # (N, L) -> per label (L, thresholds)
        index, valid = index.reshape(index.shape[0], -1).T, valid.reshape(valid.shape[0], -1).T
        shape = (index.shape[0], num_thresholds)
        true_labels = true_labels.reshape(true_labels.shape[0], -1).T
        false_labels = false_labels.reshape(false_labels.shape[0], -1).T
    else:
        shape = (num_thresholds,)

    def per_bucket(labels):
        labels = torch.where(valid, labels, torch.zeros_like(labels))
        return torch.zeros(shape, dtype=labels.dtype, device=labels.device).scatter_add_(-1, index, labels)

    tp = per_bucket(true_labels).flip(-1).cumsum(-1).flip(-1)
    fp = per_bucket(false_labels).flip(-1).cumsum(-1).flip(-1)
    total_true, total_false = true_labels.sum(-1), false_labels.sum(-1)
    if multi_label:
        tp, fp = tp.T, fp.T
    return tp, fp, total_true, total_false


def _compare_counts(y_true, y_pred, thresholds, weights, multi_label, wanted):
    """Every count in `wanted` per threshold, comparing each prediction with each threshold."""
    if multi_label:
        preds, labels = y_pred.unsqueeze(0), (y_true != 0).unsqueeze(0)
        thresholds = thresholds.reshape(-1, *([1] * y_pred.dim()))
    else:
        preds, labels = y_pred.reshape(1, -1), (y_true != 0).reshape(1, -1)
        thresholds = thresholds.reshape(-1, 1)
        weights = weights if weights is None else weights.reshape(1, -1)
    pred_pos = preds > thresholds
    cells = {"tp": (labels, pred_pos), "fp": (~labels, pred_pos), "tn": (~labels, ~pred_pos),
             "fn": (labels, ~pred_pos)}
    out = {}
    for key in wanted:
        label, pred = cells[key]
        hit = label & pred
        values = hit.to(y_pred.dtype) if weights is None else torch.where(hit, weights, torch.zeros_like(weights))
        out[key] = values.sum(1)
    return out


def confusion_counts(wanted, y_true, y_pred, thresholds, evenly=False, top_k=None, class_id=None,
                     sample_weight=None, multi_label=False, label_weights=None):
    """The confusion counts named in `wanted` ('tp', 'fp', 'tn', 'fn') of one batch, per threshold.

    Args:
        wanted: the counts to compute.
        y_true: labels (nonzero = positive), the shape of y_pred (or with one axis less/more of size 1).
        y_pred: predictions, (batch, ...) ; with `multi_label` (batch, labels).
        thresholds: a ThresholdCache of the thresholds.
        evenly: the thresholds are evenly spread (the bucketing path; Keras's thresholds_distributed_evenly).
        top_k: keep only the k largest predictions of each sample (the others never count as positive).
        class_id: count only that class (the last axis).
        sample_weight: weights broadcastable to the labels.
        multi_label: counts per label, shape (thresholds, labels); else over all entries, (thresholds,).
        label_weights: per-label weights (not with multi_label, where the caller applies them).

    Returns:
        {name: float32 tensor of shape (thresholds,) or (thresholds, labels)}.
    """
    y_pred = as_float(y_pred)
    y_true = as_float(y_true, y_pred.device)
    device = y_pred.device
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = as_float(sample_weight, device).unsqueeze(-1)
        _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight, expand_rank_1=False)
    if top_k is not None:
        y_pred = filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.dim() == 1:
            raise ValueError("When class_id is provided, y_pred must be a 2D array with shape (num_samples, "
                             f"num_classes), found shape: {tuple(y_pred.shape)}")
        y_true, y_pred = y_true[..., class_id:class_id + 1], y_pred[..., class_id:class_id + 1]
    weights = None
    if sample_weight is not None:
        weights = torch.broadcast_to(sample_weight, y_pred.shape)
    if label_weights is not None:
        lw = torch.broadcast_to(label_weights.on(device).unsqueeze(0), y_pred.shape)
        weights = lw if weights is None else weights * lw
    values = thresholds.values
    if evenly:
        with_epsilon = bool(values[0] < 0.0 or values[-1] > 1.0)
        w = torch.ones((), device=device) if weights is None else weights
        tp, fp, total_true, total_false = _bucket_counts(y_true, y_pred, len(values), w, multi_label,
                                                         with_epsilon)
        counts = {"tp": tp, "fp": fp, "tn": total_false - fp, "fn": total_true - tp}
        return {key: counts[key] for key in wanted}
    return _compare_counts(y_true, y_pred, thresholds.on(device), weights, multi_label, wanted)
