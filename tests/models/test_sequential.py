"""Sequential: construction (list, add, Input first, input_shape), pop, build timing, and Keras as the oracle."""

import numpy as np
import pytest

import cnnkit
from cnnkit import Input
from cnnkit import Sequential
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import Flatten
from cnnkit.layers import InputLayer
from cnnkit.layers import MaxPooling2D

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")


def test_list_constructor_equals_add(rng):
    listed = Sequential([Conv2D(4, 3, input_shape=(8, 8, 1)), Flatten(), Dense(3)])
    added = Sequential()
    added.add(Conv2D(4, 3, input_shape=(8, 8, 1)))
    added.add(Flatten())
    added.add(Dense(3))
    assert [type(layer) for layer in listed.layers] == [type(layer) for layer in added.layers]
    assert listed.output_shape == added.output_shape == (None, 3)
    added.set_weights(listed.get_weights())
    x = rng.normal(size=(2, 8, 8, 1))
    np.testing.assert_array_equal(listed.predict(x), added.predict(x))


def test_names_are_unique_snake_case():
    model = Sequential([Conv2D(4, 3, input_shape=(8, 8, 1)), Conv2D(4, 3), MaxPooling2D(), Flatten(),
                        Dense(3), Dense(2)])
    assert model.name == "sequential"
    assert [layer.name for layer in model.layers] == ["conv2d", "conv2d_1", "max_pooling2d", "flatten", "dense",
                                                      "dense_1"]
    assert Sequential().name == "sequential_1"


