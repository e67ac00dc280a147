"""`cnnkit.ops` in models: ops on functional-model tensors recorded as Keras 3's auto-wrapped operations (config
form, `.keras` files crossing both ways with Keras), a custom layer and a custom loss written only with
`cnnkit.ops` (fit, `.keras` round trip), keras.io's siamese contrastive loss, ONNX export, and gradients
(torch.autograd.gradcheck in float64 on tiny inputs)."""

import json

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit import ops
from cnnkit.config import custom_object_scope
from cnnkit.layers import Dense
from cnnkit.layers import Input
from cnnkit.layers import Lambda
from cnnkit.layers import Layer
from cnnkit.models import Model
from cnnkit.models import load_model
from cnnkit.models.functional import Functional
from cnnkit.saving import register_keras_serializable


def _build(kit):
    x = kit.layers.Input((4, 6))
    d = kit.layers.Dense(6, name="d")(x)
    y = kit.ops.mean(kit.ops.square(d), axis=-1, keepdims=True)
    z = kit.ops.maximum(y, 0.1)
    s = kit.ops.nn.softmax(kit.ops.transpose(d, (0, 2, 1)), axis=1)
    w = kit.ops.concatenate([kit.ops.transpose(s, (0, 2, 1)), z], axis=-1)
    r = kit.ops.reshape(kit.ops.where(w > 0.2, w, 0.0), (-1, 28))
    return kit.models.Model(x, kit.layers.Dense(2, name="o")(kit.ops.clip(-(r ** 2), -0.9, 0.0)))


