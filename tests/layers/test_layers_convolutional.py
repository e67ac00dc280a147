"""Conv1D / Conv2D / Conv3D against Keras: output values with copied weights, output shapes, weight shapes,
parameter counts, configs, and the argument errors."""

import math
import random

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from cnnkit import layers

CONV = {1: layers.Conv1D, 2: layers.Conv2D, 3: layers.Conv3D}


def _conv_configs(rank, count, seed):
    """Random Conv configurations Keras accepts (no strides > 1 with dilation > 1; windows fit for 'valid')."""
    rnd = random.Random(seed)
    paddings = ["valid", "same", "causal"] if rank == 1 else ["valid", "same"]
    max_size = {1: 13, 2: 9, 3: 6}[rank]
    configs = []
    while len(configs) < count:
        kernel = tuple(rnd.randint(1, 5 if rank < 3 else 3) for _ in range(rank))
        padding = rnd.choice(paddings)
        if rnd.random() < 0.5:
            strides, dilation = tuple(rnd.randint(1, 3) for _ in range(rank)), (1,) * rank
        else:
            strides, dilation = (1,) * rank, tuple(rnd.randint(1, 3) for _ in range(rank))
        groups = rnd.choice([1, 1, 2, 3])
        in_channels = groups * rnd.randint(1, 3)
        filters = groups * rnd.randint(1, 3)
        size = tuple(rnd.randint(1, max_size) for _ in range(rank))
        if padding == "valid":
            size = tuple(max(n, (k - 1) * d + 1 + rnd.randint(0, 1)) for n, k, d in zip(size, kernel, dilation))
        kwargs = dict(filters=filters, kernel_size=kernel if rnd.random() < 0.7 or len(set(kernel)) > 1
                      else kernel[0], strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                      use_bias=rnd.random() < 0.75, activation=rnd.choice([None, "relu", "tanh", "linear"]))
        configs.append(pytest.param(kwargs, (rnd.randint(1, 3), *size, in_channels),
                                    id=f"k{kernel}-s{strides}-d{dilation}-{padding}-g{groups}-in{size}"))
    return configs


def _tolerance(kwargs, in_channels):
    fan_in = math.prod(np.atleast_1d(kwargs["kernel_size"])) * in_channels // kwargs["groups"]
    return 1e-5 * max(1.0, math.sqrt(fan_in))


_NUMPY_ACTIVATIONS = {None: lambda v: v, "linear": lambda v: v, "relu": lambda v: np.maximum(v, 0), "tanh": np.tanh}


