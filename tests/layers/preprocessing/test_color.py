"""Keras 3's colour augmentation layers against Keras (TensorFlow backend): outputs with the random draw pinned
(and, through Keras's public `transform_images`, with the same per-image parameters), the identity in inference,
per-image randomness, seeds, single images, configs both ways, `.keras` files both ways and Keras's argument
errors."""

import json
import re

import numpy as np
import pytest
import torch

import cnnkit

# name -> make(k): a layer whose random draw is pinned (every image gets the same parameters), so its output must
# equal Keras's layer call on the same images. Names ending in -01 take images in [0, 1].
PINNED = {
    # factor (-a, a): the contrast factor is drawn in [1 + a, 1 + a]
    "RandomContrast": lambda k: k.layers.RandomContrast((-0.5, 0.5)),
    "RandomContrast-01": lambda k: k.layers.RandomContrast((-0.3, 0.3), value_range=(0, 1)),
    "RandomContrast-0": lambda k: k.layers.RandomContrast(0.0),
    "RandomBrightness": lambda k: k.layers.RandomBrightness((0.2, 0.2)),
    "RandomBrightness-01": lambda k: k.layers.RandomBrightness((-0.3, -0.3), value_range=(1, 0)),
    "RandomGrayscale": lambda k: k.layers.RandomGrayscale(1.0),
    "RandomGrayscale-never": lambda k: k.layers.RandomGrayscale(0.0),
    "RandomHue": lambda k: k.layers.RandomHue(0.0),
    "RandomSaturation": lambda k: k.layers.RandomSaturation((0.3, 0.3)),
    "RandomSaturation-01": lambda k: k.layers.RandomSaturation((0.8, 0.8), value_range=(0, 1)),
    "RandomColorJitter": lambda k: k.layers.RandomColorJitter(
        brightness_factor=(0.1, 0.1), contrast_factor=(-0.2, 0.2), saturation_factor=(0.6, 0.6), hue_factor=0.0),
    "RandomColorJitter-01": lambda k: k.layers.RandomColorJitter(
        value_range=(0, 1), brightness_factor=(-0.1, -0.1), saturation_factor=(0.2, 0.2)),
    "RandomInvert": lambda k: k.layers.RandomInvert((1.0, 1.0)),
    "RandomInvert-01": lambda k: k.layers.RandomInvert((1.0, 1.0), value_range=(0, 1)),
    "RandomPosterization": lambda k: k.layers.RandomPosterization((3, 3)),
    "RandomPosterization-01": lambda k: k.layers.RandomPosterization(1, value_range=(0, 1)),
    "RandomColorDegeneration": lambda k: k.layers.RandomColorDegeneration((0.4, 0.4)),
    "RandomColorDegeneration-01": lambda k: k.layers.RandomColorDegeneration((-0.5, -0.5), value_range=(0, 1)),
    "Solarization": lambda k: k.layers.Solarization(),
    "AutoContrast": lambda k: k.layers.AutoContrast(),
    "AutoContrast-01": lambda k: k.layers.AutoContrast(value_range=(0, 1)),
    "Equalization": lambda k: k.layers.Equalization(),
    "Equalization-bins": lambda k: k.layers.Equalization(bins=16),
    "Equalization-01": lambda k: k.layers.Equalization(value_range=(0, 1), bins=64),
    "RandomSharpness": lambda k: k.layers.RandomSharpness((0.9, 0.9)),
    "RandomSharpness-01": lambda k: k.layers.RandomSharpness((0.1, 0.1), value_range=(0, 1)),
    "RandomGaussianBlur": lambda k: k.layers.RandomGaussianBlur((1.0, 1.0), sigma=(0.7, 0.7)),
    "RandomGaussianBlur-5": lambda k: k.layers.RandomGaussianBlur((1.0, 1.0), kernel_size=5, sigma=(1.0, 1.0)),
    "RandomErasing": lambda k: k.layers.RandomErasing((1.0, 1.0), scale=(1.0, 1.0), fill_value=30),
    "RandomErasing-rgb": lambda k: k.layers.RandomErasing((1.0, 1.0), scale=(1.0, 1.0), fill_value=[10, 20, 300]),
}


def _column(values, dtype="float32"):
    return np.asarray(values, dtype=dtype).reshape(-1, 1, 1, 1)


