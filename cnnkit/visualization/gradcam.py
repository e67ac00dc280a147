"""Grad-CAM (Selvaraju et al., 2017): where in an image a convolutional classifier looked for a class.

The heat map of a convolution layer's output A (feature maps A_k) for class c is relu(sum_k w_k A_k), where w_k
is the spatial mean of d(score_c)/d(A_k), scaled so that its maximum is 1. As in Keras's Grad-CAM example (which
sets the last layer's activation to None), the score is the class's logit when the model ends in a softmax: the
input of the final softmax, not the probability. Any other output activation is kept (the score is the output).

Example:
    >>> heatmap = grad_cam(model, x_test[0])               # last convolution, top predicted class
    >>> heatmap.shape                                       # that layer's spatial size, values in [0, 1]
    (5, 5)
    >>> fig = plot_grad_cam(model, x_test[0], layer='conv2d_2', class_index=3)
"""

import numpy as np
import torch

from cnnkit import activations
from cnnkit.layers.input_layer import InputLayer
from cnnkit.models.functional import Functional
from cnnkit.ops import layout
from cnnkit.registry import did_you_mean
from cnnkit.visualization._mpl import finish
from cnnkit.visualization._mpl import pyplot
from cnnkit.visualization.batches import display_images



def _feature_layers(model):
    """The layers of `model` whose output is 4-D (batch, height, width, channels), in `model.layers` order."""
    found = []
    for layer in model.layers:
        if isinstance(layer, InputLayer):
            continue
        nodes = [node for node in model.nodes if node.layer is layer]
        if len(nodes) == 1 and len(nodes[0].outputs) == 1 and len(nodes[0].outputs[0].shape) == 4:
            found.append(layer)
    return found


def _resolve_layer(model, layer):
    """The layer to explain: `layer` (a name or a layer of the model or of a model nested in it), or the last one
    of the model with a 4-D output."""
    candidates = _feature_layers(model)
    names = [c.name for c in candidates]
    if layer is None:
        if not candidates:
            raise ValueError(f"grad_cam: model '{model.name}' has no layer with a 4-D output (batch, height, width, "
                             "channels), so there is no convolutional feature map to explain.")
        # Pooling, dropout, padding, cropping and up-sampling only resample the maps of the layer before: explain
        # that one.
        computing = [c for c in candidates if not c.resamples]
        return (computing or candidates)[-1]
    if isinstance(layer, str):
        try:
            layer = model.find_layer(layer)
        except ValueError:
            hint = did_you_mean(layer, names) or did_you_mean(layer, [c.name for c in model.layers])
            raise ValueError(f"grad_cam: model '{model.name}' has no layer named '{layer}'.{hint} Layers with 4-D "
                             f"outputs (convolutional feature maps): {names}.") from None
    try:
        shape = model.output_of(layer).shape
    except ValueError as err:
        raise ValueError(f"grad_cam: {err} Layers with 4-D outputs: {names}.") from None
    if len(shape) != 4:
        raise ValueError(f"grad_cam: layer '{layer.name}' has output shape {shape}; Grad-CAM needs a 4-D feature map "
                         f"(batch, height, width, channels). Layers with 4-D outputs: {names}.")
    return layer


def _sub_model(model, layer):
    """The model's outputs and `layer`'s (a sub-model made once per model and layer)."""
    return model.submodel(model.inputs[0], [model.output_of(layer), model.outputs[0]], name=f"{model.name}_grad_cam")


def _as_batch(model, image):
    """A batch of one image (1, *input_shape[1:]) from (H, W, C), (1, H, W, C) or (H, W) for one channel."""
    image = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    expected = model.inputs[0].shape
    rank = len(expected)
    if image.ndim == rank - 1:
        image = image[None]
    elif image.ndim == rank - 2 and expected[-1] == 1:
        image = image[None, ..., None]
    elif image.ndim != rank or image.shape[0] != 1:
        raise ValueError(f"grad_cam takes one image of shape {tuple(expected[1:])} (or with a batch axis of 1). "
                         f"Received shape {image.shape}.")
    if any(e is not None and e != s for e, s in zip(expected[1:], image.shape[1:])):
        raise ValueError(f"grad_cam: the model expects images of shape {tuple(expected[1:])}. Received shape "
                         f"{image.shape[1:]}.")
    return image


