"""`cnnkit.data.ImageDataGenerator` against Keras's legacy `ImageDataGenerator` (the oracle, Keras 3 on TensorFlow).

What is compared, and how closely:
    - apply_transform: same params dict -> Keras's image. Order 0 (nearest) is exact; order 1 (bilinear) within
      2e-2 at pixel values 0..255, because cnnkit samples with torch's grid_sample on float32 coordinates (Keras:
      scipy in float64). Flips combined with a warp are folded into the warp matrix only where the sampling is
      continuous in the coordinates (bilinear with 'nearest' / 'reflect'); everywhere else the warp's float64
      coordinates are scipy's, so even exact ties (theta=90/180, half-pixel shifts, zoom 2) pick Keras's pixels:
      those cases are compared exactly (order 0) / within 2e-2 (order 1, all fill modes).
    - brightness: Keras goes through a uint8 PIL image (input and result truncated), cnnkit stays in float:
      compared exactly with np.clip(x * factor, 0, 255), and with Keras within 1 grey level on integer-valued
      input (only the result's rounding differs) and within factor + 1 on arbitrary float input.
    - get_random_transform: different RNGs, so summary statistics (support, min / max, mean, std, frequencies)
      over 2000 draws each, not values.
    - standardize / fit / flow: equal to Keras's (fit bit-for-bit on the same float32 input; standardize within
      float32 round-off).
"""

import os
import warnings

import numpy as np
import pytest
from PIL import Image

from cnnkit.data.generator import ImageDataGenerator

FILL_MODES = ("constant", "nearest", "reflect", "wrap")
DRAWS = 2000


@pytest.fixture(scope="module")
def keras_idg(keras):
    from keras.src.legacy.preprocessing.image import ImageDataGenerator as KerasIDG  # noqa: PLC0415

    def make(**kwargs):
        kwargs.setdefault("data_format", "channels_last")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return KerasIDG(**kwargs)

    return make


def ours(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the "overrides setting of" warnings, tested separately
        return ImageDataGenerator(**kwargs)


def images(rng, n, height=9, width=11, channels=3):
    return rng.uniform(0, 255, (n, height, width, channels)).astype(np.float32)


def _random_params(rng):
    """A Keras transform dict with each geometric part present about half the time, random flips, channel shift."""
    def maybe(p, value, default):
        return float(value) if rng.random() < p else default

    return {"theta": maybe(0.7, rng.uniform(-40, 40), 0), "tx": maybe(0.5, rng.uniform(-3, 3), 0),
            "ty": maybe(0.5, rng.uniform(-3, 3), 0), "shear": maybe(0.4, rng.uniform(-20, 20), 0),
            "zx": maybe(0.5, rng.uniform(0.7, 1.3), 1), "zy": maybe(0.5, rng.uniform(0.7, 1.3), 1),
            "flip_horizontal": bool(rng.random() < 0.5), "flip_vertical": bool(rng.random() < 0.5),
            "channel_shift_intensity": maybe(0.4, rng.uniform(-30, 30), None), "brightness": None}


def _tie_params(rng):
    """Parameters that put source coordinates exactly on pixel centres, half-pixels and the image edge (up to the
    float64 round-off of cos(90 deg) etc.), with flips: where a different rounding picks a different pixel."""
    return {"theta": float(rng.choice([0, 90, -90, 180, 45])), "tx": float(rng.choice([0, 1, -2, 0.5, 2.5])),
            "ty": float(rng.choice([0, 1, -3, 0.5, 1.5])), "shear": float(rng.choice([0, 0, 45])),
            "zx": float(rng.choice([1, 0.5, 2, 1.5])), "zy": float(rng.choice([1, 0.5, 2, 0.75])),
            "flip_horizontal": bool(rng.random() < 0.5), "flip_vertical": bool(rng.random() < 0.5)}


def _assert_transform_close(a, b, order, context):
    if order == 0:
        np.testing.assert_array_equal(a, b, err_msg=str(context))
    else:
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-2, err_msg=str(context))