# name -> (make(k), draw(rng, n) -> cnnkit's per-image parameters, the same as Keras's transformation dict): the
# transform's output equals Keras's public transform_images with these parameters.
EXPLICIT = {
    "RandomContrast": (lambda k: k.layers.RandomContrast(0.5), lambda r, n: {"contrast_factor": r.uniform(0.5, 1.5, n)},
                       lambda p: {"contrast_factor": _column(p["contrast_factor"])}),
    "RandomBrightness": (lambda k: k.layers.RandomBrightness(0.5), lambda r, n: {"rgb_delta": r.uniform(-99, 99, n)},
                         lambda p: {"rgb_delta": _column(p["rgb_delta"])}),
    "RandomGrayscale": (lambda k: k.layers.RandomGrayscale(), lambda r, n: {"apply": np.arange(n) % 2 == 0},
                        lambda p: _column(p["apply"], bool)),
    "RandomHue": (lambda k: k.layers.RandomHue(0.5), lambda r, n: {"factor": r.uniform(-0.5, 0.5, n)},
                  lambda p: {"factor": np.float32(p["factor"])}),
    "RandomHue-01": (lambda k: k.layers.RandomHue(0.5, value_range=(0, 1)),
                     lambda r, n: {"factor": r.uniform(-0.5, 0.5, n)}, lambda p: {"factor": np.float32(p["factor"])}),
    "RandomSaturation": (lambda k: k.layers.RandomSaturation(0.5), lambda r, n: {"factor": r.uniform(0, 3, n)},
                         lambda p: {"factor": np.float32(p["factor"])}),
    "RandomInvert": (lambda k: k.layers.RandomInvert(), lambda r, n: {"apply_inversion": np.arange(n) % 2 == 1},
                     lambda p: {"apply_inversion": np.asarray(p["apply_inversion"])}),
    "RandomPosterization": (lambda k: k.layers.RandomPosterization(8),
                            lambda r, n: {"shift_factor": r.integers(0, 8, n)},
                            lambda p: {"shift_factor": np.asarray(p["shift_factor"], "uint8")}),
    "RandomColorDegeneration": (lambda k: k.layers.RandomColorDegeneration(1.0),
                                lambda r, n: {"factor": r.uniform(-1, 1, n)},
                                lambda p: {"factor": _column(p["factor"])}),
    "Solarization": (lambda k: k.layers.Solarization(1, 1), lambda r, n: {"additions": r.uniform(0, 255, n),
                                                                         "thresholds": r.uniform(0, 255, n)},
                     lambda p: {"additions": _column(p["additions"]), "thresholds": _column(p["thresholds"])}),
    "Solarization-01": (lambda k: k.layers.Solarization(1, 1, value_range=(0, 1)),
                        lambda r, n: {"additions": r.uniform(0, 50, n), "thresholds": r.uniform(100, 255, n)},
                        lambda p: {"additions": _column(p["additions"]), "thresholds": _column(p["thresholds"])}),
    "RandomSharpness": (lambda k: k.layers.RandomSharpness(1.0), lambda r, n: {"factor": r.uniform(0, 1, n)},
                        lambda p: {"factor": np.float32(p["factor"])}),
    "RandomGaussianBlur": (lambda k: k.layers.RandomGaussianBlur(kernel_size=(5, 5)),
                           lambda r, n: {"should_apply_blur": np.arange(n) % 2 == 0,
                                         "blur_factor": np.float32([0.6, 1.3])},
                           lambda p: dict(p)),
}

