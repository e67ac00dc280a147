"""Conv1DTranspose / Conv2DTranspose / Conv3DTranspose against Keras: outputs with copied weights over random
configurations, output shapes, weights, configs (cnnkit's and Keras-written), files, ONNX, mixed precision,
gradients, and the argument errors.

Where TensorFlow's CPU kernels refuse a configuration Keras accepts (dilation_rate > 1; 'same' with an even
(dilated) kernel and output_padding 0 on an axis), the values are checked against a numpy reference written from
Keras's JAX-backend padding rule instead (the same reference is checked against TensorFlow on every other case).
"""

import inspect
import math
import random
import re

import numpy as np
import pytest
import torch
from keras.src.backend.common.backend_utils import _convert_conv_transpose_padding_args_from_keras_to_jax

from cnnkit import layers

TRANSPOSE = {1: layers.Conv1DTranspose, 2: layers.Conv2DTranspose, 3: layers.Conv3DTranspose}
_ACTIVATIONS = {None: lambda v: v, "linear": lambda v: v, "relu": lambda v: np.maximum(v, 0), "tanh": np.tanh,
                "sigmoid": lambda v: 1 / (1 + np.exp(-v))}


def reference_conv_transpose(x, kernel, bias=None, strides=1, padding="valid", output_padding=None, dilation=1,
                             activation=None):
    """Keras's transposed convolution in float64 numpy, written as JAX computes it: the input with strides - 1
    zeros between its values, padded as Keras's JAX backend pads it, correlated with the flipped, dilated kernel.

    x: (N, *spatial, in); kernel: (*k, out, in), Keras layout.
    """
    rank = x.ndim - 2
    strides, dilation = np.broadcast_to(strides, rank), np.broadcast_to(dilation, rank)
    ops = [None] * rank if output_padding is None else list(np.broadcast_to(output_padding, rank))
    sizes = kernel.shape[:rank]
    extents = [(k - 1) * d + 1 for k, d in zip(sizes, dilation)]
    stuffed = np.zeros((x.shape[0], *[(n - 1) * s + 1 for n, s in zip(x.shape[1:-1], strides)], x.shape[-1]))
    stuffed[(slice(None), *(slice(None, None, s) for s in strides))] = x
    pads = [_convert_conv_transpose_padding_args_from_keras_to_jax(k, s, d, padding, op)
            for k, s, d, op in zip(sizes, strides, dilation, ops)]
    padded = np.pad(stuffed, [(0, 0), *pads, (0, 0)])
    dilated = np.zeros((*extents, *kernel.shape[rank:]))
    dilated[tuple(slice(None, None, d) for d in dilation)] = kernel
    flipped = dilated[(slice(None, None, -1),) * rank]
    win = np.lib.stride_tricks.sliding_window_view(padded, extents, axis=tuple(range(1, rank + 1)))
    taps = "xyz"[:rank]
    out = np.einsum(f"n...i{taps},{taps}oi->n...o", win, flipped)
    if bias is not None:
        out = out + bias
    return _ACTIVATIONS[activation](out)


def tf_refuses(kwargs):
    """True for the configurations TensorFlow's CPU transposed convolution cannot run (Keras accepts them)."""
    rank = len(kwargs["strides"])
    dilation = np.broadcast_to(kwargs.get("dilation_rate", 1), rank)
    if max(dilation) > 1:
        return True  # "Current CPU implementations do not yet support dilation rates larger than 1."
    if kwargs["padding"] != "same" or kwargs.get("output_padding") is None:
        return False
    sizes = np.broadcast_to(kwargs["kernel_size"], rank)
    ops = np.broadcast_to(kwargs["output_padding"], rank)
    # Output (n - 1) * stride: TensorFlow's check that the forward 'same' convolution gives n back fails.
    return any((k - 1) * d % 2 == 1 and op == 0 for k, d, op in zip(sizes, dilation, ops))


def _empty_output(kwargs, shape):
    """A length-1 axis, 'same', an even kernel and output_padding 0: (1 - 1) * stride + 0 outputs."""
    rank = len(shape) - 2
    if kwargs["padding"] != "same" or kwargs["output_padding"] is None:
        return False
    sizes, dilation = np.broadcast_to(kwargs["kernel_size"], rank), np.broadcast_to(kwargs["dilation_rate"], rank)
    return any(n == 1 and (k - 1) * d % 2 == 1 and op == 0
               for n, k, d, op in zip(shape[1:-1], sizes, dilation, kwargs["output_padding"]))