# ---- 1. apply_transform ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_apply_transform_equals_keras(keras_idg, fill_mode, order):
    rng = np.random.default_rng([7, FILL_MODES.index(fill_mode), order])
    for cval in (0.0, 77.5):
        theirs = keras_idg(fill_mode=fill_mode, cval=cval, interpolation_order=order)
        mine = ours(fill_mode=fill_mode, cval=cval, interpolation_order=order)
        for i in range(24):
            shape = [(9, 11), (32, 32), (11, 9)][i % 3]
            x = images(rng, 1, *shape)[0]
            params = _random_params(rng)
            expected = theirs.apply_transform(x.copy(), params)
            before = x.copy()
            got = mine.apply_transform(x, params)
            np.testing.assert_array_equal(x, before)  # the input is not modified
            assert got.shape == x.shape and got.dtype == np.float32
            _assert_transform_close(got, expected, order, (cval, params))


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_apply_transform_flips_with_warp_at_exact_ties_equal_keras(keras_idg, fill_mode, order):
    """Flip + rotation / zoom / half-pixel shifts: the flip must act like Keras's flip after the warp, also where a
    coordinate sits exactly on a rounding tie or the image edge (a folded flip matrix rounds differently: with
    fill_mode='constant', theta=90 and a flip put a cval row where Keras has pixels)."""
    rng = np.random.default_rng([11, FILL_MODES.index(fill_mode), order])
    theirs = keras_idg(fill_mode=fill_mode, cval=3.0, interpolation_order=order)
    mine = ours(fill_mode=fill_mode, cval=3.0, interpolation_order=order)
    for i in range(40):
        shape = [(9, 11), (8, 8), (11, 9), (32, 32)][i % 4]
        x = images(rng, 1, *shape)[0]
        params = _tie_params(rng)
        _assert_transform_close(mine.apply_transform(x, params), theirs.apply_transform(x.copy(), params), order,
                                params)
    for theta in (90, -90, 180):  # the plain case: rotate by a right angle and mirror
        for flips in ((True, False), (False, True), (True, True)):
            for shape in ((8, 8), (9, 11)):
                x = images(rng, 1, *shape)[0]
                params = {"theta": theta, "flip_horizontal": flips[0], "flip_vertical": flips[1]}
                _assert_transform_close(mine.apply_transform(x, params), theirs.apply_transform(x.copy(), params),
                                        order, params)


@pytest.mark.parametrize("fill_mode, order", [("nearest", 1), ("constant", 0)])
def test_keras_random_draws_through_both_apply_transforms(keras_idg, fill_mode, order):
    """Keras's own get_random_transform (every Keras setting on) fed to both apply_transform's."""
    kwargs = dict(rotation_range=40, width_shift_range=0.2, height_shift_range=3, shear_range=20, zoom_range=0.3,
                  channel_shift_range=25, horizontal_flip=True, vertical_flip=True, fill_mode=fill_mode,
                  interpolation_order=order, cval=9.0)
    theirs, mine = keras_idg(**kwargs), ours(**kwargs)
    rng = np.random.default_rng(3)
    for seed in range(20):
        x = images(rng, 1, 12, 10)[0]
        params = theirs.get_random_transform(x.shape, seed=seed)
        _assert_transform_close(mine.apply_transform(x, params), theirs.apply_transform(x.copy(), params), order,
                                params)


def test_apply_transform_flips_and_channel_shift_alone_are_exact(keras_idg, rng):
    theirs, mine = keras_idg(), ours()
    for params in ({"flip_horizontal": True}, {"flip_vertical": True},
                   {"flip_horizontal": True, "flip_vertical": True, "channel_shift_intensity": 40.0},
                   {"channel_shift_intensity": -25.0}, {}, {"theta": 0, "tx": 0, "zx": 1, "zy": 1}):
        x = images(rng, 1)[0]
        np.testing.assert_array_equal(mine.apply_transform(x, params), theirs.apply_transform(x.copy(), params))


def test_apply_transform_brightness(keras_idg, rng):
    """Keras truncates through uint8 (input and result); cnnkit computes clip(x * factor, 0, 255) in float."""
    theirs, mine = keras_idg(), ours()
    for _ in range(30):
        factor = float(rng.uniform(0.2, 1.8))
        x = images(rng, 1)[0]
        got = mine.apply_transform(x, {"brightness": factor})
        np.testing.assert_allclose(got, np.clip(x * factor, 0, 255), rtol=1e-6, atol=1e-4)
        expected = theirs.apply_transform(x.copy(), {"brightness": factor})
        assert np.abs(got - expected).max() <= factor + 1.0  # input truncation (<= factor) + result rounding
        whole = np.floor(x)  # integer-valued input: only the rounding of the result differs
        np.testing.assert_allclose(mine.apply_transform(whole, {"brightness": factor}),
                                   theirs.apply_transform(whole.copy(), {"brightness": factor}), rtol=0, atol=1.0)
    # combined with a warp, a channel shift and a flip: brightness comes last, as in Keras
    params = {"theta": 17.0, "zx": 1.1, "channel_shift_intensity": 12.0, "flip_horizontal": True}
    x = images(rng, 1, 32, 32)[0]
    without = mine.apply_transform(x, params)
    np.testing.assert_allclose(mine.apply_transform(x, dict(params, brightness=1.3)),
                               np.clip(without * 1.3, 0, 255), rtol=1e-6, atol=1e-3)


