"""Utilities (`cnnkit.utils` mirrors `keras.utils`): data (PyDataset / Sequence, get_file, image loading),
numbers (to_categorical, normalize), Progbar, and serialization (register_keras_serializable, custom_object_scope,
serialize/deserialize_keras_object: the same objects as `cnnkit.saving`'s)."""

import random

import numpy as np
import torch

from cnnkit.data.dataset import image_dataset_from_directory as image_dataset_from_directory
from cnnkit.data.image_io import array_to_img as array_to_img
from cnnkit.data.image_io import img_to_array as img_to_array
from cnnkit.data.image_io import load_img as load_img
from cnnkit.data.image_io import save_img as save_img
from cnnkit.backend import clear_session as clear_session
from cnnkit.saving.object_registration import CustomObjectScope as CustomObjectScope
from cnnkit.saving.object_registration import custom_object_scope as custom_object_scope
from cnnkit.saving.object_registration import get_custom_objects as get_custom_objects
from cnnkit.saving.object_registration import get_registered_name as get_registered_name
from cnnkit.saving.object_registration import get_registered_object as get_registered_object
from cnnkit.saving.object_registration import register_keras_serializable as register_keras_serializable
from cnnkit.saving.serialization_lib import deserialize_keras_object as deserialize_keras_object
from cnnkit.saving.serialization_lib import serialize_keras_object as serialize_keras_object
from cnnkit.utils.file_utils import get_file as get_file
from cnnkit.utils.numerical import normalize as normalize
from cnnkit.utils.numerical import to_categorical as to_categorical
from cnnkit.utils.progbar import Progbar as Progbar
from cnnkit.utils.py_dataset import PyDataset as PyDataset
from cnnkit.utils.py_dataset import Sequence as Sequence


def plot_model(model, to_file="model.png", **kwargs):
    """Keras's `keras.utils.plot_model`, drawn with matplotlib (no Graphviz): see
    `cnnkit.visualization.plot_model`."""
    from cnnkit.visualization.plot_model import plot_model as draw  # noqa: PLC0415 (utils loads before models)

    return draw(model, to_file=to_file, **kwargs)


def set_random_seed(seed):
    """Seeds Python's `random`, numpy and torch (CPU and CUDA), so a run can be repeated exactly."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative int. Received: seed={seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


__all__ = ["CustomObjectScope", "Progbar", "PyDataset", "Sequence", "array_to_img", "clear_session",
           "custom_object_scope", "deserialize_keras_object", "get_custom_objects", "get_file", "get_registered_name",
           "get_registered_object", "image_dataset_from_directory", "img_to_array", "load_img", "normalize",
           "plot_model", "register_keras_serializable", "save_img", "serialize_keras_object", "set_random_seed",
           "to_categorical"]
