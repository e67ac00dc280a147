"""`Dataset`: a small lazy pipeline with `tf.data.Dataset`'s methods, over `image_dataset_from_directory`'s batches.

A `Dataset` wraps a factory that starts one pass over its elements; each method (`take`, `skip`, `map`, `filter`,
`cache`, `shuffle`, `prefetch`, `unbatch`, `batch`, `repeat`) returns a new `Dataset` whose factory pulls from the
one before it. Nothing runs until the dataset is iterated, and every `for ... in dataset` is a new pass (a new
epoch: a shuffled source is reshuffled, `map` runs again, random layers draw again), as with tf.data.
`DatasetOps` holds the methods once; `Dataset` and `cnnkit.data.ImageDataset` both inherit them.

Elements are numpy arrays (`Tensor`, a zero-copy ndarray subclass), or tuples / dicts of them: the data lives on
the host, like tf.data's, numpy functions work on elements as on tf tensors (`np.min(images)`), and
`element.numpy()` works as on a tf tensor (tutorials call it), which neither a torch tensor (its `min` does not
take numpy's arguments) nor a plain ndarray (no `.numpy()`) allows. What a `map` function returns (cnnkit layers
return torch tensors) is turned back into such arrays (a zero-copy view of CPU tensors). `fit` and `predict` take
these datasets and convert each batch to torch without a copy.

Differences from tf.data: `map(num_parallel_calls=..., deterministic=...)` are accepted and ignored (the function
runs in the thread that pulls the element, the prefetch thread when there is one); `cache()` keeps elements in
memory only; `class_names` is kept through every method but `map` (tf.data drops it on every method; a `map`
may change the labels); `file_paths` stays on the source dataset only (as tf.data), since shuffling, skipping or
filtering changes which files the elements are.

Example:
    >>> ds = image_dataset_from_directory("flowers/", image_size=(64, 64), batch_size=32)
    >>> ds = ds.map(lambda x, y: (x / 255.0, y)).cache().shuffle(1000).prefetch(AUTOTUNE)
    >>> ds.cardinality(), next(iter(ds))[0].shape
    (Tensor(4), (32, 64, 64, 3))
"""

import queue
import threading

import numpy as np
import torch

#: tf.data.AUTOTUNE: let the pipeline choose (a buffer of PREFETCH_AUTOTUNE elements for `prefetch`).
AUTOTUNE = -1
#: `cardinality()` of a dataset that never ends (`repeat()`).
INFINITE_CARDINALITY = -1
#: `cardinality()` of a dataset whose length is only known by reading it (`filter`, `unbatch`).
UNKNOWN_CARDINALITY = -2
PREFETCH_AUTOTUNE = 2


class Tensor(np.ndarray):
    """A dataset element: a numpy array that also has tf.Tensor's `numpy()` (a plain ndarray view)."""

    def numpy(self):
        return self.view(np.ndarray)


def as_element(value):
    """`value` (arrays, torch tensors, numbers; in tuples, lists or dicts) with every leaf a `Tensor`."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, tuple):
        return tuple(as_element(v) for v in value)
    if isinstance(value, list):
        return [as_element(v) for v in value]
    if isinstance(value, dict):
        return {k: as_element(v) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if value is None or isinstance(value, (str, bytes)):
        return value
    return np.asarray(value).view(Tensor)


def _structure(fn, value):
    if isinstance(value, (tuple, list)):
        return type(value)(_structure(fn, v) for v in value)
    if isinstance(value, dict):
        return {k: _structure(fn, v) for k, v in value.items()}
    return fn(value)


def _leaves(value):
    if isinstance(value, (tuple, list)):
        return [leaf for v in value for leaf in _leaves(v)]
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    return [value]


def _call(fn, element):
    """tf.data's convention: a tuple element is passed as separate arguments."""
    return fn(*element) if isinstance(element, tuple) else fn(element)


