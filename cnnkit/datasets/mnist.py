"""MNIST handwritten digits: `load_data()` returns what `keras.datasets.mnist.load_data()` returns.

The file is Keras's `mnist.npz` (11 MB), taken from cnnkit's cache (`~/.cnnkit/datasets/mnist.npz`), from
Keras's cache (`~/.keras/datasets/mnist.npz`), or downloaded (see `cnnkit.datasets._files`).
"""

import os

import numpy as np

from cnnkit.datasets._files import get_file

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
FILE_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"  # sha256, as in Keras
_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_data(path="mnist.npz"):
    """Loads MNIST: 60,000 training and 10,000 test grayscale digits of 28x28.

    Args:
        path: the file name in the cache folders (`~/.cnnkit/datasets`, `~/.keras/datasets`), as in Keras.

    Returns:
        ((x_train, y_train), (x_test, y_test)): x_train uint8 (60000, 28, 28), y_train uint8 (60000,),
        x_test uint8 (10000, 28, 28), y_test uint8 (10000,); pixel values 0 to 255, labels 0 to 9.

    Raises:
        cnnkit.datasets.DatasetDownloadError: the file is not cached and could not be downloaded (the message
            says where to put it by hand).
        cnnkit.datasets.DatasetHashError: the cached or downloaded file is corrupted.

    Example:
        >>> from cnnkit.datasets import mnist
        >>> (x_train, y_train), (x_test, y_test) = mnist.load_data()
        >>> x_train.shape, y_train.shape
        ((60000, 28, 28), (60000,))
    """
    file = get_file(os.fspath(path), ORIGIN, FILE_HASH)
    with np.load(file, allow_pickle=False) as f:
        missing = [key for key in _KEYS if key not in f.files]
        if missing:
            raise ValueError(f"{file} is not Keras's mnist.npz: it has no array named {', '.join(missing)}.")
        x_train, y_train, x_test, y_test = (f[key] for key in _KEYS)
    return (x_train, y_train), (x_test, y_test)
