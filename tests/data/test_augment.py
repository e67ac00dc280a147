"""cnnkit.data.augment kernels against independent references.

The oracles: Keras's own legacy `apply_affine_transform` / `apply_channel_shift` (which call scipy), scipy.ndimage
(`affine_transform` with arbitrary matrices, `gaussian_filter`), PIL's `ImageEnhance` on uint8 images (with the
tolerance PIL's integer rounding allows, derived per test) and plain numpy formulas for the float versions.
"""

import numpy as np
import pytest
import torch
from PIL import Image
from PIL import ImageEnhance
from scipy import ndimage

from cnnkit.data import augment
from cnnkit.data.augment import add_noise
from cnnkit.data.augment import affine_matrices
from cnnkit.data.augment import brightness
from cnnkit.data.augment import channel_shift
from cnnkit.data.augment import contrast
from cnnkit.data.augment import flip
from cnnkit.data.augment import gaussian_blur
from cnnkit.data.augment import sharpen
from cnnkit.data.augment import warp

FILL_MODES = ("constant", "nearest", "reflect", "wrap")
PARAMETER_NAMES = ("theta", "tx", "ty", "shear", "zx", "zy")


@pytest.fixture(scope="module")
def legacy(keras):
    """Keras's legacy preprocessing module (ImageDataGenerator's transforms)."""
    from keras.src.legacy.preprocessing import image  # noqa: PLC0415 (needs the Keras oracle loaded)

    return image


def random_images(rng, batch, height, width, channels=3):
    return rng.uniform(0, 255, (batch, height, width, channels)).astype(np.float32)