# name -> (make(k), value range): a random configuration (per-image randomness, seeds, configs, files).
RANDOM = {
    "RandomContrast": (lambda k: k.layers.RandomContrast(0.5, seed=4), 255),
    "RandomBrightness": (lambda k: k.layers.RandomBrightness(0.3, seed=1), 255),
    "RandomGrayscale": (lambda k: k.layers.RandomGrayscale(0.5, seed=2), 255),
    "RandomHue": (lambda k: k.layers.RandomHue(0.5, seed=3), 255),
    "RandomSaturation": (lambda k: k.layers.RandomSaturation((0.2, 0.8), value_range=(0, 1), seed=3), 1),
    "RandomColorJitter": (lambda k: k.layers.RandomColorJitter(brightness_factor=0.2, contrast_factor=0.3,
                                                               saturation_factor=(0.3, 0.7), hue_factor=0.2,
                                                               seed=5), 255),
    "RandomInvert": (lambda k: k.layers.RandomInvert(seed=1), 255),
    "RandomPosterization": (lambda k: k.layers.RandomPosterization((1, 8), seed=2), 255),
    "RandomColorDegeneration": (lambda k: k.layers.RandomColorDegeneration(0.5, seed=1), 255),
    "Solarization": (lambda k: k.layers.Solarization(0.5, (0.2, 0.9), seed=3), 255),
    "RandomSharpness": (lambda k: k.layers.RandomSharpness(0.5, seed=1), 255),
    "RandomGaussianBlur": (lambda k: k.layers.RandomGaussianBlur(0.8, kernel_size=5, sigma=(0.3, 1.0), seed=2), 255),
    "RandomErasing": (lambda k: k.layers.RandomErasing(scale=(0.1, 0.5), fill_value=[1, 2, 3], seed=1), 255),
    "RandomErasing-noise": (lambda k: k.layers.RandomErasing(0.9, value_range=(0, 1), seed=3), 1),
}

# Deterministic layers: configs and files (Equalization is also the identity in inference, AutoContrast is not).
DETERMINISTIC = {
    "Equalization": lambda k: k.layers.Equalization(value_range=(0, 1), bins=32),
    "AutoContrast": lambda k: k.layers.AutoContrast(value_range=(0, 1)),
}

# name -> make(k) that Keras rejects with a ValueError; cnnkit must raise one with Keras's message.
BAD = {
    "RandomContrast-factor": lambda k: k.layers.RandomContrast(1.5),
    "RandomContrast-pair": lambda k: k.layers.RandomContrast((0.1, 0.2, 0.3)),
    "RandomContrast-type": lambda k: k.layers.RandomContrast("a"),
    "RandomBrightness-factor": lambda k: k.layers.RandomBrightness(1.5),
    "RandomBrightness-pair": lambda k: k.layers.RandomBrightness((1.5, 2.0)),
    "RandomBrightness-range": lambda k: k.layers.RandomBrightness(0.2, value_range=5),
    "RandomBrightness-range3": lambda k: k.layers.RandomBrightness(0.2, value_range=(1, 2, 3)),
    "RandomGrayscale": lambda k: k.layers.RandomGrayscale(1.5),
    "RandomHue": lambda k: k.layers.RandomHue(-0.1),
    "RandomHue-pair": lambda k: k.layers.RandomHue((2, 3)),
    "RandomSaturation": lambda k: k.layers.RandomSaturation(2),
    "RandomSaturation-range": lambda k: k.layers.RandomSaturation(0.5, value_range=[0]),
    "RandomColorJitter": lambda k: k.layers.RandomColorJitter(brightness_factor=2),
    "RandomColorJitter-hue": lambda k: k.layers.RandomColorJitter(hue_factor=(1.5, 2)),
    "RandomInvert": lambda k: k.layers.RandomInvert(1.2),
    "RandomPosterization-9": lambda k: k.layers.RandomPosterization(9),
    "RandomPosterization-0": lambda k: k.layers.RandomPosterization(0),
    "RandomColorDegeneration": lambda k: k.layers.RandomColorDegeneration((0.1,)),
    "Solarization-addition": lambda k: k.layers.Solarization(addition_factor=1.5),
    "Solarization-threshold": lambda k: k.layers.Solarization(threshold_factor=(0.1, 0.2, 0.3)),
    "Solarization-pair": lambda k: k.layers.Solarization(threshold_factor=(0.1, 2)),
    "Solarization-range": lambda k: k.layers.Solarization(value_range=[1]),
    "AutoContrast": lambda k: k.layers.AutoContrast(value_range=3),
    "RandomSharpness": lambda k: k.layers.RandomSharpness(1.1),
    "RandomGaussianBlur-even": lambda k: k.layers.RandomGaussianBlur(kernel_size=4),
    "RandomGaussianBlur-pair": lambda k: k.layers.RandomGaussianBlur(kernel_size=(3, 4)),
    "RandomGaussianBlur-three": lambda k: k.layers.RandomGaussianBlur(kernel_size=(3, 3, 3)),
    "RandomGaussianBlur-sigma": lambda k: k.layers.RandomGaussianBlur(sigma=2),
    "RandomErasing-scale": lambda k: k.layers.RandomErasing(scale=1.5),
    "RandomErasing-factor": lambda k: k.layers.RandomErasing(factor=-1),
}


