"""Max / average pooling (1D, 2D, 3D) and global pooling against Keras, plus the aliases and the errors."""

import random
import re

import numpy as np
import pytest

from cnnkit import layers


def _pool_configs(rank, count, seed):
    rnd = random.Random(seed)
    max_size = {1: 12, 2: 9, 3: 6}[rank]
    configs = []
    while len(configs) < count:
        mode = rnd.choice(["Max", "Average"])
        pool = tuple(rnd.randint(1, 4 if rank < 3 else 3) for _ in range(rank))
        strides = None if rnd.random() < 0.3 else tuple(rnd.randint(1, 3) for _ in range(rank))
        padding = rnd.choice(["valid", "same"])
        size = tuple(rnd.randint(1, max_size) for _ in range(rank))
        if padding == "valid":
            size = tuple(max(n, p + rnd.randint(0, 2)) for n, p in zip(size, pool))
        pool_arg = pool[0] if rnd.random() < 0.3 and len(set(pool)) == 1 else pool
        kwargs = dict(pool_size=pool_arg, strides=strides, padding=padding)
        shape = (rnd.randint(1, 3), *size, rnd.randint(1, 3))
        configs.append(pytest.param(f"{mode}Pooling{rank}D", kwargs, shape,
                                    id=f"{mode}{rank}D-p{pool}-s{strides}-{padding}-in{size}"))
    return configs


def _check_pool(oracle, keras, rng, cls_name, kwargs, shape):
    x = rng.standard_normal(shape).astype("float32")
    got, _ = oracle.compare(getattr(layers, cls_name)(**kwargs), getattr(keras.layers, cls_name)(**kwargs), x)
    assert got.shape[-1] == shape[-1]
    return got


@pytest.mark.parametrize(("cls_name", "kwargs", "shape"),
                         _pool_configs(1, 30, seed=1) + _pool_configs(2, 50, seed=2) + _pool_configs(3, 24, seed=3))
def test_pooling_matches_keras(oracle, keras, rng, cls_name, kwargs, shape):
    _check_pool(oracle, keras, rng, cls_name, kwargs, shape)


@pytest.mark.parametrize("size", [(5, 5), (6, 6), (5, 6), (7, 4)])
@pytest.mark.parametrize(("pool", "stride"), [(2, 2), (3, 2), (3, 1), (2, 1), (3, 3), (4, 3)])
@pytest.mark.parametrize("mode", ["Max", "Average"])
def test_pooling2d_same_with_strides(oracle, keras, rng, size, pool, stride, mode):
    """'same': max never picks a padded position; average divides by the count of real inputs."""
    kwargs = dict(pool_size=pool, strides=stride, padding="same")
    _check_pool(oracle, keras, rng, f"{mode}Pooling2D", kwargs, (2, *size, 3))


def test_max_pooling_same_ignores_padding_on_negative_inputs():
    x = -np.arange(1, 26, dtype="float32").reshape(1, 5, 5, 1)
    out = layers.MaxPooling2D(2, padding="same")(x).numpy()[0, :, :, 0]
    # The bottom-right window holds only x[4, 4] = -25 and padding; padded zeros must not win.
    assert out[-1, -1] == -25.0
    assert (out < 0).all()


def test_average_pooling_same_divides_by_valid_count():
    x = np.ones((1, 5, 5, 1), "float32")
    out = layers.AveragePooling2D(2, padding="same")(x).numpy()
    np.testing.assert_allclose(out, 1.0)
    x = np.arange(5, dtype="float32").reshape(1, 5, 1)
    out = layers.AveragePooling1D(2, padding="same")(x).numpy().ravel()
    np.testing.assert_allclose(out, [0.5, 2.5, 4.0])


