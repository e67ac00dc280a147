"""Keras 3's affine and perspective warps (`keras.ops.image.affine_transform`, `perspective_transform` and the
torch backend's `map_coordinates` sampling) on channels_last torch batches (N, H, W, C); re-exported by
`cnnkit.ops.image_math`.

The semantics are the torch backend's (Keras 3.15): pixel indices outside the image are mapped by the fill mode
one by one, and 'nearest' rounds halves to even. Keras on TensorFlow agrees except for fill_mode 'wrap' at
fractional positions and for positions exactly half-way between pixels with 'nearest'.

Example:
    >>> shift = torch.tensor([1.0, 0, -1, 0, 1, 0, 0, 0])    # x' = x - 1: one column to the right
    >>> affine_transform(torch.ones(2, 4, 4, 3), shift, fill_mode="constant")[0, 0, :, 0]
    tensor([0., 1., 1., 1.])
"""

import numpy as np
import torch
import torch.nn.functional as F

from cnnkit.registry import did_you_mean

WARP_INTERPOLATIONS = ("nearest", "bilinear")
WARP_FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0.0):
    """Keras 3's `keras.ops.image.affine_transform` on channels_last torch images, batched.

    Output pixel (x, y) takes the input at x' = (a0 x + a1 y + a2) / k, y' = (b0 x + b1 y + b2) / k with
    k = c0 x + c1 y + 1 (x the column, y the row), sampled as the torch backend's `map_coordinates` does (see
    `sample`). Keras's layers use c0 = c1 = 0, where TensorFlow and torch agree on the formula.

    Args:
        images: (N, H, W, C) or (H, W, C) floating tensor.
        transform: (N, 8) or (8,) rows [a0, a1, a2, b0, b1, b2, c0, c1] (tensor or array).
        interpolation: 'nearest' or 'bilinear'.
        fill_mode: 'constant', 'nearest', 'wrap', 'mirror' or 'reflect' (points outside the image).
        fill_value: the value outside the image for fill_mode 'constant'.

    Returns:
        A tensor shaped like `images`.

    Example:
        >>> shift = torch.tensor([1.0, 0, -1, 0, 1, 0, 0, 0])    # x' = x - 1: one column to the right
        >>> affine_transform(torch.ones(2, 4, 4, 3), shift)[0, 0, :, 0]
        tensor([0., 1., 1., 1.])
    """
    images, batched = _warp_images(images, "affine_transform")
    transform = _per_image_rows(transform, images, 8, "transform", "affine_transform")
    n, height, width, _ = images.shape
    y, x = _pixel_grid(height, width, transform)
    a0, a1, a2, b0, b1, b2, c0, c1 = (transform[:, i].view(n, 1, 1) for i in range(8))
    k = c0 * x + c1 * y + 1.0
    out = sample(images, (a0 * x + a1 * y + a2) / k, (b0 * x + b1 * y + b2) / k, interpolation, fill_mode,
                 fill_value)
    return out if batched else out[0]


