"""SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout, AlphaDropout and ActivityRegularization: the identity in
inference (against Keras), the statistics of the training noise (against the formulas and Keras's own draws),
configs, files both ways, ONNX, dtype policies, ActivityRegularization's loss in fit against Keras, and the
argument errors."""

import json
import math
import random

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit import layers
from cnnkit.training.frozen import _not_frozen

SELU_SATURATION = -1.6732632423543772 * 1.0507009873554805  # Keras's alpha_p = -alpha * scale

RANDOM = {
    "SpatialDropout1D": (lambda k: k.layers.SpatialDropout1D(0.4, seed=3), (6, 4)),
    "SpatialDropout2D": (lambda k: k.layers.SpatialDropout2D(0.3), (5, 4, 3)),
    "SpatialDropout3D": (lambda k: k.layers.SpatialDropout3D(0.5, seed=1), (3, 4, 2, 3)),
    "GaussianNoise": (lambda k: k.layers.GaussianNoise(0.7, seed=5), (4, 3)),
    "GaussianDropout": (lambda k: k.layers.GaussianDropout(0.25), (3, 4, 2)),
    "AlphaDropout": (lambda k: k.layers.AlphaDropout(0.2, noise_shape=(None, 1, 3)), (4, 3)),
}
ALL = {**RANDOM, "ActivityRegularization": (lambda k: k.layers.ActivityRegularization(l1=0.1, l2=0.05), (3, 5))}


def _tol(std, n, sigmas=5.0):
    """`sigmas` standard errors of a mean of n draws with standard deviation `std`."""
    return sigmas * std / math.sqrt(n)


# ---- inference: the identity -----------------------------------------------------------------------------------


def _random_cases(count, seed):
    rnd = random.Random(seed)
    cases = []
    for i in range(count):
        name = rnd.choice(sorted(ALL))
        rank = {"SpatialDropout1D": 3, "SpatialDropout2D": 4, "SpatialDropout3D": 5}.get(name, rnd.randint(2, 5))
        shape = (rnd.randint(1, 3), *(rnd.randint(1, 4) for _ in range(rank - 1)))
        if name == "GaussianNoise":
            kwargs = dict(stddev=rnd.choice([0.0, 1.0, round(rnd.uniform(0.01, 1), 3)]))
        elif name == "ActivityRegularization":
            kwargs = dict(l1=round(rnd.uniform(0, 1), 3), l2=round(rnd.uniform(0, 1), 3))
        else:
            kwargs = dict(rate=rnd.choice([0.0, round(rnd.uniform(0.01, 0.99), 3)]))
        if rnd.random() < 0.5 and name != "ActivityRegularization":
            kwargs["seed"] = rnd.randint(0, 1000)
        if name == "AlphaDropout" and rnd.random() < 0.5:
            kwargs["noise_shape"] = [None if rnd.random() < 0.5 else 1 for _ in shape]
        cases.append(pytest.param(name, kwargs, shape, id=f"{i}-{name}-{kwargs}-{shape}"))
    return cases


@pytest.mark.parametrize(("name", "kwargs", "shape"), _random_cases(24, seed=12))
@pytest.mark.parametrize("training", [None, False])
def test_inference_is_exactly_the_identity_like_keras(oracle, keras, rng, name, kwargs, shape, training):
    x = rng.standard_normal(shape).astype("float32")
    layer = getattr(layers, name)(**kwargs)
    got, _ = oracle.compare(layer, getattr(keras.layers, name)(**kwargs), x, training=training)
    np.testing.assert_array_equal(got, x)
    assert layer(x, training=False).numpy().tobytes() == x.tobytes()


@pytest.mark.parametrize("name", sorted(ALL))
def test_stochastic_is_declared(name):
    layer = ALL[name][0](cnnkit)
    assert layer.stochastic is (name != "ActivityRegularization")
    if layer.stochastic:
        assert "random in training" in _not_frozen(layer)  # never cached by fit(cache_frozen=True)


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_rate_zero_is_the_identity_in_training(rng, name):
    x = rng.standard_normal((2, 3, 4, 2, 3)[:{"SpatialDropout1D": 3, "SpatialDropout2D": 4}.get(name, 5)])
    x = x.astype("float32")
    arg = {"GaussianNoise": "stddev"}.get(name, "rate")
    np.testing.assert_array_equal(getattr(layers, name)(**{arg: 0.0})(x, training=True).numpy(), x)


