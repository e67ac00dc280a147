"""`get_file` (Keras 3's `keras.utils.get_file`): a file from a URL, cached, checked against its hash, and
optionally extracted; and the download core (`fetch`, `hash_file`) that cnnkit's dataset and weights caches use.

Offline first: a cached file is used without touching the network when no hash is given or its hash matches.
Archives are extracted safely: members that would land outside the extraction folder (`../x`, absolute paths)
and links that point outside it are skipped with a warning, as Keras does.
"""

import hashlib
import http.client
import os
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile

from cnnkit.utils.io import atomic_path

DOWNLOAD_TIMEOUT = 60.0  # seconds without any data (connect or read) before a download is given up
_CHUNK = 1 << 20


class DownloadError(OSError):
    """A file could not be downloaded (no network, HTTP error, timeout); the message names the URL, the reason and
    where to put the file by hand to work offline."""


def resolve_hash_algorithm(algorithm, file_hash=None):
    """'sha256' or 'md5' for `hash_algorithm` ('auto': sha256 for a 64-digit hash, md5 otherwise, as Keras)."""
    if algorithm not in ("auto", "sha256", "md5"):
        raise ValueError(f"get_file: hash_algorithm must be 'auto', 'sha256' or 'md5'. Received: "
                         f"hash_algorithm={algorithm!r}")
    if algorithm == "auto":
        return "sha256" if file_hash is not None and len(str(file_hash)) == 64 else "md5"
    return algorithm


