"""Every metric of Keras 3 against Keras itself: the same predictions over 3 uneven batches (with and without
sample weights) into Keras's metric and cnnkit's give the same result; reset_state starts over; two workers'
summed `variables` equal one metric fed all the data."""

import numpy as np
import pytest
import torch

from cnnkit import metrics

N = 24
BATCHES = ((0, 8), (8, 17), (17, 24))


def _data(kind, rng):
    """(y_true, y_pred, sample_weight) of N samples for a kind of metric input."""
    weight = rng.uniform(0, 2, size=N).astype(np.float32)
    if kind == "binary":  # (N, 1) labels 0/1 and probabilities, with exact 0, 0.5 and 1 among them
        y_pred = rng.uniform(size=(N, 1)).astype(np.float32)
        y_pred[:3, 0] = [0.0, 0.5, 1.0]
        return rng.integers(0, 2, size=(N, 1)).astype(np.float32), y_pred, weight
    if kind == "multilabel":
        return (rng.integers(0, 2, size=(N, 3)).astype(np.float32), rng.uniform(size=(N, 3)).astype(np.float32),
                weight)
    if kind == "logits":
        y_pred = rng.normal(size=(N, 3)).astype(np.float32) * 2
        return rng.integers(0, 2, size=(N, 3)).astype(np.float32), y_pred, weight
    probs = rng.dirichlet(np.ones(4), size=N).astype(np.float32)
    labels = rng.integers(0, 4, size=N)
    if kind == "onehot":
        return np.eye(4, dtype=np.float32)[labels], probs, weight
    if kind == "sparse":
        return labels, probs, weight
    if kind == "class_ids":  # IoU: integer labels and predicted ids; weights whole numbers (Keras casts to int)
        return labels, rng.integers(0, 4, size=N), rng.integers(0, 3, size=N).astype(np.float32)
    if kind == "regression":
        return (rng.normal(size=(N, 3)).astype(np.float32), rng.normal(size=(N, 3)).astype(np.float32), weight)
    if kind == "positive":
        return (rng.uniform(0, 3, size=(N, 3)).astype(np.float32), rng.uniform(0.1, 3, size=(N, 3)).astype(np.float32),
                weight)
    if kind == "hinge":
        y_pred = rng.normal(size=(N, 3)).astype(np.float32)
        return rng.choice([-1.0, 1.0], size=(N, 3)).astype(np.float32), y_pred, weight
    raise ValueError(kind)


CASES = [
    ("TruePositives", {}, "binary"), ("FalsePositives", {"thresholds": [0.2, 0.5, 0.8]}, "binary"),
    ("TrueNegatives", {"thresholds": [0.0, 0.5, 1.0]}, "multilabel"), ("FalseNegatives", {}, "multilabel"),
    ("Precision", {}, "binary"), ("Precision", {"thresholds": [0.3, 0.7]}, "multilabel"),
    ("Precision", {"top_k": 2}, "multilabel"), ("Precision", {"class_id": 1}, "multilabel"),
    ("Precision", {"top_k": 1, "class_id": 2}, "multilabel"),
    ("Recall", {}, "binary"), ("Recall", {"thresholds": [0.0, 0.5, 1.0]}, "binary"),
    ("Recall", {"top_k": 2}, "multilabel"), ("Recall", {"class_id": 0, "thresholds": 0.4}, "multilabel"),
    ("AUC", {}, "binary"), ("AUC", {"num_thresholds": 50, "curve": "PR"}, "binary"),
    ("AUC", {"curve": "PR", "summation_method": "majoring"}, "multilabel"),
    ("AUC", {"summation_method": "minoring", "num_thresholds": 7}, "multilabel"),
    ("AUC", {"curve": "PRGAIN"}, "binary"),
    ("AUC", {"multi_label": True, "label_weights": [1.0, 2.0, 0.5], "curve": "PR"}, "multilabel"),
    ("AUC", {"label_weights": [1.0, 2.0, 0.5]}, "multilabel"),
    ("AUC", {"thresholds": [0.1, 0.4, 0.9]}, "binary"),
    ("AUC", {"thresholds": [0.9, 0.1, 0.4], "label_weights": [1.0, 2.0, 0.5], "curve": "PR"}, "multilabel"),
    ("AUC", {"multi_label": True, "num_labels": 3, "thresholds": [0.6, 0.3]}, "multilabel"),
    ("AUC", {"from_logits": True}, "logits"),
    ("PrecisionAtRecall", {"recall": 0.5}, "binary"), ("RecallAtPrecision", {"precision": 0.6, "num_thresholds": 20},
                                                       "multilabel"),
    ("SensitivityAtSpecificity", {"specificity": 0.7}, "binary"),
    ("SensitivityAtSpecificity", {"specificity": 0.5, "num_thresholds": 1}, "binary"),
    ("SpecificityAtSensitivity", {"sensitivity": 0.4, "class_id": 1}, "multilabel"),
    ("F1Score", {}, "onehot"), ("F1Score", {"average": "micro", "threshold": 0.3}, "onehot"),
    ("F1Score", {"average": "macro"}, "onehot"), ("F1Score", {"average": "weighted", "threshold": 0.4}, "multilabel"),
    ("FBetaScore", {"beta": 2.0, "average": "macro", "threshold": 0.5}, "multilabel"),
    ("IoU", {"num_classes": 4, "target_class_ids": [0, 2]}, "class_ids"),
    ("MeanIoU", {"num_classes": 4}, "class_ids"), ("MeanIoU", {"num_classes": 4, "ignore_class": 1}, "class_ids"),
    ("MeanIoU", {"num_classes": 4, "sparse_y_pred": False}, "sparse"),
    ("IoU", {"num_classes": 4, "target_class_ids": [1, 3], "sparse_y_true": False, "sparse_y_pred": False},
     "onehot"),
    ("BinaryIoU", {}, "binary"), ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, "binary"),
    ("OneHotIoU", {"num_classes": 4, "target_class_ids": [1, 3]}, "onehot"),
    ("OneHotMeanIoU", {"num_classes": 4}, "onehot"),
    ("RootMeanSquaredError", {}, "regression"), ("R2Score", {}, "regression"),
    ("R2Score", {"class_aggregation": None}, "regression"),
    ("R2Score", {"class_aggregation": "variance_weighted_average", "num_regressors": 2}, "regression"),
    ("MeanAbsolutePercentageError", {}, "regression"), ("MeanSquaredLogarithmicError", {}, "positive"),
    ("LogCoshError", {}, "regression"), ("CosineSimilarity", {}, "regression"),
    ("PearsonCorrelation", {}, "regression"), ("ConcordanceCorrelation", {}, "regression"),
    ("MeanSquaredError", {}, "regression"), ("MeanAbsoluteError", {}, "regression"),
    ("BinaryCrossentropy", {}, "multilabel"), ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1},
                                               "logits"),
    ("CategoricalCrossentropy", {}, "onehot"),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, "onehot"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {"ignore_class": 1}, "sparse"),
    ("KLDivergence", {}, "onehot"), ("Poisson", {}, "positive"), ("Hinge", {}, "multilabel"),
    ("Hinge", {}, "hinge"), ("SquaredHinge", {}, "multilabel"), ("CategoricalHinge", {}, "onehot"),
]
IDS = [f"{name}{kwargs or ''}-{kind}" for name, kwargs, kind in CASES]


