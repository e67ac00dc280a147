"""Weights in Keras layouts (get_weights / set_weights / weights lists / count_params) and config round trips."""

import json

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit import Input
from cnnkit import Model
from cnnkit import Sequential
from cnnkit.layers import Add
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import Flatten
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.models import Functional

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")


@pytest.mark.parametrize("builder", ["mnist_convnet", "cifar_functional", "branchy"])
def test_weight_layouts_match_keras(keras, zoo, builder):
    mine, theirs = getattr(zoo, builder)(cnnkit), getattr(zoo, builder)(keras)
    assert [w.shape for w in mine.get_weights()] == [w.shape for w in theirs.get_weights()]
    assert all(w.dtype == np.float32 for w in mine.get_weights())
    for layer_mine, layer_theirs in zip(mine.layers, theirs.layers):
        assert [w.shape for w in layer_mine.get_weights()] == [w.shape for w in layer_theirs.get_weights()]
        assert layer_mine.count_params() == layer_theirs.count_params()
    assert mine.count_params() == theirs.count_params()
    assert len(mine.weights) == len(theirs.weights)
    assert len(mine.trainable_weights) == len(theirs.trainable_weights)
    assert len(mine.non_trainable_weights) == len(theirs.non_trainable_weights)
    assert zoo.param_counts(mine) == zoo.param_counts(theirs)


def test_keras_layouts_of_each_kind(rng):
    model = Sequential([Conv2D(5, (3, 2), input_shape=(9, 8, 3)), BatchNormalization(), Flatten(), Dense(4)])
    kernel, bias, gamma, beta, mean, var, dense_kernel, dense_bias = model.get_weights()
    assert kernel.shape == (3, 2, 3, 5) and bias.shape == (5,)  # (kh, kw, in, out)
    assert gamma.shape == beta.shape == mean.shape == var.shape == (5,)
    np.testing.assert_array_equal(mean, 0)
    np.testing.assert_array_equal(var, 1)
    assert dense_kernel.shape == (7 * 7 * 5, 4) and dense_bias.shape == (4,)  # (in, out)
    # The Keras layout is a real transposition of torch's: a Keras kernel lands where torch expects it.
    conv = model.layers[0]
    new_kernel = rng.normal(size=(3, 2, 3, 5)).astype(np.float32)
    conv.set_weights([new_kernel, bias])
    np.testing.assert_array_equal(conv.kernel.detach().numpy(), np.transpose(new_kernel, (3, 2, 0, 1)))
    np.testing.assert_array_equal(conv.get_weights()[0], new_kernel)
    dense = model.layers[-1]
    np.testing.assert_array_equal(dense.kernel.detach().numpy().T, dense.get_weights()[0])


def test_weights_lists():
    inputs = Input(shape=(6, 6, 2))
    x = Conv2D(3, 3, use_bias=False)(inputs)
    x = BatchNormalization()(x)
    outputs = Dense(2)(GlobalAveragePooling2D()(x))
    model = Model(inputs, outputs)
    assert len(model.weights) == 1 + 4 + 2
    assert len(model.trainable_weights) == 1 + 2 + 2
    assert len(model.non_trainable_weights) == 2
    assert all(isinstance(w, torch.Tensor) for w in model.weights)
    assert model.count_params() == 3 * 3 * 2 * 3 + 4 * 3 + 3 * 2 + 2
    bn = model.layers[2]
    assert [tuple(w.shape) for w in bn.non_trainable_weights] == [(3,), (3,)]
    bn.trainable = False
    assert len(model.trainable_weights) == 1 + 2
    assert len(model.non_trainable_weights) == 4


def test_set_weights_round_trip_and_errors(rng):
    model = Sequential([Conv2D(4, 3, input_shape=(6, 6, 1)), Flatten(), Dense(2)])
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights(weights)
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="expects 4 weight arrays.*received 3"):
        model.set_weights(weights[:3])
    bad = list(weights)
    bad[0] = bad[0].reshape(3, 3, 4, 1)
    with pytest.raises(ValueError, match=r"kernel.*\(3, 3, 1, 4\).*\(3, 3, 4, 1\)"):
        model.set_weights(bad)
    with pytest.raises(ValueError, match="expects 2 weights.*received 1"):
        model.layers[0].set_weights(weights[:1])


