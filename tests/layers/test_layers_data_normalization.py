"""Normalization (the preprocessing layer) against Keras: adapt on random configurations (ranks 1-5, kept axes
incl. negative, several and none), from arrays, tensors, iterables of batches and image_dataset_from_directory;
given mean and variance; invert; weights, configs, files both ways, ONNX, mixed precision and bad arguments."""

import json
import random

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit import layers

ATOL = RTOL = 1e-4


def _data(rng, shape):
    return (rng.standard_normal(shape) * rng.uniform(0.5, 3.0, size=shape[-1:]) + rng.uniform(-5, 5)).astype(
        "float32")


def _axis_arg(rnd, positions, rank):
    axis = [p - rank if rnd.random() < 0.5 else p for p in positions]
    rnd.shuffle(axis)
    return axis[0] if len(axis) == 1 and rnd.random() < 0.6 else tuple(axis)


def _adapt_configs(count, seed):
    rnd = random.Random(seed)
    configs = []
    for _ in range(count):
        rank = rnd.randint(1, 5)
        shape = (rnd.randint(2, 6), *[rnd.randint(1, 4) for _ in range(rank - 1)])
        choice = rnd.random()
        if choice < 0.15:
            axis = None
        elif rank == 1 or choice < 0.25:
            axis = _axis_arg(rnd, sorted(rnd.sample(range(rank), rnd.randint(1, rank))), rank)  # batch axis too
        else:
            axis = _axis_arg(rnd, sorted(rnd.sample(range(1, rank), rnd.randint(1, rank - 1))), rank)
        kwargs = dict(axis=axis, invert=rnd.random() < 0.3)
        configs.append(pytest.param(kwargs, shape, id=f"{shape}-{kwargs}".replace(" ", "")))
    return configs


def _numpy_statistics(x, axis):
    """Mean and biased variance over every axis but the kept ones, in float64, with the kept axes' shape."""
    rank = x.ndim
    keep = () if axis is None else tuple(sorted(a % rank for a in np.atleast_1d(axis)))
    reduce = tuple(d for d in range(rank) if d not in keep)
    x64 = x.astype(np.float64)
    return x64.mean(axis=reduce), x64.var(axis=reduce)


def _json(config):
    return json.loads(json.dumps(config))


def _same_config(layer, klayer):
    mine, theirs = _json(layer.get_config()), _json(klayer.get_config())
    mine.pop("name"), theirs.pop("name")
    assert mine == theirs


