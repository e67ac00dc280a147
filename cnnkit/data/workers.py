"""Decoding (and augmenting) batches in forked worker processes that write straight into shared memory.

Each file iterator that uses processes forks its own small pool on its first batch, as torch's DataLoader does on
Linux: the workers inherit the iterator (file list, generator settings, preprocessing_function), so only sample
indices and random parameters travel to them, and the decoded pixels come back through a shared-memory slot
instead of a pipe. A worker runs torch with one thread, so workers never fight each other or the training step
for the cores.

Workers die with their parent: however the parent ends (SIGKILL included), its workers do not live on holding its
stdout/stderr or memory. On Linux a worker forked by the parent's main thread asks the kernel for SIGKILL when the
parent dies (prctl PR_SET_PDEATHSIG), and every worker also watches its parent's pid from a thread and exits
within `PARENT_POLL` seconds of being re-parented. Workers ignore SIGINT (a terminal's Ctrl-C is for the training
process, which then shuts its pools down); SIGTERM ends them as usual (multiprocessing stops the workers of a
broken pool with it, so a worker must not ignore it). The shared-memory slots belong to the parent: released
when the iterator's pool closes or at exit, and, after a SIGKILL of the parent, by multiprocessing's resource
tracker.
"""

import atexit
import concurrent.futures
import itertools
import mmap
import multiprocessing
import os
import signal
import sys
import threading
import time
import weakref
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import shared_memory

import numpy as np
import torch

from cnnkit.data.image_io import decode_files, decode_rgb_into

#: Processes are forked: a spawned process would re-run the user's script, which Keras-style scripts do not guard
#: with `if __name__ == "__main__"`. Where fork is missing (or not Linux), threads decode instead.
PROCESSES_BY_DEFAULT = sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()

_ITERATORS = weakref.WeakValueDictionary()  # key -> iterator; a forked worker finds its iterator here
_DECODERS = weakref.WeakSet()  # the parent's live decoders, closed at exit
_CLOSING = weakref.WeakSet()  # manager threads of pools shut down without waiting
_ATTACHED = {}  # in a worker: shared-memory name -> SharedMemory
_KEYS = itertools.count()
PARENT_POLL = 0.25  # seconds between a worker's checks that its parent is alive
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_forked_from_main_thread = False  # set in the parent just before each fork; a forked child sees the value


def _before_fork():
    global _forked_from_main_thread  # noqa: PLW0603
    _forked_from_main_thread = threading.current_thread() is threading.main_thread()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork)