def _transpose_configs(rank, count, seed, refused=False):
    """Random configurations Keras accepts; refused=True: only those TensorFlow's CPU kernels refuse, else only
    those it runs."""
    rnd = random.Random(seed)
    max_size = {1: 7, 2: 5, 3: 4}[rank]
    configs = []
    while len(configs) < count:
        kernel = tuple(rnd.randint(1, 4 if rank < 3 else 3) for _ in range(rank))
        padding = rnd.choice(["valid", "same"])
        if rnd.random() < 0.75:
            strides, dilation = tuple(rnd.randint(1, 3) for _ in range(rank)), (1,) * rank
        else:
            strides, dilation = (1,) * rank, tuple(rnd.randint(1, 3) for _ in range(rank))
        output_padding = None if rnd.random() < 0.4 else tuple(rnd.randint(0, s - 1) for s in strides)
        kwargs = dict(filters=rnd.randint(1, 4), kernel_size=kernel if rnd.random() < 0.7 or len(set(kernel)) > 1
                      else kernel[0], strides=strides, padding=padding, output_padding=output_padding,
                      dilation_rate=dilation, use_bias=rnd.random() < 0.75,
                      activation=rnd.choice([None, "relu", "tanh", "linear", "sigmoid"]))
        if tf_refuses(kwargs) != refused:
            continue
        shape = (rnd.randint(1, 3), *(rnd.randint(1, max_size) for _ in range(rank)), rnd.randint(1, 4))
        if refused and _empty_output(kwargs, shape):
            continue
        configs.append(pytest.param(kwargs, shape, id=f"k{kernel}-s{strides}-d{dilation}-{padding}-op"
                                    f"{output_padding}-in{shape[1:]}"))
    return configs


def _tolerance(kwargs, in_channels):
    taps = math.prod(np.atleast_1d(kwargs["kernel_size"]))
    return 1e-5 * max(1.0, math.sqrt(taps * in_channels))


def _check_transpose(oracle, keras, rank, kwargs, shape, rng):
    layer = TRANSPOSE[rank](**kwargs)
    klayer = getattr(keras.layers, f"Conv{rank}DTranspose")(**kwargs)
    x = rng.standard_normal(shape).astype("float32")
    atol = _tolerance(kwargs, shape[-1])
    got, _ = oracle.compare(layer, klayer, x, rtol=1e-5, atol=atol, rng=rng)
    weights = layer.get_weights()
    expected = reference_conv_transpose(x, weights[0], weights[1] if kwargs["use_bias"] else None,
                                        kwargs["strides"], kwargs["padding"], kwargs["output_padding"],
                                        kwargs["dilation_rate"], kwargs["activation"])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=atol)


@pytest.mark.parametrize(("kwargs", "shape"), _transpose_configs(1, 30, seed=101))
def test_conv1d_transpose_matches_keras(oracle, keras, rng, kwargs, shape):
    _check_transpose(oracle, keras, 1, kwargs, shape, rng)


@pytest.mark.parametrize(("kwargs", "shape"), _transpose_configs(2, 40, seed=202))
def test_conv2d_transpose_matches_keras(oracle, keras, rng, kwargs, shape):
    _check_transpose(oracle, keras, 2, kwargs, shape, rng)


@pytest.mark.parametrize(("kwargs", "shape"), _transpose_configs(3, 15, seed=303))
def test_conv3d_transpose_matches_keras(oracle, keras, rng, kwargs, shape):
    _check_transpose(oracle, keras, 3, kwargs, shape, rng)


@pytest.mark.parametrize(("kwargs", "shape"), _transpose_configs(1, 8, seed=111, refused=True)
                         + _transpose_configs(2, 12, seed=222, refused=True)
                         + _transpose_configs(3, 5, seed=333, refused=True))
def test_conv_transpose_where_tensorflow_refuses(keras, rng, kwargs, shape):
    """Dilated kernels, and 'same' with an even kernel and output_padding 0: Keras's shapes, and the values of
    Keras's JAX formulation (TensorFlow's CPU kernels raise on these)."""
    rank = len(shape) - 2
    layer = TRANSPOSE[rank](**kwargs)
    x = rng.standard_normal(shape).astype("float32")
    got = layer(x).numpy()
    weights = [rng.standard_normal(w.shape).astype("float32") * 0.5 for w in layer.get_weights()]
    layer.set_weights(weights)
    got = layer(x).numpy()
    expected = reference_conv_transpose(x, weights[0], weights[1] if kwargs["use_bias"] else None,
                                        kwargs["strides"], kwargs["padding"], kwargs["output_padding"],
                                        kwargs["dilation_rate"], kwargs["activation"])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=_tolerance(kwargs, shape[-1]))
    keras_shape = getattr(keras.layers, f"Conv{rank}DTranspose")(**kwargs).compute_output_shape((None, *shape[1:]))
    assert layer.compute_output_shape((None, *shape[1:])) == tuple(keras_shape) == (None, *got.shape[1:])