@pytest.mark.parametrize(("alias", "name"), [
    ("MaxPool1D", "MaxPooling1D"), ("MaxPool2D", "MaxPooling2D"), ("MaxPool3D", "MaxPooling3D"),
    ("AvgPool1D", "AveragePooling1D"), ("AvgPool2D", "AveragePooling2D"), ("AvgPool3D", "AveragePooling3D"),
    ("GlobalMaxPool1D", "GlobalMaxPooling1D"), ("GlobalMaxPool2D", "GlobalMaxPooling2D"),
    ("GlobalMaxPool3D", "GlobalMaxPooling3D"), ("GlobalAvgPool1D", "GlobalAveragePooling1D"),
    ("GlobalAvgPool2D", "GlobalAveragePooling2D"), ("GlobalAvgPool3D", "GlobalAveragePooling3D"),
])
def test_pooling_aliases(keras, alias, name):
    assert getattr(layers, alias) is getattr(layers, name)
    assert getattr(keras.layers, alias) is getattr(keras.layers, name)
    assert isinstance(layers.deserialize({"class_name": alias, "config": {}}), getattr(layers, name))


@pytest.mark.parametrize("cls_name", ["MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D",
                                      "AveragePooling2D", "AveragePooling3D"])
def test_pooling_defaults_match_keras(keras, config_round_trip, cls_name):
    """Defaults: pool_size 2, strides None (= pool_size), 'valid'. (Keras 3 makes AveragePooling's pool_size
    required; cnnkit keeps tf.keras's default of 2.)"""
    rank = int(cls_name[-2])
    layer = getattr(layers, cls_name)()
    klayer = getattr(keras.layers, cls_name)(**({} if cls_name.startswith("Max") else {"pool_size": (2,) * rank}))
    cfg, kcfg = config_round_trip(layer), klayer.get_config()
    for key in ("pool_size", "strides", "padding"):
        assert tuple(np.atleast_1d(cfg[key])) == tuple(np.atleast_1d(kcfg[key])), key
    assert cfg["name"] == re.sub(r"_\d+$", "", kcfg["name"])  # Keras's counters are not reset between tests


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("mode", ["Max", "Average"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_matches_keras(oracle, keras, rng, rank, mode, keepdims):
    cls_name = f"Global{mode}Pooling{rank}D"
    shape = (3, *[5, 4, 3][:rank], 6)
    x = rng.standard_normal(shape).astype("float32")
    got, _ = oracle.compare(getattr(layers, cls_name)(keepdims=keepdims),
                            getattr(keras.layers, cls_name)(keepdims=keepdims), x)
    assert got.shape == ((3, *([1] * rank), 6) if keepdims else (3, 6))
    assert getattr(layers, cls_name)(keepdims=keepdims).get_config()["keepdims"] is keepdims


# ---- errors ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), [("pool_size", 0), ("strides", 0), ("pool_size", (2, 2, 2)),
                                             ("strides", (1, -1))])
def test_pooling_bad_arguments_raise(name, value):
    with pytest.raises(ValueError, match=name) as info:
        layers.MaxPooling2D(**{name: value})
    assert "Received" in str(info.value)


def test_pooling_unknown_padding_raises():
    with pytest.raises(ValueError, match="padding"):
        layers.AveragePooling2D(padding="causal")


def test_pooling_misspelt_keyword():
    with pytest.raises(TypeError, match="Did you mean 'pool_size'"):
        layers.MaxPooling2D(pool_sise=2)


@pytest.mark.parametrize(("cls", "shape"), [(layers.MaxPooling2D, (1, 4, 4)), (layers.AveragePooling1D, (1, 4, 4, 2)),
                                            (layers.GlobalAveragePooling2D, (2, 3)),
                                            (layers.GlobalMaxPooling3D, (1, 2, 2, 2))])
def test_pooling_wrong_rank_raises(cls, shape):
    with pytest.raises(ValueError, match="ndim"):
        cls()(np.zeros(shape, "float32"))


def test_pool_larger_than_input_raises():
    with pytest.raises(ValueError, match="larger than"):
        layers.MaxPooling2D(3)(np.zeros((1, 2, 5, 1), "float32"))
    assert layers.MaxPooling2D(3, padding="same")(np.zeros((1, 2, 5, 1), "float32")).shape == (1, 1, 2, 1)
