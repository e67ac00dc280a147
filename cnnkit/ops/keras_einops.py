"""Keras 3's `keras.ops.rearrange` (einops-style axis rearrangement, keras/src/ops/einops.py) on torch: decompose
grouped input axes, permute, regroup, as reshape / permute / reshape.

Example:
    >>> rearrange(np.zeros((2, 4, 6, 3)), "b (h1 h) (w1 w) c -> (b h1 w1) h w c", h1=2, w1=2).shape
    torch.Size([8, 2, 3, 3])
"""

import math
import re

import torch

from cnnkit.ops.dispatch import keras_op
from cnnkit.ops.dispatch import tensor as to_tensor

_AXIS = r"\w+|\(.*?\)"


def _groups(axes):
    return [re.match(r"\(([\w\s]+)\)", a).group(1).split() if a.startswith("(") else [a] for a in axes]


def _axes_map(input_axes, shape, lengths):
    sizes = {}
    for group, dim in zip(_groups(input_axes), shape):
        if len(group) == 1 and group[0] not in lengths:
            sizes[group[0]] = int(dim)
            continue
        unknown = [a for a in group if a not in lengths]
        known = math.prod(lengths[a] for a in group if a in lengths)
        for axis in group:
            sizes[axis] = lengths[axis] if axis in lengths else int(dim) // known
        if len(unknown) > 1:
            raise ValueError(f"rearrange: cannot infer the sizes of {unknown} in one group.")
    return sizes


@keras_op("rearrange")
def rearrange(tensor, pattern, **axes_lengths):
    """Rearranges the axes of `tensor` as einops' `rearrange` (Keras's subset: grouping, decomposition, permutation)."""
    x = to_tensor(tensor)
    input_pattern, output_pattern = re.split(r"\s*->\s*", pattern)
    input_axes, output_axes = re.findall(_AXIS, input_pattern), re.findall(_AXIS, output_pattern)
    if len(input_axes) != x.dim():
        raise ValueError(f"rearrange: the pattern {pattern!r} names {len(input_axes)} input axes; the tensor has "
                         f"{x.dim()} (shape {tuple(x.shape)}).")
    sizes = _axes_map(input_axes, x.shape, dict(axes_lengths))
    flat_input = [a for group in _groups(input_axes) for a in group]
    out_groups = _groups(output_axes)
    x = x.reshape([sizes[a] for a in flat_input])
    x = x.permute([flat_input.index(a) for group in out_groups for a in group])
    return torch.reshape(x, [math.prod(sizes[a] for a in group) for group in out_groups])
