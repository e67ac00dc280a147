"""`cnnkit.backend` (Keras 3's `keras.backend`): the engine's name ('torch'), the global float type, epsilon and
image data format, `clear_session` and `is_keras_tensor`.

Example:
    >>> from cnnkit import backend
    >>> backend.backend(), backend.floatx(), backend.image_data_format()
    ('torch', 'float32', 'channels_last')
"""

import gc

import numpy as np
import torch

from cnnkit.config import epsilon as epsilon
from cnnkit.config import floatx as floatx
from cnnkit.config import image_data_format as image_data_format
from cnnkit.config import set_epsilon as set_epsilon
from cnnkit.config import set_floatx as set_floatx
from cnnkit.utils import naming
from cnnkit.utils.naming import get_uid as get_uid

_DTYPES = {"float16", "bfloat16", "float32", "float64", "uint8", "uint16", "uint32", "uint64", "int8", "int16",
           "int32", "int64", "bool", "complex64", "complex128", "string"}


def backend():
    """The name of the engine cnnkit computes with: 'torch' (Keras 3's `keras.backend.backend()`)."""
    return "torch"


def set_image_data_format(data_format):
    """Sets the image data format: only 'channels_last' (cnnkit's API is channels last; its layers keep torch's
    channels-first memory internally).

    Raises:
        NotImplementedError: 'channels_first'.
        ValueError: any other value (Keras's message).
    """
    value = str(data_format).lower() if isinstance(data_format, str) else data_format
    if value not in {"channels_first", "channels_last"}:
        raise ValueError("The `data_format` argument must be one of {'channels_first', 'channels_last'}. "
                         f"Received: data_format={data_format}")
    if value == "channels_first":
        raise NotImplementedError("set_image_data_format('channels_first') is not supported by cnnkit: its API takes "
                                  "and returns images as (batch, height, width, channels) (internally, tensors are "
                                  "channels first already). Keep 'channels_last'.")


def clear_session(free_memory=True):
    """Resets the automatic layer names (the next Conv2D is 'conv2d' again) and the uid counters; with
    `free_memory`, also collects garbage and releases cached CUDA memory (Keras's `clear_session`)."""
    naming.clear_session()
    if free_memory:
        gc.collect()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()


def is_keras_tensor(x):
    """Whether `x` is a symbolic tensor of a functional graph (from `Input` or a layer call on one)."""
    from cnnkit.layers.node import SymbolicTensor  # noqa: PLC0415 (layers import this package's neighbours)

    return isinstance(x, SymbolicTensor)


def standardize_dtype(dtype):
    """A dtype's Keras name: 'float32' for 'float32', torch.float32, numpy's float32 or Python's float."""
    if dtype is None:
        return floatx()
    if dtype is float:
        return "float32"
    if dtype is int:
        return "int64"
    if dtype is bool:
        return "bool"
    if isinstance(dtype, torch.dtype):
        name = str(dtype).replace("torch.", "")
    elif isinstance(dtype, str):
        name = dtype
    else:
        try:
            name = np.dtype(dtype).name  # numpy dtypes and scalar types
        except TypeError:
            name = str(dtype)
    if name not in _DTYPES:
        raise ValueError(f"Invalid dtype: {dtype}")
    return name


def is_float_dtype(dtype):
    return standardize_dtype(dtype).startswith(("float", "bfloat"))


def is_int_dtype(dtype):
    return standardize_dtype(dtype).startswith(("int", "uint"))


__all__ = ["backend", "clear_session", "epsilon", "floatx", "get_uid", "image_data_format", "is_float_dtype",
           "is_int_dtype", "is_keras_tensor", "set_epsilon", "set_floatx", "set_image_data_format",
           "standardize_dtype"]
