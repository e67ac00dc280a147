"""Keras 3's label-mixing augmentation layers, `MixUp` and `CutMix`: each image of a batch is mixed with another
image of the same batch (a random permutation) and, given {"images": ..., "labels": ...}, the labels are mixed in
the same proportion.

Keras's formulas (keras/src/layers/preprocessing/image_preprocessing/mix_up.py, cut_mix.py), per image i with the
batch's permutation p:
- MixUp: w_i ~ Beta(alpha, alpha); images_i = w_i * images_i + (1 - w_i) * images_p(i), labels likewise.
- CutMix: a ~ U(factor) + 1e-6 once per batch; w_i ~ Beta(a, a); a box of size sqrt(1 - w_i) * (W, H) at a uniform
  position (float corners, no rounding) takes image p(i)'s pixels (x0 <= x < x1, y0 <= y < y1 on the pixel grid);
  labels are mixed with the kept area: 1 - (x1 - x0) (y1 - y0) / (W H).
The draws come from the layer's numpy generator (Keras's backend RNG cannot be reproduced), so values equal Keras's
for the same drawn parameters.

Example:
    >>> mix_up = MixUp(alpha=0.2, seed=1)
    >>> out = mix_up({"images": np.zeros((8, 32, 32, 3)), "labels": np.eye(10)[:8]})
    >>> out["images"].shape, out["labels"].shape
    (torch.Size([8, 32, 32, 3]), torch.Size([8, 10]))
    >>> dataset.map(lambda x, y: mix_up({"images": x, "labels": y}))  # over image_dataset_from_directory
"""

import numpy as np
import torch

from cnnkit.data.transforms import Transform
from cnnkit.layers.base import register
from cnnkit.layers.preprocessing.base import BaseImagePreprocessingLayer
from cnnkit.layers.preprocessing.base import as_float
from cnnkit.ops import image_math as image
from cnnkit.ops import layout
from cnnkit.ops.arguments import normalize_float


def _param(values, images, dtype=None):
    return torch.as_tensor(np.asarray(values), device=images.device, dtype=dtype)


class MixTransform(Transform):
    """A label-mixing transform: `apply` mixes the images, `apply_labels` the labels, with the same draw."""

    def apply_labels(self, labels, params):
        weight = _param(params["label_weight"], labels, labels.dtype).view(-1, 1)
        order = _param(params["permutation"], labels, torch.long)
        return weight * labels + (1.0 - weight) * labels[order]


class MixUpTransform(MixTransform):
    """MixUp on a channels_last batch: params 'permutation' (N,) and 'weight' (N,) ~ Beta(alpha, alpha)."""

    def __init__(self, alpha):
        self.alpha = alpha

    def draw(self, images, rng):
        n = images.shape[0]
        permutation = rng.permutation(n)
        weight = rng.beta(self.alpha, self.alpha, n).astype(np.float32)
        return {"permutation": permutation, "weight": weight, "label_weight": weight}

    def apply(self, images, params):
        images = as_float(images)
        weight = _param(params["weight"], images, images.dtype).view(-1, 1, 1, 1)
        order = _param(params["permutation"], images, torch.long)
        return weight * images + (1.0 - weight) * images[order]


class CutMixTransform(MixTransform):
    """CutMix on a channels_last batch: params 'permutation' (N,), the boxes 'x0', 'x1', 'y0', 'y1' (N,) in pixels
    (floats) and 'label_weight' (N,), the kept fraction of each image."""

    def __init__(self, factor):
        self.factor = factor

    def draw(self, images, rng):
        n, height, width = images.shape[0], images.shape[1], images.shape[2]
        alpha = np.float32(rng.uniform(self.factor[0], self.factor[1])) + np.float32(1e-6)
        weight = rng.beta(alpha, alpha, n).astype(np.float32)
        ratio = np.sqrt(np.float32(1.0) - weight)
        crop_w, crop_h = ratio * np.float32(width), ratio * np.float32(height)
        x0 = rng.uniform(size=n).astype(np.float32) * (np.float32(width) - crop_w)
        y0 = rng.uniform(size=n).astype(np.float32) * (np.float32(height) - crop_h)
        x1, y1 = x0 + crop_w, y0 + crop_h
        kept = np.float32(1.0) - (x1 - x0) * (y1 - y0) / np.float32(width * height)
        return {"permutation": rng.permutation(n), "x0": x0, "x1": x1, "y0": y0, "y1": y1,
                "label_weight": kept.astype(np.float32)}

    def apply(self, images, params):
        images = as_float(images)
        height, width = images.shape[1], images.shape[2]
        rows = torch.arange(height, device=images.device, dtype=images.dtype).view(1, -1, 1, 1)
        cols = torch.arange(width, device=images.device, dtype=images.dtype).view(1, 1, -1, 1)
        box = {k: _param(params[k], images, images.dtype).view(-1, 1, 1, 1) for k in ("x0", "x1", "y0", "y1")}
        inside = (cols >= box["x0"]) & (cols < box["x1"]) & (rows >= box["y0"]) & (rows < box["y1"])
        order = _param(params["permutation"], images, torch.long)
        return torch.where(inside, images[order], images)


