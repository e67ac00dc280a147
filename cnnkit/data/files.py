"""Iterators over image files: `DirectoryIterator` (class folders) and `DataFrameIterator` (a table of paths).

Images are decoded by the iterator's worker processes (threads with use_multiprocessing=False), JPEGs at reduced
size when shrinking, READ_AHEAD batches ahead of the one being handed out. A file that cannot be read is skipped
with one warning naming it and counted in `skipped`; it is left out of its batch (the batch is one smaller).
`on_error='raise'` stops instead, and so does `predict` (inside `rows_for_every_file()`), whose output must have
one row per entry of `filenames`. Files that cannot be images at all never get here: the folder scan leaves them
out (`cnnkit.data.directory.image_file_problem`). Nothing is kept between batches unless `cache` is set, so
memory does not grow with the folder.
"""

import concurrent.futures
import contextlib
import logging
import os
import threading

import numpy as np

from cnnkit.data import directory as directory_lib
from cnnkit.data.image_io import (check_color_mode, check_data_format, check_interpolation, check_size,
                                 decode_files)
from cnnkit.data.iterators import Iterator, LazyRng, label_batch, save_batch, transform, transform_rows
from cnnkit.data.workers import PROCESSES_BY_DEFAULT, ProcessDecoder, params_at
from cnnkit.registry import did_you_mean

LOGGER = logging.getLogger("cnnkit.data")  # one clean line per message; logging.getLogger("cnnkit") silences them


#: Batches decoded ahead of the one being read (each holds one batch of decoded images in shared memory).
READ_AHEAD = 2


