"""Add, Subtract, Multiply, Average, Maximum, Minimum and Concatenate against Keras."""

import numpy as np
import pytest

from cnnkit import layers

ELEMENTWISE = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]


@pytest.mark.parametrize(("name", "n_inputs"), [(name, n) for name in ELEMENTWISE for n in (2, 3)
                                                if name != "Subtract" or n == 2])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4), (2, 4, 5, 3), (1, 2, 3, 2, 2)])
def test_elementwise_merge_matches_keras(oracle, keras, rng, name, shape, n_inputs):
    inputs = [rng.standard_normal(shape).astype("float32") for _ in range(n_inputs)]
    got, _ = oracle.compare(getattr(layers, name)(), getattr(keras.layers, name)(), inputs, atol=1e-6)
    expected = {"Add": sum(inputs), "Subtract": inputs[0] - inputs[-1], "Multiply": np.prod(inputs, axis=0),
                "Average": sum(inputs) / n_inputs, "Maximum": np.max(inputs, axis=0),
                "Minimum": np.min(inputs, axis=0)}[name]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize(("shape_a", "shape_b"), [((2, 3, 4), (2, 1, 4)), ((2, 4, 4, 3), (2, 1, 1, 3))])
def test_elementwise_merge_broadcasts_like_keras(oracle, keras, rng, name, shape_a, shape_b):
    inputs = [rng.standard_normal(shape_a).astype("float32"), rng.standard_normal(shape_b).astype("float32")]
    got, _ = oracle.compare(getattr(layers, name)(), getattr(keras.layers, name)(), inputs, atol=1e-6)
    assert got.shape == shape_a


@pytest.mark.parametrize(("shapes", "axis"), [
    ([(2, 4, 4, 3), (2, 4, 4, 5)], -1),
    ([(2, 4, 4, 3), (2, 4, 4, 5), (2, 4, 4, 1)], -1),
    ([(2, 4, 4, 3), (2, 4, 4, 5)], 3),
    ([(2, 2, 4, 3), (2, 5, 4, 3)], 1),
    ([(2, 4, 1, 3), (2, 4, 6, 3)], 2),
    ([(2, 4, 1, 3), (2, 4, 6, 3)], -2),
    ([(3, 4), (3, 6)], -1),
    ([(3, 4), (3, 6)], 1),
    ([(2, 5, 3), (2, 2, 3)], 1),
    ([(2, 2, 2, 2, 3), (2, 2, 2, 2, 1)], -1),
    ([(2, 2, 2, 2, 3), (2, 2, 3, 2, 3)], 2),
])
def test_concatenate_matches_keras(oracle, keras, rng, shapes, axis, config_round_trip):
    inputs = [rng.standard_normal(s).astype("float32") for s in shapes]
    got, _ = oracle.compare(layers.Concatenate(axis=axis), keras.layers.Concatenate(axis=axis), inputs)
    np.testing.assert_array_equal(got, np.concatenate(inputs, axis=axis))
    assert config_round_trip(layers.Concatenate(axis=axis))["axis"] == axis


def test_merge_compute_output_shape_with_unknown_dims(keras):
    shapes = [(None, None, 4), (None, None, 4)]
    assert layers.Add().compute_output_shape(shapes) == tuple(keras.layers.Add().compute_output_shape(shapes))
    cat = [(None, 3, None), (None, 3, 5)]
    assert layers.Concatenate().compute_output_shape(cat) == (None, 3, None)
    assert tuple(keras.layers.Concatenate().compute_output_shape(cat)) == (None, 3, None)
    assert layers.Concatenate(axis=1).compute_output_shape([(None, 2, 5), (None, 3, 5)]) == (None, 5, 5)


@pytest.mark.parametrize("name", ELEMENTWISE + ["Concatenate"])
def test_merge_config_round_trip(config_round_trip, name):
    cfg = config_round_trip(getattr(layers, name)(name="m"))
    assert cfg["name"] == "m"


# ---- errors ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_merge_needs_a_list(name, rng):
    x = rng.standard_normal((2, 3)).astype("float32")
    with pytest.raises(ValueError, match="list"):
        getattr(layers, name)()(x)
    with pytest.raises(ValueError, match="at least 2"):
        getattr(layers, name)()([x])


def test_subtract_needs_exactly_two_inputs(rng):
    inputs = [rng.standard_normal((2, 3)).astype("float32") for _ in range(3)]
    with pytest.raises(ValueError, match="exactly 2"):
        layers.Subtract()(inputs)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_merge_incompatible_shapes_raise(name):
    with pytest.raises(ValueError, match="incompatible"):
        getattr(layers, name)()([np.zeros((2, 3), "float32"), np.zeros((2, 4), "float32")])


def test_concatenate_mismatched_shapes_raise():
    with pytest.raises(ValueError, match="matching shapes"):
        layers.Concatenate()([np.zeros((2, 3, 4), "float32"), np.zeros((2, 5, 4), "float32")])
    with pytest.raises(ValueError, match="same rank"):
        layers.Concatenate()([np.zeros((2, 3, 4), "float32"), np.zeros((2, 3), "float32")])
    with pytest.raises(ValueError, match="axis"):
        layers.Concatenate(axis=3)([np.zeros((2, 3, 4), "float32"), np.zeros((2, 3, 4), "float32")])
    with pytest.raises(ValueError, match="axis"):
        layers.Concatenate(axis="1")
