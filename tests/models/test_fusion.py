"""The fusion pass (`cnnkit.models.fusion`): which chains are fused, and that a fused plan computes what the layers
compute one by one (Keras as the oracle): conv -> BatchNormalization (-> relu) folded into one convolution in
inference and frozen fits, conv -> max pooling with the activation after the pooling, per-layer dtype policies and
hooks respected."""

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit.models import fusion
from cnnkit.ops import functional
from tests.models.conftest import randomize_keras_weights


def _block(k, use_bias, scale, center):
    L = k.layers
    inputs = L.Input(shape=(9, 9, 3))
    x = L.Conv2D(6, 3, strides=2, padding="same", use_bias=use_bias, name="conv")(inputs)
    x = L.BatchNormalization(epsilon=1.001e-5, scale=scale, center=center, name="bn")(x)
    x = L.Activation("relu", name="relu")(x)
    x = L.Conv2D(4, 1, name="conv_2")(x)
    x = L.BatchNormalization(name="bn_2")(x)  # folded without an activation
    outputs = L.Dense(2)(L.Flatten()(x))
    return k.models.Model(inputs, outputs)


def _pool_block(k, activation="relu", pool="MaxPooling2D", conv_dtype=None):
    L = k.layers
    inputs = L.Input(shape=(8, 8, 3))
    x = L.Conv2D(5, 3, padding="same", activation=activation, name="conv", dtype=conv_dtype)(inputs)
    x = getattr(L, pool)(name="pool")(x)
    return k.models.Model(inputs, L.Dense(2, name="head")(L.Flatten()(x)) if pool.startswith("Max") else x)


def _unfused(build, *args, **kwargs):
    fusion.ENABLED = False
    try:
        return build(*args, **kwargs)
    finally:
        fusion.ENABLED = True


def test_folded_inference_matches_keras_and_follows_weight_changes(keras, rng):
    x = rng.uniform(-1, 1, (4, 9, 9, 3)).astype("float32")
    for use_bias, scale, center in ((True, True, True), (False, False, True), (True, True, False)):
        reference = _block(keras, use_bias, scale, center)
        model = _block(cnnkit, use_bias, scale, center)
        assert fusion.fused_chains(model) == [["conv", "bn", "relu"], ["conv_2", "bn_2"]]
        for seed in (0, 1):  # the second set of weights must replace the folded kernel made from the first
            randomize_keras_weights(reference, seed)
            model.set_weights(reference.get_weights())
            np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0), atol=1e-5)


def test_frozen_fit_folds_and_trainable_fit_does_not(keras, rng):
    x = rng.uniform(-1, 1, (8, 9, 9, 3)).astype("float32")
    y = rng.uniform(-1, 1, (8, 2)).astype("float32")
    for freeze in (True, False):
        reference, model = _block(keras, True, True, True), _block(cnnkit, True, True, True)
        randomize_keras_weights(reference)
        model.set_weights(reference.get_weights())
        for kit, k_model in ((keras, reference), (cnnkit, model)):
            for name in ("conv", "bn", "conv_2", "bn_2"):
                k_model.get_layer(name).trainable = not freeze
            k_model.compile(optimizer=kit.optimizers.SGD(learning_rate=0.1), loss="mse")
        reference.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        for got, want in zip(model.get_weights(), reference.get_weights()):
            np.testing.assert_allclose(got, want, atol=1e-4)


def test_fusion_off_runs_layer_by_layer():
    assert fusion.fused_chains(_unfused(_block, cnnkit, True, True, True)) == []


@pytest.mark.parametrize("pool", ["MaxPooling2D", "GlobalMaxPooling2D"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "softmax"])
def test_pool_before_a_monotonic_activation_equals_keras_and_the_unfused_plan(keras, rng, pool, activation):
    x = rng.normal(size=(3, 8, 8, 3)).astype("float32")
    reference, model = _pool_block(keras, activation, pool), _pool_block(cnnkit, activation, pool)
    unfused = _unfused(_pool_block, cnnkit, activation, pool)
    randomize_keras_weights(reference)
    model.set_weights(reference.get_weights())
    unfused.set_weights(reference.get_weights())
    # softmax over the channels is not element-wise: max pooling does not commute with it
    assert fusion.fused_chains(model) == ([] if activation == "softmax" else [["conv", "pool"]])
    got = model.predict(x, verbose=0)
    np.testing.assert_allclose(got, reference.predict(x, verbose=0), atol=1e-5)
    np.testing.assert_allclose(got, unfused.predict(x, verbose=0), atol=1e-6)


