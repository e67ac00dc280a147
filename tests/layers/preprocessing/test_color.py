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
from cnnkit.data import photometric

# name -> make(k): a layer whose random draw is pinned (every image gets the same parameters), so its output must
# equal Keras's layer call on the same images.
PINNED = {
    # factor (-a, a): the contrast factor is drawn in [1 + a, 1 + a]
    "RandomContrast": lambda k: k.layers.RandomContrast((-0.5, 0.5)),
    "RandomContrast-01": lambda k: k.layers.RandomContrast((-0.3, 0.3), value_range=(0, 1)),
    "RandomContrast-0": lambda k: k.layers.RandomContrast(0.0),
}

# name -> (make(k), value range): a random configuration (per-image randomness, seeds, configs, files).
RANDOM = {
    "RandomContrast": (lambda k: k.layers.RandomContrast(0.5, seed=4), 255),
}

# name -> make(k) that Keras rejects with a ValueError; cnnkit must raise one with Keras's message.
BAD = {
    "RandomContrast-factor": lambda k: k.layers.RandomContrast(1.5),
    "RandomContrast-pair": lambda k: k.layers.RandomContrast((0.1, 0.2, 0.3)),
    "RandomContrast-type": lambda k: k.layers.RandomContrast("a"),
}


def _images(rng, shape=(3, 8, 8, 3), high=255.0):
    return rng.uniform(0, high, shape).astype("float32")


def _value_high(name):
    return 1.0 if name.endswith("-01") else 255.0


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_draw_equals_keras(name, keras, rng):
    x = _images(rng, high=_value_high(name))
    got = PINNED[name](cnnkit)(x)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), np.asarray(PINNED[name](keras)(x)), rtol=1e-5, atol=1e-3)
    single = PINNED[name](cnnkit)(x[0])
    assert tuple(single.shape) == x.shape[1:]
    np.testing.assert_allclose(single.numpy(), np.asarray(PINNED[name](keras)(x[0])), rtol=1e-5, atol=1e-3)


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


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_config_both_ways(name, keras, config_round_trip):
    make = RANDOM[name][0]
    mine, theirs = make(cnnkit), make(keras)
    cfg = config_round_trip(mine)
    theirs_cfg = json.loads(json.dumps(theirs.get_config()))
    mine_cfg = json.loads(json.dumps(cfg))
    for key in ("name", "dtype", "trainable"):
        theirs_cfg.pop(key), mine_cfg.pop(key)
    assert mine_cfg == theirs_cfg
    from_keras = type(mine).from_config(theirs.get_config())
    assert json.loads(json.dumps(from_keras.get_config()))["factor"] == theirs_cfg.get("factor")
    back = type(theirs).from_config(cfg)
    assert json.loads(json.dumps(back.get_config())) == json.loads(json.dumps({**cfg, "dtype": back.get_config()["dtype"]}))


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_keras_file_both_ways(name, keras, rng, tmp_path):
    make = RANDOM[name][0]
    x = _images(rng, (2, 8, 8, 3))
    theirs = keras.Sequential([keras.Input((8, 8, 3)), make(keras), keras.layers.Dense(2)])
    theirs.save(tmp_path / "k.keras")
    loaded = cnnkit.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), np.asarray(theirs(x, training=False)), atol=1e-4)
    assert loaded.layers[0].get_config()["seed"] == theirs.layers[0].get_config()["seed"]
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