class _MixingLayer(BaseImagePreprocessingLayer):
    """MixUp and CutMix: a plain image batch mixes the images; a dict {"images", "labels"} mixes both. One image
    (no batch axis) has nothing to mix with and comes back unchanged (Keras mixes it with itself)."""

    takes_dict = True

    def call(self, inputs, training=True):
        if isinstance(inputs, dict):
            return self._call_dict(inputs, training)
        return self._call_dict({"images": inputs}, training)["images"]

    def _call_dict(self, data, training):
        unknown = sorted(set(data) - {"images", "labels"})
        if "images" not in data or unknown:
            raise ValueError(f"{type(self).__name__}: takes a dict with the keys 'images' and (optional) 'labels'. "
                             f"Received keys: {sorted(data)}")
        images, batched = image.to_image_batch(data["images"])
        images = layout.to_keras(images)
        labels = data.get("labels")
        if labels is not None:
            if not batched:
                labels = labels.unsqueeze(0)
            if labels.dim() != 2 or labels.shape[0] != images.shape[0]:
                raise ValueError(f"{type(self).__name__}: labels must be one-hot (or class probabilities) of shape "
                                 f"(batch, classes), one row per image. Received: labels of shape "
                                 f"{tuple(data['labels'].shape)} for images of shape "
                                 f"{tuple(layout.to_keras(data['images']).shape)}")
        out = dict(data)
        if batched and training:
            params = self.transform.draw(images, self.generator())
            images = self.transform.apply(images, params)
            if labels is not None:
                labels = self.transform.apply_labels(as_float(labels), params)
        out["images"] = image.from_image_batch(layout.to_internal(as_float(images)), batched)
        if labels is not None:
            out["labels"] = labels if batched else labels.squeeze(0)
        return out


@register
class MixUp(_MixingLayer):
    """Keras's `MixUp`: mixes each image (and its label) with another of the batch, weight ~ Beta(alpha, alpha).

    Args:
        alpha: the Beta distribution's parameter (> 0); small values mix little. Default 0.2.
        data_format: 'channels_last' (or None).
        seed: int or None, for repeatable draws.

    Input: {"images": (N, H, W, C), "labels": (N, classes) one-hot} (or one image (H, W, C) with (classes,)),
    or a plain image batch; output: the same structure, float32. The identity unless training.

    Example:
        >>> mix_up = MixUp(alpha=0.2)
        >>> mixed = mix_up({"images": images, "labels": one_hot_labels})
    """

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.alpha = normalize_float(alpha, "alpha", "MixUp", low=0.0)
        if self.alpha <= 0.0:
            raise ValueError(f"MixUp: alpha must be > 0. Received: alpha={alpha!r}")
        self.transform = MixUpTransform(self.alpha)

    def get_config(self):
        cfg = super().get_config()
        cfg["alpha"] = self.alpha
        return cfg


@register
class CutMix(_MixingLayer):
    """Keras's `CutMix`: pastes a random box of another image of the batch into each image, and mixes the labels
    by the area kept.

    Args:
        factor: a float f in [0, 1] (the Beta parameter is drawn from [0, f]) or a pair (low, high). Default 1.
        seed: int or None, for repeatable draws.
        data_format: 'channels_last' (or None).

    Input and output as `MixUp`; one image (no batch) is returned unchanged, as in Keras.

    Example:
        >>> cut_mix = CutMix(factor=1.0)
        >>> mixed = cut_mix({"images": images, "labels": one_hot_labels})
    """

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = _factor(factor)
        self.transform = CutMixTransform(self.factor)

    def get_config(self):
        cfg = super().get_config()
        cfg["factor"] = list(self.factor)  # (Keras writes a tuple; JSON makes it a list)
        return cfg


def _factor(factor):
    """Keras's `_set_factor` with bounds (0, 1): (low, high)."""
    message = ("The `factor` argument should be a number (or a list of two numbers) in the range [0, 1]. "
               f"Received: factor={factor}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(isinstance(f, (int, float)) and not isinstance(f, bool) for f in factor):
            raise ValueError(message)
        if factor[0] > 1 or factor[1] < 0:
            raise ValueError(message)
        return tuple(sorted(factor))
    if isinstance(factor, (int, float)) and not isinstance(factor, bool):
        if factor < 0 or factor > 1:
            raise ValueError(message)
        return (0, factor)
    raise ValueError(message)
