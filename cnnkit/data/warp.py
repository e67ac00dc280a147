"""Batched affine warps: Keras's `apply_affine_transform` matrices and scipy.ndimage's resampling, on torch.

`affine_matrices` builds, per sample, the matrix Keras's legacy ImageDataGenerator uses; `warp` resamples a whole
batch (batch, height, width, channels) through its per-sample matrices with scipy's fill modes.
"""

import functools

import numpy as np
import torch

from cnnkit.data._batch import _apply_to_selected, _check_images, _per_sample_numpy

FILL_MODES = ("constant", "nearest", "reflect", "wrap")
INTERPOLATION_ORDERS = (0, 1)


def affine_matrices(theta, tx, ty, shear, zx, zy, height, width):
    """The per-sample matrices Keras's legacy `apply_affine_transform` builds for channels_last images.

    For each sample: rotation(theta) @ shift(tx, ty) @ shear(shear) @ zoom(zx, zy), re-centred with
    `transform_matrix_offset_center(m, height, width)`, then rows/columns 0 and 1 swapped (Keras, row_axis=0 <
    col_axis=1); `np.matmul` on the stacks rounds like Keras's `np.dot`. The swap makes Keras's first axis the
    column axis: `tx`, `zx` act along the width, `ty`, `zy` along the height, and a non-square image turns about
    (row, col) = ((width - 1) / 2, (height - 1) / 2) (Keras's behaviour, kept).

    Args:
        theta: Rotation angles in degrees, (batch,) or a scalar.
        tx: Shifts in pixels along the width axis (output column c reads input column c + tx), (batch,) or a
            scalar.
        ty: Shifts in pixels along the height axis, (batch,) or a scalar.
        shear: Shear angles in degrees, (batch,) or a scalar.
        zx: Zoom factors along the width axis (> 1 shows less of the image), (batch,) or a scalar.
        zy: Zoom factors along the height axis, (batch,) or a scalar.
        height: Image height in pixels.
        width: Image width in pixels.

    Returns:
        Float64 numpy array (batch, 3, 3) (batch 1 if all parameters are scalars), mapping an output pixel's
        (row, col, 1) to input coordinates: `M[:2, :2]`, `M[:2, 2]` are scipy's `matrix`, `offset`. `warp` takes it.

    Raises:
        ValueError: A parameter is not a scalar or 1-D, the lengths disagree, or a size is not a positive int.
    """
    for name, size in (("height", height), ("width", width)):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"{name} must be a positive int, got {size!r}")
    names = ("theta", "tx", "ty", "shear", "zx", "zy")
    params = [_per_sample_numpy(value, name) for name, value in zip(names, (theta, tx, ty, shear, zx, zy))]
    lengths = {p.shape[0] for p in params if p.ndim == 1}
    if len(lengths) > 1:
        raise ValueError(f"theta, tx, ty, shear, zx, zy must have one length (or be scalars), got lengths "
                         f"{[p.shape[0] if p.ndim else 'scalar' for p in params]}")
    batch = lengths.pop() if lengths else 1
    theta, tx, ty, shear, zx, zy = (np.broadcast_to(p, (batch,)) for p in params)
    zeros, ones = np.zeros(batch), np.ones(batch)

    def stack(*entries):
        """A (batch, 3, 3) float64 array from 9 (batch,) entries, row by row."""
        return np.stack(entries, axis=-1).reshape(batch, 3, 3)

    angle, shear_angle = np.deg2rad(theta), np.deg2rad(shear)
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = stack(cos, -sin, zeros, sin, cos, zeros, zeros, zeros, ones)
    shift = stack(ones, zeros, tx, zeros, ones, ty, zeros, zeros, ones)
    shearing = stack(ones, -np.sin(shear_angle), zeros, zeros, np.cos(shear_angle), zeros, zeros, zeros, ones)
    zoom = stack(zx, zeros, zeros, zeros, zy, zeros, zeros, zeros, ones)
    matrix = np.matmul(np.matmul(np.matmul(rotation, shift), shearing), zoom)
    o_x, o_y = float(height) / 2 - 0.5, float(width) / 2 - 0.5
    offset = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    matrix = np.matmul(np.matmul(offset, matrix), reset)
    return np.ascontiguousarray(matrix[:, :, [1, 0, 2]][:, [1, 0, 2], :])


