"""A user's layer (a subclass of `cnnkit.layers.Layer`) sees Keras-layout tensors (N, H, W, C) in `call`, as in
Keras: the same class body, written once for Keras and once for cnnkit, gives the same outputs, training step and
.keras files. Keras itself is the oracle. cnnkit's own layers declare `call_layout = "internal"`."""

import importlib
import pkgutil

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit import layers
from cnnkit import ops
from cnnkit import saving
from cnnkit.layers.base import Layer
from cnnkit.models import Model
from cnnkit.models import Sequential
from cnnkit.models import load_model

PACKAGE = "cnnkit_test_layout"
SHAPE = (5, 6, 3)


def define(kl, kops, register):
    """The custom layers, one class body for both libraries: `kl` is keras.layers or cnnkit.layers, `kops` the
    matching ops module."""

    @register(package=PACKAGE)
    class ChannelMean(kl.Layer):
        def call(self, x):
            return kops.mean(x, axis=-1, keepdims=True)  # Keras: the mean over the channels

        def compute_output_shape(self, input_shape):
            return (*input_shape[:-1], 1)

    @register(package=PACKAGE)
    class ChannelScale(kl.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return kops.multiply(x, self.scale)  # broadcasts over the last (channels) axis

    @register(package=PACKAGE)
    class ChannelProject(kl.Layer):
        def __init__(self, units=2, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units))

        def call(self, x):
            return kops.matmul(x, self.kernel)

        def compute_output_shape(self, input_shape):
            return (*input_shape[:-1], self.units)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    @register(package=PACKAGE)
    class AddChannelMean(kl.Layer):  # a list input: a + the channel mean of b
        def call(self, inputs):
            a, b = inputs
            return kops.add(a, kops.mean(b, axis=-1, keepdims=True))

        def compute_output_shape(self, input_shape):
            return input_shape[0]

    return ChannelMean, ChannelScale, ChannelProject, AddChannelMean


@pytest.fixture(scope="module")
def classes(keras):
    return (define(layers, ops, saving.register_keras_serializable),
            define(keras.layers, keras.ops, keras.saving.register_keras_serializable))


def models(lib, kl, custom):
    """A Sequential and a functional model of the custom layers (with a Conv2D of the library's own)."""
    mean, scale, project, add_mean = custom
    sequential = lib.Sequential([lib.Input(SHAPE), scale(name="scale"), project(4, name="project"),
                                 kl.Conv2D(2, 1, name="conv"), mean(name="mean")])
    inputs = lib.Input(SHAPE)
    x = scale(name="scale")(inputs)
    y = project(3, name="project")(x)
    outputs = add_mean(name="add")([kl.Conv2D(3, 1, name="conv")(y), x])
    return sequential, lib.Model(inputs, outputs)


def random_weights(model, rng):
    return [rng.normal(1.0, 0.5, size=w.shape).astype("float32") for w in model.get_weights()]


def test_custom_layers_called_directly_compute_on_keras_layout(classes, rng):
    (mean, scale, project, add_mean), _ = classes
    x = rng.normal(size=(2, *SHAPE)).astype("float32")
    np.testing.assert_allclose(np.asarray(mean()(x)), x.mean(axis=-1, keepdims=True), rtol=1e-6, atol=1e-6)
    layer = project(4)
    out = np.asarray(layer(x))
    kernel = layer.get_weights()[0]
    assert kernel.shape == (3, 4)  # built from the Keras shape: input_shape[-1] is the channels
    np.testing.assert_allclose(out, x @ kernel, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(add_mean()([x, x])), x + x.mean(-1, keepdims=True), rtol=1e-6, atol=1e-6)
    assert mean().compute_output_shape((None, *SHAPE)) == (None, 5, 6, 1)


def test_custom_layer_under_a_mixed_policy_sees_keras_layout(classes, rng):
    (mean, _, _, _), _ = classes
    x = rng.normal(size=(2, *SHAPE)).astype("float32")
    out = mean(dtype="mixed_bfloat16")(x)
    assert tuple(out.shape) == (2, 5, 6, 1)
    np.testing.assert_allclose(out.float().numpy(), x.mean(axis=-1, keepdims=True), atol=3e-2)