def test_random_transform_is_apply_of_get_random_transform(rng):
    gen = ours(rotation_range=30, width_shift_range=0.2, zoom_range=0.2, horizontal_flip=True,
               channel_shift_range=10, noise_std=3.0)
    x = images(rng, 1)[0]
    params = gen.get_random_transform(x.shape, seed=5)
    np.testing.assert_array_equal(gen.random_transform(x, seed=5), gen.apply_transform(x, params))
    with pytest.raises(ValueError, match="rank 3"):
        gen.apply_transform(x[None], params)


# ---- 2. get_random_transform: Keras's distributions -----------------------------------------------------------------


def _draws(gen, shape, keys, keras_style=False):
    """{key: array of DRAWS values} from get_random_transform(shape, seed=i)."""
    out = {key: [] for key in keys}
    for i in range(DRAWS):
        params = gen.get_random_transform(shape, seed=i)
        for key in keys:
            out[key].append(params[key])
    return {key: np.asarray(values, dtype=np.float64) for key, values in out.items()}


def _assert_same_distribution(a, b, low, high, what):
    """Two samples of a continuous uniform(low, high): support, extremes, mean and std agree with Keras's."""
    span = high - low
    for values in (a, b):
        assert values.min() >= low - 1e-9 and values.max() <= high + 1e-9, what
        assert values.min() < low + 0.01 * span and values.max() > high - 0.01 * span, what
    sigma = span / np.sqrt(12)
    tolerance = 5 * sigma / np.sqrt(DRAWS)  # 5 standard errors of the difference of two means (and then some)
    assert abs(a.mean() - b.mean()) < tolerance and abs(a.mean() - (low + high) / 2) < tolerance, what
    assert abs(a.std() / b.std() - 1) < 0.06 and abs(a.std() / sigma - 1) < 0.06, what


def _assert_same_frequencies(a, b, expected, what):
    values = sorted(expected)
    assert set(np.unique(a)) == set(np.unique(b)) == set(values), (what, np.unique(a), np.unique(b))
    for value in values:
        fa, fb = np.mean(a == value), np.mean(b == value)
        assert abs(fa - expected[value]) < 0.04 and abs(fb - expected[value]) < 0.04, (what, value, fa, fb)


def test_random_rotation_shear_zoom_channel_shift_brightness_match_keras(keras_idg):
    kwargs = dict(rotation_range=30, shear_range=15, zoom_range=0.25, channel_shift_range=20,
                  brightness_range=(0.4, 1.6))
    keys = ("theta", "shear", "zx", "zy", "channel_shift_intensity", "brightness")
    a = _draws(ours(**kwargs), (9, 11, 3), keys)
    b = _draws(keras_idg(**kwargs), (9, 11, 3), keys)
    for key, (low, high) in {"theta": (-30, 30), "shear": (-15, 15), "zx": (0.75, 1.25), "zy": (0.75, 1.25),
                             "channel_shift_intensity": (-20, 20), "brightness": (0.4, 1.6)}.items():
        _assert_same_distribution(a[key], b[key], low, high, key)
    assert abs(np.corrcoef(a["zx"], a["zy"])[0, 1]) < 0.1  # two independent zoom factors, as Keras
    assert not np.array_equal(a["zx"], a["zy"])
    # zoom as [lower, upper]
    a = _draws(ours(zoom_range=[0.5, 1.5]), (9, 11, 3), ("zx", "zy"))
    b = _draws(keras_idg(zoom_range=[0.5, 1.5]), (9, 11, 3), ("zx", "zy"))
    for key in ("zx", "zy"):
        _assert_same_distribution(a[key], b[key], 0.5, 1.5, key)


def test_random_transform_neutral_values_when_off(keras_idg):
    mine = ours().get_random_transform((9, 11, 3), seed=1)
    theirs = keras_idg().get_random_transform((9, 11, 3), seed=1)
    for key, value in theirs.items():
        assert mine[key] == value, key  # 0 / 1 / False / None
    flips = _draws(ours(horizontal_flip=True), (9, 11, 3), ("flip_horizontal", "flip_vertical"))
    assert not flips["flip_vertical"].any()


