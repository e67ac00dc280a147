"""Keras 3's shape, joining, splitting and indexing ops (`keras.ops.numpy` and `keras.ops.core`) on torch.

Example:
    >>> concatenate([np.ones((2, 3)), np.zeros((2, 1))], axis=-1).shape
    torch.Size([2, 4])
"""

import numpy as np
import torch

from cnnkit.ops.dispatch import keras_op
from cnnkit.ops.dispatch import not_implemented
from cnnkit.ops.dispatch import operands
from cnnkit.ops.dispatch import tensor
from cnnkit.ops.keras_dtypes import result_type


def _shape(shape):
    return tuple(int(s) for s in (shape if isinstance(shape, (list, tuple, torch.Size)) else [shape]))


def _joined(xs):
    return operands(*xs, dtype=result_type(*xs))


@keras_op("reshape")
def reshape(x, newshape):
    return torch.reshape(tensor(x), _shape(newshape))


@keras_op("transpose")
def transpose(x, axes=None):
    x = tensor(x)
    return x.permute(*(reversed(range(x.dim())) if axes is None else axes))


@keras_op("expand_dims")
def expand_dims(x, axis):
    x = tensor(x)
    dims = [axis] if isinstance(axis, int) else list(axis)
    rank = x.dim() + len(dims)
    for d in sorted(d % rank for d in dims):
        x = x.unsqueeze(d)
    return x


@keras_op("squeeze")
def squeeze(x, axis=None):
    x = tensor(x)
    if axis is None:
        return torch.squeeze(x)
    dims = (axis,) if isinstance(axis, int) else tuple(axis)
    for d in dims:
        if x.shape[d] != 1:
            raise ValueError(f"Cannot squeeze axis {d}, because the dimension is not 1. Received: "
                             f"x.shape={tuple(x.shape)}")
    return torch.squeeze(x, dim=dims)


@keras_op("ravel")
def ravel(x):
    return torch.reshape(tensor(x), (-1,))


@keras_op("moveaxis")
def moveaxis(x, source, destination):
    return torch.movedim(tensor(x), source, destination)


@keras_op("swapaxes")
def swapaxes(x, axis1, axis2):
    return torch.swapaxes(tensor(x), axis1, axis2)


@keras_op("broadcast_to")
def broadcast_to(x, shape):
    return torch.broadcast_to(tensor(x), _shape(shape))


@keras_op("concatenate")
def concatenate(xs, axis=0):
    xs = _joined(xs)
    if axis is None:
        return torch.cat([x.reshape(-1) for x in xs])
    return torch.cat(xs, dim=axis)


@keras_op("append")
def append(x1, x2, axis=None):
    return concatenate([x1, x2], axis=axis)


@keras_op("stack")
def stack(x, axis=0):
    return torch.stack(_joined(x), dim=axis)


@keras_op("hstack")
def hstack(xs):
    return torch.hstack(_joined(xs))


@keras_op("vstack")
def vstack(xs):
    return torch.vstack(_joined(xs))


@keras_op("dstack")
def dstack(xs):
    return torch.dstack(_joined(xs))


def _split(x, indices_or_sections, axis, even):
    x = tensor(x)
    if isinstance(indices_or_sections, int):
        if even and x.shape[axis] % indices_or_sections:
            raise ValueError(f"array split does not result in an equal division: {x.shape[axis]} into "
                             f"{indices_or_sections} sections (axis={axis}).")
        return list(torch.tensor_split(x, indices_or_sections, dim=axis))
    return list(torch.tensor_split(x, [int(i) for i in indices_or_sections], dim=axis))


@keras_op("split")
def split(x, indices_or_sections, axis=0):
    return _split(x, indices_or_sections, axis, even=True)


@keras_op("array_split")
def array_split(x, indices_or_sections, axis=0):
    return _split(x, indices_or_sections, axis, even=False)


@keras_op("hsplit")
def hsplit(x, indices_or_sections):
    x = tensor(x)
    return _split(x, indices_or_sections, 1 if x.dim() > 1 else 0, even=True)


@keras_op("vsplit")
def vsplit(x, indices_or_sections):
    return _split(x, indices_or_sections, 0, even=True)


