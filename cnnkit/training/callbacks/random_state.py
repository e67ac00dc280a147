"""The random state that makes the next epochs of a run, captured and restored by `BackupAndRestore`.

The state is what decides the rest of a run besides weights and optimizer: torch's global generator (`fit`'s
shuffle order of arrays and Sequences, dropout, a DataLoader's default sampler, random layers), CUDA's generators
when CUDA is in use, numpy's and Python's global generators (user code, augmentation of arrays), and the epoch and
seed of cnnkit's image iterators passed to `fit` (their sample order and augmentation are a function of those).
In a backup file it is plain arrays and numbers (never pickled objects), checked before use. Under torchrun the
backup holds process 0's generators, which draw the shuffle order; the other processes keep their own.
"""

import random

import numpy as np
import torch

from cnnkit.data.iterators import Iterator
from cnnkit.training import distributed

_TORCH_BYTES = torch.get_rng_state().numel()


def _iterators(sources):
    """{position: iterator} for the cnnkit image iterators among `fit`'s data (x, validation_data)."""
    return {i: s for i, s in enumerate(sources) if isinstance(s, Iterator)}


def capture(sources=()):
    """The current random state (a dict of arrays and numbers)."""
    numpy_state = np.random.get_state()
    version, words, gauss = random.getstate()
    state = {"torch": torch.get_rng_state().numpy().copy(),
             "numpy": (np.asarray(numpy_state[1], np.uint32).copy(), int(numpy_state[2]), int(numpy_state[3]),
                       float(numpy_state[4])),
             "python": (int(version), np.asarray(words, np.uint64), gauss),
             "data": {i: it.state_dict() for i, it in _iterators(sources).items()}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = np.stack([s.numpy() for s in torch.cuda.get_rng_state_all()])
    return state


def write(group, state):
    """Stores `capture()`'s state in the h5py group `group`."""
    group["torch"] = state["torch"]
    keys, pos, has_gauss, cached = state["numpy"]
    group["numpy"] = keys
    group.attrs.update({"numpy_pos": pos, "numpy_has_gauss": has_gauss, "numpy_cached_gaussian": cached})
    version, words, gauss = state["python"]
    group["python"] = words
    group.attrs.update({"python_version": version, "python_gauss": np.nan if gauss is None else gauss})
    if "cuda" in state:
        group["cuda"] = state["cuda"]
    for i, values in state["data"].items():
        group.attrs.update({f"data{i}_epoch": values["epoch"], f"data{i}_seed": values["seed"]})


def _array(group, name, dtype, shape, path):
    if name not in group:
        raise ValueError(f"BackupAndRestore: {path} has no random_state/{name}.")
    dataset = group[name]
    if dataset.dtype != np.dtype(dtype) or (shape is not None and dataset.shape != shape):
        raise ValueError(f"BackupAndRestore: {path}: random_state/{name} should be {np.dtype(dtype)} of shape "
                         f"{shape}. Received: {dataset.dtype} of shape {dataset.shape}")
    return dataset[()]


def restore(group, sources, path):
    """Sets the random state stored by `write` in `group` (of the backup file `path`); the iterators among
    `sources` continue from their stored epoch and seed."""
    torch_state = _array(group, "torch", np.uint8, (_TORCH_BYTES,), path)
    keys = _array(group, "numpy", np.uint32, (624,), path)
    words = _array(group, "python", np.uint64, (625,), path)
    attrs = group.attrs
    try:
        gauss = float(attrs["python_gauss"])
        numpy_state = ("MT19937", keys, int(attrs["numpy_pos"]), int(attrs["numpy_has_gauss"]),
                       float(attrs["numpy_cached_gaussian"]))
        python_state = (int(attrs["python_version"]), tuple(int(w) for w in words), None if np.isnan(gauss) else gauss)
        data = {}
        for i in _iterators(sources):
            if f"data{i}_epoch" in attrs:
                epoch, seed = int(attrs[f"data{i}_epoch"]), int(attrs[f"data{i}_seed"])
                if epoch < 0 or seed < 0:
                    raise ValueError(f"negative epoch or seed ({epoch}, {seed})")
                data[i] = {"epoch": epoch, "seed": seed}
        cuda = None
        if "cuda" in group and torch.cuda.is_available():
            cuda = _array(group, "cuda", np.uint8, None, path)
        if distributed.is_chief():  # the backup holds process 0's generators (which draw the shuffle order)
            random.setstate(python_state)
            np.random.set_state(numpy_state)
            torch.set_rng_state(torch.from_numpy(torch_state))
            if cuda is not None and len(cuda) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all([torch.from_numpy(row) for row in cuda])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"BackupAndRestore: {path} has an unusable random state ({err}).") from None
    for i, iterator in _iterators(sources).items():
        if i in data:
            iterator.load_state_dict(data[i])