def test_random_shifts_float_fraction_scaled_by_image_size(keras_idg):
    """tx is the row (height) shift, ty the column (width) shift, as in Keras; both scaled by the image size."""
    kwargs = dict(width_shift_range=0.2, height_shift_range=0.1)
    for shape in ((9, 11, 3), (32, 20, 3)):
        a = _draws(ours(**kwargs), shape, ("tx", "ty"))
        b = _draws(keras_idg(**kwargs), shape, ("tx", "ty"))
        _assert_same_distribution(a["tx"], b["tx"], -0.1 * shape[0], 0.1 * shape[0], ("tx", shape))
        _assert_same_distribution(a["ty"], b["ty"], -0.2 * shape[1], 0.2 * shape[1], ("ty", shape))
    # a float >= 1 is pixels (uniform, not scaled)
    a = _draws(ours(width_shift_range=2.5), (9, 11, 3), ("ty",))["ty"]
    b = _draws(keras_idg(width_shift_range=2.5), (9, 11, 3), ("ty",))["ty"]
    _assert_same_distribution(a, b, -2.5, 2.5, "ty pixels")


def test_random_shifts_int_and_list_match_keras(keras_idg):
    shape = (9, 11, 3)
    # int r: a value of range(r) with a random sign -> integers in (-r, r), 0 twice as likely
    a = _draws(ours(width_shift_range=3, height_shift_range=2), shape, ("tx", "ty"))
    b = _draws(keras_idg(width_shift_range=3, height_shift_range=2), shape, ("tx", "ty"))
    _assert_same_frequencies(a["ty"], b["ty"], {-2: 1 / 6, -1: 1 / 6, 0: 1 / 3, 1: 1 / 6, 2: 1 / 6}, "int ty")
    _assert_same_frequencies(a["tx"], b["tx"], {-1: 1 / 4, 0: 1 / 2, 1: 1 / 4}, "int tx")
    # list: a value of the list with a random sign (pixels when max >= 1)
    a = _draws(ours(width_shift_range=[2, 5]), shape, ("ty",))["ty"]
    b = _draws(keras_idg(width_shift_range=[2, 5]), shape, ("ty",))["ty"]
    _assert_same_frequencies(a, b, {-5: 0.25, -2: 0.25, 2: 0.25, 5: 0.25}, "list ty")
    # list of fractions (max < 1): scaled by the image size
    a = _draws(ours(height_shift_range=[0.1, 0.2]), shape, ("tx",))["tx"]
    b = _draws(keras_idg(height_shift_range=[0.1, 0.2]), shape, ("tx",))["tx"]
    a, b = np.round(a, 9), np.round(b, 9)
    _assert_same_frequencies(a, b, {-1.8: 0.25, -0.9: 0.25, 0.9: 0.25, 1.8: 0.25}, "fraction list tx")


def test_random_flips_probability_half(keras_idg):
    kwargs = dict(horizontal_flip=True, vertical_flip=True)
    a = _draws(ours(**kwargs), (9, 11, 3), ("flip_horizontal", "flip_vertical"))
    b = _draws(keras_idg(**kwargs), (9, 11, 3), ("flip_horizontal", "flip_vertical"))
    for key in ("flip_horizontal", "flip_vertical"):
        _assert_same_frequencies(a[key], b[key], {0: 0.5, 1: 0.5}, key)
    assert abs(np.corrcoef(a["flip_horizontal"], a["flip_vertical"])[0, 1]) < 0.1


def test_get_random_transform_seeded_and_channels_first():
    gen = ours(rotation_range=20, width_shift_range=0.3, height_shift_range=0.1, zoom_range=0.2,
               horizontal_flip=True)
    assert gen.get_random_transform((9, 11, 3), seed=4) == gen.get_random_transform((9, 11, 3), seed=4)
    assert gen.get_random_transform((9, 11, 3), seed=4) != gen.get_random_transform((9, 11, 3), seed=5)
    first = ours(rotation_range=20, width_shift_range=0.3, height_shift_range=0.1, zoom_range=0.2,
                 horizontal_flip=True, data_format="channels_first")
    # the image size comes from the spatial axes of each layout
    assert first.get_random_transform((3, 9, 11), seed=4) == gen.get_random_transform((9, 11, 3), seed=4)


