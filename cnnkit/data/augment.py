"""Batched image-augmentation kernels on torch tensors (Keras's legacy ImageDataGenerator transforms, vectorised).

Every kernel takes `images`, a floating (batch, height, width, channels) tensor (Keras's channels_last layout,
values typically 0..255), and per-sample parameters (a scalar for all samples, or a numpy array / tensor / sequence
of length batch); it returns a new tensor of the same shape and dtype (the input is never modified), computed with
whole-batch tensor operations (no Python loop over samples).

Geometry reproduces Keras: `affine_matrices` builds the matrices of Keras's `apply_affine_transform` and `warp`
resamples like `scipy.ndimage.affine_transform` (both in `cnnkit.data.warp`, re-exported here). The photometric
kernels follow PIL's `ImageEnhance` in float.
"""

import numpy as np
import torch
import torch.nn.functional as F

from cnnkit.data._batch import _apply_to_selected, _check_images, _per_sample, _per_sample_numpy
from cnnkit.data.warp import FILL_MODES as FILL_MODES
from cnnkit.data.warp import INTERPOLATION_ORDERS as INTERPOLATION_ORDERS
from cnnkit.data.warp import affine_matrices as affine_matrices
from cnnkit.data.warp import warp as warp

# PIL's ImageFilter.SMOOTH kernel (ImageEnhance.Sharpness's degenerate image) and ITU-R 601-2 luma (mode 'L').
_SMOOTH_KERNEL = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], dtype=torch.float64) / 13.0
_LUMA_WEIGHTS = (299 / 1000, 587 / 1000, 114 / 1000)


def flip(images, horizontal, vertical):
    """Flips the selected images left-right (`horizontal`, the width axis) and/or upside-down (`vertical`).

    Args:
        images: (batch, height, width, channels) floating tensor.
        horizontal: Booleans (batch,) or one boolean: flip along the width axis.
        vertical: Booleans (batch,) or one boolean: flip along the height axis.

    Returns:
        A new tensor shaped like `images`.
    """
    images = _check_images(images)
    out = images.clone()
    for axis, flags, name in ((2, horizontal, "horizontal"), (1, vertical, "vertical")):
        flags = _per_sample_numpy(flags, name, images.shape[0], dtype=bool)
        if flags.any():
            index = torch.as_tensor(np.flatnonzero(flags), device=images.device)
            out[index] = out[index].flip(axis)
    return out


def channel_shift(images, intensity):
    """Keras's `apply_channel_shift` per sample: adds `intensity` to every channel, then clips each image to its
    own (pre-shift) minimum and maximum over all pixels and channels.

    Args:
        images: (batch, height, width, channels) floating tensor.
        intensity: Shift per sample, (batch,) or a scalar.

    Returns:
        A new tensor shaped like `images`.
    """
    images = _check_images(images)
    intensity = _per_sample(intensity, "intensity", images)
    flat = images.reshape(images.shape[0], -1)
    low, high = flat.amin(1).view(-1, 1, 1, 1), flat.amax(1).view(-1, 1, 1, 1)
    return torch.minimum(torch.maximum(images + intensity, low), high)


def brightness(images, factor):
    """Scales brightness like PIL's `ImageEnhance.Brightness` (Keras's `brightness_range`): x * factor, clipped to
    [0, 255].

    Keras (`apply_brightness_shift`) goes through a PIL uint8 image, truncating the input and the result to integers;
    cnnkit stays in float and does not quantise (a difference of less than 1 grey level).

    Args:
        images: (batch, height, width, channels) floating tensor with values in 0..255.
        factor: Factor per sample, (batch,) or a scalar; 1 leaves the image unchanged, 0 is black.

    Returns:
        A new tensor shaped like `images`.
    """
    images = _check_images(images)
    return (images * _per_sample(factor, "factor", images)).clamp_(0.0, 255.0)


def contrast(images, factor):
    """Changes contrast like PIL's `ImageEnhance.Contrast`: mean + factor * (x - mean), clipped to [0, 255].

    `mean` is the image's mean grey level: the mean over pixels of L = R * 299/1000 + G * 587/1000 + B * 114/1000
    (PIL's 'L' conversion) for 3 channels, the channel itself for 1. PIL rounds L and the mean to integers and
    truncates the result to uint8; cnnkit stays in float.

    Args:
        images: (batch, height, width, channels) floating tensor with values in 0..255, 1 or 3 channels.
        factor: Factor per sample, (batch,) or a scalar; 1 leaves the image unchanged, 0 is flat grey.

    Returns:
        A new tensor shaped like `images`.

    Raises:
        ValueError: The images do not have 1 or 3 channels.
    """
    images = _check_images(images)
    factor = _per_sample(factor, "factor", images)
    channels = images.shape[-1]
    if channels == 3:
        grey = sum(images[..., k] * weight for k, weight in enumerate(_LUMA_WEIGHTS))
    elif channels == 1:
        grey = images[..., 0]
    else:
        raise ValueError(f"contrast needs images with 1 or 3 channels (grey or RGB), got {channels} channels")
    mean = grey.mean(dim=(1, 2)).view(-1, 1, 1, 1)
    return (mean + factor * (images - mean)).clamp_(0.0, 255.0)


