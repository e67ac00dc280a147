"""The model graph as a public interface: `Model(inputs, outputs)` is a `Functional` (Keras 3), sub-models cut out
of intermediate tensors (Keras as the oracle), and of tensors inside a nested model (a backbone in a Sequential),
which Keras cannot do: checked against the nested model run on its own."""

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit import Input
from cnnkit import Model
from cnnkit import Sequential
from cnnkit.layers import Activation
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.models import Functional
from cnnkit.visualization import grad_cam
from cnnkit.visualization import plot_feature_maps
from tests.models.conftest import randomize_keras_weights

SHAPE = (9, 9, 3)


def _chain(k):
    """A functional chain with a branch: Input -> conv -> bn -> relu -> (conv, conv) -> add -> gap -> dense."""
    L = k.layers
    inputs = L.Input(shape=SHAPE, name="image")
    x = L.Conv2D(4, 3, name="c1")(inputs)
    x = L.BatchNormalization(name="bn")(x)
    mid = L.Activation("relu", name="mid")(x)
    y = L.Add(name="add")([L.Conv2D(4, 3, padding="same", name="c2")(mid), L.Conv2D(4, 1, name="c3")(mid)])
    out = L.Dense(3, activation="softmax", name="out")(L.GlobalAveragePooling2D(name="gap")(y))
    return k.models.Model(inputs, out, name="chain")


def _backbone():
    inputs = Input(SHAPE)
    x = Conv2D(4, 3, name="inner_conv")(inputs)
    x = BatchNormalization(name="inner_bn")(x)
    x = Activation("relu", name="inner_relu")(x)
    return Model(inputs, Conv2D(5, 3, activation="relu", name="inner_last")(x), name="backbone")


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, Functional):
            _randomize(layer, seed + 1)
        elif layer.weights:
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") if w.ndim == 1 else
                               rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()])
    return model


def test_model_of_inputs_and_outputs_is_a_functional_and_the_kinds_are_classes():
    inputs = Input((4,))
    outputs = Dense(2)(inputs)
    model, by_keyword = Model(inputs, outputs), Model(inputs=inputs, outputs=outputs)
    assert type(model) is Functional and type(by_keyword) is Functional and isinstance(model, Model)
    sequential = Sequential([Dense(2, input_shape=(4,))])
    assert isinstance(sequential, Functional)

    class Subclassed(Model):
        def __init__(self):
            super().__init__()
            self.dense = Dense(2)

        def call(self, x, training=False):
            return self.dense(x)

    assert not isinstance(Subclassed(), Functional)

    class SubclassedFunctional(Model):  # Keras 3's "subclassed functional" model
        def __init__(self, units):
            x = Input((4,))
            super().__init__(x, Dense(units)(x))

    graph_model = SubclassedFunctional(3)
    assert isinstance(graph_model, Functional) and isinstance(graph_model, SubclassedFunctional)
    assert graph_model.output_shape == (None, 3)
    with pytest.raises(ValueError, match="both inputs and outputs"):
        Model(inputs=inputs)


@pytest.mark.parametrize("cut", ["mid", "add"])
def test_sub_model_from_an_intermediate_tensor_equals_keras(keras, tmp_path, cut):
    reference, model = _chain(keras), _chain(cnnkit)
    randomize_keras_weights(reference)
    model.set_weights(reference.get_weights())
    theirs = keras.Model(reference.get_layer(cut).output, reference.output)
    mine = Model(model.get_layer(cut).output, model.output)
    assert type(mine) is Functional
    assert [layer.name for layer in mine.layers[1:]] == [layer.name for layer in theirs.layers[1:]]
    assert mine.input_shape == tuple(theirs.input_shape)
    assert mine.count_params() == theirs.count_params()
    x = np.random.default_rng(1).normal(size=(2, *mine.input_shape[1:])).astype("float32")
    np.testing.assert_allclose(mine.predict(x, verbose=0), np.asarray(theirs(x)), atol=1e-5)
    # the original model is unchanged, and the sub-model saves as a file Keras opens
    assert model.get_layer("out").output is model.output
    path = str(tmp_path / "top.keras")
    mine.save(path)
    np.testing.assert_allclose(np.asarray(keras.models.load_model(path)(x)), np.asarray(theirs(x)), atol=1e-5)