def _images(rng, shape=(3, 8, 8, 3), high=255.0):
    return rng.uniform(0, high, shape).astype("float32")


def _value_high(name):
    return 1.0 if name.endswith("-01") else 255.0


ALL_NAMES = sorted({n.split("-")[0] for n in PINNED})


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_draw_equals_keras(name, keras, rng):
    x = _images(rng, high=_value_high(name))
    if _value_high(name) == 255.0:
        x = np.round(x)  # integer levels (histograms with repeated bins); uint8 input gives the same float output
        np.testing.assert_array_equal(PINNED[name](cnnkit)(x.astype("uint8")).numpy(), PINNED[name](cnnkit)(x).numpy())
    got = PINNED[name](cnnkit)(x)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    if name.startswith(("AutoContrast", "Equalization")):  # deterministic: equal outright
        np.testing.assert_array_equal(got.numpy(), np.asarray(PINNED[name](keras)(x)))
    np.testing.assert_allclose(got.numpy(), np.asarray(PINNED[name](keras)(x)), rtol=1e-5, atol=1e-3)
    single = PINNED[name](cnnkit)(x[0])
    assert tuple(single.shape) == x.shape[1:]
    np.testing.assert_allclose(single.numpy(), np.asarray(PINNED[name](keras)(x[0])), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("name", sorted(EXPLICIT))
def test_transform_equals_keras_transform_images(name, keras, rng):
    make, draw, to_keras = EXPLICIT[name]
    x = _images(rng, (4, 8, 8, 3), _value_high(name))
    params = draw(rng, len(x))
    got = make(cnnkit).transform.apply(torch.from_numpy(x), params)
    want = make(keras).transform_images(keras.ops.convert_to_tensor(x), to_keras(params), training=True)
    np.testing.assert_allclose(got.numpy(), np.asarray(want), rtol=1e-5, atol=1e-3)


def test_every_layer_is_exported_and_has_keras_signature(keras):
    import inspect  # noqa: PLC0415

    for name in ALL_NAMES:
        mine, theirs = getattr(cnnkit.layers, name), getattr(keras.layers, name)
        assert list(inspect.signature(mine).parameters) == list(inspect.signature(theirs).parameters), name
        assert [p.default for p in inspect.signature(mine).parameters.values()] == [
            p.default for p in inspect.signature(theirs).parameters.values()], name


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_inference_identity(name, rng):
    make, high = RANDOM[name]
    x = _images(rng, high=high)
    layer = make(cnnkit)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    model = cnnkit.Sequential([cnnkit.layers.Input(x.shape[1:]), layer])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    assert not np.array_equal(model(x, training=True).detach().numpy(), x)


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_per_image_randomness_and_seed(name, rng):
    make, high = RANDOM[name]
    x = np.repeat(_images(rng, (1, 8, 8, 3), high), 8, axis=0)
    first = make(cnnkit)(x).numpy()
    assert len({first[i].tobytes() for i in range(len(x))}) > 1  # the images of a batch differ
    np.testing.assert_array_equal(make(cnnkit)(x).numpy(), first)  # same seed, same draws
    layer = make(cnnkit)
    layer(x)
    assert not np.array_equal(layer(x).numpy(), first)  # the seeded generator moves on
    cnnkit.utils.set_random_seed(7)
    unseeded = type(layer).from_config({**layer.get_config(), "seed": None})
    a = unseeded(x).numpy()
    cnnkit.utils.set_random_seed(7)
    np.testing.assert_array_equal(unseeded(x).numpy(), a)


def _make(name):
    return RANDOM[name][0] if name in RANDOM else DETERMINISTIC[name]


@pytest.mark.parametrize("name", sorted(RANDOM) + sorted(DETERMINISTIC))
def test_config_both_ways(name, keras, config_round_trip):
    make = _make(name)
    mine, theirs = make(cnnkit), make(keras)
    cfg = config_round_trip(mine)
    theirs_cfg = json.loads(json.dumps(theirs.get_config()))
    mine_cfg = json.loads(json.dumps(cfg))
    for key in ("name", "dtype", "trainable"):
        theirs_cfg.pop(key), mine_cfg.pop(key)
    assert mine_cfg == theirs_cfg
    from_keras = type(mine).from_config(theirs.get_config())
    from_keras_cfg = json.loads(json.dumps(from_keras.get_config()))
    assert {k: v for k, v in from_keras_cfg.items() if k not in ("name", "dtype", "trainable")} == theirs_cfg
    back = type(theirs).from_config(cfg)
    back_cfg = back.get_config()
    assert json.loads(json.dumps(back_cfg)) == json.loads(json.dumps({**cfg, "dtype": back_cfg["dtype"]}))


@pytest.mark.parametrize("name", sorted(RANDOM) + ["AutoContrast"])
def test_keras_file_both_ways(name, keras, rng, tmp_path):
    make = _make(name)
    x = _images(rng, (2, 8, 8, 3))
    theirs = keras.Sequential([keras.Input((8, 8, 3)), make(keras), keras.layers.Dense(2)])
    theirs.save(tmp_path / "k.keras")
    loaded = cnnkit.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), np.asarray(theirs(x, training=False)), atol=1e-4)
    assert loaded.layers[0].get_config().get("seed") == theirs.layers[0].get_config().get("seed")
    loaded.save(tmp_path / "c.keras")
    again = keras.models.load_model(tmp_path / "c.keras")
    np.testing.assert_allclose(np.asarray(again(x, training=False)), loaded.predict(x, verbose=0), atol=1e-4)
    assert type(again.layers[0]).__name__ == type(loaded.layers[0]).__name__


