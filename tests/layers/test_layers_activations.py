"""ReLU, LeakyReLU, PReLU, ELU and Softmax against Keras over random configurations: outputs with copied weights,
shapes, weights, configs, files both ways, ONNX, dtype policies, the `monotonic` declarations and the argument
errors."""

import json
import random
import warnings

import numpy as np
import pytest
import torch

from cnnkit import activations
from cnnkit import layers

RANKS = (2, 3, 4, 5)


def _shape(rnd, rank):
    return (rnd.randint(1, 3), *(rnd.randint(1, 5) for _ in range(rank - 1)))


def _inputs(rng, shape, specials=()):
    """Normal values (scale 3) with `specials` (kinks, thresholds, bounds) planted at the front."""
    x = (rng.standard_normal(shape) * 3).astype("float32")
    flat = x.reshape(-1)
    specials = np.asarray(specials, "float32")[:flat.size]
    flat[:specials.size] = specials
    return x


def _relu_configs(count, seed):
    """Random ReLU arguments: each option unset, zero or positive; threshold > 0 and max_value with a slope
    appear often (their corners are planted in the inputs)."""
    rnd = random.Random(seed)
    configs = []
    for i in range(count):
        kwargs = {}
        if rnd.random() < 0.6:
            kwargs["max_value"] = rnd.choice([0.0, 6.0, 6, round(rnd.uniform(0.1, 5), 3)])
        if rnd.random() < 0.6:
            kwargs["negative_slope"] = rnd.choice([0.0, round(rnd.uniform(0.01, 2), 3)])
        if rnd.random() < 0.6:
            kwargs["threshold"] = rnd.choice([0.0, round(rnd.uniform(0.1, 4), 3)])
        configs.append(pytest.param(kwargs, _shape(rnd, rnd.choice(RANKS)), id=f"{i}-{kwargs}"))
    return configs


@pytest.mark.parametrize(("kwargs", "shape"), _relu_configs(30, seed=41))
def test_relu_matches_keras(oracle, keras, rng, kwargs, shape):
    t, m = kwargs.get("threshold", 0.0), kwargs.get("max_value", 0.0)
    x = _inputs(rng, shape, [t, -t, 0.0, m, m + 1, t + 1e-3, t - 1e-3, -np.inf, np.inf])
    got, _ = oracle.compare(layers.ReLU(**kwargs), keras.layers.ReLU(**kwargs), x, atol=1e-6, rtol=1e-6)
    assert got.shape == x.shape


def test_relu_at_the_threshold_is_zero_like_keras(oracle, keras):
    """Keras keeps x only where x > threshold: f(threshold) = 0, also with a slope and a bound."""
    x = np.array([[0.5, 1.0, 1.5, 3.0, -1.0]], "float32")
    for kwargs in (dict(threshold=1.0), dict(threshold=1.0, negative_slope=0.5, max_value=2.0)):
        got, want = oracle.compare(layers.ReLU(**kwargs), keras.layers.ReLU(**kwargs), x)
        assert got[0, 1] == want[0, 1] == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_leaky_relu_matches_keras(oracle, keras, rng, seed):
    rnd = random.Random(seed)
    slope = rnd.choice([0.0, 0.3, round(rnd.uniform(0.01, 3), 3)])
    x = _inputs(rng, _shape(rnd, rnd.choice(RANKS)), [0.0, -0.0, -np.inf])
    oracle.compare(layers.LeakyReLU(negative_slope=slope), keras.layers.LeakyReLU(negative_slope=slope), x,
                   atol=1e-6)


def test_leaky_relu_default_slope_is_keras_layer_default(oracle, keras, rng):
    layer = layers.LeakyReLU()
    assert layer.negative_slope == keras.layers.LeakyReLU().get_config()["negative_slope"] == 0.3
    oracle.compare(layer, keras.layers.LeakyReLU(), _inputs(rng, (3, 4), [-1.0]), atol=1e-6)


