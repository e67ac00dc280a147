"""Writing an in-memory image dataset (x, y) as a class-folder tree that the folder readers load back.

    directory/
      0/   00000.png 00007.png ...
      1/   00002.png ...

Each image goes to `directory/<class name>/<index>.<ext>`, where `index` is its position in `x`, zero-padded so
that the files sort in dataset order. A folder is made for every class, even one without images, so the class
indices survive the round trip through `image_dataset_from_directory` / `flow_from_directory`.
"""

import os

import numpy as np
from PIL import Image

#: image_format -> (PIL format, file extension)
IMAGE_FORMATS = {"png": ("PNG", ".png"), "jpeg": ("JPEG", ".jpg"), "jpg": ("JPEG", ".jpg"), "bmp": ("BMP", ".bmp")}
_EXTENSIONS = {ext for _, ext in IMAGE_FORMATS.values()} | {".jpeg"}


def _images_uint8(x):
    """(n, h, w, c) uint8 with c in (1, 3), from uint8 / integer / float images of (n, h, w) or (n, h, w, c)."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError("write_image_folder: x must have the shape (n, height, width), (n, height, width, 1) or "
                         f"(n, height, width, 3). Received: x.shape={np.shape(x)}")
    if len(x) == 0 or x.shape[1] == 0 or x.shape[2] == 0:
        raise ValueError(f"write_image_folder: x holds no images (x.shape={x.shape}).")
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise ValueError(f"write_image_folder: x must hold uint8, integer or float pixel values. Received: "
                         f"x.dtype={x.dtype}")
    low, high = x.min(), x.max()
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(low) or not np.isfinite(high):
            raise ValueError("write_image_folder: x holds NaN or infinite values.")
        if low >= 0 and high <= 1:  # [0, 1] floats; a dataset whose values all lie in [0, 1] is read as such
            return np.rint(x * 255.0).astype(np.uint8)
    if low < 0 or high > 255:
        raise ValueError("write_image_folder: pixel values must lie in [0, 1] (floats) or [0, 255]. Received "
                         f"values from {low} to {high}.")
    return np.rint(x).astype(np.uint8) if np.issubdtype(x.dtype, np.floating) else x.astype(np.uint8)


def _labels(y, n):
    """Integer class indices (n,) and the number of classes the labels imply, from integer or one-hot labels."""
    y = np.asarray(y)
    if y.ndim == 0 or len(y) != n:
        raise ValueError(f"write_image_folder: x and y must have the same length. Received: {n} images and "
                         f"{len(y) if y.ndim else 'a scalar'} labels (y.shape={y.shape}).")
    if y.dtype == np.bool_ or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise ValueError(f"write_image_folder: y must hold integer or one-hot labels. Received: y.dtype={y.dtype}")
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise ValueError("write_image_folder: 2-D labels must be one-hot (one 1 per row, 0 elsewhere).")
        return y.argmax(axis=1), y.shape[1]
    if y.ndim == 2:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"write_image_folder: y must have the shape (n,), (n, 1) or (n, classes) (one-hot). "
                         f"Received: y.shape={y.shape}")
    if not np.isfinite(y).all() or (y != np.floor(y)).any() or (y < 0).any():
        raise ValueError("write_image_folder: labels must be non-negative integers (class indices).")
    labels = y.astype(np.int64)
    return labels, int(labels.max()) + 1


def _class_names(class_names, num_classes, labels):
    if class_names is None:
        width = len(str(num_classes - 1))  # '07' before '10': the alphabetical order is the numeric order
        return [str(i).zfill(width) for i in range(num_classes)]
    names = [str(name) for name in class_names]
    if len(names) < num_classes:
        raise ValueError(f"write_image_folder: {len(names)} class_names for labels up to {labels.max()}.")
    if len(set(names)) != len(names):
        raise ValueError(f"write_image_folder: class_names must be unique. Received: {names}")
    for name in names:
        if not name or name in (".", "..") or "/" in name or os.sep in name or (os.altsep and os.altsep in name) \
                or name.startswith("."):
            raise ValueError(f"write_image_folder: {name!r} cannot be a folder name (class_names must be plain, "
                             "non-hidden names).")
    return names


def _prepare_directory(directory, overwrite):
    """Checks that `directory` is empty, or (overwrite=True) holds only an earlier export, which is removed."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise NotADirectoryError(f"write_image_folder: {directory} exists and is not a folder.")
    if not os.path.isdir(directory) or not os.listdir(directory):
        os.makedirs(directory, exist_ok=True)
        return
    if not overwrite:
        raise FileExistsError(f"write_image_folder: {directory} is not empty; pass overwrite=True to replace an "
                              "earlier export, or choose an empty folder.")
    old_files = []
    for entry in os.scandir(directory):
        inside = list(os.scandir(entry.path)) if entry.is_dir(follow_symlinks=False) else None
        if inside is None or any(not f.is_file(follow_symlinks=False) or
                                 os.path.splitext(f.name)[1].lower() not in _EXTENSIONS for f in inside):
            raise FileExistsError(
                f"write_image_folder: {directory} holds {entry.path}, which is not a class folder of images; "
                "overwrite=True only replaces an earlier export (class folders holding image files only). Choose "
                "an empty folder.")
        old_files.append((entry.path, [f.path for f in inside]))
    for folder, files in old_files:
        for path in files:
            os.remove(path)
        os.rmdir(folder)


