"""Atomic file writes: write to a temporary file in the same folder, then rename over the target.

A temporary file is named `.{target name}.{8 random hex}.{writer}.tmp`, where `writer` is `{machine}-{pid}`: the
writing process's pid and a tag of the machine (host name and pid namespace). A process killed while writing
(SIGKILL, power loss) leaves its temporary file behind; the next save to the same target removes the ones that are
stale: written on this machine by a process that no longer runs, or (other machines, older names) not modified for
`STALE_AFTER` seconds. A concurrent writer's file is never touched.
"""

import contextlib
import os
import re
import secrets
import socket
import stat
import time
import zlib

STALE_AFTER = 24 * 3600  # seconds: a temporary file of another machine, untouched this long, is left over
_WRITER = re.compile(r"[0-9a-f]{8}(?:\.(?P<machine>[0-9a-f]{8})-(?P<pid>[0-9]+))?")
_machine_tag = None


def machine_tag():
    """8 hex digits naming this machine and pid namespace (two containers sharing a host name have different
    pid namespaces, so a pid means one process)."""
    global _machine_tag  # noqa: PLW0603
    if _machine_tag is None:
        try:
            namespace = os.stat("/proc/self/ns/pid").st_ino
        except OSError:
            namespace = 0
        _machine_tag = f"{zlib.crc32(f'{socket.gethostname()}:{namespace}'.encode()):08x}"
    return _machine_tag


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process (or a pid too large to be ours)
        return True
    return True


def is_stale_temporary(directory, name, base):
    """Whether `name` in `directory` is a temporary file left by an interrupted atomic write of `base`."""
    prefix = f".{base}."
    if not (name.startswith(prefix) and name.endswith(".tmp")):
        return False
    match = _WRITER.fullmatch(name[len(prefix):-len(".tmp")])
    if match is None:
        return False
    if match["machine"] == machine_tag():
        return not _running(int(match["pid"]))
    try:
        return time.time() - os.lstat(os.path.join(directory, name)).st_mtime > STALE_AFTER
    except OSError:
        return False


def remove_stale_temporaries(path):
    """Removes the temporary files that interrupted atomic writes of `path` left next to it; returns their
    names."""
    directory, base = os.path.split(os.path.abspath(os.fspath(path)))
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for name in names:
        if is_stale_temporary(directory, name, base):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(directory, name))
                removed.append(name)
    return removed


def _create_temporary(directory, base):
    """Creates an empty file next to the target with the permissions a plain open() would give (0o666 less the
    umask; tempfile.mkstemp's 0o600 would make every saved file private to its owner)."""
    writer = f"{machine_tag()}-{os.getpid()}"
    for _ in range(100):
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(4)}.{writer}.tmp")
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
    file; temporary files left by earlier writers of `path` that were killed are removed first (see the module
    docstring). The new file gets the permissions of the file it replaces, or those of a newly created file.

    Example:
        >>> with atomic_path("model.weights.h5") as tmp, h5py.File(tmp, "w") as f:
        ...     f["x"] = 1
    """
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it.")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    remove_stale_temporaries(path)
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