# ---- training: the statistics of the noise ---------------------------------------------------------------------


@pytest.mark.parametrize("stddev", [0.1, 0.5, 1.0])
def test_gaussian_noise_is_additive_normal_noise(keras, rng, stddev):
    x = rng.uniform(-2, 2, size=(100, 20, 25)).astype("float32")
    n = x.size
    for out in (layers.GaussianNoise(stddev)(x, training=True).numpy(),
                np.asarray(keras.layers.GaussianNoise(stddev)(x, training=True))):
        noise = (out - x).astype("float64")
        assert abs(noise.mean()) < _tol(stddev, n)
        assert abs(noise.var() - stddev ** 2) < _tol(stddev ** 2 * math.sqrt(2), n)
        assert abs(np.mean(np.abs(noise) < stddev) - 0.6827) < 0.01  # normal, not uniform


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_gaussian_dropout_multiplies_by_normal_noise_of_variance_rate_over_keep(keras, rng, rate):
    x = rng.uniform(1, 2, size=(100, 20, 25)).astype("float32")
    n, var = x.size, rate / (1 - rate)
    for out in (layers.GaussianDropout(rate)(x, training=True).numpy(),
                np.asarray(keras.layers.GaussianDropout(rate)(x, training=True))):
        factor = (out / x).astype("float64")
        assert abs(factor.mean() - 1) < _tol(math.sqrt(var), n)
        assert abs(factor.var() - var) < _tol(var * math.sqrt(2), n)


def _alpha_coefficients(rate):
    a = ((1 - rate) * (1 + rate * SELU_SATURATION ** 2)) ** -0.5
    return a, -a * SELU_SATURATION * rate


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5])
def test_alpha_dropout_keeps_zero_mean_and_unit_variance(keras, rng, rate):
    """Each output is a*x + b (kept) or a*alpha' + b (dropped, probability `rate`), Keras's formula; on standard
    normal inputs mean 0 and variance 1 are kept, by cnnkit as by Keras."""
    x = rng.standard_normal((100, 20, 25)).astype("float32")
    n = x.size
    a, b = _alpha_coefficients(rate)
    out = layers.AlphaDropout(rate)(x, training=True).numpy()
    dropped = np.isclose(out, a * SELU_SATURATION + b, rtol=0, atol=1e-6) & ~np.isclose(x, SELU_SATURATION)
    np.testing.assert_allclose(out[~dropped], a * x[~dropped] + b, rtol=1e-5, atol=1e-5)
    assert abs(dropped.mean() - rate) < _tol(math.sqrt(rate * (1 - rate)), n)
    kout = np.asarray(keras.layers.AlphaDropout(rate)(x, training=True))
    for values in (out, kout):
        assert abs(values.mean()) < _tol(1.0, n, sigmas=6)
        assert abs(values.var() - 1) < _tol(math.sqrt(2), n, sigmas=6) + 0.01


@pytest.mark.parametrize(("shape", "noise_shape"), [((64, 6, 8), (None, 1, 8)), ((32, 3, 4, 5), (None, 1, 1, None)),
                                                    ((40, 6, 8), (1, None, 1))])
