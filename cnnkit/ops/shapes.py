"""Output-size arithmetic and argument normalisation for convolutions and pooling (pure Python ints).

This is the one place the output-size formulas live; layers and the numpy ops call these functions.
"""

import math
import numbers

PADDINGS = ("valid", "same", "causal")


def normalize_tuple(value, n, name, owner, allow_zero=False):
    """Turns an int or an iterable of n ints into a tuple of n positive ints, or raises ValueError.

    Example:
        >>> normalize_tuple(3, 2, "kernel_size", "Conv2D")
        (3, 3)
    """
    if isinstance(value, bool):
        values = None
    elif isinstance(value, int):
        values = (value,) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            values = None
        if values is not None and (len(values) != n or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in values)):
            values = None
    lowest = 0 if allow_zero else 1
    if values is None or any(v < lowest for v in values):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(
            f"{owner}: {name} must be a {kind} int or a tuple of {n} {kind} ints. Received: {name}={value!r}"
        )
    return values


def check_data_format(data_format, owner):
    """Raises a ValueError unless `data_format` is None or 'channels_last' (cnnkit's layers are channels_last)."""
    if data_format not in (None, "channels_last"):
        raise ValueError(
            f"{owner}: cnnkit's API is channels_last: data_format must be None or 'channels_last'. "
            f"Received: data_format={data_format!r}"
        )


def check_unsupported(owner, **options):
    """Raises NotImplementedError naming each option of `options` that is not None (Keras options cnnkit lacks)."""
    for name, value in options.items():
        if value is not None:
            raise NotImplementedError(f"{owner}: {name} is not supported by cnnkit yet. Received: {name}={value!r}")


def normalize_float(value, name, owner, low=None, high=None, high_open=False, allow_none=False):
    """Checks that `value` is a finite real number (Python or numpy, not a bool) in a range; returns a float.

    Args:
        value: the argument received.
        name, owner: the argument and the class, for the error message.
        low: the smallest value allowed (None: no bound).
        high: the bound above (None: none); included unless `high_open`.
        allow_none: None is accepted (and returned).

    Example:
        >>> normalize_float(0.5, "rate", "Dropout", low=0.0, high=1.0, high_open=True)
        0.5
    """
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low is None or value >= low) and (high is None or value < high or (value == high and not high_open))
    if not ok:
        if low is not None and high is not None:
            kind = f"a float in [{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            kind = f"a finite float >= {low:g}"
        else:
            kind = "a finite float"
        raise ValueError(f"{owner}: {name} must be {'None or ' if allow_none else ''}{kind}. "
                         f"Received: {name}={value!r}")
    return float(value)


def check_seed(seed, owner):
    """Raises a ValueError unless `seed` is None or an int (Keras's seeds); returns it as a Python int."""
    if seed is None:
        return None
    if not _is_int(seed):
        raise ValueError(f"{owner}: seed must be None or an int. Received: seed={seed!r}")
    return int(seed)


def normalize_noise_shape(noise_shape, owner):
    """None, or a tuple of positive ints and Nones (None: the input's size on that axis), as Keras checks it."""
    if noise_shape is None:
        return None
    values = None if isinstance(noise_shape, str) else _as_tuple(noise_shape)
    if values is None or not all(v is None or (_is_int(v) and v > 0) for v in values):
        raise ValueError(f"{owner}: noise_shape must be a tuple of positive ints or None (one per input axis). "
                         f"Received: noise_shape={noise_shape!r}")
    return tuple(None if v is None else int(v) for v in values)


def normalize_axes(value, name, owner, low=None, allow_empty=False, keep_int=False):
    """An axis argument as Keras takes it: an int or a list/tuple of distinct ints (each >= `low` when given; empty
    only with `allow_empty`), returned as a list (an int stays an int with `keep_int`); anything else raises a
    ValueError naming `owner`, the argument and the value.

    Example:
        >>> normalize_axes((1, -1), "axis", "LayerNormalization")
        [1, -1]
    """
    if keep_int and _is_int(value) and (low is None or value >= low):
        return int(value)
    values = (value,) if _is_int(value) else (None if isinstance(value, str) else _as_tuple(value))
    if values is None or (not values and not allow_empty) or len(set(values)) != len(values) or not all(
            _is_int(v) and (low is None or v >= low) for v in values):
        kind = "distinct ints" if low is None else f"distinct ints >= {low}"
        raise ValueError(f"{owner}: {name} must be an int or a list of {kind}. Received: {name}={value!r}")
    return [int(v) for v in values]


