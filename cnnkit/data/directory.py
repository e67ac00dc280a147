"""Scanning a class-folder tree and splitting it: natural sort order, extension filter, seeded stratified split.

    data/
      cats/   001.jpg 002.jpg ...
      dogs/   001.jpg ...

Class folders are sorted naturally ('2' before '10', then alphabetically), so the class indices are the same on
every machine; files inside a class folder (searched recursively) are sorted the same way.

Files are checked cheaply when the folder is scanned (`image_file_problem`: a regular file whose first bytes are a
JPEG, PNG, BMP, GIF, TIFF, WebP or Netpbm signature, whatever its extension); the others (empty files, text or
HTML saved as .jpg, FIFOs, sockets, broken links and link loops) are left out of the file list with one warning
naming them, so they never become samples. A FIFO is never opened for reading (that would wait forever), and with
follow_links=True each real folder is searched once (a link loop neither hangs nor repeats samples).
"""

import logging
import os
import re
import stat
import warnings

import numpy as np

from cnnkit.data.image_io import has_image_extension

LOGGER = logging.getLogger("cnnkit.data")  # one clean line per message; logging.getLogger("cnnkit") silences them

#: The split seed used when none is given, so that 'training' and 'validation' never overlap even unseeded.
DEFAULT_SPLIT_SEED = 1337