def affine_warp(images, rows, interpolation="bilinear", fill_mode="constant", fill_value=0.0):
    """`affine_transform` for purely affine rows (c0 = c1 = 0, as Keras's augmentation layers build them), given
    as (N, 6) or (6,) [a0, a1, a2, b0, b1, b2] (a numpy array or tensor), on a channels_last batch (N, H, W, C).

    With interpolation 'bilinear' and a fill mode grid_sample has (all but 'wrap'), the sampling grid is built
    directly in grid_sample's normalised coordinates, from per-image column and row terms computed on the host
    (float64, a few numbers per image) and one full-size add, instead of pixel positions normalised afterwards:
    the same positions up to float rounding, as close to exact (float64) sampling as `affine_transform`'s. Other
    cases run `affine_transform` on the same rows.

    Example:
        >>> shift = np.array([[1.0, 0, -1, 0, 1, 0]])          # x' = x - 1: one column to the right
        >>> affine_warp(torch.ones(1, 4, 4, 3), shift)[0, 0, :, 0]
        tensor([0., 1., 1., 1.])
    """
    n, height, width, _ = images.shape
    if isinstance(rows, torch.Tensor):
        rows = rows.detach().cpu().numpy()
    rows = np.broadcast_to(np.asarray(rows).reshape(-1, 6), (n, 6))
    if not _grid_sampleable(images, interpolation, fill_mode):
        dtype = torch.promote_types(images.dtype, torch.float32)
        full = np.concatenate([rows, np.zeros((n, 2), rows.dtype)], axis=1)
        return affine_transform(images, torch.as_tensor(full, dtype=dtype, device=images.device), interpolation,
                                fill_mode, fill_value)
    _, align_corners = _GRID_SAMPLE_PADDING[fill_mode]
    matrix = rows.astype(np.float64).reshape(n, 2, 3)                 # [[a0, a1, a2], [b0, b1, b2]]
    if align_corners:                                                  # g = 2 p / (size - 1) - 1
        scale, offset = np.array([2.0 / (width - 1), 2.0 / (height - 1)]), np.array([-1.0, -1.0])
    else:                                                              # g = (2 p + 1) / size - 1
        scale = np.array([2.0 / width, 2.0 / height])
        offset = np.array([1.0 / width - 1.0, 1.0 / height - 1.0])
    coefficients = matrix * scale.reshape(1, 2, 1)                     # (N, 2, 3): (gx, gy) per x, y and 1
    along_x = coefficients[:, :, 0:1] * np.arange(width)                                    # (N, 2, W)
    along_y = coefficients[:, :, 1:2] * np.arange(height) + (coefficients[:, :, 2] + offset)[:, :, None]
    as_tensor = lambda a: torch.as_tensor(a, dtype=images.dtype).to(images.device)  # noqa: E731
    # (N, 2, H, W) planes, one add with a contiguous inner loop, handed to grid_sample as an (N, H, W, 2) view
    grid = (as_tensor(along_y).unsqueeze(3) + as_tensor(along_x).unsqueeze(2)).permute(0, 2, 3, 1)
    return _sample_grid(images, grid, fill_mode, fill_value)


def perspective_transform(images, start_points, end_points, interpolation="bilinear", fill_value=0.0):
    """Keras 3's `keras.ops.image.perspective_transform`: the projective warp that takes `end_points` to
    `start_points` (each output pixel samples the input there), points outside filled with `fill_value`.

    Args:
        images: (N, H, W, C) or (H, W, C) floating tensor.
        start_points, end_points: (N, 4, 2) or (4, 2) corner points (x, y).
        interpolation: 'nearest' or 'bilinear'.
        fill_value: the value outside the image.

    Returns:
        A tensor shaped like `images`.

    Example:
        >>> corners = torch.tensor([[0.0, 0], [7, 0], [0, 7], [7, 7]])
        >>> perspective_transform(torch.ones(8, 8, 1), corners, corners * 0.5)[7, 7, 0]   # outside: fill
        tensor(0.)
    """
    images, batched = _warp_images(images, "perspective_transform")
    start = _per_image_rows(start_points, images, (4, 2), "start_points", "perspective_transform")
    end = _per_image_rows(end_points, images, (4, 2), "end_points", "perspective_transform")
    out = affine_transform(images, homography(start, end).to(images.dtype), interpolation, "constant", fill_value)
    return out if batched else out[0]


def homography(start_points, end_points):
    """(N, 8) rows [a0, a1, a2, b0, b1, b2, c0, c1] of the projective maps taking `end_points` (N, 4, 2) to
    `start_points` (N, 4, 2), solved in float32 at least as Keras does."""
    dtype = torch.promote_types(start_points.dtype, torch.float32)
    sx, sy = start_points[..., 0].to(dtype), start_points[..., 1].to(dtype)
    ex, ey = end_points[..., 0].to(dtype), end_points[..., 1].to(dtype)
    one, zero = torch.ones_like(ex), torch.zeros_like(ex)
    rows_x = torch.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], dim=-1)   # (N, 4, 8)
    rows_y = torch.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], dim=-1)
    matrix = torch.stack([rows_x, rows_y], dim=2).reshape(-1, 8, 8)                   # point 1 x, y; point 2 ...
    target = torch.stack([sx, sy], dim=-1).reshape(-1, 8, 1)
    return torch.linalg.solve(matrix, target).reshape(-1, 8).to(start_points.dtype)


