"""LayerNormalization, GroupNormalization and UnitNormalization against Keras: random configurations (ranks 2-5,
axis lists with negative and several axes, center/scale, rms_scaling, group counts, epsilon), gradients against
tf.GradientTape, Keras-written configs, files both ways, ONNX, mixed precision, memory layout and bad arguments."""

import random
import warnings

import numpy as np
import pytest
import torch

from cnnkit import layers

ATOL = RTOL = 1e-4
pytestmark = pytest.mark.filterwarnings("ignore:.*rms_scaling")  # both libraries warn that it is deprecated


def _data(rng, shape):
    """Inputs with a mean and spread far from (0, 1)."""
    return (rng.standard_normal(shape) * rng.uniform(0.5, 3.0) + rng.uniform(-2.0, 2.0)).astype("float32")


def _axis_arg(rnd, positions, rank):
    """Keras axes at `positions`, each written positive or negative, in random order; a lone one maybe an int."""
    axis = [p - rank if rnd.random() < 0.5 else p for p in positions]
    rnd.shuffle(axis)
    return axis[0] if len(axis) == 1 and rnd.random() < 0.5 else axis


def _layer_norm_configs(count, seed, min_size=1):
    rnd = random.Random(seed)
    configs = []
    for _ in range(count):
        rank = rnd.randint(2, 5)
        shape = (rnd.randint(1, 3), *[rnd.randint(min_size, 5 if rank < 5 else 3) for _ in range(rank - 1)])
        positions = sorted(rnd.sample(range(1, rank), rnd.randint(1, rank - 1)))
        kwargs = dict(axis=_axis_arg(rnd, positions, rank), epsilon=rnd.choice([1e-3, 1e-5, 0.1, 1.0]),
                      center=rnd.random() < 0.7, scale=rnd.random() < 0.7, rms_scaling=rnd.random() < 0.2)
        configs.append(pytest.param(kwargs, shape, id=f"{shape}-{kwargs}".replace(" ", "")))
    return configs


def _group_norm_configs(count, seed, min_size=1):
    rnd = random.Random(seed)
    configs = []
    for _ in range(count):
        rank = rnd.randint(2, 5)
        position = rnd.randint(1, rank - 1)
        groups = rnd.choice([1, 2, 3, 4, -1])
        channels = (abs(groups) if groups > 0 else rnd.randint(1, 4)) * rnd.randint(1, 3)
        shape = [rnd.randint(1, 3), *[rnd.randint(min_size, 4 if rank < 5 else 3) for _ in range(rank - 1)]]
        shape[position] = channels
        kwargs = dict(groups=groups, axis=position - rank if rnd.random() < 0.5 else position,
                      epsilon=rnd.choice([1e-3, 1e-5, 0.1]), center=rnd.random() < 0.7, scale=rnd.random() < 0.7)
        configs.append(pytest.param(kwargs, tuple(shape), id=f"{tuple(shape)}-{kwargs}".replace(" ", "")))
    return configs


def _unit_norm_configs(count, seed):
    rnd = random.Random(seed)
    configs = []
    for _ in range(count):
        rank = rnd.randint(2, 5)
        shape = (rnd.randint(1, 3), *[rnd.randint(1, 5 if rank < 5 else 3) for _ in range(rank - 1)])
        low = 0 if rnd.random() < 0.15 else 1  # now and then the batch axis too
        positions = sorted(rnd.sample(range(low, rank), rnd.randint(1, rank - low)))
        configs.append(pytest.param(dict(axis=_axis_arg(rnd, positions, rank)), shape,
                                    id=f"{shape}-axis{_axis_arg(rnd, positions, rank)}".replace(" ", "")))
    return configs


def _keras_layer(keras, name, kwargs):
    with warnings.catch_warnings():  # Keras warns that rms_scaling is deprecated
        warnings.simplefilter("ignore")
        return getattr(keras.layers, name)(**kwargs)