def reference_conv(x, kernel, bias=None, strides=1, padding="valid", dilation=1, groups=1, activation=None):
    """Keras's convolution written out in float64 numpy (TensorFlow's 'same' rule: the extra zero at the end).

    x: (N, *spatial, in); kernel: (*k, in // groups, out), Keras layout.
    """
    rank = kernel.ndim - 2
    sizes = kernel.shape[:rank]
    strides = (strides,) * rank if isinstance(strides, int) else tuple(strides)
    dilation = (dilation,) * rank if isinstance(dilation, int) else tuple(dilation)
    extents = [(k - 1) * d + 1 for k, d in zip(sizes, dilation)]
    pads = []
    for n, e, s in zip(x.shape[1:-1], extents, strides):
        if padding == "valid":
            pads.append((0, 0))
        elif padding == "causal":
            pads.append((e - 1, 0))
        else:
            total = max((-(-n // s) - 1) * s + e - n, 0)
            pads.append((total // 2, total - total // 2))
    padded = np.pad(x.astype(np.float64), [(0, 0), *pads, (0, 0)])
    win = np.lib.stride_tricks.sliding_window_view(padded, extents, axis=tuple(range(1, rank + 1)))
    # (N, *out, in, *extent) -> keep every stride-th window and every dilation-th tap.
    win = win[(slice(None), *(slice(None, None, s) for s in strides), slice(None),
               *(slice(None, None, d) for d in dilation))]
    group_in, group_out = kernel.shape[-2], kernel.shape[-1] // groups
    taps = "xyz"[:rank]
    outs = []
    for g in range(groups):
        part = win[(slice(None),) * (rank + 1) + (slice(g * group_in, (g + 1) * group_in),)]
        weights = kernel[..., g * group_out:(g + 1) * group_out].astype(np.float64)
        outs.append(np.einsum(f"n...i{taps},{taps}io->n...o", part, weights))
    out = np.concatenate(outs, axis=-1)
    if bias is not None:
        out = out + bias
    return _NUMPY_ACTIVATIONS[activation](out)


def tf_conv3d_same_offset_bug(kwargs, shape):
    """TensorFlow's CPU Conv3D (its non-oneDNN kernel, which the test session uses) shifts the window by one
    when 'same' needs a total padding <= -2 (e.g. kernel 1, stride 3, size 3 picks index 1 instead of 0);
    Conv1D/Conv2D and TensorFlow's oneDNN Conv3D pick index 0, as cnnkit does."""
    rank = len(shape) - 2
    if rank != 3 or kwargs["padding"] != "same":
        return False
    sizes = np.broadcast_to(kwargs["kernel_size"], rank)
    strides = np.broadcast_to(kwargs.get("strides", 1), rank)
    dilation = np.broadcast_to(kwargs.get("dilation_rate", 1), rank)
    return any((-(-n // s) - 1) * s + (k - 1) * d + 1 - n <= -2
               for n, k, s, d in zip(shape[1:-1], sizes, strides, dilation))


def _check_conv(oracle, keras, rank, kwargs, shape, rng):
    layer = CONV[rank](**kwargs)
    klayer = getattr(keras.layers, f"Conv{rank}D")(**kwargs)
    x = rng.standard_normal(shape).astype("float32")
    atol = _tolerance(kwargs, shape[-1])
    got, _ = oracle.compare(layer, klayer, x, rtol=1e-5, atol=atol, rng=rng,
                            check_values=not tf_conv3d_same_offset_bug(kwargs, shape))
    weights = layer.get_weights()
    expected = reference_conv(x, weights[0], weights[1] if kwargs["use_bias"] else None, kwargs["strides"],
                              kwargs["padding"], kwargs["dilation_rate"], kwargs["groups"], kwargs["activation"])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=atol)


@pytest.mark.parametrize(("kwargs", "shape"), _conv_configs(1, 40, seed=11))
def test_conv1d_matches_keras(oracle, keras, rng, kwargs, shape):
    _check_conv(oracle, keras, 1, kwargs, shape, rng)


@pytest.mark.parametrize(("kwargs", "shape"), _conv_configs(2, 60, seed=22))
def test_conv2d_matches_keras(oracle, keras, rng, kwargs, shape):
    _check_conv(oracle, keras, 2, kwargs, shape, rng)


@pytest.mark.parametrize(("kwargs", "shape"), _conv_configs(3, 20, seed=33))
def test_conv3d_matches_keras(oracle, keras, rng, kwargs, shape):
    _check_conv(oracle, keras, 3, kwargs, shape, rng)


@pytest.mark.parametrize("size", [(7, 7), (8, 8), (7, 8), (8, 7)])
@pytest.mark.parametrize("kernel", [2, 3, 4, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_conv2d_same_padding_is_asymmetric_like_keras(oracle, keras, rng, size, kernel, stride):
    """Odd and even sizes, even and odd kernels: TensorFlow puts the extra padding zero at the end."""
    kwargs = dict(filters=2, kernel_size=kernel, strides=stride, padding="same")
    x = rng.standard_normal((1, *size, 2)).astype("float32")
    got, _ = oracle.compare(layers.Conv2D(**kwargs), keras.layers.Conv2D(**kwargs), x, atol=1e-4, rng=rng)
    assert got.shape[1:3] == tuple(-(-n // stride) for n in size)


@pytest.mark.parametrize("dilation", [1, 2, 3])
@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
def test_conv1d_causal_only_looks_back(oracle, keras, rng, dilation, kernel):
    kwargs = dict(filters=3, kernel_size=kernel, padding="causal", dilation_rate=dilation)
    x = rng.standard_normal((2, 9, 2)).astype("float32")
    layer = layers.Conv1D(**kwargs)
    got, _ = oracle.compare(layer, keras.layers.Conv1D(**kwargs), x, rng=rng)
    # Changing a future step leaves every earlier output unchanged.
    changed = x.copy()
    changed[:, 5:, :] += 10.0
    np.testing.assert_array_equal(layer(changed).numpy()[:, :5], got[:, :5])


@pytest.mark.parametrize(("shape", "kernel", "strides"), [
    ((2, 4, 4, 1), 3, (1, 2)), ((4, 7, 3, 1), 3, (1, 3)), ((3, 6, 4, 1), 2, (1, 2)), ((2, 9, 3, 1), 2, (1, 2)),
    ((2, 3, 4, 4, 1), (2, 3, 3), (1, 1, 2)), ((3, 4, 3, 5, 1), 3, (1, 1, 3)),
])
def test_one_channel_input_with_strided_last_axis(oracle, keras, rng, shape, kernel, strides):
    """Regression: torch's CPU (oneDNN) convolution got these wrong on the channels_last view of a one-channel
    input (and so does TensorFlow's oneDNN convolution, which the test session switches off)."""
    rank = len(shape) - 2
    kwargs = dict(filters=2, kernel_size=kernel, strides=strides, use_bias=False)
    x = rng.standard_normal(shape).astype("float32")
    layer = CONV[rank](**kwargs)
    got, _ = oracle.compare(layer, getattr(keras.layers, f"Conv{rank}D")(**kwargs), x, rng=rng)
    np.testing.assert_allclose(got, reference_conv(x, layer.get_weights()[0], strides=strides), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("cls_name", ["Conv1D", "Conv2D", "Conv3D", "Convolution2D", "Convolution3D"])
def test_conv_aliases_and_defaults(keras, cls_name):
    rank = int(cls_name[-2])
    layer = getattr(layers, cls_name)(4, 3)
    assert isinstance(layer, CONV[rank])
    cfg = layer.get_config()
    kcfg = getattr(keras.layers, cls_name)(4, 3).get_config()
    for key in ("filters", "kernel_size", "strides", "padding", "dilation_rate", "groups", "use_bias"):
        assert tuple(np.atleast_1d(cfg[key])) == tuple(np.atleast_1d(kcfg[key])), key
    assert cfg["activation"] == kcfg["activation"] == "linear"


def test_conv_default_initializers_match_keras_statistics(keras):
    """glorot_uniform kernels (Keras fans) and zero biases."""
    layer = layers.Conv2D(32, 3)
    layer(np.zeros((1, 5, 5, 16), "float32"))
    kernel, bias = layer.get_weights()
    limit = math.sqrt(6.0 / (9 * 16 + 9 * 32))
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.9 * limit
    np.testing.assert_array_equal(bias, 0)


def test_conv_config_round_trip_with_every_option(config_round_trip):
    layer = layers.Conv2D(6, (3, 2), strides=(2, 1), padding="same", groups=3, activation="relu", use_bias=False,
                          kernel_initializer="he_normal", kernel_regularizer="l2", name="my_conv")
    cfg = config_round_trip(layer)
    assert cfg["name"] == "my_conv"
    assert cfg["kernel_size"] == [3, 2] and cfg["strides"] == [2, 1] and cfg["groups"] == 3
    layer(np.zeros((1, 6, 6, 3), "float32"))
    assert config_round_trip(layer) == cfg


def test_conv_layer_output_gradients_flow_for_torch_input():
    import torch  # noqa: PLC0415

    layer = layers.Conv2D(2, 3, padding="same")
    x = torch.randn(2, 5, 5, 3, requires_grad=True)
    y = layer(x)
    assert y.requires_grad
    y.sum().backward()
    assert x.grad.shape == x.shape and layer.kernel.grad is not None


def test_conv_numpy_input_runs_without_grad():
    y = layers.Conv1D(2, 3)(np.zeros((1, 6, 2), "float32"))
    assert not y.requires_grad


# ---- errors ----------------------------------------------------------------------------------------------------


def test_conv_zero_filters_raises():
    with pytest.raises(ValueError, match="filters"):
        layers.Conv2D(0, 3)


@pytest.mark.parametrize("filters", [-1, 2.5, "8", None, True])
def test_conv_bad_filters_raise(filters):
    with pytest.raises(ValueError, match="filters"):
        layers.Conv2D(filters, 3)


def test_conv_zero_strides_raises():
    with pytest.raises(ValueError, match="strides") as info:
        layers.Conv2D(8, 3, strides=0)
    assert "Received" in str(info.value)


@pytest.mark.parametrize(("name", "value"), [("kernel_size", 0), ("kernel_size", (3, 3, 3)), ("kernel_size", (3,)),
                                             ("strides", (1, 0)), ("dilation_rate", 0), ("dilation_rate", -1),
                                             ("kernel_size", 2.5)])
def test_conv_bad_tuple_arguments_raise(name, value):
    kwargs = {"filters": 8, "kernel_size": 3, name: value}
    with pytest.raises(ValueError, match=name) as info:
        layers.Conv2D(**kwargs)
    assert "Received" in str(info.value)


def test_conv2d_on_3d_input_raises_ndim():
    layer = layers.Conv2D(8, 3)
    with pytest.raises(ValueError, match="ndim"):
        layer(np.zeros((2, 10, 3), "float32"))


@pytest.mark.parametrize(("cls", "shape"), [(layers.Conv1D, (1, 4, 4, 2)), (layers.Conv3D, (1, 4, 4, 2))])
def test_conv_wrong_rank_raises_ndim(cls, shape):
    with pytest.raises(ValueError, match="ndim"):
        cls(2, 2)(np.zeros(shape, "float32"))


def test_conv_misspelt_keyword_suggests_the_right_one():
    with pytest.raises(TypeError, match="Did you mean 'padding'"):
        layers.Conv2D(8, 3, padin="same")


def test_conv_unknown_padding_raises():
    with pytest.raises(ValueError, match="padding") as info:
        layers.Conv2D(8, 3, padding="foo")
    assert "foo" in str(info.value)


def test_causal_padding_is_conv1d_only():
    with pytest.raises(ValueError, match="padding"):
        layers.Conv2D(8, 3, padding="causal")


def test_conv_padding_is_case_insensitive_like_keras():
    assert layers.Conv2D(8, 3, padding="SAME").padding == "same"


@pytest.mark.parametrize(("cls", "shape", "kwargs"), [
    (layers.Conv2D, (1, 4, 4, 3), dict(kernel_size=5)),
    (layers.Conv2D, (1, 6, 2, 3), dict(kernel_size=3)),
    (layers.Conv1D, (1, 4, 3), dict(kernel_size=3, dilation_rate=2)),
    (layers.Conv3D, (1, 4, 4, 2, 1), dict(kernel_size=3)),
])
def test_kernel_larger_than_input_raises_value_error(cls, shape, kwargs):
    layer = cls(2, **kwargs)
    with pytest.raises(ValueError, match="larger than"):
        layer(np.zeros(shape, "float32"))
    with pytest.raises(ValueError, match="larger than"):
        layer.compute_output_shape((None, *shape[1:]))


def test_conv_groups_must_divide_channels():
    with pytest.raises(ValueError, match="groups"):
        layers.Conv2D(6, 3, groups=4)
    with pytest.raises(ValueError, match="groups"):
        layers.Conv2D(6, 3, groups=3)(np.zeros((1, 5, 5, 4), "float32"))


def test_conv_channels_last_only():
    with pytest.raises(ValueError, match="data_format"):
        layers.Conv2D(4, 3, data_format="channels_first")
    assert layers.Conv2D(4, 3, data_format="channels_last").get_config()["data_format"] == "channels_last"


def test_conv_unknown_activation_raises():
    with pytest.raises(ValueError, match="relu"):
        layers.Conv2D(4, 3, activation="rellu")


@pytest.mark.parametrize(("shape", "kwargs"), [
    ((1, 3, 3, 3, 1), dict(kernel_size=1, strides=(1, 1, 3))),
    ((2, 6, 4, 6, 2), dict(kernel_size=(2, 1, 1), strides=(2, 1, 3))),
])
def test_conv3d_same_with_negative_total_padding(oracle, keras, rng, shape, kwargs):
    """Where TensorFlow's reference Conv3D kernel is off by one (see `tf_conv3d_same_offset_bug`), cnnkit agrees
    with Conv2D's rule and with the numpy reference: no padding, windows start at index 0."""
    kwargs = dict(filters=2, padding="same", use_bias=False, **kwargs)
    assert tf_conv3d_same_offset_bug(kwargs, shape)
    x = rng.standard_normal(shape).astype("float32")
    layer = layers.Conv3D(**kwargs)
    got, _ = oracle.compare(layer, keras.layers.Conv3D(**kwargs), x, rng=rng, check_values=False)
    strides = kwargs["strides"]
    np.testing.assert_allclose(got, reference_conv(x, layer.get_weights()[0], strides=strides), rtol=1e-5,
                               atol=1e-5)
    # Same windows as 'valid' on the leading positions along each strided axis.
    valid = reference_conv(x, layer.get_weights()[0], strides=strides)
    np.testing.assert_allclose(got, valid[:, :got.shape[1], :got.shape[2], :got.shape[3]], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("rank", "shape", "kwargs"), [
    (1, (2, 11, 2), dict(kernel_size=3, strides=2, dilation_rate=2, padding="valid")),
    (1, (2, 11, 2), dict(kernel_size=2, strides=3, dilation_rate=2, padding="causal")),
    (2, (1, 9, 8, 3), dict(kernel_size=3, strides=2, dilation_rate=2, padding="same")),
    (2, (2, 10, 7, 2), dict(kernel_size=(2, 3), strides=(3, 2), dilation_rate=(2, 3), padding="same")),
    (3, (1, 7, 6, 5, 2), dict(kernel_size=2, strides=2, dilation_rate=2, padding="same")),
])
def test_strides_with_dilation_beyond_keras(rng, rank, shape, kwargs):
    """cnnkit allows strides > 1 together with dilation_rate > 1 (Keras refuses); checked against numpy."""
    layer = CONV[rank](3, **kwargs)
    x = rng.standard_normal(shape).astype("float32")
    got = layer(x).numpy()
    kernel, bias = layer.get_weights()
    expected = reference_conv(x, kernel, bias, kwargs["strides"], kwargs["padding"], kwargs["dilation_rate"])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *got.shape[1:])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_conv_output_shapes_match_keras(keras, data):
    """Random configurations, shapes only (cheap): compute_output_shape == the real output == Keras's."""
    rank = data.draw(st.integers(1, 3), label="rank")
    paddings = ["valid", "same", "causal"] if rank == 1 else ["valid", "same"]
    padding = data.draw(st.sampled_from(paddings), label="padding")
    kernel = data.draw(st.tuples(*[st.integers(1, 5)] * rank), label="kernel")
    if data.draw(st.booleans(), label="strided"):
        strides, dilation = data.draw(st.tuples(*[st.integers(1, 3)] * rank), label="strides"), (1,) * rank
    else:
        strides, dilation = (1,) * rank, data.draw(st.tuples(*[st.integers(1, 3)] * rank), label="dilation")
    low = [(k - 1) * d + 1 if padding == "valid" else 1 for k, d in zip(kernel, dilation)]
    size = tuple(data.draw(st.integers(lo, lo + 6), label=f"size{i}") for i, lo in enumerate(low))
    kwargs = dict(filters=2, kernel_size=kernel, strides=strides, padding=padding, dilation_rate=dilation)
    layer = CONV[rank](**kwargs)
    out = layer(np.zeros((1, *size, 2), "float32"))
    shape = layer.compute_output_shape((None, *size, 2))
    assert shape == (None, *tuple(out.shape)[1:])
    assert shape == tuple(getattr(keras.layers, f"Conv{rank}D")(**kwargs).compute_output_shape((None, *size, 2)))
    unknown = layer.compute_output_shape((None,) * (rank + 1) + (2,))
    assert unknown == (None,) * (rank + 1) + (2,)