def sample(images, x, y, interpolation="bilinear", fill_mode="constant", fill_value=0.0):
    """Samples (N, H, W, C) `images` at real positions `x` (columns) and `y` (rows), each (N, Ho, Wo): the torch
    backend's `map_coordinates` on every image and channel, as one batched gather.

    'nearest' takes the pixel at round(x), round(y) (halves to even); 'bilinear' weighs the four pixels around
    the position. Each pixel index outside the image is mapped by `fill_mode` separately: 'constant' contributes
    `fill_value`, 'nearest' the edge pixel, 'wrap' index % size, 'mirror' reflects about the edge pixels
    (d c b | a b c d | c b a), 'reflect' about the edges (c b a | a b c d | d c b). Bilinear sampling with
    fill_mode 'constant', 'nearest', 'reflect' or 'mirror' runs as one `grid_sample` (equal up to float rounding);
    the rest as one gather per corner.
    """
    if interpolation not in WARP_INTERPOLATIONS:
        allowed = ", ".join(map(repr, WARP_INTERPOLATIONS))
        raise ValueError(f"affine_transform: interpolation must be one of {allowed}."
                         f"{did_you_mean(interpolation, WARP_INTERPOLATIONS)} Received: interpolation={interpolation!r}")
    if fill_mode not in WARP_FILL_MODES:
        raise ValueError(f"affine_transform: fill_mode must be one of {', '.join(map(repr, WARP_FILL_MODES))}."
                         f"{did_you_mean(fill_mode, WARP_FILL_MODES)} Received: fill_mode={fill_mode!r}")
    n, height, width, channels = images.shape
    if _grid_sampleable(images, interpolation, fill_mode):
        return _grid_sample(images, x, y, fill_mode, fill_value)
    flat = images.reshape(n, height * width, channels)
    out = None
    x_nodes = [(*_fix_index(ix, width, fill_mode), wx) for ix, wx in _nodes(x, interpolation)]
    for iy, wy in _nodes(y, interpolation):
        fy, valid_y = _fix_index(iy, height, fill_mode)
        for fx, valid_x, wx in x_nodes:
            index = (fy * width + fx).reshape(n, -1, 1).expand(-1, -1, channels)
            values = torch.gather(flat, 1, index).reshape(*x.shape, channels)
            if valid_y is not None:
                values = torch.where((valid_y & valid_x).unsqueeze(-1), values,
                                     torch.as_tensor(fill_value, dtype=images.dtype, device=images.device))
            if wy is not None:
                values = (wy * wx).to(images.dtype).unsqueeze(-1) * values
            out = values if out is None else out + values
    return out


# fill_mode -> (grid_sample's padding_mode, align_corners) computing the same bilinear sampling: an outside corner
# contributes 0 ('zeros', shifted by fill_value), the edge pixel ('border': the clamped position), or the pixel
# reflected about the edges (reflect: about -0.5 and size - 0.5; mirror: about 0 and size - 1), which is
# what fixing each corner's index separately gives.
_GRID_SAMPLE_PADDING = {"constant": ("zeros", False), "nearest": ("border", False),
                        "reflect": ("reflection", False), "mirror": ("reflection", True)}


def _grid_sample(images, x, y, fill_mode, fill_value):
    """`sample` for interpolation 'bilinear' and the fill modes of `_GRID_SAMPLE_PADDING`, as one fused
    torch.nn.functional.grid_sample (the same values up to float rounding of the positions)."""
    _, height, width, _ = images.shape
    _, align_corners = _GRID_SAMPLE_PADDING[fill_mode]
    if align_corners:
        gx, gy = x * (2.0 / (width - 1)) - 1.0, y * (2.0 / (height - 1)) - 1.0
    else:
        gx, gy = (2.0 * x + 1.0) / width - 1.0, (2.0 * y + 1.0) / height - 1.0
    return _sample_grid(images, torch.stack([gx, gy], dim=-1).to(images.dtype), fill_mode, fill_value)