@pytest.mark.parametrize("kind", [0, 1], ids=["sequential", "functional"])
def test_models_of_custom_layers_match_keras_predict_fit_and_keras_files(keras, classes, rng, tmp_path, kind):
    ours_custom, theirs_custom = classes
    ours, theirs = models(cnnkit, layers, ours_custom)[kind], models(keras, keras.layers, theirs_custom)[kind]
    weights = random_weights(theirs, rng)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = rng.normal(size=(2, *SHAPE)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)

    y = rng.normal(size=theirs.output_shape[1:]).astype("float32")[None].repeat(2, axis=0)
    for model, lib in ((ours, cnnkit), (theirs, keras)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
        model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)

    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    expected = theirs.predict(x, verbose=0)
    for path in ("ours.keras", "theirs.keras"):
        np.testing.assert_allclose(load_model(tmp_path / path).predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(keras.models.load_model(tmp_path / path).predict(x, verbose=0), expected,
                                   rtol=1e-4, atol=1e-5)


def test_subclassed_model_call_uses_ops_on_channels(keras, classes, rng):
    def net_class(base, kops, scale_class):
        class Net(base):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.scale = scale_class()

            def call(self, x):
                y = self.scale(x)
                return kops.concatenate([kops.mean(y, axis=-1, keepdims=True), kops.max(y, axis=-1, keepdims=True)],
                                        axis=-1)

        return Net

    ours = net_class(Model, ops, classes[0][1])()
    theirs = net_class(keras.Model, keras.ops, classes[1][1])()
    x = rng.normal(size=(2, *SHAPE)).astype("float32")
    ours.build((None, *SHAPE))  # runs call on zeros: builds the layers
    theirs(x)
    weights = random_weights(theirs, rng)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    want = np.asarray(theirs(x))
    assert want.shape == (2, 5, 6, 2)
    np.testing.assert_allclose(np.asarray(ours(x)), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    inner = Sequential([layers.Input(SHAPE), ours])  # the subclassed model as a layer of a functional model
    np.testing.assert_allclose(inner.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def _layer_classes():
    for info in pkgutil.walk_packages(cnnkit.__path__, "cnnkit."):
        importlib.import_module(info.name)
    todo, seen = [Layer], set()
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    return [cls for cls in seen if cls.__module__.startswith("cnnkit.")]


def test_cnnkits_own_layers_declare_the_internal_layout():
    """Every layer class of cnnkit computes channels-first and says so (a new layer that forgets would get
    Keras-layout tensors); subclassed models see Keras's layout, as the user's layers do."""
    own = _layer_classes()
    assert len(own) > 100
    keras_layout = sorted(cls.__name__ for cls in own if cls.call_layout != "internal")
    assert keras_layout == ["Model"]
    assert Layer.call_layout == "keras"


def test_unknown_call_layout_is_refused():
    with pytest.raises(ValueError, match=r"Odd: call_layout must be one of .*Received: call_layout='nchw'"):
        type("Odd", (Layer,), {"call_layout": "nchw"})


def test_the_conversion_around_call_is_a_view_also_for_dicts(rng):
    class Probe(Layer):
        takes_dict = True  # declared: `layer({...})` reaches call

        def call(self, inputs):
            self.seen = {key: (tuple(value.shape), value.data_ptr()) for key, value in inputs.items()}
            return {key: ops.mean(value, axis=-1, keepdims=True) for key, value in inputs.items()}

    x = torch.as_tensor(rng.normal(size=(2, *SHAPE)).astype("float32"))
    probe = Probe()
    out = probe({"images": x})
    assert probe.seen == {"images": ((2, 5, 6, 3), x.data_ptr())}  # the caller's storage: no copy
    np.testing.assert_allclose(out["images"].numpy(), x.numpy().mean(-1, keepdims=True), rtol=1e-6, atol=1e-6)
