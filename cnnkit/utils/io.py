"""Atomic file writes: write to a temporary file in the same folder, then rename over the target."""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path, overwrite=True):
    """Yields a temporary path next to `path`; on success it replaces `path` in one rename.

    A crash or exception while writing leaves any previous file at `path` untouched.
    """
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it.")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
