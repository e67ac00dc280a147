"""Model and weights files are untrusted input: the checks every read goes through before it allocates memory.

- HDF5 datasets (`.h5`, `.hdf5`, `.weights.h5`, the one inside a `.keras` archive) are read only when they are
  stored in the file itself (no external storage, no virtual dataset, no external link), hold plain numbers, have
  the shape the model expects (checked on the declared shape, before any data is read) and declare no more bytes
  than their storage can hold: at most `MAX_EXPANSION` times the bytes stored (deflate, the strongest filter HDF5
  files use, cannot exceed about 1032:1).
- `.keras` archives: member names must be plain relative names, each member's declared uncompressed size and the
  total are checked against limits before anything is inflated, and members are read through a reader that stops
  at the limit even when a member's header lies about its size.

Every refusal is a ValueError naming the file and the dataset or member.
"""

import math
import warnings
import zipfile

import h5py
import numpy as np

MAX_EXPANSION = 1100
SMALL_DATASET_BYTES = 1 << 16  # below this, a dataset's declared size is harmless whatever it stores
CONFIG_LIMIT = 64 << 20  # config.json: a ConvNeXtXLarge config is ~0.3 MB
METADATA_LIMIT = 1 << 20
ASSETS_LIMIT = 64 << 20
WEIGHTS_OVERHEAD = 16 << 20  # HDF5 structure around the weights
WEIGHTS_PER_DATASET = 16 << 10
WEIGHTS_MULTIPLE = 8  # weights, up to three optimizer slots per weight, float64 files
_NUMBER_KINDS = "fiub"


# ---- HDF5 ---------------------------------------------------------------------------------------------------


def child(group, name, source, kind=None):
    """`group[name]`, refusing links to other files; None when there is no such entry.

    Args:
        group: an h5py Group.
        name: the entry's name in it.
        source: the file, for messages.
        kind: h5py.Dataset or h5py.Group to require that kind of object.
    """
    try:
        link = group.get(name, getlink=True)
    except (KeyError, TypeError, RuntimeError, ValueError):
        return None
    if link is None:
        return None
    where = f"{group.name.rstrip('/')}/{name}"
    if isinstance(link, h5py.ExternalLink):
        raise ValueError(f"{source}: '{where}' is a link to another file ({link.filename!r}); weights files must "
                         "hold their data themselves.")
    obj = group[name]
    if kind is not None and not isinstance(obj, kind):
        raise ValueError(f"{source} is damaged: '{where}' is not an HDF5 {kind.__name__.lower()}.")
    return obj


def name_list(group, key, source):
    """The attribute `key` of `group` as a list of names (a tf.keras file's 'layer_names' / 'weight_names');
    [] when absent, a ValueError naming the file when it is not a list of strings."""
    value = group.attrs.get(key)
    if value is None:
        return []
    array = np.asarray(value)
    if array.ndim == 1 and array.size == 0:
        return []  # h5py stores an empty list as float64
    if array.ndim != 1 or array.dtype.kind not in "SUO":
        raise ValueError(f"{source} is damaged: attribute '{key}' of '{group.name}' must be a list of names. "
                         f"Received: {array.dtype} of shape {array.shape}")
    names = [n.decode("utf8") if isinstance(n, bytes) else n for n in array.tolist()]
    if not all(isinstance(n, str) for n in names):
        raise ValueError(f"{source} is damaged: attribute '{key}' of '{group.name}' must be a list of names.")
    return names


def dataset_shape(dset, source):
    """The declared shape of a dataset whose storage and type are safe to read; raises ValueError otherwise.

    Nothing is read: external storage, virtual datasets, non-numeric types and declared sizes far beyond the
    bytes stored are refused from the dataset's metadata.
    """
    where = f"{source}: dataset '{dset.name}'"
    if dset.is_virtual:
        raise ValueError(f"{where} is a virtual dataset (its data lives in other files); refused.")
    if dset.external:
        files = [entry[0] for entry in dset.external]
        raise ValueError(f"{where} is stored in external file(s) {files}; weights files must hold their data "
                         "themselves. Refused.")
    shape = dset.shape
    if shape is None:
        raise ValueError(f"{where} has no data (an empty dataspace).")
    dtype = dset.dtype
    if dtype.kind not in _NUMBER_KINDS or dtype.fields is not None or dtype.subdtype is not None \
            or dtype.itemsize > 8:
        raise ValueError(f"{where} holds {dtype} values; weights are numbers (float, int or bool).")
    declared = math.prod(shape) * dtype.itemsize
    stored = dset.id.get_storage_size()
    if declared > SMALL_DATASET_BYTES and declared > MAX_EXPANSION * stored:
        raise ValueError(f"{where} declares shape {tuple(shape)} ({declared:,} bytes) but stores only {stored:,} "
                         "bytes; refused (damaged or hostile file).")
    return tuple(shape)


