"""Layout conversions between the Keras API (channels_last) and cnnkit's internal torch layout.

Invariant: a tensor of rank >= 3 travels between cnnkit layers in channels-first order, (N, C, *spatial),
which is the Keras shape (N, *spatial, C) with the last axis moved to position 1. A NHWC tensor moved this way is
a channels_last-memory NCHW view: no copy is made, and torch's kernels run on it natively. Tensors of rank <= 2
are the same in both layouts.
"""

import numpy as np
import torch

from cnnkit.ops.arguments import check_broadcastable
from cnnkit.ops.logits import carry_logits


def to_internal(x):
    """Keras layout (N, *spatial, C) -> internal (N, C, *spatial); a view, no copy."""
    return _move_channels(x, -1, 1)


def to_keras(x):
    """Internal (N, C, *spatial) -> Keras layout (N, *spatial, C); a view, no copy."""
    return _move_channels(x, 1, -1)


def _move_channels(x, source, destination):
    """`x` with its channel axis moved (rank >= 3; lower ranks are the same in both layouts). Logits kept on `x`
    (a softmax output, `cnnkit.ops.logits`) move with it."""
    if x.dim() < 3:
        return x
    return carry_logits(x.movedim(source, destination), x, lambda logits: logits.movedim(source, destination))


def shape_to_internal(shape):
    """A Keras-layout shape tuple in internal order."""
    shape = tuple(shape)
    return (shape[0], shape[-1], *shape[1:-1]) if len(shape) >= 3 else shape


def shape_to_keras(shape):
    """An internal-order shape tuple in Keras order."""
    shape = tuple(shape)
    return (shape[0], *shape[2:], shape[1]) if len(shape) >= 3 else shape


def internal_axis(axis, rank):
    """The internal axis index of Keras axis `axis` (may be negative) for a tensor of `rank` dims."""
    axis = axis % rank
    if rank < 3 or axis == 0:
        return axis
    return 1 if axis == rank - 1 else axis + 1


def noise_shape_to_internal(noise_shape, internal_shape, owner):
    """A Keras-layout noise shape (None: the input's size) as the internal-order shape of a mask for an input of
    internal shape `internal_shape`; raises a ValueError naming `owner` when it does not broadcast to the input."""
    keras_shape = shape_to_keras(internal_shape)
    if len(noise_shape) != len(keras_shape):
        raise ValueError(f"{owner}: noise_shape must have one entry per input axis. Received: noise_shape="
                         f"{tuple(noise_shape)} for an input of shape {keras_shape}")
    shape = tuple(d if n is None else n for n, d in zip(noise_shape, keras_shape))
    check_broadcastable(shape, keras_shape, "noise_shape", owner, received=tuple(noise_shape))
    return shape_to_internal(shape)


def kernel_to_torch(kernel):
    """Keras conv kernel (*k, in, out) -> torch (out, in, *k)."""
    rank = kernel.ndim - 2
    return np.ascontiguousarray(np.transpose(kernel, (rank + 1, rank, *range(rank))))


def kernel_to_keras(kernel):
    """Torch conv kernel (out, in, *k) -> Keras (*k, in, out)."""
    rank = kernel.ndim - 2
    return np.ascontiguousarray(np.transpose(kernel, (*range(2, rank + 2), 1, 0)))


def depthwise_to_torch(kernel):
    """Keras depthwise kernel (*k, in, multiplier) -> (in, multiplier, *k); reshaped (a view) to torch's grouped
    convolution weight (in * multiplier, 1, *k), output channel c * multiplier + m as in TensorFlow."""
    rank = kernel.ndim - 2
    return np.ascontiguousarray(np.transpose(kernel, (rank, rank + 1, *range(rank))))


def depthwise_to_keras(kernel):
    """(in, multiplier, *k) -> Keras depthwise kernel (*k, in, multiplier)."""
    rank = kernel.ndim - 2
    return np.ascontiguousarray(np.transpose(kernel, (*range(2, rank + 2), 0, 1)))


def dense_to_torch(kernel):
    """Keras Dense kernel (in, out) -> torch (out, in)."""
    return np.ascontiguousarray(kernel.T)


def dense_to_keras(kernel):
    """Torch Linear weight (out, in) -> Keras (in, out)."""
    return np.ascontiguousarray(kernel.T)


def sample_to_torch(weight):
    """A weight shaped like one Keras sample (*spatial, channels) -> internal (channels, *spatial) (PReLU's alpha)."""
    return np.ascontiguousarray(np.moveaxis(weight, -1, 0) if weight.ndim >= 2 else weight)


def sample_to_keras(weight):
    """An internal (channels, *spatial) weight -> Keras (*spatial, channels)."""
    return np.ascontiguousarray(np.moveaxis(weight, 0, -1) if weight.ndim >= 2 else weight)


def contiguous(array):
    """A C-contiguous numpy array of the same shape (unlike np.ascontiguousarray, a 0-d array stays 0-d)."""
    return np.asarray(array, order="C")


# Keras layout of each kind of weight -> (to torch, to Keras) converters on numpy arrays. A layer names the kind
# when it creates a weight (`Layer.add_weight(kind=...)`); get/set_weights and the file readers convert through it.
WEIGHT_LAYOUTS = {
    None: (contiguous, contiguous),
    "conv": (kernel_to_torch, kernel_to_keras),
    # Keras (*k, filters, in) <-> torch conv_transpose (in, filters, *k): the same axis swap as "conv".
    "conv_transpose": (kernel_to_torch, kernel_to_keras),
    "depthwise": (depthwise_to_torch, depthwise_to_keras),
    "dense": (dense_to_torch, dense_to_keras),
    "sample": (sample_to_torch, sample_to_keras),
}


def channels_last_kernel(kernel):
    """A conv kernel (out, in, *k) re-laid in channels_last memory (same values and logical shape).

    With channels_last kernels torch's CPU (oneDNN) and cuDNN convolutions produce channels_last outputs, so the
    whole network, pooling included, stays on the fast NHWC kernels even when an input is plain NCHW.
    """
    if kernel.dim() == 4:
        return kernel.contiguous(memory_format=torch.channels_last)
    if kernel.dim() == 5:
        return kernel.contiguous(memory_format=torch.channels_last_3d)
    return kernel


def keras_axes(axis, rank, owner):
    """Keras-layout axes (an int or a list of ints, maybe negative) as a sorted tuple of non-negative axes of a
    `rank`-dim input; raises a ValueError naming `owner` for an axis out of range or one named twice."""
    axes = [axis] if isinstance(axis, int) else list(axis)
    if any(not -rank <= a < rank for a in axes):
        raise ValueError(f"{owner}: axis={axis!r} is out of range for an input of rank {rank} (each axis must be "
                         f"in [-{rank}, {rank})).")
    positive = sorted(a % rank for a in axes)
    if len(set(positive)) != len(positive):
        raise ValueError(f"{owner}: axis={axis!r} names the same axis of a rank-{rank} input twice.")
    return tuple(positive)


def broadcast_to_internal(value, axes, sizes, rank):
    """`value`, holding `sizes` (the sizes at the sorted Keras `axes` of a `rank`-dim input), reshaped (row-major,
    as Keras does) to those sizes on `axes` and 1 elsewhere, in internal order: it broadcasts against the
    internal-layout input. A view when `value` is contiguous; the sizes are plain ints, so an exported graph holds
    constants."""
    shape = [1] * rank
    for axis, size in zip(axes, sizes):
        shape[axis] = size
    return to_internal(value.reshape(shape))