def test_leaky_relu_accepts_keras_2_alpha(keras):
    with pytest.warns(UserWarning, match="alpha"):
        layer = layers.LeakyReLU(alpha=0.1)
    assert layer.get_config()["negative_slope"] == 0.1 and "alpha" not in layer.get_config()
    # A tf.keras 2 config (slope named 'alpha') is read by deserialize, as Keras 3 reads it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = {"module": "keras.layers", "class_name": "LeakyReLU", "config": {"name": "lr", "dtype": "float32",
                                                      "alpha": 0.05}}
        assert layers.deserialize(spec).negative_slope == 0.05
        assert keras.layers.deserialize(spec).negative_slope == 0.05


def _prelu_configs(count, seed):
    """Random ranks and shared_axes forms: None, an int, a list (spatial axes, the channel axis, all axes)."""
    rnd = random.Random(seed)
    configs = []
    for i in range(count):
        rank = rnd.choice(RANKS)
        axes = list(range(1, rank))
        form = rnd.choice(["none", "int", "list", "spatial", "all"])
        shared = {"none": None, "int": rnd.choice(axes), "list": sorted(rnd.sample(axes, rnd.randint(1, len(axes)))),
                  "spatial": axes[:-1] or None, "all": axes}[form]
        configs.append(pytest.param(shared, _shape(rnd, rank), id=f"{i}-rank{rank}-{shared}"))
    return configs


@pytest.mark.parametrize(("shared_axes", "shape"), _prelu_configs(24, seed=5))
def test_prelu_matches_keras(oracle, keras, rng, shared_axes, shape):
    """alpha (randomised, negative values included) has Keras's shape and order; outputs match."""
    layer, klayer = layers.PReLU(shared_axes=shared_axes), keras.layers.PReLU(shared_axes=shared_axes)
    x = _inputs(rng, shape, [0.0, -1.0, 1.0])
    got, _ = oracle.compare(layer, klayer, x, atol=1e-6, rng=rng)
    alpha = layer.get_weights()[0]
    assert alpha.shape == tuple(1 if shared_axes is not None and i in np.atleast_1d(shared_axes) else n
                                for i, n in enumerate(shape[1:], start=1))
    np.testing.assert_allclose(got, np.where(x >= 0, x, alpha * x), rtol=1e-6, atol=1e-6)  # numpy reference


def test_prelu_gradients_match_tensorflow(keras, rng):
    import tensorflow as tf  # noqa: PLC0415

    x = _inputs(rng, (2, 3, 4, 3), [0.5, -0.5])
    layer, klayer = layers.PReLU(shared_axes=[1]), keras.layers.PReLU(shared_axes=[1])
    klayer.build((None, 3, 4, 3))
    klayer.set_weights([rng.standard_normal((1, 4, 3)).astype("float32")])
    layer(x)
    layer.set_weights(klayer.get_weights())
    xt = torch.as_tensor(x, dtype=torch.float32).requires_grad_(True)
    (layer(xt) ** 2).sum().backward()
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(klayer(xv) ** 2)
    gx, galpha = tape.gradient(loss, [xv, klayer.weights[0].value])
    np.testing.assert_allclose(xt.grad.numpy(), gx.numpy(), rtol=1e-5, atol=1e-5)
    # alpha is stored channels-first, (3, 1, 4) for Keras's (1, 4, 3).
    np.testing.assert_allclose(layer.alpha.grad.permute(1, 2, 0).numpy(), galpha.numpy(), rtol=1e-5, atol=1e-5)


def test_prelu_defaults_initializer_and_regularizer_match_keras(keras, rng):
    layer, klayer = layers.PReLU(), keras.layers.PReLU()
    x = _inputs(rng, (2, 3, 4), [-1.0])
    np.testing.assert_array_equal(layer(x).numpy(), np.maximum(x, 0))  # zeros: starts as a ReLU
    assert layer.get_config()["alpha_initializer"]["class_name"] == klayer.get_config()["alpha_initializer"][
        "class_name"] == "Zeros"
    layer = layers.PReLU(alpha_initializer="ones", alpha_regularizer="l2", shared_axes=2)
    klayer = keras.layers.PReLU(alpha_initializer="ones", alpha_regularizer="l2", shared_axes=2)
    layer(x), klayer(x)
    np.testing.assert_array_equal(layer.get_weights()[0], np.ones((3, 1)))
    np.testing.assert_allclose([float(v.detach()) for v in layer.losses], [float(v) for v in klayer.losses], rtol=1e-6)