# ---- 3. standardize and fit ---------------------------------------------------------------------------------------


@pytest.fixture
def sample(rng):
    return images(rng, 20, 6, 6)


@pytest.mark.parametrize("kwargs", [
    dict(featurewise_center=True),
    dict(featurewise_std_normalization=True),
    dict(featurewise_center=True, featurewise_std_normalization=True, rescale=1 / 255),
    dict(zca_whitening=True),
    dict(zca_whitening=True, rescale=1 / 255, zca_epsilon=1e-2),
], ids=["center", "std", "center-std-rescale", "zca", "zca-rescale-eps"])
def test_fit_equals_keras(keras_idg, sample, kwargs):
    theirs, mine = keras_idg(**kwargs), ours(**kwargs)
    before = sample.copy()
    theirs.fit(sample)
    mine.fit(sample)
    np.testing.assert_array_equal(sample, before)  # fit works on a copy
    for name in ("mean", "std", "zca_whitening_matrix"):
        expected, got = getattr(theirs, name), getattr(mine, name)
        if expected is None:
            assert got is None, name
            continue
        assert got.shape == expected.shape and got.dtype == expected.dtype, name
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7 * np.abs(expected).max(), err_msg=name)
    for x in (sample[4], sample[:5]):  # one image and a batch
        np.testing.assert_allclose(mine.standardize(x.copy()), theirs.standardize(x.copy()), rtol=1e-5, atol=1e-5)


def test_fit_channels_first_equals_keras(keras_idg, sample):
    kwargs = dict(featurewise_center=True, featurewise_std_normalization=True, data_format="channels_first")
    nchw = np.ascontiguousarray(sample.transpose(0, 3, 1, 2))
    theirs, mine = keras_idg(**kwargs), ours(**kwargs)
    theirs.fit(nchw)
    mine.fit(nchw)
    assert mine.mean.shape == (3, 1, 1)
    np.testing.assert_allclose(mine.mean, theirs.mean, rtol=1e-5)
    np.testing.assert_allclose(mine.std, theirs.std, rtol=1e-5)
    np.testing.assert_allclose(mine.standardize(nchw[2].copy()), theirs.standardize(nchw[2].copy()), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("kwargs", [
    dict(rescale=1 / 255),
    dict(samplewise_center=True),
    dict(samplewise_std_normalization=True),
    dict(samplewise_center=True, samplewise_std_normalization=True, rescale=0.5),
    dict(preprocessing_function=lambda x: x[..., ::-1] * 0.5 + 3.0, rescale=2.0),
], ids=["rescale", "samplewise-center", "samplewise-std", "samplewise-both-rescale", "preprocessing-function"])
def test_standardize_equals_keras(keras_idg, sample, kwargs):
    theirs, mine = keras_idg(**kwargs), ours(**kwargs)
    for x in (sample[0], sample[:4]):
        np.testing.assert_allclose(mine.standardize(x.copy()), theirs.standardize(x.copy()), rtol=1e-5, atol=1e-5)


def test_standardize_unfitted_warns_like_keras(sample):
    gen = ours(featurewise_center=True)
    with pytest.warns(UserWarning, match="hasn't been fit"):
        out = gen.standardize(sample[0].copy())
    np.testing.assert_array_equal(out, sample[0])


def test_implied_settings_warn_like_keras():
    with pytest.warns(UserWarning) as record:
        gen = ImageDataGenerator(zca_whitening=True, featurewise_std_normalization=True)
    messages = " ".join(str(w.message) for w in record)
    assert "overrides setting of `featurewise_center`" in messages
    assert "overrides setting of `featurewise_std_normalization`" in messages
    assert gen.featurewise_center and not gen.featurewise_std_normalization
    with pytest.warns(UserWarning, match="overrides setting of `samplewise_center`"):
        assert ImageDataGenerator(samplewise_std_normalization=True).samplewise_center


# ---- 4. the batch path ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    dict(featurewise_center=True, featurewise_std_normalization=True),
    dict(zca_whitening=True, rescale=1 / 255),
    dict(samplewise_center=True, samplewise_std_normalization=True, rescale=1 / 255),
    dict(rescale=1 / 127.5, preprocessing_function=lambda x: x - 1.0),
    dict(featurewise_center=True, samplewise_center=True),
], ids=["featurewise", "zca-rescale", "samplewise-rescale", "preprocessing-rescale", "feature-and-samplewise"])
def test_flow_standardizes_each_image_like_keras(keras_idg, sample, kwargs):
    theirs, mine = keras_idg(**kwargs), ours(**kwargs)
    theirs.fit(sample)
    mine.fit(sample)
    y = np.arange(len(sample))
    batches = mine.flow(sample, y, batch_size=6, shuffle=False)
    got = np.concatenate([batches[i][0] for i in range(len(batches))])
    np.testing.assert_array_equal(np.concatenate([batches[i][1] for i in range(len(batches))]), y)
    per_image = np.stack([theirs.standardize(image.copy()) for image in sample])
    np.testing.assert_allclose(got, per_image, rtol=1e-5, atol=1e-5)
    keras_flow = theirs.flow(sample, y, batch_size=6, shuffle=False)
    np.testing.assert_allclose(got, np.concatenate([keras_flow[i][0] for i in range(len(keras_flow))]), rtol=1e-5,
                               atol=1e-5)
    # the batch path and the one-image API agree
    np.testing.assert_allclose(got[3], mine.standardize(sample[3].copy()), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kwargs", [
    dict(rescale=1 / 255),
    dict(rescale=1 / 255, samplewise_center=True),
    dict(preprocessing_function=lambda x: x * 2.0, rescale=0.5),
    dict(rescale=1 / 255, rotation_range=20, horizontal_flip=True, channel_shift_range=9.0),
    {},
], ids=["rescale", "rescale-samplewise", "preprocessing", "augmented", "plain"])
def test_process_batch_uint8_equals_float(rng, kwargs):
    gen = ours(**kwargs)
    raw = rng.integers(0, 256, (5, 9, 11, 3), dtype=np.uint8)
    as_uint8 = gen.process_batch(raw, np.random.default_rng(3))
    as_float = gen.process_batch(raw.astype(np.float32), np.random.default_rng(3))
    assert as_uint8.dtype == as_float.dtype == np.float32
    np.testing.assert_allclose(as_uint8, as_float, rtol=1e-6, atol=1e-6)