def read_dataset(dset, source, expected_shape=None, max_bytes=None):
    """The dataset's values as a numpy array, after `dataset_shape`'s checks and the caller's limits.

    Args:
        dset: an h5py Dataset.
        source: the file, for messages.
        expected_shape: the shape the model expects, checked before reading (None: any shape).
        max_bytes: the most bytes the caller accepts (None: no limit beyond `dataset_shape`'s).
    """
    shape = dataset_shape(dset, source)
    if expected_shape is not None and shape != tuple(expected_shape):
        raise ValueError(f"{source}: dataset '{dset.name}' has shape {shape}, expected {tuple(expected_shape)}.")
    declared = math.prod(shape) * dset.dtype.itemsize
    if max_bytes is not None and declared > max_bytes:
        raise ValueError(f"{source}: dataset '{dset.name}' declares shape {shape} ({declared:,} bytes), more than "
                         f"any weight of the model ({max_bytes:,} bytes at most); refused.")
    return np.asarray(dset[()])


# ---- configs -----------------------------------------------------------------------------------------------

MAX_CONFIG_DEPTH = 200  # a model nested in a model ... 20 deep is ~100 levels of JSON


def check_depth(value, where):
    """Raises ValueError when the JSON value `value` nests deeper than MAX_CONFIG_DEPTH (checked without
    recursion, so that no RecursionError can come out of the code that reads it later)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise ValueError(f"{where} is nested more than {MAX_CONFIG_DEPTH} levels deep; refused.")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


# ---- .keras archives ----------------------------------------------------------------------------------------


def weights_limit(model):
    """The most bytes a `.keras` archive's model.weights.h5 may inflate to for `model`: a generous multiple of
    the model's own weight bytes (weights, optimizer slots, float64 files) plus the HDF5 structure."""
    weights = list(model.weights)
    weight_bytes = sum(int(w.numel()) * w.element_size() for w in weights)
    return WEIGHTS_MULTIPLE * weight_bytes + WEIGHTS_OVERHEAD + WEIGHTS_PER_DATASET * 4 * len(weights)


def _check_name(name, path):
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or ".." in parts or ":" in name or "\x00" in name or not name:
        raise ValueError(f"{path}: archive member {name!r} has a path-like name (absolute, '..', backslash or "
                         "drive); refused.")
    if name in ("config.json", "metadata.json", "model.weights.h5") or parts[0] == "assets":
        return True
    return False


class Archive:
    """A `.keras` archive opened for bounded reads.

    Member names are checked on opening (path-like names are refused, members Keras does not write are ignored
    with a warning and never inflated), and each read checks the member's declared size, then reads at most that
    many bytes.

    Args:
        path: the archive.
        what: the calling function, for messages.

    Example:
        >>> with Archive("model.keras", "load_model") as archive:
        ...     config = archive.read("config.json", CONFIG_LIMIT)
    """

    def __init__(self, path, what):
        self.path, self.what = path, what
        self._zip = zipfile.ZipFile(path)
        try:
            self._index(path, what)
        except BaseException:
            self._zip.close()
            raise

    def _index(self, path, what):
        infos = self._zip.infolist()
        self.members, seen, ignored = {}, set(), []
        for info in infos:
            if info.filename in seen:
                raise ValueError(f"{what}: {path} holds member {info.filename!r} twice; refused.")
            seen.add(info.filename)
            if _check_name(info.filename, path):
                self.members[info.filename] = info
            elif not info.is_dir():
                ignored.append(info.filename)
        if ignored:
            warnings.warn(f"{what}: {path} holds members a Keras archive does not have, ignored (never read): "
                          f"{ignored[:10]}", UserWarning, stacklevel=4)
        self.total_declared = sum(info.file_size for info in self.members.values())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._zip.close()

    def names(self):
        return list(self.members)

    def check_total(self, limit):
        if self.total_declared > limit:
            raise ValueError(f"{self.what}: {self.path} declares {self.total_declared:,} bytes of content, more "
                             f"than a model of this size needs ({limit:,} bytes at most); refused.")

    def read(self, name, limit):
        """The member's bytes; ValueError when it declares or inflates to more than `limit` bytes."""
        info = self.members[name]
        if info.file_size > limit:
            raise ValueError(f"{self.what}: {self.path}: member {name!r} declares {info.file_size:,} bytes, more "
                             f"than {limit:,} (the limit for it); refused.")
        chunks, total = [], 0
        with self._zip.open(info) as member:
            while True:
                chunk = member.read(min(1 << 20, limit + 1 - total))
                if not chunk:
                    break
                total += len(chunk)
                if total > limit:
                    raise ValueError(f"{self.what}: {self.path}: member {name!r} inflates beyond {limit:,} bytes "
                                     "(its header lies about its size); refused.")
                chunks.append(chunk)
        return b"".join(chunks)