def structured_images(batch, height, width, channels=3):
    """Gradients, a checkerboard and a bright block: edges and smooth ramps where interpolation errors show."""
    r, c, k = np.meshgrid(np.arange(height), np.arange(width), np.arange(channels), indexing="ij")
    images = []
    for b in range(batch):
        image = (r * (17 + 5 * b) + c * 11 + k * 60) % 200 + 40.0 * ((r + c + b) % 2)
        image[height // 3: height // 3 + 2, width // 2:] = 255.0
        images.append(image)
    return np.stack(images).astype(np.float32)


# ---- affine_matrices and warp -------------------------------------------------------------------------------


def keras_matrix(legacy, theta, tx, ty, shear, zx, zy, height, width):
    """The matrix apply_affine_transform builds for channels_last images, transcribed step by step."""
    matrix = np.eye(3)
    if theta != 0:
        angle = np.deg2rad(theta)
        matrix = np.dot(matrix, [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    if tx != 0 or ty != 0:
        matrix = np.dot(matrix, [[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    if shear != 0:
        angle = np.deg2rad(shear)
        matrix = np.dot(matrix, [[1, -np.sin(angle), 0], [0, np.cos(angle), 0], [0, 0, 1]])
    if zx != 1 or zy != 1:
        matrix = np.dot(matrix, [[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    matrix = legacy.transform_matrix_offset_center(matrix, height, width)
    matrix[:, [0, 1]] = matrix[:, [1, 0]]
    matrix[[0, 1]] = matrix[[1, 0]]
    return matrix


def parameter_draws(rng, batch):
    """Per-sample parameters: each transform alone, combinations, and exact values that put coordinates on ties
    (right angles, integer shifts, zoom 0.5 / 2)."""
    zeros, ones = np.zeros(batch), np.ones(batch)
    draws = {
        "rotation": dict(theta=rng.uniform(-180, 180, batch)),
        "right angles": dict(theta=rng.choice([90.0, -90.0, 180.0, 270.0], batch)),
        "shifts": dict(tx=rng.uniform(-4, 4, batch), ty=rng.uniform(-4, 4, batch)),
        "integer shifts": dict(tx=rng.integers(-12, 12, batch).astype(float), ty=rng.integers(-12, 12, batch)),
        "shear": dict(shear=rng.uniform(-45, 45, batch)),
        "zoom": dict(zx=rng.uniform(0.4, 1.8, batch), zy=rng.uniform(0.4, 1.8, batch)),
        "tie zoom": dict(zx=rng.choice([0.5, 2.0, 1.5], batch), zy=rng.choice([0.5, 2.0, 3.0], batch)),
        "all": dict(theta=rng.uniform(-40, 40, batch), tx=rng.uniform(-3, 3, batch), ty=rng.uniform(-3, 3, batch),
                    shear=rng.uniform(-20, 20, batch), zx=rng.uniform(0.7, 1.3, batch),
                    zy=rng.uniform(0.7, 1.3, batch)),
        "far outside": dict(theta=rng.uniform(-180, 180, batch), tx=rng.uniform(-30, 30, batch),
                            ty=rng.uniform(-30, 30, batch), zx=rng.uniform(0.2, 4, batch),
                            zy=rng.uniform(0.2, 4, batch)),
    }
    defaults = dict(theta=zeros, tx=zeros, ty=zeros, shear=zeros, zx=ones, zy=ones)
    return {name: {**defaults, **draw} for name, draw in draws.items()}


def test_affine_matrices_match_keras_construction(legacy, rng):
    for height, width in [(7, 9), (9, 7), (8, 8), (1, 5)]:
        for params in parameter_draws(rng, 5).values():
            matrices = affine_matrices(**params, height=height, width=width)
            assert matrices.shape == (5, 3, 3) and matrices.dtype == np.float64
            for b in range(5):
                expected = keras_matrix(legacy, *(params[name][b] for name in PARAMETER_NAMES), height, width)
                np.testing.assert_allclose(matrices[b], expected, rtol=0, atol=1e-12)


def test_affine_matrices_broadcast_scalars():
    one = affine_matrices(10.0, 1.0, -2.0, 5.0, 1.1, 0.9, 6, 8)
    assert one.shape == (1, 3, 3)
    zy = torch.tensor([0.9, 0.9, 0.9], dtype=torch.float64)
    many = affine_matrices(np.full(3, 10.0), 1.0, -2.0, 5.0, 1.1, zy, 6, 8)
    np.testing.assert_array_equal(many, np.repeat(one, 3, axis=0))
    np.testing.assert_array_equal(affine_matrices(0, 0, 0, 0, 1, 1, 5, 7)[0], np.eye(3))


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_warp_matches_keras_apply_affine_transform(legacy, rng, fill_mode, order):
    batch = 4
    for height, width in [(7, 9), (9, 7), (8, 8)]:
        for images in (random_images(rng, batch, height, width), structured_images(batch, height, width)):
            for name, params in parameter_draws(rng, batch).items():
                matrices = affine_matrices(**params, height=height, width=width)
                out = warp(torch.from_numpy(images), matrices, fill_mode=fill_mode, cval=37.5, order=order)
                assert out.shape == images.shape and out.dtype == torch.float32
                for b in range(batch):
                    expected = legacy.apply_affine_transform(
                        images[b].astype(np.float64), *(params[k][b] for k in PARAMETER_NAMES), row_axis=0,
                        col_axis=1, channel_axis=2, fill_mode=fill_mode, cval=37.5, order=order)
                    np.testing.assert_allclose(out[b].numpy(), expected, rtol=0, atol=1e-3,
                                               err_msg=f"{name} sample {b} ({height}x{width})")


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_warp_matches_scipy_with_arbitrary_matrices(rng, fill_mode, order):
    for height, width in [(5, 6), (1, 4), (4, 1), (2, 2), (1, 1), (6, 3)]:
        batch = 6
        images = random_images(rng, batch, height, width, channels=2)
        matrices = np.zeros((batch, 3, 3))
        matrices[:, :2, :2] = rng.uniform(-3, 3, (batch, 2, 2))
        matrices[:, :2, 2] = rng.uniform(-15, 15, (batch, 2))
        matrices[:, 2, 2] = 1.0
        matrices[0, :2] = [[1, 0, 0.5], [0, 1, -0.5]]  # coordinates on exact ties
        matrices[1, :2] = [[-1, 0, height - 1], [0, 1, width]]  # a flip and a whole-image shift
        out = warp(torch.from_numpy(images), matrices, fill_mode=fill_mode, cval=-3.0, order=order).numpy()
        for b in range(batch):
            for k in range(2):
                expected = ndimage.affine_transform(images[b, :, :, k].astype(np.float64), matrices[b, :2, :2],
                                                    matrices[b, :2, 2], order=order, mode=fill_mode, cval=-3.0)
                np.testing.assert_allclose(out[b, :, :, k], expected, rtol=0, atol=1e-3,
                                           err_msg=f"sample {b}, channel {k}, {height}x{width}")


def test_warp_identity_samples_unchanged_and_input_untouched(rng):
    images = torch.from_numpy(random_images(rng, 3, 5, 6))
    before = images.clone()
    matrices = np.repeat(np.eye(3)[None], 3, axis=0)
    matrices[1] = affine_matrices(30.0, 0, 0, 0, 1, 1, 5, 6)[0]
    out = warp(images, torch.from_numpy(matrices[:, :2]), fill_mode="constant")
    assert torch.equal(images, before)
    assert torch.equal(out[0], images[0]) and torch.equal(out[2], images[2]) and not torch.equal(out[1], images[1])
    same = warp(images, np.repeat(np.eye(3)[None], 3, axis=0))
    assert torch.equal(same, images) and same.data_ptr() != images.data_ptr()


def test_warp_float64_images(rng):
    images = random_images(rng, 2, 6, 5).astype(np.float64)
    matrices = affine_matrices([20.0, -70.0], [1.5, 0.0], [0.0, -2.0], 0, 1.2, 0.8, 6, 5)
    out = warp(torch.from_numpy(images), matrices, fill_mode="reflect")
    assert out.dtype == torch.float64
    expected = ndimage.affine_transform(images[1, :, :, 0], matrices[1, :2, :2], matrices[1, :2, 2], order=1,
                                        mode="reflect")
    np.testing.assert_allclose(out[1, :, :, 0].numpy(), expected, rtol=0, atol=1e-9)


# ---- flips, channel shift, brightness, contrast, sharpness --------------------------------------------------


def test_flip_matches_numpy(rng):
    images = random_images(rng, 5, 4, 6)
    horizontal = np.array([True, False, True, False, True])
    vertical = np.array([False, False, True, True, True])
    out = flip(torch.from_numpy(images), horizontal, torch.from_numpy(vertical)).numpy()
    for b in range(5):
        expected = images[b]
        expected = expected[:, ::-1] if horizontal[b] else expected
        expected = expected[::-1] if vertical[b] else expected
        np.testing.assert_array_equal(out[b], expected)
    np.testing.assert_array_equal(flip(torch.from_numpy(images), True, False).numpy(), images[:, :, ::-1])


def test_channel_shift_matches_keras(legacy, rng):
    images = np.concatenate([random_images(rng, 3, 5, 7), structured_images(3, 5, 7)])
    intensity = rng.uniform(-80, 80, 6)
    out = channel_shift(torch.from_numpy(images), intensity).numpy()
    for b in range(6):
        expected = legacy.apply_channel_shift(images[b].astype(np.float64), intensity[b], channel_axis=2)
        np.testing.assert_allclose(out[b], expected, rtol=0, atol=1e-4)


def pil_enhanced(enhancer, images, factors):
    """PIL's ImageEnhance on each uint8 image (RGB, or 'L' for one channel)."""
    results = []
    for image, factor in zip(images, factors):
        pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
        results.append(np.asarray(enhancer(pil).enhance(factor), dtype=np.float64).reshape(image.shape))
    return np.stack(results)


def uint8_images(rng, batch, height, width, channels=3):
    images = rng.integers(0, 256, (batch, height, width, channels)).astype(np.uint8)
    images[0] = structured_images(1, height, width, channels)[0].astype(np.uint8)
    return images


def test_brightness_matches_pil_and_formula(rng):
    images = uint8_images(rng, 6, 6, 8)
    factors = np.array([0.0, 0.3, 1.0, 1.4, 2.0, 0.75])
    out = brightness(torch.from_numpy(images.astype(np.float32)), factors).numpy()
    np.testing.assert_allclose(out, np.clip(images * factors[:, None, None, None], 0, 255), rtol=0, atol=1e-3)
    # PIL truncates the blend to uint8: cnnkit is above by less than 1.
    difference = out - pil_enhanced(ImageEnhance.Brightness, images, factors)
    assert difference.min() >= -1e-3 and difference.max() < 1.0


@pytest.mark.parametrize("channels", [3, 1])
def test_contrast_matches_pil_and_formula(rng, channels):
    images = uint8_images(rng, 6, 7, 5, channels)
    factors = np.array([0.0, 0.4, 1.0, 1.3, 2.0, 0.9])
    out = contrast(torch.from_numpy(images.astype(np.float32)), torch.from_numpy(factors)).numpy()
    x = images.astype(np.float64)
    grey = x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114 if channels == 3 else x[..., 0]
    mean = grey.mean(axis=(1, 2))[:, None, None, None]
    f = factors[:, None, None, None]
    np.testing.assert_allclose(out, np.clip(mean + f * (x - mean), 0, 255), rtol=0, atol=1e-3)
    # PIL rounds L and the mean (together < 1 grey level off) and truncates the blend: |1 - f| + 1 at most.
    difference = out - pil_enhanced(ImageEnhance.Contrast, images, factors)
    bound = 1.0 + np.abs(1.0 - f)
    assert np.all(difference <= bound + 1e-3) and np.all(difference >= -np.abs(1.0 - f) - 1e-3)


def test_sharpen_matches_pil_and_formula(rng):
    images = uint8_images(rng, 6, 6, 7)
    factors = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
    out = sharpen(torch.from_numpy(images.astype(np.float32)), factors).numpy()
    x = images.astype(np.float64)
    degenerate = x.copy()  # PIL's SMOOTH filter: 3x3 [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13, border pixels kept
    degenerate[:, 1:-1, 1:-1] = sum(x[:, 1 + i:x.shape[1] - 1 + i, 1 + j:x.shape[2] - 1 + j] * (5 if i == j == 0 else 1)
                                    for i in (-1, 0, 1) for j in (-1, 0, 1)) / 13
    f = factors[:, None, None, None]
    np.testing.assert_allclose(out, np.clip(degenerate + f * (x - degenerate), 0, 255), rtol=0, atol=1e-3)
    np.testing.assert_array_equal(out[2], images[2])
    # PIL rounds the smoothed image (0.5 off at most) and truncates the blend: 0.5 |1 - f| + 1 at most.
    difference = out - pil_enhanced(ImageEnhance.Sharpness, images, factors)
    bound = 0.5 * np.abs(1.0 - f)
    assert np.all(difference <= 1.0 + bound + 1e-3) and np.all(difference >= -bound - 1e-3)


# ---- gaussian blur and noise ----------------------------------------------------------------------------------


def test_gaussian_blur_matches_scipy(rng):
    for height, width in [(7, 9), (5, 4), (1, 6)]:
        images = np.concatenate([random_images(rng, 3, height, width), structured_images(2, height, width)])
        sigmas = np.array([0.0, 0.1, 0.8, 1.7, 3.0])  # radius 0 (one tap) up to 12 (wider than the image)
        out = gaussian_blur(torch.from_numpy(images), sigmas).numpy()
        for b in range(5):
            expected = ndimage.gaussian_filter(images[b].astype(np.float64), (sigmas[b], sigmas[b], 0),
                                               mode="nearest", truncate=4.0)
            np.testing.assert_allclose(out[b], expected, rtol=0, atol=1e-3, err_msg=f"sigma {sigmas[b]}")
        np.testing.assert_array_equal(out[0], images[0])


def test_add_noise_reproducible_and_distributed(rng):
    images = torch.from_numpy(random_images(rng, 4, 64, 64))
    stds = np.array([1.0, 5.0, 0.0, 20.0])
    first = add_noise(images, stds, torch.Generator().manual_seed(7))
    assert torch.equal(first, add_noise(images, stds, torch.Generator().manual_seed(7)))
    assert not torch.equal(first, add_noise(images, stds, torch.Generator().manual_seed(8)))
    noise = (first - images).double()
    assert torch.equal(first[2], images[2])
    count = noise[0].numel()
    for b in (0, 1, 3):
        assert abs(noise[b].mean().item()) < 4 * stds[b] / np.sqrt(count)
        assert abs(noise[b].std().item() / stds[b] - 1) < 0.05
    assert (add_noise(torch.zeros(1, 8, 8, 3), 10.0, torch.Generator().manual_seed(0)) < 0).any()  # not clipped


# ---- shared behaviour and errors ------------------------------------------------------------------------------


KERNELS = {
    "warp": lambda x: warp(x, affine_matrices(15.0, 1.0, 0, 0, 1, 1, 5, 6).repeat(2, 0)),
    "flip": lambda x: flip(x, [True, False], [False, True]),
    "channel_shift": lambda x: channel_shift(x, [10.0, -10.0]),
    "brightness": lambda x: brightness(x, 1.3),
    "contrast": lambda x: contrast(x, [0.5, 1.5]),
    "gaussian_blur": lambda x: gaussian_blur(x, [0.0, 1.0]),
    "sharpen": lambda x: sharpen(x, 2.0),
    "add_noise": lambda x: add_noise(x, 3.0, torch.Generator().manual_seed(0)),
}


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernels_return_new_tensors_and_keep_input(rng, name):
    images = torch.from_numpy(random_images(rng, 2, 5, 6))
    before = images.clone()
    out = KERNELS[name](images)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert torch.equal(images, before) and out.data_ptr() != images.data_ptr()


def test_errors_name_the_argument_and_value():
    images = torch.zeros(2, 5, 6, 3)
    matrices = affine_matrices(10.0, 0, 0, 0, 1, 1, 5, 6).repeat(2, 0)
    valid = r"\('constant', 'nearest', 'reflect', 'wrap'\)"
    with pytest.raises(ValueError, match=rf"fill_mode must be one of {valid}, got 'mirror'"):
        warp(images, matrices, fill_mode="mirror")
    with pytest.raises(ValueError, match=r"order must be one of \(0, 1\).*got 3"):
        warp(images, matrices, order=3)
    with pytest.raises(ValueError, match=r"images must have rank 4.*got shape \(5, 6, 3\)"):
        warp(images[0], matrices)
    with pytest.raises(ValueError, match=r"matrices must have shape \(2, 3, 3\) or \(2, 2, 3\).*got \(3, 3\)"):
        warp(images, matrices[0])
    with pytest.raises(TypeError, match="images must be a torch.Tensor"):
        brightness(images.numpy(), 1.0)
    with pytest.raises(ValueError, match=r"images must be a floating tensor.*torch.uint8"):
        sharpen(images.to(torch.uint8), 1.0)
    with pytest.raises(ValueError, match=r"factor must be a scalar or an array of length 2.*got shape \(3,\)"):
        contrast(images, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="contrast needs images with 1 or 3 channels.*got 2 channels"):
        contrast(images[..., :2], 1.0)
    with pytest.raises(ValueError, match=r"sigma must be >= 0"):
        gaussian_blur(images, [1.0, -1.0])
    with pytest.raises(ValueError, match=r"std must be >= 0"):
        add_noise(images, -1.0, torch.Generator())
    with pytest.raises(ValueError, match="generator must be a torch.Generator"):
        add_noise(images, 1.0, 0)
    with pytest.raises(ValueError, match=r"intensity must be finite"):
        channel_shift(images, [np.nan, 1.0])
    with pytest.raises(ValueError, match=r"must have one length.*got lengths \[2, 3"):
        affine_matrices([1.0, 2.0], [0.0, 0.0, 0.0], 0, 0, 1, 1, 5, 6)
    with pytest.raises(ValueError, match=r"height must be a positive int, got 0"):
        affine_matrices(1.0, 0, 0, 0, 1, 1, 0, 6)
    with pytest.raises(ValueError, match=r"horizontal must be a scalar or an array of length 2"):
        flip(images, [True], False)
    assert augment.FILL_MODES == FILL_MODES