def write_image_folder(x, y, directory, class_names=None, image_format="png", overwrite=False):
    """Writes images and their labels as a class-folder tree: `directory/<class name>/<index>.<format>`.

    Args:
        x: images, (n, height, width) or (n, height, width, 1) grayscale, or (n, height, width, 3) RGB; uint8,
            integers in [0, 255], or floats in [0, 1] (scaled by 255) or [0, 255] (rounded). Floats whose values
            all lie in [0, 1] are taken as [0, 1].
        y: labels: class indices (n,) or (n, 1) (e.g. CIFAR's), or one-hot (n, classes).
        directory: the folder to write; it must be empty or not exist yet.
        class_names: folder names by class index (default: the class indices, zero-padded to the same width, so
            that sorting the folder names keeps the class order, e.g. '00' ... '99'). With other names, note that
            the folder readers sort class folders by name.
        image_format: 'png' (default, lossless), 'bmp' (lossless), or 'jpeg' / 'jpg' (lossy, quality 95).
        overwrite: if True and `directory` holds an earlier export (class folders holding image files only),
            that export is deleted first; anything else in the folder makes it refuse.

    Returns:
        {class name: number of images} for every class, in class order (0 for a class without images).

    Raises:
        ValueError: bad shapes, dtypes, values, labels or class_names, or mismatched lengths of x and y.
        FileExistsError: `directory` is not empty (and overwrite is False, or it holds other things).

    Example:
        >>> from cnnkit.datasets import mnist_5k
        >>> (x_train, y_train), _ = mnist_5k.load_data()
        >>> write_image_folder(x_train, y_train, "mnist_5k/train")["3"]
        400
        >>> # then: image_dataset_from_directory("mnist_5k/train", color_mode="grayscale", image_size=(28, 28))
    """
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"write_image_folder: image_format must be one of {', '.join(IMAGE_FORMATS)}. Received: "
                         f"image_format={image_format!r}")
    images = _images_uint8(x)
    labels, num_classes = _labels(y, len(images))
    names = _class_names(class_names, num_classes, labels)
    directory = os.fspath(directory)
    _prepare_directory(directory, overwrite)
    pil_format, extension = IMAGE_FORMATS[image_format]
    options = {"quality": 95} if pil_format == "JPEG" else {}
    width = len(str(len(images) - 1))
    for name in names:
        os.makedirs(os.path.join(directory, name), exist_ok=True)
    for index, (image, label) in enumerate(zip(images, labels)):
        image = Image.fromarray(np.ascontiguousarray(image[..., 0] if image.shape[-1] == 1 else image))
        image.save(os.path.join(directory, names[label], f"{str(index).zfill(width)}{extension}"), pil_format,
                   **options)
    counts = np.bincount(labels, minlength=len(names))
    return {name: int(count) for name, count in zip(names, counts)}
