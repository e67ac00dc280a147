"""ImageNet helpers, as `keras.applications.imagenet_utils`: input preprocessing, decoding predictions, input-shape
rules, and the download cache for Keras's published weights files.

Weights files and the class index are Keras's own files, fetched from Keras's URLs and checked against Keras's
published md5 hashes. They are looked for in cnnkit's cache `$CNNKIT_HOME/models` (default `~/.cnnkit/models`),
then in Keras's cache `$KERAS_HOME/models` (default `~/.keras/models`, where Keras keeps them), and only then
downloaded into cnnkit's cache. Offline with no cached copy, the error names the file, its URL and the folder to
put it in.
"""

import json
import os
import warnings

import numpy as np

from cnnkit import activations
from cnnkit import ops
from cnnkit.datasets._files import DatasetDownloadError
from cnnkit.datasets._files import get_file
from cnnkit.datasets._files import keras_cache_dir
from cnnkit.layers.node import SymbolicTensor

CLASS_INDEX_PATH = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
CLASS_INDEX_FILE = "imagenet_class_index.json"
CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"  # md5, as in keras.applications.imagenet_utils
CAFFE_MEAN = (103.939, 116.779, 123.68)  # BGR
TORCH_MEAN, TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
_CLASS_INDEX = {}  # (path, mtime) -> {str(index): [wnid, name]}


class WeightsDownloadError(DatasetDownloadError):
    """A weights (or class index) file is in no cache and could not be downloaded (an `OSError`)."""


def get_model_file(fname, origin, file_hash):
    """The local path of one of Keras's published model files: cnnkit's cache, Keras's cache, or downloaded.

    Raises:
        WeightsDownloadError: not cached and not downloadable; the message names the file, the URL and the folder.
        DatasetHashError: the copy in cnnkit's cache, or the download, does not have `file_hash` (a ValueError).
    """
    try:
        return get_file(fname, origin, file_hash=file_hash, cache_root="models")
    except DatasetDownloadError as err:
        raise WeightsDownloadError(
            f"{err} A copy in Keras's cache folder {keras_cache_dir('models')} is used as well (Keras puts it there "
            f"when it loads these weights once with network access)."
        ) from err


def preprocess_input(x, data_format=None, mode="caffe"):
    """Preprocesses an image or a batch of images as Keras's `imagenet_utils.preprocess_input`.

    Args:
        x: a numpy array (or array-like) of one image (H, W, 3) or a batch (N, H, W, 3), RGB, values 0-255.
            Integer inputs become float32; float inputs keep their dtype. The input is never modified.
            Or a symbolic tensor of a functional model (`Input`): the steps are then recorded as graph operations,
            as Keras records them (GetItem, Stack, Add, TrueDivide, Subtract), so the model does its own
            preprocessing and its `.keras` file interchanges with Keras.
        data_format: 'channels_last' (default) or 'channels_first'.
        mode: 'caffe' (default: RGB -> BGR, subtract the ImageNet means [103.939, 116.779, 123.68], no scaling;
            ResNet50/101/152, VGG), 'tf' (scale to [-1, 1]) or 'torch' (scale to [0, 1], normalise per channel).

    Returns:
        A numpy array of the same shape (a symbolic tensor for a symbolic `x`).

    Example:
        >>> preprocess_input(np.full((2, 2, 3), 128, np.uint8))[0, 0].round(3)  # B, G, R minus the means
        array([24.061, 11.221,  4.32 ], dtype=float32)
        >>> inputs = Input((160, 160, 3))                # in a model, as keras.io's transfer-learning guide
        >>> x = preprocess_input(inputs, mode="tf")      # x / 127.5 - 1.0, two graph operations
    """
    if mode not in ("caffe", "tf", "torch"):
        raise ValueError(f"Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode={mode}")
    data_format = data_format or "channels_last"
    if data_format not in ("channels_first", "channels_last"):
        raise ValueError("Expected data_format to be one of `channels_first` or `channels_last`. Received: "
                         f"data_format={data_format}")
    if isinstance(x, SymbolicTensor):
        return _preprocess_symbolic_input(x, data_format, mode)
    x = np.asarray(x)
    x = x.astype("float32") if not np.issubdtype(x.dtype, np.floating) else x.copy()
    if mode == "tf":
        return x / 127.5 - 1.0
    axis = -1 if data_format == "channels_last" else (0 if x.ndim == 3 else 1)
    if x.shape[axis] != 3:
        raise ValueError(f"preprocess_input: expected 3 channels on axis {axis} ({data_format}). Received shape "
                         f"{x.shape}")
    shape = [1] * x.ndim
    shape[axis] = 3
    if mode == "torch":
        x = x / 255.0
        mean = np.asarray(TORCH_MEAN, x.dtype).reshape(shape)
        return (x - mean) / np.asarray(TORCH_STD, x.dtype).reshape(shape)
    x = np.flip(x, axis=axis)  # RGB -> BGR
    return np.ascontiguousarray(x - np.asarray(CAFFE_MEAN, x.dtype).reshape(shape))


