"""Conv -> BatchNormalization (-> relu) folded into one convolution (graph.py) against Keras: inference, frozen
layers in fit, the fold renewed when weights change, and the unfolded path when BatchNormalization trains."""

import numpy as np

from cnnkit.models import graph
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


def test_folded_inference_matches_keras_and_follows_weight_changes(keras, rng):
    import cnnkit  # noqa: PLC0415

    x = rng.uniform(-1, 1, (4, 9, 9, 3)).astype("float32")
    for use_bias, scale, center in ((True, True, True), (False, False, True), (True, True, False)):
        reference = _block(keras, use_bias, scale, center)
        model = _block(cnnkit, use_bias, scale, center)
        steps = model._graph.steps
        assert [(s.layer.name, s.fused_bn.name, s.fused_act and s.fused_act.name) for s in steps[:2]] == [
            ("conv", "bn", "relu"), ("conv_2", "bn_2", None)]
        for seed in (0, 1):  # the second set of weights must replace the folded kernel made from the first
            randomize_keras_weights(reference, seed)
            model.set_weights(reference.get_weights())
            np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0), atol=1e-5)


def test_frozen_fit_folds_and_trainable_fit_does_not(keras, rng):
    import cnnkit  # noqa: PLC0415

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


def test_optimize_off_runs_layer_by_layer(monkeypatch):
    import cnnkit  # noqa: PLC0415

    monkeypatch.setattr(graph, "OPTIMIZE", False)
    model = _block(cnnkit, True, True, True)
    assert all(s.fused_bn is None for s in model._graph.steps)
