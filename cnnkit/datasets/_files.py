"""The file cache for datasets and model weights: find a file locally (cnnkit's cache, then Keras's), else
download it.

Where files are looked for, in order (`cache_root` is 'datasets' for data sets, 'models' for weights files):

1. cnnkit's cache, `cache_dir(cache_root)`: `$CNNKIT_HOME/<cache_root>`, by default `~/.cnnkit/datasets` (or
   `~/.cnnkit/models`). A file there must have the official hash (a mismatch raises `DatasetHashError`).
2. Keras's cache, `keras_cache_dir(cache_root)`: `$KERAS_HOME/<cache_root>`, by default `~/.keras/datasets` (or
   `~/.keras/models`), with the names and folders Keras itself uses. A file there is used as it is (Keras
   checked it when it downloaded it).
3. The official URL. The file is downloaded into cnnkit's cache with urllib (`cnnkit.utils.file_utils.fetch`, the
   core of `cnnkit.utils.get_file`), written to a temporary file, checked
   against the hash and only then renamed into place; a file with the wrong hash is deleted and
   `DatasetHashError` is raised.

Hashes are sha256 (64 hex digits) or md5 (32 hex digits, as Keras publishes for its applications' weights),
told apart by length as Keras's `get_file(hash_algorithm='auto')` does.

Errors:
    DatasetDownloadError (a subclass of `OSError`): the file is in neither cache and the download failed (no
        network, HTTP error, timeout, cache folder not writable). The message names the file, its URL and the
        exact folder to put the file into by hand for offline use.
    DatasetHashError (a subclass of `ValueError`): a downloaded file, or a file in cnnkit's cache, does not have
        the expected hash. The message names the file, the expected and the actual hash.
"""

import http.client
import os
import sys
import urllib.error

from cnnkit.utils.file_utils import DOWNLOAD_TIMEOUT
from cnnkit.utils.file_utils import fetch
from cnnkit.utils.file_utils import hash_file
from cnnkit.utils.io import atomic_path


class DatasetDownloadError(OSError):
    """A dataset (or weights) file is not cached and could not be downloaded; the message says where to put it."""


class DatasetHashError(ValueError):
    """A dataset (or weights) file does not have the expected hash."""


def cache_dir(cache_root="datasets"):
    """cnnkit's cache folder: `$CNNKIT_HOME/<cache_root>`, by default `~/.cnnkit/datasets`.

    Example:
        >>> os.environ["CNNKIT_HOME"] = "/data/cnnkit"
        >>> cache_dir(), cache_dir("models")
        ('/data/cnnkit/datasets', '/data/cnnkit/models')
    """
    home = os.environ.get("CNNKIT_HOME") or os.path.join(os.path.expanduser("~"), ".cnnkit")
    return os.path.join(os.path.expanduser(home), cache_root)


