"""The seeds' convolution and pooling on numpy arrays: what a layer computes, written to be read.

These are the teaching versions (sliding dot products, no kernel flip, as in the notes and in Keras). They use
the same output-size and 'same'-padding rules as the layers (`cnnkit.ops.shapes`).
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnnkit.ops.arguments import normalize_tuple
from cnnkit.ops.shapes import conv_output_length, same_padding


def _check_padding(padding, owner, allow_causal=False):
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    if isinstance(padding, int) and not isinstance(padding, bool):
        if padding < 0:
            raise ValueError(f"{owner}: padding must be >= 0. Received: padding={padding}")
        return padding
    if padding not in allowed:
        raise ValueError(
            f"{owner}: padding must be one of {', '.join(repr(a) for a in allowed)} or an int. "
            f"Received: padding={padding!r}"
        )
    return padding


def _pads(length, k, s, d, padding):
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return (k - 1) * d, 0
    if padding == "same":
        return same_padding(length, k, s, d)
    return padding, padding


def _windows(x, pads, kernel_shape, strides, dilation, owner, fill=0.0):
    """Sliding windows over the leading len(kernel_shape) axes of x: (*out, ..., *kernel_shape)."""
    pad_width = list(pads) + [(0, 0)] * (x.ndim - len(pads))
    x = np.pad(x.astype(np.float64), pad_width, constant_values=fill)
    extent = [(k - 1) * d + 1 for k, d in zip(kernel_shape, dilation)]
    for axis, (n, e) in enumerate(zip(x.shape, extent)):
        if n < e:
            raise ValueError(
                f"{owner}: the kernel (size {tuple(kernel_shape)}, dilation {tuple(dilation)}) is larger than the "
                f"padded input (shape {x.shape[:len(kernel_shape)]}). Received: kernel shape "
                f"{tuple(kernel_shape)} for an input of shape {tuple(n - sum(p) for n, p in zip(x.shape, pads))}"
            )
    win = sliding_window_view(x, extent, axis=tuple(range(len(extent))))
    index = tuple(slice(None, None, s) for s in strides)
    index += (slice(None),) * (x.ndim - len(extent))
    index += tuple(slice(None, None, d) for d in dilation)
    return win[index]


def convolve(sequence, weights, strides=1, padding="valid", dilation_rate=1):
    """1-D convolution as in the seeds: the weights slide along the sequence, a dot product at each position.

    Args:
        sequence: 1-D array of length m.
        weights: 1-D array of length n <= m (after padding).
        strides: step between positions (>= 1).
        padding: 'valid' (no padding: m - n + 1 outputs), 'same' (ceil(m / strides) outputs, extra zero at the
            end), 'causal' (zeros before only) or an int P of zeros on each side.
        dilation_rate: spacing between the weights' taps.

    Returns:
        1-D float array, `conv_output_length(m, n, padding, strides, dilation_rate)` long.

    Example:
        >>> convolve(np.array([1, 0, 1, 0, 1]), np.array([1, -1, 0]))
        array([ 1., -1.,  1.])
    """
    sequence, weights = np.asarray(sequence), np.asarray(weights)
    if sequence.ndim != 1:
        raise ValueError(f"convolve: sequence must be 1-D. Received: sequence with shape {sequence.shape}")
    if weights.ndim != 1:
        raise ValueError(f"convolve: weights must be 1-D. Received: weights with shape {weights.shape}")
    (s,) = normalize_tuple(strides, 1, "strides", "convolve")
    (d,) = normalize_tuple(dilation_rate, 1, "dilation_rate", "convolve")
    padding = _check_padding(padding, "convolve", allow_causal=True)
    pads = [_pads(len(sequence), len(weights), s, d, padding)]
    win = _windows(sequence, pads, weights.shape, (s,), (d,), "convolve")
    out = win @ weights.astype(np.float64)
    expected = conv_output_length(len(sequence), len(weights), padding, s, d)
    return out[:expected]


def convolve2d(image, kernel, strides=1, padding="valid", dilation_rate=1):
    """2-D convolution of an image with one kernel, as in the seeds (no flip; channels summed).

    Args:
        image: (H, W) or (H, W, C) array.
        kernel: (K_h, K_w) for a (H, W) image, or (K_h, K_w, C) for a (H, W, C) image (the dot product runs
            over the channels too, as one filter of a Conv2D layer). A (K_h, K_w) kernel on a (H, W, C) image
            is applied to each channel separately.
        strides, dilation_rate: int or (int, int).
        padding: 'valid', 'same' (TensorFlow rule: extra zero at the end) or an int P.

    Returns:
        (H', W') float array, or (H', W', C) for a 2-D kernel on a multi-channel image.

    Example:
        >>> convolve2d(np.eye(3), np.ones((2, 2)))
        array([[2., 1.],
               [1., 2.]])
    """
    image, kernel = np.asarray(image), np.asarray(kernel)
    if image.ndim not in (2, 3):
        raise ValueError(f"convolve2d: image must be (H, W) or (H, W, C). Received: image with shape {image.shape}")
    if kernel.ndim not in (2, 3) or (kernel.ndim == 3 and (image.ndim != 3 or kernel.shape[2] != image.shape[2])):
        raise ValueError(
            "convolve2d: kernel must be (K, K) or (K, K, C) with C the image's channels. Received: kernel with "
            f"shape {kernel.shape} for an image with shape {image.shape}"
        )
    strides = normalize_tuple(strides, 2, "strides", "convolve2d")
    dilation = normalize_tuple(dilation_rate, 2, "dilation_rate", "convolve2d")
    padding = _check_padding(padding, "convolve2d")
    pads = [_pads(n, k, s, d, padding) for n, k, s, d in zip(image.shape, kernel.shape, strides, dilation)]
    win = _windows(image, pads, kernel.shape[:2], strides, dilation, "convolve2d")
    if kernel.ndim == 3:  # win: (H', W', C, Kh, Kw)
        return np.einsum("hwcij,ijc->hw", win, kernel.astype(np.float64))
    if image.ndim == 3:
        return np.einsum("hwcij,ij->hwc", win, kernel.astype(np.float64))
    return np.einsum("hwij,ij->hw", win, kernel.astype(np.float64))


def _pool2d(image, pool_size, strides, padding, owner, reduce):
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"{owner}: image must be (H, W) or (H, W, C). Received: image with shape {image.shape}")
    pool = normalize_tuple(pool_size, 2, "pool_size", owner)
    strides = pool if strides is None else normalize_tuple(strides, 2, "strides", owner)
    padding = _check_padding(padding, owner)
    if not isinstance(padding, str):
        raise ValueError(f"{owner}: padding must be 'valid' or 'same'. Received: padding={padding!r}")
    pads = [_pads(n, k, s, 1, padding) for n, k, s in zip(image.shape, pool, strides)]
    data = _windows(image, pads, pool, strides, (1, 1), owner, fill=np.nan)
    return reduce(data, axis=(-2, -1))


def max_pool2d(image, pool_size=(2, 2), strides=None, padding="valid"):
    """Max pooling of an (H, W) or (H, W, C) image; each channel separately. 'same' ignores the padding.

    Example:
        >>> max_pool2d(np.arange(16).reshape(4, 4), 2)
        array([[ 5.,  7.],
               [13., 15.]])
    """
    return _pool2d(image, pool_size, strides, padding, "max_pool2d", np.nanmax)


def average_pool2d(image, pool_size=(2, 2), strides=None, padding="valid"):
    """Average pooling of an (H, W) or (H, W, C) image; 'same' averages over the real pixels of each window.

    Example:
        >>> average_pool2d(np.arange(16).reshape(4, 4), 2)
        array([[ 2.5,  4.5],
               [10.5, 12.5]])
    """
    return _pool2d(image, pool_size, strides, padding, "average_pool2d", np.nanmean)


# The Sobel–Feldman kernels from the seeds: horizontal contours and vertical contours.
SOBEL_HORIZONTAL = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float32)
SOBEL_VERTICAL = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
SOBEL_HORIZONTAL.setflags(write=False)
SOBEL_VERTICAL.setflags(write=False)