def _preprocess_symbolic_input(x, data_format, mode):
    """Keras's `_preprocess_tensor_input` step by step, so that the same operations are recorded: 'tf' divides
    and subtracts; 'caffe' picks the channels in B, G, R order (three GetItem) and stacks them, then adds the
    negated means (an array constant); 'torch' divides by 255, adds the negated means and divides by the stds."""
    ndim = len(x.shape)
    if mode == "tf":
        x = x / 127.5
        return x - 1.0
    if mode == "torch":
        x = x / 255.0
        mean, std = TORCH_MEAN, TORCH_STD
    else:
        if data_format == "channels_first":
            if ndim == 3:
                x = ops.stack([x[i, ...] for i in (2, 1, 0)], axis=0)
            else:
                x = ops.stack([x[:, i, :] for i in (2, 1, 0)], axis=1)
        else:
            x = ops.stack([x[..., i] for i in (2, 1, 0)], axis=-1)
        mean, std = CAFFE_MEAN, None
    mean_tensor = ops.convert_to_tensor(-np.array(mean), dtype=x.dtype)
    if data_format == "channels_first":
        shape = (3, 1, 1) if ndim == 3 else (1, 3) + (1,) * (ndim - 2)
    else:
        shape = (1,) * (ndim - 1) + (3,)
    x = x + ops.reshape(mean_tensor, shape)
    if std is not None:
        std_tensor = ops.convert_to_tensor(np.array(std), dtype=x.dtype)
        if data_format == "channels_first":
            std_tensor = ops.reshape(std_tensor, (-1, 1, 1))
        x = x / std_tensor
    return x


def deprocess_input(x, mode="caffe"):
    """The inverse of `preprocess_input(x, mode=mode)` (channels_last): back to RGB values 0-255, e.g. to show
    preprocessed images in their true colours.

    Example:
        >>> x = np.random.rand(2, 4, 4, 3).astype("float32") * 255
        >>> bool(np.allclose(deprocess_input(preprocess_input(x, mode="tf"), mode="tf"), x, atol=1e-3))
        True
    """
    if mode not in ("caffe", "tf", "torch"):
        raise ValueError(f"Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode={mode}")
    x = np.asarray(x, dtype=np.float32)
    if mode == "tf":
        return (x + 1.0) * 127.5
    if x.shape[-1] != 3:
        raise ValueError(f"deprocess_input: expected 3 channels on the last axis. Received shape {x.shape}")
    if mode == "torch":
        return (x * np.asarray(TORCH_STD, np.float32) + np.asarray(TORCH_MEAN, np.float32)) * 255.0
    return np.ascontiguousarray(np.flip(x + np.asarray(CAFFE_MEAN, np.float32), axis=-1))


def load_class_index(path=None):
    """The ImageNet class index {'0': ['n01440764', 'tench'], ...} from `path` or Keras's published file."""
    if path is None:
        path = get_model_file(CLASS_INDEX_FILE, CLASS_INDEX_PATH, CLASS_INDEX_HASH)
    path = os.fspath(path)
    try:
        key = (path, os.stat(path).st_mtime_ns)
        if key not in _CLASS_INDEX:
            with open(path, encoding="utf8") as f:
                index = json.load(f)
            if not isinstance(index, dict):
                raise ValueError("not a JSON object of 'index': [wnid, name]")
            _CLASS_INDEX[key] = index
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"decode_predictions: cannot read the class index {path}: {err}") from None
    return _CLASS_INDEX[key]