def check_broadcastable(shape, target, name, owner, received=None):
    """Raises a ValueError unless an array of `shape` broadcasts to `target` without growing it: no more axes,
    and each axis (aligned from the last) 1 or `target`'s size. The message shows `received` (the argument as
    given) when there is one, else `shape`."""
    if len(shape) > len(target) or any(s not in (1, t) for s, t in zip(reversed(shape), reversed(target))):
        got = f"{name}={received!r}" if received is not None else f"{name} of shape {tuple(shape)}"
        raise ValueError(f"{owner}: {name} must broadcast to the input (no more axes; each axis, aligned from the "
                         f"last, 1 or the input's size). Received: {got} for an input of shape {tuple(target)}")


def _is_int(value):
    """A Python or numpy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _as_tuple(value):
    try:
        return tuple(value)
    except TypeError:
        return None
def check_epsilon(epsilon, owner):
    """`epsilon` as a float, or a ValueError naming `owner` unless it is a positive number."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
        raise ValueError(f"{owner}: epsilon must be a positive number. Received: epsilon={epsilon!r}")
    return float(epsilon)


def normalize_padding(padding, owner, allowed=("valid", "same")):
    """Lower-cases and checks a padding name."""
    value = padding.lower() if isinstance(padding, str) else padding
    if value not in allowed:
        raise ValueError(
            f"{owner}: padding must be one of {', '.join(repr(a) for a in allowed)}. Received: padding={padding!r}"
        )
    return value


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


def normalize_pairs(value, rank, name, owner):
    """Turns Keras's padding/cropping forms into `rank` (before, after) pairs of non-negative ints.

    Accepted: an int (the same on every side), a tuple of `rank` ints (symmetric per axis), a tuple of `rank`
    (before, after) pairs (ints and pairs may be mixed) and, for rank 1, one (before, after) pair.

    Example:
        >>> normalize_pairs((1, (2, 3)), 2, "cropping", "Cropping2D")
        ((1, 1), (2, 3))
    """
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    error = ValueError(f"{owner}: {name} must be a non-negative int, a tuple of {rank} non-negative ints, or a "
                       f"tuple of {rank} (before, after) pairs of them. Received: {name}={value!r}")
    if is_int(value):
        pairs = ((value, value),) * rank
    else:
        try:
            items = tuple(value)
        except TypeError:
            raise error from None
        if rank == 1 and len(items) == 2 and all(is_int(v) for v in items):
            items = (items,)
        if len(items) != rank:
            raise error
        try:
            pairs = tuple((p, p) if is_int(p) else tuple(p) for p in items)
        except TypeError:
            raise error from None
    if any(len(p) != 2 or not all(is_int(v) and v >= 0 for v in p) for p in pairs):
        raise error
    return pairs


def check_positive_int(value, name, owner):
    """Returns `value` when it is a positive int (not a bool), else raises a ValueError naming `owner`."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive int. Received: {name}={value!r}")
    return value


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


def normalize_output_padding(output_padding, strides, owner):
    """None, or a tuple of non-negative ints each strictly smaller than the stride on its axis (Keras's rule)."""
    if output_padding is None:
        return None
    values = normalize_tuple(output_padding, len(strides), "output_padding", owner, allow_zero=True)
    for axis, (op, s) in enumerate(zip(values, strides)):
        if op >= s:
            raise ValueError(
                f"{owner}: output_padding must be strictly less than strides on every axis; on axis {axis} it is "
                f"{op} with strides={tuple(strides)}. Received: output_padding={output_padding!r}"
            )
    return values


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
