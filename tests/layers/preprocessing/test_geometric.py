"""Keras 3's geometric augmentation layers (RandomFlip, RandomRotation, RandomZoom, RandomTranslation, RandomShear,
RandomCrop, RandomPerspective) and their kernels (cnnkit.ops.image_math.affine_transform / perspective_transform).

Oracles: Keras 3.15 on TensorFlow (the session's `keras`), and the same Keras layer objects switched to Keras's
torch backend (`layer.backend.set_backend("torch")`, what Keras itself does inside tf.data), whose image kernels
define the semantics cnnkit follows: the two backends agree except for fill_mode 'wrap' at fractional positions
(TensorFlow wraps the position and clamps, torch wraps every pixel index) and for interpolation 'nearest' at
positions exactly half-way between pixels (TensorFlow rounds halves away from zero, torch to even).
"""

import numpy as np
import pytest
import torch

from cnnkit import layers
from cnnkit.layers import Input
from cnnkit.models import Sequential
from cnnkit.ops import image_math as image

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")
WARP_CASES = [(f, i) for f in FILL_MODES for i in INTERPOLATIONS]


@pytest.fixture
def images(rng):
    return rng.uniform(0, 255, (3, 10, 8, 2)).astype("float32")


def torch_keras(keras, name, **kwargs):
    """Keras's layer computing with Keras's torch backend."""
    klayer = getattr(keras.layers, name)(**kwargs)
    klayer.backend.set_backend("torch")
    return klayer


def as_numpy(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


# ---- kernels ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fill_mode", (*FILL_MODES, "mirror"))
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_affine_transform_equals_keras_torch_backend(keras, rng, fill_mode, interpolation):
    from keras.src.backend.torch import image as keras_torch_image  # noqa: PLC0415

    x = torch.tensor(rng.uniform(0, 9, (3, 7, 6, 2)), dtype=torch.float32)
    rows = [[1.3, 0.4, -2.1, -0.3, 0.8, 1.7, 0, 0], [0.6, -0.2, 1.3, 0.25, 1.4, -3.3, 0, 0],
            [-1, 0.1, 5.2, 0.1, -1.2, 6.1, 0, 0]]
    transform = torch.tensor(rows, dtype=torch.float32)
    want = keras_torch_image.affine_transform(x.clone(), transform.clone(), interpolation, fill_mode, 3.5)
    got = image.affine_transform(x, transform, interpolation, fill_mode, 3.5)
    np.testing.assert_allclose(as_numpy(got), as_numpy(want), atol=1e-5)
    single = image.affine_transform(x[1].numpy(), np.array(rows[1]), interpolation, fill_mode, 3.5)
    np.testing.assert_allclose(as_numpy(single), as_numpy(want[1]), atol=1e-5)


@pytest.mark.parametrize("fill_mode", (*FILL_MODES, "mirror"))
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_affine_warp_equals_keras_torch_backend(keras, rng, fill_mode, interpolation):
    """The layers' warp (affine rows, grid built in normalised coordinates) against Keras's torch-backend kernel."""
    from keras.src.backend.torch import image as keras_torch_image  # noqa: PLC0415

    x = torch.tensor(rng.uniform(0, 9, (3, 7, 6, 2)), dtype=torch.float32)
    rows = np.array([[1.3, 0.4, -2.1, -0.3, 0.8, 1.7], [0.6, -0.2, 1.3, 0.25, 1.4, -3.3],
                     [-1, 0.1, 5.2, 0.1, -1.2, 6.1]], dtype=np.float32)
    full = torch.tensor(np.concatenate([rows, np.zeros((3, 2), np.float32)], axis=1))
    want = as_numpy(keras_torch_image.affine_transform(x.clone(), full, interpolation, fill_mode, 3.5))
    for given in (rows, torch.tensor(rows)):
        np.testing.assert_allclose(as_numpy(image.affine_warp(x, given, interpolation, fill_mode, 3.5)), want,
                                   atol=1e-5)
    channels_last = x.permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1)  # NHWC view of planar memory
    np.testing.assert_allclose(as_numpy(image.affine_warp(channels_last, rows, interpolation, fill_mode, 3.5)),
                               want, atol=1e-5)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_perspective_transform_equals_keras(keras, rng, interpolation):
    from keras.src.backend.torch import image as keras_torch_image  # noqa: PLC0415

    x = torch.tensor(rng.uniform(0, 9, (3, 7, 6, 2)), dtype=torch.float32)
    start = torch.tensor([[0.0, 0], [5, 0], [0, 6], [5, 6]]).repeat(3, 1, 1)
    end = start + start * torch.tensor(rng.uniform(-0.4, 0.4, (3, 4, 2)), dtype=torch.float32)
    got = as_numpy(image.perspective_transform(x, start, end, interpolation, 2.0))
    want = as_numpy(keras_torch_image.perspective_transform(x, start, end, interpolation, 2.0))
    np.testing.assert_allclose(got, want, atol=1e-4)
    tf_want = as_numpy(keras.ops.image.perspective_transform(x.numpy(), start.numpy(), end.numpy(), interpolation,
                                                             fill_value=2.0))
    np.testing.assert_allclose(got, tf_want, atol=1e-3)