def _pair(keras, name, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(layers, name)(**kwargs), _keras_layer(keras, name, kwargs)


def _same_config(layer, klayer):
    """Equal configs but for the name (Keras's counter is global)."""
    mine, theirs = layer.get_config(), klayer.get_config()
    mine.pop("name"), theirs.pop("name")
    assert mine == theirs


@pytest.mark.parametrize(("kwargs", "shape"), _layer_norm_configs(40, seed=1))
def test_layer_normalization_matches_keras(oracle, keras, rng, kwargs, shape):
    layer, klayer = _pair(keras, "LayerNormalization", kwargs)
    oracle.compare(layer, klayer, _data(rng, shape), rng=rng, rtol=RTOL, atol=ATOL)
    _same_config(layer, klayer)  # Keras's own form, after build too (axis a sorted list)


@pytest.mark.parametrize(("kwargs", "shape"), _group_norm_configs(30, seed=2))
def test_group_normalization_matches_keras(oracle, keras, rng, kwargs, shape):
    layer, klayer = _pair(keras, "GroupNormalization", kwargs)
    oracle.compare(layer, klayer, _data(rng, shape), rng=rng, rtol=RTOL, atol=ATOL)
    _same_config(layer, klayer)  # groups=-1 becomes the channel count, as in Keras


@pytest.mark.parametrize(("kwargs", "shape"), _unit_norm_configs(20, seed=3))
def test_unit_normalization_matches_keras(oracle, keras, rng, kwargs, shape):
    layer, klayer = _pair(keras, "UnitNormalization", kwargs)
    got, _ = oracle.compare(layer, klayer, _data(rng, shape), rng=rng, rtol=RTOL, atol=ATOL)
    _same_config(layer, klayer)


def test_layer_normalization_formula_against_numpy(rng):
    """Biased variance, epsilon inside the square root, gamma and beta per normalised position."""
    x = _data(rng, (3, 4, 5, 6))
    layer = layers.LayerNormalization(axis=[1, 3], epsilon=0.05)
    layer(x)
    gamma, beta = rng.standard_normal((2, 4, 6)).astype("float32")
    layer.set_weights([gamma, beta])
    x64 = x.astype(np.float64)
    mean, var = x64.mean(axis=(1, 3), keepdims=True), x64.var(axis=(1, 3), keepdims=True)
    want = (x64 - mean) / np.sqrt(var + 0.05) * gamma[:, None, :] + beta[:, None, :]
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-5, atol=1e-5)


def test_group_normalization_formula_against_numpy(rng):
    x = _data(rng, (2, 3, 3, 6))
    layer = layers.GroupNormalization(groups=3, epsilon=0.01)
    layer(x)
    gamma, beta = rng.standard_normal((2, 6)).astype("float32")
    layer.set_weights([gamma, beta])
    grouped = x.astype(np.float64).reshape(2, 3, 3, 3, 2)  # channels split into 3 groups of 2
    mean, var = grouped.mean(axis=(1, 2, 4), keepdims=True), grouped.var(axis=(1, 2, 4), keepdims=True)
    want = ((grouped - mean) / np.sqrt(var + 0.01)).reshape(x.shape) * gamma + beta
    np.testing.assert_allclose(layer(x).numpy(), want, rtol=1e-5, atol=1e-5)


