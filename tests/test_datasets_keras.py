"""cnnkit.datasets.{mnist, fashion_mnist, cifar10, cifar100} and the file cache, on small files in the official
formats written to tmp_path: nothing is ever downloaded (urlopen is only allowed for file:// and localhost)."""

import gzip
import hashlib
import importlib
import io
import os
import pickle
import socket
import struct
import tarfile
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest

from cnnkit.datasets import DatasetDownloadError
from cnnkit.datasets import DatasetHashError
from cnnkit.datasets import _cifar
from cnnkit.datasets import _files
from cnnkit.datasets import cifar10
from cnnkit.datasets import cifar100
from cnnkit.datasets import fashion_mnist
from cnnkit.datasets import mnist


@pytest.fixture
def home(tmp_path, monkeypatch):
    """Empty cnnkit and Keras caches under tmp_path, and a urlopen that refuses anything but local URLs."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path / "cnnkit"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    real_urlopen = urllib.request.urlopen

    def local_only(url, *args, **kwargs):
        parts = urllib.parse.urlsplit(url)
        assert parts.scheme == "file" or parts.hostname == "127.0.0.1", f"a test tried to download {url}"
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", local_only)
    return tmp_path


def _sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _keras_module(keras, name):
    return importlib.import_module(f"keras.src.datasets.{name}")


# ----------------------------------------------------------------------------------------------------- MNIST


def _write_mnist(path, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {"x_train": rng.integers(0, 256, (7, 28, 28), dtype=np.uint8), "y_train": rng.integers(0, 10, 7).astype(
        np.uint8), "x_test": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), "y_test": np.array([1, 2, 9], np.uint8)}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez_compressed(path, **arrays)
    return arrays


def test_mnist_from_cnnkit_cache_matches_keras(home, monkeypatch, keras):
    path = home / "cnnkit" / "datasets" / "mnist.npz"
    arrays = _write_mnist(path)
    monkeypatch.setattr(mnist, "FILE_HASH", _sha256(path))
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    for name, value in zip(("x_train", "y_train", "x_test", "y_test"), (x_train, y_train, x_test, y_test)):
        np.testing.assert_array_equal(value, arrays[name])
        assert value.dtype == np.uint8
    kmod = _keras_module(keras, "mnist")
    monkeypatch.setattr(kmod, "get_file", lambda **kwargs: str(path))
    expected = kmod.load_data()
    for ours, theirs in zip((x_train, y_train, x_test, y_test), (*expected[0], *expected[1])):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("keras_home_set", [True, False])
def test_mnist_in_keras_cache_is_used_as_is(home, monkeypatch, keras_home_set):
    if keras_home_set:
        path = home / "keras" / "datasets" / "mnist.npz"
    else:
        monkeypatch.delenv("KERAS_HOME")
        path = home / "home" / ".keras" / "datasets" / "mnist.npz"
    arrays = _write_mnist(path)  # its hash is not the official one: Keras's cache is trusted as it is
    (x_train, _), (_, y_test) = mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])
    assert not (home / "cnnkit").exists()


def test_cnnkit_cache_comes_before_keras_cache(home, monkeypatch):
    ours = _write_mnist(home / "cnnkit" / "datasets" / "mnist.npz", seed=1)
    _write_mnist(home / "keras" / "datasets" / "mnist.npz", seed=2)
    monkeypatch.setattr(mnist, "FILE_HASH", _sha256(home / "cnnkit" / "datasets" / "mnist.npz"))
    (x_train, _), _ = mnist.load_data()
    np.testing.assert_array_equal(x_train, ours["x_train"])


def test_corrupted_file_in_cnnkit_cache_raises_with_both_hashes(home):
    path = home / "cnnkit" / "datasets" / "mnist.npz"
    _write_mnist(path)
    with pytest.raises(DatasetHashError) as info:
        mnist.load_data()
    message = str(info.value)
    assert str(path) in message and mnist.FILE_HASH in message and _sha256(path) in message


def test_mnist_offline_error_names_file_url_and_folder(home, monkeypatch):
    missing = (home / "nowhere" / "mnist.npz").as_uri()
    monkeypatch.setattr(mnist, "ORIGIN", missing)
    with pytest.raises(DatasetDownloadError) as info:
        mnist.load_data()
    assert isinstance(info.value, OSError)
    message = str(info.value)
    assert "'mnist.npz'" in message and missing in message and str(home / "cnnkit" / "datasets") in message
    assert not (home / "cnnkit" / "datasets" / "mnist.npz").exists()


def test_mnist_path_must_be_a_file_name(home):
    with pytest.raises(ValueError, match="plain file name"):
        mnist.load_data(path=os.path.join("sub", "mnist.npz"))


# --------------------------------------------------------------------------------------------- Fashion-MNIST


def _write_idx(path, array, magic):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _write_fashion(folder, rng):
    data = {"train": (rng.integers(0, 256, (5, 28, 28)), rng.integers(0, 10, 5)),
            "t10k": (rng.integers(0, 256, (2, 28, 28)), np.array([0, 9]))}
    for part, (images, labels) in data.items():
        _write_idx(os.path.join(folder, f"{part}-images-idx3-ubyte.gz"), images, 0x803)
        _write_idx(os.path.join(folder, f"{part}-labels-idx1-ubyte.gz"), labels, 0x801)
    return data


def test_fashion_mnist_from_cnnkit_cache_matches_keras(home, monkeypatch, rng, keras):
    folder = home / "cnnkit" / "datasets" / "fashion-mnist"
    data = _write_fashion(folder, rng)
    monkeypatch.setattr(fashion_mnist, "FILES", {name: _sha256(folder / name) for name in fashion_mnist.FILES})
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    np.testing.assert_array_equal(x_train, data["train"][0])
    np.testing.assert_array_equal(y_train, data["train"][1])
    np.testing.assert_array_equal(x_test, data["t10k"][0])
    np.testing.assert_array_equal(y_test, data["t10k"][1])
    kmod = _keras_module(keras, "fashion_mnist")
    monkeypatch.setattr(kmod, "get_file", lambda fname, origin, cache_subdir: str(folder / fname))
    expected = kmod.load_data()
    for ours, theirs in zip((x_train, y_train, x_test, y_test), (*expected[0], *expected[1])):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == np.uint8
        np.testing.assert_array_equal(ours, theirs)


def test_fashion_mnist_from_keras_cache_and_bad_magic(home, rng):
    folder = home / "keras" / "datasets" / "fashion-mnist"  # where Keras puts the four files
    data = _write_fashion(folder, rng)
    (x_train, y_train), _ = fashion_mnist.load_data()
    np.testing.assert_array_equal(x_train, data["train"][0])
    np.testing.assert_array_equal(y_train, data["train"][1])
    _write_idx(str(folder / "t10k-labels-idx1-ubyte.gz"), np.array([1, 2]), 0x803)
    with pytest.raises(ValueError, match="magic number"):
        fashion_mnist.load_data()


# ---------------------------------------------------------------------------------------------------- CIFAR


class _Py2Pickler(pickle._Pickler):
    """Writes pickles the way the official CIFAR files were written (Python 2, protocol 2): every string is a
    byte string (BINSTRING) and numpy arrays name `numpy.core.multiarray._reconstruct`."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_str8(self, obj):
        obj = obj.encode("latin-1") if isinstance(obj, str) else obj
        size = len(obj)
        head = pickle.SHORT_BINSTRING + bytes([size]) if size < 256 else pickle.BINSTRING + struct.pack("<i", size)
        self.write(head + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_str8
    dispatch[str] = _save_str8

    def save_global(self, obj, name=None):
        module = {"numpy._core.multiarray": "numpy.core.multiarray"}.get(obj.__module__, obj.__module__)
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
        self.memoize(obj)


def _py2_pickle(obj):
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def _cifar_batches(rng, sizes, label_keys):
    batches = {}
    for name, size in sizes.items():
        batch = {b"batch_label": f"{name} of 5".encode(), b"data": rng.integers(0, 256, (size, 3072), dtype=np.uint8),
                 b"filenames": [f"img_{i}.png".encode() for i in range(size)]}
        for key, classes in label_keys.items():
            batch[key] = [int(v) for v in rng.integers(0, classes, size)]
        batches[name] = batch
    return batches


def _write_tar(path, folder, batches, extra=()):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, content in [*((n, _py2_pickle(b)) for n, b in batches.items()), *extra]:
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))