def test_elu_matches_keras(oracle, keras, rng):
    rnd = random.Random(9)
    for alpha in [1.0, 0.5, 2.5, 0.0, -0.7, round(rnd.uniform(0.01, 3), 3)]:
        x = _inputs(rng, _shape(rnd, rnd.choice(RANKS)), [0.0, -1e-3, 1e-3, -30.0])
        oracle.compare(layers.ELU(alpha=alpha), keras.layers.ELU(alpha=alpha), x, atol=1e-6, rtol=1e-6)


def _softmax_configs(count, seed):
    """Random ranks and axes: ints (negative or not, the batch axis included), lists of one or several."""
    rnd = random.Random(seed)
    configs = []
    for i in range(count):
        rank = rnd.choice(RANKS)
        axes = rnd.sample(range(rank), rnd.randint(1, min(rank, 3)))
        axes = [a - rank if rnd.random() < 0.4 else a for a in axes]
        axis = axes[0] if len(axes) == 1 and rnd.random() < 0.6 else axes
        configs.append(pytest.param(axis, _shape(rnd, rank), id=f"{i}-rank{rank}-axis{axis}"))
    return configs


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis")  # Keras, on axes of size 1
@pytest.mark.parametrize(("axis", "shape"), [*_softmax_configs(24, seed=8),
                                             pytest.param(-1, (2, 3, 4, 5), id="default")])
def test_softmax_matches_keras(oracle, keras, rng, axis, shape):
    x = _inputs(rng, shape, [40.0, -40.0])
    got, _ = oracle.compare(layers.Softmax(axis=axis), keras.layers.Softmax(axis=axis), x, atol=1e-6)
    axes = tuple(np.atleast_1d(axis))
    np.testing.assert_allclose(got.sum(axis=axes), 1.0, rtol=1e-5)


@pytest.mark.parametrize(("shape", "mask_shape", "numeric"), [
    ((2, 5), (2, 5), False), ((2, 5), (5,), True), ((2, 3, 4), (2, 1, 4), False), ((2, 3, 4, 5), (3, 1, 5), True),
    ((2, 3, 4), (2, 3, 1), False),
])
def test_softmax_mask_matches_keras(keras, rng, shape, mask_shape, numeric):
    """Masked positions get 0, the others a softmax over the unmasked ones (an axis masked throughout: zeros)."""
    x = _inputs(rng, shape, [])
    mask = rng.random(mask_shape) < 0.6
    mask.reshape(-1)[0] = False
    given = mask.astype("float32") * rng.uniform(0.51, 2.0, mask_shape).astype("float32") if numeric else mask
    for axis in (-1, 0, [0, -1]) if len(shape) == 2 else (-1, 1, [1, -1]):
        got = layers.Softmax(axis=axis)(x, mask=given).numpy()
        want = np.asarray(keras.layers.Softmax(axis=axis)(x, mask=given))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert (got[np.broadcast_to(~mask, shape)] == 0).all()


def test_softmax_mask_with_torch_input_keeps_gradients(rng):
    x = torch.as_tensor(_inputs(rng, (2, 4), [])).requires_grad_(True)
    out = layers.Softmax()(x, mask=torch.tensor([True, False, True, True]))
    out[:, 0].sum().backward()
    assert x.grad is not None and (x.grad[:, 1] == 0).all()


def test_softmax_mask_errors():
    layer = layers.Softmax()
    x = np.zeros((2, 3), "float32")
    with pytest.raises(ValueError, match=r"softmax.*mask.*\(4,\)"):
        layer(x, mask=np.ones(4, bool))
    with pytest.raises(ValueError, match=r"mask.*\(1, 2, 3\)"):
        layer(x, mask=np.ones((1, 2, 3), bool))
    inp = layers.Input(shape=(3,))
    with pytest.raises(NotImplementedError, match="mask"):
        layer(inp, mask=np.ones(3, bool))


