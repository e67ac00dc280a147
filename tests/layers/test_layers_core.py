"""Dense, Activation, Dropout, Rescaling and InputLayer against Keras."""

import numpy as np
import pytest
import torch

from cnnkit import activations
from cnnkit import layers

KERAS_ACTIVATIONS = ["relu", "sigmoid", "tanh", "softmax", "linear", "elu", "selu", "softplus", "softsign", "swish",
                     "gelu", "leaky_relu", "hard_sigmoid", "exponential"]
EXTRA_ACTIVATIONS = ["relu6", "log_softmax", "silu", "hard_swish", "hard_silu", "mish"]


# ---- Dense -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "units", "kwargs"), [
    ((4, 7), 3, {}),
    ((1, 1), 1, {}),
    ((5, 16), 10, dict(activation="softmax")),
    ((3, 8), 4, dict(activation="relu", use_bias=False)),
    ((2, 5, 6), 4, {}),
    ((2, 5, 6), 4, dict(activation="tanh", use_bias=False)),
    ((2, 3, 4, 5), 7, dict(activation="sigmoid")),
    ((2, 3, 4, 5), 2, dict(activation="softmax")),
    ((8, 300), 64, dict(activation="gelu")),
])
def test_dense_matches_keras(oracle, keras, rng, shape, units, kwargs):
    x = rng.standard_normal(shape).astype("float32")
    atol = 1e-5 * max(1.0, np.sqrt(shape[-1]))
    got, _ = oracle.compare(layers.Dense(units, **kwargs), keras.layers.Dense(units, **kwargs), x, atol=atol,
                            rng=rng)
    assert got.shape == (*shape[:-1], units)


def test_dense_on_rank3_input_is_applied_per_step(rng):
    layer = layers.Dense(3)
    x = rng.standard_normal((2, 4, 5)).astype("float32")
    out = layer(x).numpy()
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(out, x @ kernel + bias, rtol=1e-5, atol=1e-6)


def test_dense_config_and_defaults_match_keras(keras, config_round_trip):
    cfg = config_round_trip(layers.Dense(5, activation="relu", kernel_regularizer="l2", name="head"))
    kcfg = keras.layers.Dense(5, activation="relu").get_config()
    for key in ("units", "activation", "use_bias"):
        assert cfg[key] == kcfg[key]
    assert cfg["name"] == "head"
    layer = layers.Dense(4)
    layer(np.zeros((1, 6), "float32"))
    kernel, bias = layer.get_weights()
    assert kernel.shape == (6, 4) and np.abs(kernel).max() <= np.sqrt(6 / 10)
    np.testing.assert_array_equal(bias, 0)


@pytest.mark.parametrize("units", [0, -3, 2.0, None, True])
def test_dense_bad_units_raise(units):
    with pytest.raises(ValueError, match="units"):
        layers.Dense(units)


def test_dense_on_rank1_input_raises():
    with pytest.raises(ValueError, match="ndim"):
        layers.Dense(3)(np.zeros((4,), "float32"))


def test_dense_misspelt_keyword():
    with pytest.raises(TypeError, match="Did you mean 'activation'"):
        layers.Dense(3, activaton="relu")


def test_set_weights_checks_count_and_shape():
    layer = layers.Dense(3)
    layer(np.zeros((1, 4), "float32"))
    with pytest.raises(ValueError, match="expects 2 weights"):
        layer.set_weights([np.zeros((4, 3))])
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        layer.set_weights([np.zeros((3, 4)), np.zeros(3)])


def test_count_params_before_build_raises():
    with pytest.raises(ValueError, match="isn't built"):
        layers.Dense(3).count_params()


# ---- Activation ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", KERAS_ACTIVATIONS + EXTRA_ACTIVATIONS)
@pytest.mark.parametrize("shape", [(4, 9), (2, 3, 4, 5)])
def test_activation_matches_keras(oracle, keras, rng, name, shape):
    """Activation(name) against keras.layers.Activation(name); softmax reduces over the last (channel) axis."""
    x = (rng.standard_normal(shape) * 3).astype("float32")
    x.flat[:4] = [-3.0, 0.0, 3.0, 2.5]  # hard_sigmoid's corners and relu's kink
    oracle.compare(layers.Activation(name), keras.layers.Activation(name), x, atol=2e-6)
    # The serialized name is Keras 3's own (e.g. 'swish' is written as 'silu' by both).
    mine = layers.Activation(name).get_config()["activation"]
    theirs = keras.layers.Activation(name).get_config()["activation"]
    assert mine == theirs
    assert activations.get(mine) is activations.get(theirs)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 2, 3, 4, 5)])