@keras_op("dsplit")
def dsplit(x, indices_or_sections):
    return _split(x, indices_or_sections, 2, even=True)


@keras_op("unstack")
def unstack(x, num=None, axis=0):
    return list(torch.unbind(tensor(x), dim=axis))


@keras_op("tile")
def tile(x, repeats):
    return torch.tile(tensor(x), _shape(repeats))


@keras_op("repeat")
def repeat(x, repeats, axis=None):
    x = tensor(x)
    reps = repeats if isinstance(repeats, int) else tensor(repeats, device=x.device).to(torch.int64)
    if axis is None:
        return torch.repeat_interleave(x.reshape(-1), reps)
    return torch.repeat_interleave(x, reps, dim=axis)


@keras_op("flip")
def flip(x, axis=None):
    x = tensor(x)
    return torch.flip(x, dims=tuple(range(x.dim())) if axis is None else _shape(axis))


@keras_op("fliplr")
def fliplr(x):
    return torch.fliplr(tensor(x))


@keras_op("flipud")
def flipud(x):
    return torch.flipud(tensor(x))


@keras_op("roll")
def roll(x, shift, axis=None):
    x = tensor(x)
    if axis is None:
        return torch.roll(x.reshape(-1), shift).reshape(x.shape)
    return torch.roll(x, shift, dims=axis)


@keras_op("rot90")
def rot90(array, k=1, axes=(0, 1)):
    return torch.rot90(tensor(array), k, dims=list(axes))


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "symmetric": None, "edge": "replicate",
              "wrap": "circular", "maximum": None, "minimum": None, "mean": None, "median": None}


@keras_op("pad")
def pad(x, pad_width, mode="constant", constant_values=None):
    x = tensor(x)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64).reshape(-1, 2) if np.ndim(pad_width) else
                             np.asarray([[pad_width, pad_width]]), (x.dim(), 2))
    if mode not in _PAD_MODES:
        raise ValueError(f"`mode` must be one of {list(_PAD_MODES)}. Received: mode={mode}")
    if constant_values is not None and mode != "constant":
        raise ValueError("Argument `constant_values` can only be provided when `mode == 'constant'`. "
                         f"Received: mode={mode}")
    if mode == "constant":
        flat = [int(v) for pair in reversed(widths.tolist()) for v in pair]
        return torch.nn.functional.pad(x, flat, value=0 if constant_values is None else constant_values)
    if mode == "symmetric":
        return tensor(np.pad(x.detach().cpu().numpy(), widths, mode="symmetric")) if not x.requires_grad else \
            not_implemented("pad", "mode='symmetric' with gradients")
    if _PAD_MODES[mode] is None:
        not_implemented("pad", f"mode={mode!r}")
    # torch pads the last (rank - 2) axes of a batched input in these modes: pad axis by axis.
    for axis in range(x.dim()):
        before, after = (int(v) for v in widths[axis])
        if before or after:
            moved = x.movedim(axis, -1).reshape(1, -1, x.shape[axis])
            moved = torch.nn.functional.pad(moved.float() if not moved.is_floating_point() else moved,
                                            [before, after], mode=_PAD_MODES[mode]).to(x.dtype)
            shape = list(x.movedim(axis, -1).shape[:-1]) + [moved.shape[-1]]
            x = moved.reshape(shape).movedim(-1, axis)
    return x


@keras_op("take")
def take(x, indices, axis=None):
    x = tensor(x)
    idx = tensor(indices, device=x.device).to(torch.int64)
    if axis is None:
        x, axis = x.reshape(-1), 0
    size = x.shape[axis]
    idx = torch.where(idx < 0, idx + size, idx)
    out = torch.index_select(x, axis, idx.reshape(-1))
    return out.reshape(*x.shape[:axis % x.dim()], *idx.shape, *x.shape[axis % x.dim() + 1:])