def _map_coordinates(coords, size, fill_mode):
    """Maps float64 source coordinates along one axis of length `size` into [0, size - 1] like scipy.ndimage.

    Returns the mapped coordinates (`coords`, modified in place) and, for 'constant', the mask of points inside
    [0, size - 1] (else None). Reflect and wrap mirror scipy's `map_coordinate` step for step (the same float64
    operations, so the same roundings), on the points outside the image only.
    """
    last = size - 1
    if fill_mode == "constant":
        inside = (coords >= 0) & (coords <= last)
        return coords.clamp_(0, last), inside
    if fill_mode == "nearest" or size == 1:
        return coords.clamp_(0, last), None
    outside = (coords < 0) | (coords > last)
    values = coords[outside]
    below = values < 0
    if fill_mode == "wrap":  # period size - 1: the first and last pixels coincide
        low = values + last * (torch.trunc(-values / last) + 1)
        high = values - last * torch.trunc(values / last)
    else:  # reflect: half-sample symmetric, period 2 * size
        period = 2 * size
        low = torch.where(values < -period, period * torch.trunc(-values / period) + values, values)
        low = torch.where(low < -size, low + period, -low - 1)
        high = values - period * torch.trunc(values / period)
        high = torch.where(high >= size, (period - high) - 1, high)
    coords[outside] = torch.where(below, low, high)
    # Reflect leaves points in (-1, 0) and (size - 1, size), whose two neighbours both map to the edge pixel:
    # clamping gives the same value. For wrap it only removes float round-off below 0.
    return coords.clamp_(0, last), None


def _normalised(coords, size, dtype):
    """grid_sample's align_corners=True coordinates: pixel 0 -> -1, pixel size - 1 -> 1."""
    if size == 1:
        return torch.zeros_like(coords, dtype=dtype)
    return (coords * (2.0 / (size - 1)) - 1.0).to(dtype)