def _write_folder(folder, batches):
    os.makedirs(folder, exist_ok=True)
    for name, batch in batches.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(_py2_pickle(batch))


def _channels_last(rows):
    """Independent of the loader: pixel (i, r, c, ch) is rows[i, ch * 1024 + r * 32 + c]."""
    n = len(rows)
    i, r, c, ch = np.meshgrid(np.arange(n), np.arange(32), np.arange(32), np.arange(3), indexing="ij")
    return rows[i, ch * 1024 + r * 32 + c]


CIFAR10_SIZES = {"data_batch_1": 3, "data_batch_2": 2, "data_batch_3": 4, "data_batch_4": 1, "data_batch_5": 2,
                 "test_batch": 3}


def _expected_cifar10(batches):
    train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
    x_train = _channels_last(np.concatenate([b[b"data"] for b in train]))
    y_train = np.array([v for b in train for v in b[b"labels"]], np.uint8).reshape(-1, 1)
    return (x_train, y_train), (_channels_last(batches["test_batch"][b"data"]),
                                np.array(batches["test_batch"][b"labels"], np.uint8).reshape(-1, 1))


def _check_same(result, expected):
    for ours, theirs in zip((*result[0], *result[1]), (*expected[0], *expected[1])):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)


def test_cifar10_from_cnnkit_cache(home, monkeypatch, rng, keras):
    batches = _cifar_batches(rng, CIFAR10_SIZES, {b"labels": 10})
    path = home / "cnnkit" / "datasets" / "cifar-10-python.tar.gz"
    _write_tar(path, "cifar-10-batches-py", batches, extra=[("batches.meta", _py2_pickle({b"num_cases_per_batch": 3})),
                                                            ("readme.html", b"<html></html>")])
    monkeypatch.setattr(cifar10, "FILE_HASH", _sha256(path))
    result = cifar10.load_data()
    _check_same(result, _expected_cifar10(batches))
    (x_train, y_train), (x_test, y_test) = result
    assert x_train.shape == (12, 32, 32, 3) and y_train.shape == (12, 1) and x_test.shape == (3, 32, 32, 3)
    assert x_train.dtype == y_train.dtype == x_test.dtype == y_test.dtype == np.uint8
    # Keras's own batch reader on the same pickle gives the same channel-major images and labels.
    load_batch = importlib.import_module("keras.src.datasets.cifar").load_batch
    batch_file = home / "test_batch"
    batch_file.write_bytes(_py2_pickle(batches["test_batch"]))
    images, labels = load_batch(str(batch_file))
    np.testing.assert_array_equal(x_test, images.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y_test[:, 0], labels)


