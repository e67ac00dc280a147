"""What a convnet learned: its kernels (`plot_filters`), its feature maps for one image (`plot_feature_maps`), and a
single kernel's response to images (`plot_kernel_response`, the notes' Sobel experiment)."""

import math

import numpy as np

from cnnkit.layers.base import Layer
from cnnkit.layers.pooling import BasePooling
from cnnkit.models.model import Model
from cnnkit.ops.numpy_ops import convolve2d
from cnnkit.registry import did_you_mean
from cnnkit.visualization import _mpl


def normalize01(array):
    """`array` scaled to 0..1 by its own min and max (a constant array gives zeros), as float64."""
    array = np.asarray(array, dtype=np.float64)
    low, high = np.min(array), np.max(array)
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def _hide_ticks(ax):
    ax.set_xticks([])
    ax.set_yticks([])


def _grid(count, max_cols=8):
    cols = min(count, max_cols)
    return math.ceil(count / cols), cols


def plot_filters(layer, channel=0, path=None, max_filters=64, to_file=None):
    """Shows a Conv2D layer's kernels: one grayscale image per output filter, as in the notes.

    Args:
        layer: a 2-D convolution layer (e.g. `model.layers[1]`); its kernel is `layer.get_weights()[0]`, shape
            (kh, kw, in_channels, filters).
        channel: the input channel whose weights are shown (int, 0 <= channel < in_channels), or 'rgb' to show
            each 3-channel kernel as a colour image (needs in_channels == 3; the kernels shown are scaled together
            to 0..1).
        path: file to save the figure to ('.png', '.svg', '.pdf'), or None.
        max_filters: show at most this many filters (the first ones).
        to_file: alias of `path`.

    Returns:
        The matplotlib Figure: one Axes per filter titled 'filter i', its image `kernel[:, :, channel, i]` (raw
        weights, grayscale colour map) or the normalised (kh, kw, 3) kernel for 'rgb'.

    Raises:
        ValueError: a layer that is not a built 2-D convolution (named with its class), or a channel out of range.

    Example:
        >>> fig = plot_filters(model.layers[1], channel=0, path="conv1_filters.png")
    """
    name, kind = getattr(layer, "name", "?"), type(layer).__name__
    weights = layer.get_weights() if hasattr(layer, "get_weights") else []
    if not weights or np.ndim(weights[0]) != 4:
        why = "it has no weights yet (build it first)" if hasattr(layer, "get_weights") and not weights else (
            "its kernel is not 4-D (kh, kw, in, out)")
        raise ValueError(f"plot_filters: layer '{name}' ({kind}) is not a 2-D convolution layer: {why}. Pass a "
                         "Conv2D layer, e.g. model.layers[1].")
    kernel = np.asarray(weights[0])
    in_channels, filters = kernel.shape[2], kernel.shape[3]
    if isinstance(channel, str):
        if channel.lower() != "rgb":
            raise ValueError(f"plot_filters: channel must be an int or 'rgb'. Received: channel={channel!r}")
        if in_channels != 3:
            raise ValueError(f"plot_filters: channel='rgb' needs kernels with 3 input channels; layer '{name}' "
                             f"({kind}) has {in_channels}.")
    elif isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or not 0 <= channel < in_channels:
        raise ValueError(f"plot_filters: channel must be in [0, {in_channels}) for layer '{name}' ({kind}), whose "
                         f"kernels have {in_channels} input channel(s). Received: channel={channel!r}")
    if isinstance(max_filters, bool) or not isinstance(max_filters, (int, np.integer)) or max_filters < 1:
        raise ValueError(f"plot_filters: max_filters must be a positive int. Received: max_filters={max_filters!r}")
    count = min(filters, int(max_filters))
    rgb = normalize01(kernel[..., :count]) if isinstance(channel, str) else None
    plt = _mpl.pyplot()
    rows, cols = _grid(count)
    fig = plt.figure(figsize=(1.3 * cols, 1.45 * rows + 0.4))
    for i in range(count):
        ax = fig.add_subplot(rows, cols, i + 1)
        if rgb is not None:
            ax.imshow(rgb[:, :, :, i], interpolation="nearest")
        else:
            ax.imshow(kernel[:, :, channel, i], cmap="gray", interpolation="nearest")
        ax.set_title(f"filter {i}", fontsize=8)
        _hide_ticks(ax)
    shown = "RGB" if rgb is not None else f"input channel {channel}"
    fig.suptitle(f"{name}: {count} of {filters} filters, {shown}", fontsize=10)
    fig.tight_layout()
    return _mpl.finish(fig, path, to_file)


def _is_map_layer(model, layer):
    """A convolution (a layer declaring `activation_split`) or a pooling layer with 4-D (image) outputs."""
    if layer.activation_split() is None and not isinstance(layer, BasePooling):
        return False
    try:
        return len(model.output_of(layer).shape) == 4
    except ValueError:
        return False