def test_sub_model_reaches_into_a_backbone_nested_in_a_sequential():
    """Keras reports a disconnected graph here; cnnkit opens the backbone's call (the backbone runs once)."""
    backbone = _randomize(_backbone())
    model = _randomize(Sequential([Input(SHAPE), backbone, GlobalAveragePooling2D(), Dense(2, activation="softmax")]))
    x = np.random.default_rng(2).normal(size=(3, *SHAPE)).astype("float32")
    inner = model.output_of("inner_relu")
    assert inner is backbone.get_layer("inner_relu").output
    both = Model(model.inputs, [inner, model.output])
    calls = []
    hook = backbone.get_layer("inner_conv").register_forward_hook(lambda *args: calls.append(1))
    try:
        features, probabilities = both.predict(x, verbose=0)
    finally:
        hook.remove()
    assert calls == [1]
    on_its_own = Model(backbone.input, backbone.get_layer("inner_relu").output)
    np.testing.assert_allclose(features, on_its_own.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(probabilities, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert model.find_layer("inner_bn") is backbone.get_layer("inner_bn")
    with pytest.raises(ValueError, match="No such layer: 'inner_rel'.*inner_relu"):
        model.find_layer("inner_rel")


def test_an_opened_call_keeps_its_training_argument():
    """The transfer-learning guide calls the backbone with training=False: its BatchNormalization stays in
    inference mode in a sub-model that reaches inside it, even when that sub-model runs with training=True."""
    backbone = _randomize(_backbone())
    inputs = Input(SHAPE)
    model = Model(inputs, Dense(2)(GlobalAveragePooling2D()(backbone(inputs, training=False))))
    sub = Model(model.inputs, model.output_of("inner_bn"))
    assert [n.call_kwargs for n in sub.nodes if n.layer.name.startswith("inner")] == [{"training": False}] * 2
    bn = backbone.get_layer("inner_bn")
    before = bn.moving_mean.clone()
    x = torch.as_tensor(np.random.default_rng(3).normal(size=(4, *SHAPE)).astype("float32"))
    out = sub(x, training=True)
    torch.testing.assert_close(bn.moving_mean, before)  # no statistics update
    expected = Model(backbone.input, backbone.get_layer("inner_bn").output)(x, training=False)
    torch.testing.assert_close(out, expected)


def test_unreachable_and_ambiguous_tensors_are_clear_errors():
    backbone = _backbone()
    other = Input(SHAPE)
    with pytest.raises(ValueError, match="Graph disconnected"):
        Model(other, backbone.output)
    first, second = Input(SHAPE), Input(SHAPE)
    backbone(first)
    backbone(second)
    with pytest.raises(ValueError, match="called 2 times"):
        Model([first, second], backbone.get_layer("inner_relu").output)


def test_grad_cam_and_feature_maps_of_a_layer_inside_a_nested_backbone():
    """Grad-CAM of a backbone layer through the Sequential equals Grad-CAM of the same layer in the same network
    built as one flat functional model (the same layers, another graph)."""
    backbone = _randomize(_backbone())
    pool, head = GlobalAveragePooling2D(), Dense(3, activation="softmax")
    sequential = Sequential([Input(SHAPE), backbone, pool, head])
    _randomize(sequential)
    flat = Model(backbone.input, head(pool(backbone.output)))
    image = np.random.default_rng(4).uniform(size=SHAPE).astype("float32")
    for layer in ("inner_relu", "inner_last"):
        np.testing.assert_allclose(grad_cam(sequential, image, layer=layer, class_index=1),
                                   grad_cam(flat, image, layer=layer, class_index=1), atol=1e-6)
    fig = plot_feature_maps(sequential, image, layers=["inner_conv", "inner_last"])
    expected = Model(backbone.input, backbone.get_layer("inner_conv").output).predict(image[None], verbose=0)[0]
    np.testing.assert_allclose(fig.feature_maps["inner_conv"], expected, rtol=1e-5, atol=1e-5)


def test_sub_models_are_made_once_and_leave_the_model_usable():
    """model.submodel caches: repeated Grad-CAM or cached fits do not pile up recorded calls, and Sequential.pop
    still finds its own call of the last layer after sub-models re-recorded it."""
    model = Sequential([Input(SHAPE), Conv2D(4, 3, name="a"), Activation("relu", name="b"), Dense(2, name="c")])
    first = model.submodel(model.get_layer("a").output, model.output)
    calls = len(model.get_layer("c").inbound_nodes)
    assert model.submodel(model.get_layer("a").output, model.output) is first
    assert len(model.get_layer("c").inbound_nodes) == calls == 2  # its call in the model and in the sub-model
    popped = model.pop()
    assert popped.name == "c" and model.output_shape == (None, 7, 7, 4)
    x = np.random.default_rng(5).normal(size=(2, *SHAPE)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), Model(model.inputs, model.get_layer("b").output)
                               .predict(x, verbose=0))


def test_repeated_cached_fits_record_the_trained_layers_once():
    backbone = _backbone()
    backbone.trainable = False
    model = Sequential([Input(SHAPE), backbone, GlobalAveragePooling2D(), Dense(2, activation="softmax", name="out")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(8, *SHAPE)).astype("float32"), rng.integers(0, 2, 8)
    counts = []
    for _ in range(3):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, cache_frozen=True)
        counts.append(len(model.get_layer("out").inbound_nodes))
    assert counts[0] == counts[1] == counts[2]


def test_a_sub_model_through_a_training_false_call_keeps_its_fusion():
    from cnnkit.models import fusion  # noqa: PLC0415

    backbone = _backbone()
    inputs = Input(SHAPE)
    model = Model(inputs, GlobalAveragePooling2D()(backbone(inputs, training=False)))
    sub = Model(model.inputs, model.output_of("inner_relu"))
    assert fusion.fused_chains(sub) == [["inner_conv", "inner_bn", "inner_relu"]]
