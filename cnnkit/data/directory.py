"""Scanning a class-folder tree and splitting it: natural sort order, extension filter, seeded stratified split.

    data/
      cats/   001.jpg 002.jpg ...
      dogs/   001.jpg ...

Class folders are sorted naturally ('2' before '10', then alphabetically), so the class indices are the same on
every machine; files inside a class folder (searched recursively) are sorted the same way.
"""

import os
import re
import warnings

import numpy as np

from cnnkit.data.image_io import has_image_extension

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


def list_images(folder, follow_links=False):
    """Image files under `folder` (recursively), as paths relative to it, in natural order."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=follow_links):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = os.path.relpath(root, folder)
        for name in files:
            if has_image_extension(name) and not name.startswith("."):
                found.append(name if rel == "." else os.path.join(rel, name))
    return sorted(found, key=lambda p: [natural_key(part) for part in p.split(os.sep)])


def index_directory(directory, classes=None, follow_links=False):
    """All images of a class-folder tree.

    Args:
        directory: the root folder, one sub-folder per class.
        classes: optional list of class folder names to use (in that order); default: all, naturally sorted.
        follow_links: follow symbolic links to folders.

    Returns:
        (class_names, filenames, labels): filenames relative to `directory` ('cats/001.jpg'), grouped by class in
        class order, and int32 class indices.
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
    filenames, labels = [], []
    for index, name in enumerate(class_names):
        files = list_images(os.path.join(directory, name), follow_links)
        filenames += [os.path.join(name, f) for f in files]
        labels += [index] * len(files)
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