@keras_op("take_along_axis")
def take_along_axis(x, indices, axis=None):
    x = tensor(x)
    idx = tensor(indices, device=x.device).to(torch.int64)
    if axis is None:
        x, axis = x.reshape(-1), 0
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    shape = list(torch.broadcast_shapes(tuple(s for i, s in enumerate(x.shape) if i != axis % x.dim()),
                                        tuple(s for i, s in enumerate(idx.shape) if i != axis % x.dim())))
    x_shape, i_shape = list(shape), list(shape)
    x_shape.insert(axis % x.dim(), x.shape[axis])
    i_shape.insert(axis % x.dim(), idx.shape[axis])
    return torch.gather(x.broadcast_to(x_shape), axis, idx.broadcast_to(i_shape))


@keras_op("where")
def where(condition, x1=None, x2=None):
    condition = tensor(condition).bool()
    if x1 is None and x2 is None:
        return nonzero(condition)
    if x1 is None or x2 is None:
        raise ValueError("`x1` and `x2` either both should be `None` or both should have non-None value.")
    a, b = operands(x1, x2)
    return torch.where(condition.to(a.device), a, b)


@keras_op("nonzero")
def nonzero(x):
    return tuple(i.to(torch.int32) for i in torch.nonzero(tensor(x), as_tuple=True))


@keras_op("select")
def select(condlist, choicelist, default=0):
    choices = _joined(list(choicelist) + [default])
    out = choices[-1]
    for cond, choice in reversed(list(zip(condlist, choices[:-1]))):
        out = torch.where(tensor(cond).bool(), choice, out)
    return out


@keras_op("get_item")
def get_item(x, key):
    return tensor(x)[key]


@keras_op("slice")
def slice_(inputs, start_indices, shape):
    x = tensor(inputs)
    index = tuple(slice(int(s), int(s) + int(n)) for s, n in zip(start_indices, shape))
    return x[index]


@keras_op("slice_update")
def slice_update(inputs, start_indices, updates):
    x = tensor(inputs)
    u = tensor(updates, device=x.device).to(x.dtype)
    index = tuple(slice(int(s), int(s) + n) for s, n in zip(start_indices, u.shape))
    out = x.clone()
    out[index] = u
    return out


@keras_op("diag")
def diag(x, k=0):
    return torch.diag(tensor(x), k)


@keras_op("diagflat")
def diagflat(x, k=0):
    return torch.diagflat(tensor(x), k)


@keras_op("diagonal")
def diagonal(x, offset=0, axis1=0, axis2=1):
    return torch.diagonal(tensor(x), offset, axis1, axis2)


@keras_op("trace")
def trace(x, offset=0, axis1=0, axis2=1):
    x = tensor(x)
    out = torch.diagonal(x, offset, axis1, axis2).sum(-1)
    return out.to(torch.int32) if x.dtype in (torch.bool, torch.int8, torch.int16) else out


@keras_op("tril")
def tril(x, k=0):
    return torch.tril(tensor(x), k)


@keras_op("triu")
def triu(x, k=0):
    return torch.triu(tensor(x), k)


@keras_op("diff")
def diff(a, n=1, axis=-1):
    return torch.diff(tensor(a), n=n, dim=axis)


@keras_op("size")
def size(x):
    return torch.tensor(tensor(x).numel(), dtype=torch.int32)


@keras_op("ndim")
def ndim(x):
    return int(tensor(x).dim())


@keras_op("unique")
def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,  # noqa: A002
           axis=None, size=None, fill_value=None):
    if return_index:
        not_implemented("unique", "return_index=True")
    out = torch.unique(tensor(x), sorted=True, return_inverse=return_inverse, return_counts=return_counts, dim=axis)
    return out


@keras_op("unravel_index")
def unravel_index(indices, shape):
    return tuple(i.to(torch.int32) for i in torch.unravel_index(tensor(indices).to(torch.int64), _shape(shape)))


@keras_op("isin")
def isin(x1, x2, assume_unique=False, invert=False):
    a, b = operands(x1, x2)
    return torch.isin(a, b, assume_unique=assume_unique, invert=invert)


@keras_op("meshgrid")
def meshgrid(*x, indexing="xy"):
    return list(torch.meshgrid(*_joined(x), indexing=indexing))


@keras_op("view")
def view(x, dtype=None):
    from cnnkit.ops.keras_dtypes import to_torch_dtype  # noqa: PLC0415

    x = tensor(x)
    return x if dtype is None else x.view(to_torch_dtype(dtype))
