"""Photometric transforms of Keras 3's colour layers (`keras.layers.RandomContrast`, `RandomBrightness`, ...).

Each class is a `cnnkit.data.transforms.Transform` holding Keras's already-normalised arguments (factor ranges as
(lower, upper), `value_range` as (low, high)); `draw` makes the per-image draws Keras's `get_random_transformation`
makes (from a numpy Generator instead of Keras's seed generator) and `apply` computes Keras's `transform_images`
with whole-batch torch operations on a channels_last float batch (N, H, W, C).

With the draw pinned (a factor range of one value) the results equal Keras's (TensorFlow backend) within float
rounding. The kernels of `cnnkit.data.augment` (ImageDataGenerator's, following PIL: luma-mean contrast,
multiplicative brightness, sharpness with untouched borders, scipy's Gaussian) compute other formulas and are not
shared; the colour-space conversions are `cnnkit.ops.image_math.rgb_to_hsv`, `hsv_to_rgb` and `rgb_to_grayscale`.

Example:
    >>> t = Contrast((0.5, 0.5), (0, 255))       # RandomContrast(factor=0.5): factor drawn in [0.5, 1.5]
    >>> t(torch.rand(4, 8, 8, 3) * 255, np.random.default_rng(0)).shape
    torch.Size([4, 8, 8, 3])
"""

import numpy as np
import torch
import torch.nn.functional as F

from cnnkit.data.transforms import Transform
from cnnkit.ops import image_math as image_ops

EPSILON = 1e-7  # Keras's backend.epsilon(), in RandomSaturation's factor


def per_image(values, images):
    """Per-image values (numpy (N,) or scalar) as a (N, 1, 1, 1) tensor in the dtype and device of `images`."""
    return torch.as_tensor(np.asarray(values), dtype=images.dtype, device=images.device).reshape(-1, 1, 1, 1)


def per_image_flags(flags, images):
    """Per-image booleans as a (N, 1, 1, 1) bool tensor on the device of `images`."""
    return torch.as_tensor(np.asarray(flags, dtype=bool), device=images.device).reshape(-1, 1, 1, 1)


def planar_like(images, dtype=None):
    """An uninitialised (N, H, W, C) tensor shaped like `images` whose memory is planar (N, C, H, W): a
    per-channel operand (N, 1, 1, C) broadcasts there along whole contiguous rows, a vectorised inner loop,
    where on NHWC-contiguous memory the inner loop runs over the C channels only (3x slower for RGB). Elementwise
    results written into it (`out=`, in-place ops) are the same values."""
    n, height, width, channels = images.shape
    return torch.empty((n, channels, height, width), dtype=dtype or images.dtype,
                       device=images.device).permute(0, 2, 3, 1)


def rescale(images, source, target):
    """Keras's `_transform_value_range`: values mapped linearly from the range `source` to `target`."""
    if source[0] == target[0] and source[1] == target[1]:
        return images
    images = (images - float(source[0])) / (float(source[1]) - float(source[0]))
    return images * (float(target[1]) - float(target[0])) + float(target[0])


def clip(images, value_range):
    """Values clipped to `value_range` (low, high), as Keras's `ops.clip`."""
    return images.clamp(float(value_range[0]), float(value_range[1]))


class Contrast(Transform):
    """`RandomContrast`: per image a factor c uniform in [1 - factor[0], 1 + factor[1]]; each channel becomes
    (x - mean) * c + mean, its mean over height and width, then clipped to `value_range`."""

    def __init__(self, factor, value_range):
        self.factor, self.value_range = factor, value_range

    def draw(self, images, rng):
        return {"contrast_factor": rng.uniform(1.0 - self.factor[0], 1.0 + self.factor[1], images.shape[0])}

    def apply(self, images, params):
        mean = images.mean(dim=(1, 2), keepdim=True)
        if images.requires_grad and torch.is_grad_enabled():  # `out=` records no gradient: the plain expression
            out = (images - mean) * per_image(params["contrast_factor"], mean) + mean
            return clip(out, self.value_range)
        out = planar_like(images, mean.dtype)
        torch.sub(images, mean, out=out)
        out.mul_(per_image(params["contrast_factor"], out)).add_(mean)
        return out.clamp_(float(self.value_range[0]), float(self.value_range[1]))


class Brightness(Transform):
    """`RandomBrightness`: per image a delta uniform in `factor` times the width of `value_range`, added to every
    pixel, then clipped to `value_range`."""

    def __init__(self, factor, value_range):
        self.factor, self.value_range = factor, value_range

    def draw(self, images, rng):
        delta = rng.uniform(self.factor[0], self.factor[1], images.shape[0])
        return {"rgb_delta": delta * (self.value_range[1] - self.value_range[0])}

    def apply(self, images, params):
        return clip(images + per_image(params["rgb_delta"], images), self.value_range)