def test_built_right_after_add_with_input_shape():
    model = Sequential()
    assert not model.built
    model.add(Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    assert model.built
    assert model.output_shape == (None, 26, 26, 32)
    assert model.input_shape == (None, 28, 28, 1)
    assert model.count_params() == 320
    model.add(MaxPooling2D((2, 2)))
    assert model.output_shape == (None, 13, 13, 32)
    assert model.layers[-1].output_shape == (None, 13, 13, 32)
    assert model.layers[0].input_shape == (None, 28, 28, 1)
    lines = []
    model.summary(print_fn=lines.append)
    assert any("(None, 13, 13, 32)" in line for line in lines)
    assert model.layers[0].get_weights()[0].shape == (3, 3, 1, 32)


@pytest.mark.parametrize("first", ["tensor", "layer"])
def test_input_first(rng, first):
    start = Input(shape=(6,)) if first == "tensor" else InputLayer(shape=(6,))
    model = Sequential([start, Dense(4, activation="relu"), Dense(2)])
    assert model.built
    assert len(model.layers) == 2  # the InputLayer is not listed, as in Keras
    assert model.input_shape == (None, 6)
    assert model.output_shape == (None, 2)
    assert model.count_params() == 6 * 4 + 4 + 4 * 2 + 2
    assert model.predict(rng.normal(size=(3, 6))).shape == (3, 2)


def test_input_after_layers_is_refused():
    model = Sequential([Dense(3, input_shape=(2,))])
    with pytest.raises(ValueError, match="Input"):
        model.add(Input(shape=(2,)))


def test_add_non_layer_is_refused():
    with pytest.raises(TypeError, match="Sequential.add expects a cnnkit layer.*Received"):
        Sequential().add("dense")


def test_unbuilt_sequential_is_built_on_first_predict(rng):
    model = Sequential([Conv2D(4, 3, activation="relu"), Flatten(), Dense(3)])
    assert not model.built
    assert not model.layers[0].built
    with pytest.raises(ValueError, match="not yet been built"):
        model.output_shape  # noqa: B018
    with pytest.raises(ValueError, match="isn't built|not yet been built"):
        model.count_params()
    lines = []
    model.summary(print_fn=lines.append)  # an unbuilt model still prints its layers, as Keras does
    assert any("(unbuilt)" in line for line in lines)
    x = rng.normal(size=(5, 9, 7, 2))
    out = model.predict(x, batch_size=2)
    assert out.shape == (5, 3)
    assert model.built
    assert model.input_shape == (None, 9, 7, 2)  # the batch axis stays free
    assert model.output_shape == (None, 3)
    assert model.count_params() == (3 * 3 * 2 * 4 + 4) + (7 * 5 * 4 * 3 + 3)
    np.testing.assert_allclose(model.predict(x[:1]), out[:1], rtol=1e-6, atol=1e-6)


def test_unbuilt_sequential_built_on_call_and_by_build(rng):
    called = Sequential([Dense(3), Dense(2)])
    out = called(rng.normal(size=(4, 5)))
    assert tuple(out.shape) == (4, 2)
    assert called.built and called.output_shape == (None, 2)
    built = Sequential([Dense(3), Dense(2)])
    built.build((None, 5))
    assert built.built and built.count_params() == 5 * 3 + 3 + 3 * 2 + 2


def test_pop(rng):
    model = Sequential([Conv2D(4, 3, input_shape=(8, 8, 1)), Flatten(), Dense(3)])
    popped = model.pop()
    assert popped.name == "dense"
    assert len(model.layers) == 2
    assert model.output_shape == (None, 144)
    assert model.count_params() == 40
    assert model.predict(rng.normal(size=(2, 8, 8, 1))).shape == (2, 144)
    model.add(Dense(5))
    assert model.output_shape == (None, 5)
    assert model.predict(rng.normal(size=(2, 8, 8, 1))).shape == (2, 5)
    assert "dense" not in [layer.name for layer in model.layers]
    model.pop()
    model.pop()
    model.pop()
    assert model.layers == []
    with pytest.raises(TypeError, match="no layers to pop"):
        model.pop()


def test_duplicate_names_are_refused():
    model = Sequential([Dense(2, name="d", input_shape=(3,))])
    with pytest.raises(ValueError, match="unique names.*'d'"):
        model.add(Dense(2, name="d"))


def test_predict_batches_match_one_batch(rng):
    model = Sequential([Conv2D(3, 3, input_shape=(6, 6, 2)), Flatten(), Dense(4, activation="softmax")])
    x = rng.normal(size=(7, 6, 6, 2)).astype(np.float32)
    full = model.predict(x, batch_size=7)
    np.testing.assert_allclose(model.predict(x, batch_size=3), full, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.predict(x), full, rtol=1e-6, atol=1e-7)
    assert full.dtype == np.float32
    np.testing.assert_allclose(full.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("builder", ["mnist_convnet", "lenet"])
def test_matches_keras(keras, zoo, rng, builder):
    theirs = getattr(zoo, builder)(keras)
    zoo.randomize_keras_weights(theirs)
    mine = getattr(zoo, builder)(cnnkit)
    assert zoo.output_shapes(mine) == zoo.output_shapes(theirs)
    assert [layer.count_params() for layer in mine.layers] == [layer.count_params() for layer in theirs.layers]
    assert zoo.param_counts(mine) == zoo.param_counts(theirs)
    assert [w.shape for w in mine.get_weights()] == [w.shape for w in theirs.get_weights()]
    mine.set_weights(theirs.get_weights())
    x = rng.uniform(0, 1, size=(6, 28, 28, 1)).astype(np.float32)
    expected = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(mine.predict(x), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mine(x).detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    for got, want in zip(mine.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_output_shapes_follow_keras_as_layers_are_added(keras):
    def steps(k):
        L = k.layers
        model = k.models.Sequential()
        shapes = []
        for layer in [L.Conv2D(8, 5, strides=2, padding="same", input_shape=(31, 29, 3)),
                      L.MaxPooling2D(3, strides=2, padding="same"), L.Conv2D(4, (2, 3), dilation_rate=2),
                      L.AveragePooling2D(2, padding="same"), L.ZeroPadding2D(((1, 0), (2, 3))), L.Flatten(),
                      L.Dense(7)]:
            model.add(layer)
            shapes.append(tuple(model.output_shape))
        return shapes

    assert steps(cnnkit) == steps(keras)