def test_unit_normalization_keeps_zero_vectors_like_keras(keras):
    x = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 4.0], [1e-20, 0.0, 0.0]], "float32")
    got = layers.UnitNormalization()(x).numpy()
    np.testing.assert_allclose(got, np.asarray(keras.layers.UnitNormalization()(x)), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(got[0], 0)


def test_layer_normalization_over_the_batch_axis_like_keras(keras, rng):
    """axis 0 is allowed, as in Keras (gamma then spans the batch, so the batch size is fixed)."""
    x = _data(rng, (3, 4, 2))
    layer, klayer = layers.LayerNormalization(axis=[0, -1]), keras.layers.LayerNormalization(axis=[0, -1])
    klayer.build(x.shape)
    layer(x)
    weights = [rng.standard_normal(w.shape).astype("float32") for w in klayer.get_weights()]
    klayer.set_weights(weights)
    layer.set_weights(weights)
    np.testing.assert_allclose(layer(x).numpy(), np.asarray(klayer(x)), rtol=RTOL, atol=ATOL)


def test_rms_scaling_warns_like_keras_and_has_no_beta():
    with pytest.warns(UserWarning, match="rms_scaling"):
        layer = layers.LayerNormalization(rms_scaling=True)
    layer(np.zeros((2, 3), "float32"))
    assert [s.attr for s in layer._weight_specs] == ["gamma"]


# ---- gradients against tf.GradientTape -------------------------------------------------------------------------


def _keras_gradients(klayer, x, weights):
    import tensorflow as tf  # noqa: PLC0415

    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(klayer(xt) * weights)
    return [np.asarray(g) for g in tape.gradient(loss, [xt, *klayer.trainable_variables])]


def _check_gradients(layer, klayer, x, rng):
    klayer.build(x.shape)
    layer(x)
    values = [rng.standard_normal(w.shape).astype("float32") for w in klayer.get_weights()]
    klayer.set_weights(values)
    layer.set_weights(values)
    weights = rng.standard_normal(x.shape).astype("float32")
    want = _keras_gradients(klayer, x, weights)
    xt = torch.tensor(x, requires_grad=True)
    (layer(xt) * torch.as_tensor(weights)).sum().backward()
    got = [xt.grad.numpy(), *[w.grad.numpy() for w in layer.trainable_weights]]
    assert len(got) == len(want)
    for name, mine, theirs in zip(["input", *[s.attr for s in layer._weight_specs]], got, want):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize(("kwargs", "shape"), _layer_norm_configs(10, seed=4, min_size=2))
def test_layer_normalization_gradients_match_keras(keras, rng, kwargs, shape):
    _check_gradients(*_pair(keras, "LayerNormalization", kwargs), _data(rng, shape), rng)


@pytest.mark.parametrize(("kwargs", "shape"), _group_norm_configs(8, seed=5, min_size=2))
def test_group_normalization_gradients_match_keras(keras, rng, kwargs, shape):
    _check_gradients(*_pair(keras, "GroupNormalization", kwargs), _data(rng, shape), rng)


# ---- configs, files, ONNX, mixed precision, memory layout -------------------------------------------------------


@pytest.mark.parametrize(("name", "kwargs"), [
    ("LayerNormalization", dict(axis=[-1, 1], epsilon=1e-5, center=False, gamma_initializer="zeros",
                                beta_regularizer="l2")),
    ("LayerNormalization", dict(rms_scaling=True)),
    ("GroupNormalization", dict(groups=-1, axis=2, scale=False, gamma_regularizer="l1")),
    ("UnitNormalization", dict(axis=(1, -1))),
])
@pytest.mark.parametrize("built", [False, True])
def test_keras_written_configs_load(keras, name, kwargs, built):
    """Keras's own get_config (before and after build) is read by from_config and by deserialize, giving the
    same config back."""
    klayer = _keras_layer(keras, name, kwargs)
    if built:
        klayer.build((None, 3, 4, 6))
    kcfg = klayer.get_config()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mine = getattr(layers, name).from_config(dict(kcfg))
        spec = {"class_name": name, "config": dict(kcfg, build_config={"input_shape": [None, 3, 4, 6]})}
        assert layers.deserialize(spec).get_config() == kcfg
    assert mine.get_config() == kcfg


_FILE_CASES = [
    pytest.param(lambda k: k.layers.LayerNormalization(axis=[1, -1], epsilon=1e-4), (4, 3), id="layer-norm"),
    pytest.param(lambda k: k.layers.LayerNormalization(axis=1, center=False), (4, 5, 2), id="layer-norm-axis1"),
    pytest.param(lambda k: k.layers.LayerNormalization(axis=[1, 3]), (2, 3, 4), id="layer-norm-not-fused"),
    pytest.param(lambda k: k.layers.LayerNormalization(axis=[-2, -1], rms_scaling=True), (2, 3, 4), id="rms"),
    pytest.param(lambda k: k.layers.GroupNormalization(groups=2), (4, 3, 6), id="group-norm"),
    pytest.param(lambda k: k.layers.GroupNormalization(groups=3, axis=1, scale=False), (3, 4, 2), id="group-axis1"),
    pytest.param(lambda k: k.layers.UnitNormalization(axis=[1, 2]), (3, 4, 2), id="unit-norm"),
]


@pytest.mark.parametrize(("make", "shape"), _FILE_CASES)
def test_files_both_ways_and_onnx(files, tmp_path, make, shape):
    model = files.check(make, shape, tmp_path, atol=1e-4)
    files.check_onnx(model, tmp_path)


@pytest.mark.parametrize(("make", "shape"), _FILE_CASES)
def test_mixed_precision_dtypes_match_keras(files, make, shape):
    files.check_policy(make, shape)


@pytest.mark.parametrize("make", [lambda: layers.LayerNormalization(axis=[1, -1]),
                                  lambda: layers.LayerNormalization(axis=1),
                                  lambda: layers.GroupNormalization(groups=2)])
def test_bfloat16_input_in_a_mixed_model_is_normalised_in_float32(make, rng):
    """Under 'mixed_bfloat16' a bfloat16 tensor from the previous layer (forward takes it as it comes) gives
    bfloat16, computed in float32 as Keras does: close to the float32 layer's result."""
    import cnnkit  # noqa: PLC0415

    x = torch.as_tensor(_data(rng, (2, 4, 4, 6))).movedim(-1, 1)
    reference = make()
    want = reference.forward(x).detach().numpy()
    cnnkit.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = make()
        layer.forward(x)
        layer.load_state_dict(reference.state_dict())
        got = layer.forward(x.to(torch.bfloat16)).detach()
    finally:
        cnnkit.mixed_precision.set_global_policy("float32")
    assert got.dtype == torch.bfloat16
    np.testing.assert_allclose(got.float().numpy(), want, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("layer", [layers.LayerNormalization(), layers.LayerNormalization(axis=[1, 2, 3]),
                                   layers.GroupNormalization(groups=4), layers.UnitNormalization()])
def test_channels_last_memory_is_kept(layer):
    """A Keras NHWC array is a channels_last view inside; the layers keep that memory layout (the output in
    Keras layout is contiguous), so the next convolution stays on torch's channels_last kernels."""
    x = torch.randn(2, 5, 6, 8)
    out = layer(x)
    assert out.is_contiguous()
    inner = layer.forward(x.movedim(-1, 1))
    assert inner.is_contiguous(memory_format=torch.channels_last)


# ---- bad arguments -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [layers.LayerNormalization, layers.UnitNormalization])
@pytest.mark.parametrize("axis", ["a", [], [1, 1], 1.5, [1, "2"], True, None])
def test_bad_axis_raises(cls, axis):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: axis .*Received: axis="):
        cls(axis=axis)


@pytest.mark.parametrize("cls", [layers.LayerNormalization, layers.UnitNormalization])
@pytest.mark.parametrize("axis", [4, -5, [1, 5], [3, -1]])
def test_axis_out_of_range_or_repeated_raises_at_build(cls, axis):
    layer = cls(axis=axis, name="norm")
    with pytest.raises(ValueError, match=rf"Layer 'norm' \({cls.__name__}\): axis=.*{axis}"):
        layer(np.zeros((2, 3, 3, 4), "float32"))
    with pytest.raises(ValueError, match="axis"):
        cls(axis=axis).compute_output_shape((None, 3, 3, 4))


@pytest.mark.parametrize("cls", [layers.LayerNormalization, layers.GroupNormalization])
@pytest.mark.parametrize("epsilon", [0, -1e-3, "0.1", None])
def test_bad_epsilon_raises(cls, epsilon):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: epsilon .*Received: epsilon={epsilon!r}"):
        cls(epsilon=epsilon)


@pytest.mark.parametrize("cls", [layers.LayerNormalization, layers.GroupNormalization])
@pytest.mark.parametrize("option", ["beta_constraint", "gamma_constraint"])
def test_constraints_are_not_supported(cls, option):
    with pytest.raises(NotImplementedError, match=option):
        cls(**{option: "non_neg"})


@pytest.mark.parametrize("groups", [0, -2, 2.5, "4", True, None])
def test_group_normalization_bad_groups_raise(groups):
    with pytest.raises(ValueError, match=rf"GroupNormalization: groups .*Received: groups={groups!r}"):
        layers.GroupNormalization(groups=groups)


@pytest.mark.parametrize(("groups", "channels"), [(4, 6), (32, 16), (3, 2)])
def test_groups_must_divide_channels(groups, channels):
    layer = layers.GroupNormalization(groups=groups, name="gn")
    with pytest.raises(ValueError, match=rf"Layer 'gn' \(GroupNormalization\): groups={groups} must divide the "
                                         rf"number of channels \({channels},"):
        layer(np.zeros((1, 3, channels), "float32"))


@pytest.mark.parametrize("axis", [[1, 2], (1,), 1.0])
def test_group_normalization_axis_must_be_an_int(axis):
    with pytest.raises(ValueError, match=rf"GroupNormalization: axis must be an int. Received: axis="):
        layers.GroupNormalization(axis=axis)


@pytest.mark.parametrize(("axis", "shape"), [(0, (2, 4, 4)), (-3, (2, 4, 4)), (-1, (4,))])
def test_group_normalization_rejects_the_batch_axis(axis, shape):
    layer = layers.GroupNormalization(groups=1, axis=axis, name="gn")
    with pytest.raises(ValueError, match=rf"Layer 'gn' \(GroupNormalization\): axis={axis} is the batch axis"):
        layer(np.zeros(shape, "float32"))


@pytest.mark.parametrize(("cls", "kwargs"), [(layers.LayerNormalization, dict(axis=1)),
                                             (layers.GroupNormalization, dict(groups=1, axis=1))])
def test_unknown_normalised_size_raises(cls, kwargs):
    with pytest.raises(ValueError, match=rf"Layer 'norm' \({cls.__name__}\): .*known sizes"):
        cls(name="norm", **kwargs)(layers.Input(shape=(None, 4)))
