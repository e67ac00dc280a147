"""`<application>.preprocess_input` on a functional model's symbolic input (keras.io's transfer-learning guide:
`x = preprocess_input(inputs)` between `Input` and the backbone), against Keras doing the same: the recorded
operations (GetItem/Stack/Add for 'caffe', TrueDivide/Subtract for 'tf', TrueDivide/Add/TrueDivide with array
constants for 'torch'), the predictions with Keras's weights, and `.keras` files both ways."""

import importlib

import numpy as np
import pytest

import cnnkit

# (application module, mode): VGG16 (as ResNet) uses 'caffe', MobileNetV2 'tf', DenseNet 'torch'.
MODULES = [("vgg16", "caffe"), ("mobilenet_v2", "tf"), ("densenet", "torch")]


def _head(kit, inputs, preprocess):
    """Input -> preprocess_input -> a tiny convnet (the same code for both libraries)."""
    x = preprocess(inputs)
    x = kit.layers.Conv2D(4, 3, name="conv")(x)
    x = kit.layers.GlobalAveragePooling2D(name="pool")(x)
    return kit.Model(inputs, kit.layers.Dense(2, name="dense")(x))


def _ops(model):
    return [(spec["class_name"], spec["config"], [
        [a for a in node["args"] if not (isinstance(a, dict) and a.get("class_name") == "__keras_tensor__")]
        for node in spec["inbound_nodes"]]) for spec in model.get_config()["layers"]
        if spec["module"] == "keras.src.ops.numpy"]


@pytest.mark.parametrize(("module", "mode"), MODULES)
def test_preprocess_input_in_a_functional_model_matches_keras(keras, tmp_path, module, mode):
    keras.backend.clear_session()
    theirs = _head(keras, keras.Input((8, 8, 3)),
                   importlib.import_module(f"keras.applications.{module}").preprocess_input)
    ours = _head(cnnkit, cnnkit.Input((8, 8, 3)),
                 importlib.import_module(f"cnnkit.applications.{module}").preprocess_input)
    assert [name for name, _, _ in _ops(ours)] == [name for name, _, _ in _ops(theirs)]
    # Keras's model config holds its backend tensors; the file's JSON holds plain values: compare through JSON.
    theirs.save(tmp_path / "keras.keras")
    from_keras = cnnkit.models.load_model(tmp_path / "keras.keras")
    assert _ops(from_keras) == _ops(ours)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    expected = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(from_keras.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4)
    ours.save(tmp_path / "cnnkit.keras")
    reopened = keras.models.load_model(tmp_path / "cnnkit.keras")
    np.testing.assert_allclose(reopened.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-4)


def test_preprocess_input_symbolic_channels_first_caffe(keras):
    """'caffe' on a channels_first symbolic input flips axis 1 (Keras's `x[:, i, :]`), as Keras."""
    from keras.applications import imagenet_utils as keras_utils  # noqa: PLC0415

    from cnnkit.applications import imagenet_utils  # noqa: PLC0415

    x = np.random.default_rng(1).uniform(0, 255, (2, 3, 4, 5)).astype("float32")
    k_in = keras.Input((3, 4, 5))
    theirs = keras.Model(k_in, keras_utils.preprocess_input(k_in, data_format="channels_first"))
    c_in = cnnkit.Input((3, 4, 5))
    ours = cnnkit.Model(c_in, imagenet_utils.preprocess_input(c_in, data_format="channels_first"))
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(ours.predict(x, verbose=0), imagenet_utils.preprocess_input(x, "channels_first"),
                               rtol=1e-6, atol=1e-4)


def test_indexing_and_array_constants_interchange_with_keras(keras, tmp_path):
    """`x[:, 1:, 0]` (a GetItem with a slice) and `x * np.array` (a Multiply with a '__numpy__' constant) as
    Keras records them; Keras's file loads in cnnkit and predicts the same."""
    def build(kit):
        inputs = kit.Input((3, 4))
        scaled = inputs * np.array([1.0, -2.0, 0.5, 3.0], "float32")
        return kit.Model(inputs, [scaled[:, 1:, 0], scaled[..., ::2]])

    keras.backend.clear_session()
    theirs, ours = build(keras), build(cnnkit)
    theirs.save(tmp_path / "keras.keras")
    from_keras = cnnkit.models.load_model(tmp_path / "keras.keras")
    assert _ops(from_keras) == _ops(ours)
    x = np.random.default_rng(2).normal(size=(2, 3, 4)).astype("float32")
    expected = theirs.predict(x, verbose=0)
    for model in (ours, from_keras):
        for got, want in zip(model.predict(x, verbose=0), expected):
            np.testing.assert_allclose(got, want, rtol=1e-6)
    ours.save(tmp_path / "cnnkit.keras")
    for got, want in zip(keras.models.load_model(tmp_path / "cnnkit.keras").predict(x, verbose=0), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6)
