"""Turns what `fit`/`evaluate`/`predict` receive into batches of torch tensors.

Accepted: numpy arrays, torch tensors or nested Python lists (x, y, sample_weight; lists for several inputs),
Keras-style iterators (`__len__` + `__getitem__` returning (x, y) or (x, y, sample_weight), like the directory
iterators and `cnnkit.utils.PyDataset` / `Sequence`, whose `workers` produce batches in parallel, in order;
`on_epoch_begin`/`on_epoch_end` are called each epoch, and shuffle=True visits the batches in a random order, as
Keras does), Python generators or iterables yielding such tuples (a `cnnkit.data.Dataset`: one pass per
epoch), and torch DataLoaders.

Length, as Keras 3 with tf.data: an adapter's `steps` is the number of batches per epoch, from `steps_per_epoch` /
`steps`, else from the data's length (`len()`, or `cardinality()` of a `cnnkit.data.Dataset`), or None when the
length is unknown (a generator, a Dataset after `filter` / `unbatch`): each epoch then runs until the data is
exhausted, and the next one starts a new pass. An infinite Dataset (`repeat()`) needs steps (Keras's ValueError);
with them, each epoch continues where the last one stopped.

Iterators and generators are read by a background thread that keeps the next PREFETCH batches ready while the model
computes (image decoding and augmentation release the GIL, so they overlap with the training step). A torch
DataLoader is read directly: it has its own workers. When the compute device is CUDA, that thread also gathers
array batches and puts every batch in pinned (page-locked) host memory, so the trainer's `non_blocking` copies
to the GPU are asynchronous and overlap with the previous step.

Arrays are converted to float torch tensors once; each epoch takes one random permutation and gathers batches from
it, so there is no per-sample Python work and no copy beyond the batch itself.
"""

import collections.abc
import contextlib
import math

import numpy as np
import torch

from cnnkit import config
from cnnkit.data.pipeline import INFINITE_CARDINALITY
from cnnkit.data.pipeline import prefetched
from cnnkit.layers.node import flatten
from cnnkit.training import checks
from cnnkit.utils.py_dataset import PyDataset
from cnnkit.utils.py_dataset import dataset_length
from cnnkit.utils.py_dataset import ordered_batches
from cnnkit.utils.py_dataset import parallel


def _as_tensor(value, what):
    if isinstance(value, torch.Tensor):
        return value
    array = np.asarray(value)
    if array.dtype == object:
        raise TypeError(f"{what} must be a numpy array or a torch tensor. Received: {type(value).__name__}")
    if array.dtype.kind not in "biuf":  # Keras: "Invalid dtype: str32"
        raise ValueError(f"Invalid dtype: {array.dtype} ({_KINDS.get(array.dtype.kind, array.dtype.kind)}). {what} "
                         f"must hold numbers. Received: {what} of shape {array.shape}, e.g. {array.flat[0].item()!r}"
                         if array.size else f"Invalid dtype: {array.dtype}. {what} must hold numbers.")
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(array))


_KINDS = {"U": "strings", "S": "bytes", "c": "complex numbers", "M": "dates", "m": "time deltas", "V": "raw bytes"}


def as_array(value, what):
    """A numpy array from a nested Python list (or an array); a clear TypeError for anything else."""
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return value
    try:
        array = np.asarray(value)
    except ValueError as err:  # ragged lists
        raise ValueError(f"{what} could not be turned into an array ({err}).") from None
    if array.dtype == object:
        raise TypeError(f"{what} must be a numpy array, a torch tensor or a nested list of numbers. Received: "
                        f"{type(value).__name__}")
    return array


def ordered(mapping, names, what, kind):
    """The values of a {layer name: array} dict as a list in the model's order of `kind` ('inputs'/'outputs')."""
    if names is None:
        raise ValueError(f"{what} is a dict, which needs a functional model with named {kind}.")
    unknown = sorted(set(mapping) - set(names))
    missing = [n for n in names if n not in mapping]
    if unknown or missing:
        raise ValueError(f"{what} is a dict whose keys {sorted(mapping)} do not match the model's {kind} {names}.")
    values = [mapping[n] for n in names]
    return values if len(values) > 1 else values[0]


def _float(tensor):
    """Inputs as float32 (Keras casts them to the model's float type): ints, bools, float16 and bfloat16 alike."""
    return tensor if tensor.dtype == torch.float32 or tensor.dtype == torch.float64 else tensor.to(torch.float32)


def is_array_like(x):
    items, _ = flatten(x)
    return all(isinstance(i, (np.ndarray, torch.Tensor, list)) for i in items) and not (
        isinstance(x, list) and x and not isinstance(x[0], (np.ndarray, torch.Tensor, list)))


