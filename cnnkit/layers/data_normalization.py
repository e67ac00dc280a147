"""Normalization: Keras's preprocessing layer that standardises features with a mean and variance given to it or
computed from data by `adapt`."""

import itertools

import numpy as np
import torch

from cnnkit.layers.base import Layer
from cnnkit.layers.base import register
from cnnkit.ops import layout
from cnnkit.ops import normalization
from cnnkit.ops.arguments import normalize_axes


@register
class Normalization(Layer):
    """Standardises inputs: `(x - mean) / max(sqrt(variance), 1e-7)`, or with `invert=True` the inverse,
    `mean + x * max(sqrt(variance), 1e-7)`.

    The mean and variance come from the `mean` and `variance` arguments, or from `adapt(data)`, which computes
    them over every axis of the data except those in `axis` (a separate mean and variance for each index of the
    kept axes).

    Args:
        axis: Keras-layout axis or axes to keep (default -1: one mean and variance per channel); None or []: one
            scalar mean and variance.
        mean, variance: given statistics (both or neither), broadcast onto the kept axes from the right.
        invert: apply the inverse transformation (turn standardised values back).

    Input shape:
        any; the sizes on the kept axes must be known. Output shape: same as the input.

    Example:
        >>> layer = Normalization(axis=-1)
        >>> layer.adapt(np.array([[0.0, 7.0], [2.0, 9.0]]))
        >>> layer(np.array([[0.0, 7.0]]))
        tensor([[-1., -1.]])

    Note:
        The weights are Keras's: 'mean' and 'variance' (the kept axes' shape) and 'count' (int64, left at 0 by
        `adapt`, as in Keras 3), all non-trainable; with given mean and variance there are none. Calling the layer
        before `adapt` (without mean and variance, or weights loaded) raises a ValueError; Keras would silently
        use mean 0 and variance 1. New weights (set_weights, files, load_state_dict) apply at once; Keras's
        layer keeps its last adapted or loaded statistics until `finalize_state()`. `adapt` accumulates in
        float64 (Keras: float32).
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        axis = normalize_axes([] if axis is None else axis, "axis", "Normalization", allow_empty=True, keep_int=True)
        self.axis = (axis,) if isinstance(axis, int) else tuple(axis)
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: mean and variance must be given together. "
                             f"Received: mean={mean!r}, variance={variance!r}")
        if mean is not None:
            mean_array, variance_array = _float_array(mean, "mean"), _float_array(variance, "variance")
            if mean_array.shape != variance_array.shape:
                raise ValueError(f"Normalization: mean and variance must have the same shape. Received: mean={mean!r}"
                                 f" (shape {mean_array.shape}), variance={variance!r} (shape {variance_array.shape})")
            if mean_array.ndim > len(self.axis):
                raise ValueError(f"Normalization: mean must have at most as many dimensions as axis has axes "
                                 f"({len(self.axis)}). Received: mean={mean!r} for axis={list(self.axis)}")
            if (variance_array < 0).any():
                raise ValueError(f"Normalization: variance must be >= 0. Received: variance={variance!r}")
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)
        self._adapted = mean is not None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self._keep_axis = layout.keras_axes(list(self.axis), len(input_shape), self._owner())
        self._reduce_axis = tuple(d for d in range(len(input_shape)) if d not in self._keep_axis)
        if any(input_shape[d] is None for d in self._keep_axis):
            raise ValueError(f"{self._owner()}: the kept axes {list(self.axis)} of the input must have known sizes. "
                             f"Received input_shape={input_shape}")
        self._input_shape = input_shape
        shape = self._kept_sizes = tuple(input_shape[d] for d in self._keep_axis)
        if self.input_mean is None:
            self.add_weight("mean", shape, "zeros", trainable=False)
            self.add_weight("variance", shape, "ones", trainable=False)
            self.add_weight("count", (), "zeros", trainable=False, dtype="int64")
            return
        for name, value in (("_given_mean", self.input_mean), ("_given_variance", self.input_variance)):
            array = torch.tensor(self._broadcast_given(value, input_shape), dtype=self._torch_dtype)
            self.register_buffer(name, layout.to_internal(array), persistent=False)

    def _broadcast_given(self, value, input_shape):
        """A given mean or variance, aligned from the right onto the kept axes and broadcast (Keras's rule)."""
        array = _float_array(value, "mean")
        target = [input_shape[d] if d in self._keep_axis else 1 for d in range(len(input_shape))]
        expanded = [1] * len(input_shape)
        for i in range(1, array.ndim + 1):
            expanded[self._keep_axis[-i]] = array.shape[-i]
        try:
            return np.broadcast_to(array.reshape(expanded), target)
        except ValueError:
            raise ValueError(f"{self._owner()}: mean and variance of shape {array.shape} cannot be broadcast onto "
                             f"the kept axes {list(self.axis)} of input_shape={input_shape}.") from None

    def adapt(self, data):
        """Computes the mean and variance of `data` over all axes but `axis` and stores them in the weights.

        Args:
            data: a numpy array or torch tensor holding all the data, or an iterable of batches (arrays or
                tensors; a batch that is a tuple, such as (images, labels), contributes its first item), e.g.
                a dataset from `cnnkit.utils.image_dataset_from_directory`.
        """
        if self.input_mean is not None:
            raise ValueError(f"{self._owner()}: adapt() cannot be used on a layer given mean and variance; create "
                             "it without them.")
        batches = _batches(data)
        first = next(batches, None)
        if first is None:
            raise ValueError(f"{self._owner()}: adapt() received an empty iterable (no batches).")
        if not self.built:
            self._maybe_build(tuple(first.shape))
        mean, variance, count = None, None, 0
        with torch.no_grad():
            for batch in itertools.chain([first], batches):
                self._check_batch(batch)
                stats = normalization.moments(batch, self._reduce_axis)
                mean, variance, count = (stats if mean is None else
                                         normalization.combine_moments(mean, variance, count, *stats))
            self.mean.copy_(mean.reshape(self.mean.shape))
            self.variance.copy_(variance.reshape(self.variance.shape))
        self._adapted = True

    def _check_batch(self, batch):
        shape, expected = tuple(batch.shape), self._input_shape
        if len(shape) != len(expected) or any(shape[d] != expected[d] for d in self._keep_axis):
            raise ValueError(f"{self._owner()}: adapt() received a batch of shape {shape}, incompatible with the "
                             f"layer's input_shape={expected} on the kept axes {list(self.axis)}.")

    def _assign_weight(self, spec, value):
        super()._assign_weight(spec, value)
        if spec.attr in ("mean", "variance"):
            self._adapted = True

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if prefix + "mean" in state_dict:  # torch's load_state_dict
            self._adapted = True

    def call(self, inputs, training=False):
        if not self._adapted:
            raise ValueError(f"{self._owner()} has no mean and variance: call adapt(data) first, or give mean and "
                             "variance to the constructor (or load weights).")
        if self.input_mean is not None:
            mean, variance = self._given_mean, self._given_variance
        else:
            rank, sizes = len(self._input_shape), self._kept_sizes
            mean = layout.broadcast_to_internal(self.mean, self._keep_axis, sizes, rank)
            variance = layout.broadcast_to_internal(self.variance, self._keep_axis, sizes, rank)
        return normalization.standardize(inputs, mean, variance, self.invert)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(axis=list(self.axis), invert=self.invert,
                   mean=np.array(self.input_mean).tolist(), variance=np.array(self.input_variance).tolist())
        return cfg


def _float_array(value, name):
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"Normalization: {name} must be a number or an array of numbers. "
                         f"Received: {name}={value!r}") from None


def _batches(data):
    """An iterator over the batches of `data` (one batch for an array or tensor), as Keras's adapt reads them."""
    if isinstance(data, (np.ndarray, torch.Tensor)):
        return iter([data])
    if not hasattr(data, "__iter__"):
        raise TypeError(f"Normalization.adapt: unsupported data type {type(data).__name__}; expected a numpy array, "
                        "a torch tensor or an iterable of batches.")
    return (_batch_input(batch) for batch in data)


def _batch_input(batch):
    batch = batch[0] if isinstance(batch, tuple) else batch
    if not hasattr(batch, "shape"):
        raise TypeError("Normalization.adapt: each batch must be an array or tensor with a shape (or a tuple whose "
                        f"first item is one). Received a batch of type {type(batch).__name__}.")
    return batch
