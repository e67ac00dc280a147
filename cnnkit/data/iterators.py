"""Index-based batch iterators with Keras's protocol (`len`, `[i]`, `next()`, `on_epoch_end()`, `reset()`).

Every batch is a pure function of (seed, epoch, batch index): the sample order of an epoch is a permutation drawn
from `seed` and the epoch number, and the augmentation of batch `i` uses a random generator seeded with
(seed, epoch, i). So a run repeats exactly from its seed, each epoch differs, and batches made in parallel (by
threads, processes, or fit's background prefetch) get different, reproducible augmentations.
"""

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from cnnkit.config import reuse_large_allocations
from cnnkit.data import directory as directory_lib
from cnnkit.data.image_io import array_to_img


def part_bounds(count, parts, part):
    """[start, stop) of part `part` of `count` items cut into `parts` contiguous parts; the first count % parts
    parts get one item more (so sizes differ by at most one and part 0 is never empty when count > 0)."""
    base, extra = divmod(int(count), int(parts))
    start = part * base + min(part, extra)
    return start, start + base + (1 if part < extra else 0)


def own_part(count, parts, part):
    """(slice, empty): part `part` of `count` items cut into `parts` (see part_bounds), or the first item when that
    part is empty (in distributed training a process with no sample of a batch still runs a step, on one sample
    that it does not count)."""
    start, stop = part_bounds(count, parts, part)
    return (slice(start, stop), False) if stop > start else (slice(0, 1), True)


def check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    return int(batch_size)


class LazyRng:
    """`np.random.default_rng(seed)`, made when first used: seeding costs ~30 us, and the batches of an iterator
    that neither augments nor saves (cached epochs take about 0.5 ms a batch) never draw a number."""

    __slots__ = ("_seed", "_rng")

    def __init__(self, seed):
        self._seed, self._rng = seed, None

    def __getattr__(self, name):  # only called for names the object lacks: the Generator's methods
        if name.startswith("__") or name in LazyRng.__slots__:
            raise AttributeError(name)
        if self._rng is None:
            self._rng = np.random.default_rng(self._seed)
        return getattr(self._rng, name)