def decode_predictions(preds, top=5, class_index_path=None):
    """The top classes of each ImageNet prediction, as Keras's `decode_predictions`.

    Args:
        preds: (samples, 1000) scores (numpy array, torch tensor or nested lists).
        top: how many classes per sample (default 5).
        class_index_path: a JSON class index to use instead of Keras's imagenet_class_index.json (which is read
            from cnnkit's or Keras's cache, or downloaded and checked against its md5 hash).

    Returns:
        One list per sample of (wnid, class name, score) tuples, highest score first.

    Raises:
        ValueError: `preds` is not 2-D with 1000 columns, or the class index lacks a class.
        WeightsDownloadError: the class index is in no cache and cannot be downloaded.

    Example:
        >>> decode_predictions(model.predict(preprocess_input(images)), top=3)[0]
        [('n02504458', 'African_elephant', 0.82), ('n01871265', 'tusker', 0.11), ...]
    """
    if hasattr(preds, "detach"):
        preds = preds.detach().cpu().numpy()
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError("`decode_predictions` expects a batch of predictions (i.e. a 2D array of shape (samples, "
                         f"1000)). Received array with shape: {preds.shape}")
    index = load_class_index(class_index_path)
    results = []
    for pred in preds:
        top_indices = pred.argsort()[-top:][::-1] if top > 0 else []
        try:
            result = [tuple(index[str(i)]) + (pred[i],) for i in top_indices]
        except KeyError as err:
            raise ValueError(f"decode_predictions: the class index has no class {err}.") from None
        result.sort(key=lambda item: item[2], reverse=True)
        results.append(result)
    return results


def obtain_input_shape(input_shape, default_size, min_size, require_flatten, weights=None):
    """The model's input shape (channels_last), validated as Keras's `obtain_input_shape`.

    None gives (default_size, default_size, 3) with a top, (None, None, 3) without; with include_top and ImageNet
    weights only (default_size, default_size, 3) is accepted; otherwise 3 integers (or None), each spatial size at
    least `min_size`, 3 channels for ImageNet weights.
    """
    if input_shape is not None:
        if isinstance(input_shape, int) or len(input_shape) != 3:
            raise ValueError(f"`input_shape` must be a tuple of three integers. Received: input_shape={input_shape}")
        input_shape = tuple(None if d is None else int(d) for d in input_shape)
    if weights != "imagenet" and input_shape:
        if input_shape[-1] not in (1, 3):
            warnings.warn("This model usually expects 1 or 3 input channels. However, it was passed an input_shape "
                          f"with {input_shape[-1]} input channels.", stacklevel=3)
        default_shape = (default_size, default_size, input_shape[-1])
    else:
        default_shape = (default_size, default_size, 3)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and input_shape != default_shape:
            raise ValueError("When setting `include_top=True` and loading `imagenet` weights, `input_shape` should "
                             f"be {default_shape}. Received: input_shape={input_shape}")
        return default_shape
    if input_shape:
        if input_shape[-1] != 3 and weights == "imagenet":
            raise ValueError(f"The input must have 3 channels; Received `input_shape={input_shape}`")
        if any(d is not None and d < min_size for d in input_shape[:2]):
            raise ValueError(f"Input size must be at least {min_size}x{min_size}; Received: "
                             f"input_shape={input_shape}")
    else:
        input_shape = default_shape if require_flatten else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError("If `include_top` is True, you should specify a static `input_shape`. Received: "
                         f"input_shape={input_shape}")
    return input_shape


def validate_activation(classifier_activation, weights):
    """With pretrained weights only None ('linear') or 'softmax' may top the classifier (as Keras)."""
    if weights is None:
        return
    if activations.get(classifier_activation) not in (activations.softmax, activations.linear):
        raise ValueError("Only `None` and `softmax` activations are allowed for the `classifier_activation` argument "
                         "when using pretrained weights, with `include_top=True`; Received: "
                         f"classifier_activation={classifier_activation}")


def correct_pad(inputs, kernel_size):
    """Keras's `correct_pad`: the ZeroPadding2D padding ((top, bottom), (left, right)) before a stride-2 'valid'
    convolution of `kernel_size` on the symbolic 4-D (channels_last) tensor `inputs`, so that it covers the input
    as TensorFlow's 'same' padding does (one row/column less on top/left for even sizes; unknown sizes count as
    odd)."""
    input_size = tuple(inputs.shape[1:3])
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1, 1) if input_size[0] is None else (1 - input_size[0] % 2, 1 - input_size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))