def hash_file(fpath, algorithm="sha256", chunk_size=_CHUNK):
    """The hex digest ('sha256', 'md5', ...) of the file at `fpath`, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def validate_file(fpath, file_hash, algorithm="auto"):
    """Whether the file at `fpath` has the hash `file_hash` (sha256 or md5, see `resolve_hash_algorithm`)."""
    return hash_file(fpath, resolve_hash_algorithm(algorithm, file_hash)) == str(file_hash).lower()


def _progress_bar(total, label):
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415 (only needed while downloading)
    except ImportError:
        return None
    return tqdm(total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                disable=None, leave=False)


def fetch(origin, tmp, timeout, label, algorithm="sha256"):
    """Streams `origin` (http, https or file URL) into the file `tmp`, with a progress bar on stderr; returns the
    `algorithm` digest of what was written. Raises OSError / http.client.HTTPException as urllib does, and
    http.client.IncompleteRead when fewer bytes than announced arrived."""
    digest = hashlib.new(algorithm)
    with urllib.request.urlopen(origin, timeout=timeout) as response, open(tmp, "wb") as out:  # noqa: S310
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        bar = _progress_bar(expected, label)
        written = 0
        try:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                written += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    if expected is not None and written != expected:
        raise http.client.IncompleteRead(b"", expected - written)
    return digest.hexdigest()


# ---- safe extraction --------------------------------------------------------------------------------------------


def _inside(base, relative):
    path = os.path.realpath(os.path.join(base, relative))
    try:
        return os.path.commonpath([path, base]) == base
    except ValueError:
        return False


def _safe_tar_members(archive, base):
    for info in archive:
        if info.issym():
            ok = _inside(base, info.name) and _inside(base, os.path.join(os.path.dirname(info.name), info.linkname))
        elif info.islnk():
            ok = _inside(base, info.name) and _inside(base, info.linkname)
        else:
            ok = _inside(base, info.name) and (info.isfile() or info.isdir())
        if ok:
            yield info
        else:
            warnings.warn(f"Skipping invalid path during archive extraction: '{info.name}'.", stacklevel=3)


def _safe_zip_members(archive, base):
    for info in archive.infolist():
        if _inside(base, info.filename):
            yield info
        else:
            warnings.warn(f"Skipping invalid path during archive extraction: '{info.filename}'.", stacklevel=3)


def extract_archive(file_path, path=".", archive_format="auto"):
    """Extracts a tar (.tar, .tar.gz, .tar.bz2) or zip archive into `path`, skipping unsafe members.

    Args:
        archive_format: 'auto' (tar then zip), 'tar', 'zip', a list of those, or None (no extraction).

    Returns:
        True when the file was an archive of one of those formats and was extracted, else False.
    """
    if archive_format is None:
        return False
    formats = ["tar", "zip"] if archive_format == "auto" else (
        [archive_format] if isinstance(archive_format, str) else list(archive_format))
    for kind in formats:
        if kind not in ("tar", "zip"):
            raise ValueError(f"get_file: archive_format must be 'auto', 'tar', 'zip', a list of those or None. "
                             f"Received: archive_format={archive_format!r}")
    base = os.path.realpath(path)
    for kind in formats:
        if kind == "tar" and tarfile.is_tarfile(file_path):
            os.makedirs(base, exist_ok=True)
            with tarfile.open(file_path) as archive:
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                archive.extractall(base, members=_safe_tar_members(archive, base), **extra)
            return True
        if kind == "zip" and zipfile.is_zipfile(file_path):
            os.makedirs(base, exist_ok=True)
            with zipfile.ZipFile(file_path) as archive:
                archive.extractall(base, members=_safe_zip_members(archive, base))
            return True
    return False


# ---- get_file ---------------------------------------------------------------------------------------------------


def keras_home():
    """Keras's cache root: $KERAS_HOME, else ~/.keras."""
    return os.path.expanduser(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"))


def _download(origin, target, file_hash, algorithm, timeout):
    print(f"Downloading data from {origin}", file=sys.stderr)
    name = os.path.basename(target)
    try:
        with atomic_path(target) as tmp:
            actual = fetch(origin, tmp, timeout, name, algorithm)
            if file_hash is not None and actual != str(file_hash).lower():
                raise ValueError(  # raised inside atomic_path: the temporary file is deleted
                    f"get_file: the file {name!r} downloaded from {origin} is incomplete or corrupted (deleted): "
                    f"its {algorithm} hash is {actual}, expected {file_hash}.")
    except (OSError, http.client.HTTPException) as err:
        reason = err.reason if isinstance(err, urllib.error.URLError) and not isinstance(
            err, urllib.error.HTTPError) else err
        raise DownloadError(
            f"get_file: URL fetch failure on {origin} ({type(reason).__name__}: {reason}). To work offline, put the "
            f"file at {target} (then it is used without downloading; pass file_hash to have it checked).") from err


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """Downloads a file from a URL if it is not already in the cache, as Keras's `keras.utils.get_file`.

    The file goes to `cache_dir/cache_subdir/fname` (default `~/.keras/datasets/fname`, or `$KERAS_HOME/...`), so
    files Keras downloaded are found and reused. A cached file is used without network access when no hash is
    given or its hash matches; with a mismatching hash it is downloaded again.

    Args:
        fname: the local file name; default: the last part of `origin`'s path. With `extract`, a name without an
            extension names the extraction folder.
        origin: the URL (http, https or file).
        untar: deprecated form of `extract=True, archive_format='tar'`.
        md5_hash: deprecated form of `file_hash` with `hash_algorithm='md5'`.
        file_hash: the expected sha256 or md5 hex digest of the file.
        cache_subdir: folder under `cache_dir` (an absolute path is used as is).
        hash_algorithm: 'auto' (sha256 for a 64-digit hash, md5 otherwise), 'sha256' or 'md5'.
        extract: extract the archive (tar, tar.gz, tar.bz2, zip) and return the extraction folder.
        archive_format: 'auto', 'tar', 'zip', a list of those, or None.
        cache_dir: the cache root; default $KERAS_HOME or ~/.keras (/tmp/.keras when not writable).
        force_download: download even if a cached copy exists.

    Returns:
        The path of the downloaded file, or with `extract` the folder it was extracted to:
        `<cache>/<name>_extracted` when `fname` has an extension, `<cache>/<fname>` otherwise.

    Raises:
        ValueError: no `origin`, an `fname` with a folder, a bad `hash_algorithm` or `archive_format`, or a
            downloaded file whose hash differs (the message names the file and both hashes; it is deleted).
        DownloadError: (an OSError) the file is not cached and the download failed.

    Example:
        >>> path = get_file("data.npz", origin="https://example.com/data.npz", file_hash="9f86d081...")
    """
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    algorithm = resolve_hash_algorithm(hash_algorithm, file_hash)
    base = os.path.expanduser(os.fspath(cache_dir)) if cache_dir is not None else keras_home()
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        pass  # not writable: Keras's fallback below
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    datadir = os.path.join(base, os.fspath(cache_subdir))
    os.makedirs(datadir, exist_ok=True)
    given = os.fspath(fname) if fname is not None else None
    if not given:
        name = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not name:
            raise ValueError(f"Can't parse the file name from the origin provided: '{origin}'. Please specify the "
                             "`fname` argument.")
    else:
        if os.sep in given or (os.altsep and os.altsep in given) or given in (".", ".."):
            raise ValueError("Paths are no longer accepted as the `fname` argument. To specify the file's parent "
                             f"directory, use the `cache_dir` argument. Received: fname={given}")
        name = given
    if extract or untar:
        if given and "." in name:
            target = os.path.join(datadir, name)
            extraction_dir = os.path.join(datadir, f"{name[:name.find('.')]}_extracted")
        else:
            extraction_dir = os.path.join(datadir, name)
            target = os.path.join(datadir, f"{name}_archive")
    else:
        target = os.path.join(datadir, name)

    download = force_download or not os.path.exists(target)
    if not download and file_hash is not None and not validate_file(target, file_hash, algorithm):
        print(f"A local file was found, but it seems to be incomplete or outdated because the {algorithm} file hash "
              f"does not match the original value of {file_hash} so we will re-download the data.", file=sys.stderr)
        download = True
    if download:
        _download(origin, target, file_hash, algorithm, DOWNLOAD_TIMEOUT)
    if extract or untar:
        if not extract_archive(target, extraction_dir, "tar" if untar else archive_format):
            warnings.warn("Could not extract archive.", stacklevel=2)
        return extraction_dir
    return target
