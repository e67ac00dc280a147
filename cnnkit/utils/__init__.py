"""Utilities (`cnnkit.utils` mirrors `keras.utils`)."""

import numpy as np

from cnnkit.utils.naming import clear_session as clear_session


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encodes integer class labels: (n,) or (n, 1) -> (n, num_classes).

    Example:
        >>> to_categorical([0, 2], 3)
        array([[1., 0., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    labels = np.asarray(y)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.size and (not np.issubdtype(labels.dtype, np.integer) and not np.all(np.mod(labels, 1) == 0)):
        raise ValueError("to_categorical: y must hold integer class indices.")
    labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical: class indices must be >= 0. Received a minimum of {labels.min()}")
    num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
    if labels.size and labels.max() >= num_classes:
        raise ValueError(f"to_categorical: class index {labels.max()} is out of range for num_classes={num_classes}")
    out = np.zeros((*labels.shape, num_classes), dtype=dtype)
    np.put_along_axis(out, labels[..., None], 1, axis=-1)
    return out


__all__ = ["clear_session", "to_categorical"]