def test_kernel_errors():
    with pytest.raises(ValueError, match="fill_mode"):
        image.affine_transform(torch.zeros(1, 4, 4, 1), torch.zeros(8), fill_mode="edge")
    with pytest.raises(ValueError, match="interpolation"):
        image.affine_transform(torch.zeros(1, 4, 4, 1), torch.zeros(8), interpolation="bicubic")
    with pytest.raises(ValueError, match="transform"):
        image.affine_transform(torch.zeros(1, 4, 4, 1), torch.zeros(6))
    with pytest.raises(ValueError, match="rank"):
        image.affine_transform(torch.zeros(4, 4), torch.zeros(8))


# ---- layers: Keras's own draws fed to cnnkit's transforms ---------------------------------------------------------

def _keras_params(name, transformation, batch):
    """cnnkit's transform parameters (cnnkit.data.geometric) from a Keras layer's transformation."""
    t = {k: as_numpy(v) if not isinstance(v, (int, tuple)) else v for k, v in transformation.items()} \
        if isinstance(transformation, dict) else transformation
    if name == "RandomFlip":
        return {"flips": t["flips"].reshape(-1)}
    if name == "RandomRotation":
        return {"angle": t["angle"]}
    if name == "RandomZoom":
        return {"height_zoom": t["height_zoom"][:, 0], "width_zoom": t["width_zoom"][:, 0]}
    if name == "RandomTranslation":
        return {"translations": t["translations"]}
    if name == "RandomShear":
        return {"shear_factor": t["shear_factor"]}
    if name == "RandomPerspective":
        return {"apply": t["apply_perspective"], "end_points": t["end_points"]}
    top, left = (int(as_numpy(v)) for v in t)
    return {"top": [top] * batch, "left": [left] * batch}


DRAWN = [
    ("RandomFlip", dict(mode="horizontal")), ("RandomFlip", dict(mode="vertical")),
    ("RandomFlip", dict(mode="horizontal_and_vertical")),
    *[("RandomRotation", dict(factor=0.3, fill_mode=f, interpolation=i, fill_value=7.0)) for f, i in WARP_CASES],
    *[("RandomZoom", dict(height_factor=(-0.4, 0.6), width_factor=0.5, fill_mode=f, interpolation=i))
      for f, i in WARP_CASES],
    *[("RandomTranslation", dict(height_factor=0.3, width_factor=(-0.2, 0.4), fill_mode=f, interpolation=i))
      for f, i in WARP_CASES],
    *[("RandomShear", dict(x_factor=0.3, y_factor=(0.1, 0.2), fill_mode=f, interpolation=i)) for f, i in WARP_CASES],
    ("RandomPerspective", dict(factor=(0.5, 1.0), scale=0.6, interpolation="nearest")),
    ("RandomPerspective", dict(factor=1.0, scale=0.8, fill_value=3.0)),
    ("RandomCrop", dict(height=6, width=5)),
]


