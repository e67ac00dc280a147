"""`PyDataset` (Keras 3's `keras.utils.PyDataset`; `Sequence` is its Keras 2 name): a dataset written in Python
as `__getitem__(index) -> batch` plus `__len__` (or a `num_batches` property), which `fit`, `evaluate` and `predict`
read batch by batch, calling `on_epoch_begin` / `on_epoch_end` around each epoch.

With `workers > 1` (threads) or `use_multiprocessing=True` (processes), batches are produced in parallel, up to
`max_queue_size` ahead, and handed over in index order; an exception raised by `__getitem__` in a worker is
raised again in the training loop with its type and message.

Example:
    >>> class Squares(PyDataset):
    ...     def __init__(self, n, **kwargs):
    ...         super().__init__(**kwargs)  # workers, use_multiprocessing, max_queue_size
    ...         self.n = n
    ...     def __len__(self):
    ...         return self.n
    ...     def __getitem__(self, index):
    ...         x = np.full((4, 1), float(index), "float32")
    ...         return x, x ** 2
    >>> model.fit(Squares(10, workers=2), epochs=1)
"""

import collections
import concurrent.futures
import itertools
import multiprocessing
import sys
import warnings

_worker_dataset = None  # the dataset of a worker process (set by the pool's initializer)


class PyDataset:
    """Base class for datasets written in Python (Keras 3's `PyDataset`).

    Subclasses implement `__getitem__(index)` returning a batch: `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`
    (numpy arrays or torch tensors, lists for several inputs), and `__len__` (the number of batches) or a
    `num_batches` property (None for an infinite dataset). `on_epoch_begin` / `on_epoch_end` are called around
    each epoch (e.g. to shuffle the samples).

    Args:
        workers: the number of threads (or processes) that produce batches in parallel; 0 or 1 produce them in the
            training loop's own thread (1 is the default).
        use_multiprocessing: produce batches in worker processes instead of threads (the dataset must not rely on
            state that only the parent process updates during an epoch).
        max_queue_size: the most batches produced ahead of the training loop.

    Raises:
        ValueError: workers < 0, or max_queue_size < 1.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ValueError(f"{type(self).__name__}: workers must be an int >= 0. Received: workers={workers!r}")
        if isinstance(max_queue_size, bool) or not isinstance(max_queue_size, int) or max_queue_size < 1:
            raise ValueError(f"{type(self).__name__}: max_queue_size must be an int >= 1. Received: "
                             f"max_queue_size={max_queue_size!r}")
        self._workers = workers
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        missing = False
        for attr, default in (("_workers", 1), ("_use_multiprocessing", False), ("_max_queue_size", 10)):
            if attr not in vars(self):
                setattr(self, attr, default)
                missing = True
        if missing:
            warnings.warn("Your `PyDataset` class should call `super().__init__(**kwargs)` in its constructor. "
                          "`**kwargs` can include `workers`, `use_multiprocessing`, `max_queue_size`. Do not pass "
                          "these arguments to `fit()`, as they will be ignored.", stacklevel=3)

    @property
    def workers(self):
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        """The batch at position `index` (0 <= index < num_batches)."""
        raise NotImplementedError

    def __iter__(self):
        try:
            count = self.num_batches
        except NotImplementedError:
            count = None
        for index in range(count) if count is not None else itertools.count():
            yield self[index]

    @property
    def num_batches(self):
        """The number of batches (`len(self)` by default); None for an infinite dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError("You need to implement the `num_batches` property:\n\n"
                                  "@property\ndef num_batches(self):\n  return ...")

    def on_epoch_begin(self):
        """Called at the start of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""


Sequence = PyDataset


def dataset_length(data):
    """The number of batches of a PyDataset (None when infinite or not implemented)."""
    try:
        return data.num_batches
    except NotImplementedError:
        return None


def _init_worker(dataset):
    global _worker_dataset  # noqa: PLW0603 (one dataset per worker process)
    _worker_dataset = dataset


def _get_item(index):
    return _worker_dataset[index]


def _process_pool(dataset, workers):
    method = "fork" if sys.platform.startswith("linux") else None  # fork: the dataset need not be picklable
    context = multiprocessing.get_context(method)
    return concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                                  initargs=(dataset,))


def parallel(dataset):
    """Whether `dataset` produces its batches in workers (Keras's rule: workers > 1, or workers > 0 with
    use_multiprocessing)."""
    return isinstance(dataset, PyDataset) and (dataset.workers > 1 or (dataset.workers > 0 and
                                                                       dataset.use_multiprocessing))


def ordered_batches(dataset, indices):
    """Yields `dataset[i]` for each i of `indices`, in that order, produced by the dataset's workers (threads or
    processes, `workers` of them) up to `max_queue_size` batches ahead. The pool lives for this one pass (one
    epoch), so worker processes see the dataset as `on_epoch_begin` left it. An exception in a worker is raised
    here (same type and message; a process's traceback is attached as the cause)."""
    workers, depth = max(1, dataset.workers), max(1, dataset.max_queue_size)
    if dataset.use_multiprocessing:
        pool = _process_pool(dataset, workers)
        submit = lambda i: pool.submit(_get_item, i)  # noqa: E731
    else:
        pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="PyDataset")
        submit = lambda i: pool.submit(dataset.__getitem__, i)  # noqa: E731
    pending = collections.deque()
    indices = iter(indices)
    try:
        for index in itertools.islice(indices, depth):
            pending.append(submit(index))
        while pending:
            batch = pending.popleft().result()
            for index in itertools.islice(indices, 1):
                pending.append(submit(index))
            yield batch
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
