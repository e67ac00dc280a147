"""Flatten, Reshape and ZeroPadding1D/2D/3D against Keras."""

import numpy as np
import pytest

from cnnkit import layers

# ---- Flatten ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (2, 7, 3), (3, 6), (2, 2, 3, 4, 5), (1, 1, 1, 1)])
def test_flatten_matches_keras_order(oracle, keras, rng, shape):
    """Keras (channels_last) order, so a Dense kernel after Flatten ports unchanged."""
    x = rng.standard_normal(shape).astype("float32")
    got, _ = oracle.compare(layers.Flatten(), keras.layers.Flatten(), x)
    np.testing.assert_array_equal(got, x.reshape(shape[0], -1))


def test_flatten_then_dense_matches_keras(keras, rng):
    x = rng.standard_normal((2, 3, 3, 4)).astype("float32")
    kdense = keras.layers.Dense(5)
    expected = np.asarray(kdense(keras.layers.Flatten()(x)))
    dense = layers.Dense(5)
    flat = layers.Flatten()(x)
    dense(flat)
    dense.set_weights(kdense.get_weights())
    np.testing.assert_allclose(dense(flat).detach().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_flatten_unknown_dims(keras):
    assert layers.Flatten().compute_output_shape((None, None, 4)) == (None, None)
    assert tuple(keras.layers.Flatten().compute_output_shape((None, None, 4))) == (None, None)
    assert layers.Flatten().compute_output_shape((None, 3, 4)) == (None, 12)


# ---- Reshape ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "target"), [
    ((2, 12), (3, 4)),
    ((2, 12), (-1, 4)),
    ((2, 12), (3, -1)),
    ((2, 3, 4), (-1,)),
    ((2, 3, 4), (2, -1, 3)),
    ((2, 4, 4, 3), (16, 3)),
    ((2, 4, 4, 3), (-1, 2, 3)),
    ((2, 48), (4, 4, 3)),
    ((2, 48), (2, 2, 2, -1)),
    ((3, 6), (6, 1)),
])
def test_reshape_matches_keras(oracle, keras, rng, shape, target):
    x = rng.standard_normal(shape).astype("float32")
    got, _ = oracle.compare(layers.Reshape(target), keras.layers.Reshape(target), x)
    np.testing.assert_array_equal(got, x.reshape(shape[0], *target))


def test_reshape_unknown_dims(keras):
    shape = (None, None, 4)
    assert layers.Reshape((-1, 2)).compute_output_shape(shape) == tuple(
        keras.layers.Reshape((-1, 2)).compute_output_shape(shape))


def test_reshape_config_round_trip(config_round_trip):
    assert config_round_trip(layers.Reshape((-1, 4)))["target_shape"] == [-1, 4]


@pytest.mark.parametrize("target", [(2, -1, -1), (0, 3), (-2, 3), (), ("a", 3), (2.0, 3)])
def test_reshape_bad_target_raises(target):
    with pytest.raises(ValueError, match="target_shape"):
        layers.Reshape(target)


@pytest.mark.parametrize(("shape", "target"), [((2, 12), (5, -1)), ((2, 12), (5, 2)), ((2, 3, 4), (7,))])
def test_reshape_incompatible_size_raises(shape, target):
    with pytest.raises(ValueError, match="Reshape"):
        layers.Reshape(target)(np.zeros(shape, "float32"))


# ---- ZeroPadding -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rank", "padding"), [
    (1, 1), (1, 3), (1, (2, 0)), (1, (0, 3)),
    (2, 1), (2, 2), (2, (1, 2)), (2, ((1, 2), (3, 4))), (2, ((0, 0), (2, 1))), (2, (0, 0)),
    (3, 1), (3, (1, 0, 2)), (3, ((1, 0), (0, 2), (2, 1))),
])
def test_zero_padding_matches_keras(oracle, keras, rng, config_round_trip, rank, padding):
    shape = (2, *[5, 4, 3][:rank], 3)
    x = rng.standard_normal(shape).astype("float32")
    layer = getattr(layers, f"ZeroPadding{rank}D")(padding)
    got, _ = oracle.compare(layer, getattr(keras.layers, f"ZeroPadding{rank}D")(padding), x)
    pads = layer.padding
    np.testing.assert_array_equal(got, np.pad(x, [(0, 0), *pads, (0, 0)]))
    config_round_trip(layer)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_zero_padding_defaults_match_keras(keras, rng, rank):
    x = rng.standard_normal((1, *[4, 3, 2][:rank], 2)).astype("float32")
    got = getattr(layers, f"ZeroPadding{rank}D")()(x).numpy()
    np.testing.assert_array_equal(got, np.asarray(getattr(keras.layers, f"ZeroPadding{rank}D")()(x)))


def test_zero_padding_unknown_dims(keras):
    shape = (None, None, 5, 3)
    assert layers.ZeroPadding2D(((1, 2), (3, 4))).compute_output_shape(shape) == (None, None, 12, 3)
    assert tuple(keras.layers.ZeroPadding2D(((1, 2), (3, 4))).compute_output_shape(shape)) == (None, None, 12, 3)


@pytest.mark.parametrize("padding", [-1, (1, 2, 3), ((1, 2, 3), (1, 2)), ((1, -1), (0, 0)), "same", 1.5])
def test_zero_padding_bad_padding_raises(padding):
    with pytest.raises(ValueError, match="padding"):
        layers.ZeroPadding2D(padding)


def test_zero_padding_wrong_rank_raises():
    with pytest.raises(ValueError, match="ndim"):
        layers.ZeroPadding2D(1)(np.zeros((1, 4, 3), "float32"))