@pytest.mark.parametrize("name,kwargs", DRAWN, ids=[f"{n}-{i}" for i, (n, _) in enumerate(DRAWN)])
def test_keras_draws_give_keras_output(keras, images, name, kwargs):
    """Keras's layer (torch backend) draws a transformation; cnnkit's transform applied with the same parameters
    gives Keras's output."""
    klayer = torch_keras(keras, name, seed=3, **kwargs)
    x = torch.tensor(images)
    transformation = klayer.get_random_transformation(x, training=True)
    want = as_numpy(klayer.transform_images(x.clone(), transformation, training=True))
    layer = getattr(layers, name)(**kwargs)
    got = as_numpy(layer.transform.apply(x, _keras_params(name, transformation, len(images))))
    np.testing.assert_allclose(got, want, atol=1e-3)


PINNED = [
    ("RandomRotation", dict(factor=(0.25, 0.25))), ("RandomRotation", dict(factor=(-0.1, -0.1))),
    ("RandomZoom", dict(height_factor=(-0.5, -0.5))), ("RandomZoom", dict(height_factor=(0.3, 0.3),
                                                                           width_factor=(-0.2, -0.2))),
    ("RandomTranslation", dict(height_factor=(0.25, 0.25), width_factor=0)),
    ("RandomTranslation", dict(height_factor=(-0.15, -0.15), width_factor=(0.3, 0.3))),
    ("RandomShear", dict(x_factor=(0.2, 0.2), y_factor=(0.3, 0.3))),
]


@pytest.mark.parametrize("name,kwargs", PINNED, ids=[f"{n}-{i}" for i, (n, _) in enumerate(PINNED)])
@pytest.mark.parametrize("fill_mode,interpolation", WARP_CASES)
def test_pinned_draw_equals_keras(keras, images, name, kwargs, fill_mode, interpolation):
    """With the draw pinned the layer equals Keras's torch backend for every fill_mode and interpolation, and Keras
    on TensorFlow wherever the two backends agree (all but 'wrap' at fractional positions)."""
    kwargs = dict(kwargs, fill_mode=fill_mode, interpolation=interpolation, fill_value=5.0)
    got = as_numpy(getattr(layers, name)(**kwargs)(images, training=True))
    if name == "RandomShear":  # the shear's sign is still drawn (Keras negates both factors for half the images)
        return
    want = as_numpy(torch_keras(keras, name, **kwargs)(torch.tensor(images), training=True))
    np.testing.assert_allclose(got, want, atol=1e-3)
    tf_want = as_numpy(getattr(keras.layers, name)(**kwargs)(images, training=True))
    if fill_mode != "wrap" and interpolation != "nearest":
        np.testing.assert_allclose(got, tf_want, atol=1e-3)
    elif np.abs(tf_want - want).max() < 1e-3:  # 'nearest' differs where a position is exactly half-way
        np.testing.assert_allclose(got, tf_want, atol=1e-3)


def test_shear_sign_pinned(keras, images):
    """RandomShear with both signs pinned through its parameters equals Keras (TensorFlow) pinned the same way."""
    layer = layers.RandomShear(x_factor=(0.2, 0.2), y_factor=(0.3, 0.3), fill_mode="constant")
    klayer = keras.layers.RandomShear(x_factor=(0.2, 0.2), y_factor=(0.3, 0.3), fill_mode="constant")
    factors = np.array([[0.2, 0.3], [-0.2, -0.3], [0.2, 0.3]], dtype="float32")
    want = as_numpy(klayer.transform_images(images, {"shear_factor": factors}, training=True))
    got = as_numpy(layer.transform.apply(torch.tensor(images), {"shear_factor": factors}))
    np.testing.assert_allclose(got, want, atol=1e-3)


# ---- behaviour shared by the layers -------------------------------------------------------------------------------