def _int(value, method, arg, low):
    """`value` (an int, or a 0-d array such as `cardinality() // 5`) checked to be an int >= low."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or number != value or number < low:
        raise ValueError(f"Dataset.{method}: {arg} must be an int >= {low}. Received: {arg}={value!r}")
    return number


def prefetched(elements, depth):
    """The items of the iterator `elements`, produced by a background thread up to `depth` items ahead; stops the
    thread when the consumer stops, and raises the producer's errors in the consumer."""
    ready, stop, done = queue.Queue(depth), threading.Event(), object()

    def produce():
        try:
            for item in elements:
                while not stop.is_set():
                    try:
                        ready.put((item, None), timeout=0.05)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put((done, None))
        except BaseException as err:  # noqa: BLE001 (raised in the consumer)
            ready.put((None, err))

    thread = threading.Thread(target=produce, name="cnnkit-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, err = ready.get()
            if err is not None:
                raise err
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                ready.get(timeout=0.05)
            except queue.Empty:
                pass
            thread.join(timeout=0.05)


class DatasetOps:
    """tf.data.Dataset's methods, written once on `_elements()` (a new iterator over one pass) and `_count()` (the
    cardinality as an int). Each returns a lazy `Dataset`."""

    def _elements(self):
        raise NotImplementedError

    def _count(self):
        raise NotImplementedError

    def _derive(self, factory, count, keep_class_names=True):
        names = getattr(self, "class_names", None) if keep_class_names else None
        return Dataset(factory, count, class_names=names)

    # ---- reading ------------------------------------------------------------------------------------------
    def cardinality(self):
        """The number of elements (a 0-d int64 `Tensor`), INFINITE_CARDINALITY or UNKNOWN_CARDINALITY."""
        return np.asarray(self._count(), dtype=np.int64).view(Tensor)

    def as_numpy_iterator(self):
        """An iterator over the elements as plain numpy arrays (tuples and dicts kept)."""
        return (_structure(lambda a: a.view(np.ndarray) if isinstance(a, np.ndarray) else a, e)
                for e in self._elements())

    # ---- transformations ----------------------------------------------------------------------------------
    def take(self, count, name=None):
        """The first `count` elements (-1: all)."""
        count = _int(count, "take", "count", -1)
        total = self._count()

        def factory():
            if count < 0:
                yield from self._elements()
                return
            for i, element in zip(range(count), self._elements()):
                yield element

        size = total if count < 0 or total == UNKNOWN_CARDINALITY else (
            count if total == INFINITE_CARDINALITY else min(count, total))
        return self._derive(factory, size)

    def skip(self, count, name=None):
        """All but the first `count` elements (-1: none)."""
        count = _int(count, "skip", "count", -1)
        total = self._count()

        def factory():
            if count < 0:
                return
            for i, element in enumerate(self._elements()):
                if i >= count:
                    yield element

        size = 0 if count < 0 else (total if total < 0 else max(total - count, 0))
        return self._derive(factory, size)

    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None):
        """`map_func` applied to each element (to each batch of a batched dataset), lazily: a tuple element
        `(x, y)` is passed as two arguments, as tf.data does. What it returns (torch tensors too) becomes the new
        element. num_parallel_calls and deterministic are accepted and ignored (see the module docstring)."""
        if not callable(map_func):
            raise ValueError(f"Dataset.map: map_func must be callable. Received: map_func={map_func!r}")
        return self._derive(lambda: (as_element(_call(map_func, e)) for e in self._elements()), self._count(),
                            keep_class_names=False)

    def filter(self, predicate, name=None):
        """The elements for which `predicate` (called as `map`'s function) is true."""
        if not callable(predicate):
            raise ValueError(f"Dataset.filter: predicate must be callable. Received: predicate={predicate!r}")

        def keep(element):
            flag = _call(predicate, element)
            if isinstance(flag, torch.Tensor):
                flag = flag.detach().cpu().numpy()
            flag = np.asarray(flag)
            if flag.shape != ():
                raise ValueError(f"Dataset.filter: predicate must return a scalar boolean. Received shape "
                                 f"{flag.shape}")
            return bool(flag)

        return self._derive(lambda: (e for e in self._elements() if keep(e)), UNKNOWN_CARDINALITY)

    def cache(self, filename="", name=None):
        """Keeps the elements of the first complete pass in memory; later passes replay them (in that order: a
        `shuffle` before `cache` is not redone, one after it is)."""
        if filename:
            raise ValueError(f"Dataset.cache: cnnkit caches in memory only; a file cache is not supported. "
                             f"Received: filename={filename!r}")
        store = []

        def factory():
            if store:
                yield from store[0]
                return
            elements = []
            for element in self._elements():
                elements.append(element)
                yield element
            if not store:  # a pass read to its end (a partial pass caches nothing, as tf.data)
                store.append(elements)

        return self._derive(factory, self._count())

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True, name=None):
        """tf.data's buffered shuffle: fills a buffer of `buffer_size` elements and hands out a random one,
        replacing it with the next element. A new order each pass (unless reshuffle_each_iteration=False); `seed`
        makes the orders repeatable (None: seeded from torch's generator, see `cnnkit.utils.set_random_seed`)."""
        if buffer_size != UNKNOWN_CARDINALITY:
            buffer_size = _int(buffer_size, "shuffle", "buffer_size", 1)
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        seed = _int(seed, "shuffle", "seed", 0)
        passes = [0]

        def factory():
            rng = np.random.default_rng([seed, passes[0]] if reshuffle_each_iteration else [seed])
            passes[0] += 1
            buffer = []
            for element in self._elements():
                buffer.append(element)
                if len(buffer) == buffer_size:
                    yield _pick(buffer, rng)
            while buffer:
                yield _pick(buffer, rng)

        return self._derive(factory, self._count())

    def prefetch(self, buffer_size, name=None):
        """The same elements, produced by a background thread up to `buffer_size` elements ahead (AUTOTUNE: a
        few; 0: no thread)."""
        buffer_size = _int(buffer_size, "prefetch", "buffer_size", -1)
        depth = PREFETCH_AUTOTUNE if buffer_size == AUTOTUNE else buffer_size
        if depth == 0:
            return self._derive(self._elements, self._count())
        return self._derive(lambda: prefetched(self._elements(), depth), self._count())

    def unbatch(self, name=None):
        """Each batch split into its elements (along the first axis of every array)."""

        def factory():
            for element in self._elements():
                leaves = _leaves(element)
                sizes = {len(leaf) for leaf in leaves}
                if len(sizes) != 1:
                    raise ValueError(f"Dataset.unbatch: the arrays of an element have different batch sizes "
                                     f"{sorted(sizes)}.")
                for i in range(sizes.pop()):
                    yield _structure(lambda a, i=i: a[i], element)

        return self._derive(factory, UNKNOWN_CARDINALITY)

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None, deterministic=None, name=None):
        """Consecutive elements stacked into batches of `batch_size` (the last one smaller, unless
        drop_remainder)."""
        batch_size = _int(batch_size, "batch", "batch_size", 1)
        total = self._count()

        def factory():
            group = []
            for element in self._elements():
                group.append(element)
                if len(group) == batch_size:
                    yield _stack(group)
                    group = []
            if group and not drop_remainder:
                yield _stack(group)

        size = total if total < 0 else (total // batch_size if drop_remainder else -(-total // batch_size))
        return self._derive(factory, size)

    def repeat(self, count=None, name=None):
        """The elements `count` times over (None or -1: forever), each repetition a new pass."""
        count = -1 if count is None else _int(count, "repeat", "count", -1)
        total = self._count()

        def factory():
            repetition = 0
            while count < 0 or repetition < count:
                empty = True
                for element in self._elements():
                    empty = False
                    yield element
                if empty:
                    return
                repetition += 1

        if count < 0:
            size = 0 if total == 0 else INFINITE_CARDINALITY
        else:
            size = total if total < 0 else total * count
        return self._derive(factory, 0 if count == 0 else size)


def _pick(buffer, rng):
    i = int(rng.integers(len(buffer)))
    buffer[i], buffer[-1] = buffer[-1], buffer[i]
    return buffer.pop()


def _stack(elements):
    first = elements[0]
    if isinstance(first, (tuple, list)):
        return type(first)(_stack([e[k] for e in elements]) for k in range(len(first)))
    if isinstance(first, dict):
        return {k: _stack([e[k] for e in elements]) for k in first}
    return np.stack([np.asarray(e) for e in elements])


class Dataset(DatasetOps):
    """A lazy pipeline of elements (see the module docstring), as tf.data.Dataset.

    Args:
        factory: a callable returning a new iterator over one pass of the elements.
        cardinality: the number of elements, INFINITE_CARDINALITY or UNKNOWN_CARDINALITY.
        class_names: kept as the `class_names` attribute when given (else the attribute is missing, as tf.data).

    Example:
        >>> ds = Dataset.from_tensor_slices((np.zeros((10, 4, 4, 3)), np.arange(10)))
        >>> [x.shape for x, y in ds.batch(4)]
        [(4, 4, 4, 3), (4, 4, 4, 3), (2, 4, 4, 3)]
    """

    def __init__(self, factory, cardinality, class_names=None):
        self._factory = factory
        self._cardinality = int(cardinality)
        if class_names is not None:
            self.class_names = class_names

    @staticmethod
    def from_tensor_slices(tensors, name=None):
        """One element per row of the arrays in `tensors` (an array, or a tuple / dict of arrays of one length)."""
        arrays = _structure(lambda a: as_element(a), tensors)
        sizes = {len(leaf) for leaf in _leaves(arrays)}
        if len(sizes) != 1:
            raise ValueError(f"Dataset.from_tensor_slices: all arrays must have the same length. Received lengths "
                             f"{sorted(sizes)}")
        size = sizes.pop()
        return Dataset(lambda: (_structure(lambda a, i=i: a[i], arrays) for i in range(size)), size)

    def _elements(self):
        return (as_element(e) for e in self._factory())

    def _count(self):
        return self._cardinality

    def __iter__(self):
        return self._elements()

    def __len__(self):
        if self._cardinality == INFINITE_CARDINALITY:
            raise TypeError("The dataset is infinite.")
        if self._cardinality == UNKNOWN_CARDINALITY:
            raise TypeError("The dataset length is unknown.")
        return self._cardinality

    def __repr__(self):
        return f"<Dataset cardinality={self._cardinality}>"


def cardinality(dataset):
    """tf.data.experimental.cardinality: `dataset.cardinality()`."""
    return dataset.cardinality()
