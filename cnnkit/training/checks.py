"""Checks of what `compile` / `fit` / `evaluate` receive, run once before any step (never inside the step loop).

* Counts (`epochs`, `initial_epoch`, `batch_size`, `steps`...) may be Python or numpy ints; anything else is a
  ValueError naming the argument.
* `fit` / `evaluate` on data with no samples (empty arrays, an iterator of no batch, an empty generator) raise a
  ValueError instead of returning an empty History (Keras returns one for arrays, and raises for a generator).
* Labels that a cross-entropy loss would silently turn into garbage are refused: non-integer (float) labels or
  labels outside [0, classes) for a sparse categorical loss, labels outside [0, 1] for binary cross-entropy.
  Array labels are checked once per call; an iterator's labels on its first batch only (a device sync per step
  would cost time).

Example:
    >>> count("epochs", "3")
    Traceback (most recent call last):
    ValueError: epochs must be an int. Received: epochs='3' (a str)
"""

import sys

import numpy as np
import torch

from cnnkit import config
from cnnkit import losses as losses_module
from cnnkit.training import hints


def count(name, value, minimum=0, owner=""):
    """`value` as a Python int when it is a Python or numpy int >= `minimum`; else a ValueError naming `name`.

    Example:
        >>> count("batch_size", np.int64(32), minimum=1)
        32
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{owner}{name} must be an int. Received: {name}={value!r} (a {type(value).__name__})")
    if value < minimum:
        bound = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{owner}{name} must be {bound}. Received: {name}={value!r}")
    return int(value)


def verbose(value):
    """`fit`/`evaluate`/`predict`'s verbose as 0, 1 or 2: 'auto' is a live bar (1) on a terminal or in a notebook
    and one line per epoch (2) in a redirected log; anything else is a ValueError."""
    if value == "auto":
        return 1 if sys.stdout.isatty() or config.in_notebook() else 2
    if value not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto'. Received: verbose={value!r}")
    return value


def optional_count(name, value, minimum=1, owner=""):
    """None, or `count(name, value, minimum)`."""
    return None if value is None else count(name, value, minimum, owner)


def not_empty(adapter, what, call):
    """Raises a ValueError when `adapter` (a data adapter of `data_adapter.make`) is known to hold no batch."""
    samples = getattr(adapter, "num_samples", None)
    if samples == 0 or adapter.steps == 0:
        raise ValueError(f"{call}: {what} has no samples, so there is nothing to "
                         f"{'train on' if call == 'fit' else 'evaluate'}. Received: {describe(adapter, what)}")


def no_batch(what, call):
    """The error for data of unknown length that yielded no batch at all (an empty generator: Keras's words)."""
    return ValueError(f"{call}: {what} yielded no batch. When passing a Python generator or iterable to a model, "
                      "it must yield at least one batch. Received an empty generator.")


def describe(adapter, what):
    xs = getattr(adapter, "xs", None)
    if xs:
        return f"{what} of shape {tuple(xs[0].shape)}"
    data = getattr(adapter, "data", None)
    return f"{what}={type(data).__name__} with {adapter.steps} batches"


# ---- labels ----------------------------------------------------------------------------------------------


def _kind(loss):
    """'sparse' / 'binary' for the cross-entropy losses whose labels are checked, else None."""
    if isinstance(loss, losses_module.SparseCategoricalCrossentropy):
        return "sparse"
    if isinstance(loss, losses_module.BinaryCrossentropy):
        return "binary"
    function = getattr(loss, "function", None)
    if function is losses_module.sparse_categorical_crossentropy:
        return "sparse"
    if function is losses_module.binary_crossentropy:
        return "binary"
    return None


def _host(values):
    if isinstance(values, torch.Tensor):
        values = values.detach()
        if values.dtype == torch.bfloat16:
            values = values.float()
        return values.cpu().numpy()
    return np.asarray(values)


def check_labels(loss, labels, classes=None, where="y"):
    """Raises a ValueError when `labels` cannot be meant for `loss` (see the module's docstring).

    Args:
        loss: a Loss object (cnnkit.losses) or anything else (not checked).
        labels: the labels of one output (numpy array or tensor).
        classes: the output's number of classes (its last axis) when known, for the sparse range check.
        where: how to name the labels in the message ('y', "y['out']", 'the first batch's labels').
    """
    kind = _kind(loss)
    if kind is None or labels is None:
        return
    values = _host(labels)
    if values.size == 0 or values.dtype.kind not in "biuf":
        return
    name = "sparse_categorical_crossentropy" if kind == "sparse" else "binary_crossentropy"
    if kind == "sparse":
        ignore = (getattr(loss, "fn_kwargs", None) or {}).get("ignore_class")
        if ignore is not None:
            values = values[values != ignore]
            if values.size == 0:
                return
        if values.dtype.kind == "f":
            finite = np.isfinite(values)
            fractional = ~finite | (np.mod(np.where(finite, values, 0), 1) != 0)
            if fractional.any():
                bad = values.ravel()[np.flatnonzero(fractional.ravel())[0]]
                raise ValueError(f"{name}: labels must be integer class indices. Received non-integer values in "
                                 f"{where}, e.g. {bad:g}. For one-hot or soft labels use categorical_crossentropy.")
        low, high = values.min(), values.max()
        if low < 0 or (classes is not None and high >= classes):
            limit = "classes" if classes is None else str(classes)
            hint = hints.ONE_OUTPUT_SPARSE if classes == 1 else ""
            raise ValueError(f"{name}: labels must be class indices in [0, {limit}). Received labels in "
                             f"[{low:g}, {high:g}] in {where}.{hint}")
        return
    if values.dtype.kind == "f":
        values = values[~np.isnan(values)]  # NaN labels give a NaN loss, which is seen (TerminateOnNaN): allowed
        if values.size == 0:
            return
    low, high = values.min(), values.max()
    if low < 0 or high > 1:
        raise ValueError(f"{name}: labels must be in [0, 1] (the probability of the positive class). Received labels "
                         f"in [{low:g}, {high:g}] in {where}. For class indices use sparse_categorical_crossentropy.")


def label_checker(model):
    """fn(y) checking the labels of all outputs against the model's compiled losses (None: nothing to check)."""
    compiled = getattr(model, "_compiled_losses", None) or []
    if not any(_kind(loss) for loss in compiled):
        return None
    names = model._output_names()
    classes = _classes(model, len(compiled))

    def check(y, where="y"):
        if y is None:
            return
        ys = list(y) if isinstance(y, (list, tuple)) else [y]
        if len(ys) != len(compiled):
            return  # the step reports the mismatch
        for index, (loss, labels) in enumerate(zip(compiled, ys)):
            label_where = where if len(ys) == 1 else f"{where}[{names[index]!r}]"
            check_labels(loss, labels, classes[index], label_where)

    return check


def _classes(model, outputs):
    """The last axis of each output when the model knows its output shapes, else None for each."""
    try:
        shapes = model.output_shape
    except (AttributeError, ValueError, TypeError):
        return [None] * outputs
    if shapes is None:
        return [None] * outputs
    shapes = shapes if isinstance(shapes, list) else [shapes]
    if len(shapes) != outputs:
        return [None] * outputs
    return [s[-1] if isinstance(s, tuple) and s and isinstance(s[-1], int) else None for s in shapes]


def labels_once(model, adapter, what="y"):
    """Checks `adapter`'s labels now (arrays), or on its first batch (iterators), once."""
    check = label_checker(model)
    if check is None:
        return
    if hasattr(adapter, "ys") and hasattr(adapter, "y") and hasattr(adapter, "num_samples"):  # arrays
        check(adapter.ys if adapter.ys is not None else adapter.y, what)
    elif hasattr(adapter, "first_batch_check"):
        adapter.first_batch_check = lambda y: check(y, f"the first batch of {what}")
