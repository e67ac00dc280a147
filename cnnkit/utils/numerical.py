"""`to_categorical` and `normalize` (Keras's `keras.utils` numerical utilities)."""

import numpy as np
import torch


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot encodes integer class labels: shape (...,) or (..., 1) -> (..., num_classes).

    Same values as Keras's `to_categorical`; numpy in, numpy out (float32 by default, Keras 2's `dtype`
    argument; Keras 3 returns float64), a torch tensor in, a float32 torch tensor out.

    Args:
        y: integer class indices (a list, numpy array or torch tensor).
        num_classes: the number of classes; default `max(y) + 1`.
        dtype: the numpy dtype of the result.

    Raises:
        ValueError: non-integer values, negative indices or an index >= num_classes.

    Example:
        >>> to_categorical([0, 2], 3)
        array([[1., 0., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    if isinstance(y, torch.Tensor):
        labels = y.reshape(y.shape[:-1]) if y.dim() > 1 and y.shape[-1] == 1 else y
        out = to_categorical(labels.detach().cpu().numpy(), num_classes, "float32")
        return torch.from_numpy(out).to(y.device)
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


def normalize(x, axis=-1, order=2):
    """Divides `x` by its `order`-norm along `axis` (Keras's `keras.utils.normalize`).

    A numpy array gives a numpy array (zero norms are left as they are: divided by 1), as Keras; a torch tensor
    gives a torch tensor (divided by max(norm, epsilon), Keras's `ops.normalize`).

    Args:
        x: the array.
        axis: the axis to normalize along.
        order: the norm's order (2: Euclidean, 1: sum of absolute values, ...).

    Example:
        >>> normalize(np.array([[3.0, 4.0]]))
        array([[0.6, 0.8]])
    """
    if isinstance(order, bool) or not isinstance(order, (int, float)) or order < 1:
        raise ValueError(f"normalize: order must be a number >= 1. Received: order={order!r}")
    if isinstance(x, torch.Tensor):
        from cnnkit import config  # noqa: PLC0415

        norm = torch.linalg.vector_norm(x, ord=order, dim=axis, keepdim=True)
        return x / norm.clamp_min(config.epsilon())
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis if axis is not None else -1)