def _compute(model, image, layer=None, class_index=None):
    """Grad-CAM; returns (heatmap, class index, layer name)."""
    if not (isinstance(model, Functional) and model.built):
        raise ValueError(f"grad_cam: model '{model.name}' is not built (or is a subclassed model without a layer "
                         "graph). Give it an input shape or build it first.")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"grad_cam needs a model with one input and one output; model '{model.name}' has "
                         f"{len(model.inputs)} inputs and {len(model.outputs)} outputs.")
    layer = _resolve_layer(model, layer)
    output = model.outputs[0]
    if len(output.shape) != 2:
        raise ValueError(f"grad_cam needs a classifier with outputs (batch, classes); model '{model.name}' outputs "
                         f"shape {output.shape}.")
    head = output.history[0]
    softmax_head = getattr(head, "activation", None) is activations.softmax
    sub_model = _sub_model(model, layer)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = torch.as_tensor(_as_batch(model, image), dtype=torch.float32, device=device)
    saved = head.activation if softmax_head else None
    try:
        if softmax_head:
            head.activation = activations.linear  # score = the logit, as Keras's example (activation = None)
        with torch.enable_grad():
            x.requires_grad_(True)  # a graph to differentiate even when the model is frozen
            # The sub-model's forward takes and returns internal (channels-first) tensors: the gradient must be
            # taken with respect to the feature map that the later layers consumed, not a Keras-layout view of it.
            features, scores = sub_model.forward(layout.to_internal(x))
            num_classes = scores.shape[1]
            if class_index is None:
                class_index = int(scores[0].argmax())
            elif not isinstance(class_index, (int, np.integer)) or not 0 <= int(class_index) < num_classes:
                raise ValueError(f"grad_cam: class_index must be an int in [0, {num_classes}). Received: "
                                 f"class_index={class_index!r}")
            class_index = int(class_index)
            (grads,) = torch.autograd.grad(scores[0, class_index], features)
    finally:
        if softmax_head:
            head.activation = saved
    feature_map = features[0].detach().cpu().double().numpy()  # (C, H, W)
    weights = grads[0].detach().cpu().double().numpy().mean(axis=(1, 2))
    cam = np.maximum(np.tensordot(weights, feature_map, axes=1), 0.0)
    peak = cam.max()
    heatmap = cam / peak if peak > 0 else np.zeros_like(cam)
    return heatmap.astype(np.float32), class_index, layer.name


def grad_cam(model, image, layer=None, class_index=None):
    """The Grad-CAM heat map of one image for one class.

    Args:
        model: a built cnnkit classifier (Sequential or functional; one input, one output (batch, classes)).
        image: one image (H, W, C), or (1, H, W, C); (H, W) when the model takes one channel. Numpy or torch.
        layer: the layer whose feature maps are weighted: a name or a layer of the model. Default: the last
            layer with a 4-D output (batch, height, width, channels) that is not a pooling, dropout or padding
            layer (those only resample the maps before them): the last convolution, or the activation or
            merge that follows it (ResNet's 'conv5_block3_out').
        class_index: the class to explain. Default: the model's top prediction.

    Returns:
        A float32 array (H_layer, W_layer) with values in [0, 1] (all zeros when no feature map raises the score).

    Raises:
        ValueError: an unknown layer name (with a "did you mean" and the layers that qualify), a layer without a
            4-D output, an image of the wrong shape, a class_index out of range.

    Example:
        >>> model = Sequential([Conv2D(8, 3, activation='relu', input_shape=(28, 28, 1)), MaxPooling2D(),
        ...                     Conv2D(16, 3, activation='relu', name='last_conv'), Flatten(),
        ...                     Dense(10, activation='softmax')])
        >>> grad_cam(model, np.random.rand(28, 28, 1), layer='last_conv').shape
        (11, 11)
    """
    return _compute(model, image, layer, class_index)[0]


def upsample(heatmap, size):
    """A (h, w) heat map resized bilinearly to `size` = (H, W) (torch's interpolate, align_corners=False)."""
    tensor = torch.as_tensor(np.asarray(heatmap, dtype=np.float32))[None, None]
    resized = torch.nn.functional.interpolate(tensor, size=tuple(int(s) for s in size), mode="bilinear",
                                              align_corners=False)
    return resized[0, 0].numpy()


def _to_rgb(image, deprocess=None):
    """An image as float RGB in [0, 1] (see `display_images`); grey images are repeated over 3 channels."""
    image = display_images(np.asarray(image)[None], deprocess)[0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return image[..., :3]


def plot_grad_cam(model, image, layer=None, class_index=None, alpha=0.4, path=None, class_names=None,
                  deprocess=None):
    """Three panels: the image, its Grad-CAM heat map, and the heat map (upsampled) laid over the image.

    Args:
        model, image, layer, class_index: as in `grad_cam`.
        alpha: opacity of the heat map in the overlay (0: image only, 1: heat map only).
        path: where to save the figure (optional).
        class_names: names of the classes, for the title (default: the class index).
        deprocess: a function from the model's inputs back to 0-255 RGB, to show a preprocessed image in its
            true colours (see `cnnkit.visualization.batches.display_images`).

    Returns:
        The Figure, with `fig.heatmap` (the layer-sized heat map), `fig.class_index`, `fig.layer_name` and
        `fig.overlay` (the blended RGB image, (H, W, 3) in [0, 1]).

    Example:
        >>> fig = plot_grad_cam(model, x_test[0] / 255, path='cam.png')
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"plot_grad_cam: alpha must be in [0, 1]. Received: alpha={alpha!r}")
    heatmap, class_index, layer_name = _compute(model, image, layer, class_index)
    batch = _as_batch(model, image)
    rgb = _to_rgb(batch[0], deprocess)
    large = upsample(heatmap, rgb.shape[:2])
    plt = pyplot()
    colored = plt.get_cmap("jet")(large)[..., :3]
    overlay = np.clip((1.0 - alpha) * rgb + alpha * colored, 0.0, 1.0)
    label = str(class_index) if class_names is None else f"{class_names[class_index]} ({class_index})"
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.8))
    axes[0].imshow(rgb)
    axes[0].set_title("image")
    axes[1].imshow(heatmap, cmap="jet", vmin=0.0, vmax=1.0)
    axes[1].set_title(f"Grad-CAM: {layer_name}")
    axes[2].imshow(overlay)
    axes[2].set_title(f"overlay (class {label})")
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    fig.heatmap, fig.class_index, fig.layer_name, fig.overlay = heatmap, class_index, layer_name, overlay
    finish(fig, path)
    return fig