def test_process_batch_with_params_is_apply_transform_per_image(rng):
    gen = ours(rotation_range=25, width_shift_range=0.2, zoom_range=0.1, horizontal_flip=True, vertical_flip=True,
               channel_shift_range=15, brightness_range=(0.7, 1.2), rescale=1 / 255, samplewise_center=True)
    x = images(rng, 4)
    params = gen.sample_params(4, (9, 11), np.random.default_rng(0))
    batch = gen.process_batch(x, params=params)
    for k in range(4):
        one = {key: (None if value is None else value[k].item()) for key, value in params.items()}
        expected = gen.standardize(gen.apply_transform(x[k], one))
        np.testing.assert_allclose(batch[k], expected, rtol=1e-5, atol=1e-5)
    # augment=False only standardizes
    np.testing.assert_allclose(gen.process_batch(x, augment=False), np.stack([gen.standardize(i.copy()) for i in x]),
                               rtol=1e-6, atol=1e-6)


# ---- 5. cnnkit's extras -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, key, low, high", [
    (dict(contrast_range=0.3), "contrast", 0.7, 1.3),
    (dict(contrast_range=(0.5, 2.0)), "contrast", 0.5, 2.0),
    (dict(blur_range=2.0), "blur", 0.0, 2.0),
    (dict(blur_range=[0.5, 1.5]), "blur", 0.5, 1.5),
    (dict(sharpen_range=1.0), "sharpen", 1.0, 2.0),
    (dict(sharpen_range=(0.2, 3.0)), "sharpen", 0.2, 3.0),
], ids=["contrast-float", "contrast-pair", "blur-float", "blur-pair", "sharpen-float", "sharpen-pair"])
def test_extras_draw_in_range_and_change_the_image(rng, kwargs, key, low, high):
    gen = ours(**kwargs)
    values = np.array([gen.get_random_transform((9, 11, 3), seed=i)[key] for i in range(500)])
    span = high - low
    assert values.min() >= low and values.max() <= high
    assert values.min() < low + 0.02 * span and values.max() > high - 0.02 * span
    assert abs(values.mean() - (low + high) / 2) < 0.05 * span
    x = images(rng, 1)[0]
    params = gen.get_random_transform(x.shape, seed=1)
    out = gen.apply_transform(x, params)
    assert out.shape == x.shape and np.abs(out - x).max() > 1.0
    neutral = dict(params, **{key: 0.0 if key == "blur" else 1.0})
    np.testing.assert_allclose(gen.apply_transform(x, neutral), x, rtol=0, atol=1e-3)
    assert gen.augments


