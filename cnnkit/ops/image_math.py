"""Keras's image kernels on torch tensors: resizing (below), colour spaces, and Keras 3's affine and perspective
warps (`affine_transform`, `perspective_transform`, `sample` on channels_last batches, defined in
`cnnkit.ops.image_warp` and re-exported here).

Keras's image resizing (`keras.ops.image.resize` on TensorFlow, i.e. `tf.image.resize` with antialias=False
unless asked) on torch tensors in cnnkit's internal layout (N, C, H, W).

What each interpolation computes, as TensorFlow does (half-pixel centres: output pixel i samples the input at
(i + 0.5) * in / out - 0.5):
- 'nearest': the input pixel floor((i + 0.5) * in / out) (TensorFlow's resize_nearest_neighbor), as a gather
  (torch's 'nearest-exact' computes the same but cannot be exported to ONNX).
- 'bilinear': torch's bilinear interpolation (align_corners=False), which is TensorFlow's resize_bilinear.
- 'bicubic': TensorFlow's resize_bicubic: Keys' cubic (a = -0.5) with the fractional position rounded to 1/1024
  (its coefficient table), taps outside the image dropped and the weights renormalised. torch's bicubic
  (a = -0.75, edge taps repeated) differs.
- 'lanczos3', 'lanczos5': TensorFlow's scale_and_translate with a Lanczos kernel of radius 3 or 5.
- 'area': TensorFlow's resize_area: each output pixel is the average of the input area it covers, fractional
  pixels weighted by the fraction covered (torch's 'area' mode is adaptive average pooling, which differs when
  the sizes do not divide).
- antialias=True ('bilinear', 'bicubic', 'lanczos*'): TensorFlow's scale_and_translate, whose kernel is widened by
  in / out when downscaling (torch's antialiased bilinear and bicubic compute the same for the first two, but
  cannot be exported to ONNX).
All but 'nearest' and plain 'bilinear' are separable linear maps: one (out, in) weight matrix per axis, computed
once per size with TensorFlow's float32 arithmetic and applied as two matrix products (exported to ONNX as MatMul).
"""

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from cnnkit.ops import layout
from cnnkit.ops import functional as nn
from cnnkit.ops.image_warp import WARP_FILL_MODES as WARP_FILL_MODES
from cnnkit.ops.image_warp import WARP_INTERPOLATIONS as WARP_INTERPOLATIONS
from cnnkit.ops.image_warp import affine_transform as affine_transform
from cnnkit.ops.image_warp import affine_warp as affine_warp
from cnnkit.ops.image_warp import homography as homography
from cnnkit.ops.image_warp import perspective_transform as perspective_transform
from cnnkit.ops.image_warp import sample as sample
from cnnkit.registry import did_you_mean

INTERPOLATIONS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic", "area")

_F32 = np.float32
_KEYS_TABLE_SIZE = 1024


def check_interpolation(interpolation, owner, allowed=INTERPOLATIONS):
    """Returns `interpolation` if it is one of `allowed`, else raises a ValueError with a "did you mean"."""
    if interpolation not in allowed:
        raise ValueError(
            f"{owner}: interpolation must be one of {', '.join(repr(a) for a in allowed)}."
            f"{did_you_mean(interpolation, allowed)} Received: interpolation={interpolation!r}"
        )
    return interpolation


def resize(x, size, interpolation="bilinear", antialias=False):
    """Resizes the two spatial axes of an internal-layout (N, C, H, W) tensor to `size` = (height, width)."""
    size = tuple(int(s) for s in size)
    if tuple(x.shape[2:]) == size and interpolation in ("nearest", "bilinear") and not antialias:
        return x
    if interpolation == "nearest":
        for axis, out in ((2, size[0]), (3, size[1])):
            index = torch.as_tensor(_nearest_indices(int(x.shape[axis]), out), device=x.device)
            x = x.index_select(axis, index)
        return x
    if interpolation == "bilinear" and not antialias:
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    rows = _weights_tensor(x, x.shape[2], size[0], interpolation, antialias)
    cols = _weights_tensor(x, x.shape[3], size[1], interpolation, antialias)
    return torch.matmul(torch.matmul(rows, x), cols.t())