class Grayscale(Transform):
    """`RandomGrayscale`: with probability `factor` an image becomes its grey level (Keras's rgb_to_grayscale,
    repeated over the channels); one-channel images are left as they are."""

    def __init__(self, factor):
        self.factor = factor

    def draw(self, images, rng):
        return {"apply": rng.uniform(0.0, 1.0, images.shape[0]) < self.factor}

    def apply(self, images, params):
        grey = image_ops.rgb_to_grayscale(images)
        return torch.where(per_image_flags(params["apply"], images), grey, images).expand(images.shape)


class Hue(Transform):
    """`RandomHue`: per image a hue shift of +-f / 2 (f uniform in `factor`, the sign a coin flip), in HSV space on
    images rescaled from `value_range` to [0, 1], the hue wrapped into [0, 1], the result clipped to [0, 1] and
    rescaled back."""

    def __init__(self, factor, value_range):
        self.factor, self.value_range = factor, value_range

    def draw(self, images, rng):
        n = images.shape[0]
        sign = np.where(rng.uniform(0.0, 1.0, n) > 0.5, -1.0, 1.0)
        return {"factor": sign * rng.uniform(self.factor[0], self.factor[1], n) * 0.5}

    def apply(self, images, params):
        hsv = image_ops.rgb_to_hsv(rescale(images, self.value_range, (0, 1)))
        hue = hsv[..., 0] + per_image(params["factor"], images)[..., 0]
        hue = torch.where(hue > 1.0, hue - 1.0, hue)
        hue = torch.where(hue < 0.0, hue + 1.0, hue)
        rgb = image_ops.hsv_to_rgb(torch.stack([hue, hsv[..., 1], hsv[..., 2]], dim=-1)).clamp(0.0, 1.0)
        return rescale(rgb, (0, 1), self.value_range)


class Saturation(Transform):
    """`RandomSaturation`: per image u uniform in `factor`; the HSV saturation (of the images as they are, not
    rescaled) is multiplied by u / (1 - u + epsilon) and clipped to `value_range`, as Keras does."""

    def __init__(self, factor, value_range):
        self.factor, self.value_range = factor, value_range

    def draw(self, images, rng):
        u = rng.uniform(self.factor[0], self.factor[1], images.shape[0]).astype(np.float32)
        return {"factor": u / (1 - u + np.float32(EPSILON))}

    def apply(self, images, params):
        hsv = image_ops.rgb_to_hsv(images)
        saturation = clip(hsv[..., 1] * per_image(params["factor"], images)[..., 0], self.value_range)
        return image_ops.hsv_to_rgb(torch.stack([hsv[..., 0], saturation, hsv[..., 2]], dim=-1))


