"""Intersection-over-union metrics (Keras's names, arguments and values): IoU, MeanIoU, BinaryIoU, OneHotIoU,
OneHotMeanIoU.

The state is the (num_classes, num_classes) confusion matrix (rows: true class, columns: predicted class), in
int64 as Keras (sample weights are cast to integers, with Keras's warning for float weights).
"""

import warnings

import numpy as np
import torch

from cnnkit.metrics.base import EPSILON
from cnnkit.metrics.base import Metric
from cnnkit.metrics.base import as_float
from cnnkit.metrics.base import to_result

_DTYPES = {"int": torch.int64, "int64": torch.int64, "int32": torch.int32, "float32": torch.float32,
           "float64": torch.float64}


class _IoUBase(Metric):
    _state = ("total_cm",)
    _direction = "up"

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        dtype = "int64" if dtype in (None, "int") else dtype
        if dtype not in _DTYPES:
            raise ValueError(f"{type(self).__name__}: unsupported dtype. Received: dtype={dtype!r}")
        self._state_dtype = _DTYPES[dtype]
        self.num_classes, self.ignore_class = num_classes, ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = sparse_y_true, sparse_y_pred, axis
        super().__init__(name=name, dtype=dtype)

    def _state_shape(self, name):
        return (self.num_classes, self.num_classes)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = torch.as_tensor(np.asarray(y_pred)) if not isinstance(y_pred, torch.Tensor) else y_pred.detach()
        y_true = torch.as_tensor(np.asarray(y_true)) if not isinstance(y_true, torch.Tensor) else y_true.detach()
        y_true = y_true.to(y_pred.device)
        if not self.sparse_y_true:
            y_true = y_true.argmax(dim=self.axis)
        if not self.sparse_y_pred:
            y_pred = y_pred.argmax(dim=self.axis)
        dtype = self._state_dtype
        y_true, y_pred = y_true.to(dtype).reshape(-1), y_pred.to(dtype).reshape(-1)
        if sample_weight is None:
            weight = torch.ones((), dtype=dtype, device=y_pred.device)
        else:
            is_float = getattr(sample_weight, "dtype", None) is not None and "float" in str(sample_weight.dtype)
            if is_float and not dtype.is_floating_point:
                warnings.warn("You are passing weight as `float`, but dtype is `int`. This may result in an incorrect "
                              "weight due to type casting Consider using integer weights.", stacklevel=2)
            weight = as_float(sample_weight, y_pred.device, dtype).reshape(-1)
        weight = torch.broadcast_to(weight, y_true.shape)
        in_bounds = (y_true >= 0) & (y_true < self.num_classes) & (y_pred >= 0) & (y_pred < self.num_classes)
        if self.ignore_class is not None:
            in_bounds = in_bounds & (y_true != self.ignore_class)
        zero = torch.zeros_like(y_true)
        y_true, y_pred = torch.where(in_bounds, y_true, zero), torch.where(in_bounds, y_pred, zero)
        weight = torch.where(in_bounds, weight, torch.zeros_like(weight))
        index = (y_true * self.num_classes + y_pred).long()
        cm = torch.zeros(self.num_classes * self.num_classes, dtype=dtype, device=y_pred.device)
        self._add("total_cm", cm.index_add_(0, index, weight).reshape(self.num_classes, self.num_classes))


class IoU(_IoUBase):
    """Intersection over union, TP / (TP + FP + FN), averaged over `target_class_ids`.

    Classes whose denominator is 0 are left out of the average.

    Args:
        num_classes: the number of classes.
        target_class_ids: the classes (ids) averaged.
        name: default 'io_u' (made unique like Keras). dtype: the confusion matrix's dtype ('int64').
        ignore_class: a label left out (e.g. the void class of segmentation).
        sparse_y_true: y_true holds class ids (True) or one-hot vectors on `axis` (False).
        sparse_y_pred: y_pred holds class ids (True) or scores on `axis` (False, argmax taken).
        axis: the class axis for non-sparse inputs (-1).

    Example:
        >>> m = IoU(num_classes=2, target_class_ids=[0])
        >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
        >>> round(m.result(), 4)
        0.3333
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)
        if max(target_class_ids) >= num_classes:
            raise ValueError(f"Target class id {max(target_class_ids)} is out of range, which is [0, {num_classes}).")
        self.target_class_ids = list(target_class_ids)

    def result(self):
        """The mean IoU of the target classes, a float."""
        cm = self._value("total_cm")
        true_positives = torch.diagonal(cm).to(torch.float32)
        denominator = cm.sum(0).to(torch.float32) + cm.sum(1).to(torch.float32) - true_positives
        ids = torch.as_tensor(self.target_class_ids, device=cm.device)
        true_positives, denominator = true_positives[ids], denominator[ids]
        valid = denominator > 1e-9
        iou = torch.where(valid, true_positives / (denominator + EPSILON), torch.zeros_like(denominator))
        return to_result(iou.sum() / (valid.to(torch.float32).sum() + EPSILON))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class BinaryIoU(IoU):
    """IoU of binary predictions: y_pred >= threshold is class 1.

    Args:
        target_class_ids: (0, 1) averages both classes; [1] the positive class only.
        threshold: predictions >= threshold are class 1 (0.5).
        name: default 'binary_io_u' (made unique). dtype: 'int64'.

    Example:
        >>> m = BinaryIoU(target_class_ids=[1], threshold=0.3)
        >>> m.update_state([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7])
        >>> round(m.result(), 4)
        0.3333
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = as_float(y_pred)
        super().update_state(y_true, (y_pred >= self.threshold).to(self._state_dtype), sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold, "name": self.name,
                "dtype": self.dtype}


class MeanIoU(IoU):
    """IoU averaged over all `num_classes` classes (arguments as IoU, without target_class_ids; name 'mean_io_u').

    Example:
        >>> m = MeanIoU(num_classes=2)
        >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
        >>> round(m.result(), 4)
        0.3333
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True,
                 axis=-1):
        super().__init__(num_classes=num_classes, target_class_ids=list(range(num_classes)), name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred,
                         axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotIoU(IoU):
    """IoU for one-hot y_true and score y_pred (argmax on `axis`); arguments as IoU, without sparse_y_true.

    Example:
        >>> m = OneHotIoU(num_classes=3, target_class_ids=[0, 2])
        >>> m.update_state([[0, 0, 1], [1, 0, 0]], [[0.2, 0.3, 0.5], [0.1, 0.2, 0.7]])
        >>> round(m.result(), 4)
        0.25
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_pred=False,
                 axis=-1):
        super().__init__(num_classes=num_classes, target_class_ids=target_class_ids, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "target_class_ids": self.target_class_ids, "name": self.name,
                "dtype": self.dtype, "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class OneHotMeanIoU(MeanIoU):
    """MeanIoU for one-hot y_true and score y_pred (arguments as MeanIoU, without sparse_y_true)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype,
                "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}