def _grid_sampleable(images, interpolation, fill_mode):
    """Whether `sample` runs as one grid_sample: bilinear, a fill mode of `_GRID_SAMPLE_PADDING`, float32/64
    images at least two pixels high and wide."""
    return (interpolation == "bilinear" and fill_mode in _GRID_SAMPLE_PADDING and min(images.shape[1:3]) > 1
            and images.dtype in (torch.float32, torch.float64))


def _sample_grid(images, grid, fill_mode, fill_value):
    """(N, H, W, C) `images` sampled bilinearly at the normalised (N, Ho, Wo, 2) `grid` (x, y) with `fill_mode`'s
    grid_sample padding; channels_last out."""
    padding, align_corners = _GRID_SAMPLE_PADDING[fill_mode]
    planes = images.permute(0, 3, 1, 2)
    shift = fill_mode == "constant" and fill_value != 0
    if shift:  # sum_i w_i (valid_i ? p_i : f) = sum_i w_i valid_i (p_i - f) + f, as the weights sum to 1
        planes = planes - fill_value
    out = F.grid_sample(planes, grid, mode="bilinear", padding_mode=padding, align_corners=align_corners)
    if shift:
        out = out + fill_value
    return out.permute(0, 2, 3, 1)


def _nodes(coordinate, interpolation):
    """[(integer index, weight or None)] of one axis: one node ('nearest') or two ('bilinear')."""
    if interpolation == "nearest":
        return [(torch.round(coordinate).long(), None)]
    lower = torch.floor(coordinate)
    upper_weight = coordinate - lower
    lower = lower.long()
    return [(lower, 1 - upper_weight), (lower + 1, upper_weight)]


def _fix_index(index, size, fill_mode):
    """(index mapped into [0, size), validity mask or None): the torch backend's index fixers."""
    if fill_mode in ("constant", "nearest"):
        valid = (index >= 0) & (index < size) if fill_mode == "constant" else None
        return index.clamp(0, size - 1), valid
    if fill_mode == "wrap":
        return index % size, None
    if fill_mode == "mirror":
        return _mirror(index, size), None
    return torch.div(_mirror(2 * index + 1, 2 * size + 1) - 1, 2, rounding_mode="floor"), None


def _mirror(index, size):
    period = size - 1
    if period == 0:
        return torch.zeros_like(index)
    return torch.abs((index + period) % (2 * period) - period)


def _pixel_grid(height, width, like):
    """(rows, columns) index grids (1, H, W) in the dtype and device of `like`."""
    y, x = torch.meshgrid(torch.arange(height, dtype=like.dtype, device=like.device),
                          torch.arange(width, dtype=like.dtype, device=like.device), indexing="ij")
    return y.unsqueeze(0), x.unsqueeze(0)


def _warp_images(images, owner):
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    if images.dim() not in (3, 4):
        raise ValueError(f"{owner}: images must have rank 3 (one image) or 4 (a batch). Received: "
                         f"images.shape={tuple(images.shape)}")
    if not images.is_floating_point():
        images = images.to(torch.float32)
    return (images, True) if images.dim() == 4 else (images.unsqueeze(0), False)


def _per_image_rows(values, images, shape, name, owner):
    """`values` as an (N, *shape) tensor on the images' device (one row broadcast to every image)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    values = torch.as_tensor(values if isinstance(values, torch.Tensor) else np.asarray(values))
    values = values.to(device=images.device, dtype=torch.promote_types(values.dtype, torch.float32))
    if tuple(values.shape[-len(shape):]) != shape or values.dim() not in (len(shape), len(shape) + 1):
        raise ValueError(f"{owner}: {name} must have shape {shape} or (batch, {', '.join(map(str, shape))}). "
                         f"Received: {name}.shape={tuple(values.shape)}")
    if values.dim() == len(shape):
        values = values.unsqueeze(0)
    if values.shape[0] not in (1, images.shape[0]):
        raise ValueError(f"{owner}: {name} has {values.shape[0]} rows for {images.shape[0]} images.")
    return values.expand(images.shape[0], *shape)
