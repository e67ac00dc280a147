"""Output-size arithmetic for convolutions, pooling, cropping and resizing (pure Python ints).

This is the one place the output-size formulas live; layers and the numpy ops call these functions. Argument
normalisation is in `cnnkit.ops.arguments`.
"""

import math

PADDINGS = ("valid", "same", "causal")


def conv_output_length(input_length, kernel_size, padding, stride, dilation=1):
    """Length of a convolution or pooling output along one axis.

    Args:
        input_length: int, or None for an unknown length (then None is returned).
        kernel_size: int, the window size K.
        padding: 'valid', 'same', 'causal', or an int P of zeros added on each side.
        stride: int S >= 1.
        dilation: int D >= 1; the window covers (K - 1) * D + 1 inputs.

    Returns:
        'valid' or P: floor((W - K' + 2P) / S) + 1 with K' the dilated size (the seeds' formula);
        'same' and 'causal': ceil(W / S).

    Raises:
        ValueError: a non-positive kernel, stride or dilation, an unknown padding, or a window larger than the
        padded input.

    Example:
        >>> conv_output_length(28, 3, "valid", 1)
        26
        >>> conv_output_length(7, 3, 1, 2)
        4
    """
    for name, value in (("kernel_size", kernel_size), ("stride", stride), ("dilation", dilation)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"conv_output_length: {name} must be a positive int. Received: {name}={value!r}")
    if input_length is None:
        return None
    dilated = (kernel_size - 1) * dilation + 1
    if padding in ("same", "causal"):
        return -(-input_length // stride)
    if isinstance(padding, int) and not isinstance(padding, bool):
        if padding < 0:
            raise ValueError(f"conv_output_length: padding must be >= 0. Received: padding={padding}")
        pad = padding
    elif padding == "valid":
        pad = 0
    else:
        raise ValueError(
            "conv_output_length: padding must be 'valid', 'same', 'causal' or an int. "
            f"Received: padding={padding!r}"
        )
    if input_length + 2 * pad < dilated:
        raise ValueError(
            f"conv_output_length: the window ({dilated} with kernel_size={kernel_size}, dilation={dilation}) is "
            f"larger than the padded input ({input_length + 2 * pad}). Received: input_length={input_length}, "
            f"padding={padding!r}"
        )
    return (input_length + 2 * pad - dilated) // stride + 1


def same_padding(input_length, kernel_size, stride, dilation=1):
    """(before, after) zeros for 'same' padding, TensorFlow's rule: the extra pixel goes at the end.

    Example:
        >>> same_padding(32, 3, 2)
        (0, 1)
    """
    dilated = (kernel_size - 1) * dilation + 1
    out = math.ceil(input_length / stride)
    total = max((out - 1) * stride + dilated - input_length, 0)
    return total // 2, total - total // 2


def padding_amounts(spatial_shape, kernel_size, strides, dilation, padding):
    """Per-axis (before, after) padding for 'valid', 'same' or 'causal' (1-D only: all zeros go before)."""
    if padding == "valid":
        return tuple((0, 0) for _ in spatial_shape)
    if padding == "causal":
        return tuple(((k - 1) * d, 0) for k, d in zip(kernel_size, dilation))
    return tuple(same_padding(n, k, s, d) for n, k, s, d in zip(spatial_shape, kernel_size, strides, dilation))


def conv_output_shape(spatial_shape, kernel_size, strides, padding, dilation, owner="Conv"):
    """Spatial output shape of a conv/pool; raises a ValueError naming `owner` when it would be empty."""
    out = []
    for n, k, s, d in zip(spatial_shape, kernel_size, strides, dilation):
        if n is None:
            out.append(None)
            continue
        dilated = (k - 1) * d + 1
        if padding == "valid" and n < dilated:
            raise ValueError(
                f"{owner}: the window {tuple(kernel_size)} (dilation_rate={tuple(dilation)}) is larger than the "
                f"input's spatial shape {tuple(spatial_shape)} with padding='valid'. Use a smaller kernel_size or "
                "padding='same'."
            )
        out.append(conv_output_length(n, k, padding, s, d))
    return tuple(out)


def upsampled_shape(spatial_shape, size):
    """Spatial shape after repeating axis i `size[i]` times (None stays None)."""
    return tuple(None if n is None else n * s for n, s in zip(spatial_shape, size))


def cropped_shape(input_shape, cropping, owner="Cropping"):
    """Spatial shape of a Keras-layout `input_shape` (batch, *spatial, channels) after removing `cropping` =
    [(before, after)] per spatial axis; raises a ValueError naming `owner`, the cropping and the input shape when an
    axis would keep nothing."""
    spatial = tuple(input_shape)[1:-1]
    out = tuple(None if n is None else n - a - b for n, (a, b) in zip(spatial, cropping))
    if any(n is not None and n <= 0 for n in out):
        raise ValueError(
            f"{owner}: cropping={tuple(tuple(p) for p in cropping)} must be smaller than the input on every "
            f"spatial axis (it crops as much as or more than the axis's size). Received: "
            f"input_shape={tuple(input_shape)}"
        )
    return out


def adaptive_windows(input_length, output_length):
    """Keras's (and torch's) adaptive-pooling bins along one axis, as two fixed windows and a gather.

    Bin i covers [floor(i * n / m), ceil((i + 1) * n / m)): `small` = ceil(n / m) or `small` + 1 inputs. Returns
    (small, big, index): pooling with window `small` then `big` (stride 1) and concatenating the two, bin i is
    element `index[i]` (Keras's two-pool gather; big is None when no bin has `small` + 1 inputs).

    Example:
        >>> adaptive_windows(5, 3)
        (2, 3, [0, 5, 3])
    """
    small = -(-input_length // output_length)
    starts = [i * input_length // output_length for i in range(output_length)]
    ends = [-(-(i + 1) * input_length // output_length) for i in range(output_length)]
    offset = input_length - small + 1
    index = [s if e - s == small else s + offset for s, e in zip(starts, ends)]
    return small, (small + 1 if any(e - s > small for s, e in zip(starts, ends)) else None), index


# ---- transposed convolution ------------------------------------------------------------------------------------


def deconv_output_length(input_length, kernel_size, padding, output_padding=None, stride=1, dilation=1):
    """Length of a transposed-convolution output along one axis (Keras's `deconv_output_length`).

    With K' = (kernel_size - 1) * dilation + 1:
        'valid': (W - 1) * S + max(K', S) without output_padding, (W - 1) * S + K' + P_out with it;
        'same':  W * S without output_padding, (W - 1) * S + K' % 2 + P_out with it.

    Example:
        >>> deconv_output_length(16, 3, "same", None, 2)
        32
        >>> deconv_output_length(5, 3, "valid", 1, 2)
        12
    """
    if input_length is None:
        return None
    dilated = (kernel_size - 1) * dilation + 1
    if padding == "valid":
        extra = max(dilated, stride) - dilated if output_padding is None else output_padding
        return (input_length - 1) * stride + dilated + extra
    if output_padding is None:
        return input_length * stride
    return (input_length - 1) * stride + dilated % 2 + output_padding


def conv_transpose_output_shape(spatial_shape, kernel_size, strides, padding, output_padding, dilation,
                                owner="ConvTranspose"):
    """Spatial output shape of a transposed convolution (None stays None); raises a ValueError naming `owner` when
    an axis would be empty (length 1, 'same', an even kernel and output_padding 0 give (1 - 1) * stride + 0)."""
    output_padding = output_padding or (None,) * len(spatial_shape)
    out = tuple(deconv_output_length(n, k, padding, op, s, d)
                for n, k, op, s, d in zip(spatial_shape, kernel_size, output_padding, strides, dilation))
    if any(n == 0 for n in out):
        raise ValueError(
            f"{owner}: the output would be empty: spatial shape {out} for an input of spatial shape "
            f"{tuple(spatial_shape)} with kernel_size={tuple(kernel_size)}, padding={padding!r}, "
            f"output_padding={output_padding}. Use output_padding=None or padding='valid'."
        )
    return out


def conv_transpose_crops(input_length, kernel_size, stride, padding, output_padding, dilation):
    """(before, after): how much TensorFlow's transposed convolution drops at each end of the full output.

    The full output of a transposed convolution, every product scattered, has (W - 1) * S + K' positions. TensorFlow
    returns `deconv_output_length` of them starting at `before` (the leading padding of the convolution it is the
    gradient of: 0 for 'valid', half of max((W - 1) * S + K' - W_out, 0), rounded down, for 'same'). `after` is
    what is left at the end; a negative `after` means the output runs past the full one by that many zeros.
    For the 'same' cases TensorFlow refuses (even K' without output_padding), this is what Keras's other
    backends compute.
    """
    dilated = (kernel_size - 1) * dilation + 1
    full = (input_length - 1) * stride + dilated
    out = deconv_output_length(input_length, kernel_size, padding, output_padding, stride, dilation)
    before = 0 if padding == "valid" else max(full - out, 0) // 2
    return before, full - out - before
