"""A cap on the weight bytes layers may allocate while a model is rebuilt from an untrusted config.

A model file's config can declare any layer size (Dense(units=10**9)); `load_model` opens a `limit(bytes)` scope
around the rebuild, and `Layer.add_weight` calls `spend` before it allocates, so that a config declaring more
weights than the scope allows is refused with a ValueError naming the layer and the weight, before any memory is
taken (instead of a MemoryError or the process being killed).

Example:
    >>> with limit(1 << 20):
    ...     Dense(10**6).build((None, 10))  # ValueError: 40,000,000 bytes, more than the 1,048,576 allowed
"""

import contextlib
import contextvars
import math
import os

_LEFT = contextvars.ContextVar("cnnkit_weight_budget", default=None)


def memory_bytes():
    """The machine's physical memory in bytes (None when the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


@contextlib.contextmanager
def limit(total_bytes, why=""):
    """Weights created inside may take `total_bytes` in all (nested scopes: the smaller budget applies).

    Args:
        total_bytes: the budget in bytes.
        why: what sets the limit, for the message ('half the machine's memory').
    """
    outer = _LEFT.get()
    budget = [total_bytes, total_bytes, why]
    if outer is not None and outer[0] < total_bytes:
        budget = outer
    token = _LEFT.set(budget)
    try:
        yield
    finally:
        _LEFT.reset(token)


def spend(layer, name, shape, itemsize):
    """Takes a weight's bytes from the open budget (if any); ValueError when they do not fit, before allocation."""
    budget = _LEFT.get()
    if budget is None:
        return
    try:
        size = math.prod(int(d) for d in shape) * itemsize
    except (TypeError, ValueError):
        return  # not a shape: the layer's own checks report it
    if size > budget[0]:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): weight '{name}' of shape {tuple(shape)} "
                         f"needs {size:,} bytes, which passes the {budget[1]:,} bytes allowed for the weights of a "
                         f"model read from a file ({budget[2]}); refused before allocation.")
    budget[0] -= size
