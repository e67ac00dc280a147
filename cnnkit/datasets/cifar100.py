"""CIFAR-100: `load_data(label_mode)` returns what `keras.datasets.cifar100.load_data(label_mode)` returns.

The official archive (cifar-100-python.tar.gz, 161 MB) is read without extracting it, from cnnkit's cache
(`~/.cnnkit/datasets/`), from Keras's cache in the layouts Keras uses (`~/.keras/datasets/`, the extracted
folder or the archive), or downloaded. The pickles are read with a restricted unpickler that only rebuilds numpy
arrays (see `cnnkit.datasets._cifar`).
"""

from cnnkit.datasets._cifar import load_release

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
ARCHIVE = "cifar-100-python.tar.gz"
FILE_HASH = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"  # sha256, as in Keras
FOLDER = "cifar-100-python"
LABEL_MODES = ("fine", "coarse")


def load_data(label_mode="fine"):
    """Loads CIFAR-100: 50,000 training and 10,000 test colour images of 32x32 in 100 classes (20 superclasses).

    Args:
        label_mode: 'fine' for the 100 class labels, 'coarse' for the 20 superclass labels.

    Returns:
        ((x_train, y_train), (x_test, y_test)): x_train uint8 (50000, 32, 32, 3), y_train int64 (50000, 1),
        x_test uint8 (10000, 32, 32, 3), y_test int64 (10000, 1); images channels_last, labels 0 to 99 ('fine')
        or 0 to 19 ('coarse'). The labels are int64, as Keras returns them (CIFAR-10's are uint8).

    Raises:
        ValueError: label_mode is neither 'fine' nor 'coarse'.
        cnnkit.datasets.DatasetDownloadError: the archive is not cached and could not be downloaded (the message
            says where to put it by hand).
        cnnkit.datasets.DatasetHashError: the cached or downloaded archive is corrupted.

    Example:
        >>> from cnnkit.datasets import cifar100
        >>> (x_train, y_train), (x_test, y_test) = cifar100.load_data(label_mode="coarse")
        >>> x_test.shape, int(y_test.max())
        ((10000, 32, 32, 3), 19)
    """
    if label_mode not in LABEL_MODES:
        raise ValueError(f"cifar100.load_data: label_mode must be one of 'fine', 'coarse'. "
                         f"Received: label_mode={label_mode!r}")
    return load_release(ARCHIVE, ORIGIN, FILE_HASH, FOLDER, (("train",), ("test",)), f"{label_mode}_labels")
