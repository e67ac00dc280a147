"""Functional models: graphs with branches and several outputs, feature-map models, nested models, frozen
backbones, names, and Keras as the oracle (same weights -> same predictions, shapes and parameter counts)."""

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit import Input
from cnnkit import Model
from cnnkit import Sequential
from cnnkit.layers import Activation
from cnnkit.layers import Add
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Concatenate
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import Flatten
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.layers.node import SymbolicTensor

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")


def small_graph():
    inputs = Input(shape=(8, 8, 3))
    a = Conv2D(4, 3, padding="same", activation="relu")(inputs)
    b = Conv2D(4, 1)(inputs)
    added = Add()([a, b])
    joined = Concatenate()([added, a])
    flat = Flatten()(joined)
    return inputs, a, b, added, joined, Model(inputs, [Dense(3, activation="softmax")(flat), Dense(2)(flat)])


# ---- structure ----------------------------------------------------------------------------------------------


def test_branches_and_several_outputs(rng):
    inputs, a, b, added, joined, model = small_graph()
    assert model.name == "functional"
    assert joined.shape == (None, 8, 8, 8)
    assert model.output_shape == [(None, 3), (None, 2)]
    assert model.input_shape == (None, 8, 8, 3)
    out = model.predict(rng.normal(size=(5, 8, 8, 3)))
    assert isinstance(out, list) and [o.shape for o in out] == [(5, 3), (5, 2)]
    np.testing.assert_allclose(out[0].sum(axis=1), 1.0, rtol=1e-5)
    called = model(rng.normal(size=(2, 8, 8, 3)))
    assert isinstance(called, list) and [tuple(t.shape) for t in called] == [(2, 3), (2, 2)]


def test_layer_output_and_model_inputs_outputs():
    inputs, a, b, added, joined, model = small_graph()
    assert isinstance(model.inputs, list) and model.inputs[0] is inputs
    assert model.input is inputs
    assert isinstance(model.outputs, list) and len(model.outputs) == 2
    assert model.output == model.outputs
    conv = model.layers[1]
    assert conv.output is a
    assert conv.input is inputs
    assert model.get_layer("add").input == [a, b]
    assert model.get_layer("add").output is added
    assert all(isinstance(t, SymbolicTensor) for t in model.outputs)
    single = Model(inputs, added)
    assert single.output is added and single.outputs == [added]
    assert single.output_shape == (None, 8, 8, 4)


