"""Argument checks and per-sample selection shared by the batched image kernels (augment.py, warp.py)."""

import numpy as np
import torch


def _check_images(images):
    """Validates `images`: a floating torch tensor of rank 4 (batch, height, width, channels)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor (batch, height, width, channels), got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"images must have rank 4 (batch, height, width, channels), got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be a floating tensor (e.g. torch.float32), got dtype {images.dtype}")
    return images


def _per_sample_numpy(value, name, batch=None, dtype=np.float64):
    """`value` as a numpy array of shape (batch,) (a scalar is broadcast); `batch=None` accepts any length."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    array = np.asarray(value, dtype=dtype)
    if array.ndim > 1 or (array.ndim == 1 and batch is not None and array.shape[0] != batch):
        expected = "a scalar or a 1-D array" if batch is None else f"a scalar or an array of length {batch}"
        raise ValueError(f"{name} must be {expected} (one value per sample), got shape {array.shape}")
    if dtype != bool and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return array if batch is None else np.broadcast_to(array, (batch,))


def _per_sample(value, name, images, minimum=None):
    """`value` as a tensor of shape (batch, 1, 1, 1) in the dtype and device of `images`."""
    array = _per_sample_numpy(value, name, images.shape[0])
    if minimum is not None and np.any(array < minimum):
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return torch.tensor(array, dtype=images.dtype, device=images.device).view(-1, 1, 1, 1)


def _apply_to_selected(images, selected, function, *arrays):
    """`function(images[selected], *[a[selected] for a in arrays])` in a copy of `images`; the rest unchanged."""
    selected = np.asarray(selected, dtype=bool)
    if not selected.any():
        return images.clone()
    if selected.all():
        return function(images, *arrays)
    index = torch.as_tensor(np.flatnonzero(selected), device=images.device)
    out = images.clone()
    subsets = (array[index] if isinstance(array, torch.Tensor) else array[selected] for array in arrays)
    out[index] = function(images[index], *subsets)
    return out