EXAMPLES = [
    ("RandomFlip", dict(mode="horizontal")),
    ("RandomRotation", dict(factor=0.2, fill_mode="constant", fill_value=1.5)),
    ("RandomZoom", dict(height_factor=0.3, width_factor=(-0.2, 0.1), interpolation="nearest")),
    ("RandomTranslation", dict(height_factor=0.2, width_factor=(-0.1, 0.3), fill_mode="wrap")),
    ("RandomShear", dict(x_factor=0.3, y_factor=(0.1, 0.2), fill_mode="nearest")),
    ("RandomCrop", dict(height=6, width=5)),
    ("RandomPerspective", dict(factor=(0.5, 1.0), scale=0.5, fill_value=2.0)),
]
EXAMPLE_IDS = [n for n, _ in EXAMPLES]


@pytest.mark.parametrize("name,kwargs", EXAMPLES, ids=EXAMPLE_IDS)
def test_training_only_per_image_seeded(rng, name, kwargs):
    x = np.repeat(rng.uniform(0, 1, (1, 10, 10, 3)).astype("float32"), 12, axis=0)
    make = lambda seed=None: getattr(layers, name)(seed=seed, **kwargs)  # noqa: E731
    layer = make()
    model = Sequential([Input((10, 10, 3)), make()])
    if name == "RandomCrop":  # outside training: Keras's centred crop (test_random_crop_inference_...)
        assert as_numpy(layer(x, training=False)).shape == (12, 6, 5, 3)
        np.testing.assert_array_equal(model.predict(x, verbose=0), as_numpy(layer(x, training=False)))
    else:
        np.testing.assert_array_equal(as_numpy(layer(x, training=False)), x)
        np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    out = as_numpy(layer(x))  # a direct call trains
    assert out.shape[1:3] == ((6, 5) if name == "RandomCrop" else (10, 10))
    distinct = {out[i].tobytes() for i in range(len(out))}
    assert len(distinct) >= (2 if name == "RandomFlip" else 3), "every image of a batch gets its own parameters"
    first, again = as_numpy(make(seed=7)(x)), as_numpy(make(seed=7)(x))
    np.testing.assert_array_equal(first, again)
    seeded = make(seed=7)
    seeded(x)
    assert not np.array_equal(as_numpy(seeded(x)), first), "a seeded layer's generator moves on between calls"
    single = as_numpy(make()(x[0], training=True))
    assert single.shape == out.shape[1:]
    ints = as_numpy(make()((x * 255).astype("uint8"), training=True))
    assert ints.dtype == np.float32


@pytest.mark.parametrize("name,kwargs", EXAMPLES, ids=EXAMPLE_IDS)
def test_config_and_file_cross_keras(keras, tmp_path, config_round_trip, name, kwargs):
    import cnnkit  # noqa: PLC0415

    layer = getattr(layers, name)(seed=4, **kwargs)
    cfg = config_round_trip(layer)
    klayer = getattr(keras.layers, name)(seed=4, **kwargs)
    kcfg = klayer.get_config()
    skip = {"name", "dtype", "trainable"}
    mine = {k: v for k, v in cfg.items() if k not in skip}
    theirs = {k: v for k, v in kcfg.items() if k not in skip}
    if name == "RandomShear":  # Keras writes x_factor=f as (-f, f), which it cannot read back
        theirs["x_factor"] = kwargs["x_factor"]
    assert set(mine) == set(theirs)
    for key in mine:
        assert np.array_equal(np.asarray(mine[key], dtype=object), np.asarray(theirs[key], dtype=object)), key
    assert getattr(layers, name).from_config(kcfg).get_config()["seed"] == 4
    getattr(keras.layers, name).from_config(cfg)
    path = str(tmp_path / "model.keras")
    Sequential([Input((10, 10, 3)), layer]).save(path)
    loaded = keras.models.load_model(path).layers[-1]
    assert type(loaded).__name__ == name and loaded.get_config()["seed"] == 4
    kpath = str(tmp_path / "keras.keras")
    keras.Sequential([keras.Input((10, 10, 3)), klayer]).save(kpath)
    back = cnnkit.models.load_model(kpath).layers[-1]
    assert type(back) is type(layer)
    x = np.random.default_rng(1).uniform(0, 1, (2, 10, 10, 3)).astype("float32")
    np.testing.assert_array_equal(as_numpy(back(x, training=True)), as_numpy(layer.__class__(**{
        k: v for k, v in back.get_config().items() if k not in ("name", "dtype", "trainable")})(x)))