def test_inputs_are_checked_against_the_model(rng):
    inputs = Input(shape=(4,))
    model = Model(inputs, Dense(2)(inputs))
    for call in (model.predict, model):
        with pytest.raises(ValueError, match=r"Input 0 of model 'functional'.*expected shape=\(None, 4\), "
                                             r"found shape=\(3, 5\)"):
            call(np.zeros((3, 5)))
        with pytest.raises(ValueError, match="expects 1 input.*received 2"):
            call([np.zeros((3, 4)), np.zeros((3, 4))])
    with pytest.raises(ValueError, match=r"expected shape=\(None, 4\), found shape=\(None, 6\)"):
        model(Input(shape=(6,)))
    # Keras's rank adjustment: a missing or extra trailing axis of size 1.
    x = rng.normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x[..., None]), model.predict(x))
    images = Sequential([Conv2D(2, 3, input_shape=(8, 8, 1)), Flatten(), Dense(3)])
    gray = rng.uniform(size=(5, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(images.predict(gray), images.predict(gray[..., None]))
    assert tuple(images(gray).shape) == (5, 3)
    # Unknown axes accept any size.
    free = Input(shape=(None, None, 3))
    conv = Model(free, GlobalAveragePooling2D()(Conv2D(4, 3, strides=2, padding="same")(free)))
    assert conv.predict(rng.normal(size=(2, 17, 9, 3))).shape == (2, 4)
    assert conv.predict(rng.normal(size=(1, 32, 32, 3))).shape == (1, 4)


def test_symbolic_tensors_have_no_values():
    inputs = Input(shape=(4,))
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(Dense(2)(inputs))


def test_layers_order_follows_keras_not_creation_order(fresh_keras):
    def build(k):
        i = k.layers.Input((4,), name="inp")
        c, a, b = (k.layers.Dense(3, name=n) for n in "cab")
        side = c(i)
        main = b(a(i))
        return k.models.Model(i, [k.layers.Dense(2, name="d")(i), k.layers.Add(name="add")([main, side])])

    assert [layer.name for layer in build(cnnkit).layers] == [layer.name for layer in build(fresh_keras).layers]


def test_get_layer():
    inputs, a, b, added, joined, model = small_graph()
    assert model.get_layer("conv2d_1") is model.layers[2]
    assert model.get_layer(index=0).name == "input_layer"
    assert model.get_layer(index=-1) is model.layers[-1]
    with pytest.raises(ValueError, match="No such layer: 'conv2D'. Did you mean 'conv2d'"):
        model.get_layer("conv2D")
    with pytest.raises(ValueError, match="Did you mean 'concatenate'"):
        model.get_layer("concatnate")
    with pytest.raises(ValueError, match="index"):
        model.get_layer(index=99)


def test_unique_names_and_duplicates():
    inputs = Input(shape=(4,))
    layers = [Dense(2) for _ in range(3)]
    assert [layer.name for layer in layers] == ["dense", "dense_1", "dense_2"]
    assert Model(inputs, layers[0](inputs)).name == "functional"
    assert Model(inputs, layers[1](inputs)).name == "functional_1"
    with pytest.raises(ValueError, match=r"unique.*\['d'\]"):
        Model(inputs, Dense(2, name="d")(Dense(2, name="d")(inputs)))
    with pytest.raises(ValueError, match="name must be a string"):
        Dense(2, name=3)


def test_disconnected_graph():
    first, second = Input(shape=(4,)), Input(shape=(4,))
    out = Add()([Dense(2)(first), Dense(2)(second)])
    with pytest.raises(ValueError, match="Graph disconnected.*input_layer_1"):
        Model(first, out)
    with pytest.raises(TypeError, match="symbolic"):
        Model(first, np.zeros(3))
    with pytest.raises(ValueError, match="inputs and outputs"):
        Model(inputs=first)


def test_feature_map_model_shares_weights(rng, zoo):
    model = zoo.cifar_functional(cnnkit)
    outputs = [model.layers[i].output for i in (1, 3, 5)]
    model_short = Model(inputs=model.inputs, outputs=outputs)
    assert [layer.name for layer in model_short.layers] == [layer.name for layer in model.layers[:6]]
    assert model_short.count_params() == 896 + 18496 + 36928
    img = rng.uniform(size=(1, 32, 32, 3)).astype(np.float32)
    before = model_short.predict(img)
    assert [f.shape for f in before] == [(1, 30, 30, 32), (1, 13, 13, 64), (1, 4, 4, 64)]

    kernel, bias = model.layers[1].get_weights()
    model.layers[1].set_weights([kernel, bias + 1.0])  # change the original model only ...
    after = model_short.predict(img)  # ... and the short model sees it: the same layers, the same weights
    active = before[0] > 0  # relu(z + 1) = relu(z) + 1 where z > 0
    np.testing.assert_allclose(after[0][active], before[0][active] + 1.0, rtol=1e-5, atol=1e-5)
    assert np.all(after[0] >= before[0])
    assert not np.allclose(after[2], before[2])
    model_short.layers[3].set_weights([w * 0 for w in model_short.layers[3].get_weights()])
    np.testing.assert_array_equal(model.layers[3].get_weights()[0], 0)
    assert model.predict(img).shape == (1, 10)


def test_feature_map_model_matches_keras(keras, zoo, rng):
    theirs = zoo.cifar_functional(keras)
    zoo.randomize_keras_weights(theirs)
    mine = zoo.cifar_functional(cnnkit)
    mine.set_weights(theirs.get_weights())
    short_theirs = keras.Model(inputs=theirs.inputs, outputs=[theirs.layers[i].output for i in (1, 3, 5)])
    short_mine = Model(inputs=mine.inputs, outputs=[mine.layers[i].output for i in (1, 3, 5)])
    img = rng.uniform(size=(2, 32, 32, 3)).astype(np.float32)
    for got, want in zip(short_mine.predict(img), short_theirs.predict(img, verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mine.predict(img), theirs.predict(img, verbose=0), rtol=1e-5, atol=1e-6)
    assert zoo.output_shapes(mine) == zoo.output_shapes(theirs)
    assert zoo.param_counts(mine) == zoo.param_counts(theirs) == (122570, 122570, 0)
    assert zoo.param_counts(short_mine) == zoo.param_counts(short_theirs)


# ---- the Keras oracle on a branching model ------------------------------------------------------------------


@pytest.fixture
def branchy_pair(fresh_keras, zoo):
    keras = fresh_keras
    theirs = zoo.branchy(keras)
    zoo.randomize_keras_weights(theirs, seed=1)
    mine = zoo.branchy(cnnkit)
    mine.set_weights(theirs.get_weights())
    return mine, theirs


def test_branchy_matches_keras(branchy_pair, zoo, rng, keras):
    mine, theirs = branchy_pair
    assert [layer.name for layer in mine.layers] == [layer.name for layer in theirs.layers]
    assert [type(layer).__name__ for layer in mine.layers] == [type(layer).__name__ for layer in theirs.layers]
    assert zoo.output_shapes(mine) == zoo.output_shapes(theirs)
    assert [layer.count_params() for layer in mine.layers] == [layer.count_params() for layer in theirs.layers]
    assert zoo.param_counts(mine) == zoo.param_counts(theirs)
    x = rng.normal(size=(4, 15, 13, 3)).astype(np.float32)
    for got, want in zip(mine.predict(x), theirs.predict(x, verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # Every intermediate tensor, through a model with one output per layer.
    probe_mine = Model(mine.inputs, [layer.output for layer in mine.layers[1:]])
    probe_theirs = keras.Model(theirs.inputs, [layer.output for layer in theirs.layers[1:]])
    for layer, got, want in zip(mine.layers[1:], probe_mine.predict(x), probe_theirs.predict(x, verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=layer.name)


def test_branchy_training_call_matches_keras(branchy_pair, rng):
    mine, theirs = branchy_pair
    x = rng.normal(size=(6, 15, 13, 3)).astype(np.float32)
    got = mine(x, training=True)
    want = theirs(x, training=True)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.detach().numpy(), np.asarray(w), rtol=1e-4, atol=1e-4)
    # Batch statistics were used and the moving statistics updated the Keras way.
    for layer_name in ("main_bn", "head_bn"):
        for g, w in zip(mine.get_layer(layer_name).get_weights(), theirs.get_layer(layer_name).get_weights()):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=layer_name)
    inference = mine.predict(x)
    assert not np.allclose(inference[0], got[0].detach().numpy(), atol=1e-3)


def test_cifar_functional_matches_keras(fresh_keras, zoo, rng):
    keras = fresh_keras
    theirs = zoo.cifar_functional(keras)
    zoo.randomize_keras_weights(theirs)
    mine = zoo.cifar_functional(cnnkit)
    assert [layer.name for layer in mine.layers] == [layer.name for layer in theirs.layers]
    mine.set_weights(theirs.get_weights())
    x = rng.uniform(size=(3, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(mine.predict(x), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


# ---- models inside models -----------------------------------------------------------------------------------


def backbone_model(k, name="backbone"):
    L = k.layers
    inputs = L.Input(shape=(12, 12, 3))
    x = L.Conv2D(6, 3, padding="same")(inputs)
    x = L.BatchNormalization()(x)
    x = L.Activation("relu")(x)
    x = L.Conv2D(8, 3, strides=2)(x)
    return k.models.Model(inputs, x, name=name)


def frozen_classifier(k):
    backbone = backbone_model(k)
    backbone.trainable = False
    model = k.models.Sequential()
    model.add(backbone)
    model.add(k.layers.GlobalAveragePooling2D())
    model.add(k.layers.Dense(12, activation="softmax"))
    return backbone, model


def test_frozen_backbone_in_sequential(keras, zoo):
    backbone, model = frozen_classifier(cnnkit)
    k_backbone, k_model = frozen_classifier(keras)
    assert model.built
    assert model.output_shape == (None, 12) == k_model.output_shape
    assert zoo.param_counts(model) == zoo.param_counts(k_model)
    total, trainable, frozen = zoo.param_counts(model)
    assert trainable == 8 * 12 + 12
    assert frozen == backbone.count_params() == (3 * 3 * 3 * 6 + 6) + 4 * 6 + (3 * 3 * 6 * 8 + 8)
    assert all(not layer.trainable for layer in backbone.layers)
    assert all(not p.requires_grad for p in backbone.parameters())
    assert all(p.requires_grad for p in model.layers[-1].parameters())
    assert len(model.trainable_weights) == len(k_model.trainable_weights) == 2
    assert len(model.non_trainable_weights) == len(k_model.non_trainable_weights)
    assert [w.shape for w in model.get_weights()] == [w.shape for w in k_model.get_weights()]


def test_trainable_toggling_is_recursive():
    backbone, model = frozen_classifier(cnnkit)
    backbone.trainable = True
    assert all(layer.trainable for layer in backbone.layers)
    assert len(model.trainable_weights) == 2 + 2 + 2 + 2  # conv, bn gamma/beta, conv, dense
    model.trainable = False
    assert all(not layer.trainable for layer in backbone.layers)
    assert not model.layers[-1].trainable
    assert model.trainable_weights == []
    assert len(model.non_trainable_weights) == len(model.weights)
    assert all(not p.requires_grad for p in model.parameters())
    backbone.layers[1].trainable = True  # one inner layer back on
    assert backbone.layers[1].kernel.requires_grad


def test_frozen_batchnorm_stays_in_inference_mode(keras, rng):
    backbone, model = frozen_classifier(cnnkit)
    k_backbone, k_model = frozen_classifier(keras)
    bn_values = [rng.uniform(0.5, 1.5, 6), rng.normal(size=6), rng.normal(size=6), rng.uniform(0.5, 2, 6)]
    k_backbone.layers[2].set_weights([v.astype(np.float32) for v in bn_values])
    model.set_weights(k_model.get_weights())
    x = rng.normal(size=(4, 12, 12, 3)).astype(np.float32)
    inference = model(x, training=False).detach().numpy()
    training = model(x, training=True).detach().numpy()
    np.testing.assert_allclose(training, inference, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(training, np.asarray(k_model(x, training=True)), rtol=1e-5, atol=1e-6)
    for got, want in zip(backbone.layers[2].get_weights(), bn_values):
        np.testing.assert_allclose(got, want, rtol=1e-6)  # moving statistics untouched
    # Unfrozen, the same call uses (and updates) batch statistics.
    backbone.trainable = True
    k_backbone.trainable = True
    trained = model(x, training=True).detach().numpy()
    np.testing.assert_allclose(trained, np.asarray(k_model(x, training=True)), rtol=1e-4, atol=1e-5)
    assert not np.allclose(trained, inference, atol=1e-4)
    np.testing.assert_allclose(backbone.layers[2].get_weights()[2], k_backbone.layers[2].get_weights()[2],
                               rtol=1e-5, atol=1e-6)


def test_nested_model_predictions_match_keras(keras, zoo, rng):
    backbone, model = frozen_classifier(cnnkit)
    k_backbone, k_model = frozen_classifier(keras)
    zoo.randomize_keras_weights(k_model)
    model.set_weights(k_model.get_weights())
    x = rng.normal(size=(3, 12, 12, 3)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), k_model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    # The backbone is the same object: its own predictions agree with the Sequential's first stage.
    np.testing.assert_allclose(backbone.predict(x), k_backbone.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_model_called_on_new_input_shares_weights(rng):
    backbone = backbone_model(cnnkit)
    inputs = Input(shape=(12, 12, 3))
    features = backbone(inputs)
    outer = Model(inputs, Dense(2)(GlobalAveragePooling2D()(features)))
    assert outer.layers[1] is backbone
    assert outer.count_params() == backbone.count_params() + 8 * 2 + 2
    x = rng.normal(size=(2, 12, 12, 3)).astype(np.float32)
    before = outer.predict(x)
    conv = backbone.layers[-1]
    conv.set_weights([w * 2 for w in conv.get_weights()])
    assert not np.allclose(outer.predict(x), before)


# ---- ResNet50 -----------------------------------------------------------------------------------------------


def test_resnet50_graph(fresh_keras, zoo, rng):
    keras = fresh_keras
    mine = zoo.resnet50(cnnkit, input_shape=(64, 64, 3))
    assert mine.count_params() == 25_636_712
    theirs = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3))
    assert theirs.count_params() == 25_636_712
    assert zoo.param_counts(mine) == zoo.param_counts(theirs)
    assert [layer.name for layer in mine.layers] == [layer.name for layer in theirs.layers]
    assert zoo.output_shapes(mine) == zoo.output_shapes(theirs)
    mine.set_weights(theirs.get_weights())  # Keras's weight order is the graph order cnnkit lists
    x = rng.uniform(0, 255, size=(1, 64, 64, 3)).astype(np.float32)
    features_mine = Model(mine.inputs, mine.get_layer("conv5_block3_out").output)
    features_theirs = keras.Model(theirs.input, theirs.get_layer("conv5_block3_out").output)
    want = np.asarray(features_theirs(x, training=False))
    np.testing.assert_allclose(features_mine.predict(x), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    lines = []
    mine.summary(print_fn=lines.append)
    assert "Total params: 25,636,712" in "\n".join(lines)


def test_resnet50_frozen_backbone_param_counts(zoo):
    backbone = zoo.resnet50(cnnkit, include_top=False, input_shape=(150, 150, 3))
    assert backbone.count_params() == 23_587_712
    assert backbone.output_shape == (None, 5, 5, 2048)
    backbone.trainable = False
    model = Sequential()
    model.add(backbone)
    model.add(GlobalAveragePooling2D())
    model.add(Dense(12, activation="softmax"))
    total, trainable, frozen = zoo.param_counts(model)
    assert (total, trainable, frozen) == (23_587_712 + 2048 * 12 + 12, 2048 * 12 + 12, 23_587_712)
    text = zoo.summary_text(model)
    assert "Non-trainable params: 23,587,712" in text
    assert "resnet50 (Functional)" in text


def test_model_has_no_hidden_torch_state():
    """Weights are registered torch parameters/buffers, under their layer's name."""
    inputs = Input(shape=(4, 4, 2))
    x = Conv2D(3, 3)(inputs)
    x = BatchNormalization()(x)
    model = Model(inputs, Activation("relu")(x))
    keys = set(model.state_dict())
    assert {"conv2d.kernel", "conv2d.bias", "batch_normalization.gamma", "batch_normalization.moving_mean"} <= keys
    assert sum(p.numel() for p in model.parameters()) == 3 * 3 * 2 * 3 + 3 + 3 * 2
    assert isinstance(model, torch.nn.Module)


def test_forward_hooks_registered_after_building_see_fused_conv_and_pool():
    """A conv + relu + max-pool pair runs fused; a hook added later still fires with the layer's own output."""
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    import cnnkit  # noqa: PLC0415
    from cnnkit.layers import Conv2D, Dense, Flatten, MaxPooling2D  # noqa: PLC0415

    model = cnnkit.Sequential([cnnkit.Input((8, 8, 1)), Conv2D(2, 3, activation="relu"), MaxPooling2D(),
                               Flatten(), Dense(3)])
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
    before = np.asarray(model.predict(x, verbose=0))
    seen = {}
    handles = [model.layers[0].register_forward_hook(lambda m, i, o: seen.setdefault("conv", o)),
               model.layers[1].register_forward_hook(lambda m, i, o: seen.setdefault("pool", o))]
    after = np.asarray(model.predict(x, verbose=0))
    for h in handles:
        h.remove()
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-6)
    assert set(seen) == {"conv", "pool"}
    conv = model.layers[0]
    expected = torch.relu(torch.nn.functional.conv2d(torch.from_numpy(x).permute(0, 3, 1, 2),
                                                     conv.kernel.detach().contiguous(), conv.bias.detach()))
    np.testing.assert_allclose(seen["conv"].detach().numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