@functools.lru_cache(maxsize=64)
def _grid_constants(height, width, align_corners):
    """`_grid_theta`'s constant matrices for one image size: (in_norm @ swap, swap, out_px), float64 (made once:
    the same tensors, so the same products, as building them at every call)."""
    def to_norm(size):  # pixel -> normalised coordinate, as a (scale, shift) pair
        if align_corners:
            return (2.0 / (size - 1) if size > 1 else 0.0), -1.0 if size > 1 else 0.0
        return 2.0 / size, 1.0 / size - 1.0
    (sx, bx), (sy, by) = to_norm(width), to_norm(height)
    # pixel (col, row, 1) = P @ normalised (x, y, 1) on the output; normalised = Q @ pixel on the input
    out_px = torch.tensor([[1 / sx if sx else 0.0, 0.0, -bx / sx if sx else 0.0],
                           [0.0, 1 / sy if sy else 0.0, -by / sy if sy else 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    in_norm = torch.tensor([[sx, 0.0, bx], [0.0, sy, by], [0.0, 0.0, 1.0]], dtype=torch.float64)
    swap = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    return in_norm @ swap, swap, out_px


def _grid_theta(matrices, height, width, align_corners):
    """grid_sample's normalised (x, y) theta (batch, 2, 3) from output-to-input pixel matrices over (row, col)."""
    left, swap, out_px = _grid_constants(height, width, align_corners)
    full = torch.zeros(matrices.shape[0], 3, 3, dtype=torch.float64)
    full[:, :2] = matrices.reshape(-1, 2, 3).cpu()
    full[:, 2, 2] = 1.0
    theta = left @ full @ swap @ out_px  # (x, y) order on both sides: in_norm @ swap @ full @ swap @ out_px
    return theta[:, :2]


@functools.lru_cache(maxsize=64)
def _grid_base(height, width, align_corners, dtype, device):
    """affine_grid's base coordinates: columns (1, 1, width) and rows (1, height, 1) (made once per size)."""
    def base(size):  # torch's linspace_from_neg_one
        coords = torch.linspace(-1, 1, size, dtype=dtype, device=device)
        return coords if align_corners else coords * (size - 1) / size
    return base(width).view(1, 1, width), base(height).view(1, height, 1)


def _affine_grid(theta, height, width, align_corners):
    """`torch.nn.functional.affine_grid(theta, [batch, channels, height, width], align_corners)`, the same float32
    numbers (torch's base coordinates, then (x * t0 + y * t1) + t2 per output point, as its batched matmul with an
    inner size of 3 rounds here), as broadcast sums of a row and a column: a sixth of its time.

    The grid is an (N, H, W, 2) view of planar (N, 2, H, W) memory, filled with contiguous writes (`_planar_grid`).
    """
    cols, rows = _grid_base(height, width, align_corners, theta.dtype, theta.device)
    planes = torch.empty(theta.shape[0], 2, height, width, dtype=theta.dtype, device=theta.device)
    for k in range(2):
        t = theta[:, k].reshape(-1, 3, 1, 1)
        torch.add(cols * t[:, 0], rows * t[:, 1], out=planes[:, k])
        planes[:, k] += t[:, 2]
    return planes.permute(0, 2, 3, 1)


def _planar_grid(x, y):
    """grid_sample's (N, H, W, 2) grid of normalised `x`, `y` (N, H, W), as a view of planar (N, 2, H, W) memory.

    It is filled with contiguous writes (3x faster than into an interleaved grid) and grid_sample reads it as it
    reads an interleaved one: the same output bit for bit, in about the same time (0-4% less, measured here).
    """
    return torch.stack([x, y], dim=1).permute(0, 2, 3, 1)


def _warp_bilinear(images, matrices, fill_mode):
    """Bilinear `warp` for fill modes 'nearest' and 'reflect' with torch's affine grid (`_affine_grid`) + grid_sample.

    scipy's 'nearest' is grid_sample's 'border' padding (coordinates clamped to the pixel centres 0 .. n - 1) and
    its half-sample 'reflect' is 'reflection' about the image edges (-0.5, n - 0.5, align_corners=False).
    Coordinates are float32: within ~1e-2 of scipy at pixel values 0..255.
    """
    height, width = images.shape[1:3]
    align = fill_mode != "reflect"
    theta = _grid_theta(matrices, height, width, align).to(images.device, images.dtype)
    grid = _affine_grid(theta, height, width, align)
    sampled = torch.nn.functional.grid_sample(images.permute(0, 3, 1, 2), grid, mode="bilinear",
                                              padding_mode="reflection" if fill_mode == "reflect" else "border",
                                              align_corners=align)
    return sampled.permute(0, 2, 3, 1)  # channels_last view of NCHW memory: the next copy lays it out


def _warp_selected(images, matrices, fill_mode, cval, order):
    """`warp` on every sample (matrices: float64 (batch, 2, 3) on the images' device). Coordinates are computed and
    mapped into the image in float64 (scipy's roundings); bilinear sampling then runs in torch's grid_sample
    (float32 normalised coordinates: within ~1e-2 of scipy at 0..255), nearest sampling gathers exactly with
    `index_select` from channel planes (channels, batch * height * width)."""
    if order == 1 and fill_mode in ("nearest", "reflect") and min(images.shape[1:3]) > 1:
        return _warp_bilinear(images, matrices, fill_mode)
    batch, height, width, channels = images.shape
    rows = torch.arange(height, dtype=torch.float64, device=images.device).view(1, height, 1)
    cols = torch.arange(width, dtype=torch.float64, device=images.device).view(1, 1, width)
    m = matrices.reshape(batch, 6, 1, 1).unbind(1)
    # scipy 1.17's order of operations (found by experiment): (offset + row * m[0]) + col * m[1], no fused
    # multiply-add; the same float64 roundings decide the same pixels at ties (e.g. a coordinate of exactly 4.5).
    src_rows, inside_rows = _map_coordinates((m[2] + rows * m[0]) + cols * m[1], height, fill_mode)
    src_cols, inside_cols = _map_coordinates((m[5] + rows * m[3]) + cols * m[4], width, fill_mode)
    if order == 1:  # 'constant' / 'wrap': coordinates mapped in float64 above, then sampled by grid_sample
        grid = _planar_grid(_normalised(src_cols, width, images.dtype), _normalised(src_rows, height, images.dtype))
        sampled = torch.nn.functional.grid_sample(images.permute(0, 3, 1, 2), grid, mode="bilinear",
                                                  padding_mode="border", align_corners=True)
        out = sampled.permute(0, 2, 3, 1).contiguous()
        if fill_mode == "constant":  # no interpolation across the edge: outside [0, n - 1] on any axis is cval
            out.masked_fill_(~(inside_rows & inside_cols).unsqueeze(-1), cval)
        return out
    size = batch * height * width
    # Channel planes, padded so that index + 1 and index + width stay inside (they get weight 0 at the edges).
    planes = images.new_zeros(channels, size + width + 1)
    planes[:, :size].view(channels, batch, height, width).copy_(images.permute(3, 0, 1, 2))
    index_dtype = torch.int32 if size + 2 * width < 2**31 else torch.int64
    base = torch.arange(0, size, height * width, dtype=index_dtype, device=images.device).view(batch, 1, 1)
    # The mapped coordinates are >= 0, so truncating to int is floor (and frac is c - floor(c)).
    # order 0: scipy rounds half up, floor(c + 0.5)
    index = (src_rows + 0.5).to(index_dtype).mul_(width).add_((src_cols + 0.5).to(index_dtype)).add_(base)
    result = planes.index_select(1, index.view(-1))
    if fill_mode == "constant":  # no interpolation across the edge: outside [0, size - 1] on any axis is cval
        result.masked_fill_(~(inside_rows & inside_cols).view(1, -1), cval)
    out = torch.empty_like(images, memory_format=torch.contiguous_format)
    out.permute(3, 0, 1, 2).copy_(result.view(channels, batch, height, width))
    return out


def warp(images, matrices, fill_mode="nearest", cval=0.0, order=1):
    """Resamples each image through its affine matrix, as `scipy.ndimage.affine_transform` does per channel.

    Output pixel (r, c) of sample b reads the input at M[:2, :2] @ (r, c) + M[:2, 2], M = matrices[b]: what
    `affine_transform(channel, M[:2, :2], M[:2, 2], order=order, mode=fill_mode, cval=cval)` gives per channel
    (Keras's `apply_affine_transform`). Coordinates are float64 with scipy's roundings, so ties pick the same pixels;
    interpolation runs in the images' dtype (float32: within ~1e-4 of scipy at 0..255). Identity samples are
    returned unchanged without resampling (scipy gives the same).

    scipy 1.17's semantics for the fill modes, per axis of length n (found by experiment against scipy):
        - 'constant': a coordinate outside [0, n - 1] on either axis gives `cval`, with no blending towards it
          (points between the last pixel centre and the image edge are cval too).
        - 'nearest': the coordinate is clamped to [0, n - 1].
        - 'reflect': half-sample symmetric (d c b a | a b c d | d c b a): the coordinate is mapped (x < 0 -> -x - 1,
          x > n - 1 -> 2n - x - 1, modulo 2n), then interpolated; points beside the edge take the edge pixel.
        - 'wrap': periodic with period n - 1, not n (the first and last pixels coincide): x < 0 ->
          x + (n - 1)(trunc(-x / (n - 1)) + 1), x > n - 1 -> x - (n - 1) trunc(x / (n - 1)).
    Order 0 takes pixel floor(x + 0.5) of the mapped coordinate (halves round up); order 1 is bilinear.

    Args:
        images: (batch, height, width, channels) floating tensor.
        matrices: (batch, 3, 3) or (batch, 2, 3) output-to-input matrices (numpy or torch), e.g. from
            `affine_matrices`.
        fill_mode: One of 'constant', 'nearest', 'reflect', 'wrap'.
        cval: The value of points outside the image for fill_mode='constant'.
        order: 0 (nearest neighbour) or 1 (bilinear).

    Returns:
        A new tensor shaped like `images`.

    Raises:
        ValueError: Unknown fill_mode or order, bad shapes, or non-finite matrices.
    """
    images = _check_images(images)
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode must be one of {FILL_MODES}, got {fill_mode!r}")
    if isinstance(order, bool) or order not in INTERPOLATION_ORDERS:
        raise ValueError(f"order must be one of {INTERPOLATION_ORDERS} (nearest, bilinear), got {order!r}")
    if isinstance(matrices, torch.Tensor):
        matrices = matrices.detach().cpu().numpy()
    matrices = np.asarray(matrices, dtype=np.float64)
    batch = images.shape[0]
    if matrices.shape not in ((batch, 3, 3), (batch, 2, 3)):
        raise ValueError(f"matrices must have shape ({batch}, 3, 3) or ({batch}, 2, 3) for {batch} images, got "
                         f"{matrices.shape}")
    if not np.all(np.isfinite(matrices)):
        raise ValueError("matrices must be finite, got non-finite entries")
    cval = float(cval)
    affine = np.ascontiguousarray(matrices[:, :2, :])
    selected = np.any(affine != np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), axis=(1, 2))
    affine = torch.from_numpy(affine).to(images.device)
    return _apply_to_selected(images, selected, lambda x, m: _warp_selected(x, m, fill_mode, cval, order), affine)