def test_activation_softmax_over_channels_on_rank3_and_rank5(oracle, keras, rng, name, shape):
    x = (rng.standard_normal(shape) * 3).astype("float32")
    oracle.compare(layers.Activation(name), keras.layers.Activation(name), x, atol=2e-6)


@pytest.mark.parametrize("name", KERAS_ACTIVATIONS + EXTRA_ACTIVATIONS)
def test_activation_functions_match_keras(keras, rng, name):
    """The functions themselves (cnnkit.activations.get) against keras.activations.get."""
    x = (rng.standard_normal((3, 7)) * 3).astype("float32")
    got = activations.get(name)(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, np.asarray(keras.activations.get(name)(x)), rtol=1e-5, atol=2e-6)


def test_activation_softmax_rows_sum_to_one_on_images(rng):
    x = rng.standard_normal((2, 3, 3, 5)).astype("float32")
    out = layers.Activation("softmax")(x).numpy()
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-6)


def test_activation_unknown_name_suggests():
    with pytest.raises(ValueError, match="Did you mean 'sigmoid'"):
        layers.Activation("sigmod")


def test_activation_callable(rng):
    layer = layers.Activation(torch.relu)
    x = rng.standard_normal((2, 3)).astype("float32")
    np.testing.assert_array_equal(layer(x).numpy(), np.maximum(x, 0))


# ---- Dropout ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.0, 0.25, 0.5, 0.9])
@pytest.mark.parametrize("shape", [(4, 10), (2, 5, 5, 3)])
def test_dropout_inference_is_identity_like_keras(oracle, keras, rng, rate, shape):
    x = rng.standard_normal(shape).astype("float32")
    got, _ = oracle.compare(layers.Dropout(rate), keras.layers.Dropout(rate), x, training=False)
    np.testing.assert_array_equal(got, x)
    np.testing.assert_array_equal(layers.Dropout(rate)(x).numpy(), x)  # default: inference


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.8])
def test_dropout_training_zeros_rate_and_scales_the_rest(keras, rng, rate):
    torch.manual_seed(0)
    keras.utils.set_random_seed(0)
    x = rng.uniform(1.0, 2.0, size=(64, 8, 8, 4)).astype("float32")
    out = layers.Dropout(rate)(x, training=True).numpy()
    kept = out != 0
    n = x.size
    tolerance = 4 * np.sqrt(rate * (1 - rate) / n)
    assert abs((1 - kept.mean()) - rate) < tolerance
    np.testing.assert_allclose(out[kept], x[kept] / (1 - rate), rtol=1e-6)
    # Keras: same expectation (mean preserved) and the same kept-value scaling.
    kout = np.asarray(keras.layers.Dropout(rate)(x, training=True))
    kkept = kout != 0
    assert abs(kkept.mean() - kept.mean()) < 2 * tolerance
    np.testing.assert_allclose(kout[kkept], x[kkept] / (1 - rate), rtol=1e-6)


def test_dropout_rate_zero_training_is_identity(rng):
    x = rng.standard_normal((3, 4)).astype("float32")
    np.testing.assert_array_equal(layers.Dropout(0.0)(x, training=True).numpy(), x)


def test_dropout_noise_shape_shares_the_mask(keras, rng, config_round_trip):
    torch.manual_seed(0)
    keras.utils.set_random_seed(0)
    x = rng.uniform(1.0, 2.0, size=(8, 6, 6, 5)).astype("float32")
    layer = layers.Dropout(0.5, noise_shape=(None, 1, 1, 5))
    out = layer(x, training=True).numpy()
    mask = out != 0
    assert (mask == mask[:, :1, :1, :]).all()  # one decision per (sample, channel)
    np.testing.assert_allclose(out[mask], x[mask] * 2, rtol=1e-6)
    assert 0 < mask.mean() < 1
    cfg = config_round_trip(layer)
    assert cfg["noise_shape"] == [None, 1, 1, 5]
    kout = np.asarray(keras.layers.Dropout(0.5, noise_shape=(None, 1, 1, 5))(x, training=True))
    kmask = kout != 0
    assert (kmask == kmask[:, :1, :1, :]).all()