def test_a_float32_conv_in_a_mixed_model_is_not_fused_across_policies(keras, rng):
    """A conv with dtype='float32' before a max pooling in a mixed_bfloat16 model computes in float32 (Keras's
    per-layer policy), which a fused conv+pool run under the pool's policy would not."""
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    keras.config.set_dtype_policy("mixed_bfloat16")
    cnnkit.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        reference = _pool_block(keras, conv_dtype="float32")
        model = _pool_block(cnnkit, conv_dtype="float32")
        same_policy = _pool_block(cnnkit)
    finally:
        keras.config.set_dtype_policy("float32")
        cnnkit.mixed_precision.set_global_policy("float32")
    assert fusion.fused_chains(model) == []
    assert fusion.fused_chains(same_policy) == [["conv", "pool"]]
    randomize_keras_weights(reference)
    model.set_weights(reference.get_weights())
    conv_out = cnnkit.Model(model.inputs, model.get_layer("conv").output)(x)
    assert conv_out.dtype == torch.float32
    want = np.asarray(keras.Model(reference.inputs, reference.get_layer("conv").output)(x))
    np.testing.assert_allclose(conv_out.numpy(), want, atol=1e-5)  # float32 exactly, not bfloat16 rounding
    np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(reference(x), dtype="float32"), atol=3e-2)


def test_a_fused_chain_runs_its_layers_when_a_hook_is_registered(rng):
    model = _pool_block(cnnkit)
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    before = model.predict(x, verbose=0)
    seen = []
    handle = model.get_layer("pool").register_forward_hook(lambda module, args, out: seen.append(out.shape))
    try:
        np.testing.assert_allclose(model.predict(x, verbose=0), before, atol=1e-6)
    finally:
        handle.remove()
    assert seen == [torch.Size([2, 5, 4, 4])]


def _bn_relu_pool_block(k, relu):
    L = k.layers
    inputs = L.Input(shape=(8, 8, 3))
    x = L.Conv2D(6, 3, padding="same", use_bias=False, name="conv")(inputs)
    x = L.BatchNormalization(name="bn")(x)
    x = (L.ReLU(6.0, name="act") if relu == "relu6" else L.Activation(relu, name="act"))(x)
    x = L.MaxPooling2D(name="pool")(x)
    y = L.Conv2D(4, 3, name="conv_b")(x)
    y = L.Activation("relu", name="act_b")(y)
    y = L.MaxPooling2D(name="pool_b")(y)
    return k.models.Model(inputs, L.Dense(2, name="head")(L.Flatten()(y)))


@pytest.mark.parametrize("relu", ["relu", "relu6", "softmax"])
def test_conv_bn_activation_pool_chains_equal_keras_in_inference_and_training(keras, rng, relu):
    """conv -> BN -> activation layer -> max pool (VGG/MobileNet style) folds with the pooling before the
    activation; conv -> Activation layer -> max pool pools first; a non-monotonic activation keeps its order."""
    x = rng.normal(size=(4, 8, 8, 3)).astype("float32")
    reference, model = _bn_relu_pool_block(keras, relu), _bn_relu_pool_block(cnnkit, relu)
    randomize_keras_weights(reference)
    model.set_weights(reference.get_weights())
    expected = [["conv", "bn", "act", "pool"], ["conv_b", "act_b", "pool_b"]]
    if relu == "softmax":
        expected[0] = ["conv", "bn"]
    assert fusion.fused_chains(model) == expected
    np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0), atol=1e-5)
    y = rng.normal(size=(4, 2)).astype("float32")
    for kit, m in ((keras, reference), (cnnkit, model)):
        m.compile(optimizer=kit.optimizers.SGD(learning_rate=0.05), loss="mse")
    reference.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-4)


_PRODUCERS = {
    "depthwise": lambda L: L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, name="conv"),
    "separable": lambda L: L.SeparableConv2D(6, 3, padding="same", use_bias=False, name="conv"),
    "transpose": lambda L: L.Conv2DTranspose(5, 3, strides=2, padding="same", name="conv"),
    "conv1d_like_2d": lambda L: L.Conv2D(4, (1, 3), dilation_rate=2, name="conv"),
}


@pytest.mark.parametrize("kind", list(_PRODUCERS))
def test_every_convolution_folds_a_batch_normalization_as_keras_computes_it(keras, rng, kind):
    """MobileNet's depthwise -> BN -> ReLU(6), Xception's separable -> BN, a decoder's transpose -> BN."""
    def build(k):
        L = k.layers
        inputs = L.Input(shape=(7, 7, 3))
        x = _PRODUCERS[kind](L)(inputs)
        x = L.BatchNormalization(name="bn")(x)
        x = L.ReLU(6.0, name="act")(x)
        return k.models.Model(inputs, L.Flatten()(x))

    reference, model = build(keras), build(cnnkit)
    assert fusion.fused_chains(model) == [["conv", "bn", "act"]]
    x = rng.normal(size=(3, 7, 7, 3)).astype("float32")
    for seed in (0, 1):
        randomize_keras_weights(reference, seed)
        model.set_weights(reference.get_weights())
        np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0), atol=2e-5)