def test_contrast_float_clamps_lower_bound_at_zero():
    assert ours(contrast_range=1.5).contrast_range == [0.0, 2.5]


def test_noise_reproducible_and_independent_of_batch():
    rng = np.random.default_rng(2)
    gen = ours(noise_std=5.0, rotation_range=10)
    x = images(rng, 4, 32, 32)
    params = gen.sample_params(4, (32, 32), np.random.default_rng(9))
    assert params["noise_std"].tolist() == [5.0] * 4 and len(set(params["noise_seed"].tolist())) == 4
    batch = gen.augment_batch(x, params)
    np.testing.assert_array_equal(batch, gen.augment_batch(x, params))  # same params, same noise
    noise = batch - gen.augment_batch(x, dict(params, noise_std=None, noise_seed=None))
    assert abs(noise.std() - 5.0) < 0.25 and abs(noise.mean()) < 0.25
    assert not np.allclose(noise[0], noise[1])  # each image its own noise
    for k in range(4):  # the same image alone, with its own params, gets the same noise as inside the batch of 4
        alone = {key: (None if value is None else value[k:k + 1]) for key, value in params.items()}
        np.testing.assert_array_equal(gen.augment_batch(x[k:k + 1], alone)[0], batch[k])
        one = {key: (None if value is None else value[k].item()) for key, value in params.items()}
        np.testing.assert_allclose(gen.apply_transform(x[k], one), batch[k], rtol=0, atol=1e-4)
    # get_random_transform: the seed fixes the noise
    image = x[0]
    a = gen.random_transform(image, seed=3)
    np.testing.assert_array_equal(a, gen.random_transform(image, seed=3))
    assert not np.array_equal(a, gen.random_transform(image, seed=4))


def test_noise_through_flow_reproducible_from_seed():
    rng = np.random.default_rng(4)
    x = images(rng, 6)
    gen = ours(noise_std=2.0, blur_range=1.0, contrast_range=0.2, sharpen_range=0.5)
    a = gen.flow(x, batch_size=3, shuffle=False, seed=5)
    b = gen.flow(x, batch_size=3, shuffle=False, seed=5)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], gen.flow(x, batch_size=3, shuffle=False, seed=6)[1])
    assert np.abs(a[0] - x[:3]).max() > 1.0