def test_dropout_gradient_is_the_mask_scaled():
    torch.manual_seed(0)
    x = torch.ones(16, 32, requires_grad=True)
    out = layers.Dropout(0.25)(x, training=True)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (out.detach().numpy() != 0) / 0.75, rtol=1e-6)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.5", None])
def test_dropout_bad_rate_raises(rate):
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(rate)


# ---- Rescaling -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "kwargs"), [
    ((2, 5), dict(scale=1 / 255)),
    ((2, 4, 4, 3), dict(scale=1 / 127.5, offset=-1.0)),
    ((2, 4, 4, 3), dict(scale=[0.5, 2.0, -1.0])),
    ((2, 4, 4, 3), dict(scale=[0.5, 2.0, -1.0], offset=[1.0, 0.0, -2.0])),
    ((3, 4), dict(scale=[1.0, 2.0, 3.0, 4.0], offset=0.5)),
    ((2, 6, 2), dict(scale=2.0, offset=[1.0, -1.0])),
])
def test_rescaling_matches_keras(oracle, keras, rng, shape, kwargs):
    x = rng.uniform(0, 255, size=shape).astype("float32")
    got, _ = oracle.compare(layers.Rescaling(**kwargs), keras.layers.Rescaling(**kwargs), x, atol=1e-5)
    scale = np.asarray(kwargs["scale"], "float32")
    offset = np.asarray(kwargs.get("offset", 0.0), "float32")
    np.testing.assert_allclose(got, x * scale + offset, rtol=1e-6, atol=1e-5)


def test_rescaling_bad_scale_raises():
    with pytest.raises(ValueError, match="scale"):
        layers.Rescaling([[1.0, 2.0]])


# ---- InputLayer ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "batch_size"), [((28, 28, 1), None), ((10,), 4), ((None, None, 3), None),
                                                   ((5, 6, 7, 2), 1)])
def test_input_matches_keras(keras, config_round_trip, shape, batch_size):
    tensor = layers.Input(shape=shape, batch_size=batch_size)
    ktensor = keras.Input(shape=shape, batch_size=batch_size)
    assert tuple(tensor.shape) == tuple(ktensor.shape)
    layer = layers.InputLayer(shape=shape, batch_size=batch_size, name="inp")
    klayer = keras.layers.InputLayer(shape=shape, batch_size=batch_size, name="inp")
    cfg = config_round_trip(layer)
    kcfg = klayer.get_config()
    assert tuple(cfg["batch_shape"]) == tuple(kcfg["batch_shape"])
    assert cfg["name"] == kcfg["name"] == "inp"
    assert layer.count_params() == klayer.count_params() == 0
    assert layer.get_weights() == []


def test_input_layer_needs_a_shape():
    with pytest.raises(ValueError, match="shape"):
        layers.InputLayer()
    with pytest.raises(ValueError, match="batch_shape"):
        layers.InputLayer(shape=(-1, 3))


def test_get_weights_returns_copies_like_keras(rng):
    """Regression: get_weights() used to return numpy views of the live tensors whenever the layout change was a
    no-op (biases, BatchNormalization statistics, a Dense(1) kernel), so saved arrays changed with training."""
    dense = layers.Dense(1)
    dense(np.ones((2, 3), "float32"))
    saved = dense.get_weights()
    copies = [w.copy() for w in saved]
    dense.set_weights([w + 1 for w in saved])
    for old, new in zip(saved, copies):
        np.testing.assert_array_equal(old, new)
    bn = layers.BatchNormalization()
    x = rng.standard_normal((8, 3)).astype("float32") + 5
    bn(x)
    saved = bn.get_weights()
    bn(x, training=True)
    np.testing.assert_array_equal(saved[2], 0)
    assert not np.array_equal(bn.get_weights()[2], saved[2])
