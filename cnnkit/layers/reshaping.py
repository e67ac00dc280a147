"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, ZeroPadding1D/2D/3D."""

import math

from cnnkit.layers.base import Layer
from cnnkit.layers.base import check_rank
from cnnkit.layers.base import register
from cnnkit.ops import layout
from cnnkit.ops import functional as nn
from cnnkit.ops.arguments import check_data_format
from cnnkit.ops.arguments import check_positive_int
from cnnkit.ops.arguments import is_int
from cnnkit.ops.arguments import normalize_pairs


@register
class Flatten(Layer):
    """Flattens all axes but the batch, in Keras (channels_last) order, so Dense weights port unchanged.

    Example:
        >>> Flatten()(np.zeros((2, 3, 3, 64))).shape
        torch.Size([2, 576])
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_data_format(data_format, "Flatten")

    def call(self, inputs, training=False):
        return nn.flatten(inputs)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def get_config(self):
        cfg = super().get_config()
        cfg["data_format"] = "channels_last"
        return cfg


@register
class Reshape(Layer):
    """Reshapes to `target_shape` (without the batch axis; one entry may be -1), in Keras layout.

    Example:
        >>> Reshape((7, 7, 16))(np.zeros((2, 784))).shape
        torch.Size([2, 7, 7, 16])
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target = (target_shape,) if is_int(target_shape) else tuple(target_shape)
        if not target or any(not is_int(d) or (d < 1 and d != -1) for d in target) or target.count(-1) > 1:
            raise ValueError(f"Reshape: target_shape must be a tuple of positive ints with at most one -1. "
                             f"Received: target_shape={target_shape!r}")
        self.target_shape = tuple(int(d) for d in target)

    def compute_output_shape(self, input_shape):
        known = input_shape[1:]
        target = list(self.target_shape)
        if None in known:
            return (input_shape[0], *[None if d == -1 else d for d in target])
        size = math.prod(known)
        fixed = math.prod(d for d in target if d != -1)
        if -1 in target:
            if size % fixed:
                raise ValueError(f"Layer '{self.name}' (Reshape): cannot reshape {tuple(input_shape)} into "
                                 f"{self.target_shape}.")
            target[target.index(-1)] = size // fixed
        elif fixed != size:
            raise ValueError(f"Layer '{self.name}' (Reshape): total size of the new shape {self.target_shape} "
                             f"({fixed}) must equal the input's ({size}, shape {tuple(input_shape)}).")
        return (input_shape[0], *target)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs, training=False):
        keras = layout.to_keras(inputs).reshape(inputs.shape[0], *self.target_shape)
        return layout.to_internal(keras)

    def get_config(self):
        cfg = super().get_config()
        cfg["target_shape"] = list(self.target_shape)
        return cfg


@register
class Permute(Layer):
    """Reorders the axes after the batch axis: output axis i is input axis dims[i - 1].

    Args:
        dims: a permutation of 1..rank-1 (Keras-layout axes, counted from 1, the batch axis excluded); e.g.
            (2, 1) swaps the two axes of a (batch, steps, features) input.

    Input shape:
        (batch, d_1, ..., d_n) with n = len(dims).

    Output shape:
        (batch, d_dims[0], ..., d_dims[n-1]).

    Note:
        `dims` are Keras-layout (channels_last) axes: for a (batch, height, width, channels) image, (3, 1, 2)
        makes the channels the first axis after the batch. The result is a view of the input (no copy).

    Example:
        >>> Permute((2, 1))(np.zeros((2, 10, 64))).shape
        torch.Size([2, 64, 10])
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            values = tuple(dims)
        except TypeError:
            values = None
        if (values is None or any(not is_int(d) for d in values)
                or sorted(values) != list(range(1, len(values) + 1)) or not values):
            raise ValueError(f"Permute: dims must be a permutation of 1..n (the axes after the batch axis, counted "
                             f"from 1), e.g. (2, 1). Received: dims={dims!r}")
        self.dims = tuple(int(d) for d in values)

    def build(self, input_shape):
        check_rank(self, input_shape, len(self.dims) + 1)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, len(self.dims) + 1)
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def call(self, inputs, training=False):
        return layout.to_internal(layout.to_keras(inputs).permute(0, *self.dims))

    def get_config(self):
        cfg = super().get_config()
        cfg["dims"] = list(self.dims)
        return cfg


@register
class RepeatVector(Layer):
    """Repeats a vector n times: (batch, features) -> (batch, n, features).

    Args:
        n: positive int, the number of repetitions.

    Input shape:
        (batch, features).

    Output shape:
        (batch, n, features).

    Note:
        The repetitions are materialised, contiguous in cnnkit's channels-first internal layout: a following
        Conv1D trained faster on that than on a broadcast view of the input (15 vs 23-32 ms forward + backward
        for (256, 128) inputs, n=16, Conv1D(64, 3), one CPU thread).

    Example:
        >>> RepeatVector(3)(np.zeros((2, 32))).shape
        torch.Size([2, 3, 32])
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = check_positive_int(n, "n", "RepeatVector")

    def build(self, input_shape):
        check_rank(self, input_shape, 2)

    def compute_output_shape(self, input_shape):
        check_rank(self, input_shape, 2)
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs, training=False):
        # Internal layout of a Keras (batch, n, features) tensor is (batch, features, n).
        return inputs.unsqueeze(-1).repeat(1, 1, self.n)

    def get_config(self):
        cfg = super().get_config()
        cfg["n"] = self.n
        return cfg


class BaseZeroPadding(Layer):
    """Adds rows/columns of zeros around the spatial axes.

    Args:
        rank: 1, 2 or 3.
        padding: int (same on every side), a tuple of `rank` ints (symmetric per axis), or a tuple of `rank`
            (before, after) pairs.
    """

    call_layout = "internal"  # cnnkit's own layer: computes on channels-first tensors

    resamples = True

    def __init__(self, rank, padding, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_data_format(data_format, type(self).__name__)
        self.rank = rank
        self.padding = normalize_pairs(padding, rank, "padding", type(self).__name__)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank + 2)

    def call(self, inputs, training=False):
        return nn.pad(inputs, self.padding)

    def compute_output_shape(self, input_shape):
        spatial = [None if n is None else n + a + b for n, (a, b) in zip(input_shape[1:-1], self.padding)]
        return (input_shape[0], *spatial, input_shape[-1])

    def get_config(self):
        cfg = super().get_config()
        cfg.update(padding=[list(p) for p in self.padding], data_format="channels_last")
        if self.rank == 1:
            cfg["padding"] = list(self.padding[0])
        return cfg


@register
class ZeroPadding1D(BaseZeroPadding):
    """Zeros before/after the steps axis of (batch, steps, channels); padding default 1."""

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(1, padding, data_format, **kwargs)


@register
class ZeroPadding2D(BaseZeroPadding):
    """Zeros around (batch, height, width, channels); padding default (1, 1).

    Example:
        >>> ZeroPadding2D(3)(np.zeros((1, 224, 224, 3))).shape
        torch.Size([1, 230, 230, 3])
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(2, padding, data_format, **kwargs)


@register
class ZeroPadding3D(BaseZeroPadding):
    """Zeros around (batch, depth, height, width, channels); padding default (1, 1, 1)."""

    def __init__(self, padding=(1, 1, 1), data_format=None, **kwargs):
        super().__init__(3, padding, data_format, **kwargs)