class Iterator:
    """Base class of the image iterators: sample order, epochs and batch indexing.

    `fit` reads the batches in order (the iterator shuffles its samples itself, each epoch), so the file
    iterators' read-ahead always decodes the batch that comes next.

    Subclasses implement `_batch(index_array, rng)` -> the batch for those sample indices.

    Args:
        n: number of samples.
        batch_size: samples per batch (the last batch may be smaller).
        shuffle: a new random order each epoch (else the samples' own order).
        seed: int for reproducible order and augmentation; None draws one from numpy's global RNG (so
            `np.random.seed` / `cnnkit.utils.set_random_seed` make it repeatable too).
    """

    shuffles_itself = True  # tells fit not to visit the batches in a random order

    def __init__(self, n, batch_size, shuffle, seed):
        self.n = int(n)
        self.batch_size = check_batch_size(batch_size)
        self._shuffle_samples = bool(shuffle)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None. Received: seed={seed!r}")
        self.seed = seed
        self._seed = int(seed) if seed is not None else int(np.random.randint(0, 2**31 - 1))
        self.epoch = 0
        self.batch_index = 0
        self.total_batches_seen = 0
        self.index_array = None
        self.lock = threading.Lock()
        self._shard = None  # (rank, world size) in distributed training: batches hold only this process's part
        reuse_large_allocations()  # every batch allocates the same large arrays: keep them mapped (see config)

    @property
    def shuffle(self):
        """Whether the samples are reshuffled each epoch (Keras's attribute; `ImageDataset.shuffle` is tf.data's
        method instead)."""
        return self._shuffle_samples

    @shuffle.setter
    def shuffle(self, value):
        self._shuffle_samples = bool(value)

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def _set_index_array(self):
        if self._shuffle_samples:
            self.index_array = np.random.default_rng([self._seed, self.epoch]).permutation(self.n)
        else:
            self.index_array = np.arange(self.n)

    def _indices(self, idx):
        with self.lock:
            if self.index_array is None:
                self._set_index_array()
            return self.index_array[self.batch_size * idx: self.batch_size * (idx + 1)], self.epoch

    def __getitem__(self, idx):
        if isinstance(idx, slice) or not isinstance(idx, (int, np.integer)):
            raise TypeError(f"Batch index must be an int. Received: {idx!r}")
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f"Batch index {idx} is out of range: this iterator has {len(self)} batches.")
        index_array, epoch = self._indices(int(idx))
        self.total_batches_seen += 1
        return self._batch_at(int(idx), epoch, index_array, LazyRng([self._seed, epoch, int(idx)]))

    def _batch_at(self, idx, epoch, index_array, rng):
        """Batch `idx` of `epoch` (subclasses that read ahead use idx and epoch; the rest only the indices)."""
        return self._batch(index_array, rng)

    def set_shard(self, rank, world_size):
        """Makes every batch hold only part `rank` of `world_size` of its samples (distributed training; called
        by `fit`): batch i of process r is its contiguous part of the samples batch i has in one process, with
        the same random transforms, so the processes together see each sample once per epoch. `len()`,
        `samples` and the epoch's sample order do not change. A part with no sample (a last batch smaller than
        `world_size`) holds the batch's first sample instead: `fit` runs a step with no effect on it.
        `set_shard(0, 1)` undoes it.

        Example:
            >>> flow.set_shard(1, 2)   # batches of 5 now hold samples 3-4 of each (the first 3 go to rank 0)
            >>> flow[0][0].shape[0]
            2
        """
        for name, value in (("rank", rank), ("world_size", world_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"set_shard: {name} must be a non-negative int. Received: {name}={value!r}")
        if not rank < world_size:
            raise ValueError(f"set_shard: rank must be below world_size. Received: rank={rank}, "
                             f"world_size={world_size}")
        self._shard = None if world_size == 1 else (int(rank), int(world_size))

    def _own(self, index_array, params=None):
        """This process's part of a batch's sample indices and per-sample transform parameters (all of them
        when not sharded); the first sample when the part is empty."""
        if self._shard is None:
            return index_array, params
        part, _ = own_part(len(index_array), self._shard[1], self._shard[0])
        if params is not None:
            params = {k: (v[part] if isinstance(v, np.ndarray) else v) for k, v in params.items()}
        return index_array[part], params

    def __iter__(self):
        return self

    def __next__(self):
        """The next batch, endlessly: after the last batch of an epoch the next epoch starts (new order)."""
        if self.n == 0:
            raise ValueError("This iterator has no samples.")
        with self.lock:
            idx = self.batch_index
            self.batch_index = (idx + 1) % len(self)
        batch = self[idx]
        if idx == len(self) - 1:
            self.on_epoch_end()
        return batch

    def next(self):
        return self.__next__()

    def on_epoch_end(self):
        """Starts a new epoch: a new sample order (when shuffling) and new augmentations."""
        with self.lock:
            self.epoch += 1
            self.index_array = None

    def reset(self):
        """Goes back to the first batch for `next()`."""
        self.batch_index = 0

    def state_dict(self):
        """What makes the next epoch's sample order and augmentation: {'epoch': int, 'seed': int} (saved by
        `BackupAndRestore`, so a resumed run continues with the epoch it stopped at)."""
        return {"epoch": int(self.epoch), "seed": int(self._seed)}

    def load_state_dict(self, state):
        """Continues from `state_dict()`'s state: the next batches are those of that epoch and seed."""
        with self.lock:
            self.epoch, self._seed = int(state["epoch"]), int(state["seed"])
            self.index_array = None
            self.batch_index = 0

    def _batch(self, index_array, rng):
        raise NotImplementedError

    def _get_batches_of_transformed_samples(self, index_array):
        """Keras's name: the batch for the given sample indices."""
        return self._batch(np.asarray(index_array), np.random.default_rng([self._seed, self.epoch, -1]))


def label_batch(class_mode, classes, index_array, num_classes, dtype):
    """Labels of a batch: one-hot ('categorical'), class index as float ('binary', 'sparse')."""
    picked = classes[index_array]
    if class_mode == "categorical":
        out = np.zeros((len(index_array), num_classes), dtype=dtype)
        out[np.arange(len(index_array)), picked] = 1.0
        return out
    return picked.astype(dtype)


def save_batch(batch_x, index_array, rng, save_to_dir, save_prefix, save_format):
    """Writes the (augmented) images of a batch to `save_to_dir` for inspection, as Keras does."""
    for image, index in zip(batch_x, index_array):
        name = f"{save_prefix}_{index}_{rng.integers(10**7)}.{save_format}"
        array_to_img(image, scale=True).save(f"{save_to_dir}/{name}")


def transform(generator, batch, rng, augment, dtype, params=None, augmented=False):
    """Augments (when `augment`) and standardizes a raw batch through `generator` (None: only the dtype)."""
    if generator is None:
        return batch.astype(dtype, copy=False)
    return generator.process_batch(batch, rng, augment=augment, dtype=dtype, params=params, augmented=augmented)


ROW_COPY_BYTES = 1 << 16  # rows at least this large are converted one by one, without a gathered copy first
PARALLEL_BYTES = 1 << 20  # batches at least this large are converted by several threads
ROW_THREADS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()))
_row_pool = {"pool": None}
if hasattr(os, "register_at_fork"):  # a forked child (a decoding worker) does not inherit the threads
    os.register_at_fork(after_in_child=lambda: _row_pool.update(pool=None))


