"""Adamax, Ftrl, Lion, Lamb, Adafactor and the moving average of the weights (use_ema) against Keras: 5-step
trajectories from the same weights (tensors and a tiny model's fit), configs, Keras 2 keywords, bad arguments,
and the SwapEMAWeights callback."""

import json
import warnings

import numpy as np
import pytest
import torch

from cnnkit import optimizers
from cnnkit.callbacks import SwapEMAWeights

CONFIGS = [
    ("Adamax", {}), ("Adamax", {"learning_rate": 0.01, "beta_1": 0.8, "epsilon": 1e-3}),
    ("Ftrl", {"learning_rate": 0.1}),
    ("Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.01, "l2_regularization_strength": 0.02,
              "l2_shrinkage_regularization_strength": 0.01, "beta": 0.1, "learning_rate_power": -0.3}),
    ("Lion", {}), ("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9, "weight_decay": 0.1}),
    ("Lamb", {}), ("Lamb", {"learning_rate": 0.01, "clipnorm": 0.5}),
    ("Adafactor", {}), ("Adafactor", {"learning_rate": 0.5, "clip_threshold": 0.5, "relative_step": False}),
    ("Adam", {"use_ema": True}), ("SGD", {"momentum": 0.9, "use_ema": True, "ema_momentum": 0.5}),
    ("Lion", {"use_ema": True, "ema_momentum": 0.7, "ema_overwrite_frequency": 2}),
    ("RMSprop", {"use_ema": True, "ema_overwrite_frequency": 3}),
]


def _tensor_trajectories(keras, rng, name, kwargs, steps=5):
    shapes = [(3, 3, 2, 4), (4,), (5, 7)]
    init = [rng.normal(size=s).astype(np.float32) for s in shapes]
    ours, theirs = getattr(optimizers, name)(**kwargs), getattr(keras.optimizers, name)(**kwargs)
    ours_vars, theirs_vars = [torch.tensor(v) for v in init], [keras.Variable(v) for v in init]
    for i in range(steps):
        grads = [rng.normal(size=s).astype(np.float32) * (i + 1) for s in shapes]
        ours.apply([torch.tensor(g) for g in grads], ours_vars)
        theirs.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], theirs_vars))
    return ours, theirs, ours_vars, theirs_vars


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{k}" for n, k in CONFIGS])
def test_five_step_tensor_trajectories_match_keras(keras, rng, name, kwargs):
    ours, theirs, ours_vars, theirs_vars = _tensor_trajectories(keras, rng, name, kwargs)
    for a, b in zip(ours_vars, theirs_vars):
        np.testing.assert_allclose(a.numpy(), np.asarray(b), rtol=1e-5, atol=1e-6)
    if kwargs.get("use_ema"):
        for a, b in zip(ours._averages, theirs._model_variables_moving_average):
            np.testing.assert_allclose(a.numpy(), np.asarray(b), rtol=1e-5, atol=1e-6)
        ours.finalize_variable_values(ours_vars)
        theirs.finalize_variable_values(theirs_vars)
        for a, b in zip(ours_vars, theirs_vars):
            np.testing.assert_allclose(a.numpy(), np.asarray(b), rtol=1e-5, atol=1e-6)


def _models(keras, rng):
    from cnnkit.layers import Dense
    from cnnkit.layers import Input
    from cnnkit.models import Sequential
    ours = Sequential([Input((6,)), Dense(5, activation="tanh"), Dense(3)])
    theirs = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="tanh"), keras.layers.Dense(3)])
    weights = [rng.normal(size=np.shape(w)).astype(np.float32) * 0.5 for w in theirs.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


@pytest.mark.parametrize("name,kwargs", [
    ("Adamax", {"learning_rate": 0.01}), ("Ftrl", {"learning_rate": 0.1, "l1_regularization_strength": 0.001}),
    ("Lion", {"learning_rate": 0.01}), ("Lamb", {"learning_rate": 0.01}), ("Adafactor", {"learning_rate": 0.1}),
    ("Adam", {"learning_rate": 0.01, "use_ema": True, "ema_momentum": 0.6}),
])
def test_five_fit_steps_on_a_tiny_model_match_keras(keras, rng, name, kwargs):
    """fit: 5 steps (one epoch of 5 batches) from the same weights; with use_ema the model ends on the averages
    (finalize_variable_values), as in Keras."""
    ours, theirs = _models(keras, rng)
    x = rng.normal(size=(20, 6)).astype(np.float32)
    y = rng.normal(size=(20, 3)).astype(np.float32)
    ours.compile(optimizer=getattr(optimizers, name)(**kwargs), loss="mse")
    theirs.compile(optimizer=getattr(keras.optimizers, name)(**kwargs), loss="mse", run_eagerly=True)
    ours.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert ours.optimizer.iterations == int(theirs.optimizer.iterations) == 5
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6)


