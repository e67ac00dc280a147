"""Keras 3's `keras.ops.image` on torch: resize, affine and perspective warps, map_coordinates, crop/pad, colour
spaces, patches, Gaussian blur and Sobel edges, on channels_last images (N, H, W, C) or (H, W, C) unless
`data_format='channels_first'`. The kernels are cnnkit's (`cnnkit.ops.image_math`, `cnnkit.ops.image_warp`), which
follow Keras on TensorFlow.

Example:
    >>> resize(np.ones((2, 8, 8, 3), np.float32), (4, 4)).shape
    torch.Size([2, 4, 4, 3])
"""

import itertools

import torch
import torch.nn.functional as F

from cnnkit.ops import functional
from cnnkit.ops import image_math
from cnnkit.ops import image_warp
from cnnkit.ops import layout
from cnnkit.ops.dispatch import float_tensor
from cnnkit.ops.dispatch import keras_op
from cnnkit.ops.dispatch import not_implemented
from cnnkit.ops.dispatch import tensor
from cnnkit.ops.shapes import padding_amounts


def _batch_last(images, data_format, owner):
    """(N, H, W, C) channels_last batch, whether the input was batched."""
    if images.dim() not in (3, 4):
        raise ValueError(f"{owner}: Invalid images rank: expected rank 3 (single image) or rank 4 (batch of "
                         f"images). Received input with shape: images.shape={tuple(images.shape)}")
    batched = images.dim() == 4
    x = images if batched else images.unsqueeze(0)
    return (x.permute(0, 2, 3, 1) if data_format == "channels_first" else x), batched


def _restore(x, batched, data_format):
    x = x.permute(0, 3, 1, 2) if data_format == "channels_first" else x
    return x if batched else x[0]


@keras_op("resize")
def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    if fill_mode != "constant":
        raise ValueError(f"Invalid value for argument `fill_mode`. Only `'constant'` is supported. "
                         f"Received: fill_mode={fill_mode}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be `True`.")
    image_math.check_interpolation(interpolation, "resize")
    x, batched = _batch_last(float_tensor(images), data_format, "resize")
    out = image_math.resize_images(layout.to_internal(x), tuple(int(s) for s in size), interpolation, antialias,
                                   crop_to_aspect_ratio, pad_to_aspect_ratio, fill_value)
    return _restore(layout.to_keras(out), batched, data_format)


@keras_op("affine_transform")
def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0,
                     data_format=None):
    x, batched = _batch_last(float_tensor(images), data_format, "affine_transform")
    out = image_warp.affine_transform(x, tensor(transform, device=x.device).to(x.dtype), interpolation, fill_mode,
                                      fill_value)
    return _restore(out, batched, data_format)


@keras_op("perspective_transform")
def perspective_transform(images, start_points, end_points, interpolation="bilinear", fill_value=0,
                          data_format=None):
    x, batched = _batch_last(float_tensor(images), data_format, "perspective_transform")
    out = image_warp.perspective_transform(x, tensor(start_points, device=x.device).to(x.dtype),
                                           tensor(end_points, device=x.device).to(x.dtype), interpolation,
                                           fill_value)
    return _restore(out, batched, data_format)


def _fixed(index, size, fill_mode):
    """(index inside [0, size), valid mask or None) of integer `index` under `fill_mode` (scipy's modes)."""
    if fill_mode == "constant":
        return index.clamp(0, size - 1), (index >= 0) & (index < size)
    if fill_mode == "nearest":
        return index.clamp(0, size - 1), None
    if fill_mode == "wrap":
        return torch.remainder(index, size), None
    if fill_mode == "mirror":
        if size == 1:
            return torch.zeros_like(index), None
        period = 2 * (size - 1)
        i = torch.remainder(index, period)
        return torch.where(i >= size, period - i, i), None
    if fill_mode == "reflect":
        period = 2 * size
        i = torch.remainder(index, period)
        return torch.where(i >= size, period - 1 - i, i), None
    raise ValueError(f"Invalid value for argument `fill_mode`. Expected one of {{'constant', 'nearest', 'wrap', "
                     f"'mirror', 'reflect'}}. Received: fill_mode={fill_mode}")


