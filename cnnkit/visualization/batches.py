"""`show_batch`: a grid of images from a batch or an image iterator, titled with their labels."""

import math

import numpy as np

from cnnkit.visualization import _mpl


def _numpy(value):
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _take_batch(source):
    """(x, y or None) from an (x, y[, w]) tuple, an image array, or an iterator (batch [0], else next())."""
    if isinstance(source, (tuple, list)):
        if len(source) not in (1, 2, 3):
            raise ValueError("show_batch: a batch must be (x,), (x, y) or (x, y, sample_weight). Received a "
                             f"{type(source).__name__} of length {len(source)}.")
        return source[0], (source[1] if len(source) > 1 else None)
    if isinstance(source, np.ndarray) or hasattr(source, "detach"):
        return source, None
    if hasattr(source, "__getitem__") and hasattr(source, "__len__"):  # Keras iterators / Sequences: batch 0
        batch = source[0]
    elif hasattr(source, "__next__"):  # a generator or iterator
        batch = next(source)
    elif hasattr(source, "__iter__"):  # a DataLoader or another iterable of batches
        batch = next(iter(source))
    else:
        raise TypeError("show_batch expects an (x, y) batch, an image array, or an iterator of batches (something "
                        f"with [0] or next()). Received: {type(source).__name__}")
    if isinstance(batch, dict) or not isinstance(batch, (tuple, list)):
        return batch, None
    return batch[0], (batch[1] if len(batch) > 1 else None)


def _class_names(class_names, source):
    """{class index: name} from `class_names` (list or dict) or the iterator's class_indices / class_names."""
    if class_names is None:
        indices = getattr(source, "class_indices", None)
        if indices:
            return {int(index): str(name) for name, index in indices.items()}
        class_names = getattr(source, "class_names", None)
        if class_names is None:
            return {}
    if isinstance(class_names, dict):
        if all(isinstance(key, str) for key in class_names):  # class_indices form {name: index}
            return {int(index): str(name) for name, index in class_names.items()}
        return {int(index): str(name) for index, name in class_names.items()}
    return {index: str(name) for index, name in enumerate(class_names)}


def _label_texts(y, count, names):
    """One title per image: a class name for sparse / one-hot / binary labels, the value for other numbers."""
    if y is None:
        return [""] * count
    if isinstance(y, dict):
        y = list(y.values())
    if isinstance(y, (list, tuple)) and y and all(isinstance(p, np.ndarray) or hasattr(p, "detach") for p in y):
        parts = [_label_texts(part, count, names) for part in y]  # several outputs: 'a / b'
        return [" / ".join(texts) for texts in zip(*parts)]
    y = _numpy(y)
    if y.ndim >= 3 or y.ndim == 0 or y.shape[0] < count:  # class_mode 'input' (y is the images) or no labels
        return [""] * count
    y = y[:count]
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.dtype.kind in "US":
        return [str(value) for value in y]
    values = y.astype(np.float64)
    if y.ndim == 2:
        rows_sum_to_one = np.all(values >= 0) and np.allclose(values.sum(axis=1), 1.0, atol=1e-3)
        if not rows_sum_to_one:
            return [", ".join(f"{v:.3g}" for v in row) for row in values]
        values = values.argmax(axis=1).astype(np.float64)
    if not np.all(np.isfinite(values)) or not np.allclose(values, np.round(values)):
        return [f"{v:.3g}" for v in values]
    return [names.get(int(round(v)), str(int(round(v)))) for v in values]


def display_images(x, deprocess=None):
    """Images as floats in 0..1 for imshow: 0..255 data (uint8, or floats above 1) divided by 255, data with
    negative values (standardised) scaled per image by its min and max, 0..1 data unchanged; one-channel images
    lose their channel axis.

    Args:
        x: images (n, H, W), (n, H, W, C) or torch NCHW.
        deprocess: a function from the model's inputs back to 0-255 RGB (e.g. an application's
            `APPLICATIONS.lookup('resnet50').deprocess`, which undoes Keras's 'caffe' BGR mean subtraction), so that
            preprocessed images show in their true colours; None shows the values as they are.
    """
    x = _numpy(x)
    if deprocess is not None:
        x = np.clip(np.asarray(deprocess(x), dtype=np.float64), 0.0, 255.0) / 255.0
    if x.ndim == 4 and x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3, 4):  # torch NCHW
        x = np.moveaxis(x, 1, -1)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise ValueError("show_batch: images must be (n, H, W) or (n, H, W, C) with C = 1, 3 or 4. Received: shape "
                         f"{x.shape}")
    scaled = x.astype(np.float64)
    if x.size and (x.dtype == np.uint8 or (scaled.min() >= 0 and scaled.max() > 1.0)):
        scaled = np.clip(scaled / 255.0, 0.0, 1.0)
    elif x.size and scaled.min() < 0:
        low = scaled.min(axis=(1, 2, 3), keepdims=True)
        span = scaled.max(axis=(1, 2, 3), keepdims=True) - low
        scaled = np.where(span > 0, (scaled - low) / np.where(span > 0, span, 1.0), 0.0)
    return scaled[..., 0] if scaled.shape[-1] == 1 else scaled


def show_batch(iterator_or_batch, class_names=None, n=16, path=None, to_file=None, deprocess=None):
    """Shows up to `n` images of a batch in a grid, titled with their labels.

    Args:
        iterator_or_batch: an (x, y) tuple (also (x, y, sample_weight)), an image array (no labels), or an
            iterator of batches: a `flow_from_directory` / `flow` iterator or Keras Sequence (its batch [0] is
            shown, so the iterator's position is not moved), a generator (next() is called), a DataLoader.
        class_names: a list (index -> name) or dict ({index: name} or class_indices' {name: index}); default: the
            iterator's `class_indices` inverted (or its `class_names`), else the class index.
        n: show at most this many images.
        path: file to save the figure to ('.png', '.svg', '.pdf'), or None.
        to_file: alias of `path`.
        deprocess: a function from the model's inputs back to 0-255 RGB, to show preprocessed images (e.g.
            'caffe' BGR, mean subtracted) in their true colours (see `display_images`).

    Labels may be sparse ints, one-hot rows, binary 0/1 floats or (n, 1) columns; other numbers are shown as
    values. Images in 0..255 are divided by 255 for display.

    Returns:
        The matplotlib Figure: one Axes per image, titled with its label (`fig.labels` lists the titles).

    Example:
        >>> flow = ImageDataGenerator(rescale=1/255).flow_from_directory("data/", class_mode="sparse")
        >>> fig = show_batch(flow, n=9, path="batch.png")
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"show_batch: n must be a positive int. Received: n={n!r}")
    x, y = _take_batch(iterator_or_batch)
    if isinstance(x, (dict, list, tuple)):
        raise ValueError("show_batch: this batch has several inputs; pass (images, labels) for one of them.")
    images = display_images(x, deprocess)
    count = min(int(n), len(images))
    if count == 0:
        raise ValueError("show_batch: the batch has no images.")
    titles = _label_texts(y, count, _class_names(class_names, iterator_or_batch))
    plt = _mpl.pyplot()
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    fig = plt.figure(figsize=(2.0 * cols, 2.15 * rows))
    for i in range(count):
        ax = fig.add_subplot(rows, cols, i + 1)
        image = images[i]
        if image.ndim == 2:
            ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
        else:
            ax.imshow(image)
        if titles[i]:
            ax.set_title(titles[i], fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.tight_layout()
    fig.labels = titles
    return _mpl.finish(fig, path, to_file)