def _gaussian_blur_selected(images, sigma):
    """Gaussian blur of every sample of `images` with its sigma (numpy float64, all > 0)."""
    batch, height, width, channels = images.shape
    radii = (4.0 * sigma + 0.5).astype(np.int64)  # scipy: int(truncate * sigma + 0.5), truncate = 4
    radius = int(radii.max())
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernels = np.exp(-0.5 / (sigma * sigma)[:, None] * taps[None, :] ** 2) * (np.abs(taps) <= radii[:, None])
    kernels = torch.as_tensor(kernels / kernels.sum(1, keepdims=True), dtype=images.dtype, device=images.device)
    kernels = kernels.repeat_interleave(channels, dim=0)  # one kernel per (sample, channel) plane
    planes = images.permute(0, 3, 1, 2).reshape(1, batch * channels, height, width)
    planes = F.pad(planes, (radius, radius, radius, radius), mode="replicate")  # scipy mode='nearest'
    planes = F.conv2d(planes, kernels.view(-1, 1, 2 * radius + 1, 1), groups=batch * channels)
    planes = F.conv2d(planes, kernels.view(-1, 1, 1, 2 * radius + 1), groups=batch * channels)
    return planes.view(batch, channels, height, width).permute(0, 2, 3, 1).contiguous()


def gaussian_blur(images, sigma):
    """Blurs each image with its own Gaussian, like `scipy.ndimage.gaussian_filter(image, (s, s, 0),
    mode='nearest', truncate=4.0)`: separable, radius int(4 * sigma + 0.5), edges replicated; one grouped
    convolution for the batch, every kernel zero-padded to the largest radius.

    Args:
        images: (batch, height, width, channels) floating tensor.
        sigma: Non-negative standard deviation in pixels per sample, (batch,) or a scalar; 0 leaves the image
            unchanged.

    Returns:
        A new tensor shaped like `images`.
    """
    images = _check_images(images)
    sigma = _per_sample_numpy(sigma, "sigma", images.shape[0])
    if np.any(sigma < 0):
        raise ValueError(f"sigma must be >= 0, got {sigma!r}")
    return _apply_to_selected(images, sigma > 0, _gaussian_blur_selected, sigma)


def sharpen(images, factor):
    """Changes sharpness like PIL's `ImageEnhance.Sharpness`: degenerate + factor * (x - degenerate), clipped to
    [0, 255], where degenerate is the image through PIL's `ImageFilter.SMOOTH` (3x3 kernel [[1, 1, 1], [1, 5, 1],
    [1, 1, 1]] / 13) with the border pixels left as they are (as PIL's filter does).

    PIL rounds the smoothed image and truncates the blend to uint8; cnnkit stays in float.

    Args:
        images: (batch, height, width, channels) floating tensor with values in 0..255.
        factor: Factor per sample, (batch,) or a scalar; 1 leaves the image unchanged, > 1 sharpens, < 1 blurs
            (0 is the smoothed image).

    Returns:
        A new tensor shaped like `images`.
    """
    images = _check_images(images)
    factor = _per_sample(factor, "factor", images)
    batch, height, width, channels = images.shape
    degenerate = images.clone()
    if height >= 3 and width >= 3:
        planes = images.permute(0, 3, 1, 2).reshape(batch * channels, 1, height, width)
        kernel = _SMOOTH_KERNEL.to(dtype=images.dtype, device=images.device).view(1, 1, 3, 3)
        smooth = F.conv2d(planes, kernel).view(batch, channels, height - 2, width - 2).permute(0, 2, 3, 1)
        degenerate[:, 1:-1, 1:-1, :] = smooth
    return (degenerate + factor * (images - degenerate)).clamp_(0.0, 255.0)


def add_noise(images, std, generator):
    """Adds independent Gaussian noise N(0, std**2) to every pixel and channel. The result is not clipped (values
    may leave 0..255).

    Args:
        images: (batch, height, width, channels) floating tensor.
        std: Non-negative standard deviation, a scalar or (batch,) per sample.
        generator: The `torch.Generator` the noise is drawn from (the same generator state gives the same noise).

    Returns:
        A new tensor shaped like `images`.
    """
    images = _check_images(images)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    std = _per_sample(std, "std", images, minimum=0.0)
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype, device=generator.device)
    return images + noise.to(images.device) * std