# ---- 6. argument errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(rotaton_range=10), TypeError, "Did you mean 'rotation_range'"),
    (dict(horizontal_flp=True), TypeError, "Did you mean 'horizontal_flip'"),
    (dict(fill_mode="mirror"), ValueError, "fill_mode must be one of"),
    (dict(zoom_range="big"), ValueError, "zoom_range"),
    (dict(zoom_range=[0.5, 1.0, 1.5]), ValueError, "zoom_range"),
    (dict(zoom_range=-0.5), ValueError, "zoom_range"),
    (dict(brightness_range=0.5), ValueError, "brightness_range"),
    (dict(brightness_range=(0.5, 1.0, 1.5)), ValueError, "brightness_range"),
    (dict(interpolation_order=3), ValueError, "interpolation_order must be 0 .nearest. or 1 .bilinear."),
    (dict(validation_split=1.5), ValueError, "validation_split"),
    (dict(validation_split=-0.1), ValueError, "validation_split"),
    (dict(data_format="channels_middle"), ValueError, "data_format"),
    (dict(rotation_range=-5), ValueError, "rotation_range"),
    (dict(width_shift_range=["a"]), ValueError, "width_shift_range"),
    (dict(contrast_range=(2.0, 1.0)), ValueError, "contrast_range"),
    (dict(noise_std=-1.0), ValueError, "noise_std"),
    (dict(preprocessing_function="not callable"), TypeError, "preprocessing_function"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ImageDataGenerator(**kwargs)


def test_interpolation_order_message_names_the_received_value():
    with pytest.raises(ValueError) as info:
        ImageDataGenerator(interpolation_order=3)
    assert "interpolation_order=3" in str(info.value) and "spline" in str(info.value)


def test_misspelt_method_keywords(tmp_path, rng):
    for name in ("cats", "dogs"):
        os.makedirs(tmp_path / name)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    gen = ImageDataGenerator()
    with pytest.raises(TypeError, match="Did you mean 'class_mode'"):
        gen.flow_from_directory(str(tmp_path), clas_mode="binary")
    with pytest.raises(TypeError, match="Did you mean 'batch_size'"):
        gen.flow(images(rng, 2), batch_sise=2)
    # the folder itself is fine
    it = gen.flow_from_directory(str(tmp_path), target_size=(6, 7), class_mode="binary", batch_size=4,
                                 shuffle=False, workers=1)
    bx, by = it[0]
    assert bx.shape == (4, 6, 7, 3) and sorted(by.tolist()) == [0, 0, 1, 1]


def test_fit_rejects_wrong_rank():
    with pytest.raises(ValueError, match="rank 4"):
        ours(featurewise_center=True).fit(np.zeros((6, 6, 3), np.float32))


# ---- 7. channels_first --------------------------------------------------------------------------------------------


def test_channels_first_flow_is_channels_last_transposed(rng):
    kwargs = dict(rotation_range=25, width_shift_range=0.2, height_shift_range=2, zoom_range=0.15, shear_range=10,
                  horizontal_flip=True, vertical_flip=True, channel_shift_range=10, brightness_range=(0.8, 1.2),
                  contrast_range=0.2, noise_std=1.0, featurewise_center=True, featurewise_std_normalization=True,
                  fill_mode="reflect")
    x = images(rng, 7, 9, 11)
    nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    last, first = ours(**kwargs), ours(data_format="channels_first", **kwargs)
    last.fit(x)
    first.fit(nchw)
    np.testing.assert_allclose(first.mean.reshape(-1), last.mean.reshape(-1), rtol=1e-6)
    a = last.flow(x, np.arange(7), batch_size=4, shuffle=True, seed=8)
    b = first.flow(nchw, np.arange(7), batch_size=4, shuffle=True, seed=8)
    for i in range(len(a)):
        (ax, ay), (bx, by) = a[i], b[i]
        np.testing.assert_array_equal(ay, by)
        assert bx.shape == (len(ay), 3, 9, 11) and bx.flags.c_contiguous
        np.testing.assert_allclose(bx, ax.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-5)


def test_channels_first_apply_transform_and_zca_equal_keras(keras_idg, rng):
    kwargs = dict(data_format="channels_first", fill_mode="constant", cval=5.0, interpolation_order=0)
    theirs, mine = keras_idg(**kwargs), ours(**kwargs)
    for _ in range(10):
        x = np.ascontiguousarray(images(rng, 1)[0].transpose(2, 0, 1))
        params = _random_params(rng)
        np.testing.assert_array_equal(mine.apply_transform(x, params), theirs.apply_transform(x.copy(), params))
    sample = np.ascontiguousarray(images(rng, 20, 6, 6).transpose(0, 3, 1, 2))
    theirs, mine = keras_idg(data_format="channels_first", zca_whitening=True), ours(data_format="channels_first",
                                                                                      zca_whitening=True)
    theirs.fit(sample)
    mine.fit(sample)
    np.testing.assert_allclose(mine.zca_whitening_matrix, theirs.zca_whitening_matrix, rtol=1e-5,
                               atol=1e-7 * np.abs(theirs.zca_whitening_matrix).max())
    got = mine.flow(sample, batch_size=8, shuffle=False)
    got = np.concatenate([got[i] for i in range(len(got))])
    np.testing.assert_allclose(got, np.stack([theirs.standardize(s.copy()) for s in sample]), rtol=1e-5, atol=1e-5)


def test_augment_batch_does_not_touch_input(rng):
    gen = ours(rotation_range=30, horizontal_flip=True)
    x = images(rng, 3)
    before = x.copy()
    params = gen.sample_params(3, (9, 11), np.random.default_rng(0))
    out = gen.augment_batch(x, params)
    np.testing.assert_array_equal(x, before)
    assert out.shape == x.shape and out.dtype == np.float32 and not np.allclose(out, x)


def test_lazy_rng_draws_what_default_rng_draws():
    import pickle  # noqa: PLC0415

    from cnnkit.data.iterators import LazyRng  # noqa: PLC0415

    lazy, real = LazyRng([3, 1, 4]), np.random.default_rng([3, 1, 4])
    np.testing.assert_array_equal(lazy.uniform(size=5), real.uniform(size=5))
    assert lazy.integers(10 ** 6) == real.integers(10 ** 6)
    copy = pickle.loads(pickle.dumps(LazyRng([2, 7])))  # survives pickling, unused or not
    assert copy.random() == np.random.default_rng([2, 7]).random()