def test_random_crop_inference_and_small_inputs_equal_keras(keras, rng):
    """Outside training (and in training for an image not larger than the target) RandomCrop takes Keras's
    deterministic crop: the centred box of the target's aspect ratio, resized (Keras's own code for it)."""
    for shape, (h, w) in (((2, 10, 8, 3), (6, 4)), ((2, 5, 7, 1), (8, 6)), ((1, 9, 9, 2), (9, 4))):
        x = rng.uniform(0, 1, shape).astype("float32")
        klayer = keras.layers.RandomCrop(h, w)
        want = as_numpy(klayer.transform_images(x, klayer.get_random_transformation(x, training=False)))
        layer = layers.RandomCrop(h, w)
        np.testing.assert_allclose(as_numpy(layer(x, training=False)), want, atol=1e-5)
        if shape[1] <= h or shape[2] <= w:
            np.testing.assert_allclose(as_numpy(layer(x, training=True)), want, atol=1e-5)
            np.testing.assert_allclose(as_numpy(klayer(x, training=True)), want, atol=1e-5)
        assert layer.compute_output_shape((None, *shape[1:])) == (None, h, w, shape[-1])


def test_flip_modes_flip_the_right_axes(rng):
    x = rng.uniform(0, 1, (1, 6, 6, 1)).astype("float32")
    flips = {"flips": np.array([True])}
    for mode, want in (("horizontal", x[:, :, ::-1]), ("vertical", x[:, ::-1]),
                       ("horizontal_and_vertical", x[:, ::-1, ::-1])):
        np.testing.assert_array_equal(as_numpy(layers.RandomFlip(mode).transform.apply(torch.tensor(x), flips)),
                                      want)


@pytest.mark.parametrize("make,message", [
    (lambda: layers.RandomFlip("diagonal"), "RandomFlip: mode"),
    (lambda: layers.RandomRotation(1.5), r"RandomRotation: The `factor` argument .* \[-1, 1\]. Received: factor=1.5"),
    (lambda: layers.RandomRotation((0.1, 0.2, 0.3)), "RandomRotation: The `factor`"),
    (lambda: layers.RandomRotation(0.1, fill_mode="edge"), "RandomRotation: unknown `fill_mode` edge"),
    (lambda: layers.RandomRotation(0.1, interpolation="bicubic"), "RandomRotation: unknown `interpolation`"),
    (lambda: layers.RandomZoom(-1.0), r"RandomZoom: .*\(-1.0, 1.0\]. Received: input_number=-1.0"),
    (lambda: layers.RandomZoom(0.1, width_factor="a"), "RandomZoom: .*Received: width_factor=a"),
    (lambda: layers.RandomTranslation(0.1, 1.2), "RandomTranslation: .*input_number=1.2"),
    (lambda: layers.RandomShear(x_factor=(-0.2, 0.5)), r"RandomShear: .*\[0, 1.0\]. Received: input_number=-0.2"),
    (lambda: layers.RandomCrop(0, 4), "RandomCrop: height must be a positive int. Received: height=0"),
    (lambda: layers.RandomPerspective(scale=1.5), "RandomPerspective: The `scale` argument .*scale=1.5"),
    (lambda: layers.RandomPerspective(factor=-0.5), "RandomPerspective: The `factor` argument"),
    (lambda: layers.RandomZoom(0.1, seed="x"), "RandomZoom: seed"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("name", EXAMPLE_IDS)
def test_signatures_are_keras_s(keras, name):
    import inspect  # noqa: PLC0415

    def params(cls):
        return [(p.name, p.default) for p in inspect.signature(cls.__init__).parameters.values()]
    assert params(getattr(layers, name)) == params(getattr(keras.layers, name))