def _set_parent_death_signal():
    """Linux: the kernel sends this process SIGKILL when the thread that forked it ends. Only used for a worker
    forked by the parent's main thread (a worker forked by a short-lived thread would be killed with it)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # noqa: PLC0415 (Linux workers only)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl (another libc): the pid watch below still ends the worker
        pass


def _watch_parent(parent):
    while True:
        time.sleep(PARENT_POLL)
        if os.getppid() != parent:  # re-parented: the parent is gone
            os._exit(1)


def _worker_init(parent):
    torch.set_num_threads(1)
    # Ctrl-C is for the training process (it stops fit cleanly); a worker killed by it would break the pool. SIGTERM
    # gets its default back (a worker forked inside fit inherits fit's SIGTERM-as-interrupt handler, which would
    # send the interrupt to the parent as a task result): multiprocessing terminates a broken pool's workers with it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _forked_from_main_thread:
        _set_parent_death_signal()
    if os.getppid() != parent:  # the parent died before the death signal was set up
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="cnnkit-parent-watch", daemon=True).start()


def _ready():
    return True


def _attach(name):
    """A worker's view of a parent's slot: the POSIX shared-memory file mapped directly (SharedMemory(name=...)
    would register the segment with the resource tracker as the worker's own; Python < 3.13 has no track=False)."""
    view = _ATTACHED.get(name)
    if view is None:
        fd = os.open(os.path.join("/dev/shm", name.lstrip("/")), os.O_RDWR)
        try:
            view = _ATTACHED[name] = memoryview(mmap.mmap(fd, 0))
        finally:
            os.close(fd)
    return view


def slot_view(buffer, position, shape, dtype, batch_size, count=None):
    """The image at `position` of a slot (with `count`: the `count` images from `position` on, (count, *shape)). A
    slot holds a batch of uint8 images back to back, then an area for a batch of 4-byte pixels (float32
    augmented images, int32 16-bit images)."""
    pixels = int(np.prod(shape))
    dtype = np.dtype(dtype)
    offset = position * pixels if dtype == np.uint8 else batch_size * pixels + position * pixels * 4
    return np.ndarray(tuple(shape) if count is None else (count,) + tuple(shape), dtype=dtype, buffer=buffer,
                      offset=offset)


def run_chunk(key, slot_name, positions, indices, params):
    """In a worker: decodes files `indices` into the slot at `positions`; augments them first when `params`.

    Returns ({position: error message}, dtype string of the pixels written).
    """
    iterator = _ITERATORS[key]
    buffer = _attach(slot_name)
    if params is not None and iterator.color_mode == "rgb":
        return _augment_rgb(iterator, buffer, positions, indices, params)
    errors, good, images = {}, [], []
    decoded = decode_files([iterator.filepaths[i] for i in indices], iterator.target_size, iterator.color_mode,
                           iterator.interpolation, iterator.keep_aspect_ratio)
    for position, (image, error) in zip(positions, decoded):
        if error is not None:
            errors[position] = error
            continue
        if params is None and image.dtype == np.uint8:  # straight into the slot
            slot_view(buffer, position, image.shape, image.dtype, iterator.batch_size)[...] = image
        good.append(position)
        images.append(image)
    if not images:
        return errors, "none"
    dtypes = {image.dtype for image in images}
    if params is not None:
        images = iterator.image_data_generator.augment_batch(np.stack(images), params_at(params, good))
    elif dtypes == {np.dtype(np.uint8)}:
        return errors, "|u1"
    else:  # 16-bit images: every image of the chunk as int32
        images = np.stack(images).astype(np.int32)
    _write(buffer, good, images, iterator.batch_size)
    return errors, images.dtype.str


def params_at(params, positions):
    """The batch's drawn parameters of the images at `positions` (per-image arrays indexed, the rest as they are)."""
    return {k: (v[positions] if isinstance(v, np.ndarray) else v) for k, v in params.items()}


def _write(buffer, positions, images, batch_size):
    """Copies `images` (n, h, w, c) into the slot at `positions`: one copy when the positions follow each other.
    torch's copy: augmented images are channels_last views of planar memory, which it lays out in half the time of
    numpy's strided assignment (the same values)."""
    if list(positions) == list(range(positions[0], positions[0] + len(positions))):
        block = slot_view(buffer, positions[0], images.shape[1:], images.dtype, batch_size, count=len(positions))
        torch.from_numpy(block).copy_(torch.from_numpy(images))
        return
    for position, image in zip(positions, images):
        torch.from_numpy(slot_view(buffer, position, image.shape, image.dtype, batch_size)).copy_(
            torch.from_numpy(image))


def _augment_rgb(iterator, buffer, positions, indices, params):
    """`run_chunk` for augmented 'rgb' images: decoded into one RGBX uint8 block (JPEGs gathered straight from
    libjpeg-turbo's RGBX output, `decode_rgb_into`), converted to float32 as a whole and augmented as its
    channels_last RGB view: the numbers of augmenting the stacked RGB images, without their packing and stacking
    copies."""
    pixels = np.empty((len(indices),) + tuple(iterator.target_size) + (4,), np.uint8)
    results = decode_rgb_into([iterator.filepaths[i] for i in indices], pixels, iterator.target_size,
                              iterator.interpolation, iterator.keep_aspect_ratio)
    errors = {p: result for p, result in zip(positions, results) if result is not None}
    rows = [k for k, result in enumerate(results) if result is None]
    if not rows:
        return errors, "none"
    good = [positions[k] for k in rows]
    block = torch.from_numpy(pixels if len(rows) == len(pixels) else pixels[rows]).to(torch.float32)
    images = iterator.image_data_generator.augment_batch(block[..., :3], params_at(params, good))
    _write(buffer, good, images, iterator.batch_size)
    return errors, images.dtype.str


class ProcessDecoder:
    """The parent's side: a forked pool for one iterator and its shared-memory slots (one per batch in flight)."""

    def __init__(self, iterator, workers):
        self.key = next(_KEYS)
        _ITERATORS[self.key] = iterator
        self.workers = workers
        self.batch_size = iterator.batch_size
        # a batch of uint8 images, then room for the same batch in 4-byte pixels (float32 / int32): 1 + 4 bytes
        self.slot_bytes = iterator.batch_size * int(np.prod(iterator.image_shape)) * 5
        self.free, self.slots = [], []
        self.lock = threading.Lock()
        self.pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                                           initializer=_worker_init, initargs=(os.getpid(),))
        _DECODERS.add(self)

    def start(self):
        """Forks the workers now (the pool would on its first job), e.g. before training threads exist."""
        for future in [self.pool.submit(_ready) for _ in range(self.workers)]:
            future.result()

    def submit(self, index_array, todo, params):
        """Starts decoding the sample indices `todo` (a subset of the batch `index_array`).

        Returns a job: (slot, [(positions, future)]).
        """
        with self.lock:
            slot = self.free.pop() if self.free else None
            if slot is None:
                try:
                    slot = shared_memory.SharedMemory(create=True, size=self.slot_bytes)
                except OSError as err:
                    raise RuntimeError(f"Could not allocate {self.slot_bytes:,} bytes of shared memory for decoding "
                                       f"workers ({err}); use a smaller batch, or threads: use_multiprocessing=False."
                                       ) from err
                self.slots.append(slot)
        position = {int(i): p for p, i in enumerate(index_array)}
        size = -(-len(todo) // self.workers)
        chunks = []
        for start in range(0, len(todo), size):
            indices = todo[start:start + size]
            positions = [position[i] for i in indices]
            chunks.append((positions, self.pool.submit(run_chunk, self.key, slot.name, positions, indices, params)))
        return slot, chunks

    def collect(self, job, shape):
        """Waits for a job: ({position: error string}, {position: dtype of its pixels}, view(dtype)).

        view(dtype) is the slot's (batch_size, *shape) batch of that dtype, without copying: valid until
        `release(job)`.
        """
        slot, chunks = job
        errors, dtypes = {}, {}
        for positions, future in chunks:
            try:
                chunk_errors, dtype = future.result()
            except BrokenProcessPool as err:
                raise RuntimeError("A decoding worker process died (killed, or out of memory?). Use fewer workers, "
                                   "or threads: use_multiprocessing=False.") from err
            errors.update(chunk_errors)
            dtypes.update({p: np.dtype(dtype) for p in positions if p not in chunk_errors})
        def view(dtype):
            pixels = self.batch_size * int(np.prod(shape))
            offset = 0 if np.dtype(dtype) == np.uint8 else pixels
            return np.ndarray((self.batch_size,) + tuple(shape), dtype=dtype, buffer=slot.buf, offset=offset)
        return errors, dtypes, view

    def release(self, job):
        """Gives a job's slot back once its workers are done with it (at once if they are)."""
        slot, chunks = job
        pending = [f for _, f in chunks if not f.done()]
        if not pending:
            with self.lock:
                if slot not in self.free:
                    self.free.append(slot)
            return
        remaining = [len(pending)]

        def done(_):
            with self.lock:
                remaining[0] -= 1
                if remaining[0] == 0 and slot not in self.free:
                    self.free.append(slot)
        for future in pending:
            future.add_done_callback(done)

    def close(self, wait=True):
        manager = getattr(self.pool, "_executor_manager_thread", None)
        if manager is not None and not wait:
            _CLOSING.add(manager)  # still closing the pool after this returns: joined at exit
        self.pool.shutdown(wait=wait, cancel_futures=True)
        _ITERATORS.pop(self.key, None)
        for slot in self.slots:
            slot.close()
            try:
                slot.unlink()
            except FileNotFoundError:
                pass
        self.slots, self.free = [], []


@atexit.register
def _close_all():
    for decoder in list(_DECODERS):
        decoder.close(wait=False)


def _join_closing_pools():
    """Waits (5 s at most each) for the pools shut down without waiting to finish closing, before
    concurrent.futures' exit hook runs: CPython 3.11's hook writes to each pool's wake-up pipe, and a pool still
    closing that pipe (e.g. one dropped on Ctrl-C) made it print an EBADF traceback at exit. Live pools are left to
    `_close_all`."""
    for thread in list(_CLOSING):
        thread.join(timeout=5)


if hasattr(threading, "_register_atexit"):  # CPython: runs before threads are joined, in reverse order of
    threading._register_atexit(_join_closing_pools)  # registration, so before concurrent.futures' own hook
