"""Activation functions by Keras name: `get('relu')`, `serialize(fn)`, and each function itself.

Functions take and return torch tensors. Those with an `axis` (softmax, log_softmax) reduce over the Keras
channels axis: a layer that holds one passes the internal channel axis (1) for tensors of rank >= 3.
"""

import math

import torch
import torch.nn.functional as F

from cnnkit.ops.logits import attach_logits
from cnnkit.ops.sigmoid_tanh import tanh as _tanh_kernel
from cnnkit.registry import Registry

ACTIVATIONS = Registry("activation")


def _register(name, aliases=()):
    return lambda fn: ACTIVATIONS.register(name, fn, aliases)


@_register("linear")
def linear(x):
    return x


@_register("relu")
def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """max(x, 0); with Keras's optional negative_slope, max_value and threshold:
    x (at most max_value) where x > threshold, negative_slope * (x - threshold) elsewhere (0 at the threshold).
    Each combination runs torch's fused kernels where there is one (relu, leaky_relu, relu6, threshold)."""
    if threshold == 0.0:
        if negative_slope == 0.0:
            if max_value is None:
                return torch.relu(x)
            return F.relu6(x) if max_value == 6 else torch.clamp(x, 0.0, max_value)
        y = F.leaky_relu(x, negative_slope)
        return y if max_value is None else y.clamp(max=max_value)
    if negative_slope == 0.0:
        y = F.threshold(x, threshold, 0.0)  # x where x > threshold, else 0
        return y if max_value is None else y.clamp(max=max_value)
    above = x if max_value is None else x.clamp(max=max_value)
    return torch.where(x > threshold, above, negative_slope * (x - threshold))


@_register("relu6")
def relu6(x):
    return F.relu6(x)


@_register("sigmoid")
def sigmoid(x):
    """1 / (1 + exp(-x)), with `x` kept on the output as its logits (as Keras does: `binary_crossentropy` then
    computes from them, see `cnnkit.ops.logits`)."""
    return attach_logits(torch.sigmoid(x), x)


@_register("tanh")
def tanh(x):
    """tanh; on large float32 CPU tensors computed as 2 * sigmoid(2x) - 1, 3-4x faster than torch.tanh and within
    about 2e-7 of it (see `cnnkit.ops.sigmoid_tanh`)."""
    return _tanh_kernel(x)


@_register("softmax")
def softmax(x, axis=-1):
    """Softmax over `axis`: an int, or a tuple of ints (normalised together, as Keras does; computed as one softmax
    over those axes gathered last, which is a view for adjacent axes and twice as fast as exp(x - logsumexp)).
    Over one axis, `x` is kept on the output as its logits, as Keras does: the cross-entropies then compute from
    them (see `cnnkit.ops.logits`); over several, Keras keeps none either."""
    if isinstance(axis, (tuple, list)):
        if len(axis) > 1:
            axes = [a % x.dim() for a in axis]
            order = [d for d in range(x.dim()) if d not in axes] + axes
            moved = x.permute(order)
            kept = x.dim() - len(axes)
            flat = moved.reshape(*moved.shape[:kept], math.prod(moved.shape[kept:]))
            return torch.softmax(flat, dim=-1).reshape(moved.shape).permute(_inverse(order))
        axis = axis[0]
    return attach_logits(torch.softmax(x, dim=axis), x)


def _inverse(order):
    inverse = [0] * len(order)
    for position, dim in enumerate(order):
        inverse[dim] = position
    return inverse


@_register("log_softmax")
def log_softmax(x, axis=-1):
    return torch.log_softmax(x, dim=axis)


softmax.uses_axis = True
log_softmax.uses_axis = True


@_register("elu")
def elu(x, alpha=1.0):
    return F.elu(x, alpha)


@_register("selu")
def selu(x):
    return F.selu(x)


@_register("softplus")
def softplus(x):
    return F.softplus(x)


@_register("softsign")
def softsign(x):
    return F.softsign(x)


@_register("silu", aliases=("swish",))
def swish(x):
    return F.silu(x)


@_register("gelu")
def gelu(x, approximate=False):
    """Keras's default is the exact (erf) form; approximate=True is the tanh form."""
    return F.gelu(x, approximate="tanh" if approximate else "none")


@_register("leaky_relu")
def leaky_relu(x, negative_slope=0.2):
    """Keras's default slope is 0.2 (torch's is 0.01)."""
    return F.leaky_relu(x, negative_slope)


@_register("hard_sigmoid")
def hard_sigmoid(x):
    """Keras 3: relu6(x + 3) / 6, i.e. clip(x / 6 + 0.5, 0, 1)."""
    return F.hardsigmoid(x)


@_register("hard_silu", aliases=("hard_swish",))
def hard_swish(x):
    return F.hardswish(x)


@_register("exponential")
def exponential(x):
    return torch.exp(x)


@_register("mish")
def mish(x):
    return F.mish(x)


silu = swish
hard_silu = hard_swish


# Functions f with f(max(a, b)) == max(f(a), f(b)): max pooling may run before them.
MONOTONIC = frozenset({linear, relu, relu6, sigmoid, tanh, elu, selu, softplus, softsign, exponential,
                       leaky_relu, hard_sigmoid})


def get(identifier):
    """An activation function from a name, a callable, a {'class_name': ...} dict or None (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        identifier = identifier.get("config", {}).get("name", identifier.get("class_name"))
    if isinstance(identifier, str):
        return ACTIVATIONS.lookup(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation identifier: {identifier!r}. Expected a name or a callable.")


def serialize(fn):
    """The Keras name of an activation (a string), for get_config()."""
    name = ACTIVATIONS.name_of(fn)
    if name is None:
        name = getattr(fn, "__name__", None)
        if name not in ACTIVATIONS:
            raise ValueError(f"Cannot serialize activation {fn!r}: it is not a registered cnnkit activation.")
    return name


def apply(fn, x):
    """Applies `fn` to an internal-layout tensor (axis-aware functions reduce over the channel axis)."""
    if getattr(fn, "uses_axis", False) and x.dim() >= 3:
        return fn(x, axis=1)
    return fn(x)

