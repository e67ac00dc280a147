"""Atomic file writes: write to a temporary file in the same folder, then rename over the target."""

import contextlib
import os
import secrets
import stat


def _create_temporary(directory, base):
    """Creates an empty file next to the target with the permissions a plain open() would give (0o666 less the
    umask; tempfile.mkstemp's 0o600 would make every saved file private to its owner)."""
    for _ in range(100):
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"Could not create a temporary file in {directory} for {base}.")


@contextlib.contextmanager
def atomic_path(path, overwrite=True):
    """Yields a temporary path next to `path`; on success it replaces `path` in one rename.

    A crash or exception while writing leaves any previous file at `path` untouched, and removes the temporary
    file. The new file gets the permissions of the file it replaces, or those of a newly created file.
    """
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it.")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = _create_temporary(directory, os.path.basename(path))
    try:
        yield tmp
        if os.path.exists(path):
            with contextlib.suppress(OSError):
                os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
