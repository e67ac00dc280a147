"""RandAugment and AugMix against Keras 3.15 (TensorFlow backend): Keras's own draws applied by cnnkit's composed
transforms equal Keras's `transform_images`; with one op forced on both sides (monkeypatched op lists) and the
draws pinned, whole calls equal Keras's; the per-batch / per-image split of the draws; inference identity, seeds,
configs and `.keras` files both ways; Keras's argument errors."""

import inspect
import json
import random
import re

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit.layers.preprocessing import composite

NAMES = ("RandAugment", "AugMix")


def _images(rng, shape=(3, 8, 8, 3), high=255.0):
    x = rng.uniform(0, high, shape).astype("float32")
    return np.round(x) if high == 255.0 else x  # integer levels: posterization and equalization without ties


def _numpy(value):
    """Keras's transformation (tensors in dicts and lists) as numpy arrays."""
    if isinstance(value, dict):
        return {k: _numpy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numpy(v) for v in value]
    if value is None or isinstance(value, (int, float, str, tuple)):
        return value
    return np.array(value)  # a writable copy


def test_signatures_and_defaults_as_keras(keras):
    for name in NAMES:
        mine, theirs = inspect.signature(getattr(cnnkit.layers, name)), inspect.signature(getattr(keras.layers, name))
        assert list(mine.parameters) == list(theirs.parameters), name
        assert [p.default for p in mine.parameters.values()] == [p.default for p in theirs.parameters.values()]
    assert composite.RAND_AUGMENT_OPS == tuple(keras.layers.RandAugment._AUGMENT_LAYERS)
    from keras.src.layers.preprocessing.image_preprocessing import aug_mix  # noqa: PLC0415

    assert (composite.AUG_MIX_OPS, composite.AUG_MIX_OPS_ALL) == (tuple(aug_mix.AUGMENT_LAYERS),
                                                                  tuple(aug_mix.AUGMENT_LAYERS_ALL))


@pytest.mark.parametrize("kwargs", [dict(), dict(value_range=(-1, 1), factor=(0.2, 0.9), interpolation="nearest"),
                                    dict(factor=0.05)])
def test_sub_layers_as_keras_builds_them(keras, kwargs):
    """The magnitude mapping: each op's layer has the configuration of Keras's sub-layer of that name."""
    theirs = keras.layers.AugMix(**kwargs)
    mine = cnnkit.layers.AugMix(**kwargs)
    for name in composite.AUG_MIX_OPS_ALL:
        got = composite.sub_layer(name, mine.factor, mine.value_range, mine.interpolation).get_config()
        want = getattr(theirs, name).get_config()
        strip = lambda c: {k: v for k, v in json.loads(json.dumps(c)).items()  # noqa: E731
                           if k not in ("name", "dtype", "trainable", "seed")}
        assert strip(got) == strip(want), name


# ---- Keras's draws through cnnkit's composition ---------------------------------------------------------------

OP = {name: i for i, name in enumerate(composite.RAND_AUGMENT_OPS)}
# Each op twice (an op drawn twice is applied twice with the same parameters), then pairs; the quantising ops
# (posterization, equalization) come first, on integer levels, so that float rounding cannot move a level.
RAND_AUGMENT_IDXES = [[i, i] for i in range(len(OP))] + [
    [OP["random_posterization"], OP["random_translation"]], [OP["equalization"], OP["random_brightness"]],
    [OP["solarization"], OP["random_rotation"]], [OP["random_shear"], OP["random_sharpness"]],
    [OP["random_color_degeneration"], OP["random_contrast"]], [OP["auto_contrast"], OP["random_shear"]], []]


@pytest.mark.parametrize("kwargs", [dict(seed=1), dict(factor=(0.2, 0.9), interpolation="nearest", seed=2)])
def test_rand_augment_on_keras_draws_equals_keras(keras, rng, kwargs):
    x = _images(rng, (4, 8, 8, 3))
    mine, theirs = cnnkit.layers.RandAugment(**kwargs), keras.layers.RandAugment(**kwargs)
    transformation = theirs.get_random_transformation(x)
    for idxes in RAND_AUGMENT_IDXES:
        theirs.num_ops = mine.transform.num_ops = len(idxes)
        transformation["layer_idxes"] = np.asarray(idxes, "int32")
        want = np.asarray(theirs.transform_images(keras.ops.convert_to_tensor(x), transformation))
        got = mine.transform.apply(torch.from_numpy(x), _numpy(transformation)).numpy()
        np.testing.assert_allclose(got, want, atol=2e-3, err_msg=str(idxes))


def test_rand_augment_on_keras_draws_01(keras, rng):
    x = _images(rng, (4, 8, 8, 3), 1.0)
    mine = cnnkit.layers.RandAugment(value_range=(0, 1), num_ops=1, factor=0.7)
    theirs = keras.layers.RandAugment(value_range=(0, 1), num_ops=1, factor=0.7, seed=5)
    transformation = theirs.get_random_transformation(x)
    for i in range(len(OP)):
        transformation["layer_idxes"] = np.asarray([i], "int32")
        want = np.asarray(theirs.transform_images(keras.ops.convert_to_tensor(x), transformation))
        got = mine.transform.apply(torch.from_numpy(x), _numpy(transformation)).numpy()
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=composite.RAND_AUGMENT_OPS[i])


