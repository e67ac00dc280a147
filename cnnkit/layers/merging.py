"""Merge layers, called on a list of tensors: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate."""

import torch

from cnnkit.layers.base import Layer
from cnnkit.layers.base import register
from cnnkit.ops import layout


def _broadcast_shapes(shapes, owner):
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for dims in zip(*padded):
        known = {d for d in dims if d not in (None, 1)}
        if len(known) > 1:
            raise ValueError(f"{owner}: inputs with incompatible shapes {[tuple(s) for s in shapes]}.")
        out.append(known.pop() if known else (None if None in dims else 1))
    return tuple(out)


class Merge(Layer):
    """Base of the element-wise merges: checks the inputs are a list of >= 2 tensors with broadcastable shapes."""

    min_inputs = 2

    def _check_inputs(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(input_shape[0],
                                                                                          (list, tuple)):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) must be called on a list of tensors. "
                             f"Received input shape: {input_shape}")
        if len(input_shape) < self.min_inputs:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) needs at least {self.min_inputs} inputs. "
                             f"Received: {len(input_shape)}")

    def build(self, input_shape):
        self._check_inputs(input_shape)
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        return _broadcast_shapes(input_shape, f"Layer '{self.name}' ({type(self).__name__})")

    def call(self, inputs, training=False):
        out = inputs[0]
        for x in inputs[1:]:
            out = self.merge(out, x)
        return out


@register
class Add(Merge):
    """Element-wise sum of a list of tensors: `Add()([a, b])`."""

    def merge(self, a, b):
        return a + b


@register
class Subtract(Merge):
    """a - b for exactly two inputs."""

    def build(self, input_shape):
        super().build(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"Layer '{self.name}' (Subtract) needs exactly 2 inputs. Received: {len(input_shape)}")

    def merge(self, a, b):
        return a - b


@register
class Multiply(Merge):
    def merge(self, a, b):
        return a * b


@register
class Maximum(Merge):
    def merge(self, a, b):
        return torch.maximum(a, b)


@register
class Minimum(Merge):
    def merge(self, a, b):
        return torch.minimum(a, b)


@register
class Average(Merge):
    def call(self, inputs, training=False):
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out / len(inputs)


@register
class Concatenate(Merge):
    """Joins a list of tensors along `axis` (Keras layout, default -1: the channels).

    Example:
        >>> Concatenate()([np.zeros((2, 4, 4, 3)), np.zeros((2, 4, 4, 5))]).shape
        torch.Size([2, 4, 4, 8])
    """

    min_inputs = 1

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int):
            raise ValueError(f"Concatenate: axis must be an int. Received: axis={axis!r}")
        self.axis = axis

    def compute_output_shape(self, input_shape):
        self._check_inputs(input_shape)
        rank = len(input_shape[0])
        if any(len(s) != rank for s in input_shape) or not -rank <= self.axis < rank:
            raise ValueError(f"Layer '{self.name}' (Concatenate): inputs must have the same rank and axis={self.axis}"
                             f" must be valid. Received input shapes: {[tuple(s) for s in input_shape]}")
        axis = self.axis % rank
        out = list(input_shape[0])
        for i in range(rank):
            dims = [s[i] for s in input_shape]
            if i == axis:
                out[i] = None if None in dims else sum(dims)
            elif len({d for d in dims if d is not None}) > 1:
                raise ValueError(
                    f"Layer '{self.name}' (Concatenate) requires inputs with matching shapes except for the "
                    f"concatenation axis {self.axis}. Received input shapes: {[tuple(s) for s in input_shape]}"
                )
        return tuple(out)

    def call(self, inputs, training=False):
        return torch.cat(inputs, dim=layout.internal_axis(self.axis, inputs[0].dim()))

    def get_config(self):
        cfg = super().get_config()
        cfg["axis"] = self.axis
        return cfg
