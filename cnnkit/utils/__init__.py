"""Utilities (`cnnkit.utils` mirrors `keras.utils`)."""

import random

import numpy as np
import torch

from cnnkit.data.dataset import image_dataset_from_directory as image_dataset_from_directory
from cnnkit.data.image_io import array_to_img as array_to_img
from cnnkit.data.image_io import img_to_array as img_to_array
from cnnkit.data.image_io import load_img as load_img
from cnnkit.data.image_io import save_img as save_img
from cnnkit.utils.naming import clear_session as clear_session


def plot_model(model, to_file="model.png", **kwargs):
    """Keras's `keras.utils.plot_model`, drawn with matplotlib (no Graphviz): see
    `cnnkit.visualization.plot_model`."""
    from cnnkit.visualization.plot_model import plot_model as draw  # noqa: PLC0415 (utils loads before models)

    return draw(model, to_file=to_file, **kwargs)


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


def set_random_seed(seed):
    """Seeds Python's `random`, numpy and torch (CPU and CUDA), so a run can be repeated exactly."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative int. Received: seed={seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


__all__ = ["array_to_img", "clear_session", "image_dataset_from_directory", "img_to_array", "load_img",
           "plot_model", "save_img", "set_random_seed", "to_categorical"]