class FileIterator(Iterator):
    """Shared machinery of the file iterators: parallel decoding with read-ahead, corrupt files, the cache, labels.

    Each batch's files are split into one chunk per worker; while batch i is handed out, batch i + 1 is already
    being decoded. Subclasses set `filepaths` (list of str), `classes` (int32 array or None), `class_indices`,
    `class_mode`, then call `_setup(...)`.
    """

    _every_row = False  # inside rows_for_every_file(): an unreadable file raises instead of being skipped

    def _setup(self, image_data_generator, target_size, color_mode, data_format, save_to_dir, save_prefix,
               save_format, subset, interpolation, keep_aspect_ratio, dtype, batch_size, shuffle, seed, workers,
               cache, on_error, use_multiprocessing=None):
        self.image_data_generator = image_data_generator
        self.target_size = check_size(target_size, "target_size")
        channels = check_color_mode(color_mode)
        check_interpolation(interpolation)
        if on_error not in ("warn", "raise"):
            raise ValueError(f"on_error must be 'warn' (skip unreadable files) or 'raise'. Received: "
                             f"on_error={on_error!r}")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
            raise ValueError(f"workers must be a non-negative int or None (all cores). Received: workers={workers!r}")
        if not (isinstance(cache, bool) or (isinstance(cache, int) and cache > 0)):
            raise ValueError(f"cache must be True, False or a memory budget in bytes. Received: cache={cache!r}")
        self.color_mode, self.interpolation, self.keep_aspect_ratio = color_mode, interpolation, keep_aspect_ratio
        self.data_format = check_data_format(data_format)
        self.image_shape = (self.target_size + (channels,) if self.data_format == "channels_last"
                            else (channels,) + self.target_size)
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        self.subset, self.dtype, self.on_error = subset, dtype or "float32", on_error
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        if use_multiprocessing and not PROCESSES_BY_DEFAULT:
            raise ValueError("use_multiprocessing=True needs Linux's 'fork' start method; on this platform "
                             "threads decode (use_multiprocessing=False).")
        self.use_multiprocessing = PROCESSES_BY_DEFAULT if use_multiprocessing is None else bool(use_multiprocessing)
        self.samples = len(self.filepaths)
        self.skipped = 0
        self.skipped_files = []
        self._epoch_skipped = 0
        self._bad = set()
        self._cache = cache
        self._cache_images = None  # (slots, h, w, c) array, allocated at the first image
        self._cache_slot = np.full(len(self.filepaths), -1, dtype=np.int64)
        self._cache_used = 0
        self._pending = {}
        self._threads = None
        self._decoder = None
        self._state_lock = threading.RLock()
        super().__init__(self.samples, batch_size, shuffle, seed)
        if self.use_multiprocessing and self.workers > 1 and self.samples:
            # fork the decoding workers now, from the thread that builds the iterator (not from fit's threads)
            self._decoder = ProcessDecoder(self, self.workers)
            self._decoder.start()

    @property
    def num_classes(self):
        return len(self.class_indices)

    @property
    def labels(self):
        return self.classes

    @property
    def sample_weight(self):
        return None

    # ---- decoding -------------------------------------------------------------------------------------------
    def _params(self, index_array, rng):
        """The batch's random transform parameters, drawn for every position first (None: no augmentation)."""
        generator = self.image_data_generator
        if generator is None or self.subset == "validation" or not generator.augments:
            return None
        return generator.sample_params(len(index_array), self.target_size, rng)

    def _start(self, index_array, params):
        """Starts decoding the batch's samples that are neither cached nor known bad. Returns a job:
        ('processes', decoder job, augmented by the workers) or ('threads', [(indices, future)], False)."""
        todo = [int(i) for i in index_array  # predict (every_row) tries files found unreadable before again
                if self._cache_slot[i] < 0 and (self._every_row or int(i) not in self._bad)]
        if self.workers > 1 and self.use_multiprocessing and todo:
            with self._state_lock:
                if self._decoder is None:
                    self._decoder = ProcessDecoder(self, self.workers)
            in_workers = params is not None and not self._cache
            return "processes", self._decoder.submit(index_array, todo, params if in_workers else None), in_workers
        args = (self.target_size, self.color_mode, self.interpolation, self.keep_aspect_ratio)
        if self.workers <= 1 or len(todo) <= 1:
            done = concurrent.futures.Future()
            done.set_result(decode_files([self.filepaths[i] for i in todo], *args))
            return "threads", [(todo, done)], False
        with self._state_lock:
            if self._threads is None:
                self._threads = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="cnnkit-decode")
        size = -(-len(todo) // self.workers)
        chunks = [todo[k:k + size] for k in range(0, len(todo), size)]
        return "threads", [(c, self._threads.submit(decode_files, [self.filepaths[i] for i in c], *args))
                           for c in chunks], False

    def _results(self, job, index_array):
        """({position in the batch: image or error string}, a zero-copy batch view or None) of a started job."""
        kind, work, _ = job
        if kind == "processes":
            channels = self.image_shape[-1] if self.data_format == "channels_last" else self.image_shape[0]
            errors, dtypes, view = self._decoder.collect(work, self.target_size + (channels,))
            views = {dtype: view(dtype) for dtype in set(dtypes.values())}
            out = {p: views[dtype][p] for p, dtype in dtypes.items()}
            out.update(errors)
            whole = views[next(iter(views))] if len(views) == 1 else None
            return out, whole
        position = {int(i): p for p, i in enumerate(index_array)}
        out = {}
        for indices, future in work:
            for i, (image, error) in zip(indices, future.result()):
                out[position[i]] = image if error is None else error
        return out, None

    def _batch_at(self, idx, epoch, index_array, rng):
        # parameters drawn for the whole batch, then this process's part taken (the same transforms as in one
        # process)
        index_array, params = self._own(index_array, self._params(index_array, rng))
        if self._cache_used == self.n and self.n:  # everything cached (later epochs of cache=True): one gather
            return self._finish(self._cache_images, index_array, rng, params, rows=self._cache_slot[index_array])
        with self._state_lock:
            job = self._pending.pop((epoch, idx), None)
        if job is None:
            job = self._start(index_array, params)
        last_ahead = min(idx + READ_AHEAD, len(self) - 1) if self.workers > 1 else idx  # no read-ahead serially
        for ahead in range(idx + 1, last_ahead + 1):
            # decode the next batches while this one is used (their parameters come from their own seeds)
            with self._state_lock:
                if (epoch, ahead) in self._pending:
                    continue
            next_indices, _ = self._indices(ahead)
            next_indices, next_params = self._own(
                next_indices, self._params(next_indices, LazyRng([self._seed, epoch, ahead])))
            next_job = self._start(next_indices, next_params)
            with self._state_lock:
                self._pending[(epoch, ahead)] = next_job
                while len(self._pending) > 2 * READ_AHEAD:  # batches read out of order: drop the oldest
                    self._drop(self._pending.pop(next(iter(self._pending))))
        return self._assemble(job, index_array, params, rng)

    def _batch(self, index_array, rng):
        params = self._params(index_array, rng)
        return self._assemble(self._start(index_array, params), index_array, params, rng)

    def _assemble(self, job, index_array, params, rng):
        """The finished batch: decoded (or cached) images in batch order, unreadable files left out."""
        try:
            return self._assemble_results(job, index_array, params, rng)
        finally:
            self._drop(job)

    def _assemble_results(self, job, index_array, params, rng):
        results, whole = self._results(job, index_array)
        images, kept, positions = [], [], []
        for p, i in enumerate(index_array):
            i = int(i)
            image = results.get(p)
            if isinstance(image, str):
                image = self._failed(i, image)
            elif image is None and self._cache_slot[i] >= 0:
                image = self._cache_images[self._cache_slot[i]]
            elif image is None and self._every_row:  # left out of a job started before as unreadable: try again
                image, error = decode_files([self.filepaths[i]], self.target_size, self.color_mode,
                                            self.interpolation, self.keep_aspect_ratio)[0]
                if error is not None:
                    self._failed(i, error)
            elif image is not None and self._cache:
                self._store(i, image)  # copies out of the shared slot
            if image is not None:
                images.append(image)
                kept.append(i)
                positions.append(p)
        augmented = job[2]
        if not kept:  # every file of the batch was unreadable: borrow a readable one
            images, kept, positions, augmented = *self._borrow(rng), [0], False
        kept_params = None if params is None else params_at(params, positions)
        if len(kept) == len(index_array) and not results and self._cache:  # all cached: read the cache's rows
            return self._finish(self._cache_images, np.asarray(kept), rng, kept_params, augmented,
                                rows=self._cache_slot[index_array])
        if whole is not None and len(results) == len(kept) == len(index_array):
            raw = whole[:len(kept)]  # all from the workers' shared memory: no copy before the conversion
        else:
            raw = np.stack(images)
        return self._finish(raw, np.asarray(kept), rng, kept_params, augmented)

    def _failed(self, i, error):
        if self._every_row:
            raise ValueError(f"Could not read the image {self.filepaths[i]!r}: {error}. predict needs one row per "
                             "file (its output lines up with `filenames`): remove or replace the file (fit and "
                             "evaluate skip such files with a warning).")
        if self.on_error == "raise":
            raise ValueError(f"Could not read the image {self.filepaths[i]!r}: {error}")
        with self._state_lock:
            self._epoch_skipped += 1
            if i in self._bad:
                return None
            self._bad.add(i)
            self.skipped += 1
            self.skipped_files.append(self.filepaths[i])
        LOGGER.warning("Skipping unreadable image %r (%s).", self.filepaths[i], error)
        return None

    @contextlib.contextmanager
    def rows_for_every_file(self):
        """A block in which every batch holds one row per sample: an unreadable file raises a ValueError naming
        it instead of being skipped. `predict` reads iterators inside it, so its rows line up with `filenames` /
        `classes` (when not shuffling).

        Example:
            >>> with flow.rows_for_every_file():
            ...     batch = flow[0]   # len(batch[0]) == min(flow.batch_size, flow.samples), or a ValueError
        """
        previous, self._every_row = self._every_row, True
        try:
            yield self
        finally:
            self._every_row = previous

    def _store(self, i, image):
        """Keeps a decoded image in the cache while the budget allows."""
        if self._cache_images is None:
            budget = len(self.filepaths) if self._cache is True else self._cache // max(image.nbytes, 1)
            self._cache_images = np.empty((min(budget, len(self.filepaths)),) + image.shape, image.dtype)
        if (self._cache_used < len(self._cache_images) and image.shape == self._cache_images.shape[1:]
                and image.dtype == self._cache_images.dtype and self._cache_slot[i] < 0):
            self._cache_images[self._cache_used] = image
            self._cache_slot[i] = self._cache_used
            self._cache_used += 1

    def _borrow(self, rng):
        start = int(rng.integers(self.n)) if self.n else 0
        for offset in range(self.n):
            candidate = (start + offset) % self.n
            if candidate in self._bad:
                continue
            if self._cache_slot[candidate] >= 0:
                return [self._cache_images[self._cache_slot[candidate]]], [candidate]
            image, error = decode_files([self.filepaths[candidate]], self.target_size, self.color_mode,
                                        self.interpolation, self.keep_aspect_ratio)[0]
            if error is None:
                return [image], [candidate]
            self._failed(candidate, error)
        raise ValueError(f"None of the {self.n} image files could be read (e.g. {self.filepaths[0]!r}).")

    def _finish(self, raw, index_array, rng, params=None, augmented=False, rows=None):
        """The batch from `raw` images (or from `raw[rows]`: the cache and its slots), labelled."""
        augment = self.subset != "validation"
        if rows is not None and params is None:
            batch_x = transform_rows(self.image_data_generator, raw, rows, rng, augment, self.dtype)
        else:
            raw = raw if rows is None else raw[rows]
            batch_x = transform(self.image_data_generator, raw, rng, augment, self.dtype, params, augmented)
        if self.save_to_dir:
            save_batch(batch_x, index_array, rng, self.save_to_dir, self.save_prefix, self.save_format)
        if self.data_format == "channels_first":
            batch_x = np.ascontiguousarray(np.moveaxis(batch_x, -1, 1))
        return self._with_labels(batch_x, index_array)

    def _with_labels(self, batch_x, index_array):
        mode = self.class_mode
        if mode is None:
            return batch_x
        if mode == "input":
            return batch_x, batch_x.copy()
        if mode in ("categorical", "binary", "sparse"):
            return batch_x, label_batch(mode, self.classes, index_array, self.num_classes, self.dtype)
        raise AssertionError(mode)  # subclasses handle their own modes first

    def _drop(self, job):
        """Forgets a started job (its shared-memory slot is reused once its workers finish)."""
        if job[0] == "processes" and self._decoder is not None:
            self._decoder.release(job[1])

    def on_epoch_end(self):
        """Starts a new epoch (pending read-ahead dropped); says once how many files this epoch skipped (each was
        named when first met)."""
        with self._state_lock:
            for job in self._pending.values():
                self._drop(job)
            self._pending = {}
            skipped, self._epoch_skipped = self._epoch_skipped, 0
        if skipped:
            LOGGER.warning("%d unreadable image(s) skipped this epoch (%d different files: "
                           "`iterator.skipped_files` lists them).", skipped, self.skipped)
        super().on_epoch_end()

    def close(self, wait=True):
        """Stops this iterator's decoding threads or processes and frees its shared memory (also done when the
        iterator is garbage-collected, and at exit)."""
        threads, decoder = getattr(self, "_threads", None), getattr(self, "_decoder", None)
        self._threads = self._decoder = None
        if threads is not None:
            threads.shutdown(wait=False)
        if decoder is not None:
            decoder.close(wait=wait)

    def __del__(self):
        self.close(wait=False)


def check_class_mode(class_mode, allowed):
    if class_mode not in allowed:
        names = [m for m in allowed if m is not None]
        raise ValueError(f"class_mode must be one of {names} or None{did_you_mean(class_mode, names)}. "
                         f"Received: class_mode={class_mode!r}")


class DirectoryIterator(FileIterator):
    """Batches from a class-folder tree (what `ImageDataGenerator.flow_from_directory` returns).

    Attributes:
        class_indices: {class folder name: index}, folders in natural order.
        classes: (samples,) int32 class index of each file, in `filenames` order.
        filenames: paths relative to `directory`; filepaths: the full paths.
        samples, num_classes, image_shape, skipped (unreadable files met so far), skipped_files.

    Without shuffle, batch i holds files i*batch_size ... in `filenames` order, so `predict` output lines up with
    `classes`.
    """

    allowed_class_modes = ("categorical", "binary", "sparse", "input", None)

    def __init__(self, directory, image_data_generator, target_size=(256, 256), color_mode="rgb", classes=None,
                 class_mode="categorical", batch_size=32, shuffle=True, seed=None, data_format=None,
                 save_to_dir=None, save_prefix="", save_format="png", follow_links=False, subset=None,
                 interpolation="nearest", keep_aspect_ratio=False, dtype=None, workers=None, cache=False,
                 on_error="warn", validation_split=None, verbose=True, use_multiprocessing=None):
        check_class_mode(class_mode, self.allowed_class_modes)
        self.directory, self.class_mode = os.fspath(directory), class_mode
        class_names, filenames, labels = directory_lib.index_directory(directory, classes, follow_links)
        if validation_split is None:
            validation_split = getattr(image_data_generator, "_validation_split", 0.0)
        keep = directory_lib.subset_indices(labels, validation_split, subset, seed)
        self.class_indices = {name: i for i, name in enumerate(class_names)}
        self.filenames = [filenames[i] for i in keep]
        self.classes = labels[keep]
        self.filepaths = [os.path.join(self.directory, f) for f in self.filenames]
        if verbose:
            print(f"Found {len(self.filenames)} images belonging to {len(class_names)} classes.")
        self._setup(image_data_generator, target_size, color_mode, data_format, save_to_dir, save_prefix,
                    save_format, subset, interpolation, keep_aspect_ratio, dtype, batch_size, shuffle, seed,
                    workers, cache, on_error, use_multiprocessing)