def test_alpha_dropout_noise_shape_shares_the_mask(keras, rng, shape, noise_shape):
    rate = 0.3
    x = rng.standard_normal(shape).astype("float32")
    a, b = _alpha_coefficients(rate)
    for out in (layers.AlphaDropout(rate, noise_shape=noise_shape)(x, training=True).numpy(),
                np.asarray(keras.layers.AlphaDropout(rate, noise_shape=noise_shape)(x, training=True))):
        dropped = np.isclose(out, a * SELU_SATURATION + b, rtol=0, atol=1e-5)
        np.testing.assert_allclose(out[~dropped], a * x[~dropped] + b, rtol=1e-5, atol=1e-5)
        shared = tuple(i for i, m in enumerate(noise_shape) if m == 1)
        assert (dropped == dropped.any(axis=shared, keepdims=True)).all()  # one draw along the shared axes
        draws = dropped.all(axis=shared)
        assert abs(draws.mean() - rate) < _tol(math.sqrt(rate * (1 - rate)), draws.size)


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("rate", [0.2, 0.6])
def test_spatial_dropout_drops_whole_feature_maps(keras, rng, rank, rate):
    shape = {1: (64, 7, 16), 2: (64, 4, 5, 16), 3: (32, 3, 3, 4, 16)}[rank]
    x = rng.uniform(1, 2, size=shape).astype("float32")
    spatial = tuple(range(1, rank + 1))
    name = f"SpatialDropout{rank}D"
    for out in (getattr(layers, name)(rate)(x, training=True).numpy(),
                np.asarray(getattr(keras.layers, name)(rate)(x, training=True))):
        kept = out != 0
        maps = kept.any(axis=spatial)  # (batch, channels)
        assert (kept == np.expand_dims(maps, spatial)).all()  # a map is dropped or kept whole
        np.testing.assert_allclose(out[kept], x[kept] / (1 - rate), rtol=1e-6)
        assert abs((1 - maps.mean()) - rate) < _tol(math.sqrt(rate * (1 - rate)), maps.size)


def test_spatial_dropout_gradient_is_the_scaled_mask(rng):
    x = torch.ones((4, 5, 6, 8), requires_grad=True)
    out = layers.SpatialDropout2D(0.5)(x, training=True)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (out.detach().numpy() != 0) * 2.0)


def test_noise_is_redrawn_each_call_and_repeatable_with_the_global_seed(rng):
    x = rng.standard_normal((4, 6)).astype("float32")
    layer = layers.GaussianNoise(0.5, seed=3)
    cnnkit.utils.set_random_seed(11)
    first, second = layer(x, training=True).numpy(), layer(x, training=True).numpy()
    assert not np.array_equal(first, second)
    cnnkit.utils.set_random_seed(11)
    np.testing.assert_array_equal(layer(x, training=True).numpy(), first)


# ---- ActivityRegularization ------------------------------------------------------------------------------------


def _penalty(x, l1, l2):
    x = np.asarray(x, "float64")
    return (l1 * np.abs(x).sum() + l2 * np.square(x).sum()) / x.shape[0]


@pytest.mark.parametrize(("l1", "l2", "shape"), [(0.1, 0.0, (4, 3)), (0.0, 0.3, (2, 3, 4)), (0.05, 0.2, (3, 2, 2, 2))])
def test_activity_regularization_penalty_matches_keras(keras, rng, l1, l2, shape):
    """The penalty divided by the batch size (Keras 3), after training and inference calls alike."""
    x = rng.standard_normal(shape).astype("float32")
    layer, klayer = layers.ActivityRegularization(l1, l2), keras.layers.ActivityRegularization(l1, l2)
    assert layer.losses == []
    for training in (True, False):
        np.testing.assert_array_equal(layer(x, training=training).numpy(), x)
        klayer(x, training=training)
        (mine,), (theirs,) = layer.losses, klayer.losses
        np.testing.assert_allclose(float(mine), float(theirs), rtol=1e-6)
        np.testing.assert_allclose(float(mine), _penalty(x, l1, l2), rtol=1e-6)
    layer(x[:1])
    np.testing.assert_allclose(float(layer.losses[0]), _penalty(x[:1], l1, l2), rtol=1e-6)  # the latest call


def test_activity_regularization_penalty_has_gradients(rng):
    x = torch.as_tensor(rng.standard_normal((4, 3)).astype("float32")).requires_grad_(True)
    layer = layers.ActivityRegularization(l1=0.5, l2=0.25)
    layer(x, training=True)
    layer.losses[0].backward()
    np.testing.assert_allclose(x.grad.numpy(), (0.5 * np.sign(x.detach()) + 0.5 * x.detach()) / 4, rtol=1e-6)