def transform_rows(generator, source, rows, rng, augment, dtype):
    """`transform(generator, source[rows], ...)`, the same numbers, one memory pass fewer where it can.

    When the generator only rescales (or is None) and the rows are large, each row of `source` is converted and
    scaled straight into the float32 batch: the batch is then the only thing written (its gathered uint8 copy is
    the step skipped). Memory bandwidth, not arithmetic, limits this step for cached image batches, and one core
    does not reach the machine's bandwidth: batches of 1 MB and more are split between up to ROW_THREADS threads
    (numpy releases the GIL while it converts), each writing its own block of rows. A helper thread that has not
    started when the calling thread is done with its own block (a busy machine) is cancelled and its block
    converted by the caller, instead of waited for.

    Note: sharing the rows one at a time between the threads instead was measured slower here (on this shared VM
    up to 3x slower in its busy phases; likely because the GIL then changes hands at every row).
    """
    scale = 1.0 if generator is None else generator.plain_scale(augment)
    if (scale is None or np.dtype(dtype) != np.float32 or source.dtype not in (np.uint8, np.float32)
            or source[0].nbytes < ROW_COPY_BYTES):
        return transform(generator, source[rows], rng, augment, dtype)
    out = np.empty((len(rows),) + source.shape[1:], dtype=np.float32)
    factor = np.float32(scale)

    def convert(part):
        for k in part:
            np.multiply(source[rows[k]], factor, out=out[k])

    threads = min(ROW_THREADS, len(rows)) if out.nbytes >= PARALLEL_BYTES else 1
    if threads == 1:
        convert(range(len(rows)))
        return out
    if _row_pool["pool"] is None:
        _row_pool["pool"] = ThreadPoolExecutor(ROW_THREADS, thread_name_prefix="cnnkit-rows")
    parts = [range(*part_bounds(len(rows), threads, t)) for t in range(threads)]  # each thread writes a block
    helpers = [(part, _row_pool["pool"].submit(convert, part)) for part in parts[1:]]
    convert(parts[0])
    for part, helper in helpers:
        if helper.cancel():  # not started yet: converted here
            convert(part)
        else:
            helper.result()
    return out


