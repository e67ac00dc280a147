"""DepthwiseConv1D / DepthwiseConv2D / SeparableConv1D / SeparableConv2D against Keras: outputs with copied weights
over random configurations (strides, dilation, both together, padding, depth multipliers, bias, activations),
shapes, weight names/order/shapes, configs (cnnkit's and Keras-written), files, ONNX, mixed precision, gradients,
and the argument errors. A float64 numpy reference checks the values too, and alone where TensorFlow's CPU kernel
refuses (different strides on the two axes of a 2-D layer)."""

import inspect
import math
import random
import re

import numpy as np
import pytest

from cnnkit import layers

DEPTHWISE = {1: layers.DepthwiseConv1D, 2: layers.DepthwiseConv2D}
SEPARABLE = {1: layers.SeparableConv1D, 2: layers.SeparableConv2D}
_ACTIVATIONS = {None: lambda v: v, "linear": lambda v: v, "relu": lambda v: np.maximum(v, 0), "tanh": np.tanh,
                "relu6": lambda v: np.clip(v, 0, 6)}


def _windows(x, kernel_size, strides, padding, dilation):
    """(N, *out, C, *kernel_size) windows of x (N, *spatial, C), TensorFlow's 'same' rule (extra zero at the end)."""
    rank = x.ndim - 2
    extents = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation)]
    pads = []
    for n, e, s in zip(x.shape[1:-1], extents, strides):
        total = 0 if padding == "valid" else max((-(-n // s) - 1) * s + e - n, 0)
        pads.append((total // 2, total - total // 2))
    padded = np.pad(x.astype(np.float64), [(0, 0), *pads, (0, 0)])
    win = np.lib.stride_tricks.sliding_window_view(padded, extents, axis=tuple(range(1, rank + 1)))
    return win[(slice(None), *(slice(None, None, s) for s in strides), slice(None),
                *(slice(None, None, d) for d in dilation))]


def reference_depthwise(x, kernel, bias=None, strides=1, padding="valid", dilation=1, activation=None):
    """Keras's depthwise convolution in float64 numpy; kernel (*k, C, M) -> output channel c * M + m."""
    rank = x.ndim - 2
    strides, dilation = tuple(np.broadcast_to(strides, rank)), tuple(np.broadcast_to(dilation, rank))
    win = _windows(x, kernel.shape[:rank], strides, padding, dilation)
    taps = "xyz"[:rank]
    out = np.einsum(f"n...c{taps},{taps}cm->n...cm", win, kernel.astype(np.float64))
    out = out.reshape(*out.shape[:-2], -1)
    if bias is not None:
        out = out + bias
    return _ACTIVATIONS[activation](out)


def reference_separable(x, depthwise, pointwise, bias=None, strides=1, padding="valid", dilation=1,
                        activation=None):
    """Depthwise (no bias), then the (1, ..., C * M, F) pointwise kernel, bias, activation."""
    out = reference_depthwise(x, depthwise, None, strides, padding, dilation)
    out = out @ pointwise.reshape(pointwise.shape[-2:]).astype(np.float64)
    if bias is not None:
        out = out + bias
    return _ACTIVATIONS[activation](out)


def tf_refuses(rank, strides, dilation):
    """TensorFlow's CPU depthwise kernel needs equal strides on the two axes (Keras's stride-with-dilation path
    runs it at stride 1 and subsamples, so that path has no such limit)."""
    decomposed = max(strides) > 1 and max(dilation) > 1
    return rank == 2 and len(set(strides)) > 1 and not decomposed


def _configs(rank, count, seed, separable, refused=False):
    rnd = random.Random(seed)
    max_size = {1: 12, 2: 8}[rank]
    configs = []
    while len(configs) < count:
        kernel = tuple(rnd.randint(1, 5 if rank == 1 else 4) for _ in range(rank))
        padding = rnd.choice(["valid", "same"])
        strides = tuple(rnd.randint(1, 3) for _ in range(rank)) if rnd.random() < 0.6 else (1,) * rank
        if rank == 2 and rnd.random() < 0.6 and not refused:
            strides = (strides[0],) * 2
        dilation = tuple(rnd.randint(1, 3) for _ in range(rank)) if rnd.random() < 0.4 else (1,) * rank
        if tf_refuses(rank, strides, dilation) != refused:
            continue
        size = tuple(rnd.randint(1, max_size) for _ in range(rank))
        if padding == "valid":
            size = tuple(max(n, (k - 1) * d + 1 + rnd.randint(0, 2)) for n, k, d in zip(size, kernel, dilation))
        kwargs = dict(kernel_size=kernel if rnd.random() < 0.7 or len(set(kernel)) > 1 else kernel[0],
                      strides=strides, padding=padding, dilation_rate=dilation,
                      depth_multiplier=rnd.choice([1, 1, 2, 3]), use_bias=rnd.random() < 0.75,
                      activation=rnd.choice([None, "relu", "tanh", "linear", "relu6"]))
        if separable:
            kwargs["filters"] = rnd.randint(1, 5)
        shape = (rnd.randint(1, 3), *size, rnd.randint(1, 4))
        configs.append(pytest.param(kwargs, shape, id=f"k{kernel}-s{strides}-d{dilation}-{padding}-m"
                                    f"{kwargs['depth_multiplier']}-in{shape[1:]}"))
    return configs


def _tolerance(kwargs, shape, separable):
    taps = math.prod(np.atleast_1d(kwargs["kernel_size"]))
    fan = taps * (shape[-1] * kwargs["depth_multiplier"] if separable else 1)
    return 1e-5 * max(1.0, math.sqrt(fan))


def _reference(layer, x, kwargs, separable):
    weights = layer.get_weights()
    bias = weights[-1] if kwargs["use_bias"] else None
    args = (kwargs["strides"], kwargs["padding"], kwargs["dilation_rate"], kwargs["activation"])
    if separable:
        return reference_separable(x, weights[0], weights[1], bias, *args)
    return reference_depthwise(x, weights[0], bias, *args)


def _check(oracle, keras, rank, kwargs, shape, rng, separable):
    name = f"{'Separable' if separable else 'Depthwise'}Conv{rank}D"
    layer, klayer = getattr(layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
    x = rng.standard_normal(shape).astype("float32")
    atol = _tolerance(kwargs, shape, separable)
    got, _ = oracle.compare(layer, klayer, x, rtol=1e-5, atol=atol, rng=rng)
    np.testing.assert_allclose(got, _reference(layer, x, kwargs, separable), rtol=1e-5, atol=atol)


@pytest.mark.parametrize(("kwargs", "shape"), _configs(1, 30, seed=1, separable=False))
def test_depthwise_conv1d_matches_keras(oracle, keras, rng, kwargs, shape):
    _check(oracle, keras, 1, kwargs, shape, rng, separable=False)


@pytest.mark.parametrize(("kwargs", "shape"), _configs(2, 40, seed=2, separable=False))
def test_depthwise_conv2d_matches_keras(oracle, keras, rng, kwargs, shape):
    _check(oracle, keras, 2, kwargs, shape, rng, separable=False)


@pytest.mark.parametrize(("kwargs", "shape"), _configs(1, 25, seed=3, separable=True))
def test_separable_conv1d_matches_keras(oracle, keras, rng, kwargs, shape):
    _check(oracle, keras, 1, kwargs, shape, rng, separable=True)


@pytest.mark.parametrize(("kwargs", "shape"), _configs(2, 35, seed=4, separable=True))
def test_separable_conv2d_matches_keras(oracle, keras, rng, kwargs, shape):
    _check(oracle, keras, 2, kwargs, shape, rng, separable=True)


@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize(("kwargs", "shape"), _configs(2, 8, seed=5, separable=True, refused=True))
def test_unequal_strides_beyond_tensorflow_cpu(keras, rng, separable, kwargs, shape):
    """Different strides on the two axes (TensorFlow's CPU depthwise kernel refuses them): numpy reference and
    Keras's output shape."""
    kwargs = dict(kwargs) if separable else {k: v for k, v in kwargs.items() if k != "filters"}
    cls = SEPARABLE[2] if separable else DEPTHWISE[2]
    layer = cls(**kwargs)
    x = rng.standard_normal(shape).astype("float32")
    layer(x)
    layer.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.5 for w in layer.get_weights()])
    got = layer(x).numpy()
    np.testing.assert_allclose(got, _reference(layer, x, kwargs, separable), rtol=1e-5,
                               atol=_tolerance(kwargs, shape, separable))
    kshape = getattr(keras.layers, cls.__name__)(**kwargs).compute_output_shape((None, *shape[1:]))
    assert layer.compute_output_shape((None, *shape[1:])) == tuple(kshape) == (None, *got.shape[1:])


def test_depthwise_output_channel_order_is_tensorflow_s():
    """Output channel c * multiplier + m is filter m of input channel c: with one-hot kernels the output copies
    the input channels in that order."""
    layer = layers.DepthwiseConv1D(1, depth_multiplier=2, use_bias=False)
    x = np.arange(12, dtype="float32").reshape(1, 4, 3)
    layer(x)
    layer.set_weights([np.array([[[1, 10], [2, 20], [3, 30]]], "float32")])
    got = layer(x).numpy()
    np.testing.assert_array_equal(got, x[..., [0, 0, 1, 1, 2, 2]] * np.array([1, 10, 2, 20, 3, 30]))


# ---- configs, aliases, files, ONNX, policies, gradients --------------------------------------------------------

_CONFIG_CASES = [
    ("DepthwiseConv1D", dict(kernel_size=3, strides=2, depth_multiplier=2, padding="same",
                             depthwise_initializer="he_normal", depthwise_regularizer="l2", activation="relu")),
    ("DepthwiseConv2D", dict(kernel_size=(3, 2), dilation_rate=2, depth_multiplier=3, use_bias=False,
                             bias_regularizer="l1")),
    ("SeparableConv1D", dict(filters=4, kernel_size=3, depth_multiplier=2, pointwise_initializer="he_uniform",
                             pointwise_regularizer="l2", activation="tanh")),
    ("SeparableConv2D", dict(filters=4, kernel_size=3, strides=2, padding="same", depthwise_regularizer="l1")),
    ("SeparableConvolution1D", dict(filters=2, kernel_size=2)),
    ("SeparableConvolution2D", dict(filters=2, kernel_size=2, dilation_rate=(1, 2))),
]


@pytest.mark.parametrize(("name", "kwargs"), _CONFIG_CASES)
def test_keras_written_configs_are_read(keras, config_round_trip, name, kwargs):
    kcfg = getattr(keras.layers, name)(name="mine", **kwargs).get_config()
    layer = getattr(layers, name).from_config(kcfg)
    assert layers.deserialize({"class_name": name, "config": kcfg}).get_config() == layer.get_config()
    for key, value in layer.get_config().items():
        want = kcfg[key]
        if key.endswith("_initializer"):
            assert value["class_name"] == want["class_name"], key  # Keras 3.15 adds None options to Glorot's
        else:
            assert value == (list(want) if isinstance(want, tuple) else want), key
    config_round_trip(layer)


@pytest.mark.parametrize("name", ["DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"])
def test_signatures_are_keras_s(keras, name):
    """Same parameter names, order (positional calls mean the same) and defaults as Keras's class."""
    def params(cls):
        return [(p.name, p.default) for p in inspect.signature(cls.__init__).parameters.values()]

    assert params(getattr(layers, name)) == params(getattr(keras.layers, name))


def test_aliases_are_the_classes():
    assert layers.SeparableConvolution1D is layers.SeparableConv1D
    assert layers.SeparableConvolution2D is layers.SeparableConv2D
    assert type(layers.deserialize({"class_name": "SeparableConvolution2D",
                                    "config": {"filters": 2, "kernel_size": 3}})) is layers.SeparableConv2D


def test_weight_names_and_keras_layouts(keras):
    """Keras 3 names the depthwise layer's weight 'kernel' and the separable layer's 'depthwise_kernel' and
    'pointwise_kernel'; get_weights() speaks Keras's shapes."""
    dw, sep = layers.DepthwiseConv2D(3, depth_multiplier=2), layers.SeparableConv2D(5, 3, depth_multiplier=2)
    x = np.zeros((1, 6, 6, 4), "float32")
    dw(x), sep(x)
    assert [s.attr for s in dw._weight_specs] == ["kernel", "bias"]
    assert [w.shape for w in dw.get_weights()] == [(3, 3, 4, 2), (8,)]
    assert [s.attr for s in sep._weight_specs] == ["depthwise_kernel", "pointwise_kernel", "bias"]
    assert [w.shape for w in sep.get_weights()] == [(3, 3, 4, 2), (1, 1, 8, 5), (5,)]
    kdw = keras.layers.DepthwiseConv2D(3, depth_multiplier=2)
    kdw.build((None, 6, 6, 4))
    assert [v.name for v in kdw.weights] == ["kernel", "bias"]


@pytest.mark.parametrize(("make", "shape"), [
    (lambda k: k.layers.DepthwiseConv1D(3, strides=2, padding="same", depth_multiplier=2), (7, 3)),
    (lambda k: k.layers.DepthwiseConv2D(3, padding="same", activation="relu6"), (6, 5, 4)),
    (lambda k: k.layers.SeparableConv1D(4, 3, dilation_rate=2, use_bias=False), (9, 2)),
    (lambda k: k.layers.SeparableConv2D(5, 3, strides=2, padding="same", depth_multiplier=2), (7, 6, 3)),
])
def test_files_onnx_and_policy(files, tmp_path, make, shape):
    model = files.check(make, shape, tmp_path)
    files.check_onnx(model, tmp_path)
    files.check_policy(make, shape)


@pytest.mark.parametrize(("name", "kwargs", "shape"), [
    ("DepthwiseConv1D", dict(kernel_size=3, strides=2, padding="same", depth_multiplier=2), (2, 7, 3)),
    ("DepthwiseConv2D", dict(kernel_size=3, strides=2, padding="same", dilation_rate=2), (2, 7, 6, 3)),
    ("SeparableConv1D", dict(filters=4, kernel_size=3, depth_multiplier=2), (2, 8, 3)),
    ("SeparableConv2D", dict(filters=4, kernel_size=3, strides=2, padding="same"), (2, 6, 5, 3)),
])
def test_gradients_match_keras(oracle, keras, rng, name, kwargs, shape):
    """d(loss)/d(input) and d(loss)/d(each weight) equal TensorFlow's (GradientTape)."""
    kwargs = dict(kwargs, activation="tanh")
    layer, klayer = getattr(layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
    oracle.compare_gradients(layer, klayer, rng.standard_normal(shape), rng)


def test_depthwise_regularizers_join_losses():
    layer = layers.SeparableConv2D(2, 3, depthwise_regularizer="l2", pointwise_regularizer="l1")
    layer(np.zeros((1, 5, 5, 2), "float32"))
    assert len(layer.losses) == 2
    expected = 0.01 * np.sum(layer.get_weights()[0] ** 2) + 0.01 * np.sum(np.abs(layer.get_weights()[1]))
    np.testing.assert_allclose(float(sum(layer.losses).detach()), expected, rtol=1e-5)


# ---- errors ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("multiplier", [0, -1, 1.5, None, True])
@pytest.mark.parametrize("cls", [layers.DepthwiseConv2D, layers.SeparableConv1D])
def test_bad_depth_multiplier_raises(cls, multiplier):
    args = (3,) if cls is layers.DepthwiseConv2D else (4, 3)
    with pytest.raises(ValueError, match=rf"{cls.__name__}: depth_multiplier must be a positive int. "
                                         rf"Received: depth_multiplier={re.escape(repr(multiplier))}"):
        cls(*args, depth_multiplier=multiplier)


@pytest.mark.parametrize("filters", [0, -3, "8"])
def test_separable_bad_filters_raise(filters):
    with pytest.raises(ValueError, match=rf"SeparableConv2D: filters must be a positive int. "
                                         rf"Received: filters={re.escape(repr(filters))}"):
        layers.SeparableConv2D(filters, 3)


@pytest.mark.parametrize(("cls", "args", "shape"), [
    (layers.DepthwiseConv2D, (5,), (1, 4, 6, 2)),
    (layers.DepthwiseConv1D, (3,), (1, 4, 2)),  # with dilation 2 below: window 5
    (layers.SeparableConv2D, (2, (2, 4)), (1, 5, 3, 2)),
    (layers.SeparableConv1D, (2, 6), (1, 5, 2)),
])
def test_kernel_larger_than_input_raises(cls, args, shape):
    kwargs = {"dilation_rate": 2} if cls is layers.DepthwiseConv1D else {}
    layer = cls(*args, name="small", **kwargs)
    with pytest.raises(ValueError, match=rf"Layer 'small' \({cls.__name__}\): the window .* is larger than the "
                                         r"input's spatial shape"):
        layer(np.zeros(shape, "float32"))
    with pytest.raises(ValueError, match="larger than"):
        layer.compute_output_shape((None, *shape[1:]))
    layer.compute_output_shape((None, *(n + 8 for n in shape[1:-1]), 2))  # a larger input is fine


@pytest.mark.parametrize("cls", [layers.DepthwiseConv1D, layers.DepthwiseConv2D, layers.SeparableConv2D])
@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(kernel_size=0), "kernel_size"), (dict(strides=(1, 1, 1)), "strides"), (dict(dilation_rate=0), "dilation_rate"),
    (dict(padding="causal"), "padding"), (dict(data_format="channels_first"), "data_format"),
])
def test_bad_window_arguments_raise(cls, kwargs, name):
    args = {"kernel_size": 3} if "Depthwise" in cls.__name__ else {"filters": 2, "kernel_size": 3}
    with pytest.raises(ValueError, match=rf"{cls.__name__}: .*{name}.*Received: {name}="):
        cls(**{**args, **kwargs})


@pytest.mark.parametrize(("cls", "option"), [
    (layers.DepthwiseConv2D, "depthwise_constraint"), (layers.DepthwiseConv1D, "bias_constraint"),
    (layers.SeparableConv2D, "pointwise_constraint"), (layers.SeparableConv1D, "activity_regularizer"),
])
def test_unsupported_options_raise(cls, option):
    args = (3,) if "Depthwise" in cls.__name__ else (2, 3)
    with pytest.raises(NotImplementedError, match=rf"{cls.__name__}: {option}"):
        cls(*args, **{option: "l2" if option == "activity_regularizer" else "non_neg"})


def test_wrong_rank_raises():
    with pytest.raises(ValueError, match="ndim"):
        layers.DepthwiseConv2D(3)(np.zeros((1, 6, 2), "float32"))
    with pytest.raises(ValueError, match="ndim"):
        layers.SeparableConv1D(2, 3)(np.zeros((1, 6, 6, 2), "float32"))