@pytest.mark.parametrize(("kwargs", "shape"), _adapt_configs(30, seed=7))
def test_adapt_matches_keras_and_numpy(keras, rng, kwargs, shape):
    x = _data(rng, shape)
    layer, klayer = layers.Normalization(**kwargs), keras.layers.Normalization(**kwargs)
    layer.adapt(x)
    klayer.adapt(x)
    assert [s.attr for s in layer._weight_specs] == [v.name for v in klayer.weights] == ["mean", "variance", "count"]
    for mine, theirs in zip(layer.get_weights(), klayer.get_weights()):
        assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-5)
    mean, variance = _numpy_statistics(x, kwargs["axis"])
    np.testing.assert_allclose(layer.get_weights()[0], mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(layer.get_weights()[1], variance, rtol=1e-6, atol=1e-6)
    assert layer.get_weights()[2] == 0  # Keras 3 keeps 'count' only for old files; adapt leaves it at 0
    probe = _data(rng, shape)
    got = layer(probe)
    np.testing.assert_allclose(got.numpy(), np.asarray(klayer(probe)), rtol=RTOL, atol=ATOL)
    assert layer.compute_output_shape(shape) == tuple(got.shape)
    _same_config(layer, klayer)


def _given_configs(count, seed):
    rnd = random.Random(seed)
    configs = []
    for _ in range(count):
        rank = rnd.randint(2, 5)
        shape = (rnd.randint(1, 3), *[rnd.randint(1, 4) for _ in range(rank - 1)])
        positions = sorted(rnd.sample(range(1, rank), rnd.randint(1, rank - 1)))
        kept = [shape[p] for p in positions]
        stat_rank = rnd.randint(0, len(kept))  # scalar, or aligned from the right onto the kept axes
        stat_shape = tuple(k if rnd.random() < 0.8 else 1 for k in kept[len(kept) - stat_rank:])
        mean = np.round(rnd.uniform(-3, 3) + np.arange(int(np.prod(stat_shape))).reshape(stat_shape), 3)
        variance = np.round(rnd.uniform(0.2, 4.0) + np.arange(int(np.prod(stat_shape))).reshape(stat_shape), 3)
        kwargs = dict(axis=_axis_arg(rnd, positions, rank), mean=mean.tolist(), variance=variance.tolist(),
                      invert=rnd.random() < 0.3)
        configs.append(pytest.param(kwargs, shape, id=f"{shape}-{kwargs}".replace(" ", "")))
    return configs


@pytest.mark.parametrize(("kwargs", "shape"), _given_configs(20, seed=8))
def test_given_mean_and_variance_match_keras(oracle, keras, rng, kwargs, shape):
    layer, klayer = layers.Normalization(**kwargs), keras.layers.Normalization(**kwargs)
    oracle.compare(layer, klayer, _data(rng, shape), rng=rng, rtol=RTOL, atol=ATOL)
    assert layer.weights == [] and layer.count_params() == 0
    _same_config(layer, klayer)


def test_given_statistics_against_numpy(rng):
    x = _data(rng, (3, 2, 4))
    mean, variance = np.array([1.0, -2.0, 0.5, 3.0]), np.array([4.0, 0.25, 1.0, 0.0])
    got = layers.Normalization(mean=mean, variance=variance)(x).numpy()
    np.testing.assert_allclose(got, (x - mean) / np.maximum(np.sqrt(variance), 1e-7), rtol=1e-5)
    back = layers.Normalization(mean=mean, variance=variance, invert=True)(got).numpy()
    np.testing.assert_allclose(back[..., :3], x[..., :3], rtol=1e-5, atol=1e-5)


# ---- adapt's inputs ------------------------------------------------------------------------------------------


def _batch_sources(x, y):
    yield "list", [x[:3], x[3:4], x[4:]]
    yield "generator", (x[i:i + 2] for i in range(0, len(x), 2))
    yield "pairs", [(x[:5], y[:5]), (x[5:], y[5:])]
    yield "triples", [(x[:1], y[:1], y[:1]), (x[1:], y[1:], y[1:])]
    yield "tensors", [torch.as_tensor(x[:4]), torch.as_tensor(x[4:])]
    yield "tensor", torch.as_tensor(x)


@pytest.mark.parametrize("axis", [-1, (1, 2), None])
def test_adapt_on_batches_equals_adapt_on_all_data(keras, rng, axis):
    """Uneven batches, (x, y) and (x, y, w) tuples, tensors: the statistics of the whole data (numpy) and Keras's
    from the same batches."""
    x, y = _data(rng, (9, 3, 2, 4)), rng.integers(0, 2, 9)
    mean, variance = _numpy_statistics(x, axis)
    for name, source in _batch_sources(x, y):
        layer = layers.Normalization(axis=axis)
        layer.adapt(source)
        np.testing.assert_allclose(layer.get_weights()[0], mean, rtol=1e-6, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(layer.get_weights()[1], variance, rtol=1e-6, atol=1e-6, err_msg=name)
    klayer = keras.layers.Normalization(axis=axis)
    klayer.adapt([x[:3], x[3:4], x[4:]])
    np.testing.assert_allclose(layer.get_weights()[0], klayer.get_weights()[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.get_weights()[1], klayer.get_weights()[1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("labels", ["inferred", None])
def test_adapt_on_image_dataset_from_directory(keras, rng, tmp_path, labels):
    """A cnnkit dataset of (images, labels) or images: the same statistics as Keras adapted on Keras's dataset
    of the same folder, and as numpy on all the images."""
    from PIL import Image  # noqa: PLC0415

    for i in range(7):
        folder = tmp_path / f"class_{i % 2}"
        folder.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    options = dict(labels=labels, image_size=(6, 5), batch_size=3, shuffle=False)
    dataset = cnnkit.utils.image_dataset_from_directory(str(tmp_path), verbose=False, **options)
    layer = layers.Normalization()
    layer.adapt(dataset)
    images = np.concatenate([batch[0] if isinstance(batch, tuple) else batch for batch in dataset])
    assert images.shape == (7, 6, 5, 3)
    mean, variance = _numpy_statistics(images, -1)
    np.testing.assert_allclose(layer.get_weights()[0], mean, rtol=1e-6)
    np.testing.assert_allclose(layer.get_weights()[1], variance, rtol=1e-6)
    klayer = keras.layers.Normalization()
    klayer.adapt(keras.utils.image_dataset_from_directory(str(tmp_path), verbose=False, **options))
    for mine, theirs in zip(layer.get_weights(), klayer.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5)


def test_adapting_again_replaces_the_statistics_like_keras(keras, rng):
    first, second = _data(rng, (5, 3)), _data(rng, (4, 3)) * 2
    layer, klayer = layers.Normalization(), keras.layers.Normalization()
    for data in (first, second):
        layer.adapt(data)
        klayer.adapt(data)
    for mine, theirs in zip(layer.get_weights(), klayer.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.get_weights()[0], second.mean(axis=0), rtol=1e-5)


def test_statistics_are_not_trainable_and_count_is_int64(keras, rng):
    layer = layers.Normalization(axis=(1, -1))
    layer.adapt(_data(rng, (4, 3, 2)))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 3
    assert [w.dtype for w in layer.weights] == [torch.float32, torch.float32, torch.int64]
    assert layer.count_params() == 3 * 2 * 2 + 1


# ---- before adapt, configs, files, ONNX, mixed precision ---------------------------------------------------


def test_calling_before_adapt_raises(rng):
    layer = layers.Normalization(name="norm")
    with pytest.raises(ValueError, match=r"Layer 'norm' \(Normalization\) has no mean and variance: call adapt"):
        layer(_data(rng, (2, 3)))
    layer.set_weights([np.array([1.0, 2.0, 3.0]), np.array([4.0, 4.0, 4.0]), np.array(0)])
    np.testing.assert_allclose(layer(np.ones((1, 3), "float32")).numpy(), [[0.0, -0.5, -1.0]])


def test_adapt_after_the_model_is_built_and_torch_state_dict(rng):
    """As in Keras: put the layer in a model first, adapt it, predict; torch's state_dict carries the statistics
    to another layer, which can then be called."""
    x = _data(rng, (8, 3, 2))
    norm = layers.Normalization(axis=-1)
    inputs = layers.Input(shape=(3, 2))
    model = cnnkit.models.Model(inputs, norm(inputs))
    norm.adapt(x)
    mean, variance = _numpy_statistics(x, -1)
    np.testing.assert_allclose(model.predict(x, verbose=0), (x - mean) / np.sqrt(variance), rtol=1e-5, atol=1e-5)
    other = layers.Normalization(axis=-1)
    other(layers.Input(shape=(3, 2)))  # builds it
    other.load_state_dict(norm.state_dict())
    np.testing.assert_allclose(other(x).numpy(), norm(x).numpy())


@pytest.mark.parametrize("kwargs", [dict(), dict(axis=None, invert=True), dict(axis=(1, -1)),
                                    dict(axis=(2,), mean=[1.0, 2.0], variance=[3.0, 4.0])])
def test_keras_written_configs_load(keras, kwargs):
    """Keras's get_config (axis a tuple, mean/variance lists or None), as is and through JSON."""
    kcfg = keras.layers.Normalization(**kwargs).get_config()
    for cfg in (dict(kcfg), _json(kcfg)):
        mine = layers.Normalization.from_config(cfg)
        assert _json(mine.get_config()) == _json(kcfg)
        assert _json(layers.deserialize({"class_name": "Normalization", "config": cfg}).get_config()) == _json(kcfg)


def _adapted(k, axis=-1, invert=False):
    layer = k.layers.Normalization(axis=axis, invert=invert)
    layer.adapt(np.random.default_rng(9).normal(2.0, 3.0, (16, 4, 3)).astype("float32"))
    return layer


_FILE_CASES = [
    pytest.param(lambda k: _adapted(k), (4, 3), id="adapted"),
    pytest.param(lambda k: _adapted(k, axis=1, invert=True), (4, 3), id="adapted-axis1-invert"),
    pytest.param(lambda k: k.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0]), (4, 3),
                 id="given"),
]


@pytest.fixture
def keras_weights_take_effect(keras, monkeypatch):
    """Keras's Normalization uses the statistics it had when last adapted or loaded until `finalize_state()`
    runs, so setting its weights alone does not change its outputs (see the test below); the file checks set
    random weights on the Keras model first, so here Keras reads its weights on each call, as cnnkit does."""
    cls = keras.layers.Normalization
    call = cls.call

    def call_with_current_weights(self, inputs):
        self.finalize_state()
        return call(self, inputs)

    monkeypatch.setattr(cls, "call", call_with_current_weights)


def test_set_weights_takes_effect_at_once_unlike_keras(keras, rng):
    """cnnkit applies set_weights at once; Keras keeps the adapted statistics until finalize_state (which its
    file loading calls), then agrees."""
    x = _data(rng, (6, 3))
    layer, klayer = layers.Normalization(), keras.layers.Normalization()
    layer.adapt(x)
    klayer.adapt(x)
    before = np.asarray(klayer(x))
    weights = [np.array([1.0, -1.0, 2.0]), np.array([4.0, 1.0, 0.25]), np.array(0)]
    layer.set_weights(weights)
    klayer.set_weights(weights)
    np.testing.assert_array_equal(np.asarray(klayer(x)), before)  # Keras: stale
    klayer.finalize_state()
    np.testing.assert_allclose(layer(x).numpy(), np.asarray(klayer(x)), rtol=1e-6)
    np.testing.assert_allclose(layer(x).numpy(), (x - weights[0]) / np.sqrt(weights[1]), rtol=1e-6)


@pytest.mark.usefixtures("keras_weights_take_effect")
@pytest.mark.parametrize(("make", "shape"), _FILE_CASES)
def test_files_both_ways_and_onnx(files, tmp_path, make, shape):
    model = files.check(make, shape, tmp_path, atol=1e-4)
    files.check_onnx(model, tmp_path)


@pytest.mark.parametrize(("make", "shape"), _FILE_CASES)
def test_mixed_precision_dtypes_match_keras(files, make, shape):
    files.check_policy(make, shape)


# ---- bad arguments -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(mean=1.0), r"Normalization: mean and variance must be given together. Received: mean=1.0, variance=None"),
    (dict(variance=[1.0]), r"Normalization: mean and variance must be given together. Received: mean=None"),
    (dict(mean=[1.0, 2.0], variance=[1.0]), r"Normalization: mean and variance must have the same shape. "
                                            r"Received: mean=\[1.0, 2.0\]"),
    (dict(mean=[[1.0]], variance=[[1.0]]), r"Normalization: mean must have at most as many dimensions as axis "
                                           r"has axes \(1\). Received: mean=\[\[1.0\]\]"),
    (dict(mean=[0.0, 1.0], variance=[1.0, -1.0]), r"Normalization: variance must be >= 0. Received: variance="),
    (dict(mean="a", variance="b"), r"Normalization: mean must be a number or an array of numbers. Received: mean="),
    (dict(axis="a"), r"Normalization: axis must be an int or a list of distinct ints. Received: axis='a'"),
    (dict(axis=(1, 1)), r"Normalization: axis .*Received: axis=\(1, 1\)"),
    (dict(axis=1.5), r"Normalization: axis .*Received: axis=1.5"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.Normalization(**kwargs)


@pytest.mark.parametrize("axis", [3, -4, (1, 5)])
def test_axis_out_of_range_raises_at_build(axis):
    with pytest.raises(ValueError, match=rf"Layer 'norm' \(Normalization\): axis=.*out of range"):
        layers.Normalization(axis=axis, name="norm").adapt(np.zeros((2, 3, 4), "float32"))


def test_unknown_kept_size_raises():
    with pytest.raises(ValueError, match=r"Layer 'norm' \(Normalization\): the kept axes \[1\] .*known sizes"):
        layers.Normalization(axis=1, name="norm")(layers.Input(shape=(None, 3)))


def test_given_statistics_that_do_not_broadcast_raise():
    layer = layers.Normalization(mean=[1.0, 2.0], variance=[1.0, 1.0], name="norm")
    with pytest.raises(ValueError, match=r"Layer 'norm' \(Normalization\): mean and variance of shape \(2,\) cannot"):
        layer(np.zeros((2, 3), "float32"))


def test_adapt_errors(rng):
    with pytest.raises(ValueError, match=r"Layer 'norm' \(Normalization\): adapt\(\) cannot be used on a layer given"):
        layers.Normalization(mean=0.0, variance=1.0, name="norm").adapt(np.zeros((2, 3)))
    layer = layers.Normalization(name="norm2")
    layer.adapt(_data(rng, (4, 3)))
    with pytest.raises(ValueError, match=r"Layer 'norm2' \(Normalization\): adapt\(\) received a batch of shape "
                                         r"\(4, 2\), incompatible"):
        layer.adapt(_data(rng, (4, 2)))
    with pytest.raises(ValueError, match="incompatible"):
        layers.Normalization().adapt([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="empty iterable"):
        layers.Normalization().adapt([])
    with pytest.raises(TypeError, match="unsupported data type int"):
        layers.Normalization().adapt(5)
    with pytest.raises(TypeError, match="Received a batch of type float"):
        layers.Normalization().adapt([1.0, 2.0])
