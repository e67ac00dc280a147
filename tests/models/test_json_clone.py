"""model.to_json / models.model_from_json and models.clone_model, against Keras's configs and JSON."""

import json

import numpy as np
import pytest
import torch

from cnnkit import models
from cnnkit import saving
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import Dropout
from cnnkit.layers import Flatten
from cnnkit.layers import Input
from cnnkit.models import Model
from cnnkit.models import Sequential


def _functional():
    inputs = Input((6, 6, 2), name="img")
    x = Conv2D(3, 3, name="conv")(inputs)
    x = BatchNormalization(name="bn")(x)
    x = Flatten(name="flat")(x)
    y = Dense(4, activation="softmax", name="probs")(x)
    return Model(inputs, [y, Dense(1, name="aux")(x) + 1.0], name="net")


def _sequential():
    return Sequential([Input((5,)), Dense(4, activation="relu", name="d1"), Dropout(0.2), Dense(2, name="d2")],
                      name="seq")


def _layer_configs(model):
    return [(type(layer).__name__, layer.get_config()) for layer in model.layers]


def test_to_json_is_keras_json_and_round_trips(keras, rng):
    model = _functional()
    text = model.to_json()
    config = json.loads(text)
    assert config["class_name"] == "Functional" and config["module"] == "keras.src.models.functional"
    back = models.model_from_json(text)
    assert _layer_configs(back) == _layer_configs(model)
    x = rng.normal(size=(2, 6, 6, 2)).astype("float32")
    back.set_weights(model.get_weights())
    for a, b in zip(back.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert model.to_json(indent=2) == json.dumps(json.loads(text), indent=2)
    # Keras reads cnnkit's JSON and cnnkit reads Keras's.
    theirs = keras.models.model_from_json(text)
    theirs.set_weights(model.get_weights())
    for a, b in zip(theirs.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    ours = models.model_from_json(theirs.to_json())
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert ours.count_params() == theirs.count_params()


def test_sequential_json_with_compile_config(keras):
    model = _sequential()
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    config = json.loads(model.to_json())
    kmodel = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dropout(0.2),
                               keras.layers.Dense(2)])
    kmodel.compile(optimizer="adam", loss="mse", metrics=["mae"])
    kconfig = json.loads(kmodel.to_json())
    assert (config["module"], config["class_name"]) == (kconfig["module"], kconfig["class_name"])
    assert set(config) == set(kconfig)
    back = models.model_from_json(model.to_json())
    assert isinstance(back, Sequential) and back.compiled and back.loss == "mse"
    from_keras = models.model_from_json(kmodel.to_json())
    assert isinstance(from_keras, Sequential) and from_keras.compiled
    # Keras's serialize_keras_object(model) is what to_json writes
    assert json.loads(json.dumps(saving.serialize_keras_object(model))) == config
    assert saving.deserialize_keras_object(keras.saving.serialize_keras_object(kmodel)).compiled
    with pytest.raises(ValueError, match="not valid JSON"):
        models.model_from_json("{nope")
    with pytest.raises(ValueError, match="does not describe a model"):
        models.model_from_json("[1, 2]")


def test_clone_functional_new_weights_same_config(keras):
    model = _functional()
    clone = models.clone_model(model)
    assert clone is not model and clone.name == model.name
    assert _layer_configs(clone) == _layer_configs(model)
    for a, b in zip(clone.layers, model.layers):
        assert a is not b
    kernels = [clone.get_layer("conv").get_weights()[0], model.get_layer("conv").get_weights()[0]]
    assert not np.allclose(*kernels)  # freshly initialized
    kmodel = keras.models.model_from_json(model.to_json())
    kclone = keras.models.clone_model(kmodel)
    assert [layer.name for layer in clone.layers] == [layer.name for layer in kclone.layers]
    assert clone.count_params() == kclone.count_params()


def test_clone_sequential_and_compiled(keras):
    model = _sequential()
    model.compile(optimizer="sgd", loss="mse")
    clone = models.clone_model(model)
    assert isinstance(clone, Sequential) and clone.compiled and clone.input_shape == (None, 5)
    assert _layer_configs(clone) == _layer_configs(model)
    kclone = keras.models.clone_model(keras.models.model_from_json(model.to_json()))
    assert [layer.name for layer in clone.layers] == [layer.name for layer in kclone.layers]
    new_input = Input((5,), name="other")
    on_input = models.clone_model(model, input_tensors=new_input)
    assert on_input.input_shape == (None, 5)


def test_clone_function_call_function_and_input_tensors():
    model = _functional()
    seen = []

    def clone_function(layer):
        seen.append(layer.name)
        if isinstance(layer, Dense):
            return Dense.from_config({**layer.get_config(), "units": layer.units})
        return layer  # share

    shared = models.clone_model(model, clone_function=clone_function)
    assert shared.get_layer("conv") is model.get_layer("conv") and shared.get_layer("probs") is not (
        model.get_layer("probs"))
    assert "img" not in seen

    calls = []

    def call_function(layer, *args, **kwargs):
        calls.append(layer.name)
        out = layer(*args, **kwargs)
        return Dropout(0.5)(out) if layer.name == "flat" else out

    wrapped = models.clone_model(model, call_function=call_function)
    assert "flat" in calls and sum(isinstance(layer, Dropout) for layer in wrapped.layers) == 1
    inputs = Input((6, 6, 2), name="new_in")
    on_inputs = models.clone_model(model, input_tensors=inputs)
    assert on_inputs.inputs[0] is inputs
    with pytest.raises(ValueError, match="input_tensors"):
        models.clone_model(model, input_tensors=torch.zeros(1, 6, 6, 2))
    with pytest.raises(ValueError, match="call_function"):
        models.clone_model(_sequential(), call_function=call_function)
    with pytest.raises(ValueError, match="Unexpected keyword"):
        models.clone_model(model, bogus=1)


def test_clone_recursive_nested():
    inner = _sequential()
    inputs = Input((5,))
    outer = Model(inputs, Dense(1, name="head")(inner(inputs)))
    names = []

    def clone_function(layer):
        names.append(layer.name)
        return layer.__class__.from_config(layer.get_config())

    clone = models.clone_model(outer, clone_function=clone_function, recursive=True)
    assert "d1" in names and "seq" not in names
    assert clone.count_params() == outer.count_params()
    flat = models.clone_model(outer, clone_function=clone_function)
    assert flat.count_params() == outer.count_params()
