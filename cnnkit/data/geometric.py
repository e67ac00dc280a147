"""Keras 3's geometric augmentations as `Transform` objects (the layers RandomFlip, RandomRotation, RandomZoom,
RandomTranslation, RandomShear, RandomCrop and RandomPerspective wrap them).

Each draws its per-image parameters as Keras's layer does (same distributions, from a numpy Generator) and applies
them to a channels_last batch with Keras 3's own formulas: the layers' affine matrices and the torch backend's
`affine_transform` / `perspective_transform` (`cnnkit.ops.image_math`). These differ from ImageDataGenerator's legacy
warps (`cnnkit.data.warp`): the rotation centre is ((W - 1) / 2, (H - 1) / 2), shear is about the origin, and
the fill modes index pixels as `keras.ops.image.map_coordinates` does.

Parameters (the dicts `draw` returns; `apply` takes them, e.g. pinned in tests):
    Flip: {"flips": bool (N,)}; Rotation: {"angle": degrees (N,)}; Zoom: {"height_zoom", "width_zoom": (N,)};
    Translation: {"translations": pixels (N, 2) as (x, y)}; Shear: {"shear_factor": (N, 2) as (x, y)};
    Crop: {"top", "left": ints (N,)}; Perspective: {"apply": bool (N,), "end_points": (N, 4, 2)}.

Example:
    >>> rotate = Rotation((-0.1, 0.1))
    >>> rotate(torch.rand(4, 8, 8, 3), np.random.default_rng(0)).shape
    torch.Size([4, 8, 8, 3])
"""

import math

import numpy as np
import torch

from cnnkit.data import augment
from cnnkit.data.transforms import Transform
from cnnkit.ops import image_math as image

FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def _tensor(values, images):
    """`values` as a float32 tensor (at least) on the images' device."""
    dtype = torch.promote_types(images.dtype, torch.float32)
    return torch.as_tensor(np.asarray(values), dtype=dtype, device=images.device)


def _array(values, images):
    """`values` as a flat numpy array in the images' float dtype (float32 at least): the dtype Keras's matrices
    are computed in, here on the host (a few numbers per image)."""
    dtype = np.float64 if images.dtype == torch.float64 else np.float32
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=dtype).reshape(-1)


class Flip(Transform):
    """Flips each image with probability 1/2: left-right ('horizontal'), upside-down ('vertical') or both at once
    ('horizontal_and_vertical', one draw for the two axes, as Keras)."""

    def __init__(self, mode="horizontal_and_vertical"):
        self.mode = mode

    def draw(self, images, rng):
        return {"flips": rng.random(images.shape[0]) < 0.5}

    def apply(self, images, params):
        flips = np.asarray(params["flips"], dtype=bool).reshape(-1)
        horizontal = flips if self.mode in ("horizontal", "horizontal_and_vertical") else False
        vertical = flips if self.mode in ("vertical", "horizontal_and_vertical") else False
        return augment.flip(images, horizontal, vertical)


class AffineWarp(Transform):
    """A transform given by one affine matrix per image (Keras's rows [a0, a1, a2, b0, b1, b2]: the output pixel
    (x, y) samples the input at (a0 x + a1 y + a2, b0 x + b1 y + b2)), resampled with
    `cnnkit.ops.image_warp.affine_warp`. Subclasses define `matrices(params, images)` -> (N, 6) numpy rows in the
    images' float dtype (float32 at least), computed on the host with Keras's float arithmetic."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", fill_value=0.0):
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = fill_value

    def matrices(self, params, images):
        raise NotImplementedError

    def apply(self, images, params):
        return image.affine_warp(images, self.matrices(params, images), self.interpolation, self.fill_mode,
                                 self.fill_value)


def keras_affine_matrices(angle, translate_x, translate_y, scale, shear_x, shear_y, height, width):
    """Keras 3's `BaseImagePreprocessingLayer._compute_affine_matrix` (centre at the middle of the image, angles
    and shears in degrees) on numpy arrays (N,), in the dtype of `angle`: (N, 6) rows [a0, a1, a2, b0, b1, b2]."""
    radians = angle.dtype.type(math.pi / 180.0)
    angle, shear_x, shear_y = angle * radians, np.tan(shear_x * radians), np.tan(shear_y * radians)
    cx, cy = 0.5 * (float(width) - 1), 0.5 * (float(height) - 1)
    cos, sin = np.cos(angle), np.sin(angle)
    a0 = scale * (cos + shear_x * sin)
    a1 = scale * (-sin + shear_x * cos)
    b0 = scale * (shear_y * cos + sin)
    b1 = scale * (shear_y * -sin + cos)
    a2 = translate_x + cx - cx * a0 - cy * a1
    b2 = translate_y + cy - cx * b0 - cy * b1
    return np.stack([a0, a1, a2, b0, b1, b2], axis=1)


class Rotation(AffineWarp):
    """Rotates each image about its centre by an angle drawn uniformly from factor * 360 degrees (Keras's
    RandomRotation: `factor` = (lower, upper) fractions of a full turn, positive counter-clockwise)."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", fill_value=0.0):
        super().__init__(fill_mode, interpolation, fill_value)
        self.factor = tuple(factor)

    def draw(self, images, rng):
        return {"angle": rng.uniform(self.factor[0] * 360.0, self.factor[1] * 360.0, images.shape[0])}

    def matrices(self, params, images):
        angle = _array(params["angle"], images)
        zero, one = np.zeros_like(angle), np.ones_like(angle)
        return keras_affine_matrices(angle, zero, zero, one, zero, zero, images.shape[1], images.shape[2])