def test_configs_are_keras_form_and_round_trip(keras):
    cases = [("Adamax", {"beta_1": 0.8}), ("Ftrl", {"beta": 0.1}), ("Lion", {"beta_2": 0.9}), ("Lamb", {}),
             ("Adafactor", {"relative_step": False}), ("Adam", {"use_ema": True, "ema_overwrite_frequency": 5})]
    for name, kwargs in cases:
        ours, theirs = getattr(optimizers, name)(**kwargs), getattr(keras.optimizers, name)(**kwargs)
        config = json.loads(json.dumps(ours.get_config()))
        keras_config = theirs.get_config()
        assert set(config) == set(keras_config) - {"loss_scale_factor", "gradient_accumulation_steps"}, name
        for key, value in config.items():
            assert key == "name" or value == pytest.approx(keras_config[key]), (name, key)
        assert getattr(optimizers, name).from_config(config).get_config() == config
        assert type(theirs).from_config(config).get_config()["beta_1" if "beta_1" in config else "learning_rate"] == \
            pytest.approx(keras_config["beta_1" if "beta_1" in config else "learning_rate"])  # Keras reads it
        assert isinstance(optimizers.get(name.lower()), getattr(optimizers, name))


def test_keras_2_decay_keyword_warns_as_keras(keras):
    for cls in ("RMSprop", "SGD", "Adam", "Lion"):
        with warnings.catch_warnings(record=True) as ours_caught:
            warnings.simplefilter("always")
            getattr(optimizers, cls)(decay=1e-4)
        with warnings.catch_warnings(record=True) as theirs_caught:
            warnings.simplefilter("always")
            getattr(keras.optimizers, cls)(decay=1e-4)
        assert [str(w.message) for w in ours_caught] == [str(w.message) for w in theirs_caught] == [
            "Argument `decay` is no longer supported and will be ignored."]
        assert ours_caught[0].filename == __file__  # points at the caller's line
    with pytest.raises(TypeError, match="Did you mean 'beta_1'"):
        optimizers.Lion(beta1=0.9)


@pytest.mark.parametrize("make,message", [
    (lambda: optimizers.Lion(beta_1=0.0), r"Lion: Argument `beta_1` must be in the \[0, 1\] range.*beta_1=0.0"),
    (lambda: optimizers.Ftrl(learning_rate_power=0.5),
     r"`learning_rate_power` needs to be negative or zero. Received: learning_rate_power=0.5"),
    (lambda: optimizers.Ftrl(initial_accumulator_value=-1), r"initial_accumulator_value=-1"),
    (lambda: optimizers.Adam(use_ema=True, ema_momentum=1.5), r"Adam: `ema_momentum` must be in the range \[0, 1\]"),
    (lambda: optimizers.SGD(use_ema=True, ema_overwrite_frequency=0.5), r"ema_overwrite_frequency=0.5"),
    (lambda: optimizers.SGD(clipnorm=1.0, clipvalue=0.5), r"Only one of `clipnorm`, `clipvalue` and"),
])
def test_bad_arguments_raise_keras_messages(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def _swap_run(framework, model, x, y, swap_on_epoch):
    callbacks = [framework.SwapEMAWeights(swap_on_epoch=swap_on_epoch)]
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, validation_data=(x[:8], y[:8]),
                        callbacks=callbacks)
    evaluated = model.evaluate(x[:8], y[:8], verbose=0, callbacks=callbacks)
    weights_after_evaluate = model.get_weights()
    predicted = model.predict(x[:4], verbose=0, callbacks=callbacks)  # Keras leaves the averages in the model here
    return history.history, [evaluated, predicted, *weights_after_evaluate], model.get_weights()