def keras_cache_dir(cache_root="datasets"):
    """Keras's cache folder: `$KERAS_HOME/<cache_root>`, by default `~/.keras/datasets`."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(os.path.expanduser(home), cache_root)


def hash_algorithm(file_hash):
    """'md5' for a 32-digit hex hash, else 'sha256' (Keras's `hash_algorithm='auto'` rule)."""
    return "md5" if file_hash is not None and len(file_hash) == 32 else "sha256"


def sha256_of(path, algorithm="sha256"):
    """The sha256 (or `algorithm`, e.g. 'md5') hex digest of the file at `path`, read in chunks."""
    return hash_file(path, algorithm)


def _check_name(fname):
    fname = os.fspath(fname)
    if not fname or fname in (".", "..") or "/" in fname or os.sep in fname or (os.altsep and os.altsep in fname):
        raise ValueError(f"A cached file name must be a plain file name, without folders. Received: {fname!r}")
    return fname


def cached_file(fname, file_hash=None, cache_subdir="", keras_paths=None, cache_root="datasets"):
    """The local path of a dataset (or weights) file, or None when neither cache holds it.

    Args:
        fname: the file name in cnnkit's cache (under `cache_subdir`).
        file_hash: the expected sha256 (or md5) hex digest, checked for the copy in cnnkit's cache (None: not
            checked).
        cache_subdir: a sub-folder of the cache folders (e.g. 'fashion-mnist'), '' for none.
        keras_paths: the paths relative to Keras's cache folder to try; default: `cache_subdir/fname`. Pass ()
            to look in cnnkit's cache only.
        cache_root: 'datasets' (default) or 'models': the folder under $CNNKIT_HOME and $KERAS_HOME.

    Returns:
        A path (str) or None.

    Raises:
        DatasetHashError: the copy in cnnkit's cache has another hash.
    """
    fname = _check_name(fname)
    target = os.path.join(cache_dir(cache_root), cache_subdir, fname)
    if os.path.isfile(target):
        if file_hash is not None:
            algorithm = hash_algorithm(file_hash)
            actual = sha256_of(target, algorithm)
            if actual != file_hash.lower():
                raise DatasetHashError(
                    f"The cached file {target} is incomplete or corrupted: its {algorithm} is {actual}, expected "
                    f"{file_hash}. Delete it so that it is downloaded again, or replace it with the official file."
                )
        return target
    if keras_paths is None:
        keras_paths = [os.path.join(cache_subdir, fname)]
    for relative in keras_paths:
        candidate = os.path.join(keras_cache_dir(cache_root), relative)
        if os.path.isfile(candidate):
            return candidate
    return None


def download(fname, origin, file_hash=None, cache_subdir="", timeout=None, cache_root="datasets"):
    """Downloads `origin` to `cache_dir(cache_root)/cache_subdir/fname` (atomically) and checks its hash.

    Args:
        fname: the file name in cnnkit's cache.
        origin: the URL (http, https or file).
        file_hash: the expected sha256 (or md5) hex digest (None: not checked).
        cache_subdir: a sub-folder of `cache_dir(cache_root)`, '' for none.
        timeout: seconds without data before giving up (default `DOWNLOAD_TIMEOUT`).
        cache_root: 'datasets' (default) or 'models'.

    Returns:
        The path of the downloaded file.

    Raises:
        DatasetDownloadError: the download failed; nothing is left in the cache.
        DatasetHashError: the downloaded file has another hash; it is deleted.
    """
    fname = _check_name(fname)
    folder = os.path.join(cache_dir(cache_root), cache_subdir) if cache_subdir else cache_dir(cache_root)
    target = os.path.join(folder, fname)
    timeout = DOWNLOAD_TIMEOUT if timeout is None else timeout
    algorithm = hash_algorithm(file_hash)
    print(f"Downloading data from {origin}", file=sys.stderr)
    try:
        with atomic_path(target) as tmp:
            actual = fetch(origin, tmp, timeout, fname, algorithm)
            if file_hash is not None and actual != file_hash.lower():
                # Raised inside atomic_path, so the temporary file is deleted and never reaches `target`.
                raise DatasetHashError(
                    f"The file {fname!r} downloaded from {origin} is incomplete or corrupted and was deleted: its "
                    f"{algorithm} is {actual}, expected {file_hash}."
                )
    except (OSError, ValueError, http.client.HTTPException) as err:
        if isinstance(err, DatasetHashError):
            raise
        reason = err.reason if isinstance(err, urllib.error.URLError) and not isinstance(
            err, urllib.error.HTTPError) else err
        raise DatasetDownloadError(
            f"Could not download {fname!r} from {origin} ({type(reason).__name__}: {reason}). To work offline, "
            f"download that file elsewhere and put it, under the same name, in the folder {folder} (that is, "
            f"{target}). The cache folder is $CNNKIT_HOME/{cache_root}, by default ~/.cnnkit/{cache_root}."
        ) from err
    return target


def get_file(fname, origin, file_hash=None, cache_subdir="", keras_paths=None, timeout=None, cache_root="datasets"):
    """The local path of a dataset (or weights) file: from cnnkit's cache, Keras's cache, or downloaded into
    cnnkit's cache.

    Args:
        fname: the file name in cnnkit's cache (under `cache_subdir`).
        origin: the URL to download from when no cache holds the file.
        file_hash: the expected sha256 (64 hex digits) or md5 (32) digest of the file (checked for cnnkit's copy
            and for a download).
        cache_subdir: a sub-folder of the cache folders, '' for none.
        keras_paths: paths relative to Keras's cache folder to try (default `cache_subdir/fname`).
        timeout: seconds without data before a download is given up (default `DOWNLOAD_TIMEOUT`).
        cache_root: 'datasets' (default) or 'models': the folder under $CNNKIT_HOME and $KERAS_HOME.

    Returns:
        The path of the file (str).

    Raises:
        DatasetDownloadError: the file is not cached and could not be downloaded (an `OSError`).
        DatasetHashError: the file in cnnkit's cache, or the downloaded one, has another hash (a `ValueError`).

    Example:
        >>> path = get_file("mnist.npz", "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        ...                 file_hash="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1")
    """
    path = cached_file(fname, file_hash, cache_subdir, keras_paths, cache_root)
    if path is not None:
        return path
    return download(fname, origin, file_hash, cache_subdir, timeout, cache_root)
