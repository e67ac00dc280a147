"""Merge layers, called on a list of tensors: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot;
and Keras's functional forms (`add([a, b])`, ..., `concatenate`, `dot`), which create the layer and call it."""

import torch

from cnnkit import config
from cnnkit.layers.base import Layer
from cnnkit.layers.base import register
from cnnkit.ops import layout
from cnnkit.ops import functional as nn
from cnnkit.ops import normalization
from cnnkit.ops.arguments import is_int


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

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    min_inputs = 2

    def _check_inputs(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(input_shape[0],
                                                                                          (list, tuple)):
            raise ValueError(f"{self._owner()} must be called on a list of tensors. "
                             f"Received input shape: {input_shape}")
        if len(input_shape) < self.min_inputs:
            raise ValueError(f"{self._owner()} needs at least {self.min_inputs} inputs. "
                             f"Received: {len(input_shape)}")

    def build(self, input_shape):
        self._check_inputs(input_shape)
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        return _broadcast_shapes(input_shape, self._owner())

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
        if not is_int(axis):
            raise ValueError(f"Concatenate: axis must be an int. Received: axis={axis!r}")
        self.axis = int(axis)

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


@register
class Dot(Merge):
    """Dot product of two tensors along one axis of each, sample by sample (Keras's `batch_dot`).

    Args:
        axes: an int (the same axis of both inputs) or a pair (axis of the first input, axis of the second), in
            Keras layout (channels last); negative axes count from the end. The batch axis 0 cannot be used, and
            the two axes must have the same size.
        normalize: L2-normalise both inputs along their axis first, so that the output is the cosine similarity
            (default False).

    Input shape:
        A list of two tensors of rank >= 2 with the same batch size, e.g. (batch, n, d) and (batch, m, d).

    Output shape:
        The first input's shape without its axis, then the second's without the batch axis and its axis, e.g.
        (batch, n, m) for axes=2; (batch, 1) when both inputs are (batch, d).

    Note:
        Axes are Keras-layout axes: for (batch, height, width, channels) images axis -1 (or 3) is the channels,
        although cnnkit keeps them channels-first internally.

    Example:
        >>> Dot(axes=1)([np.ones((2, 3)), np.ones((2, 3))])
        tensor([[3.],
                [3.]])
    """

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        pair = isinstance(axes, (list, tuple)) and len(axes) == 2 and all(is_int(a) for a in axes)
        if not (is_int(axes) or pair):
            raise ValueError(f"Dot: axes must be an int or a pair of ints. Received: axes={axes!r}")
        if 0 in ((axes,) if is_int(axes) else tuple(axes)):
            raise ValueError(f"Dot: axes cannot include the batch axis 0. Received: axes={axes!r}")
        if not isinstance(normalize, bool):
            raise ValueError(f"Dot: normalize must be True or False. Received: normalize={normalize!r}")
        self.axes = axes if is_int(axes) else tuple(axes)
        self.normalize = normalize

    def _resolved_axes(self, rank1, rank2):
        axes = (self.axes, self.axes) if is_int(self.axes) else self.axes
        return axes[0] % rank1 if axes[0] < 0 else axes[0], axes[1] % rank2 if axes[1] < 0 else axes[1]

    def compute_output_shape(self, input_shape):
        self._check_inputs(input_shape)
        owner = f"Layer '{self.name}' (Dot)"
        if len(input_shape) != 2:
            raise ValueError(f"{owner} needs exactly 2 inputs. Received: {len(input_shape)}")
        shape1, shape2 = (tuple(s) for s in input_shape)
        if len(shape1) < 2 or len(shape2) < 2:
            raise ValueError(f"{owner} needs inputs of rank >= 2. Received input shapes: {[shape1, shape2]}")
        a0, a1 = self._resolved_axes(len(shape1), len(shape2))
        if not (1 <= a0 < len(shape1) and 1 <= a1 < len(shape2)):
            raise ValueError(f"{owner}: axes={self.axes!r} do not fit the input shapes {[shape1, shape2]} (axis 0, "
                             "the batch, cannot be used).")
        for d1, d2, what in ((shape1[a0], shape2[a1], f"axis values (at axes {a0} and {a1})"),
                             (shape1[0], shape2[0], "batch sizes")):
            if d1 is not None and d2 is not None and d1 != d2:
                raise ValueError(f"{owner}: incompatible input shapes: {what} {d1} != {d2}. Full input shapes: "
                                 f"{shape1}, {shape2}")
        out = shape1[:a0] + shape1[a0 + 1:] + shape2[1:a1] + shape2[a1 + 1:]
        return out + (1,) if len(out) == 1 else out

    def call(self, inputs, training=False):
        x, y = (layout.to_keras(t) for t in inputs)
        a0, a1 = self._resolved_axes(x.dim(), y.dim())
        if self.normalize:
            epsilon = config.epsilon()
            x, y = normalization.l2_normalize(x, a0, epsilon), normalization.l2_normalize(y, a1, epsilon)
        return layout.to_internal(nn.batch_dot(x, y, (a0, a1)))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(axes=self.axes if is_int(self.axes) else list(self.axes), normalize=self.normalize)
        return cfg


# ---- functional forms (keras.layers.add, ...): create the layer and call it on `inputs` -------------------------


def add(inputs, **kwargs):
    """`Add(**kwargs)(inputs)`: the element-wise sum of a list of tensors (symbolic or data)."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """`Subtract(**kwargs)(inputs)`: inputs[0] - inputs[1]."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """`Multiply(**kwargs)(inputs)`: the element-wise product of a list of tensors."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """`Average(**kwargs)(inputs)`: the element-wise mean of a list of tensors."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """`Maximum(**kwargs)(inputs)`: the element-wise maximum of a list of tensors."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """`Minimum(**kwargs)(inputs)`: the element-wise minimum of a list of tensors."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """`Concatenate(axis=axis, **kwargs)(inputs)`: joins a list of tensors along `axis` (Keras layout)."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """`Dot(axes=axes, normalize=normalize, **kwargs)(inputs)`: the dot product of two tensors along `axes`.

    Example:
        >>> dot([np.ones((2, 3)), np.ones((2, 3))], axes=1).shape
        torch.Size([2, 1])
    """
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