class Sequence(Transform):
    """Transforms applied one after the other (`RandomColorJitter`), each with its own draws."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def draw(self, images, rng):
        return [t.draw(images, rng) for t in self.transforms]

    def apply(self, images, params):
        for transform, p in zip(self.transforms, params):
            images = transform.apply(images, p)
        return images


class Invert(Transform):
    """`RandomInvert`: per image p uniform in `factor`; with probability p the image becomes
    value_range[1] - x."""

    def __init__(self, factor, value_range):
        self.factor, self.value_range = factor, value_range

    def draw(self, images, rng):
        n = images.shape[0]
        probability = rng.uniform(self.factor[0], self.factor[1], n)
        return {"apply_inversion": rng.uniform(0.0, 1.0, n) < probability}

    def apply(self, images, params):
        flags = per_image_flags(params["apply_inversion"], images)
        return torch.where(flags, float(self.value_range[1]) - images, images)


class Posterize(Transform):
    """`RandomPosterization`: per image b bits (an int in [factor[0], factor[1]), or factor[0] when both are
    equal); the images rescaled to 0..255, truncated to uint8, their 8 - b low bits cleared, rescaled back."""

    def __init__(self, factor, value_range):
        self.factor, self.value_range = factor, value_range

    def draw(self, images, rng):
        n = images.shape[0]
        low, high = int(self.factor[0]), int(self.factor[1])
        bits = rng.integers(low, high, n) if low != high else np.full(n, low)
        return {"shift_factor": 8 - bits}

    def apply(self, images, params):
        levels = rescale(images, self.value_range, (0, 255)).clamp(0.0, 255.0).trunc()
        step = per_image(2.0 ** np.asarray(params["shift_factor"], dtype=np.float64), images)
        posterized = torch.floor(levels / step) * step
        return rescale(posterized, (0, 255), self.value_range)


class ColorDegeneration(Transform):
    """`RandomColorDegeneration`: per image f uniform in `factor`; x + f * (grey - x) (grey: Keras's
    rgb_to_grayscale), clipped to `value_range`."""

    def __init__(self, factor, value_range):
        self.factor, self.value_range = factor, value_range

    def draw(self, images, rng):
        return {"factor": rng.uniform(self.factor[0], self.factor[1], images.shape[0])}

    def apply(self, images, params):
        grey = image_ops.rgb_to_grayscale(images)
        return clip(images + per_image(params["factor"], images) * (grey - images), self.value_range)


class Solarize(Transform):
    """`Solarization`: per image an addition uniform in [addition[0], addition[1] * 255] and a threshold uniform
    in [threshold[0], threshold[1] * 255] (Keras scales only the upper bounds); on the images rescaled to 0..255,
    y = clip(x + addition, 0, 255), then y where y < threshold else 255 - y, rescaled back."""

    def __init__(self, addition_factor, threshold_factor, value_range):
        self.addition_factor, self.threshold_factor = addition_factor, threshold_factor
        self.value_range = value_range

    def draw(self, images, rng):
        n = images.shape[0]
        return {"additions": rng.uniform(self.addition_factor[0], self.addition_factor[1] * 255, n),
                "thresholds": rng.uniform(self.threshold_factor[0], self.threshold_factor[1] * 255, n)}

    def apply(self, images, params):
        images = rescale(images, self.value_range, (0, 255))
        results = (images + per_image(params["additions"], images)).clamp(0.0, 255.0)
        results = torch.where(results < per_image(params["thresholds"], images), results, 255.0 - results)
        return rescale(results, (0, 255), self.value_range)


class AutoContrast(Transform):
    """`AutoContrast` (deterministic): each channel of each image stretched linearly so that its minimum goes to
    value_range[0] and its maximum to value_range[1]; constant channels are left as they are."""

    def __init__(self, value_range):
        self.value_range = value_range

    def apply(self, images, params):
        original = images
        images = rescale(images, self.value_range, (0, 255))
        low = images.amin(dim=(1, 2), keepdim=True)
        high = images.amax(dim=(1, 2), keepdim=True)
        scale = torch.full_like(high, 255.0) / (high - low)  # a true division (torch's 255.0 / t multiplies by 1 / t)
        results = (images * scale + (-low) * scale).clamp(0.0, 255.0)
        results = rescale(results, (0, 255), self.value_range)
        return torch.where(torch.isnan(results), original, results)


class Equalize(Transform):
    """`Equalization` (deterministic): each channel's histogram (`bins` bins over 0..255, taken over the whole
    batch, as Keras does) equalised with a rounded lookup table; a channel with one occupied bin is left as it
    is."""

    def __init__(self, value_range, bins):
        self.value_range, self.bins = value_range, bins

    def apply(self, images, params):
        bins = self.bins
        low, high = float(self.value_range[0]), float(self.value_range[1])
        channels = images.shape[-1]
        scaled = images * (255.0 / (high - low)) + (0.0 - low * (255.0 / (high - low)))
        planes = scaled.movedim(-1, 0).reshape(channels, -1)  # (C, N * H * W)
        index = (planes * (bins - 1) / 255.0).to(torch.int32).clamp(0, bins - 1).to(torch.int64)
        offsets = torch.arange(channels, device=images.device).view(-1, 1) * bins
        hist = torch.bincount((index + offsets).reshape(-1), minlength=channels * bins).view(channels, bins)
        cdf = hist.cumsum(1)
        cdf_min = torch.where(cdf > 0, cdf, cdf[:, -1:]).amin(1, keepdim=True)
        denominator = cdf[:, -1:] - cdf_min
        denominator = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
        table = torch.round((cdf - cdf_min).to(torch.float64) * 255 / denominator.to(torch.float64)).clamp(0, 255)
        lookup = ((planes / 255.0) * (bins - 1)).clamp(0, bins - 1).to(torch.int32).to(torch.int64)
        equalized = torch.gather(table, 1, lookup)  # float64, as Keras's table, until the final cast
        equalized = torch.where((hist > 0).sum(1, keepdim=True) <= 1, planes.to(torch.float64), equalized)
        equalized = (equalized * ((high - low) / 255.0) + low).to(images.dtype)
        return equalized.reshape(channels, *images.shape[:-1]).movedim(0, -1)


def _depthwise_same(images, kernel):
    """A (kh, kw) kernel applied to every channel of channels_last `images`, zero padding 'same' (odd sizes)."""
    channels = images.shape[-1]
    kh, kw = kernel.shape
    weight = kernel.to(images.dtype).view(1, 1, kh, kw).expand(channels, 1, kh, kw)
    out = F.conv2d(images.movedim(-1, 1), weight, padding=(kh // 2, kw // 2), groups=channels)
    return out.movedim(1, -1)


class Sharpness(Transform):
    """`RandomSharpness`: per image f uniform in `factor`; x + (1 - 2 f) * (smooth - x), smooth the image through
    the 3x3 kernel [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13 with zero padding, clipped to `value_range`."""

    def __init__(self, factor, value_range):
        self.factor, self.value_range = factor, value_range

    def draw(self, images, rng):
        return {"factor": rng.uniform(self.factor[0], self.factor[1], images.shape[0])}

    def apply(self, images, params):
        a, b = 1.0 / 13.0, 5.0 / 13.0
        kernel = torch.tensor([[a, a, a], [a, b, a], [a, a, a]], dtype=images.dtype, device=images.device)
        smoothed = _depthwise_same(images, kernel)
        sharpness = per_image(np.asarray(params["factor"]) * 2, images)
        return clip(images + (1.0 - sharpness) * (smoothed - images), self.value_range)


def _gaussian_kernel1d(size, sigma, dtype, device):
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


class GaussianBlur(Transform):
    """`RandomGaussianBlur`: per image p uniform in `factor`, blurred with probability p; one pair of sigmas
    (x, y) uniform in `sigma` (+ 1e-6) for the whole batch, as Keras draws it; Keras's separable Gaussian kernel of
    `kernel_size`, zero padding 'same'; every image then clipped to `value_range`."""

    def __init__(self, factor, kernel_size, sigma, value_range):
        self.factor, self.kernel_size, self.sigma, self.value_range = factor, kernel_size, sigma, value_range

    def draw(self, images, rng):
        n = images.shape[0]
        probability = rng.uniform(self.factor[0], self.factor[1], n)
        apply = rng.uniform(0.0, 1.0, n) < probability
        sigma = rng.uniform(self.sigma[0], self.sigma[1], 2).astype(np.float32) + np.float32(1e-6)
        return {"should_apply_blur": apply, "blur_factor": sigma}

    def apply(self, images, params):
        sigma = [float(s) for s in np.asarray(params["blur_factor"], dtype=np.float32)]
        size_x, size_y = (int(s) for s in self.kernel_size)
        kernel_x = _gaussian_kernel1d(size_x, sigma[0], images.dtype, images.device)
        kernel_y = _gaussian_kernel1d(size_y, sigma[1], images.dtype, images.device)
        kernel = torch.outer(kernel_y, kernel_x).reshape(size_x, size_y)  # Keras's reshape of (size_y, size_x)
        blurred = _depthwise_same(images, kernel)
        out = torch.where(per_image_flags(params["should_apply_blur"], images), blurred, images)
        return clip(out, self.value_range)


class Erasing(Transform):
    """`RandomErasing`: per image p uniform in `factor`, erased with probability p: a box of relative area
    sqrt(s_x) x sqrt(s_y) (s uniform in `scale`) at a uniform position is replaced by `fill_value` (a number, three
    per-channel numbers, or None: Gaussian noise times value_range[1]), clipped to `value_range`."""

    def __init__(self, factor, scale, fill_value, value_range):
        self.factor, self.scale, self.fill_value, self.value_range = factor, scale, fill_value, value_range

    def draw(self, images, rng):
        n = images.shape[0]
        params = {"mix_weight": np.sqrt(rng.uniform(self.scale[0], self.scale[1], (n, 2))),
                  "x_start": rng.uniform(0.0, 1.0, n), "y_start": rng.uniform(0.0, 1.0, n)}
        probability = rng.uniform(self.factor[0], self.factor[1], n)
        params["apply_erasing"] = rng.uniform(0.0, 1.0, n) < probability
        if self.fill_value is None:
            params["noise"] = rng.standard_normal(tuple(images.shape), dtype=np.float32)
        return params

    def mask(self, images, params):
        """(N, H, W, 1) bool: the pixels of each image's box."""
        _, height, width, _ = images.shape
        masks = []
        for axis, length, start in ((0, width, "x_start"), (1, height, "y_start")):
            crop = torch.as_tensor(np.asarray(params["mix_weight"])[:, axis], dtype=images.dtype,
                                   device=images.device) * length
            begin = torch.as_tensor(np.asarray(params[start]), dtype=images.dtype, device=images.device) * (
                length - crop)
            grid = torch.arange(length, dtype=images.dtype, device=images.device)
            masks.append((grid >= begin[:, None]) & (grid < (begin + crop)[:, None]))
        return (masks[1][:, :, None] & masks[0][:, None, :])[..., None]

    def apply(self, images, params):
        if self.fill_value is None:
            fill = torch.as_tensor(params["noise"], dtype=images.dtype, device=images.device)
            fill = fill * float(self.value_range[1])
        else:
            fill = torch.as_tensor(self.fill_value, dtype=images.dtype, device=images.device)
        fill = clip(fill, self.value_range)
        erase = self.mask(images, params) & per_image_flags(params["apply_erasing"], images)
        return torch.where(erase, fill, images)
