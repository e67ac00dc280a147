"""CIFAR-10: `load_data()` returns what `keras.datasets.cifar10.load_data()` returns.

The official archive (cifar-10-python.tar.gz, 163 MB) is read without extracting it, from cnnkit's cache
(`~/.cnnkit/datasets/`), from Keras's cache in the layouts Keras uses (`~/.keras/datasets/`, the extracted
folder or the archive), or downloaded. The batch pickles are read with a restricted unpickler that only
rebuilds numpy arrays (see `cnnkit.datasets._cifar`).

Classes: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog, 7 horse, 8 ship, 9 truck.
"""

import numpy as np

from cnnkit.datasets._cifar import load_release

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE = "cifar-10-python.tar.gz"
FILE_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"  # sha256, as in Keras
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def load_data():
    """Loads CIFAR-10: 50,000 training and 10,000 test colour images of 32x32 in 10 classes.

    Returns:
        ((x_train, y_train), (x_test, y_test)): x_train uint8 (50000, 32, 32, 3), y_train uint8 (50000, 1),
        x_test uint8 (10000, 32, 32, 3), y_test uint8 (10000, 1); images channels_last, labels 0 to 9
        (names in `CLASS_NAMES`).

    Raises:
        cnnkit.datasets.DatasetDownloadError: the archive is not cached and could not be downloaded (the message
            says where to put it by hand).
        cnnkit.datasets.DatasetHashError: the cached or downloaded archive is corrupted.

    Example:
        >>> from cnnkit.datasets import cifar10
        >>> (x_train, y_train), (x_test, y_test) = cifar10.load_data()
        >>> x_train.shape, y_train.shape, y_train.dtype
        ((50000, 32, 32, 3), (50000, 1), dtype('uint8'))
    """
    (x_train, y_train), (x_test, y_test) = load_release(ARCHIVE, ORIGIN, FILE_HASH, FOLDER,
                                                        (TRAIN_BATCHES, TEST_BATCHES), "labels")
    return (x_train, y_train.astype(np.uint8)), (x_test, y_test.astype(np.uint8))