class Zoom(AffineWarp):
    """Zooms each image about its centre (Keras's RandomZoom): the output samples the input at
    zoom * (position - centre) + centre, zoom = 1 + a draw from `height_range` (and `width_range`, or the same
    draw when it is None); zoom > 1 zooms out, < 1 zooms in."""

    def __init__(self, height_range, width_range=None, fill_mode="reflect", interpolation="bilinear",
                 fill_value=0.0):
        super().__init__(fill_mode, interpolation, fill_value)
        self.height_range = tuple(height_range)
        self.width_range = None if width_range is None else tuple(width_range)

    def draw(self, images, rng):
        n = images.shape[0]
        height_zoom = rng.uniform(1.0 + self.height_range[0], 1.0 + self.height_range[1], n)
        if self.width_range is None:
            return {"height_zoom": height_zoom, "width_zoom": height_zoom}
        return {"height_zoom": height_zoom,
                "width_zoom": rng.uniform(1.0 + self.width_range[0], 1.0 + self.width_range[1], n)}

    def matrices(self, params, images):
        zoom_y, zoom_x = _array(params["height_zoom"], images), _array(params["width_zoom"], images)
        height, width = images.shape[1], images.shape[2]
        zero = np.zeros_like(zoom_x)
        x_offset = ((float(width) - 1.0) / 2.0) * (1.0 - zoom_x)
        y_offset = ((float(height) - 1.0) / 2.0) * (1.0 - zoom_y)
        return np.stack([zoom_x, zero, x_offset, zero, zoom_y, y_offset], axis=1)


class Translation(AffineWarp):
    """Shifts each image by a draw from `height_range` * height rows and `width_range` * width columns (Keras's
    RandomTranslation; positive moves down / right)."""

    def __init__(self, height_range, width_range, fill_mode="reflect", interpolation="bilinear", fill_value=0.0):
        super().__init__(fill_mode, interpolation, fill_value)
        self.height_range = tuple(height_range)
        self.width_range = tuple(width_range)

    def draw(self, images, rng):
        n, height, width = images.shape[:3]
        dy = (rng.uniform(self.height_range[0], self.height_range[1], n).astype(np.float32) * np.float32(height))
        dx = (rng.uniform(self.width_range[0], self.width_range[1], n).astype(np.float32) * np.float32(width))
        return {"translations": np.stack([dx, dy], axis=1)}

    def matrices(self, params, images):
        shift = _array(params["translations"], images).reshape(-1, 2)
        zero, one = np.zeros_like(shift[:, 0]), np.ones_like(shift[:, 0])
        return np.stack([one, zero, -shift[:, 0], zero, one, -shift[:, 1]], axis=1)