class NumpyArrayIterator(Iterator):
    """Batches of in-memory images from `ImageDataGenerator.flow(x, y)`.

    Yields x, (x, y) or (x, y, sample_weight); with x given as a tuple (images, other arrays) the first element is
    [images, *others], as in Keras. Images are converted to float one batch at a time (a uint8 array stays uint8 in
    memory).
    """

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False, sample_weight=None, seed=None,
                 data_format=None, save_to_dir=None, save_prefix="", save_format="png", subset=None,
                 ignore_class_split=False, dtype="float32"):
        misc = []
        if isinstance(x, tuple) or (isinstance(x, list) and len(x) == 2 and not np.isscalar(x[0])
                                     and np.ndim(x[0]) == 4):
            x, misc = x[0], x[1]
            misc = [np.asarray(m) for m in (misc if isinstance(misc, (list, tuple)) else [misc])]
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"flow: x must be a rank-4 array of images (samples, height, width, channels). "
                             f"Received shape: {x.shape}")
        if y is not None:
            y = np.asarray(y)
            if len(y) != len(x):
                raise ValueError(f"flow: x and y must have the same length. Received: len(x)={len(x)}, "
                                 f"len(y)={len(y)}")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)
            if len(sample_weight) != len(x):
                raise ValueError(f"flow: sample_weight must have one value per sample. Received: len(x)={len(x)}, "
                                 f"len(sample_weight)={len(sample_weight)}")
        for m in misc:
            if len(m) != len(x):
                raise ValueError(f"flow: every array in x must have len(x)={len(x)} samples. Received {len(m)}.")
        self.data_format = data_format or "channels_last"
        if self.data_format == "channels_first":
            x = np.moveaxis(x, 1, -1)
        keep = np.arange(len(x))
        if subset is not None:
            split = image_data_generator._validation_split if image_data_generator is not None else 0.0
            stratify = y is not None and not ignore_class_split  # ignore_class_split: a plain random split
            strata = _class_labels(y) if stratify else np.zeros(len(x), np.int64)
            keep = directory_lib.subset_indices(strata, split, subset, seed)
            if y is not None and not ignore_class_split:
                missing = np.setdiff1d(np.unique(strata), strata[keep])
                if len(missing):
                    raise ValueError(f"flow: subset={subset!r} has no sample of classes {missing.tolist()}; use a "
                                     "larger validation_split, or pass ignore_class_split=True.")
        self.x = x if subset is None else x[keep]
        self.y = None if y is None else (y if subset is None else y[keep])
        self.sample_weight = None if sample_weight is None else sample_weight[keep]
        self.x_misc = [m[keep] for m in misc]
        self.image_data_generator, self.subset, self.dtype = image_data_generator, subset, dtype
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        super().__init__(len(self.x), batch_size, shuffle, seed)

    def _batch_at(self, idx, epoch, index_array, rng):
        if self._shard is None:
            return self._batch(index_array, rng)
        generator, augment = self.image_data_generator, self.subset != "validation"
        params = generator.sample_params(len(index_array), self.x.shape[1:3], rng) if (
            generator is not None and augment) else None
        index_array, params = self._own(index_array, params)  # drawn for the whole batch, as in one process
        return self._batch(index_array, rng, params)

    def _batch(self, index_array, rng, params=None):
        augment = self.subset != "validation"
        if params is None:
            batch_x = transform_rows(self.image_data_generator, self.x, index_array, rng, augment, self.dtype)
        else:
            batch_x = transform(self.image_data_generator, self.x[index_array], rng, augment, self.dtype, params)
        if self.save_to_dir:
            save_batch(batch_x, index_array, rng, self.save_to_dir, self.save_prefix, self.save_format)
        if self.data_format == "channels_first":
            batch_x = np.ascontiguousarray(np.moveaxis(batch_x, -1, 1))
        first = [batch_x] + [m[index_array] for m in self.x_misc] if self.x_misc else batch_x
        if self.y is None:
            return first
        out = (first, self.y[index_array])
        return out if self.sample_weight is None else out + (self.sample_weight[index_array],)


def _class_labels(y):
    """Class index per sample from integer or one-hot labels (anything else: one stratum)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(1)
    y = y.reshape(len(y), -1)
    if y.shape[1] == 1 and (np.issubdtype(y.dtype, np.integer) or np.all(np.mod(y, 1) == 0)):
        return y[:, 0].astype(np.int64)
    return np.zeros(len(y), np.int64)