def _rows(array, index):
    """`array[index]` for a slice or a tensor of row indices: `index_select` copies whole rows (4x faster than
    advanced indexing for a CIFAR batch, 8 against 32 us)."""
    return array[index] if isinstance(index, slice) else torch.index_select(array, 0, index)


class ArrayData:
    """In-memory arrays: shuffled (or not) batches of (x, y, sample_weight) tensors on the host."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=True, steps=None):
        items, self.x_is_list = flatten(x)
        self.xs = [_float(_as_tensor(a, "x")) for a in items]
        self.y, self.ys = None, None
        if isinstance(y, (list, tuple)) and y and all(isinstance(v, (np.ndarray, torch.Tensor)) for v in y):
            self.ys = [_as_tensor(v, "y") for v in y]  # one label array per model output
        elif y is not None:
            self.y = _as_tensor(y, "y")
        self.sample_weight = None if sample_weight is None else _float(_as_tensor(sample_weight, "sample_weight"))
        sizes = {len(a) for a in self.xs}
        if self.y is not None:
            sizes.add(len(self.ys[0]) if self.ys else len(self.y))
        if self.sample_weight is not None:
            sizes.add(len(self.sample_weight))
        if len(sizes) != 1:
            raise ValueError(f"Data cardinality is ambiguous: x, y and sample_weight must have the same number of "
                             f"samples. Received sizes: {sorted(sizes)}")
        self.num_samples = sizes.pop()
        self.batch_size, self.shuffle = checks.count("batch_size", batch_size, minimum=1), shuffle
        self.steps = steps or math.ceil(self.num_samples / batch_size)

    def _take(self, index):
        xs = [_rows(a, index) for a in self.xs]
        y = None
        if self.ys is not None:
            y = [_rows(v, index) for v in self.ys]
        elif self.y is not None:
            y = _rows(self.y, index)
        sw = None if self.sample_weight is None else _rows(self.sample_weight, index)
        return (xs if self.x_is_list else xs[0]), y, sw

    def epoch(self):
        """Yields (x, y, sample_weight) batches for one epoch (gathered and pinned ahead by a thread for CUDA)."""
        batches = (self._take(index) for index in self.batch_indices())
        if pin_by_default():
            yield from prefetch(batches, pin_memory=True)
        else:
            yield from batches

    def batch_indices(self, permutation=torch.randperm):
        """Yields the sample indices of each batch of one epoch: a tensor (shuffled) or a slice. `permutation(n)`
        draws each pass's order (distributed training passes one that all processes agree on)."""
        order = permutation(self.num_samples) if self.shuffle else None
        step = 0
        while step < self.steps:
            for start in range(0, self.num_samples, self.batch_size):
                if step >= self.steps:
                    return
                stop = min(start + self.batch_size, self.num_samples)
                yield order[start:stop] if order is not None else slice(start, stop)
                step += 1
            if order is not None:
                order = permutation(self.num_samples)


def unpack(batch):
    """(x, y, sample_weight) from a batch that is x, (x,), (x, y) or (x, y, sample_weight)."""
    if isinstance(batch, dict):
        raise TypeError("Batches must be (x, y) or (x, y, sample_weight) tuples; dicts are not supported.")
    if isinstance(batch, (tuple, list)) and not isinstance(batch, np.ndarray):
        if len(batch) == 1:
            return batch[0], None, None
        if len(batch) == 2:
            return batch[0], batch[1], None
        if len(batch) == 3:
            return batch[0], batch[1], batch[2]
        raise ValueError(f"A data batch must be (x, y) or (x, y, sample_weight). Received a tuple of {len(batch)}.")
    return batch, None, None


PREFETCH = 4


def pin_by_default():
    """Whether batches go to pinned memory: the compute device is CUDA (and CUDA is there)."""
    return config.get_device().type == "cuda" and torch.cuda.is_available()


def pin(value):
    """`value` (a tensor, None, or a list/tuple of them, nested) with every CPU tensor copied to pinned memory."""
    if isinstance(value, torch.Tensor):
        return value.pin_memory() if value.device.type == "cpu" and not value.is_pinned() else value
    if isinstance(value, (list, tuple)):
        return type(value)(pin(v) for v in value)
    return value


def prefetch(batches, depth=PREFETCH, pin_memory=None):
    """Yields the items of the iterable `batches`, produced by a background thread up to `depth` items ahead.

    Args:
        batches: an iterable of batches (tensors, or tuples and lists of them).
        depth: how many batches to keep ready (0: no thread).
        pin_memory: copy each batch to pinned host memory in the thread, so that `tensor.to('cuda',
            non_blocking=True)` does not wait; None: when the compute device is CUDA (`pin_by_default`).

    An exception in the producer is raised in the consumer; when the consumer stops early (break, error, Ctrl-C)
    the producer stops too.
    """
    if pin_memory is None:
        pin_memory = pin_by_default()
    if pin_memory:
        batches = (pin(item) for item in batches)
    if depth <= 0:
        yield from batches
        return
    yield from prefetched(batches, depth)


