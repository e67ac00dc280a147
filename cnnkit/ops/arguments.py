"""Constructor-argument normalisation, done once in `__init__`: each function returns the value in one canonical
form (Python ints and floats, tuples) or raises a ValueError naming the class, the argument and the value received
(`Conv2D: strides must be a positive int or a tuple of 2 positive ints. Received: strides=0`). Numpy integers and
floats are accepted wherever Python ones are.
"""

import math
import numbers


def is_int(value):
    """A Python or numpy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value):
    """A finite Python or numpy real number, not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def as_tuple(value):
    try:
        return tuple(value)
    except TypeError:
        return None


def normalize_tuple(value, n, name, owner, allow_zero=False):
    """Turns an int or an iterable of n ints into a tuple of n positive ints, or raises ValueError.

    Example:
        >>> normalize_tuple(3, 2, "kernel_size", "Conv2D")
        (3, 3)
    """
    if isinstance(value, bool):
        values = None
    elif is_int(value):
        values = (value,) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            values = None
        if values is not None and (len(values) != n or not all(is_int(v) for v in values)):
            values = None
    lowest = 0 if allow_zero else 1
    if values is None or any(v < lowest for v in values):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(
            f"{owner}: {name} must be a {kind} int or a tuple of {n} {kind} ints. Received: {name}={value!r}"
        )
    return tuple(int(v) for v in values)


def normalize_padding(padding, owner, allowed=("valid", "same")):
    """Lower-cases and checks a padding name."""
    value = padding.lower() if isinstance(padding, str) else padding
    if value not in allowed:
        raise ValueError(
            f"{owner}: padding must be one of {', '.join(repr(a) for a in allowed)}. Received: padding={padding!r}"
        )
    return value


def normalize_pairs(value, rank, name, owner):
    """Turns Keras's padding/cropping forms into `rank` (before, after) pairs of non-negative ints.

    Accepted: an int (the same on every side), a tuple of `rank` ints (symmetric per axis), a tuple of `rank`
    (before, after) pairs (ints and pairs may be mixed) and, for rank 1, one (before, after) pair.

    Example:
        >>> normalize_pairs((1, (2, 3)), 2, "cropping", "Cropping2D")
        ((1, 1), (2, 3))
    """
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
    return tuple((int(a), int(b)) for a, b in pairs)


def check_positive_int(value, name, owner):
    """Returns `value` when it is a positive int (not a bool), else raises a ValueError naming `owner`."""
    if not is_int(value) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive int. Received: {name}={value!r}")
    return int(value)


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
    ok = is_real(value)
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


def check_epsilon(epsilon, owner):
    """`epsilon` as a float, or a ValueError naming `owner` unless it is a positive number."""
    if not is_real(epsilon) or not epsilon > 0:
        raise ValueError(f"{owner}: epsilon must be a positive number. Received: epsilon={epsilon!r}")
    return float(epsilon)


def check_seed(seed, owner):
    """Raises a ValueError unless `seed` is None or an int (Keras's seeds); returns it as a Python int."""
    if seed is None:
        return None
    if not is_int(seed):
        raise ValueError(f"{owner}: seed must be None or an int. Received: seed={seed!r}")
    return int(seed)


def normalize_axes(value, name, owner, low=None, allow_empty=False, keep_int=False):
    """An axis argument as Keras takes it: an int or a list/tuple of distinct ints (each >= `low` when given; empty
    only with `allow_empty`), returned as a list (an int stays an int with `keep_int`); anything else raises a
    ValueError naming `owner`, the argument and the value.

    Example:
        >>> normalize_axes((1, -1), "axis", "LayerNormalization")
        [1, -1]
    """
    if keep_int and is_int(value) and (low is None or value >= low):
        return int(value)
    values = (value,) if is_int(value) else (None if isinstance(value, str) else as_tuple(value))
    if values is None or (not values and not allow_empty) or len(set(values)) != len(values) or not all(
            is_int(v) and (low is None or v >= low) for v in values):
        kind = "distinct ints" if low is None else f"distinct ints >= {low}"
        raise ValueError(f"{owner}: {name} must be an int or a list of {kind}. Received: {name}={value!r}")
    return [int(v) for v in values]


def normalize_noise_shape(noise_shape, owner):
    """None, or a tuple of positive ints and Nones (None: the input's size on that axis), as Keras checks it."""
    if noise_shape is None:
        return None
    values = None if isinstance(noise_shape, str) else as_tuple(noise_shape)
    if values is None or not all(v is None or (is_int(v) and v > 0) for v in values):
        raise ValueError(f"{owner}: noise_shape must be a tuple of positive ints or None (one per input axis). "
                         f"Received: noise_shape={noise_shape!r}")
    return tuple(None if v is None else int(v) for v in values)


def check_broadcastable(shape, target, name, owner, received=None):
    """Raises a ValueError unless an array of `shape` broadcasts to `target` without growing it: no more axes,
    and each axis (aligned from the last) 1 or `target`'s size. The message shows `received` (the argument as
    given) when there is one, else `shape`."""
    if len(shape) > len(target) or any(s not in (1, t) for s, t in zip(reversed(shape), reversed(target))):
        got = f"{name}={received!r}" if received is not None else f"{name} of shape {tuple(shape)}"
        raise ValueError(f"{owner}: {name} must broadcast to the input (no more axes; each axis, aligned from the "
                         f"last, 1 or the input's size). Received: {got} for an input of shape {tuple(target)}")


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