AUG_MIX_CHAINS = [["random_posterization", "random_rotation", "random_contrast"],
                  ["equalization", "random_shear", "random_brightness", "solarization"],
                  ["auto_contrast", "random_translation", "random_color_degeneration", "random_sharpness"], []]


@pytest.mark.parametrize("kwargs", [dict(seed=3), dict(factor=0.8, alpha=0.5, interpolation="nearest", seed=4)])
def test_aug_mix_on_keras_draws_equals_keras(keras, rng, kwargs):
    x = _images(rng, (4, 8, 8, 3))
    mine, theirs = cnnkit.layers.AugMix(num_chains=4, **kwargs), keras.layers.AugMix(num_chains=4, **kwargs)
    random.seed(0)  # Keras draws the chains' ops with Python's random
    transformation = theirs.get_random_transformation(x)
    got = mine.transform.apply(torch.from_numpy(x), _numpy(transformation)).numpy()
    want = np.asarray(theirs.transform_images(keras.ops.convert_to_tensor(x), transformation))
    np.testing.assert_allclose(got, want, atol=2e-3)
    transformation["chain_transforms"] = [  # every op, in chains of our choosing
        [{"layer_name": n, "transformation": getattr(theirs, n).get_random_transformation(x)} for n in chain]
        for chain in AUG_MIX_CHAINS]
    got = mine.transform.apply(torch.from_numpy(x), _numpy(transformation)).numpy()
    want = np.asarray(theirs.transform_images(keras.ops.convert_to_tensor(x), transformation))
    np.testing.assert_allclose(got, want, atol=2e-3)
    assert not np.array_equal(got, x)


@pytest.mark.parametrize("op", ["random_rotation", "random_translation", "random_brightness",
                                "random_color_degeneration", "random_sharpness", "random_posterization",
                                "auto_contrast", "equalization"])
def test_rand_augment_one_forced_op_equals_keras(keras, rng, monkeypatch, op):
    """With the op list of one op (on both sides) and the factor pinned, the whole call is determined."""
    monkeypatch.setattr(keras.layers.RandAugment, "_AUGMENT_LAYERS", [op])
    monkeypatch.setattr(cnnkit.layers.RandAugment, "_AUGMENT_LAYERS", [op])
    x = _images(rng)
    make = lambda k: k.layers.RandAugment(num_ops=2, factor=(0.3, 0.3))  # noqa: E731
    got = make(cnnkit)(x)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), np.asarray(make(keras)(x)), atol=2e-3)
    np.testing.assert_allclose(make(cnnkit)(x[0]).numpy(), np.asarray(make(keras)(x[0])), atol=2e-3)


# ---- the draws: ops per batch, parameters per image -----------------------------------------------------------

def test_draws_per_batch_and_per_image(rng):
    x = torch.from_numpy(_images(rng, (5, 8, 8, 3)))
    generator = np.random.default_rng(0)
    params = cnnkit.layers.RandAugment(num_ops=3).transform.draw(x, generator)
    assert params["layer_idxes"].shape == (3,)  # one op sequence for the batch
    for name, p in params["transforms"].items():
        chosen = OP[name] in params["layer_idxes"]
        assert (p is not None) == (chosen and name not in ("auto_contrast", "equalization"))
        assert all(len(v) == 5 for v in (p or {}).values())  # the op's parameters: per image
    params = cnnkit.layers.AugMix(num_chains=2, chain_depth=4, alpha=0.5).transform.draw(x, generator)
    assert params["chain_mixing_weights"].shape == (2,) and np.isclose(params["chain_mixing_weights"].sum(), 1)
    assert np.ndim(params["weight_sample"]) == 0 and 0 <= params["weight_sample"] <= 1
    assert len(params["chain_transforms"]) == 2 and all(len(c) <= 4 for c in params["chain_transforms"])
    for step in (s for chain in params["chain_transforms"] for s in chain):
        assert all(len(v) == 5 for v in (step["transformation"] or {}).values())


def test_per_image_randomness(rng, monkeypatch):
    x = np.repeat(_images(rng, (1, 8, 8, 3)), 6, axis=0)
    monkeypatch.setattr(cnnkit.layers.RandAugment, "_AUGMENT_LAYERS", ["random_rotation"])
    out = cnnkit.layers.RandAugment(num_ops=1, seed=1)(x).numpy()
    assert len({o.tobytes() for o in out}) == 6
    monkeypatch.setattr(composite, "AUG_MIX_OPS_ALL", ("random_contrast",))
    out = cnnkit.layers.AugMix(chain_depth=4, seed=2)(x).numpy()
    assert len({o.tobytes() for o in out}) == 6


SEEDED = {"RandAugment": lambda k: k.layers.RandAugment(num_ops=3, factor=0.4, seed=3),
          "AugMix": lambda k: k.layers.AugMix(value_range=(0, 1), num_chains=2, all_ops=False, seed=4)}