def known_length(data):
    """The number of batches of `data` when known: `cardinality()` (a `cnnkit.data.Dataset`, or anything with
    tf.data's method), a PyDataset's `num_batches`, or `len()`; INFINITE_CARDINALITY for an infinite dataset; None
    when unknown."""
    if isinstance(data, PyDataset):
        return dataset_length(data)
    if callable(getattr(data, "cardinality", None)) and not isinstance(data, torch.utils.data.DataLoader):
        count = int(data.cardinality())
        if count >= 0 or count == INFINITE_CARDINALITY:
            return count
        return None
    try:
        return len(data) if hasattr(data, "__len__") else None
    except TypeError:  # a DataLoader over an IterableDataset, a Sequence of unknown length
        return None


class IteratorData:
    """A Keras-style indexable iterator (Sequence / directory iterator), a generator, or a torch DataLoader.

    `steps` is the number of batches per epoch, or None when the data's length is unknown (each epoch then runs
    until the data is exhausted, as Keras does with tf.data).
    """

    def __init__(self, data, steps=None, class_weight=None, shuffle=False, steps_name="steps", every_row=False):
        self.data, self.class_weight, self.shuffle = data, class_weight, shuffle
        self.every_row = every_row  # predict: a file iterator raises on an unreadable file instead of skipping it
        known = known_length(data)
        if steps is None and known == INFINITE_CARDINALITY:
            # tf.keras's message (Keras 3 itself runs such a fit forever)
            raise ValueError("When providing an infinite dataset, you must specify the number of steps to run (if you "
                             "did not intend to create an infinite dataset, make sure to not call `repeat()` on the "
                             f"dataset). Pass {steps_name}=... . Received: {steps_name}=None")
        self.indexable = hasattr(data, "__getitem__") and known is not None and not isinstance(
            data, torch.utils.data.DataLoader)
        self.steps = steps if steps is not None else (None if known == INFINITE_CARDINALITY else known)
        self._iterator = None
        self.first_batch_check = None  # fn(y) run on the labels of the next batch converted, then forgotten

    def _check_first(self, y):
        check, self.first_batch_check = self.first_batch_check, None
        check(y)

    def _convert(self, batch):
        x, y, sw = unpack(batch)
        items, is_list = flatten(x)
        xs = [_float(_as_tensor(a, "x")) for a in items]
        y = None if y is None else _as_tensor(y, "y")
        if self.first_batch_check is not None:
            self._check_first(y)
        if self.class_weight is not None:
            if y is None:
                raise ValueError("class_weight needs labels: the data must yield (x, y) batches.")
            if sw is not None:
                raise ValueError("class_weight cannot be used with data that yields its own sample weights.")
            sw = class_weights_to_sample_weights(y, self.class_weight)
        sw = None if sw is None else _float(_as_tensor(sw, "sample_weight"))
        return (xs if is_list else xs[0]), y, sw

    def epoch(self, permutation=torch.randperm):
        """Yields (x, y, sample_weight) batches for one epoch: `steps` of them (fewer if a generator runs out), or
        all of one pass when `steps` is None. `permutation(n)` draws the batch order of a shuffled indexable
        iterator. With `every_row`, a file iterator's batches keep a row for every file (or raise naming it)."""
        every_row = getattr(self.data, "rows_for_every_file", None) if self.every_row else None
        with every_row() if every_row is not None else contextlib.nullcontext():
            yield from self._epoch(permutation)

    def _epoch(self, permutation):
        if self.indexable:
            if callable(getattr(self.data, "on_epoch_begin", None)):
                self.data.on_epoch_begin()
            count = dataset_length(self.data) if isinstance(self.data, PyDataset) else len(self.data)
            # shuffle=True visits the batches in a random order each epoch (Keras does the same for a PyDataset),
            # except for iterators that shuffle their samples themselves (cnnkit's image iterators)
            shuffle = self.shuffle and count and not getattr(self.data, "shuffles_itself", False)
            order = permutation(count).tolist() if shuffle else list(range(count))
            indices = (order[i % count] for i in range(self.steps))
            # a PyDataset with workers produces its batches in threads or processes, in order (Keras's enqueuer)
            batches = ordered_batches(self.data, indices) if parallel(self.data) else (self.data[i] for i in indices)
            yield from prefetch(self._convert(batch) for batch in batches)
            if callable(getattr(self.data, "on_epoch_end", None)):
                self.data.on_epoch_end()
            return
        if isinstance(self.data, torch.utils.data.DataLoader):
            yield from self._stream()
        else:
            yield from prefetch(self._stream())

    def _stream(self):
        """Batches of a generator, iterable or DataLoader: with `steps`, continuing where the last epoch stopped and
        restarting an iterable that runs out mid-epoch; without, one whole pass."""
        restartable = not isinstance(self.data, collections.abc.Iterator)
        produced = 0
        while self.steps is None or produced < self.steps:
            fresh = self._iterator is None
            if fresh:
                self._iterator = iter(self.data)
            try:
                batch = next(self._iterator)
            except StopIteration:
                self._iterator = None
                if fresh or not restartable or self.steps is None:
                    return  # empty data, a generator that ran out, or the end of a pass of unknown length
                continue  # a DataLoader or iterable: start a new pass
            yield self._convert(batch)
            produced += 1