@keras_op("map_coordinates")
def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """scipy.ndimage.map_coordinates with `order` 0 (nearest, halves to even) or 1 (linear), any rank."""
    x = float_tensor(inputs)
    coords = tensor(coordinates, device=x.device)
    coords = coords.to(x.dtype) if not coords.is_floating_point() else coords
    if coords.shape[0] != x.dim():
        raise ValueError("First dim of `coordinates` must be the same as the rank of `inputs`. Received inputs "
                         f"with shape: {tuple(x.shape)} and coordinate leading dim of {coords.shape[0]}")
    if order not in (0, 1):
        raise NotImplementedError(f"map_coordinates does not support order {order} (only 0 and 1, as Keras).")
    if order == 0:
        nodes = [[(torch.round(c).to(torch.int64), None)] for c in coords]
    else:
        nodes = []
        for c in coords:
            low = torch.floor(c)
            frac = c - low
            nodes.append([(low.to(torch.int64), 1 - frac), (low.to(torch.int64) + 1, frac)])
    out = torch.zeros(coords.shape[1:], dtype=x.dtype, device=x.device)
    fill = torch.as_tensor(fill_value, dtype=x.dtype, device=x.device)
    for corner in itertools.product(*nodes):
        indices, valid, weight = [], None, None
        for (index, w), size in zip(corner, x.shape):
            fixed, ok = _fixed(index, size, fill_mode)
            indices.append(fixed)
            valid = ok if valid is None else (valid if ok is None else valid & ok)
            weight = w if weight is None else (weight if w is None else weight * w)
        values = x[tuple(indices)]
        if valid is not None:
            values = torch.where(valid, values, fill)
        out = out + (values if weight is None else weight * values)
    return out


def _box(height, width, before_h, before_w, after_h, after_w, target_h, target_w, owner, crop):
    """Keras's crop_images/pad_images arithmetic: (top, left, bottom, right) amounts."""
    word = "cropping" if crop else "padding"
    if target_h is None:
        if after_h is None:
            raise ValueError(f"{owner}: Must specify exactly two of top_{word}, bottom_{word}, target_height.")
        target_h = height - before_h - after_h if crop else height + before_h + after_h
    if before_h is None:
        before_h = (height - target_h - after_h) if crop else (target_h - height - after_h)
    if target_w is None:
        if after_w is None:
            raise ValueError(f"{owner}: Must specify exactly two of left_{word}, right_{word}, target_width.")
        target_w = width - before_w - after_w if crop else width + before_w + after_w
    if before_w is None:
        before_w = (width - target_w - after_w) if crop else (target_w - width - after_w)
    return before_h, before_w, target_h, target_w


@keras_op("crop_images")
def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None, right_cropping=None,
                target_height=None, target_width=None, data_format=None):
    x, batched = _batch_last(tensor(images), data_format, "crop_images")
    _, height, width, _ = x.shape
    top, left, th, tw = _box(height, width, top_cropping, left_cropping, bottom_cropping, right_cropping,
                             target_height, target_width, "crop_images", crop=True)
    if top < 0 or left < 0 or th <= 0 or tw <= 0 or top + th > height or left + tw > width:
        raise ValueError(f"crop_images: the crop box (top={top}, left={left}, height={th}, width={tw}) does not "
                         f"fit in images of size {height}x{width}.")
    return _restore(x[:, top:top + th, left:left + tw, :], batched, data_format)


@keras_op("pad_images")
def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None, right_padding=None,
               target_height=None, target_width=None, data_format=None):
    x, batched = _batch_last(tensor(images), data_format, "pad_images")
    _, height, width, _ = x.shape
    top, left, th, tw = _box(height, width, top_padding, left_padding, bottom_padding, right_padding,
                             target_height, target_width, "pad_images", crop=False)
    bottom, right = th - height - top, tw - width - left
    if min(top, left, bottom, right) < 0:
        raise ValueError(f"pad_images: the padding (top={top}, left={left}, bottom={bottom}, right={right}) must "
                         "not be negative.")
    return _restore(F.pad(x, [0, 0, left, right, top, bottom]), batched, data_format)


