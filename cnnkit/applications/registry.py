"""One entry per application: what the command line, the report and Grad-CAM need to know about an architecture.

`APPLICATIONS` maps a lower-case name ('resnet50', 'mobilenetv2', 'small') to an `Application`. Calling an entry
builds the architecture with random weights (what `cnnkit train --model NAME` trains unless told otherwise); its
fields say how pixels are prepared, the input sizes, where to cut for features and which layer Grad-CAM looks at.
A new family adds one `register(Application(...))` per builder in `cnnkit/applications/__init__.py`.
"""

import dataclasses
from typing import Callable

import numpy as np

from cnnkit.applications import imagenet_utils
from cnnkit.registry import Registry

#: Pixel preparations: Keras's imagenet_utils modes, 'none' (the model rescales inside, e.g. EfficientNet) and
#: 'rescale' (x / 255, cnnkit's own small networks).
PREPROCESSING = ("caffe", "tf", "torch", "none", "rescale")


@dataclasses.dataclass(frozen=True)
class Application:
    """A registered architecture.

    Attributes:
        name: Keras's builder name ('MobileNetV2').
        builder: the builder (`cnnkit.applications.MobileNetV2`).
        preprocessing: how 0-255 RGB pixels become the model's input, one of `PREPROCESSING`.
        default_size: the input size of the ImageNet weights (and of the model with its classifier).
        min_size: the smallest input side the builder accepts.
        last_conv: the last layer with spatial maps (Grad-CAM's default), or None.
        pretrained: whether ImageNet weights are published (`weights='imagenet'`).
    """

    name: str
    builder: Callable
    preprocessing: str
    default_size: int
    min_size: int
    last_conv: str = None
    pretrained: bool = True

    def __post_init__(self):
        if self.preprocessing not in PREPROCESSING:
            raise ValueError(f"Application {self.name}: preprocessing must be one of {PREPROCESSING}. Received: "
                             f"preprocessing={self.preprocessing!r}")

    @property
    def key(self):
        """The registry name: the builder name in lower case ('mobilenetv2')."""
        return self.name.lower()

    def __call__(self, **kwargs):
        """Builds the architecture; random weights unless `weights=` is given."""
        if self.pretrained:
            kwargs.setdefault("weights", None)
        return self.builder(**kwargs)

    def preprocess(self, images):
        """0-255 RGB images (numpy, (H, W, 3) or (N, H, W, 3)) prepared for the model, as its preprocess_input."""
        return prepare(images, self.preprocessing)

    def deprocess(self, images):
        """The inverse of `preprocess`: model inputs back to 0-255 RGB (for showing images in true colours)."""
        images = np.asarray(images, dtype=np.float32)
        if self.preprocessing == "rescale":
            return images * 255.0
        if self.preprocessing in ("caffe", "tf", "torch"):
            return imagenet_utils.deprocess_input(images, mode=self.preprocessing)
        return images


def prepare(images, mode):
    """0-255 RGB images prepared as `mode` (one of `PREPROCESSING`) says: Keras's preprocess_input modes, 'none'
    (as they are, float32) or 'rescale' (x / 255)."""
    if mode in ("caffe", "tf", "torch"):
        return imagenet_utils.preprocess_input(images, mode=mode)
    images = np.asarray(images, dtype=np.float32)
    return images / 255.0 if mode == "rescale" else images


APPLICATIONS = Registry("application")


def register(application):
    """Adds `application` to `APPLICATIONS` under its `key`; returns it."""
    APPLICATIONS.register(application.key, application)
    return application