def upsample(x, factors, interpolation="nearest"):
    """Keras's UpSampling: each spatial axis i of an internal-layout tensor `factors[i]` times longer.

    'nearest' repeats every element (torch's nearest interpolation, exact for integer factors); the other
    interpolations resize the two axes of an (N, C, H, W) tensor with `resize`, as Keras's UpSampling2D does.
    """
    if all(f == 1 for f in factors):
        return x
    size = [n * f for n, f in zip(x.shape[2:], factors)]
    if interpolation == "nearest":
        return F.interpolate(x, size=size, mode="nearest")
    return resize(x, size, interpolation)


def to_image_batch(x):
    """(images, batched): an internal-layout batch (N, C, H, W) as is, or one image as a batch of one.

    An unbatched Keras image (H, W, C) travels as the rank-3 internal tensor (H, C, W) (see `cnnkit.ops.layout`).
    """
    if x.dim() == 4:
        return x, True
    return layout.to_internal(layout.to_keras(x).unsqueeze(0)), False


def from_image_batch(images, batched):
    """The inverse of `to_image_batch`."""
    if batched:
        return images
    return layout.to_internal(layout.to_keras(images).squeeze(0))


def aspect_crop_box(height, width, target_height, target_width, float32=True):
    """(top, left, crop_height, crop_width): the largest centred box with the target's aspect ratio.

    Keras computes it with float32 tensors in `resize(crop_to_aspect_ratio=True)` and with Python floats in
    `smart_resize` (CenterCrop); `float32` picks which, so that rounding matches.
    """
    real = _F32 if float32 else float
    crop_height = max(min(height, int(real(width * target_height) / real(target_width))), 1)
    crop_width = max(min(width, int(real(height * target_width) / real(target_height))), 1)
    return (int(real(height - crop_height) / real(2)), int(real(width - crop_width) / real(2)), crop_height,
            crop_width)


def aspect_padding(height, width, target_height, target_width):
    """(rows, columns) of fill Keras adds before and after (each) to reach the target's aspect ratio
    (`resize(pad_to_aspect_ratio=True)`; float32 arithmetic, as Keras's TensorFlow backend)."""
    pad_height = max(height, int(_F32(width * target_height) / _F32(target_width)))
    pad_width = max(width, int(_F32(height * target_width) / _F32(target_height)))
    return int(_F32(pad_height - height) / _F32(2)), int(_F32(pad_width - width) / _F32(2))


def crop_box(images, top, left, height, width):
    """The (height, width) window of an (N, C, H, W) batch starting at (top, left) (a view)."""
    rows, cols = images.shape[2:]
    return nn.crop(images, ((top, rows - top - height), (left, cols - left - width)))


def resize_images(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
                  pad_to_aspect_ratio=False, fill_value=0.0):
    """Keras's `ops.image.resize` of an (N, C, H, W) batch: optionally the centred crop, or the padding with
    `fill_value`, that gives the target's aspect ratio, then `resize`."""
    height, width = images.shape[2:]
    if crop_to_aspect_ratio:
        images = crop_box(images, *aspect_crop_box(height, width, *size))
    elif pad_to_aspect_ratio:
        rows, cols = aspect_padding(height, width, *size)
        images = nn.pad(images, ((rows, rows), (cols, cols)), value=fill_value)
    return resize(images, size, interpolation, antialias)