@pytest.mark.parametrize("shape", [(2, 4, 5, 1), (3, 3, 1), (1, 2, 3, 4, 1)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_transpose_one_channel_input(oracle, keras, rng, shape, padding):
    """A one-channel Keras-layout view (the case where torch's strided CPU convolution once went wrong)."""
    rank = len(shape) - 2
    kwargs = dict(filters=2, kernel_size=3, strides=(2,) + (3,) * (rank - 1), padding=padding)
    x = rng.standard_normal(shape).astype("float32")
    layer = TRANSPOSE[rank](**kwargs)
    got, _ = oracle.compare(layer, getattr(keras.layers, f"Conv{rank}DTranspose")(**kwargs), x, rng=rng)
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(got, reference_conv_transpose(x, kernel, bias, kwargs["strides"], padding),
                               rtol=1e-5, atol=1e-5)


def test_conv_transpose_unknown_spatial_sizes_give_none():
    layer = layers.Conv2DTranspose(3, 3, strides=2, padding="same")
    assert layer.compute_output_shape((None, None, 5, 2)) == (None, None, 10, 3)


# ---- configs, aliases, files, ONNX, policies, gradients --------------------------------------------------------


@pytest.mark.parametrize("name", ["Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
                                  "Convolution1DTranspose", "Convolution2DTranspose", "Convolution3DTranspose"])
def test_keras_written_configs_are_read(keras, name):
    """keras.layers.X(...).get_config() (tuples, None constraints, a dtype policy dict) into cnnkit's from_config,
    and deserialize by the Keras class name: same arguments back."""
    rank = int(name[-11])
    kwargs = dict(filters=4, kernel_size=(2,) * rank, strides=(2,) * rank, padding="same",
                  output_padding=(1,) * rank, activation="relu", use_bias=False, kernel_initializer="he_normal",
                  kernel_regularizer="l2", name=f"my_{name.lower()}")
    kcfg = getattr(keras.layers, name)(**kwargs).get_config()
    layer = getattr(layers, name).from_config(kcfg)
    assert type(layer) is TRANSPOSE[rank]
    assert layers.deserialize({"class_name": name, "config": kcfg}).get_config() == layer.get_config()
    check_same_config(layer.get_config(), kcfg)
    assert layer.output_padding == (1,) * rank and layer.kernel_regularizer is not None


def check_same_config(cfg, kcfg):
    """cnnkit's config has Keras's values for every key (tuples as lists; initializers by class name: Keras 3.15
    writes extra None options in GlorotUniform's config)."""
    for key, value in cfg.items():
        want = kcfg[key]
        if key.endswith("_initializer"):
            assert value["class_name"] == want["class_name"], key
        else:
            assert value == (list(want) if isinstance(want, tuple) else want), key


def test_conv_transpose_config_round_trip(config_round_trip):
    layer = layers.Conv2DTranspose(6, (3, 2), strides=(2, 1), padding="same", output_padding=(1, 0),
                                   activation="relu", name="up")
    cfg = config_round_trip(layer)
    assert cfg["output_padding"] == [1, 0] and cfg["kernel_size"] == [3, 2]
    assert config_round_trip(layers.Conv1DTranspose(2, 3))["output_padding"] is None


@pytest.mark.parametrize("name", ["Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "Convolution1D"])
def test_signatures_are_keras_s(keras, name):
    """Same parameter names, order (positional calls mean the same) and defaults as Keras's class."""
    def params(cls):
        return [(p.name, p.default) for p in inspect.signature(cls.__init__).parameters.values()]

    assert params(getattr(layers, name)) == params(getattr(keras.layers, name))


def test_conv_transpose_aliases_are_the_classes():
    assert layers.Convolution1DTranspose is layers.Conv1DTranspose
    assert layers.Convolution2DTranspose is layers.Conv2DTranspose
    assert layers.Convolution3DTranspose is layers.Conv3DTranspose
    assert layers.Convolution1D is layers.Conv1D


@pytest.mark.parametrize(("make", "shape"), [
    (lambda k: k.layers.Conv1DTranspose(3, 4, strides=3, output_padding=1, activation="relu"), (5, 2)),
    (lambda k: k.layers.Conv2DTranspose(4, 3, strides=2, padding="same"), (5, 6, 3)),
    (lambda k: k.layers.Conv3DTranspose(2, (2, 3, 1), strides=(1, 2, 2), padding="same", use_bias=False),
     (2, 3, 4, 2)),
])
def test_conv_transpose_files_onnx_and_policy(files, tmp_path, make, shape):
    model = files.check(make, shape, tmp_path)
    files.check_onnx(model, tmp_path)
    files.check_policy(make, shape)


@pytest.mark.parametrize(("rank", "kwargs", "shape"), [
    (1, dict(filters=3, kernel_size=3, strides=2, padding="same", output_padding=1), (2, 5, 2)),
    (2, dict(filters=3, kernel_size=3, strides=2, padding="same"), (2, 4, 5, 2)),
    (3, dict(filters=2, kernel_size=2, strides=(1, 2, 3), padding="valid"), (1, 2, 3, 2, 2)),
])
def test_conv_transpose_gradients_match_keras(oracle, keras, rng, rank, kwargs, shape):
    """d(loss)/d(input), d(loss)/d(kernel) and d(loss)/d(bias) equal TensorFlow's (GradientTape)."""
    kwargs = dict(kwargs, activation="tanh")
    layer, klayer = TRANSPOSE[rank](**kwargs), getattr(keras.layers, f"Conv{rank}DTranspose")(**kwargs)
    oracle.compare_gradients(layer, klayer, rng.standard_normal(shape), rng)


def test_conv_transpose_output_is_channels_last_memory():
    """The network stays on torch's channels_last kernels: an NHWC input gives an NHWC-memory output."""
    layer = layers.Conv2DTranspose(4, 3, strides=2, padding="same")
    x = torch.randn(2, 6, 6, 8, requires_grad=True)
    y = layer(x)  # Keras layout (N, H, W, C): contiguous NHWC memory, even where 'same' crops torch's output
    assert y.is_contiguous()
    y.square().sum().backward()
    assert x.grad.is_contiguous()


# ---- errors ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("filters", [0, -2, 2.5, None, True])
def test_conv_transpose_bad_filters_raise(filters):
    with pytest.raises(ValueError, match=rf"Conv2DTranspose: filters must be .*Received: filters={filters!r}"):
        layers.Conv2DTranspose(filters, 3)


@pytest.mark.parametrize(("strides", "output_padding"), [(2, 2), (1, 1), ((2, 3), (1, 3)), (3, 4)])
def test_output_padding_must_be_below_strides(strides, output_padding):
    with pytest.raises(ValueError, match=r"Conv2DTranspose: output_padding must be strictly less than strides.*"
                                         rf"Received: output_padding={re.escape(repr(output_padding))}"):
        layers.Conv2DTranspose(4, 3, strides=strides, output_padding=output_padding)


@pytest.mark.parametrize("output_padding", [-1, (1, -1), 1.5, (1, 1, 1)])
def test_bad_output_padding_values_raise(output_padding):
    with pytest.raises(ValueError, match=r"Conv2DTranspose: output_padding must be"):
        layers.Conv2DTranspose(4, 3, strides=2, output_padding=output_padding)


@pytest.mark.parametrize("cls", [layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose])
def test_strides_with_dilation_raise_like_keras(keras, cls):
    with pytest.raises(ValueError):
        getattr(keras.layers, cls.__name__)(4, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match=rf"{cls.__name__}: strides > 1 is not supported together with "
                                         r"dilation_rate > 1.*Received: strides=2, dilation_rate=2"):
        cls(4, 3, strides=2, dilation_rate=2)


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(kernel_size=0), "kernel_size"), (dict(kernel_size=(3, 3, 3)), "kernel_size"), (dict(strides=0), "strides"),
    (dict(dilation_rate=-1), "dilation_rate"), (dict(padding="causal"), "padding"),
    (dict(data_format="channels_first"), "data_format"),
])
def test_conv_transpose_bad_arguments_raise(kwargs, name):
    kwargs = {"filters": 2, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=rf"Conv2DTranspose: .*{name}.*Received: {name}="):
        layers.Conv2DTranspose(**kwargs)


@pytest.mark.parametrize("option", ["kernel_constraint", "bias_constraint", "activity_regularizer"])
def test_conv_transpose_unsupported_options_raise(option):
    with pytest.raises(NotImplementedError, match=rf"Conv2DTranspose: {option}"):
        layers.Conv2DTranspose(2, 3, **{option: "l2" if option == "activity_regularizer" else "non_neg"})


def test_conv_transpose_empty_output_raises(keras):
    """Keras's shape arithmetic gives a zero-length axis here (and TensorFlow refuses to run it)."""
    kwargs = dict(filters=2, kernel_size=2, strides=2, padding="same", output_padding=0)
    assert keras.layers.Conv1DTranspose(**kwargs).compute_output_shape((None, 1, 3))[1] == 0
    layer = layers.Conv1DTranspose(**kwargs, name="up")
    with pytest.raises(ValueError, match=r"Layer 'up' \(Conv1DTranspose\): the output would be empty"):
        layer(np.zeros((1, 1, 3), "float32"))
    assert layer.compute_output_shape((None, 4, 3)) == (None, 6, 2)


def test_conv_transpose_wrong_rank_and_unknown_channels_raise():
    with pytest.raises(ValueError, match="ndim"):
        layers.Conv2DTranspose(2, 3)(np.zeros((1, 4, 3), "float32"))
    with pytest.raises(ValueError, match="channel axis"):
        layers.Conv1DTranspose(2, 3).build((None, 5, None))
