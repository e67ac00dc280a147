"""`BaseImagePreprocessingLayer`: what every Keras 3 image augmentation layer shares.

A subclass builds one `cnnkit.data.transforms.Transform` (its `transform` attribute) in `__init__`; the base does
the rest as Keras's `BaseImagePreprocessingLayer`: it runs only in training (`training=True`, inside `fit`, or a
direct call without `training`, Keras's default for these layers) and is the identity otherwise, takes a batch
(N, H, W, C) or one image (H, W, C) (numpy, torch, or a symbolic tensor in a model), or a dict with "images" (and
"labels", which label-mixing layers change), draws each image's parameters from its own generator (seeded by
`seed`, else by torch's global generator) and applies the transform to the whole batch in torch.

Example:
    >>> flip = RandomFlip("horizontal", seed=1)
    >>> flip(np.zeros((2, 8, 8, 3))).shape          # a direct call augments (training defaults to True)
    torch.Size([2, 8, 8, 3])
    >>> model = Sequential([Input((8, 8, 3)), flip])  # in predict/evaluate it is the identity
"""

import torch

from cnnkit.data.transforms import generator_from
from cnnkit.layers.core import BaseRandomLayer
from cnnkit.ops import image_math as image
from cnnkit.ops import layout


class BaseImagePreprocessingLayer(BaseRandomLayer):
    """Base of the image augmentation layers (see the module docstring).

    Subclasses set `self.transform` (a `Transform`) in `__init__` and add their arguments to `get_config`. A layer
    whose output differs from its input shape overrides `compute_output_shape`.

    Note:
        `call`'s `training` defaults to True, as Keras 3's: an unset `training` (a direct call, or a model called
        without it) means training for these layers; `predict` and `evaluate` pass False.
    """

    transform = None

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{type(self).__name__}: cnnkit's image layers take channels_last data. Received: "
                             f"data_format={data_format!r}")
        self._generator = None if seed is None else generator_from(seed)

    def generator(self):
        """The generator of this call's draws: the layer's own (seeded) one, else one seeded from torch's."""
        return self._generator if self._generator is not None else generator_from(None)

    def augment(self, images, training):
        """Keras-layout (N, H, W, C) float `images` augmented (training) or as they are."""
        if training:
            return self.transform(images, self.generator())
        return images

    def call(self, inputs, training=True):
        if isinstance(inputs, dict):
            return self._call_dict(inputs, training)
        images, batched = image.to_image_batch(inputs)
        out = self.augment(layout.to_keras(images), training)
        return image.from_image_batch(layout.to_internal(out), batched)

    def _call_dict(self, data, training):
        raise ValueError(f"{type(self).__name__}: takes images, not a dict (only MixUp and CutMix take "
                         "{'images': ..., 'labels': ...}).")

    def get_config(self):
        cfg = super().get_config()
        cfg["data_format"] = "channels_last"
        return cfg


def as_float(images):
    """Integer images as float32 (Keras's layers output floats); float tensors unchanged."""
    return images if images.is_floating_point() else images.to(torch.float32)