def center_crop(images, size):
    """Keras's CenterCrop of an (N, C, H, W) batch: the centred (height, width) window when the image is at least
    that large on both axes, else Keras's `smart_resize` (the largest centred crop with the target's aspect
    ratio, resized bilinearly)."""
    height, width = images.shape[2:]
    if height >= size[0] and width >= size[1]:
        return crop_box(images, (height - size[0]) // 2, (width - size[1]) // 2, *size)
    return resize(crop_box(images, *aspect_crop_box(height, width, *size, float32=False)), size, "bilinear")


def _weights_tensor(x, in_size, out_size, interpolation, antialias):
    weights = _axis_weights(int(in_size), int(out_size), interpolation, bool(antialias))
    dtype = x.dtype if x.is_floating_point() else torch.float32
    return torch.as_tensor(weights, dtype=dtype, device=x.device)


@functools.lru_cache(maxsize=256)
def _nearest_indices(in_size, out_size):
    """TensorFlow's resize_nearest_neighbor (half_pixel_centers): floor((i + 0.5) * scale), clamped."""
    scale = _F32(in_size) / _F32(out_size)
    source = np.floor((np.arange(out_size, dtype=_F32) + _F32(0.5)) * scale).astype(np.int64)
    return np.clip(source, 0, in_size - 1)


@functools.lru_cache(maxsize=256)
def _axis_weights(in_size, out_size, interpolation, antialias):
    """The (out_size, in_size) float32 matrix of one axis of TensorFlow's resize."""
    if antialias and interpolation != "area":
        kernel = {"bilinear": "triangle", "bicubic": "keyscubic"}.get(interpolation, interpolation)
        return _scale_and_translate_weights(in_size, out_size, kernel, antialias=True)
    if interpolation == "bicubic":
        return _bicubic_weights(in_size, out_size)
    if interpolation == "area":
        return _area_weights(in_size, out_size)
    return _scale_and_translate_weights(in_size, out_size, interpolation, antialias=False)


def _bicubic_weights(in_size, out_size):
    """TensorFlow's resize_bicubic with half_pixel_centers (Keys' cubic, a = -0.5, from a 1025-entry table)."""
    a = -0.5
    t = np.arange(_KEYS_TABLE_SIZE + 1, dtype=np.float64) / _KEYS_TABLE_SIZE
    near = (((a + 2) * t - (a + 3)) * t * t + 1).astype(_F32)  # |distance| = t in [0, 1]
    u = t + 1.0
    far = (((a * u - 5 * a) * u + 8 * a) * u - 4 * a).astype(_F32)  # |distance| = t + 1 in [1, 2]
    scale = _F32(in_size) / _F32(out_size)
    weights = np.zeros((out_size, in_size), dtype=_F32)
    for i in range(out_size):
        position = (_F32(i) + _F32(0.5)) * scale - _F32(0.5)
        start = math.floor(position)
        offset = int(np.rint(_F32(position - _F32(start)) * _F32(_KEYS_TABLE_SIZE)))
        taps = (far[offset], near[offset], near[_KEYS_TABLE_SIZE - offset], far[_KEYS_TABLE_SIZE - offset])
        inside = [(start - 1 + k, w) for k, w in enumerate(taps) if 0 <= start - 1 + k < in_size]
        total = _F32(sum(w for _, w in inside))
        factor = _F32(1.0) / total if abs(total) >= 1000.0 * np.finfo(_F32).tiny else _F32(1.0)
        for index, w in inside:
            weights[i, index] += w * factor
    return weights


def _area_weights(in_size, out_size):
    """TensorFlow's resize_area: the covered fraction of each input pixel, divided by the scale."""
    scale = _F32(in_size) / _F32(out_size)
    weights = np.zeros((out_size, in_size), dtype=_F32)
    for i in range(out_size):
        begin, end = _F32(i) * scale, _F32(i + 1) * scale
        for j in range(math.floor(begin), math.ceil(end)):
            if j < begin:
                part = scale if j + 1 > end else _F32(j + 1) - begin
            else:
                part = end - _F32(j) if j + 1 > end else _F32(1.0)
            weights[i, min(max(j, 0), in_size - 1)] += part
    return (weights * (_F32(1.0) / scale)).astype(_F32)


def _lanczos(radius):
    def kernel(x):
        x = np.abs(x).astype(_F32)
        pi = _F32(3.14159265359)
        safe = np.where(x <= 1e-3, _F32(1.0), x)
        value = _F32(radius) * np.sin(pi * safe) * np.sin(pi * safe / _F32(radius)) / (pi * pi * safe * safe)
        return np.where(x > radius, _F32(0.0), np.where(x <= 1e-3, _F32(1.0), value)).astype(_F32)
    return kernel, float(radius)


def _triangle(x):
    x = np.abs(x).astype(_F32)
    return np.where(x < 1.0, _F32(1.0) - x, _F32(0.0)).astype(_F32)


def _keys_cubic(x):
    x = np.abs(x).astype(_F32)
    far = ((_F32(-0.5) * x + _F32(2.5)) * x - _F32(4.0)) * x + _F32(2.0)
    near = ((_F32(1.5) * x - _F32(2.5)) * x) * x + _F32(1.0)
    return np.where(x >= 2.0, _F32(0.0), np.where(x >= 1.0, far, near)).astype(_F32)


_KERNELS = {"triangle": (_triangle, 1.0), "keyscubic": (_keys_cubic, 2.0), "lanczos3": _lanczos(3),
            "lanczos5": _lanczos(5)}


def _scale_and_translate_weights(in_size, out_size, kernel_name, antialias):
    """TensorFlow's scale_and_translate spans (scale out / in, no translation) as a dense matrix."""
    kernel, radius = _KERNELS[kernel_name]
    scale = _F32(out_size) / _F32(in_size)
    inv_scale = _F32(1.0 / float(scale))
    kernel_scale = max(inv_scale, _F32(1.0)) if antialias else _F32(1.0)
    reach = _F32(radius) * kernel_scale
    weights = np.zeros((out_size, in_size), dtype=_F32)
    for i in range(out_size):
        sample = (_F32(i) + _F32(0.5)) * inv_scale
        if sample < 0 or sample > in_size:
            continue
        start = min(max(math.ceil(sample - reach - _F32(0.5)), 0), in_size - 1)
        stop = min(max(math.floor(sample + reach - _F32(0.5)), 0), in_size - 1) + 1
        sources = np.arange(start, stop, dtype=_F32)
        values = kernel((sources + _F32(0.5) - sample) * (_F32(1.0) / kernel_scale))
        total = _F32(values.sum(dtype=_F32))
        if abs(total) >= 1000.0 * np.finfo(_F32).tiny:
            weights[i, start:stop] = values * (_F32(1.0) / total)
    return weights


# ---- colour spaces (channels_last tensors (..., channels), as Keras's ops.image on TensorFlow) -------------------

_GRAYSCALE_WEIGHTS = (0.2989, 0.5870, 0.1140)  # Keras's rgb_to_grayscale (tf.image.rgb_to_grayscale)


def rgb_to_grayscale(images):
    """Keras's `ops.image.rgb_to_grayscale` on a channels_last tensor (..., 3): 0.2989 R + 0.5870 G + 0.1140 B as
    one channel (..., 1); a one-channel tensor is returned as it is.

    Raises:
        ValueError: the last axis is not 1 or 3 channels (Keras's message).
    """
    channels = images.shape[-1]
    if channels == 1:
        return images
    if channels != 3:
        raise ValueError("Invalid channel size: expected 3 (RGB) or 1 (Grayscale). Received input with shape: "
                         f"images.shape={tuple(images.shape)}")
    weights = torch.tensor(_GRAYSCALE_WEIGHTS, dtype=images.dtype, device=images.device)
    return (images @ weights).unsqueeze(-1)


def rgb_to_hsv(images):
    """Keras's `ops.image.rgb_to_hsv` (TensorFlow's `tf.image.rgb_to_hsv`) on a channels_last float tensor
    (..., 3): hue in [0, 1), saturation (max - min) / max (0 where max is 0) and value max, computed as TensorFlow
    does (also for values outside [0, 1], e.g. 0..255 images)."""
    red, green, blue = images.unbind(-1)
    value = images.amax(-1)
    spread = value - images.amin(-1)
    saturation = torch.where(value > 0, spread / value, torch.zeros_like(value))
    norm = 1.0 / (6.0 * spread)
    hue = torch.where(red == value, norm * (green - blue),
                      torch.where(green == value, norm * (blue - red) + 2.0 / 6.0, norm * (red - green) + 4.0 / 6.0))
    hue = torch.where(spread > 0, hue, torch.zeros_like(hue))
    hue = torch.where(hue < 0, hue + 1.0, hue)
    return torch.stack([hue, saturation, value], dim=-1)


def hsv_to_rgb(images):
    """Keras's `ops.image.hsv_to_rgb` (TensorFlow's `tf.image.hsv_to_rgb`) on a channels_last float tensor
    (..., 3) of (hue, saturation, value): ((1 - s) + s * d) * v per channel, d the clamped hue ramps."""
    hue, saturation, value = images.unbind(-1)
    dh = hue * 6.0
    ramps = (((dh - 3.0).abs() - 1.0), (2.0 - (dh - 2.0).abs()), (2.0 - (dh - 4.0).abs()))
    one_minus_s = 1.0 - saturation
    return torch.stack([(one_minus_s + saturation * r.clamp(0.0, 1.0)) * value for r in ramps], dim=-1)