def test_ops_on_symbolic_tensors_match_keras_graph_and_files(keras, tmp_path):
    keras.backend.clear_session()
    cnnkit.utils.clear_session()
    ours, theirs = _build(cnnkit), _build(keras)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers] == ["input_layer", "d",
                                                                                                 "o"]
    theirs.set_weights(ours.get_weights())
    x = np.random.default_rng(0).normal(size=(3, 4, 6)).astype("float32")
    expected = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    ours_cfg = {spec["name"]: spec for spec in ours.get_config()["layers"]}
    theirs_cfg = {spec["name"]: spec for spec in theirs.get_config()["layers"]}
    assert set(ours_cfg) == set(theirs_cfg)
    keys = ("module", "class_name", "config", "registered_name")
    for name in ("square", "mean", "maximum", "transpose", "softmax", "concatenate", "greater", "where", "reshape",
                 "power", "negative", "clip"):
        assert {k: ours_cfg[name][k] for k in keys} == {k: theirs_cfg[name][k] for k in keys}, name
        assert json.loads(json.dumps(ours_cfg[name]["inbound_nodes"])) == \
            json.loads(json.dumps(theirs_cfg[name]["inbound_nodes"])), name
    ours.save(tmp_path / "ours.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "ours.keras").predict(x, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)
    theirs.save(tmp_path / "theirs.keras")
    np.testing.assert_allclose(load_model(tmp_path / "theirs.keras").predict(x, verbose=0), expected, rtol=1e-5,
                               atol=1e-6)
    again = Functional.from_config(ours.get_config())
    again.set_weights(ours.get_weights())
    np.testing.assert_allclose(again.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_image_and_multi_output_ops_on_symbolic_tensors(keras):
    x = Input((6, 6, 3))
    y = ops.image.resize(x, (3, 3))
    parts = ops.split(y, 3, axis=-1)
    model = Model(x, ops.add(parts[0], ops.nn.relu(parts[2])))
    assert model.output_shape == (None, 3, 3, 1)
    data = np.random.default_rng(1).uniform(size=(2, 6, 6, 3)).astype("float32")
    resized = keras.ops.image.resize(data, (3, 3)).numpy()
    np.testing.assert_allclose(model.predict(data, verbose=0), resized[..., :1] + np.maximum(resized[..., 2:], 0),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(NotImplementedError, match="shape"):
        ops.shape(x)
    with pytest.raises(NotImplementedError, match="axes_lengths"):  # Keras keeps them as call kwargs; not here
        ops.rearrange(x, "b (h h1) w c -> b h w (c h1)", h1=2)
    assert ops.rearrange(x, "b h w c -> b (h w) c").shape == (None, 36, 3)


def _build_typed(kit):
    x = kit.layers.Input((3,))
    keep = kit.ops.logical_not(x > 0.5)
    return kit.models.Model(x, [kit.ops.where(keep, x, 0.0), kit.ops.cast(keep, "int32"),
                                kit.ops.one_hot(kit.ops.argmax(x, axis=-1), 3, dtype="float64")])


def test_symbolic_ops_with_dtypes_match_keras(keras):
    """Bool, int and float64 outputs (dtype among the constructor arguments, as Keras's Cast and OneHot)."""
    keras.backend.clear_session()
    ours, theirs = _build_typed(cnnkit), _build_typed(keras)
    assert [t.dtype for t in ours.outputs] == [keras.backend.standardize_dtype(t.dtype) for t in theirs.outputs]
    keys = ("module", "class_name", "config")
    assert [{k: spec[k] for k in keys} for spec in ours.get_config()["layers"][1:]] == \
        [{k: spec[k] for k in keys} for spec in theirs.get_config()["layers"][1:]]
    x = np.array([[0.1, 0.7, 0.9], [0.8, 0.2, 0.3]], "float32")
    for a, b in zip(Functional.from_config(ours.get_config()).predict(x, verbose=0), theirs.predict(x, verbose=0)):
        np.testing.assert_allclose(a, b)


@register_keras_serializable(package="ops_test")
class Gate(Layer):
    """A gated dense layer written only with cnnkit.ops (rank-2 inputs)."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.add_weight("kernel", (input_shape[-1], self.units))
        self.add_weight("bias", (self.units,), initializer="zeros")

    def call(self, inputs, training=False):
        linear = ops.add(ops.matmul(inputs, self.kernel), self.bias)
        return ops.multiply(ops.sigmoid(linear), ops.tanh(linear))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@register_keras_serializable(package="ops_test")
def weighted_mse(y_true, y_pred):
    return ops.mean(ops.square(ops.subtract(y_true, y_pred)) * ops.convert_to_tensor([1.0, 2.0, 0.5]), axis=-1)


def test_custom_layer_and_loss_written_with_ops_train_and_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = np.tanh(x[:, :3] * 0.5).astype("float32") * 0.4
    inputs = Input((5,))
    model = Model(inputs, Gate(3, name="gate")(Dense(8, activation="relu")(inputs)))
    model.compile(optimizer="adam", loss=weighted_mse)
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    expected = model.predict(x[:4], verbose=0)
    # registered (register_keras_serializable): the class and the loss function travel in the file's configs
    model.save(tmp_path / "gate.keras")
    loaded = load_model(tmp_path / "gate.keras")
    np.testing.assert_allclose(loaded.predict(x[:4], verbose=0), expected, rtol=1e-6, atol=1e-7)
    assert loaded.get_layer("gate").units == 3
    before = loaded.evaluate(x, y, verbose=0)  # compiled with the registered loss, no compile() needed
    np.testing.assert_allclose(before, model.evaluate(x, y, verbose=0), rtol=1e-5)
    loaded.fit(x, y, epochs=1, batch_size=32, verbose=0)
    with custom_object_scope({"Gate": Gate}):  # a scope still works (and wins over the registry)
        again = load_model(tmp_path / "gate.keras")
    assert type(again.get_layer("gate")) is Gate


def test_siamese_contrastive_loss_example_runs(keras):
    """keras.io's siamese network with a contrastive loss, with `ops` as cnnkit.ops (the loss against Keras's)."""

    def euclidean_distance(vects):
        x, y = vects
        sum_square = ops.sum(ops.square(x - y), axis=1, keepdims=True)
        return ops.sqrt(ops.maximum(sum_square, cnnkit.config.epsilon()))

    def loss(margin=1):
        def contrastive_loss(y_true, y_pred):
            square_pred = ops.square(y_pred)
            margin_square = ops.square(ops.maximum(margin - (y_pred), 0))
            return ops.mean((1 - y_true) * square_pred + (y_true) * margin_square)

        return contrastive_loss

    rng = np.random.default_rng(0)
    y_true = torch.as_tensor(rng.integers(0, 2, size=(6, 1)).astype("float32"))  # fit passes tensors
    y_pred = torch.as_tensor(rng.uniform(0, 2, size=(6, 1)).astype("float32"))
    kops = keras.ops
    t, p = y_true.numpy(), y_pred.numpy()
    expected = kops.mean((1 - t) * kops.square(p) + t * kops.square(kops.maximum(1 - p, 0)))
    np.testing.assert_allclose(loss(1)(y_true, y_pred).numpy(), np.asarray(expected), rtol=1e-6)

    tower_input = Input((8,))
    tower = Model(tower_input, Dense(4, activation="tanh")(tower_input))
    a, b = Input((8,)), Input((8,))
    merged = Lambda(euclidean_distance, output_shape=(1,))([tower(a), tower(b)])
    siamese = Model([a, b], Dense(1, activation="sigmoid")(cnnkit.layers.BatchNormalization()(merged)))
    siamese.compile(loss=loss(margin=1), optimizer="RMSprop", metrics=["accuracy"])
    pairs = [rng.normal(size=(32, 8)).astype("float32") for _ in range(2)]
    labels = rng.integers(0, 2, size=(32, 1)).astype("float32")
    history = siamese.fit(pairs, labels, batch_size=16, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_onnx_export_of_a_model_with_ops(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    inputs = Input((5,))
    hidden = Gate(4, name="gate")(inputs)
    model = Model(inputs, Dense(2)(ops.nn.softmax(ops.multiply(hidden, ops.mean(hidden, axis=-1, keepdims=True)))))
    model.export(tmp_path / "ops.onnx", verbose=False)
    session = ort.InferenceSession(str(tmp_path / "ops.onnx"))
    x = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0],
                               model.predict(x, verbose=0), atol=1e-5, rtol=0)


def _t(*shape, low=-1.0, high=1.0):
    return lambda g: (torch.rand(*shape, generator=g, dtype=torch.float64) * (high - low) + low).requires_grad_()


GRADIENT_CASES = [
    ("add", [_t(2, 3), _t(3)], {}), ("multiply", [_t(2, 3), _t(2, 3)], {}),
    ("divide", [_t(3), _t(3, low=1, high=2)], {}),
    ("power", [_t(3, low=0.5, high=2), _t(3)], {}), ("sqrt", [_t(3, low=0.5, high=2)], {}), ("exp", [_t(3)], {}),
    ("log", [_t(3, low=0.5, high=2)], {}), ("tanh", [_t(3)], {}), ("sigmoid", [_t(3)], {}), ("gelu", [_t(3)], {}),
    ("softplus", [_t(3)], {}), ("elu", [_t(4)], {}), ("softmax", [_t(2, 3)], {}),
    ("log_softmax", [_t(2, 3)], {"axis": 0}),
    ("mean", [_t(2, 3)], {"axis": 1}), ("sum", [_t(2, 3)], {}), ("std", [_t(2, 3)], {"axis": 0}),
    ("var", [_t(2, 3)], {}), ("max", [_t(2, 3)], {"axis": 1}), ("logsumexp", [_t(2, 3)], {"axis": -1}),
    ("cumsum", [_t(2, 3)], {"axis": 1}), ("matmul", [_t(2, 3), _t(3, 2)], {}),
    ("einsum", ["ij,jk->ik", _t(2, 3), _t(3, 2)], {}), ("norm", [_t(2, 3)], {}), ("normalize", [_t(2, 3)], {}),
    ("concatenate", [lambda g: [_t(2, 2)(g), _t(2, 1)(g)]], {"axis": 1}), ("reshape", [_t(2, 3), (3, 2)], {}),
    ("transpose", [_t(2, 3)], {}), ("take", [_t(2, 3), [2, 0]], {"axis": 1}), ("clip", [_t(4), -0.5, 0.5], {}),
    ("where", [[True, False, True], _t(3), _t(3)], {}), ("pad", [_t(2, 2), ((1, 0), (0, 1))], {}),
    ("conv", [_t(1, 3, 3, 1), _t(2, 2, 1, 2)], {"padding": "same", "strides": 2}),
    ("depthwise_conv", [_t(1, 3, 3, 2), _t(2, 2, 2, 1)], {}),
    ("conv_transpose", [_t(1, 3, 3, 2), _t(2, 2, 1, 2)], {"strides": 2, "padding": "same"}),
    ("max_pool", [_t(1, 4, 4, 1), 2], {}), ("average_pool", [_t(1, 5, 5, 1), 3], {"strides": 2, "padding": "same"}),
    ("layer_normalization", [_t(2, 4)], {}), ("batch_normalization", [_t(2, 3), _t(3), _t(3, low=0.5, high=1), -1], {}),
    ("binary_crossentropy", [lambda g: torch.rand(3, generator=g, dtype=torch.float64), _t(3, low=0.1, high=0.9)], {}),
    ("categorical_crossentropy", [lambda g: torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64), _t(1, 3)],
     {"from_logits": True}),
    ("dot_product_attention", [_t(1, 2, 1, 2), _t(1, 3, 1, 2), _t(1, 3, 1, 2)], {}),
]
IMAGE_GRADIENT_CASES = [
    ("resize", [_t(1, 3, 3, 1), (5, 4)], {}),
    ("affine_transform", [_t(1, 4, 4, 1), [1.0, 0.1, 0.3, 0.0, 0.9, 0.2, 0, 0]], {}),
    ("map_coordinates", [_t(3, 3), lambda g: torch.tensor([[0.3, 1.6], [1.2, 0.4]], dtype=torch.float64), 1], {}),
]


@pytest.mark.parametrize("case", GRADIENT_CASES + IMAGE_GRADIENT_CASES, ids=lambda c: c[0])
def test_gradients_match_finite_differences(case):
    """A representative subset of the differentiable ops (elementwise, reductions, products, shape ops,
    convolutions, pooling, normalization, losses, attention, image resampling): torch.autograd.gradcheck."""
    name, makers, kwargs = case
    g = torch.Generator().manual_seed(0)
    args = [m(g) if callable(m) else m for m in makers]
    function = getattr(ops.image if case in IMAGE_GRADIENT_CASES else ops, name)
    leaves = [a for a in args if isinstance(a, torch.Tensor) and a.requires_grad]
    leaves += [t for a in args if isinstance(a, list) for t in a if isinstance(t, torch.Tensor)]

    def run(*tensors):
        it = iter(tensors)
        rebuilt = []
        for a in args:
            if isinstance(a, torch.Tensor) and a.requires_grad:
                rebuilt.append(next(it))
            elif isinstance(a, list) and a and isinstance(a[0], torch.Tensor):
                rebuilt.append([next(it) for _ in a])
            else:
                rebuilt.append(a)
        out = function(*rebuilt, **kwargs)
        return out if isinstance(out, torch.Tensor) else out[0]

    assert torch.autograd.gradcheck(run, tuple(leaves), eps=1e-6, atol=1e-5)