@pytest.mark.parametrize("name", sorted(BAD))
def test_argument_errors_as_keras(name, keras):
    with pytest.raises(ValueError) as expected:
        BAD[name](keras)
    with pytest.raises(ValueError, match=re.escape(str(expected.value))):
        BAD[name](cnnkit)


def test_equalization_file(keras, rng, tmp_path):
    """Keras 3.15 cannot put Equalization in a model (its output spec is its input: 'part of a cycle'); cnnkit's
    file keeps the layer, and Keras reads its config."""
    x = _images(rng, (2, 8, 8, 3), 1.0)
    model = cnnkit.Sequential([cnnkit.layers.Input((8, 8, 3)), DETERMINISTIC["Equalization"](cnnkit)])
    model.save(tmp_path / "c.keras")
    loaded = cnnkit.models.load_model(tmp_path / "c.keras")
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), x)
    np.testing.assert_array_equal(loaded.layers[0](x).numpy(), keras.layers.Equalization.from_config(
        model.layers[0].get_config())(x).numpy())


def test_erasing_box_as_keras_formula(rng):
    """The erased box from the drawn fractions and positions, against Keras's formula written in numpy."""
    layer = cnnkit.layers.RandomErasing((1.0, 1.0), scale=(0.05, 0.6), fill_value=-1, value_range=(-1, 1), seed=3)
    x = _images(rng, (6, 9, 7, 2), 1.0)
    params = layer.transform.draw(torch.from_numpy(x), np.random.default_rng(5))
    got = layer.transform.apply(torch.from_numpy(x), params).numpy()
    f32 = np.float32
    mix = np.asarray(params["mix_weight"], f32)
    crop_w, crop_h = mix[:, 0] * f32(7), mix[:, 1] * f32(9)
    x0 = np.asarray(params["x_start"], f32) * (f32(7) - crop_w)
    y0 = np.asarray(params["y_start"], f32) * (f32(9) - crop_h)
    gx, gy = np.arange(7, dtype=f32), np.arange(9, dtype=f32)
    inside = ((gx[None, None, :] >= x0[:, None, None]) & (gx[None, None, :] < (x0 + crop_w)[:, None, None])
              & (gy[None, :, None] >= y0[:, None, None]) & (gy[None, :, None] < (y0 + crop_h)[:, None, None]))
    assert inside.any(axis=(1, 2)).all()
    np.testing.assert_array_equal(got, np.where(inside[..., None], -1.0, x))