def natural_key(name):
    """Sort key that orders digit runs by value: 'img2' < 'img10', '2' < '10'."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(name))]


def list_classes(directory):
    """The class folder names of `directory` in natural order (hidden folders such as .ipynb_checkpoints skipped)."""
    check_directory(directory)
    names = [entry.name for entry in os.scandir(directory)
             if entry.is_dir() and not entry.name.startswith(".")]
    return sorted(names, key=natural_key)


def check_directory(directory):
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"directory must be a path (str or os.PathLike). Received: {type(directory).__name__}")
    if not os.path.isdir(directory):
        what = "is a file, not a folder" if os.path.exists(directory) else "does not exist"
        raise FileNotFoundError(f"The image folder {os.fspath(directory)!r} {what}.")


#: The first bytes of the formats behind IMAGE_EXTENSIONS (any file whose header matches one is kept).
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*",
              b"II+\x00", b"MM\x00+", b"P1", b"P2", b"P3", b"P4", b"P5", b"P6")


def image_file_problem(path):
    """Why `path` cannot be an image file (a short reason), or None when it may be one.

    Cheap: one open and a 16-byte read, no decoding (a file with a valid header but damaged data still fails
    later, when decoded). Never blocks: a FIFO or device is refused from its status before any read.

    Example:
        >>> image_file_problem("cats/notes.jpg")
        "not an image (starts with b'hello')"
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        return f"cannot be opened ({err.strerror or err})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file (a FIFO, socket or device)"
        if info.st_size == 0:
            return "empty file"
        head = os.read(fd, 16)
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    finally:
        os.close(fd)
    if head.startswith(SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return None
    return f"not an image (starts with {head[:8]!r})"


def _identity(path):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _walk(folder, follow_links, avoid=()):
    """os.walk's (root, dirs, files); with follow_links, each real folder once (link loops and several links to
    one folder are searched once), and never a folder of `avoid` ((st_dev, st_ino) pairs: the dataset's root and
    its other class folders) but `folder` itself."""
    seen = set(avoid) - {_identity(folder)}
    for root, dirs, files in os.walk(folder, followlinks=follow_links):
        if follow_links:
            try:
                info = os.stat(root)
            except OSError:
                dirs[:] = []
                continue
            if (info.st_dev, info.st_ino) in seen:
                dirs[:] = []
                continue
            seen.add((info.st_dev, info.st_ino))
        dirs[:] = sorted((d for d in dirs if not d.startswith(".")), key=natural_key)
        yield root, dirs, files


def list_images(folder, follow_links=False, rejected=None, avoid=()):
    """Image files under `folder` (recursively), as paths relative to it, in natural order.

    Files with an image extension that fail `image_file_problem` are left out; when `rejected` is a list,
    (relative path, reason) pairs are appended to it for them. With follow_links, linked folders are searched
    once each, and never those of `avoid` ((st_dev, st_ino) pairs of folders searched on their own).
    """
    found = []
    for root, _, files in _walk(folder, follow_links, avoid):
        rel = os.path.relpath(root, folder)
        for name in files:
            if has_image_extension(name) and not name.startswith("."):
                path = name if rel == "." else os.path.join(rel, name)
                problem = image_file_problem(os.path.join(root, name))
                if problem is None:
                    found.append(path)
                elif rejected is not None:
                    rejected.append((path, problem))
    return sorted(found, key=lambda p: [natural_key(part) for part in p.split(os.sep)])


def warn_rejected(rejected, directory):
    """One warning (a `logging` line of the 'cnnkit.data' logger) naming the files `list_images` left out (the
    first five of them)."""
    if not rejected:
        return
    shown = ", ".join(f"{path!r} ({reason})" for path, reason in rejected[:5])
    more = f" and {len(rejected) - 5} more" if len(rejected) > 5 else ""
    LOGGER.warning("Left out %d file(s) of %r that cannot be images: %s%s.", len(rejected), os.fspath(directory),
                   shown, more)


def index_directory(directory, classes=None, follow_links=False):
    """All images of a class-folder tree.

    Args:
        directory: the root folder, one sub-folder per class.
        classes: optional list of class folder names to use (in that order); default: all, naturally sorted.
        follow_links: follow symbolic links to folders.

    Returns:
        (class_names, filenames, labels): filenames relative to `directory` ('cats/001.jpg'), grouped by class in
        class order, and int32 class indices. Files that cannot be images (`image_file_problem`) are left out,
        with one warning naming them.
    """
    check_directory(directory)
    if classes:
        if isinstance(classes, str):
            raise TypeError(f"classes must be a list of folder names. Received the string {classes!r}")
        class_names = list(classes)
        missing = [c for c in class_names if not os.path.isdir(os.path.join(directory, c))]
        if missing:
            raise FileNotFoundError(f"Class folders {missing} not found in {os.fspath(directory)!r}; it has "
                                    f"{list_classes(directory)}.")
    else:
        class_names = list_classes(directory)
    filenames, labels, rejected = [], [], []
    # a link from one class folder to the root or to another class folder is not followed (no sample twice)
    avoid = {_identity(directory)} | {_identity(os.path.join(directory, name)) for name in class_names}
    for index, name in enumerate(class_names):
        left_out = []
        files = list_images(os.path.join(directory, name), follow_links, left_out, avoid)
        filenames += [os.path.join(name, f) for f in files]
        labels += [index] * len(files)
        rejected += [(os.path.join(name, f), reason) for f, reason in left_out]
    warn_rejected(rejected, directory)
    return class_names, filenames, np.asarray(labels, dtype=np.int32)


def check_validation_split(validation_split):
    if (isinstance(validation_split, bool) or not isinstance(validation_split, (int, float))
            or not 0 <= validation_split < 1):
        raise ValueError(f"validation_split must be a float in [0, 1). Received: validation_split={validation_split!r}")
    return float(validation_split)


def split_indices(labels, validation_split, seed=None):
    """A seeded split that keeps each class's share: (training indices, validation indices), each sorted.

    From every class, round(count * validation_split) samples chosen at random (numpy Generator seeded with `seed`,
    DEFAULT_SPLIT_SEED when None) go to validation. The split depends only on the labels, the fraction and the seed,
    so two iterators with the same three never share a sample, whatever else differs.

    Args:
        labels: (n,) class index per sample (all equal: a plain random split).
        validation_split: fraction in (0, 1).
        seed: int or None.

    Example:
        >>> train, val = split_indices(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 0.25, seed=1)
        >>> len(train), len(val)
        (6, 2)
    """
    rng = np.random.default_rng(DEFAULT_SPLIT_SEED if seed is None else seed)
    labels = np.asarray(labels)
    validation = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        count = int(round(len(members) * validation_split))
        validation.append(rng.permutation(members)[:count])
    mask = np.zeros(len(labels), dtype=bool)
    if validation:
        mask[np.concatenate(validation)] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def subset_indices(labels, validation_split, subset, seed=None):
    """The indices of `subset` ('training', 'validation' or None: all) under `split_indices`."""
    if subset is None:
        return np.arange(len(labels))
    if subset not in ("training", "validation"):
        raise ValueError(f"subset must be 'training', 'validation' or None. Received: subset={subset!r}")
    if not validation_split:
        if subset == "validation":
            raise ValueError("subset='validation' with validation_split=0 selects no images: set validation_split "
                             "(e.g. ImageDataGenerator(validation_split=0.25)).")
        warnings.warn("subset='training' with validation_split=0: all images are used for training (as Keras).",
                      stacklevel=4)
        return np.arange(len(labels))
    train, val = split_indices(labels, validation_split, seed)
    return train if subset == "training" else val
