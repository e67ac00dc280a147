"""Fashion-MNIST: `load_data()` returns what `keras.datasets.fashion_mnist.load_data()` returns.

The four official gzipped IDX files are taken from cnnkit's cache (`~/.cnnkit/datasets/fashion-mnist/`), from
Keras's cache (`~/.keras/datasets/fashion-mnist/`, where Keras puts them), or downloaded from Keras's mirror.

Classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot.
"""

import gzip
import struct

import numpy as np

from cnnkit.datasets._files import get_file

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CACHE_SUBDIR = "fashion-mnist"
# sha256 of the official files (Zalando's release; Keras itself checks no hash for Fashion-MNIST).
FILES = {
    "train-labels-idx1-ubyte.gz": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
    "train-images-idx3-ubyte.gz": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
    "t10k-labels-idx1-ubyte.gz": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
    "t10k-images-idx3-ubyte.gz": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
}
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")
_MAGIC = {1: 0x801, 3: 0x803}  # uint8 data with 1 (labels) or 3 (images) dimensions


def read_idx(path, ndim):
    """Reads a gzipped IDX file of uint8 values with `ndim` dimensions (1: labels, 3: images) into an array.

    Raises:
        ValueError: the file is not such an IDX file (wrong magic number or size).
    """
    with gzip.open(path, "rb") as f:
        data = f.read()
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is not an IDX file: it holds only {len(data)} bytes.")
    magic = struct.unpack(">I", data[:4])[0]
    if magic != _MAGIC[ndim]:
        raise ValueError(f"{path} is not a {ndim}-dimensional uint8 IDX file: magic number {magic:#x}, "
                         f"expected {_MAGIC[ndim]:#x}.")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    if len(data) - header != int(np.prod(shape)):
        raise ValueError(f"{path}: the header gives the shape {shape} but the file holds {len(data) - header} "
                         "values.")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy()


def load_data():
    """Loads Fashion-MNIST: 60,000 training and 10,000 test grayscale images of 28x28 in 10 classes.

    Returns:
        ((x_train, y_train), (x_test, y_test)): x_train uint8 (60000, 28, 28), y_train uint8 (60000,),
        x_test uint8 (10000, 28, 28), y_test uint8 (10000,); labels 0 to 9 (names in `CLASS_NAMES`).

    Raises:
        cnnkit.datasets.DatasetDownloadError: a file is not cached and could not be downloaded (the message
            says where to put it by hand).
        cnnkit.datasets.DatasetHashError: a cached or downloaded file is corrupted.

    Example:
        >>> from cnnkit.datasets import fashion_mnist
        >>> (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
        >>> x_test.shape, y_test.shape
        ((10000, 28, 28), (10000,))
    """
    paths = {fname: get_file(fname, BASE_URL + fname, file_hash, cache_subdir=CACHE_SUBDIR)
             for fname, file_hash in FILES.items()}
    splits = []
    for part in ("train", "t10k"):
        labels = read_idx(paths[f"{part}-labels-idx1-ubyte.gz"], 1)
        images = read_idx(paths[f"{part}-images-idx3-ubyte.gz"], 3)
        if len(images) != len(labels):
            raise ValueError(f"Fashion-MNIST {part}: {len(images)} images but {len(labels)} labels.")
        splits.append((images, labels))
    return splits[0], splits[1]
