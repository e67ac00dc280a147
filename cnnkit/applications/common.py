"""What every `cnnkit.applications` builder shares: Keras's argument checks, the image input, the pooling/classifier
top, and loading weights files (Keras's published ImageNet files or a path), written once for all families.

A family module builds its body between `image_input` and `finish`:

    >>> def Tiny(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
    ...          classifier_activation="softmax", name="tiny"):
    ...     check_arguments(weights, include_top, classes, pooling)
    ...     img_input = image_input(input_tensor, input_shape, default_size=32, min_size=32,
    ...                             include_top=include_top, weights=weights)
    ...     x = Conv2D(8, 3, name="conv")(img_input)
    ...     x = pooled_top(x, include_top, pooling, classes, classifier_activation, weights)
    ...     return finish(img_input, input_tensor, x, name, weights, None, include_top)
"""

import dataclasses
import os

import h5py

from cnnkit.applications import imagenet_utils
from cnnkit.layers import Dense
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.layers import GlobalMaxPooling2D
from cnnkit.layers import Input
from cnnkit.layers.node import SymbolicTensor
from cnnkit.models import Model
from cnnkit.models.connect import get_source_inputs


@dataclasses.dataclass(frozen=True)
class WeightsFile:
    """One of Keras's published weights files: its name, its URL and its hash (md5 or sha256, as Keras lists it)."""

    fname: str
    origin: str
    file_hash: str

    def path(self):
        """The local path: cnnkit's cache, Keras's cache (`~/.keras/models`), or downloaded (see imagenet_utils)."""
        return imagenet_utils.get_model_file(self.fname, self.origin, self.file_hash)


def published(base_url, fname, file_hash):
    """A `WeightsFile` at `base_url + fname`."""
    return WeightsFile(fname, base_url + fname, file_hash)


def check_arguments(weights, include_top, classes, pooling=None, *, pooling_values=(None, "avg", "max")):
    """Keras's checks of `weights`, `classes` and `pooling`, with Keras's messages.

    Raises:
        ValueError: `weights` not None, 'imagenet' or an existing file; ImageNet weights with the classifier and
            `classes` != 1000; an unknown `pooling`; `classes` not a positive integer.
    """
    if not (weights in ("imagenet", None) or (isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights))):
        raise ValueError("The `weights` argument should be either `None` (random initialization), 'imagenet' "
                         "(pre-training on ImageNet), or the path to the weights file to be loaded. Received: "
                         f"weights={weights!r}" + (" (no such file)" if isinstance(weights, str) else ""))
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError("If using `weights='imagenet'` with `include_top=True`, `classes` should be 1000. "
                         f"Received classes={classes}")
    if pooling not in pooling_values:
        raise ValueError(f"`pooling` should be None, 'avg' or 'max'. Received: pooling={pooling!r}")
    if include_top and (isinstance(classes, bool) or not isinstance(classes, int) or classes < 1):
        raise ValueError(f"`classes` should be a positive integer. Received: classes={classes!r}")


def image_input(input_tensor, input_shape, *, default_size, min_size, include_top, weights):
    """The model's image input: a new `Input` of the checked `input_shape` (Keras's `obtain_input_shape` rules), or
    `input_tensor` (a symbolic 4-D tensor) after the same checks."""
    if input_tensor is None:
        shape = imagenet_utils.obtain_input_shape(input_shape, default_size=default_size, min_size=min_size,
                                                  require_flatten=include_top, weights=weights)
        return Input(shape=shape)
    if not isinstance(input_tensor, SymbolicTensor):
        raise TypeError("`input_tensor` should be a symbolic tensor (from cnnkit.layers.Input(...) or a layer "
                        f"output). Received: {type(input_tensor).__name__}")
    if len(input_tensor.shape) != 4:
        raise ValueError("`input_tensor` should have shape (batch, height, width, channels). Received: "
                         f"{input_tensor.shape}")
    imagenet_utils.obtain_input_shape(input_shape or tuple(input_tensor.shape[1:]), default_size=default_size,
                                      min_size=min_size, require_flatten=False, weights=weights)
    return input_tensor


def pooled_top(x, include_top, pooling, classes, classifier_activation, weights):
    """Keras's usual top: `avg_pool` (GlobalAveragePooling2D) + Dense `predictions` with the classifier, else the
    optional `pooling` ('avg' -> avg_pool, 'max' -> max_pool)."""
    if include_top:
        imagenet_utils.validate_activation(classifier_activation, weights)
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        return Dense(classes, activation=classifier_activation, name="predictions")(x)
    return pooling_only(x, pooling)


def pooling_only(x, pooling, names=("avg_pool", "max_pool")):
    """`pooling` without the classifier: None (the 4-D maps), 'avg' (avg_pool) or 'max' (max_pool). `names`: the
    layer names for 'avg' and 'max' (None for Keras's automatic names, as VGG and Xception have)."""
    if pooling == "avg":
        return GlobalAveragePooling2D(name=names[0])(x)
    if pooling == "max":
        return GlobalMaxPooling2D(name=names[1])(x)
    return x


def finish(img_input, input_tensor, outputs, name, weights, files, include_top):
    """The functional model from the image input (or `input_tensor`'s source inputs) to `outputs`, with `weights`
    loaded: 'imagenet' through `files` ({True: WeightsFile with the classifier, False: without}), or a path."""
    inputs = img_input
    if input_tensor is not None:
        inputs = get_source_inputs(input_tensor)
        inputs = inputs[0] if len(inputs) == 1 else inputs
    model = Model(inputs, outputs, name=name)
    if weights == "imagenet":
        if files is None or files.get(bool(include_top)) is None:
            raise ValueError(f"{name}: no ImageNet weights are published for include_top={include_top}.")
        load_weights_by_name(model, files[bool(include_top)].path())
    elif weights is not None:
        load_weights_by_name(model, weights)
    return model


def _legacy_layer_names(path):
    """The layer names a tf.keras-layout HDF5 file holds weights for, or None for another layout."""
    try:
        with h5py.File(path, "r") as f:
            group = f["model_weights"] if "model_weights" in f and "layer_names" not in f.attrs else f
            if "layer_names" not in group.attrs:
                return None
            names = [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in group.attrs["layer_names"]]
            return {n for n in names if n in group and len(group[n].attrs.get("weight_names", []))}
    except (OSError, KeyError, TypeError, ValueError, RuntimeError):
        return None  # load_weights reports the damaged file


def load_weights_by_name(model, path):
    """Loads a weights file into `model`. tf.keras-layout '.h5' files (Keras's published ones among them) are
    matched by layer name when the file names every weighted layer of the model, else (Keras's own rule for these
    files) by the order of the weighted layers; Keras 3 '.weights.h5' and '.keras' files by structure. Shapes are
    checked first (the error names the layer and both shapes) and a failed load leaves the model unchanged."""
    path = os.fspath(path)
    names = None if path.endswith((".weights.h5", ".keras")) else _legacy_layer_names(path)
    if names is None:
        model.load_weights(path)
        return
    missing = [layer.name for layer in model.layers if layer.weights and layer.name not in names]
    if not missing:
        model.load_weights(path, by_name=True)
        return
    try:
        model.load_weights(path)
    except ValueError as err:
        shown = ", ".join(missing[:8]) + (f", ... ({len(missing)} in all)" if len(missing) > 8 else "")
        raise ValueError(f"{path} holds no weights for the layers {shown} of model '{model.name}' (a file for "
                         "another architecture, or for include_top=False while the model has its classifier?), "
                         f"and its layers do not fit the model's in order either: {err}") from None