MAX_DEFAULT_LAYERS = 6
MAX_FEATURE_MAPS = 64  # plot_feature_maps's default: the notes' largest grid (8 rows of 8)


def _walk(model):
    """The model's layers, depth first, with the layers of nested models (a backbone in a Sequential)."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, Model):
            yield from _walk(layer)


def _spread(layers, count):
    """`count` of `layers`: the first, the last and evenly spaced ones between."""
    if len(layers) <= count:
        return layers
    picks = sorted({round(i * (len(layers) - 1) / (count - 1)) for i in range(count)})
    return [layers[i] for i in picks]


def _pick_layers(model, layers):
    all_layers = list(model.layers)
    if layers is None:
        chosen = [layer for layer in _walk(model) if _is_map_layer(model, layer)]
        if not chosen:
            raise ValueError(f"plot_feature_maps: model '{model.name}' has no 2-D convolution or pooling layer; "
                             "pass layers= to choose others.")
        return _spread(chosen, MAX_DEFAULT_LAYERS)
    if isinstance(layers, (str, int, Layer)):
        layers = [layers]
    chosen = []
    names = [layer.name for layer in all_layers]
    for item in layers:
        if isinstance(item, Layer):
            if item not in all_layers:
                raise ValueError(f"plot_feature_maps: layer '{item.name}' is not a layer of model '{model.name}'.")
            chosen.append(item)
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not -len(all_layers) <= item < len(all_layers):
                raise ValueError(f"plot_feature_maps: layer index {item} is out of range: model '{model.name}' has "
                                 f"{len(all_layers)} layers.")
            chosen.append(all_layers[item])
        elif isinstance(item, str) and item in names:
            chosen.append(all_layers[names.index(item)])
        elif isinstance(item, str):  # a layer inside a nested model (a backbone in a Sequential)
            try:
                chosen.append(model.find_layer(item))
            except ValueError:
                raise ValueError(f"plot_feature_maps: no layer {item!r} in model '{model.name}'."
                                 f"{did_you_mean(item, names)} Layers: {names}.") from None
        else:
            raise ValueError(f"plot_feature_maps: no layer {item!r} in model '{model.name}'."
                             f"{did_you_mean(item, names)} Layers: {names}.")
    return chosen


def plot_feature_maps(model, image, layers=None, path=None, max_maps=MAX_FEATURE_MAPS, to_file=None,
                      columns=8):
    """Shows what chosen layers output for one image: a grid of feature maps per layer, 8 to a row (the notes'
    `model_short` figures: 32 maps in 4 rows, 64 in 8).

    A functional sub-model `model.submodel(model.inputs, [model.output_of(layer), ...])` computes every chosen
    layer's output in one `predict`; each channel is shown as a grayscale image scaled to 0..1 by its own min and max.

    Args:
        model: a built Sequential or functional model with one input.
        image: one image, (H, W, C) or (1, H, W, C) ((H, W) for a one-channel model).
        layers: layer names (also of layers inside a nested model, e.g. a backbone in a Sequential), indices into
            `model.layers`, or layers; default: every 2-D convolution and pooling layer of the model, also inside
            a nested backbone (at most 6 of them: the first, the last and evenly spaced ones between).
        path: file to save the figure to ('.png', '.svg', '.pdf'), or None.
        max_maps: at most this many channels (the first ones) per layer (default 64: all of the notes' layers).
        to_file: alias of `path`.
        columns: maps per row of a layer's grid.

    Returns:
        The matplotlib Figure, one subfigure (titled with the layer name, `fig.subfigs`) per layer holding a grid
        of its maps, panels titled 'map j'. `fig.feature_maps` is {layer name: (H', W', C') array}, the raw
        outputs for the image.

    Example:
        >>> fig = plot_feature_maps(model, x_test[7], path="maps.png")
        >>> fig.feature_maps["conv2d"].shape
        (30, 30, 32)
    """
    if isinstance(max_maps, bool) or not isinstance(max_maps, (int, np.integer)) or max_maps < 1:
        raise ValueError(f"plot_feature_maps: max_maps must be a positive int. Received: max_maps={max_maps!r}")
    if isinstance(columns, bool) or not isinstance(columns, (int, np.integer)) or columns < 1:
        raise ValueError(f"plot_feature_maps: columns must be a positive int. Received: columns={columns!r}")
    inputs = model.inputs
    if len(inputs) != 1:
        raise ValueError(f"plot_feature_maps: model '{model.name}' has {len(inputs)} inputs; it needs one.")
    expected = tuple(inputs[0].shape)
    x = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image)
    if x.ndim == len(expected) - 2 and expected[-1] == 1:
        x = x[..., None]
    if x.ndim == len(expected) - 1:
        x = x[None]
    if x.ndim != len(expected) or x.shape[0] != 1:
        raise ValueError(f"plot_feature_maps: give one image of shape {expected[1:]} (or with a batch axis of 1) "
                         f"for model '{model.name}'. Received: shape {np.shape(image)}")
    chosen = _pick_layers(model, layers)
    outputs = [model.output_of(layer) for layer in chosen]
    for layer, output in zip(chosen, outputs):
        if len(output.shape) != 4:
            raise ValueError(f"plot_feature_maps: layer '{layer.name}' ({type(layer).__name__}) outputs "
                             f"rank-{len(output.shape)} tensors, not (batch, height, width, channels) feature maps.")
    sub_model = model.submodel(inputs, outputs)
    outputs = sub_model.predict(x.astype(np.float32, copy=False), verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    maps = {layer.name: np.asarray(out)[0] for layer, out in zip(chosen, outputs)}
    plt = _mpl.pyplot()
    counts = [min(m.shape[-1], int(max_maps)) for m in maps.values()]
    cols = min(int(columns), max(counts))
    grid_rows = [math.ceil(count / cols) for count in counts]
    fig = plt.figure(figsize=(max(1.3 * cols, 4.0), sum(1.3 * r + 0.4 for r in grid_rows)), layout="constrained")
    subfigs = fig.subfigures(len(maps), 1, squeeze=False, height_ratios=[1.3 * r + 0.4 for r in grid_rows])[:, 0]
    for sub, (name, fmap), count, rows in zip(subfigs, maps.items(), counts, grid_rows):
        sub.suptitle(f"{name} {tuple(fmap.shape)}", fontsize=9)
        axes = sub.subplots(rows, cols, squeeze=False).ravel()
        for j, ax in enumerate(axes):
            if j >= count:
                ax.remove()
                continue
            ax.imshow(normalize01(fmap[:, :, j]), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_title(f"map {j}", fontsize=6)
            _hide_ticks(ax)
    fig.feature_maps = maps
    return _mpl.finish(fig, path, to_file)


def _as_images(images):
    """A list of images from one image or a stack (N, H, W) / (N, H, W, C) / a list."""
    if isinstance(images, (list, tuple)):
        return [np.asarray(image) for image in images]
    array = np.asarray(images)
    if array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (1, 3, 4)):
        return [array]
    if array.ndim in (3, 4):
        return list(array)
    raise ValueError(f"plot_kernel_response: images must be an image (H, W) / (H, W, C), a stack of them or a "
                     f"list. Received: shape {array.shape}")


def plot_kernel_response(kernel, images, path=None, to_file=None):
    """Convolves images with one 2-D kernel and shows each original beside its response (the notes' Sobel test).

    Each image, (H, W) or (H, W, C) (made grayscale by the mean over channels), is convolved with the kernel by
    `cnnkit.ops.convolve2d(gray, kernel, padding='same')`: a sliding dot product, no flip, as a Conv2D computes.

    Args:
        kernel: a 2-D array, e.g. `cnnkit.ops.SOBEL_HORIZONTAL` (horizontal contours) or `SOBEL_VERTICAL`.
        images: one image, a stack (N, H, W) / (N, H, W, C), or a list of images.
        path: file to save the figure to ('.png', '.svg', '.pdf'), or None.
        to_file: alias of `path`.

    Returns:
        The matplotlib Figure: one row per image, 'original i' | 'response i' (grayscale). `fig.responses` is the
        list of (H, W) response arrays.

    Example:
        >>> from cnnkit.ops import SOBEL_HORIZONTAL
        >>> fig = plot_kernel_response(SOBEL_HORIZONTAL, x_train[:3], path="sobel.png")
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2:
        raise ValueError(f"plot_kernel_response: kernel must be 2-D (K_h, K_w). Received: shape {kernel.shape}")
    grays = []
    for index, image in enumerate(_as_images(images)):
        image = image.astype(np.float64)
        if image.ndim == 3:
            image = image.mean(axis=-1)
        if image.ndim != 2:
            raise ValueError(f"plot_kernel_response: image {index} must be (H, W) or (H, W, C). Received: shape "
                             f"{image.shape}")
        grays.append(image)
    if not grays:
        raise ValueError("plot_kernel_response: no images given.")
    responses = [convolve2d(gray, kernel, padding="same") for gray in grays]
    plt = _mpl.pyplot()
    fig = plt.figure(figsize=(6.0, 3.0 * len(grays)))
    for i, (gray, response) in enumerate(zip(grays, responses)):
        for j, (data, title) in enumerate(((gray, f"original {i}"), (response, f"response {i}"))):
            ax = fig.add_subplot(len(grays), 2, 2 * i + j + 1)
            ax.imshow(data, cmap="gray", interpolation="nearest")
            ax.set_title(title, fontsize=9)
            _hide_ticks(ax)
    fig.tight_layout()
    fig.responses = responses
    return _mpl.finish(fig, path, to_file)