def test_softmax_bad_axis_raises():
    with pytest.raises(ValueError, match=r"Softmax: axis .* Received: axis='x'"):
        layers.Softmax(axis="x")
    with pytest.raises(ValueError, match=r"Softmax: axis .* Received: axis=\[\]"):
        layers.Softmax(axis=[])
    with pytest.raises(ValueError, match=r"'softmax(_\d+)?' \(Softmax\): axis=3"):
        layers.Softmax(axis=3)(np.zeros((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match=r"axis=\[1, -2\]"):
        layers.Softmax(axis=[1, -2])(np.zeros((2, 3, 4), "float32"))


# ---- monotonic -------------------------------------------------------------------------------------------------


def _non_decreasing(fn):
    grid = torch.linspace(-8, 8, 4001).reshape(1, -1)
    values = fn(grid).reshape(-1)
    return bool((values[1:] >= values[:-1]).all())


@pytest.mark.parametrize(("layer", "declared"), [
    (lambda: layers.ReLU(), True), (lambda: layers.ReLU(max_value=1.0, negative_slope=0.2, threshold=0.5), True),
    (lambda: layers.ReLU(threshold=2.0), True), (lambda: layers.LeakyReLU(), True),
    (lambda: layers.LeakyReLU(negative_slope=0.0), True), (lambda: layers.ELU(), True),
    (lambda: layers.ELU(alpha=0.0), True), (lambda: layers.ELU(alpha=-0.5), False),
])
def test_monotonic_declarations_are_true(layer, declared):
    """A layer declaring `monotonic` is non-decreasing on a fine grid; one declaring False is not."""
    layer = layer()
    assert layer.monotonic is declared
    assert _non_decreasing(layer) is declared


def test_prelu_and_softmax_are_not_monotonic():
    assert layers.PReLU.monotonic is False and layers.PReLU().monotonic is False
    assert layers.Softmax().monotonic is False
    assert layers.Dense(2).monotonic is False  # the Layer default


@pytest.mark.parametrize("name", ["relu", "relu6", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign",
                                  "exponential", "leaky_relu", "hard_sigmoid", "linear", "gelu", "silu", "mish",
                                  "hard_silu", "softmax", "log_softmax"])
def test_activation_layer_declares_monotonic(name):
    layer = layers.Activation(name)
    assert layer.monotonic is (activations.get(name) in activations.MONOTONIC)
    if name not in ("softmax", "log_softmax"):  # elementwise: the declaration is checked on a grid
        assert _non_decreasing(activations.get(name)) is layer.monotonic


# ---- configs, files, ONNX, dtype policies ----------------------------------------------------------------------

MAKERS = {
    "ReLU": (lambda k: k.layers.ReLU(max_value=2.5, negative_slope=0.3, threshold=0.5), (4, 5, 3)),
    "LeakyReLU": (lambda k: k.layers.LeakyReLU(negative_slope=0.15), (6,)),
    "PReLU": (lambda k: k.layers.PReLU(shared_axes=[1, 2]), (4, 5, 3)),
    "PReLU-elementwise": (lambda k: k.layers.PReLU(alpha_initializer="ones"), (3, 4)),
    "ELU": (lambda k: k.layers.ELU(alpha=0.7), (5, 2)),
    "Softmax": (lambda k: k.layers.Softmax(axis=[1, 2]), (3, 4, 2)),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_files_both_ways_and_onnx(files, tmp_path, name):
    make, shape = MAKERS[name]
    model = files.check(make, shape, tmp_path)
    files.check_onnx(model, tmp_path)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_mixed_precision_dtypes_match_keras(files, name):
    make, shape = MAKERS[name]
    files.check_policy(make, shape)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_keras_written_configs_load(keras, config_round_trip, name):
    make, _ = MAKERS[name]
    kcfg = json.loads(json.dumps(make(keras).get_config()))
    layer = layers.deserialize({"class_name": name.split("-")[0], "config": kcfg})
    cfg = config_round_trip(layer)
    for key, value in kcfg.items():
        if key != "dtype":
            assert cfg[key] == value, key


# ---- argument errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "name", "value"), [
    ("ReLU", "max_value", -1.0), ("ReLU", "max_value", "6"), ("ReLU", "negative_slope", -0.1),
    ("ReLU", "negative_slope", None), ("ReLU", "threshold", -0.5), ("ReLU", "threshold", None),
    ("ReLU", "threshold", float("nan")), ("LeakyReLU", "negative_slope", -0.3), ("LeakyReLU", "negative_slope", None),
    ("LeakyReLU", "negative_slope", True), ("ELU", "alpha", "1"), ("ELU", "alpha", float("inf")),
    ("PReLU", "shared_axes", 0), ("PReLU", "shared_axes", [1, -1]), ("PReLU", "shared_axes", "1"),
    ("PReLU", "shared_axes", [1.5]),
])
def test_bad_arguments_name_layer_argument_and_value(cls, name, value):
    with pytest.raises(ValueError, match=rf"^{cls}: {name} must .* Received: {name}=") as info:
        getattr(layers, cls)(**{name: value})
    assert repr(value) in str(info.value)


def test_prelu_build_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"'p_re_lu' \(PReLU\): shared_axes=\[3\]"):
        layers.PReLU(shared_axes=3)(np.zeros((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match=r"\(PReLU\): every axis that is not in shared_axes must be known"):
        layers.PReLU(shared_axes=2).build((None, None, 4, 3))
    with pytest.raises(ValueError, match="ndim"):
        layers.PReLU()(np.zeros((3,), "float32"))


def test_prelu_input_must_fit_alpha_like_keras_input_spec(keras, rng):
    """Shared axes may change size between calls (alpha broadcasts there); the other axes and the rank may not, as
    Keras's InputSpec says: an error, never a silent broadcast."""
    layer, klayer = layers.PReLU(shared_axes=[1, 2]), keras.layers.PReLU(shared_axes=[1, 2])
    layer(np.zeros((1, 4, 5, 3), "float32")), klayer(np.zeros((1, 4, 5, 3), "float32"))
    klayer.set_weights([rng.standard_normal((1, 1, 3)).astype("float32")])
    layer.set_weights(klayer.get_weights())
    x = _inputs(rng, (2, 6, 7, 3), [])
    np.testing.assert_allclose(layer(x).numpy(), np.asarray(klayer(x)), rtol=1e-6)
    with pytest.raises(ValueError, match=r"'p_re_lu' \(PReLU\) is incompatible.*axis 3 .* value 3"):
        layer(np.zeros((2, 4, 5, 2), "float32"))
    elementwise = layers.PReLU()
    elementwise(np.zeros((1, 1, 3), "float32"))  # alpha (1, 3): axis 1 is not shared, so it must stay 1
    with pytest.raises(ValueError, match=r"axis 1 of input shape to have value 1"):
        elementwise(np.zeros((1, 4, 3), "float32"))
    with pytest.raises(ValueError, match="ndim=3"):
        elementwise(np.zeros((1, 1, 1, 3), "float32"))


def test_softmax_follows_the_rank_of_each_call(keras, rng):
    """Negative axes are Keras's for each input's own rank, also after the layer was built on another rank."""
    layer, klayer = layers.Softmax(axis=[-2, 1]), keras.layers.Softmax(axis=[-2, 1])
    for shape in [(2, 3, 4, 5), (2, 3, 2, 2, 3), (2, 5, 3, 4)]:
        x = _inputs(rng, shape, [])
        np.testing.assert_allclose(layer(x).numpy(), np.asarray(klayer(x)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"Softmax.*axis=\[-2, 1\] names the same axis of a rank-3 input twice"):
        layer(np.zeros((2, 4, 3), "float32"))  # -2 is axis 1 there


def test_prelu_constraint_is_not_supported():
    with pytest.raises(NotImplementedError, match="alpha_constraint"):
        layers.PReLU(alpha_constraint="non_neg")


def test_numpy_arguments_are_accepted_and_configs_stay_json_safe(config_round_trip):
    """numpy scalars and arrays are read as Python numbers (a numpy int64 in a config would not serialise)."""
    for layer, key, value in [
        (layers.ReLU(max_value=np.float32(6), threshold=np.int64(1)), "max_value", 6.0),
        (layers.LeakyReLU(negative_slope=np.float64(0.2)), "negative_slope", 0.2),
        (layers.PReLU(shared_axes=np.array([1, 2])), "shared_axes", [1, 2]),
        (layers.Softmax(axis=np.int64(2)), "axis", 2), (layers.Softmax(axis=np.array([1, 2])), "axis", [1, 2]),
    ]:
        cfg = config_round_trip(layer)
        assert cfg[key] == value and type(cfg[key]) is type(value)
