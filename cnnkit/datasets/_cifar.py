"""Reading the official CIFAR-10 / CIFAR-100 "python version" files without extracting them and without
unpickling anything but numpy arrays.

The official archives hold Python 2 pickles of dicts: b'data' a (n, 3072) uint8 array whose rows are an image in
channel-major order (1024 red, 1024 green, 1024 blue values, each row by row), and the labels as lists of ints
(b'labels' for CIFAR-10, b'fine_labels' and b'coarse_labels' for CIFAR-100). They are read with
`RestrictedUnpickler`, which can only rebuild numpy arrays: any other global (os.system, builtins.eval, ...)
raises `pickle.UnpicklingError`.

Where the files are looked for, in order (the layouts Keras uses are read as they are):

1. cnnkit's cache: `~/.cnnkit/datasets/<archive>` (e.g. cifar-10-python.tar.gz), hash checked.
2. Keras's extracted folders: `~/.keras/datasets/cifar-10-batches-py-target/cifar-10-batches-py/` (Keras 3) and
   `~/.keras/datasets/cifar-10-batches-py/` (Keras 2 and early Keras 3).
3. Keras's archives: `~/.keras/datasets/cifar-10-batches-py-target_archive` (Keras 3),
   `~/.keras/datasets/cifar-10-batches-py.tar.gz` (Keras 2), `~/.keras/datasets/<archive>`.
4. A download into cnnkit's cache.
"""

import io
import os
import pickle
import tarfile

import numpy as np

from cnnkit.datasets._files import cached_file
from cnnkit.datasets._files import get_file
from cnnkit.datasets._files import keras_cache_dir

_ARRAY = np.zeros(1, np.uint8)
_ALLOWED_GLOBALS = {
    # What numpy arrays pickle to: the reconstruct function (numpy < 2 and >= 2 module names), ndarray, dtype;
    # with pickle protocol 5, numpy >= 1.16 uses _frombuffer instead of _reconstruct.
    ("numpy.core.multiarray", "_reconstruct"): _ARRAY.__reduce__()[0],
    ("numpy._core.multiarray", "_reconstruct"): _ARRAY.__reduce__()[0],
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.numeric", "_frombuffer"): _ARRAY.__reduce_ex__(5)[0],
    ("numpy._core.numeric", "_frombuffer"): _ARRAY.__reduce_ex__(5)[0],
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds dicts, lists, strings, numbers and numpy arrays, and nothing else.

    Example:
        >>> RestrictedUnpickler(io.BytesIO(pickle.dumps({b"data": [1, 2]})), encoding="bytes").load()
        {b'data': [1, 2]}
    """

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"Refusing to unpickle the global '{module}.{name}': CIFAR batch files only hold numpy arrays, "
                "lists and numbers. The file may be corrupted or malicious."
            ) from None


def load_batch(data, source, label_key):
    """Unpickles one CIFAR batch (the bytes of a batch file).

    Args:
        data: the pickle, as bytes.
        source: the file it came from, for error messages.
        label_key: 'labels', 'fine_labels' or 'coarse_labels'.

    Returns:
        (images uint8 (n, 3, 32, 32), labels int64 (n,)).
    """
    batch = RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    if not isinstance(batch, dict):
        raise ValueError(f"{source} is not a CIFAR batch: it holds a {type(batch).__name__}, not a dict.")
    batch = {key.decode("utf-8") if isinstance(key, bytes) else key: value for key, value in batch.items()}
    for key in ("data", label_key):
        if key not in batch:
            raise ValueError(f"{source} is not a CIFAR batch with {label_key!r}: it has no {key!r} entry "
                             f"(entries: {', '.join(map(str, batch))}).")
    images = batch["data"]
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2 or \
            images.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{source}: 'data' must be a uint8 array of shape (n, 3072).")
    labels = np.asarray(batch[label_key])
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{source}: {label_key!r} must hold {len(images)} integers.")
    return images.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _read_archive(path, folder, names):
    """{name: bytes} for the members `folder/name` of the tar archive at `path`, read in one pass."""
    wanted = {f"{folder}/{name}": name for name in names}
    found = {}
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                name = wanted.get(member.name)
                if name is None:
                    continue
                if name in found:
                    raise ValueError(f"The archive {path} holds {member.name} twice.")
                if not member.isfile():
                    raise ValueError(f"In the archive {path}, {member.name} is not a regular file.")
                found[name] = archive.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError) as err:
        raise ValueError(f"{path} is not a readable CIFAR archive ({type(err).__name__}: {err}).") from err
    missing = [f"{folder}/{name}" for name in names if name not in found]
    if missing:
        raise ValueError(f"The archive {path} has no member {', '.join(missing)}; is it the official file?")
    return found


def _read_folder(path, names):
    found = {}
    for name in names:
        with open(os.path.join(path, name), "rb") as f:
            found[name] = f.read()
    return found


def read_batch_files(archive, origin, file_hash, folder, names):
    """The bytes of the batch files `names` of a CIFAR release, from a cache or downloaded.

    Args:
        archive: the official archive's file name, e.g. 'cifar-10-python.tar.gz'.
        origin: its URL.
        file_hash: its sha256.
        folder: the folder the archive holds the batches in, e.g. 'cifar-10-batches-py'.
        names: the batch file names in that folder.

    Returns:
        {name: bytes}, and the path they were read from (for error messages).
    """
    path = cached_file(archive, file_hash, keras_paths=())
    if path is None:
        keras_dir = keras_cache_dir()
        for extracted in (os.path.join(keras_dir, f"{folder}-target", folder), os.path.join(keras_dir, folder)):
            if all(os.path.isfile(os.path.join(extracted, name)) for name in names):
                return _read_folder(extracted, names), extracted
        keras_archives = [f"{folder}-target_archive", f"{folder}.tar.gz", archive]
        path = get_file(archive, origin, file_hash, keras_paths=keras_archives)
    return _read_archive(path, folder, names), path


def load_release(archive, origin, file_hash, folder, parts, label_key):
    """Loads a CIFAR release as Keras does: uint8 images (n, 32, 32, 3) and labels (n, 1).

    Args:
        archive, origin, file_hash, folder: as for `read_batch_files`.
        parts: (train batch names, test batch names).
        label_key: the labels to return ('labels', 'fine_labels' or 'coarse_labels').

    Returns:
        ((x_train, y_train), (x_test, y_test)) with int64 labels of shape (n, 1).
    """
    names = [name for part in parts for name in part]
    files, source = read_batch_files(archive, origin, file_hash, folder, names)
    splits = []
    for part in parts:
        batches = [load_batch(files[name], os.path.join(source, name), label_key) for name in part]
        images = np.concatenate([images for images, _ in batches])
        labels = np.concatenate([labels for _, labels in batches])
        # channels_last, stored contiguously: (n, 3, 32, 32) -> (n, 32, 32, 3).
        splits.append((np.ascontiguousarray(images.transpose(0, 2, 3, 1)), labels.reshape(-1, 1)))
    return splits[0], splits[1]
