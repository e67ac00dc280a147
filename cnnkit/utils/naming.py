"""Unique snake_case layer and model names, as Keras makes them: conv2d, conv2d_1, conv2d_2, ..."""

import re

_counts = {}


def to_snake_case(name):
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """'conv2d' the first time, then 'conv2d_1', 'conv2d_2', ..."""
    count = _counts.get(base, 0)
    _counts[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def clear_session():
    """Resets the name counters (Keras's `clear_session`): the next Conv2D is named 'conv2d' again."""
    _counts.clear()


def get_uid(prefix=""):
    """Keras's `keras.backend.get_uid`: 1 the first time for `prefix`, then 2, 3, ... (shares the counters of the
    automatic layer names: after one Conv2D, get_uid('conv2d') is 2)."""
    _counts[prefix] = _counts.get(prefix, 0) + 1
    return _counts[prefix]
