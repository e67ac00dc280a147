"""The registry of custom objects and Keras 3's config form: register_keras_serializable, custom_object_scope,
serialize/deserialize_keras_object, and custom layers through `.keras` files in cnnkit and Keras (both ways)."""

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit import saving
from cnnkit import utils
from cnnkit.layers import Dense
from cnnkit.layers import Input
from cnnkit.layers import Layer
from cnnkit.models import Model
from cnnkit.models import Sequential
from cnnkit.models import load_model

PACKAGE = "cnnkit_test_utils"


@saving.register_keras_serializable(package=PACKAGE)
class ScaleBy(Layer):
    """y = x * factor * w, w a trainable vector over the last axis (initialized to ones)."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.add_weight("w", (input_shape[-1],), "ones")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, training=False):
        return inputs * self.factor * self.w  # Keras layout: w broadcasts over the last (channels) axis

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@saving.register_keras_serializable(package=PACKAGE, name="twice")
def twice(x):
    return 2.0 * x


def _keras_scale_by(keras):
    """The same layer written for Keras, registered under the same name."""

    @keras.saving.register_keras_serializable(package=PACKAGE)
    class ScaleBy(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, input_shape):
            self.w = self.add_weight(name="w", shape=(input_shape[-1],), initializer="ones")

        def call(self, inputs):
            return inputs * self.factor * self.w

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    return ScaleBy


def test_registry_names_and_objects_as_keras(keras):
    assert saving.get_registered_name(ScaleBy) == f"{PACKAGE}>ScaleBy"
    assert saving.get_registered_object(f"{PACKAGE}>ScaleBy") is ScaleBy
    assert saving.get_custom_objects()[f"{PACKAGE}>twice"] is twice
    assert saving.get_registered_name(Dense) == "Dense" == keras.saving.get_registered_name(keras.layers.Dense)
    assert saving.get_registered_object("nothing") is None
    assert saving.get_registered_object("x", custom_objects={"x": twice}) is twice
    with saving.custom_object_scope({"x": ScaleBy}):
        assert saving.get_registered_object("x") is ScaleBy
        assert utils.get_registered_object("x") is ScaleBy
    assert saving.get_registered_object("x") is None
    assert cnnkit.config.custom_object_scope is saving.custom_object_scope is utils.custom_object_scope
    with pytest.raises(ValueError, match="get_config"):
        saving.register_keras_serializable()(type("NoConfig", (), {}))
    with pytest.raises(ValueError, match="package"):
        saving.register_keras_serializable(package="a>b")


def test_serialize_matches_keras_form(keras):
    layer, klayer = ScaleBy(3.0, name="s"), _keras_scale_by(keras)(3.0, name="s")
    ours, theirs = saving.serialize_keras_object(layer), keras.saving.serialize_keras_object(klayer)
    for key in ("module", "class_name", "registered_name"):
        assert ours[key] == theirs[key], key
    assert ours["config"]["factor"] == 3.0
    dense, kdense = saving.serialize_keras_object(Dense(2)), keras.saving.serialize_keras_object(keras.layers.Dense(2))
    assert {k: dense[k] for k in ("module", "class_name", "registered_name")} == {
        k: kdense[k] for k in ("module", "class_name", "registered_name")}
    fn = saving.serialize_keras_object(twice)

    def keras_twice(x):
        return 2.0 * x

    kfn = keras.saving.serialize_keras_object(keras.saving.register_keras_serializable(PACKAGE, "twice")(
        keras_twice))
    assert fn == kfn
    relu = saving.serialize_keras_object(cnnkit.activations.relu)
    assert relu == keras.saving.serialize_keras_object(keras.activations.relu)
    loss = saving.serialize_keras_object(cnnkit.losses.CategoricalCrossentropy())
    kloss = keras.saving.serialize_keras_object(keras.losses.CategoricalCrossentropy())
    assert (loss["module"], loss["class_name"]) == (kloss["module"], kloss["class_name"])


def test_deserialize_round_trips_and_reads_keras_configs(keras):
    back = saving.deserialize_keras_object(saving.serialize_keras_object(ScaleBy(4.0, name="s4")))
    assert isinstance(back, ScaleBy) and back.factor == 4.0 and back.name == "s4"
    assert saving.deserialize_keras_object(saving.serialize_keras_object(twice)) is twice
    kconfig = keras.saving.serialize_keras_object(_keras_scale_by(keras)(5.0, name="k"))
    layer = utils.deserialize_keras_object(kconfig)
    assert isinstance(layer, ScaleBy) and layer.factor == 5.0
    kdense = keras.saving.serialize_keras_object(keras.layers.Dense(3, activation="relu", name="d"))
    assert isinstance(saving.deserialize_keras_object(kdense), Dense)
    kloss = keras.saving.serialize_keras_object(keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
    assert saving.deserialize_keras_object(kloss).get_config()["label_smoothing"] == 0.1
    assert saving.deserialize_keras_object(keras.saving.serialize_keras_object(keras.activations.relu)) is (
        cnnkit.activations.relu)
    arr = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(saving.deserialize_keras_object(keras.saving.serialize_keras_object(arr)), arr)
    # An unregistered class found through custom_objects, by class name.
    config = saving.serialize_keras_object(ScaleBy(1.0))
    config["registered_name"] = "Other>ScaleBy"
    with saving.custom_object_scope({"ScaleBy": ScaleBy}):
        assert isinstance(saving.deserialize_keras_object(config), ScaleBy)
    assert isinstance(saving.deserialize_keras_object(config, custom_objects={"ScaleBy": ScaleBy}), ScaleBy)


def test_unknown_names_raise_with_did_you_mean():
    config = {"module": "my_module", "class_name": "ScaleBi", "config": {}, "registered_name": f"{PACKAGE}>ScaleBi"}
    with pytest.raises(TypeError, match=f"Could not locate class 'ScaleBi'.*Did you mean '{PACKAGE}>ScaleBy'"):
        saving.deserialize_keras_object(config)
    with pytest.raises(ValueError, match="Unknown layer: 'Dens'. Did you mean 'Dense'"):
        saving.deserialize_keras_object({"module": "keras.layers", "class_name": "Dens", "config": {},
                                         "registered_name": None})


def _model(scale):
    inputs = Input((4,))
    return Model(inputs, Dense(2, name="out")(scale(inputs)))


def test_custom_layer_round_trips_through_keras_file(tmp_path, rng):
    model = _model(ScaleBy(3.0, name="scale"))
    model.layers[1].w.data = torch.tensor([1.0, 2.0, 3.0, 4.0])
    x = rng.normal(size=(3, 4)).astype("float32")
    model.save(tmp_path / "m.keras")
    back = load_model(tmp_path / "m.keras")
    assert isinstance(back.layers[1], ScaleBy) and back.layers[1].factor == 3.0
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    seq = Sequential([Input((4,)), ScaleBy(0.5)])
    seq.save(tmp_path / "s.keras")
    assert isinstance(saving.load_model(tmp_path / "s.keras").layers[0], ScaleBy)


def test_custom_layer_keras_files_both_ways(keras, tmp_path, rng):
    x = rng.normal(size=(3, 4)).astype("float32")
    model = _model(ScaleBy(3.0, name="scale"))
    model.layers[1].w.data = torch.tensor([1.0, 2.0, 3.0, 4.0])
    model.save(tmp_path / "ours.keras")
    _keras_scale_by(keras)  # registered in Keras under the same name
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)

    kinputs = keras.Input((4,))
    kmodel = keras.Model(kinputs, keras.layers.Dense(2)(_keras_scale_by(keras)(0.5, name="scale")(kinputs)))
    kmodel.layers[1].w.assign(np.array([4.0, 3.0, 2.0, 1.0], "float32"))
    kmodel.save(tmp_path / "keras.keras")
    ours = load_model(tmp_path / "keras.keras")
    assert isinstance(ours.layers[1], ScaleBy) and ours.layers[1].factor == 0.5
    np.testing.assert_allclose(ours.predict(x, verbose=0), kmodel.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_unregistered_custom_layer_needs_custom_objects(tmp_path):
    class Plain(Layer):
        def call(self, inputs, training=False):
            return inputs

        def compute_output_shape(self, input_shape):
            return tuple(input_shape)

    inputs = Input((3,))
    Model(inputs, Plain(name="plain")(inputs)).save(tmp_path / "p.keras")
    with pytest.raises(ValueError, match="Unknown layer: 'Plain'"):
        load_model(tmp_path / "p.keras")
    assert isinstance(load_model(tmp_path / "p.keras", custom_objects={"Plain": Plain}).layers[1], Plain)


@saving.register_keras_serializable(package=PACKAGE)
class ScaledMSE(cnnkit.losses.Loss):
    def __init__(self, scale=2.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, y_true, y_pred):
        return self.scale * torch.mean((y_true - y_pred) ** 2, dim=-1)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@saving.register_keras_serializable(package=PACKAGE)
def half_mae(y_true, y_pred):
    return 0.5 * torch.mean(torch.abs(y_true - y_pred), dim=-1)


def test_registered_losses_and_metrics_in_compile_config(tmp_path, rng):
    x, y = rng.normal(size=(8, 4)).astype("float32"), rng.normal(size=(8, 2)).astype("float32")
    for loss in (ScaledMSE(3.0), half_mae):
        model = _model(ScaleBy(1.0))
        model.compile(optimizer="sgd", loss=loss, metrics=[half_mae])
        model.save(tmp_path / "c.keras")
        back = load_model(tmp_path / "c.keras")
        np.testing.assert_allclose(back.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)
    assert back.evaluate(x, y, verbose=0)[0] == pytest.approx(back.evaluate(x, y, verbose=0)[1])


def test_saving_weights_functions(tmp_path, rng):
    model = _model(ScaleBy(2.0))
    saving.save_weights(model, tmp_path / "w.weights.h5")
    other = _model(ScaleBy(2.0))
    saving.load_weights(other, tmp_path / "w.weights.h5")
    x = rng.normal(size=(2, 4)).astype("float32")
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="unexpected keyword"):
        saving.save_weights(model, tmp_path / "w.weights.h5", bogus=1)