def test_activity_regularization_copies_after_a_training_call(rng):
    import copy  # noqa: PLC0415

    layer = layers.ActivityRegularization(l1=0.5)
    x = torch.as_tensor(rng.standard_normal((4, 3)).astype("float32")).requires_grad_(True)
    layer(x * 2, training=True)  # its input is inside an autograd graph
    clone = copy.deepcopy(layer)
    assert clone.losses == [] and clone.get_config() == layer.get_config() and len(layer.losses) == 1


def _regularized_model(k, l1, l2):
    inputs = k.layers.Input(shape=(4,))
    hidden = k.layers.Dense(6, activation="tanh")(inputs)
    hidden = k.layers.ActivityRegularization(l1=l1, l2=l2)(hidden)
    return k.models.Model(inputs, k.layers.Dense(1)(hidden))


def test_fit_minimises_the_activity_penalty_like_keras(keras, rng):
    """A tiny fit on the same weights and batches: Keras's and cnnkit's losses (which include the penalty) and
    final weights agree, and evaluate reports the penalty as Keras does."""
    l1, l2 = 0.05, 0.1
    x = rng.standard_normal((16, 4)).astype("float32")
    y = rng.standard_normal((16, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    theirs, mine = _regularized_model(keras, l1, l2), _regularized_model(cnnkit, l1, l2)
    initial = theirs.get_weights()
    mine.set_weights(initial)
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    mine.compile(optimizer=cnnkit.optimizers.SGD(learning_rate=0.1), loss="mse")
    kernel, bias = theirs.get_weights()[:2]
    hidden = np.tanh(x @ kernel + bias)
    expected = np.mean((theirs.predict(x, verbose=0) - y) ** 2) + _penalty(hidden, l1, l2)
    assert _penalty(hidden, l1, l2) > 0.1  # the penalty is a sizeable part of the loss
    np.testing.assert_allclose(mine.evaluate(x, y, batch_size=16, verbose=0), expected, rtol=1e-5)
    np.testing.assert_allclose(theirs.evaluate(x, y, batch_size=16, verbose=0), expected, rtol=1e-5)
    kh = theirs.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history["loss"]
    h = mine.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(h, kh, rtol=1e-4)
    assert h[-1] < h[0]
    for got, want in zip(mine.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # The penalty took part in the gradients: without it the same fit ends elsewhere.
    plain = _regularized_model(cnnkit, 0.0, 0.0)
    plain.set_weights(initial)
    plain.compile(optimizer=cnnkit.optimizers.SGD(learning_rate=0.1), loss="mse")
    plain.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    assert np.abs(plain.get_weights()[0] - mine.get_weights()[0]).max() > 1e-3


# ---- configs, files, ONNX, dtype policies ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALL))
def test_files_both_ways_and_onnx(files, tmp_path, name):
    make, shape = ALL[name]
    model = files.check(make, shape, tmp_path)
    files.check_onnx(model, tmp_path)


@pytest.mark.parametrize("name", sorted(ALL))
def test_mixed_precision_dtypes_match_keras(files, name):
    make, shape = ALL[name]
    files.check_policy(make, shape)


@pytest.mark.parametrize("name", sorted(ALL))
def test_configs_round_trip_and_keras_configs_load(keras, config_round_trip, name):
    make, _ = ALL[name]
    layer, klayer = make(cnnkit), make(keras)
    cfg = config_round_trip(layer)
    kcfg = json.loads(json.dumps(klayer.get_config()))
    assert set(cfg) == set(kcfg)  # Keras's keys (SpatialDropout's have no 'trainable')
    rebuilt = layers.deserialize({"class_name": name, "config": kcfg})
    for key, value in rebuilt.get_config().items():
        if key != "dtype":
            assert value == kcfg[key], key
    if "seed" in cfg:
        assert cfg["seed"] == kcfg["seed"] == getattr(klayer, "seed")


# ---- argument errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "name", "value"), [
    *[(cls, "rate", value) for cls in ("SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                                       "GaussianDropout", "AlphaDropout", "Dropout")
      for value in (-0.1, 1.0, 1.5, "0.5", None, True, float("nan"))],
    ("GaussianNoise", "stddev", -0.1), ("GaussianNoise", "stddev", 1.5), ("GaussianNoise", "stddev", None),
    ("GaussianNoise", "stddev", float("nan")), ("ActivityRegularization", "l1", -0.01),
    ("ActivityRegularization", "l2", "0.1"), ("ActivityRegularization", "l2", float("inf")),
    ("AlphaDropout", "noise_shape", "abc"), ("AlphaDropout", "noise_shape", (None, 0)),
    ("AlphaDropout", "noise_shape", (2, -1)), ("AlphaDropout", "noise_shape", 3), ("Dropout", "noise_shape", (1.5,)),
    ("GaussianNoise", "seed", "a"), ("SpatialDropout2D", "seed", 1.5), ("AlphaDropout", "seed", True),
])
def test_bad_arguments_name_layer_argument_and_value(cls, name, value):
    kwargs = {"stddev": 0.1} if cls == "GaussianNoise" else {} if cls == "ActivityRegularization" else {"rate": 0.1}
    kwargs[name] = value
    with pytest.raises(ValueError, match=rf"^{cls}: {name} must .* Received: {name}=") as info:
        getattr(layers, cls)(**kwargs)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("cls", ["SpatialDropout2D", "SpatialDropout3D"])
def test_spatial_dropout_is_channels_last(cls):
    with pytest.raises(ValueError, match=rf"{cls}: .*data_format.*'channels_first'"):
        getattr(layers, cls)(0.5, data_format="channels_first")
    assert getattr(layers, cls)(0.5, data_format="channels_last").get_config()["data_format"] == "channels_last"


@pytest.mark.parametrize(("rank", "shape"), [(1, (2, 3, 4, 5)), (2, (2, 3, 4)), (3, (2, 3, 4, 5))])
def test_spatial_dropout_wrong_rank_raises(rank, shape):
    with pytest.raises(ValueError, match=rf"'spatial_dropout{rank}d' \(SpatialDropout{rank}D\).*ndim={rank + 2}"):
        getattr(layers, f"SpatialDropout{rank}D")(0.5)(np.zeros(shape, "float32"))


def test_spatial_dropout_checks_the_rank_of_every_call():
    layer = layers.SpatialDropout2D(0.5)
    layer(np.zeros((2, 3, 4, 5), "float32"))
    with pytest.raises(ValueError, match=r"\(SpatialDropout2D\).*ndim=4, found ndim=3"):
        layer(np.zeros((2, 3, 5), "float32"), training=True)


@pytest.mark.parametrize(("cls", "noise_shape", "shape", "message"), [
    ("AlphaDropout", (None, 1), (2, 3, 4), "must have one entry per input axis"),
    ("AlphaDropout", (None, 2, 1), (2, 3, 4), "must broadcast to the input"),
    ("Dropout", (None, 1, 1, 5), (2, 3, 4, 4), "must broadcast to the input"),
])
def test_noise_shape_that_does_not_fit_the_input_raises(cls, noise_shape, shape, message):
    layer = getattr(layers, cls)(0.5, noise_shape=noise_shape)
    with pytest.raises(ValueError, match=rf"Layer '{layer.name}' \({cls}\): noise_shape {message}") as info:
        layer(np.zeros(shape, "float32"), training=True)
    assert f"Received: noise_shape={noise_shape!r}" in str(info.value)


def test_numpy_arguments_are_accepted_and_configs_stay_json_safe(config_round_trip):
    cfg = config_round_trip(layers.AlphaDropout(np.float32(0.25), noise_shape=(None, np.int64(1)),
                                                seed=np.int64(4)))
    assert cfg["rate"] == 0.25 and cfg["noise_shape"] == [None, 1] and cfg["seed"] == 4
    assert config_round_trip(layers.GaussianNoise(np.float64(0.5)))["stddev"] == 0.5
