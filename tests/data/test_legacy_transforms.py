"""ImageDataGenerator compiled to `Transform`s (cnnkit.data.legacy_transforms, cnnkit.data.standardization): the
order and stages, each transform against Keras's legacy `ImageDataGenerator` on the same parameters, the
standardisation steps against numpy, and the warp's sampling grid against torch's `affine_grid`."""

import warnings

import numpy as np
import pytest
import torch

from cnnkit.data import legacy_transforms as lt
from cnnkit.data import standardization as st
from cnnkit.data.generator import ImageDataGenerator
from cnnkit.data.transforms import Transform
from cnnkit.data.warp import _affine_grid

AUGMENTATIONS = ["AffineWarp", "Flip", "ChannelShift", "Brightness", "Contrast", "GaussianBlur", "Sharpen",
                 "GaussianNoise"]


@pytest.fixture(scope="module")
def keras_idg(keras):
    from keras.src.legacy.preprocessing.image import ImageDataGenerator as KerasIDG  # noqa: PLC0415

    def make(**kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return KerasIDG(data_format="channels_last", **kwargs)

    return make


def test_generator_compiles_to_ordered_transforms():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gen = ImageDataGenerator(rotation_range=20, horizontal_flip=True, rescale=1 / 255, samplewise_center=True,
                                 featurewise_center=True, zca_whitening=True, preprocessing_function=np.flipud)
    steps = list(gen.transforms)
    assert [type(t).__name__ for t in steps] == AUGMENTATIONS + [
        "PreprocessingFunction", "Rescale", "SamplewiseCenter", "FeaturewiseCenter", "ZCAWhitening"]
    assert all(isinstance(t, Transform) for t in steps)
    assert [t.stage for t in steps] == ["augment"] * 8 + ["standardize"] * 5
    assert [type(t).__name__ for t in ImageDataGenerator(rescale=0.5).transforms] == ["Rescale"]
    assert not list(ImageDataGenerator().transforms)


@pytest.mark.parametrize("fill_mode", ["nearest", "constant"])
def test_augmentation_pipeline_equals_keras_apply_transform(keras_idg, rng, fill_mode):
    settings = dict(rotation_range=30, width_shift_range=0.2, zoom_range=0.2, horizontal_flip=True,
                    vertical_flip=True, channel_shift_range=20.0, fill_mode=fill_mode, cval=9.0)
    pipeline = ImageDataGenerator(**settings).transforms
    x = rng.uniform(0, 255, (6, 9, 11, 3)).astype(np.float32)
    params = pipeline.draw(torch.from_numpy(x), np.random.default_rng(2))
    assert params["flip_horizontal"].any() and params["theta"].std() > 0  # per-image parameters
    out = pipeline.apply(torch.from_numpy(x), params).numpy()
    theirs = keras_idg(**settings)
    for k in range(len(x)):
        one = {key: (None if v is None else v[k].item()) for key, v in params.items()}
        np.testing.assert_allclose(out[k], theirs.apply_transform(x[k], one), atol=2e-2)


def test_draw_reads_only_the_shape():
    pipeline = ImageDataGenerator(rotation_range=10, brightness_range=(0.5, 1.5), noise_std=2.0).transforms
    a = pipeline.draw(lt.shape_only(4, 9, 11), np.random.default_rng(0))
    b = pipeline.draw(torch.rand(4, 9, 11, 3), np.random.default_rng(0))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_missing_keys_leave_images_unchanged(rng):
    x = torch.from_numpy(rng.uniform(0, 255, (2, 6, 7, 3)).astype(np.float32))
    pipeline = lt.Pipeline([lt.AffineWarp(), lt.Flip(True, True), lt.ChannelShift(10.0), lt.Brightness([0.5, 1])])
    torch.testing.assert_close(pipeline.apply(x, {}), x, rtol=0, atol=0)
    flipped = pipeline.apply(x, {"flip_horizontal": np.array([True, False])}).numpy()
    np.testing.assert_array_equal(flipped[0], x.numpy()[0, :, ::-1])
    np.testing.assert_array_equal(flipped[1], x.numpy()[1])


def test_standardization_steps_against_numpy(rng):
    x = rng.uniform(0, 255, (3, 5, 6, 3)).astype(np.float32)
    mean, std = x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))
    expected = x * np.float32(1 / 255)
    expected = expected - expected.mean(axis=(1, 2, 3), keepdims=True)
    expected = (expected - mean) / (std + 1e-6)
    out = torch.from_numpy(x.copy())
    for step in (st.Rescale(1 / 255), st.SamplewiseCenter(), st.FeaturewiseCenter(mean),
                 st.FeaturewiseStdNormalization(std)):
        out = step.apply(out, None)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)
    # a unit may be a whole batch (Keras's standardize of a batch): statistics over all of it
    whole = st.SamplewiseStdNormalization().apply_numpy(x.copy()[None])[0]
    np.testing.assert_allclose(whole, x / (x.std() + 1e-6), rtol=1e-5)


def test_rescale_convert_is_conversion_then_scaling(rng):
    raw = rng.integers(0, 256, (2, 4, 5, 3), dtype=np.uint8)
    step = st.Rescale(1 / 255)
    converted = step.convert(raw.transpose(0, 2, 1, 3))  # any layout in, C-contiguous float32 out
    assert converted.flags.c_contiguous and converted.dtype == np.float32
    np.testing.assert_array_equal(converted, raw.transpose(0, 2, 1, 3).astype(np.float32) * np.float32(1 / 255))


@pytest.mark.parametrize("align_corners", [True, False])
def test_affine_grid_equals_torch(rng, align_corners):
    for n, height, width in ((1, 2, 2), (3, 9, 17), (5, 31, 8)):
        theta = torch.tensor(rng.normal(0, 1, (n, 2, 3)), dtype=torch.float32)
        expected = torch.nn.functional.affine_grid(theta, [n, 3, height, width], align_corners=align_corners)
        torch.testing.assert_close(_affine_grid(theta, height, width, align_corners), expected, rtol=0, atol=0)


def test_preprocessing_function_sees_the_generator_layout(keras_idg, rng):
    """As in Keras, preprocessing_function gets each image in the generator's data_format (channels_first here:
    (channels, height, width)), in batches and in standardize alike."""
    def first_axis_ramp(image):
        return image * np.arange(1, image.shape[0] + 1, dtype=np.float32).reshape(-1, 1, 1)

    x = rng.uniform(0, 255, (4, 3, 5, 6)).astype(np.float32)
    kwargs = dict(data_format="channels_first", preprocessing_function=first_axis_ramp, rescale=0.5)
    ours = ImageDataGenerator(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from keras.src.legacy.preprocessing.image import ImageDataGenerator as KerasIDG  # noqa: PLC0415
        theirs = KerasIDG(**kwargs)
    expected = theirs.flow(x, batch_size=4, shuffle=False)[0]
    np.testing.assert_allclose(ours.flow(x, batch_size=4, shuffle=False)[0], expected, rtol=1e-6)
    np.testing.assert_allclose(ours.standardize(x[0].copy()), expected[0], rtol=1e-6)