def _feed(metric, y_true, y_pred, weight, batches=BATCHES):
    for start, stop in batches:
        metric.update_state(y_true[start:stop], y_pred[start:stop],
                            sample_weight=None if weight is None else weight[start:stop])


def _close(ours, theirs):
    np.testing.assert_allclose(np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,kwargs,kind", CASES, ids=IDS)
def test_metric_matches_keras_over_batches(keras, rng, name, kwargs, kind):
    y_true, y_pred, weight = _data(kind, rng)
    for sample_weight in (weight, None):
        ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
        _feed(ours, y_true, y_pred, sample_weight)
        _feed(theirs, y_true, y_pred, sample_weight)
        _close(ours.result(), theirs.result())
    ours.reset_state()
    theirs.reset_state()
    _feed(ours, y_true, y_pred, weight, BATCHES[1:2])
    _feed(theirs, y_true, y_pred, weight, BATCHES[1:2])
    _close(ours.result(), theirs.result())


@pytest.mark.parametrize("name,kwargs,kind", CASES, ids=IDS)
def test_summed_variables_of_two_workers_equal_one_metric(rng, name, kwargs, kind):
    y_true, y_pred, weight = _data(kind, rng)
    cls = getattr(metrics, name)
    whole, first, second, merged = cls(**kwargs), cls(**kwargs), cls(**kwargs), cls(**kwargs)
    _feed(whole, y_true, y_pred, weight)
    _feed(first, y_true, y_pred, weight, BATCHES[:2])
    _feed(second, y_true, y_pred, weight, BATCHES[2:])
    merged.update_state(y_true[:1], y_pred[:1])  # builds the state shapes, then overwritten
    merged.assign_variables([a + b for a, b in zip(first.variables, second.variables)])
    assert [tuple(v.shape) for v in merged.variables] == [tuple(v.shape) for v in whole.variables]
    _close(merged.result(), whole.result())


def test_sum_and_mean_match_keras(keras, rng):
    values = rng.normal(size=(N, 3)).astype(np.float32)
    weight = rng.uniform(0, 2, size=N).astype(np.float32)
    for name in ("Sum", "Mean"):
        for sample_weight in (weight, None):
            ours, theirs = getattr(metrics, name)(), getattr(keras.metrics, name)()
            for start, stop in BATCHES:
                sw = None if sample_weight is None else sample_weight[start:stop]
                ours.update_state(values[start:stop], sample_weight=sw)
                theirs.update_state(values[start:stop], sample_weight=sw)
            _close(ours.result(), theirs.result())
            _close([float(v) for v in ours.variables], [float(v.numpy()) for v in theirs.variables])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name,kwargs,kind", CASES, ids=IDS)
def test_update_state_on_cuda_never_waits_for_the_device(rng, name, kwargs, kind):
    """After the first update (which caches the thresholds on the device), update_state queues device work only:
    torch's sync debug mode raises on any synchronizing call. The result equals the one computed on the CPU."""
    arrays = _data(kind, rng)
    on_cpu, on_gpu = getattr(metrics, name)(**kwargs), getattr(metrics, name)(**kwargs)
    _feed(on_cpu, *arrays)
    y_true, y_pred, weight = (torch.as_tensor(a).cuda() for a in arrays)
    on_gpu.update_state(y_true[:8], y_pred[:8], sample_weight=weight[:8])
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        _feed(on_gpu, y_true, y_pred, weight, BATCHES[1:])
    finally:
        torch.cuda.set_sync_debug_mode(0)
    _close(on_gpu.result(), on_cpu.result())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_trainers_loss_tracker_update_never_waits_for_the_device():
    """The trainer adds each batch's loss with the batch size (a Python int) as weight."""
    tracker = metrics.Mean(name="loss")
    first, second = torch.tensor(1.0, device="cuda"), torch.tensor(3.0, device="cuda")
    tracker.update_state(first, sample_weight=4)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        tracker.update_state(second, sample_weight=2)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert tracker.result() == pytest.approx(10 / 6)
