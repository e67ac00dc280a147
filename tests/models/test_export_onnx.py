"""ONNX export: onnxruntime (an independent runtime) running the exported file gives what `model.predict` gives,
for the seeds' models, ResNet50 and multi-input / multi-output graphs, at batch sizes other than the traced one;
bad arguments give clear errors and leave no file behind."""

import os

import numpy as np
import pytest

import cnnkit
from cnnkit import Input
from cnnkit import Model
from cnnkit import Sequential
from cnnkit.applications import LeNet
from cnnkit.applications import ResNet50
from cnnkit.applications import SmallConvNet
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Concatenate
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import Dropout
from cnnkit.layers import Flatten
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.layers import MaxPooling2D
from cnnkit.models import fusion

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")
TOLERANCE = 1e-4


def randomize(model, seed=0):
    """Non-trivial weights: random biases, and BatchNormalization statistics far from (0, 1)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights or isinstance(layer, Model):
            continue
        if isinstance(layer, BatchNormalization):
            gamma, beta, mean, variance = weights
            weights = [rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.3, beta.shape),
                       rng.normal(0, 0.3, mean.shape), rng.uniform(0.5, 2.0, variance.shape)]
        else:
            weights = [w if w.ndim > 1 else rng.normal(0, 0.3, w.shape) for w in weights]
        layer.set_weights([w.astype(np.float32) for w in weights])
    return model


def inputs_for(model, batch, rng):
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    return [rng.random((batch, *shape[1:]), dtype=np.float32) for shape in shapes]


def assert_matches_predict(model, path, rng, batches=(1, 5)):
    """Runs the ONNX file with onnxruntime at each batch size and compares with model.predict."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in batches:
        xs = inputs_for(model, batch, rng)
        feed = {i.name: x for i, x in zip(session.get_inputs(), xs)}
        got = session.run(None, feed)
        expected = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        expected = expected if isinstance(expected, list) else [expected]
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.shape == e.shape
            np.testing.assert_allclose(g, e, atol=TOLERANCE, rtol=0)
    return session


def seeds_004_model():
    """Seed 004's layers together: 'same' padding, Dropout, BatchNormalization, plus a strided one-channel conv
    (cnnkit's special path for it) and a max pooling after a relu conv (the fused path)."""
    return Sequential([
        Conv2D(10, kernel_size=3, activation="relu", input_shape=(28, 28, 1), padding="same", strides=2),
        Dropout(0.25),
        BatchNormalization(),
        Conv2D(10, kernel_size=3, activation="relu", padding="same"),
        MaxPooling2D(2),
        Flatten(),
        Dense(3, activation="softmax"),
    ])


def seeds_003_functional():
    """Seed 003's CIFAR-10 functional model."""
    inputs = Input(shape=(32, 32, 3))
    x = Conv2D(32, (3, 3), activation="relu")(inputs)
    x = MaxPooling2D((2, 2))(x)
    x = Conv2D(64, (3, 3), activation="relu")(x)
    x = MaxPooling2D((2, 2))(x)
    x = Conv2D(64, (3, 3), activation="relu")(x)
    x = Flatten()(x)
    x = Dense(64, activation="relu")(x)
    return Model(inputs=inputs, outputs=Dense(10)(x))


@pytest.mark.parametrize("build", [SmallConvNet, LeNet, seeds_004_model, seeds_003_functional],
                         ids=["mnist_convnet", "lenet", "seeds_004_bn_dropout", "seeds_003_cifar"])
def test_seed_models_match_predict(build, tmp_path, rng, capsys):
    model = randomize(build())
    before = model.predict(inputs_for(model, 3, np.random.default_rng(1))[0], verbose=0)
    path = tmp_path / "model.onnx"
    assert model.export(path) is None
    assert capsys.readouterr().out.strip() == f"Saved artifact at '{path}'."
    session = assert_matches_predict(model, path, rng)
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert inp.name == model.inputs[0].history[0].name and out.name == model.outputs[0].history[0].name
    assert isinstance(inp.shape[0], str) and inp.shape[1:] == list(model.input_shape[1:])
    assert inp.type == "tensor(float)"
    # Exporting changes nothing in the model (BatchNormalization statistics, Dropout).
    np.testing.assert_array_equal(model.predict(inputs_for(model, 3, np.random.default_rng(1))[0], verbose=0),
                                  before)
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]  # no temporary file left