@pytest.mark.parametrize("layout", ["extracted-keras3", "extracted-keras2", "archive-keras3", "archive-keras2"])
def test_cifar10_from_keras_cache_layouts(home, rng, layout):
    batches = _cifar_batches(rng, CIFAR10_SIZES, {b"labels": 10})
    datasets = home / "keras" / "datasets"
    if layout == "extracted-keras3":
        _write_folder(datasets / "cifar-10-batches-py-target" / "cifar-10-batches-py", batches)
    elif layout == "extracted-keras2":
        _write_folder(datasets / "cifar-10-batches-py", batches)
    else:
        name = "cifar-10-batches-py-target_archive" if layout == "archive-keras3" else "cifar-10-batches-py.tar.gz"
        _write_tar(datasets / name, "cifar-10-batches-py", batches)
    _check_same(cifar10.load_data(), _expected_cifar10(batches))


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_matches_keras(home, monkeypatch, rng, keras, label_mode):
    batches = _cifar_batches(rng, {"train": 5, "test": 4}, {b"fine_labels": 100, b"coarse_labels": 20})
    path = home / "cnnkit" / "datasets" / "cifar-100-python.tar.gz"
    _write_tar(path, "cifar-100-python", batches)
    monkeypatch.setattr(cifar100, "FILE_HASH", _sha256(path))
    result = cifar100.load_data(label_mode=label_mode)
    key = f"{label_mode}_labels".encode()
    expected = ((_channels_last(batches["train"][b"data"]), np.array(batches["train"][key]).reshape(-1, 1)),
                (_channels_last(batches["test"][b"data"]), np.array(batches["test"][key]).reshape(-1, 1)))
    _check_same(result, expected)
    extracted = home / "keras-extracted"
    _write_folder(extracted / "cifar-100-python", batches)
    kmod = _keras_module(keras, "cifar100")
    monkeypatch.setattr(kmod, "get_file", lambda **kwargs: str(extracted))
    _check_same(result, kmod.load_data(label_mode=label_mode))  # dtypes too: Keras's CIFAR-100 labels are int64


def test_cifar100_bad_label_mode(home):
    with pytest.raises(ValueError, match="'fine', 'coarse'"):
        cifar100.load_data(label_mode="medium")


def test_cifar_archive_member_checks(home, monkeypatch, rng):
    batches = _cifar_batches(rng, CIFAR10_SIZES, {b"labels": 10})
    path = home / "cnnkit" / "datasets" / "cifar-10-python.tar.gz"
    del batches["data_batch_3"]
    _write_tar(path, "cifar-10-batches-py", batches)
    monkeypatch.setattr(cifar10, "FILE_HASH", _sha256(path))
    with pytest.raises(ValueError, match="no member cifar-10-batches-py/data_batch_3"):
        cifar10.load_data()
    with tarfile.open(path, "w:gz") as archive:  # a symbolic link in place of a batch file
        link = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    monkeypatch.setattr(cifar10, "FILE_HASH", _sha256(path))
    with pytest.raises(ValueError, match="not a regular file"):
        cifar10.load_data()


