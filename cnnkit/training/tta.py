"""Test-time augmentation: predict each image as it is and transformed (flipped, shifted), and average the
predicted probabilities; often a little more accurate than one prediction, at a few times the cost.

Example:
    >>> probabilities = predict_tta(model, x_test)                     # the image and its mirror image
    >>> predict_tta(model, x_test, transforms=("hflip", "shift"))      # and four shifted copies
    >>> evaluate_tta(model, x_test, y_test)
    {'accuracy': 0.912, 'loss': 0.281, 'samples': 1000}
"""

import numpy as np

from cnnkit.registry import did_you_mean


def _shifts(x, fraction=1 / 16):
    """Four copies of (N, H, W, C) images moved by `fraction` of their size up, down, left and right (edges
    repeated)."""
    dy, dx = max(1, round(x.shape[1] * fraction)), max(1, round(x.shape[2] * fraction))
    padded = np.pad(x, ((0, 0), (dy, dy), (dx, dx), (0, 0)), mode="edge")
    h, w = x.shape[1], x.shape[2]
    return [padded[:, 2 * dy:2 * dy + h, dx:dx + w], padded[:, :h, dx:dx + w],
            padded[:, dy:dy + h, 2 * dx:2 * dx + w], padded[:, dy:dy + h, :w]]


#: name -> function from an (N, H, W, C) batch to a list of transformed batches.
TRANSFORMS = {
    "hflip": lambda x: [x[:, :, ::-1]],
    "vflip": lambda x: [x[:, ::-1]],
    "shift": _shifts,
}


def _check(transforms):
    transforms = (transforms,) if isinstance(transforms, str) else tuple(transforms)
    for name in transforms:
        if name not in TRANSFORMS:
            raise ValueError(f"Unknown test-time augmentation {name!r}; choose from {', '.join(TRANSFORMS)}."
                             f"{did_you_mean(name, TRANSFORMS)}")
    return transforms


def _batches(x, y, batch_size):
    """(x, y or None) batches: of arrays, or of a Keras-style iterator / iterable of batches (in its order)."""
    if isinstance(x, (np.ndarray, list)) or hasattr(x, "detach"):
        x = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)
        for start in range(0, len(x), batch_size):
            yield x[start:start + batch_size], None if y is None else np.asarray(y)[start:start + batch_size]
        return
    batches = (x[i] for i in range(len(x))) if hasattr(x, "__getitem__") and hasattr(x, "__len__") else iter(x)
    for batch in batches:
        yield (batch[0], batch[1]) if isinstance(batch, (tuple, list)) else (batch, None)


def _tta_batch(model, xb, transforms):
    xb = np.asarray(xb, dtype=np.float32)
    views = [xb]
    for name in transforms:
        views += [np.ascontiguousarray(v) for v in TRANSFORMS[name](xb)]
    outputs = model.predict(np.concatenate(views), verbose=0)
    return np.asarray(outputs).reshape(len(views), len(xb), -1).mean(axis=0)


def predict_tta(model, x, transforms=("hflip",), batch_size=32):
    """The model's probabilities averaged over each image and its transformed copies.

    Args:
        model: a classifier taking (N, H, W, C) images.
        x: images (N, H, W, C), or a Keras-style iterator of batches (a folder iterator with shuffle=False).
        transforms: names from `TRANSFORMS`: 'hflip' (mirror image, the default), 'vflip', 'shift' (four copies
            moved by 1/16 of the size).
        batch_size: images per batch for arrays.

    Returns:
        (N, classes) numpy array of averaged probabilities.
    """
    transforms = _check(transforms)
    return np.concatenate([_tta_batch(model, xb, transforms) for xb, _ in _batches(x, None, batch_size)])


def evaluate_tta(model, x, y=None, transforms=("hflip",), batch_size=32):
    """Accuracy and cross-entropy loss of `predict_tta`'s averaged probabilities.

    Args:
        model, x, transforms, batch_size: as `predict_tta`.
        y: integer or one-hot labels when `x` is an array (an iterator gives its own).

    Returns:
        {'accuracy': float, 'loss': float (mean categorical cross-entropy), 'samples': int}.
    """
    transforms = _check(transforms)
    probabilities, labels = [], []
    for xb, yb in _batches(x, y, batch_size):
        if yb is None:
            raise ValueError("evaluate_tta: labels are needed: give y with arrays, or an iterator of (x, y).")
        probabilities.append(_tta_batch(model, xb, transforms))
        yb = np.asarray(yb)
        labels.append(yb.argmax(-1) if yb.ndim == 2 and yb.shape[-1] > 1 else yb.reshape(len(yb)).astype(np.int64))
    return scores(np.concatenate(probabilities), np.concatenate(labels))


def scores(probabilities, labels):
    """{'accuracy', 'loss' (mean categorical cross-entropy, probabilities clipped at 1e-7), 'samples'} of
    (N, classes) probabilities against N integer labels."""
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-7, 1.0)
    return {"accuracy": float(np.mean(probabilities.argmax(-1) == labels)), "loss": float(-np.log(picked).mean()),
            "samples": len(labels)}