def test_fused_conv_max_pool_path_is_exported(tmp_path, rng):
    model = randomize(SmallConvNet())
    assert fusion.fused_chains(model)  # the rewrite is in the plan
    model.export(tmp_path / "m.onnx", verbose=False)
    assert_matches_predict(model, tmp_path / "m.onnx", rng, batches=(2, 7))
    # The file holds the rewritten order: MaxPool before the activation.
    ops = [node.op_type for node in onnx.load(str(tmp_path / "m.onnx")).graph.node]
    first_pool = ops.index("MaxPool")
    assert ops[first_pool - 1] == "Conv" and ops[first_pool + 1] == "Relu"


def test_resnet50_matches_predict(tmp_path, rng):
    model = randomize(ResNet50(weights=None, input_shape=(64, 64, 3), classes=10, classifier_activation=None))
    model.export(tmp_path / "resnet50.onnx", verbose=False)
    assert_matches_predict(model, tmp_path / "resnet50.onnx", rng, batches=(1, 3))


def test_resnet50_backbone_with_pooling_and_in_a_sequential(tmp_path, rng):
    """The seeds' transfer-learning model: a ResNet50 backbone without its top inside a Sequential."""
    backbone = ResNet50(weights=None, include_top=False, pooling="max", input_shape=(32, 32, 3))
    randomize(backbone)
    backbone.export(tmp_path / "backbone.onnx", verbose=False)
    session = assert_matches_predict(backbone, tmp_path / "backbone.onnx", rng, batches=(1, 2))
    assert session.get_outputs()[0].shape[1:] == [2048]
    backbone.trainable = False
    model = Sequential([backbone, Dense(12, activation="softmax")])
    model.export(tmp_path / "transfer.onnx", verbose=False)
    assert_matches_predict(model, tmp_path / "transfer.onnx", rng, batches=(1, 2))


def test_multi_input_multi_output_names_and_values(tmp_path, rng):
    image = Input(shape=(12, 10, 3), name="image")
    extra = Input(shape=(4,), name="extra")
    x = Conv2D(6, 3, strides=2, padding="same", activation="tanh", name="conv")(image)
    x = BatchNormalization(name="bn")(x)
    features = GlobalAveragePooling2D(name="gap")(x)
    joined = Concatenate(name="joined")([features, extra])
    probs = Dense(3, activation="softmax", name="probs")(joined)
    value = Dense(1, name="value")(joined)
    model = randomize(Model([image, extra], [probs, value, x]))
    model.export(tmp_path / "multi.onnx", verbose=False)
    session = assert_matches_predict(model, tmp_path / "multi.onnx", rng)
    assert [i.name for i in session.get_inputs()] == ["image", "extra"]
    assert [o.name for o in session.get_outputs()] == ["probs", "value", "bn"]
    assert session.get_outputs()[2].shape[1:] == [6, 5, 6]  # a feature map comes out channels_last


def test_branchy_graph_matches_keras(tmp_path, rng, zoo, fresh_keras):
    """ZeroPadding2D, strided 'same' convolutions and poolings (padding added at the end, as TensorFlow),
    average pooling dividing by the real pixels, BatchNormalization, Add, Concatenate, two outputs: the ONNX file
    gives Keras's own numbers for the same weights, as well as predict's."""
    theirs = zoo.branchy(fresh_keras)
    zoo.randomize_keras_weights(theirs, seed=1)
    model = zoo.branchy(cnnkit)
    model.set_weights(theirs.get_weights())
    model.export(tmp_path / "branchy.onnx", verbose=False)
    session = assert_matches_predict(model, tmp_path / "branchy.onnx", rng)
    x = rng.normal(size=(4, 15, 13, 3)).astype(np.float32)
    for got, want in zip(session.run(None, {"image": x}), theirs.predict(x, verbose=0)):
        np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)