def _colour(function, images, data_format):
    x = float_tensor(images)
    if data_format == "channels_first":
        return torch.movedim(function(torch.movedim(x, -3, -1)), -1, -3)
    return function(x)


@keras_op("rgb_to_grayscale")
def rgb_to_grayscale(images, data_format=None):
    return _colour(image_math.rgb_to_grayscale, images, data_format)


@keras_op("rgb_to_hsv")
def rgb_to_hsv(images, data_format=None):
    return _colour(image_math.rgb_to_hsv, images, data_format)


@keras_op("hsv_to_rgb")
def hsv_to_rgb(images, data_format=None):
    return _colour(image_math.hsv_to_rgb, images, data_format)


@keras_op("extract_patches")
def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """(N, out_h, out_w, kh * kw * C) patches, each flattened in (row, column, channel) order as TensorFlow."""
    x, batched = _batch_last(tensor(images), data_format, "extract_patches")
    size = (size, size) if isinstance(size, int) else tuple(size)
    strides = size if strides is None else ((strides, strides) if isinstance(strides, int) else tuple(strides))
    dilation = (dilation_rate, dilation_rate) if isinstance(dilation_rate, int) else tuple(dilation_rate)
    internal = layout.to_internal(x)
    pads = padding_amounts(internal.shape[2:], size, strides, dilation, padding.lower())
    internal = functional.pad(internal, pads)
    n, c = internal.shape[:2]
    cols = F.unfold(internal if internal.is_floating_point() else internal.double(), size, dilation, 0, strides)
    out_h = (internal.shape[2] - dilation[0] * (size[0] - 1) - 1) // strides[0] + 1
    out_w = (internal.shape[3] - dilation[1] * (size[1] - 1) - 1) // strides[1] + 1
    patches = cols.reshape(n, c, size[0] * size[1], out_h, out_w).permute(0, 3, 4, 2, 1).reshape(n, out_h, out_w, -1)
    return _restore(patches.to(x.dtype), batched, data_format)


def _kernel1d(size, sigma, dtype):
    x = torch.arange(size, dtype=dtype) - (size - 1) / 2
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


@keras_op("gaussian_blur")
def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    x, batched = _batch_last(float_tensor(images), data_format, "gaussian_blur")
    kernel = torch.outer(_kernel1d(kernel_size[1], sigma[1], x.dtype), _kernel1d(kernel_size[0], sigma[0], x.dtype))
    kernel = kernel.reshape(kernel_size[0], kernel_size[1]).to(x.device)
    channels = x.shape[-1]
    weight = kernel.expand(channels, 1, *kernel.shape).unsqueeze(1).reshape(channels, 1, *kernel.shape)
    out = functional.depthwise_conv(layout.to_internal(x), weight, None, (1, 1), "same", (1, 1))
    return _restore(layout.to_keras(out), batched, data_format)


@keras_op("sobel_edges")
def sobel_edges(images, data_format=None):
    """tf.image.sobel_edges: (N, H, W, C, 2) with the vertical (dy) then horizontal (dx) responses, reflect
    padding."""
    x = float_tensor(images)
    x = x.permute(0, 2, 3, 1) if data_format == "channels_first" else x
    dy = torch.tensor([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=x.dtype, device=x.device)
    kernels = torch.stack([dy, dy.t()])
    n, h, w, c = x.shape
    planes = F.pad(x.permute(0, 3, 1, 2).reshape(n * c, 1, h, w), [1, 1, 1, 1], mode="reflect")
    edges = F.conv2d(planes, kernels.unsqueeze(1)).reshape(n, c, 2, h, w).permute(0, 3, 4, 1, 2)
    return edges.permute(0, 3, 1, 2, 4) if data_format == "channels_first" else edges


def _not_here(name, why):
    @keras_op(name)
    def op(*args, **kwargs):
        not_implemented(name, why)

    return op


elastic_transform = _not_here("elastic_transform", "its random displacement field follows TensorFlow's random "
                              "generator, which torch cannot reproduce")
scale_and_translate = _not_here("scale_and_translate", "not provided yet (use resize)")
extract_patches_3d = _not_here("extract_patches_3d", "not provided yet (use extract_patches per slice)")
ssim = _not_here("ssim", "not provided yet")
