"""Iterators over image files: `DirectoryIterator` (class folders) and `DataFrameIterator` (a table of paths).

Images are decoded by a pool of threads (PIL releases the GIL while decoding and resizing), JPEGs at reduced size
when shrinking. A file that cannot be read is skipped with one warning naming it and counted in `skipped`; it is
left out of its batch (the batch is one smaller). `on_error='raise'` stops instead. Nothing is kept between
batches unless `cache` is set, so memory does not grow with the folder.
"""

import concurrent.futures
import os
import threading
import warnings

import numpy as np

from cnnkit.data import directory as directory_lib
from cnnkit.data.image_io import DECODE_ERRORS, check_color_mode, check_interpolation, check_size, read_image
from cnnkit.data.iterators import Iterator, label_batch, save_batch, transform
from cnnkit.registry import did_you_mean


class FileIterator(Iterator):
    """Shared machinery of the file iterators: decoding in parallel, corrupt files, the cache, labels.

    Subclasses set `filepaths` (list of str), `classes` (int32 array or None), `class_indices`, `class_mode`,
    then call `_setup(...)`.
    """

    def _setup(self, image_data_generator, target_size, color_mode, data_format, save_to_dir, save_prefix,
               save_format, subset, interpolation, keep_aspect_ratio, dtype, batch_size, shuffle, seed, workers,
               cache, on_error):
        self.image_data_generator = image_data_generator
        self.target_size = check_size(target_size, "target_size")
        channels = check_color_mode(color_mode)
        check_interpolation(interpolation)
        if on_error not in ("warn", "raise"):
            raise ValueError(f"on_error must be 'warn' (skip unreadable files) or 'raise'. Received: "
                             f"on_error={on_error!r}")
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(f"data_format must be 'channels_last' or 'channels_first'. Received: {data_format!r}")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
            raise ValueError(f"workers must be a non-negative int or None (all cores). Received: workers={workers!r}")
        if not (isinstance(cache, bool) or (isinstance(cache, int) and cache > 0)):
            raise ValueError(f"cache must be True, False or a memory budget in bytes. Received: cache={cache!r}")
        self.color_mode, self.interpolation, self.keep_aspect_ratio = color_mode, interpolation, keep_aspect_ratio
        self.data_format = data_format or "channels_last"
        self.image_shape = (self.target_size + (channels,) if self.data_format == "channels_last"
                            else (channels,) + self.target_size)
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        self.subset, self.dtype, self.on_error = subset, dtype or "float32", on_error
        self.workers = os.cpu_count() or 1 if workers is None else workers
        self.samples = len(self.filepaths)
        self.skipped = 0
        self.skipped_files = []
        self._bad = set()
        self._cache = {} if cache else None
        self._cache_budget = None if cache is True else (cache or None)
        self._cache_bytes = 0
        self._pool = None
        self._pool_lock = threading.Lock()
        super().__init__(self.samples, batch_size, shuffle, seed)

    @property
    def num_classes(self):
        return len(self.class_indices)

    @property
    def labels(self):
        return self.classes

    @property
    def sample_weight(self):
        return None

    def _read(self, i):
        """The decoded image of sample i (from the cache when there), or None when the file is unreadable."""
        cache = self._cache
        if cache is not None and i in cache:
            return cache[i]
        try:
            image = read_image(self.filepaths[i], self.target_size, self.color_mode, self.interpolation,
                               self.keep_aspect_ratio)
        except DECODE_ERRORS as err:
            if self.on_error == "raise":
                raise ValueError(f"Could not read the image {self.filepaths[i]!r}: {err}") from err
            self._skip(i, err)
            return None
        if cache is not None and (self._cache_budget is None or self._cache_bytes + image.nbytes <= self._cache_budget):
            cache[i] = image
            self._cache_bytes += image.nbytes
        return image

    def _skip(self, i, err):
        with self._pool_lock:
            if i in self._bad:
                return
            self._bad.add(i)
            self.skipped += 1
            self.skipped_files.append(self.filepaths[i])
        warnings.warn(f"Skipping unreadable image {self.filepaths[i]!r} ({type(err).__name__}: {err}).",
                      stacklevel=4)

    def _map(self, indices):
        if self.workers <= 1 or len(indices) == 1 or (
                self._cache is not None and all(i in self._cache for i in indices)):
            return [self._read(i) for i in indices]
        with self._pool_lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(self.workers, thread_name_prefix="cnnkit-decode")
        return list(self._pool.map(self._read, indices))

    def _load(self, index_array, rng):
        """(images (k, h, w, c), kept sample indices): unreadable files left out; never an empty batch."""
        wanted = [int(i) for i in index_array if int(i) not in self._bad]
        images = self._map(wanted)
        kept = [i for i, image in zip(wanted, images) if image is not None]
        images = [image for image in images if image is not None]
        start = int(rng.integers(self.n)) if self.n else 0
        for offset in range(self.n if not kept else 0):  # every file of the batch was unreadable: borrow one
            candidate = (start + offset) % self.n
            if candidate not in self._bad:
                image = self._read(candidate)
                if image is not None:
                    kept, images = [candidate], [image]
                    break
        if not kept:
            raise ValueError(f"None of the {self.n} image files could be read (e.g. {self.filepaths[0]!r}).")
        return np.stack(images), np.asarray(kept)

    def _batch(self, index_array, rng):
        raw, index_array = self._load(index_array, rng)
        augment = self.subset != "validation"
        batch_x = transform(self.image_data_generator, raw, rng, augment, self.dtype)
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

    def close(self):
        """Stops the decoding threads (they also stop when the iterator is garbage-collected)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def __del__(self):
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)


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
                 on_error="warn", validation_split=None, verbose=True):
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
                    workers, cache, on_error)