def test_a_backward_hook_makes_the_chain_run_layer_by_layer(rng):
    model = _pool_block(cnnkit)
    x = torch.as_tensor(rng.normal(size=(2, 8, 8, 3)).astype("float32"))
    seen = []
    handle = model.get_layer("conv").register_full_backward_hook(lambda module, gin, gout: seen.append(1))
    try:
        model(x, training=True).sum().backward()
    finally:
        handle.remove()
    assert seen == [1]


def _biased_pool_block(k, pool):
    L = k.layers
    inputs = L.Input(shape=(9, 9, 2))
    x = L.Conv2D(4, 3, padding="same", name="conv_a")(inputs)
    x = L.Conv2D(5, 3, activation="relu", name="conv")(x)                  # 7x7: the 2x2 pooling drops a row
    x = getattr(L, pool)(name="pool")(x)
    return k.models.Model(inputs, L.Dense(3, name="head")(L.Flatten()(x)))


@pytest.mark.parametrize("pool", ["MaxPooling2D", "GlobalMaxPooling2D"])
def test_the_bias_added_after_the_pooling_trains_as_keras(keras, rng, pool, monkeypatch):
    """conv (with a bias) -> relu -> max pooling runs as the convolution without its bias, the pooling, then the
    bias and relu, while the bias trains: Keras's weights after a few SGD steps, on images with ties too (blank
    and constant ones), and the unfused plan's input gradients."""
    x = rng.normal(size=(6, 9, 9, 2)).astype("float32")
    x[0], x[1] = 0.0, 0.7
    y = rng.normal(size=(6, 3)).astype("float32")
    reference, model = _biased_pool_block(keras, pool), _biased_pool_block(cnnkit, pool)
    unfused = _unfused(_biased_pool_block, cnnkit, pool)
    assert fusion.fused_chains(model) == [["conv", "pool"]]
    randomize_keras_weights(reference)
    for m in (model, unfused):
        m.set_weights(reference.get_weights())
    convolve, biases = functional.conv, []
    monkeypatch.setattr(functional, "conv", lambda x, kernel, bias, *args: biases.append(bias) or convolve(
        x, kernel, bias, *args))
    inputs = [torch.tensor(x, requires_grad=True) for _ in range(2)]
    for m, t in zip((model, unfused), inputs):
        (m(t, training=True) * torch.as_tensor(y)).sum().backward()
    assert [b is None for b in biases] == [False, True, False, False]  # conv_a, conv (fused), then unfused
    biases.clear()
    model.predict(x[:2], verbose=0)  # no gradient: the convolution adds its bias
    assert [b is None for b in biases] == [False, False]
    monkeypatch.undo()
    np.testing.assert_allclose(inputs[0].grad.numpy(), inputs[1].grad.numpy(), atol=1e-6)
    for kit, m in ((keras, reference), (cnnkit, model)):
        m.compile(optimizer=kit.optimizers.SGD(learning_rate=0.05), loss="mse")
        m.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0), atol=1e-5)


class _DoubledConv(cnnkit.layers.Conv2D):
    """A user's subclass with its own `call`."""

    def call(self, inputs, training=False):
        return super().call(inputs) * 2.0


class _ShiftedConv(cnnkit.layers.Conv2D):
    """A user's subclass with its own `convolve` (the linear part)."""

    def convolve(self, inputs):
        return super().convolve(inputs) + 1.0


@pytest.mark.parametrize("conv_class", [_DoubledConv, _ShiftedConv])
def test_a_subclass_with_its_own_computation_runs_as_written(rng, conv_class):
    """Fusion would replace the subclass's computation by the declared one; such layers stay unfused, in inference
    and in training, and compute 2 * relu(conv) pooled or relu(conv + 1) pooled (checked with numpy pooling)."""
    L = cnnkit.layers
    inputs = L.Input(shape=(8, 8, 3))
    conv = conv_class(4, 3, activation="relu", name="conv")
    model = cnnkit.Model(inputs, L.MaxPooling2D(name="pool")(conv(inputs)))
    plain = cnnkit.Model(inputs, conv(inputs))
    assert fusion.fused_chains(model) == []
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    maps = plain.predict(x, verbose=0)                                              # (2, 6, 6, 4)
    want = maps.reshape(2, 3, 2, 3, 2, 4).max(axis=(2, 4))
    np.testing.assert_allclose(model.predict(x, verbose=0), want, atol=1e-6)
    got = model(torch.as_tensor(x), training=True)
    got.sum().backward()
    np.testing.assert_allclose(got.detach().numpy(), want, atol=1e-6)
    assert conv.bias.grad is not None