def test_count_params_of_unbuilt_layer():
    with pytest.raises(ValueError, match="isn't built"):
        Dense(3).count_params()


# ---- config round trips -------------------------------------------------------------------------------------


def round_trip(model):
    config = json.loads(json.dumps(model.get_config()))
    rebuilt = type(model).from_config(config)
    rebuilt.set_weights(model.get_weights())
    return config, rebuilt


def assert_same_predictions(a, b, x):
    out_a, out_b = a.predict(x), b.predict(x)
    if isinstance(out_a, list):
        assert isinstance(out_b, list) and len(out_a) == len(out_b)
        for p, q in zip(out_a, out_b):
            np.testing.assert_array_equal(p, q)
    else:
        np.testing.assert_array_equal(out_a, out_b)


@pytest.mark.parametrize("builder", ["mnist_convnet", "lenet"])
def test_sequential_config_round_trip(zoo, rng, builder):
    model = getattr(zoo, builder)(cnnkit)
    config, rebuilt = round_trip(model)
    assert isinstance(rebuilt, Sequential)
    assert config["name"] == rebuilt.name == model.name
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    assert rebuilt.output_shape == model.output_shape
    assert_same_predictions(model, rebuilt, rng.uniform(size=(3, 28, 28, 1)).astype(np.float32))
    assert rebuilt.get_config() == config


def test_functional_config_round_trip(zoo, rng):
    model = zoo.branchy(cnnkit)
    model.get_layer("main_bn").set_weights([rng.uniform(0.5, 1.5, 8), rng.normal(size=8), rng.normal(size=8),
                                            rng.uniform(0.5, 2.0, 8)])
    config, rebuilt = round_trip(model)
    assert type(rebuilt) is Functional and isinstance(rebuilt, Model)  # Keras 3: Model(inputs, outputs) is one
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    assert rebuilt.output_shape == model.output_shape
    assert_same_predictions(model, rebuilt, rng.normal(size=(2, 15, 13, 3)).astype(np.float32))
    assert rebuilt.get_config() == config


def test_nested_and_shared_config_round_trip(rng):
    backbone_in = Input(shape=(8, 8, 3))
    backbone = Model(backbone_in, Conv2D(4, 3, activation="relu")(BatchNormalization()(backbone_in)),
                     name="backbone")
    backbone.trainable = False
    classifier = Sequential([backbone, GlobalAveragePooling2D(), Dense(3, activation="softmax")])
    x = rng.normal(size=(2, 8, 8, 3)).astype(np.float32)

    config, rebuilt = round_trip(classifier)
    assert [type(layer).__name__ for layer in rebuilt.layers] == ["Functional", "GlobalAveragePooling2D", "Dense"]
    assert not rebuilt.layers[0].trainable and not rebuilt.layers[0].layers[1].trainable
    assert len(rebuilt.trainable_weights) == 2
    assert_same_predictions(classifier, rebuilt, x)

    # The same backbone, now also called inside a second (functional) model: its call there is its second.
    inputs = Input(shape=(8, 8, 3))
    dense = Dense(4)  # shared too: called twice, the second call after a layer listed later
    hidden = dense(Dense(4)(Flatten()(backbone(inputs))))
    outer = Model(inputs, Add()([hidden, dense(Dense(4)(hidden))]))
    config, rebuilt = round_trip(outer)
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in outer.layers]
    assert_same_predictions(outer, rebuilt, x)


def test_config_of_a_subclassed_model_is_its_constructor_arguments_as_in_keras(keras):
    class Mine(Model):
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.dense = Dense(units)

        def call(self, x, training=False):
            return self.dense(x)

    base, theirs = Model().get_config(), keras.Model().get_config()
    assert (base["trainable"], base["dtype"]["config"]) == (theirs["trainable"], theirs["dtype"]["config"])
    config = Mine(units=5, name="mine").get_config()
    assert config["units"] == 5 and config["name"] == "mine"
    rebuilt = Mine.from_config(config)
    assert rebuilt.dense.units == 5 and rebuilt.name == "mine"
    with pytest.raises(ValueError, match="subclassed model.*no inputs"):
        Model().inputs