@pytest.mark.parametrize("swap_on_epoch", [False, True])
def test_swap_ema_weights_matches_keras(keras, rng, swap_on_epoch):
    """Validation, evaluate and predict run on the averaged weights; with swap_on_epoch the averages are in the
    model after each epoch (and stay after the last); fit ends on the averages either way (use_ema)."""
    from cnnkit import callbacks as ours_callbacks
    ours, theirs = _models(keras, rng)
    x = rng.normal(size=(12, 6)).astype(np.float32)
    y = rng.normal(size=(12, 3)).astype(np.float32)
    ours.compile(optimizer=optimizers.SGD(0.1, momentum=0.5, use_ema=True, ema_momentum=0.5), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.5, use_ema=True, ema_momentum=0.5), loss="mse",
                   run_eagerly=True)
    ours_history, ours_eval, ours_weights = _swap_run(ours_callbacks, ours, x, y, swap_on_epoch)
    theirs_history, theirs_eval, theirs_weights = _swap_run(keras.callbacks, theirs, x, y, swap_on_epoch)
    for key in theirs_history:
        np.testing.assert_allclose(ours_history[key], theirs_history[key], rtol=1e-5, err_msg=key)
    for a, b in zip(ours_eval, theirs_eval):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(ours_weights, theirs_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_swap_ema_weights_without_use_ema_is_refused(rng):
    from cnnkit.layers import Dense
    from cnnkit.layers import Input
    from cnnkit.models import Sequential
    model = Sequential([Input((2,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="SwapEMAWeights must be used when `use_ema=True`"):
        model.evaluate(np.zeros((2, 2), np.float32), np.zeros((2, 1), np.float32), verbose=0,
                       callbacks=[SwapEMAWeights()])


def test_adafactor_factors_conv_kernels_in_keras_layout(keras, rng):
    """Adafactor's factored moment depends on the axis order: fit on a conv model gives Keras's trajectory."""
    from cnnkit.layers import Conv2D
    from cnnkit.layers import Dense
    from cnnkit.layers import DepthwiseConv2D
    from cnnkit.layers import Flatten
    from cnnkit.layers import Input
    from cnnkit.models import Sequential
    ours = Sequential([Input((6, 6, 2)), Conv2D(3, 3), DepthwiseConv2D(2, depth_multiplier=2), Flatten(), Dense(2)])
    L = keras.layers
    theirs = keras.Sequential([keras.Input((6, 6, 2)), L.Conv2D(3, 3), L.DepthwiseConv2D(2, depth_multiplier=2),
                               L.Flatten(), L.Dense(2)])
    weights = [rng.normal(size=np.shape(w)).astype(np.float32) * 0.3 for w in theirs.get_weights()]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    x = rng.normal(size=(10, 6, 6, 2)).astype(np.float32)
    y = rng.normal(size=(10, 2)).astype(np.float32)
    ours.compile(optimizer=optimizers.Adafactor(learning_rate=0.1), loss="mse")
    theirs.compile(optimizer=keras.optimizers.Adafactor(learning_rate=0.1), loss="mse", run_eagerly=True)
    ours.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_loss_scale_optimizer_keeps_the_inner_moving_average(rng):
    inner = optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5)
    outer = optimizers.LossScaleOptimizer(inner, initial_scale=4.0)
    variable = torch.zeros(3)
    expected_average = np.zeros(3, np.float32)
    for step in range(3):
        grad = rng.normal(size=3).astype(np.float32)
        outer.apply([torch.tensor(grad) * 4.0], [variable])  # scaled gradients, as the training step makes them
        momentum = 0.5 if step else 0.0
        expected_average = momentum * expected_average + (1 - momentum) * variable.numpy()
    np.testing.assert_allclose(outer.state_slots()["average"][0].numpy(), expected_average, rtol=1e-6)
    outer.finalize_variable_values([variable])
    np.testing.assert_allclose(variable.numpy(), expected_average, rtol=1e-6)
    again = optimizers.LossScaleOptimizer.from_config(json.loads(json.dumps(outer.get_config())))
    assert again.inner_optimizer.use_ema and again.inner_optimizer.ema_momentum == 0.5