class Shear(AffineWarp):
    """Shears each image about its top-left corner (Keras's RandomShear): x' = x + sx * y, y' = sy * x + y, with
    sx, sy drawn from `x_range`, `y_range` and both negated for half of the images."""

    def __init__(self, x_range, y_range, fill_mode="reflect", interpolation="bilinear", fill_value=0.0):
        super().__init__(fill_mode, interpolation, fill_value)
        self.x_range = tuple(x_range)
        self.y_range = tuple(y_range)

    def draw(self, images, rng):
        n = images.shape[0]
        invert = np.where(rng.random(n) > 0.5, -1.0, 1.0)
        shear_y = rng.uniform(self.y_range[0], self.y_range[1], n)
        shear_x = rng.uniform(self.x_range[0], self.x_range[1], n)
        return {"shear_factor": np.stack([shear_x, shear_y], axis=1) * invert[:, None]}

    def matrices(self, params, images):
        shear = _array(params["shear_factor"], images).reshape(-1, 2)
        zero, one = np.zeros_like(shear[:, 0]), np.ones_like(shear[:, 0])
        return np.stack([one, shear[:, 0], zero, shear[:, 1], one, zero], axis=1)


class Crop(Transform):
    """Crops each image to (height, width) at a random position (its own per image) when the image is larger in
    both axes; otherwise (and in `center`, used outside training) Keras's deterministic crop (see `center`),
    resized (bilinear) to the target size when the image is smaller."""

    def __init__(self, height, width):
        self.height, self.width = int(height), int(width)

    def draw(self, images, rng):
        n, height, width = images.shape[:3]
        if height > self.height and width > self.width:
            return {"top": rng.integers(0, height - self.height + 1, n),
                    "left": rng.integers(0, width - self.width + 1, n)}
        return None

    def apply(self, images, params):
        if params is None:
            return self.center(images)
        device = images.device
        top = torch.as_tensor(np.asarray(params["top"]), dtype=torch.long, device=device).view(-1, 1, 1)
        left = torch.as_tensor(np.asarray(params["left"]), dtype=torch.long, device=device).view(-1, 1, 1)
        rows = top + torch.arange(self.height, device=device).view(1, -1, 1)
        cols = left + torch.arange(self.width, device=device).view(1, 1, -1)
        batch = torch.arange(images.shape[0], device=device).view(-1, 1, 1)
        return images[batch, rows, cols]

    def center(self, images):
        """The deterministic crop, as Keras 3.15 computes it: the (height, width) window (cut at the image's
        edges) whose top-left corner is that of the largest centred box with the target's aspect ratio, resized
        to (height, width) when the image was too small."""
        height, width = images.shape[1], images.shape[2]
        top, left, _, _ = image.aspect_crop_box(height, width, self.height, self.width, float32=False)
        out = images[:, top:top + self.height, left:left + self.width, :]
        if tuple(out.shape[1:3]) != (self.height, self.width):
            out = image.resize(out.permute(0, 3, 1, 2), (self.height, self.width)).permute(0, 2, 3, 1)
        return out


class Perspective(Transform):
    """Keras's RandomPerspective: each image is warped (with probability drawn from `factor`) so that its corners
    (0, 0), (W - 1, 0), (0, H - 1), (W - 1, H - 1) move by corner * u, u uniform in +-scale / 2 per coordinate;
    points outside the image are `fill_value`."""

    def __init__(self, factor, scale=1.0, interpolation="bilinear", fill_value=0.0):
        self.factor = tuple(factor)
        self.scale = scale
        self.interpolation = interpolation
        self.fill_value = fill_value

    def draw(self, images, rng):
        n = images.shape[0]
        probability = rng.uniform(self.factor[0], self.factor[1], n)
        threshold = rng.uniform(0.0, 1.0, n)
        factor = rng.uniform(-0.5 * self.scale, 0.5 * self.scale, (n, 4, 2))
        start = self.start_points(images).cpu().numpy()
        return {"apply": threshold < probability, "end_points": start + start * factor}

    @staticmethod
    def start_points(images):
        """The corners (x, y) of the images, (N, 4, 2) in their dtype and device."""
        height, width = images.shape[1], images.shape[2]
        corners = torch.tensor([[0.0, 0.0], [width - 1, 0.0], [0.0, height - 1], [width - 1, height - 1]],
                               dtype=images.dtype, device=images.device)
        return corners.expand(images.shape[0], 4, 2)

    def apply(self, images, params):
        start = self.start_points(images)
        end = _tensor(params["end_points"], images).reshape(-1, 4, 2).to(images.dtype)
        warped = image.perspective_transform(images, start, end, self.interpolation, self.fill_value)
        selected = torch.as_tensor(np.asarray(params["apply"], dtype=bool), device=images.device)
        return torch.where(selected.view(-1, 1, 1, 1), warped, images)