class _Evil:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_restricted_unpickler_refuses_os_system(home, monkeypatch, rng):
    marker = home / "pwned"
    evil = {b"data": _Evil(f"touch {marker}"), b"labels": [0]}
    for payload in (pickle.dumps(evil, protocol=4), _py2_pickle(evil)):
        with pytest.raises(pickle.UnpicklingError, match="system"):
            _cifar.RestrictedUnpickler(io.BytesIO(payload), encoding="bytes").load()
    batches = _cifar_batches(rng, CIFAR10_SIZES, {b"labels": 10})
    path = home / "cnnkit" / "datasets" / "cifar-10-python.tar.gz"
    _write_tar(path, "cifar-10-batches-py", {k: v for k, v in batches.items() if k != "test_batch"},
               extra=[("test_batch", payload)])
    monkeypatch.setattr(cifar10, "FILE_HASH", _sha256(path))
    with pytest.raises(pickle.UnpicklingError):
        cifar10.load_data()
    assert not marker.exists()


def test_restricted_unpickler_reads_numpy_arrays_of_any_protocol():
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    # Python 3's protocol 2 pickles bytes through _codecs.encode, which is refused; Python 2's did not (below).
    for protocol in range(3, pickle.HIGHEST_PROTOCOL + 1):
        value = _cifar.RestrictedUnpickler(io.BytesIO(pickle.dumps({b"data": array}, protocol=protocol)),
                                           encoding="bytes")
        np.testing.assert_array_equal(value.load()[b"data"], array)
    loaded = _cifar.RestrictedUnpickler(io.BytesIO(_py2_pickle({b"data": array})), encoding="bytes").load()
    np.testing.assert_array_equal(loaded[b"data"], array)


# ------------------------------------------------------------------------------------------------- get_file


def test_cache_dir_defaults(home, monkeypatch):
    assert _files.cache_dir() == str(home / "cnnkit" / "datasets")
    monkeypatch.delenv("CNNKIT_HOME")
    assert _files.cache_dir() == str(home / "home" / ".cnnkit" / "datasets")
    assert _files.keras_cache_dir() == str(home / "keras" / "datasets")
    monkeypatch.delenv("KERAS_HOME")
    assert _files.keras_cache_dir() == str(home / "home" / ".keras" / "datasets")


def test_get_file_downloads_atomically_then_uses_the_cache(home):
    source = home / "source.bin"
    source.write_bytes(os.urandom(3 << 20))  # a few chunks
    digest = _sha256(source)
    path = _files.get_file("data.bin", source.as_uri(), digest, cache_subdir="sub")
    assert path == str(home / "cnnkit" / "datasets" / "sub" / "data.bin")
    assert open(path, "rb").read() == source.read_bytes()
    assert os.listdir(os.path.dirname(path)) == ["data.bin"]  # no temporary file left behind
    source.unlink()
    assert _files.get_file("data.bin", source.as_uri(), digest, cache_subdir="sub") == path


def test_get_file_hash_mismatch_deletes_the_download(home):
    source = home / "source.bin"
    source.write_bytes(b"not the official file")
    expected = "0" * 64
    with pytest.raises(DatasetHashError) as info:
        _files.get_file("data.bin", source.as_uri(), expected)
    message = str(info.value)
    assert "'data.bin'" in message and expected in message and _sha256(source) in message
    folder = home / "cnnkit" / "datasets"
    assert not folder.exists() or os.listdir(folder) == []


def test_get_file_offline_errors_do_not_hang(home):
    missing = (home / "missing.bin").as_uri()
    with pytest.raises(DatasetDownloadError) as info:
        _files.get_file("data.bin", missing, "0" * 64)
    message = str(info.value)
    assert "'data.bin'" in message and missing in message and str(home / "cnnkit" / "datasets") in message
    # A server that accepts the connection and never answers: the timeout ends the wait.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/data.bin"
        start = time.monotonic()
        with pytest.raises(DatasetDownloadError, match="timed out") as info:
            _files.get_file("data.bin", url, "0" * 64, timeout=0.5)
        assert time.monotonic() - start < 10
        assert url in str(info.value) and isinstance(info.value, OSError)
    assert not (home / "cnnkit" / "datasets" / "data.bin").exists()