@pytest.mark.parametrize("name", NAMES)
def test_inference_identity_and_seeds(name, rng):
    x = _images(rng, (4, 8, 8, 3), 1.0)
    layer = SEEDED[name](cnnkit)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    model = cnnkit.Sequential([cnnkit.layers.Input(x.shape[1:]), layer])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    assert layer.stochastic
    first = SEEDED[name](cnnkit)(x).numpy()
    np.testing.assert_array_equal(SEEDED[name](cnnkit)(x).numpy(), first)  # same seed, same draws
    calls = [layer(x).numpy() for _ in range(3)]
    assert not all(np.array_equal(c, first) for c in calls)  # the seeded generator moves on
    unseeded = type(layer).from_config({**layer.get_config(), "seed": None})
    cnnkit.utils.set_random_seed(7)
    a = unseeded(x).numpy()
    cnnkit.utils.set_random_seed(7)
    np.testing.assert_array_equal(unseeded(x).numpy(), a)
    assert tuple(unseeded(x[0]).shape) == x.shape[1:]


# ---- configs and files ------------------------------------------------------------------------------------------

CONFIGS = {"RandAugment": lambda k: k.layers.RandAugment(value_range=[0, 1], num_ops=3, factor=(0.1, 0.6),
                                                         interpolation="nearest", seed=5),
           "AugMix": lambda k: k.layers.AugMix(value_range=(-1, 1), num_chains=2, chain_depth=4, factor=0.6,
                                               alpha=0.5, all_ops=False, seed=6)}


@pytest.mark.parametrize("name", NAMES)
def test_config_both_ways(name, keras, config_round_trip):
    mine, theirs = CONFIGS[name](cnnkit), CONFIGS[name](keras)
    cfg = config_round_trip(mine)
    strip = lambda c: {k: v for k, v in json.loads(json.dumps(c)).items()  # noqa: E731
                       if k not in ("name", "dtype", "trainable")}
    assert strip(cfg) == strip(theirs.get_config())
    assert strip(type(mine).from_config(theirs.get_config()).get_config()) == strip(theirs.get_config())
    assert strip(type(theirs).from_config(cfg).get_config()) == strip(cfg)


@pytest.mark.parametrize("name", NAMES)
def test_keras_file_both_ways(name, keras, rng, tmp_path):
    x = _images(rng, (2, 8, 8, 3))
    theirs = keras.Sequential([keras.Input((8, 8, 3)), SEEDED[name](keras), keras.layers.Dense(2)])
    theirs.save(tmp_path / "k.keras")
    loaded = cnnkit.models.load_model(tmp_path / "k.keras")
    assert type(loaded.layers[0]) is getattr(cnnkit.layers, name)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), np.asarray(theirs(x, training=False)), atol=1e-4)
    loaded.save(tmp_path / "c.keras")
    again = keras.models.load_model(tmp_path / "c.keras")
    assert type(again.layers[0]).__name__ == name
    assert json.loads(json.dumps(again.layers[0].get_config())) == json.loads(json.dumps(
        {**loaded.layers[0].get_config(), "dtype": again.layers[0].get_config()["dtype"]}))
    np.testing.assert_allclose(np.asarray(again(x, training=False)), loaded.predict(x, verbose=0), atol=1e-4)


# ---- argument errors -------------------------------------------------------------------------------------------

BAD = [dict(factor=1.5), dict(factor=-0.5), dict(factor=(0.2, 0.3, 0.4)), dict(factor="a"), dict(factor=(0.5, 2)),
       dict(factor=(-1, 0.5)), dict(value_range=(0,)), dict(value_range=5)]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kwargs", BAD, ids=[str(b) for b in BAD])
def test_argument_errors_as_keras(name, kwargs, keras):
    with pytest.raises(ValueError) as expected:
        getattr(keras.layers, name)(**kwargs)
    with pytest.raises(ValueError, match=f"^{name}: " + re.escape(str(expected.value))):
        getattr(cnnkit.layers, name)(**kwargs)


def test_errors_keras_raises_otherwise(keras):
    """Keras raises NotImplementedError for the interpolation, and fails only when called (or never) for the
    rest; cnnkit raises ValueErrors at construction."""
    for name in NAMES:
        with pytest.raises(NotImplementedError) as expected:
            getattr(keras.layers, name)(interpolation="bicubic")
        with pytest.raises(ValueError, match=re.escape(str(expected.value))):
            getattr(cnnkit.layers, name)(interpolation="bicubic")
    for kwargs in (dict(num_ops=-1), dict(num_ops=1.5)):
        with pytest.raises(ValueError, match="RandAugment: num_ops must be a non-negative int"):
            cnnkit.layers.RandAugment(**kwargs)
    for kwargs, message in ((dict(num_chains=0), "num_chains must be a positive int"),
                            (dict(chain_depth=-1), "chain_depth must be a non-negative int"),
                            (dict(alpha=0), "alpha must be a positive number"),
                            (dict(all_ops="x"), "all_ops must be True or False")):
        with pytest.raises(ValueError, match=f"AugMix: {message}. Received: {next(iter(kwargs))}="):
            cnnkit.layers.AugMix(**kwargs)
