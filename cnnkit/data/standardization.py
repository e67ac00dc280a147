"""ImageDataGenerator's standardisation as `Transform`s of stage 'standardize', in Keras's order: `Rescale`,
`PreprocessingFunction` (Keras runs it first: the generator puts it before Rescale), `SamplewiseCenter`,
`SamplewiseStdNormalization`, `FeaturewiseCenter`, `FeaturewiseStdNormalization`, `ZCAWhitening`.

They are the one code path of `ImageDataGenerator.standardize`, of every iterator batch and of `fit`. Unlike the
augmentations they draw nothing and work in place, with numpy on the CPU: on a batch the caller owns (the
pipeline's own float copy, or the array Keras's `standardize` changes in place), single-threaded so that they do not
compete with decoding workers or the training step for the cores, with Keras's numpy roundings. `apply` takes a
channels_last batch of units (N, ..., C) as a torch CPU tensor or a numpy array and returns the same kind; a unit is
one image (N, H, W, C), or for Keras's `standardize` of a whole batch the batch itself (1, N, H, W, C): sample-wise
statistics are over everything after the first axis.

Example:
    >>> steps = [Rescale(1 / 255), SamplewiseCenter()]
    >>> x = np.full((2, 4, 4, 3), 255.0, np.float32)
    >>> for step in steps:
    ...     x = step.apply(x, None)
    >>> float(abs(x).max())
    0.0
"""

import warnings

import numpy as np
import torch

from cnnkit.data.transforms import Transform


def _numpy(images):
    return images.numpy() if isinstance(images, torch.Tensor) else images


def _like(result, images):
    """`result` (numpy) as the kind of `images` (a torch tensor sharing its memory where it can)."""
    if not isinstance(images, torch.Tensor):
        return result
    if not isinstance(result, np.ndarray) or any(s < 0 for s in result.strides):
        result = np.array(result)
    return torch.from_numpy(result)


def _unit_axes(x):
    return tuple(range(1, x.ndim))


class Standardization(Transform):
    """Base of the standardisation steps: nothing random, in place (see the module docstring)."""

    stage = "standardize"

    def apply(self, images, params=None):
        return _like(self.apply_numpy(_numpy(images)), images)

    def apply_numpy(self, x):
        raise NotImplementedError(f"{type(self).__name__}.apply_numpy")


class Rescale(Standardization):
    """x * scale, the factor taken in x's dtype (float32 batches: float32(scale), as Keras's `x *= rescale`).

    `convert(batch, dtype)` does it while making a new float array of a batch of any dtype (uint8 images, a
    worker's shared memory): one memory pass for the conversion (or copy) and the scaling.
    """

    def __init__(self, scale):
        self.scale = scale

    def apply_numpy(self, x):
        # an integer x is not cast: numpy refuses the in-place float product, as for Keras's `x *= rescale`
        x *= np.asarray(self.scale, dtype=x.dtype) if np.issubdtype(x.dtype, np.floating) else self.scale
        return x

    def convert(self, batch, dtype=np.float32):
        return np.multiply(batch, np.asarray(self.scale, dtype=dtype), dtype=dtype, order="C")


class PreprocessingFunction(Standardization):
    """Keras's preprocessing_function, called on each unit (one image; for `standardize` of a batch, the batch)
    laid out in the generator's `data_format`; the results are stacked in the input's dtype."""

    def __init__(self, function, data_format="channels_last"):
        self.function, self.channels_first = function, data_format == "channels_first"

    def apply_numpy(self, x):
        def call(unit):
            if self.channels_first:
                return np.moveaxis(np.asarray(self.function(np.moveaxis(unit, -1, -3)), dtype=x.dtype), -3, -1)
            return np.asarray(self.function(unit), dtype=x.dtype)
        return np.stack([call(unit) for unit in x])


class SamplewiseCenter(Standardization):
    """Subtracts each unit's mean (over its pixels and channels)."""

    def apply_numpy(self, x):
        x -= x.mean(axis=_unit_axes(x), keepdims=True)
        return x


class SamplewiseStdNormalization(Standardization):
    """Divides each unit by its standard deviation + 1e-6."""

    def apply_numpy(self, x):
        x /= x.std(axis=_unit_axes(x), keepdims=True) + 1e-6
        return x


class _Featurewise(Standardization):
    """A fitted statistic (None: not fitted, the step warns and does nothing, as Keras)."""

    what = None

    def __init__(self, value):
        self.value = value

    def apply_numpy(self, x):
        if self.value is None:
            warnings.warn(f"This ImageDataGenerator specifies `{self.what}`, but it hasn't been fit on any training "
                          "data. Fit it first by calling `.fit(numpy_data)`.", stacklevel=5)
            return x
        return self.apply_fitted(x)


class FeaturewiseCenter(_Featurewise):
    """Subtracts the per-channel mean from `fit` (`mean`: any shape with one value per channel)."""

    what = "featurewise_center"

    def apply_fitted(self, x):
        x -= self.value.reshape(-1)
        return x


class FeaturewiseStdNormalization(_Featurewise):
    """Divides by the per-channel std from `fit` + 1e-6."""

    what = "featurewise_std_normalization"

    def apply_fitted(self, x):
        x /= self.value.reshape(-1) + 1e-6
        return x


class ZCAWhitening(_Featurewise):
    """Multiplies each image, flattened in the generator's data_format (the order `fit` flattened it in), by the
    ZCA matrix."""

    what = "zca_whitening"

    def __init__(self, value, data_format="channels_last"):
        super().__init__(value)
        self.channels_first = data_format == "channels_first"

    def apply_fitted(self, x):
        if self.channels_first:
            x = np.moveaxis(x, -1, -3)
        flat = x.reshape(-1, int(np.prod(x.shape[-3:])))
        x = (flat @ self.value).reshape(x.shape)
        return np.moveaxis(x, -3, -1) if self.channels_first else x