def make(x, y=None, sample_weight=None, batch_size=None, shuffle=True, steps=None, what="x", class_weight=None,
         steps_name="steps", every_row=False):
    """The right adapter for `x`; `y` and `sample_weight` only with arrays (`class_weight` only with iterators:
    for arrays the caller turns it into sample weights). `steps_name` is the caller's name for `steps`;
    `every_row` (predict) makes file iterators raise on an unreadable file instead of skipping it."""
    if x is None:
        raise ValueError(f"{what} is required. Pass numpy arrays, torch tensors, a data iterator or a DataLoader.")
    steps = checks.optional_count(steps_name, steps)
    batch_size = checks.optional_count("batch_size", batch_size)
    if is_array_like(x):
        if batch_size is None:
            # Keras: without batch_size, steps splits the data into that many batches; else 32
            items, _ = flatten(x)
            batch_size = math.ceil(len(items[0]) / steps) if steps and len(items[0]) else 32
        return ArrayData(x, y, sample_weight, batch_size, shuffle, steps)
    if isinstance(x, (str, bytes, dict)):
        raise TypeError(f"{what} must be arrays, a data iterator, a generator or a DataLoader. Received: "
                        f"{type(x).__name__}")
    if y is not None:
        raise ValueError("y must not be given when x is a data iterator, generator or DataLoader (it yields "
                         "(x, y) batches itself).")
    if sample_weight is not None:
        raise ValueError("sample_weight must not be given when x is a data iterator; yield (x, y, sample_weight).")
    return IteratorData(x, steps, class_weight, shuffle=bool(shuffle), steps_name=steps_name, every_row=every_row)


def split_validation(x, y, sample_weight, validation_split):
    """Keras's rule: the last `validation_split` fraction of the arrays (before any shuffling) is validation."""
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"validation_split must be in (0, 1). Received: validation_split={validation_split}")
    if not is_array_like(x):
        raise ValueError("validation_split is only supported for arrays; for iterators pass validation_data "
                         "(e.g. a generator made with subset='validation').")
    items, _ = flatten(x)
    n = len(items[0])
    cut = int(n * (1.0 - validation_split))
    if cut == 0 or cut == n:
        raise ValueError(f"validation_split={validation_split} leaves an empty training or validation set for "
                         f"{n} samples.")

    def part(value, sl):
        if value is None:
            return None
        value_items, value_list = flatten(value)
        cut_items = [v[sl] for v in value_items]
        return cut_items if value_list else cut_items[0]

    first, last = slice(0, cut), slice(cut, n)
    train = (part(x, first), part(y, first), part(sample_weight, first))
    val = (part(x, last), part(y, last), part(sample_weight, last))
    return train, val


def class_weights_to_sample_weights(y, class_weight):
    """Per-sample weights from a {class: weight} dict or 'balanced' (n_samples / (n_classes * count)).

    As Keras: one-hot labels are read by argmax, (n, 1) labels squeezed, float labels rounded, and classes missing
    from the dict weigh 1.0.
    """
    labels = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
    if labels.ndim > 1:
        labels = labels.argmax(-1) if labels.shape[-1] != 1 else labels.reshape(labels.shape[:-1])
    labels = np.round(labels.reshape(len(labels))).astype(np.int64)
    if isinstance(class_weight, str) and class_weight == "balanced":
        classes, counts = np.unique(labels, return_counts=True)
        class_weight = {int(c): len(labels) / (len(classes) * n) for c, n in zip(classes, counts)}
    if not isinstance(class_weight, dict):
        raise ValueError(f"class_weight must be a dict {{class index: weight}} or 'balanced'. "
                         f"Received: {class_weight!r}")
    weights = np.ones(len(labels), dtype=np.float32)
    for cls, weight in class_weight.items():
        weights[labels == int(cls)] = weight
    return weights