def test_erasing_noise_fill(rng):
    layer = cnnkit.layers.RandomErasing((1.0, 1.0), scale=(1.0, 1.0), value_range=(0, 1), seed=2)
    out = layer(np.full((4, 8, 8, 3), 0.5, "float32")).numpy()
    assert out.min() == 0.0 and out.max() == 1.0 and 0.1 < (out == 0).mean() < 0.9  # clipped N(0, 1) noise
    assert len(np.unique(out)) > 50


def test_auto_contrast_also_in_inference(keras, rng):
    x = np.round(_images(rng, (2, 6, 6, 3), 200.0)) + 20
    x[1, ..., 2] = 77.0  # a constant channel stays as it is
    mine = cnnkit.layers.AutoContrast()
    expected = np.asarray(keras.layers.AutoContrast()(x, training=False))
    np.testing.assert_allclose(mine(x, training=False).numpy(), expected, atol=1e-4)
    model = cnnkit.Sequential([cnnkit.layers.Input((6, 6, 3)), mine])
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-4)
    assert (expected[1, ..., 2] == 77.0).all() and expected[0].min() == 0 and expected[0].max() == 255
    assert not mine.stochastic and cnnkit.layers.RandomContrast(0.1).stochastic


def test_equalization_histogram_over_the_batch(keras, rng):
    """Keras takes each channel's histogram over the whole batch: an image's result depends on the others."""
    x = np.round(_images(rng, (3, 5, 5, 1), 255.0))
    x[2] = 40.0
    mine = cnnkit.layers.Equalization()(x).numpy()
    np.testing.assert_array_equal(mine, np.asarray(keras.layers.Equalization()(x)))
    assert not np.array_equal(mine[:1], cnnkit.layers.Equalization()(x[:1]).numpy())
    flat = np.full((2, 4, 4, 3), 9.0, "float32")  # one occupied bin: unchanged
    np.testing.assert_array_equal(cnnkit.layers.Equalization()(flat).numpy(), flat)


def test_grayscale_channels(keras, rng):
    one = _images(rng, (2, 4, 4, 1))
    np.testing.assert_array_equal(cnnkit.layers.RandomGrayscale(1.0)(one).numpy(), one)
    with pytest.raises(ValueError, match="expected 3 \\(RGB\\) or 1"):
        cnnkit.layers.RandomGrayscale(1.0)(_images(rng, (2, 4, 4, 4)))


def test_errors_keras_raises_otherwise():
    """Where Keras fails late or with another exception, cnnkit raises a ValueError at construction."""
    with pytest.raises(ValueError, match="RandomErasing: The `fill_value` argument should be a number"):
        cnnkit.layers.RandomErasing(fill_value="black")
    with pytest.raises(ValueError, match="RandomErasing: The `fill_value` argument"):
        cnnkit.layers.RandomErasing(fill_value=[1, 2])
    with pytest.raises(ValueError, match="Equalization: The `value_range` argument should be a list of two numbers"):
        cnnkit.layers.Equalization(value_range=3)
    with pytest.raises(ValueError, match="Equalization: bins must be a positive int. Received: bins=0"):
        cnnkit.layers.Equalization(bins=0)
    with pytest.raises(ValueError, match="RandomGrayscale: `factor` should be between 0 and 1"):
        cnnkit.layers.RandomGrayscale("x")


def test_contrast_gradient_and_channels_last_input(rng):
    """RandomContrast pinned to c = 1.5: the same output for planar, channels_last and gradient-recording inputs,
    and the gradient of sum(w * y), y = (x - mean) * c + mean, is c w + (1 - c) mean(w) per image and channel."""
    layer = cnnkit.layers.RandomContrast((-0.5, 0.5), value_range=(0, 255))
    x = rng.uniform(100, 150, (2, 5, 4, 3)).astype("float32")  # no clipping
    w = rng.uniform(-1, 1, x.shape).astype("float32")
    planar = layer(x).numpy()
    channels_last = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    np.testing.assert_array_equal(layer(channels_last.permute(0, 2, 3, 1)).numpy(), planar)
    xt = torch.from_numpy(x).requires_grad_()
    y = layer(xt)
    np.testing.assert_array_equal(y.detach().numpy(), planar)
    (y * torch.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), 1.5 * w - 0.5 * w.mean(axis=(1, 2), keepdims=True), atol=1e-6)