def test_input_signature_for_unknown_image_size(tmp_path, rng):
    inputs = Input(shape=(None, None, 3))
    outputs = Dense(2)(GlobalAveragePooling2D()(Conv2D(4, 3, strides=2, padding="same")(inputs)))
    model = randomize(Model(inputs, outputs))
    with pytest.raises(ValueError, match=r"no fixed size on axis 1.*input_signature"):
        model.export(tmp_path / "m.onnx")
    model.export(tmp_path / "m.onnx", input_signature=[(None, 17, 15, 3)], verbose=False)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    x = rng.random((4, 17, 15, 3), dtype=np.float32)
    np.testing.assert_allclose(session.run(None, {"input_layer": x})[0], model.predict(x, verbose=0),
                               atol=TOLERANCE, rtol=0)
    with pytest.raises(ValueError, match="does not fit"):
        model.export(tmp_path / "m.onnx", input_signature=[(None, 17, 15, 4)])


def test_subclassed_model_with_input_signature(tmp_path, rng):
    class Net(Model):
        def __init__(self):
            super().__init__()
            self.conv = Conv2D(4, 3, activation="relu")
            self.dense = Dense(3)

        def call(self, inputs, training=False):
            return self.dense(GlobalAveragePooling2D()(self.conv(inputs)))

    model = Net()
    x = rng.random((2, 9, 9, 2), dtype=np.float32)
    model.predict(x, verbose=0)
    with pytest.raises(ValueError, match="input_signature"):
        model.export(tmp_path / "net.onnx")
    model.export(tmp_path / "net.onnx", input_signature=[(None, 9, 9, 2)], verbose=False)
    session = ort.InferenceSession(str(tmp_path / "net.onnx"))
    for batch in (1, 5):
        x = rng.random((batch, 9, 9, 2), dtype=np.float32)
        np.testing.assert_allclose(session.run(None, {"input_0": x})[0], model.predict(x, verbose=0),
                                   atol=TOLERANCE, rtol=0)


def test_opset_version(tmp_path):
    model = LeNet()
    model.export(tmp_path / "m.onnx", verbose=False, opset_version=17)
    opsets = {o.domain: o.version for o in onnx.load(str(tmp_path / "m.onnx")).opset_import}
    assert opsets[""] == 17
    with pytest.raises(ValueError, match=r"opset_version must be an int.*Received: opset_version=3"):
        model.export(tmp_path / "m.onnx", opset_version=3)


# ---- bad input ----------------------------------------------------------------------------------------------


def test_unknown_format_suggests_onnx(tmp_path):
    model = LeNet()
    with pytest.raises(ValueError, match=r"Did you mean 'onnx'\?.*Received: format='onx'"):
        model.export(tmp_path / "m.onnx", format="onx")
    with pytest.raises(ValueError, match=r"only format='onnx'.*Received: format='tf_saved_model'"):
        model.export(tmp_path / "m", format="tf_saved_model")
    with pytest.raises(TypeError, match="Did you mean 'opset_version'"):
        model.export(tmp_path / "m.onnx", opset_versoin=17)
    assert os.listdir(tmp_path) == []


def test_unbuilt_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="has not yet been built"):
        Sequential([Dense(3)]).export(tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_unwritable_paths(tmp_path):
    model = LeNet()
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        model.export(tmp_path / "a_file" / "sub" / "m.onnx")
    with pytest.raises(ValueError, match="not a folder"):
        model.export(tmp_path)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(PermissionError, match="export: cannot write"):
                model.export(locked / "m.onnx", verbose=False)
        finally:
            locked.chmod(0o700)


def test_failed_export_keeps_the_previous_file(tmp_path):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous")
    inputs = Input(shape=(None, None, 1))
    model = Model(inputs, Conv2D(2, 3)(inputs))
    with pytest.raises(ValueError):
        model.export(target)
    assert target.read_bytes() == b"previous" and os.listdir(tmp_path) == ["m.onnx"]


def test_without_onnx_installed(tmp_path, monkeypatch):
    import sys  # noqa: PLC0415

    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(ImportError, match=r'pip install "cnnkit\[onnx\]"'):
        LeNet().export(tmp_path / "m.onnx")
