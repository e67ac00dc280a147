"""Mixed precision: dtype policies against Keras's, layer dtypes and configs, outputs against float32 and Keras's
mixed outputs, training under mixed_bfloat16 / mixed_float16, and loss scaling against torch's GradScaler."""

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit import mixed_precision
from cnnkit import optimizers

NAMES = ("float32", "float16", "bfloat16", "float64", "mixed_float16", "mixed_bfloat16")


pytestmark = pytest.mark.usefixtures("float32_policies")


def _convnet(lib, weights=None, final_float32=True):
    L = lib.layers
    model = lib.Sequential([lib.Input((8, 8, 3)), L.Conv2D(8, 3, activation="relu"), L.BatchNormalization(),
                            L.MaxPooling2D(2),
                            L.Flatten(), L.Dense(16, activation="relu"), L.Dense(4)]
                           + [L.Activation("softmax", dtype="float32" if final_float32 else None)])
    if weights is not None:
        model.set_weights(weights)
    return model


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 8, 8, 3)).astype(np.float32)
    return x, (x[:, :4, :4].mean(axis=(1, 2, 3)) * 8).astype(np.int64) % 4


# ---- policies ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_policy_matches_keras(keras, name):
    ours, theirs = mixed_precision.Policy(name), keras.mixed_precision.Policy(name)
    assert (ours.name, ours.compute_dtype, ours.variable_dtype) == (theirs.name, theirs.compute_dtype,
                                                                     theirs.variable_dtype)
    assert repr(ours) == repr(theirs)
    assert ours.get_config() == theirs.get_config()
    assert mixed_precision.DTypePolicy.from_config(ours.get_config()) == ours


def test_global_policy_api_as_keras(keras):
    assert mixed_precision.global_policy().name == keras.mixed_precision.global_policy().name == "float32"
    mixed_precision.set_global_policy("mixed_bfloat16")
    assert mixed_precision.global_policy() == mixed_precision.DTypePolicy("mixed_bfloat16")
    mixed_precision.set_dtype_policy(mixed_precision.DTypePolicy("mixed_float16"))  # Keras 3's other name
    assert mixed_precision.dtype_policy().name == "mixed_float16"
    assert mixed_precision.DTypePolicy().name == "mixed_float16"  # no name: the global one, as Keras
    cnnkit.config.set_dtype_policy("mixed_bfloat16")  # keras.config's names
    assert cnnkit.config.dtype_policy().name == "mixed_bfloat16"


def test_bad_policies_get_clear_errors():
    with pytest.raises(ValueError, match=r"Received: name='mixed_flaot16'\. Did you mean 'mixed_float16'\?"):
        mixed_precision.set_global_policy("mixed_flaot16")
    with pytest.raises(ValueError, match=r"Received: policy=3"):
        mixed_precision.set_global_policy(3)
    with pytest.raises(TypeError, match=r"Received: name=3"):
        mixed_precision.DTypePolicy(3)
    with pytest.raises(ValueError, match=r"Did you mean 'mixed_bfloat16'"):
        cnnkit.layers.Dense(2, dtype="mixed_bfloat")
    assert mixed_precision.global_policy().name == "float32"


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_layer_dtypes_and_configs_as_keras(keras, policy):
    for lib in (cnnkit, keras):
        lib.mixed_precision.set_global_policy(policy)
    ours, theirs = cnnkit.layers.Dense(3), keras.layers.Dense(3)
    ours_f32, theirs_f32 = cnnkit.layers.Activation("softmax", dtype="float32"), keras.layers.Activation(
        "softmax", dtype="float32")
    for a, b in ((ours, theirs), (ours_f32, theirs_f32)):
        assert (a.dtype, a.compute_dtype, a.variable_dtype) == (b.dtype, b.compute_dtype, b.variable_dtype)
        assert a.dtype_policy.name == b.dtype_policy.name
        assert a.get_config()["dtype"] == b.get_config()["dtype"]
    # configs cross over: Keras reads ours, we read Keras's
    assert keras.layers.deserialize(cnnkit.layers.serialize(ours)).dtype_policy.name == policy
    spec = {"class_name": "Dense", "config": theirs.get_config()}
    assert cnnkit.layers.deserialize(spec).dtype_policy.name == policy
    assert type(ours).from_config(ours.get_config()).dtype_policy == ours.dtype_policy


def test_layers_made_before_the_policy_keep_float32():
    before = cnnkit.layers.Dense(2)
    mixed_precision.set_global_policy("mixed_float16")
    assert before.dtype_policy.name == "float32" and cnnkit.layers.Dense(2).dtype_policy.name == "mixed_float16"


# ---- outputs -----------------------------------------------------------------------------------------------

def test_output_dtypes_as_keras(keras, rng):
    x = rng.random((5, 8, 8, 3)).astype(np.float32)
    for lib in (cnnkit, keras):
        lib.mixed_precision.set_global_policy("mixed_float16")
    theirs = _convnet(keras, final_float32=False)
    ours = _convnet(cnnkit, theirs.get_weights(), final_float32=False)
    assert ours.predict(x, verbose=0).dtype == theirs.predict(x, verbose=0).dtype == np.float16
    assert all(w.dtype == torch.float32 for w in ours.weights)
    dense = cnnkit.layers.Dense(3)
    assert dense(x[:, 0, 0]).dtype == torch.float16  # eager calls too, as Keras's
    theirs = _convnet(keras)
    ours = _convnet(cnnkit, theirs.get_weights())
    assert ours.predict(x, verbose=0).dtype == theirs.predict(x, verbose=0).dtype == np.float32


def test_mixed_float16_outputs_match_keras_mixed_and_float32(keras, rng):
    """Both libraries compute the same float16 network; each is within float16 rounding of the float32 result."""
    x = rng.random((16, 8, 8, 3)).astype(np.float32)
    reference = _convnet(cnnkit)
    weights = reference.get_weights()
    exact = reference.predict(x, verbose=0)
    for lib in (cnnkit, keras):
        lib.mixed_precision.set_global_policy("mixed_float16")
    ours = _convnet(cnnkit, weights).predict(x, verbose=0)
    theirs = _convnet(keras, weights).predict(x, verbose=0)
    np.testing.assert_allclose(ours, exact, atol=5e-3)
    np.testing.assert_allclose(ours, theirs, atol=1e-4)  # measured: 6e-8 (from float32: 1.4e-4)
    assert np.abs(ours - exact).max() > 0  # it really computed in float16


def test_mixed_bfloat16_outputs_close_to_float32(rng):
    x = rng.random((16, 8, 8, 3)).astype(np.float32)
    reference = _convnet(cnnkit)
    weights = reference.get_weights()
    exact = reference.predict(x, verbose=0)
    mixed_precision.set_global_policy("mixed_bfloat16")
    model = _convnet(cnnkit, weights, final_float32=False)
    out = model.predict(x, verbose=0)
    assert out.dtype == np.float32  # numpy has no bfloat16: predict returns float32 (Keras: ml_dtypes.bfloat16)
    assert model(x).dtype == torch.bfloat16
    np.testing.assert_allclose(out, exact, atol=3e-2)
    assert np.abs(out - exact).max() > 0


def test_float32_layer_in_a_mixed_model_computes_in_float32(rng):
    """A layer with dtype='float32' in a mixed model gets float32 inputs and computes without autocast: its output
    equals the same layer applied in float32 to the (upcast) bfloat16 input."""
    mixed_precision.set_global_policy("mixed_bfloat16")
    inputs = cnnkit.Input((6,))
    hidden = cnnkit.layers.Dense(5, name="mixed")(inputs)
    outputs = cnnkit.layers.Dense(3, dtype="float32", name="exact")(hidden)
    model = cnnkit.Model(inputs, outputs)
    x = torch.as_tensor(rng.random((4, 6)), dtype=torch.float32)
    with torch.no_grad():
        h = model.get_layer("mixed")(x)
        expected = h.float() @ model.get_layer("exact").kernel.T + model.get_layer("exact").bias
        out = model(x)
    assert h.dtype == torch.bfloat16 and out.dtype == torch.float32
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)


# ---- training ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_training_under_mixed_policies(policy):
    x, y = _data(128)
    cnnkit.utils.set_random_seed(1)
    float_model = _convnet(cnnkit)
    weights = float_model.get_weights()
    float_model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    float_history = float_model.fit(x, y, batch_size=16, epochs=3, verbose=0).history
    mixed_precision.set_global_policy(policy)
    model = _convnet(cnnkit, weights)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    assert isinstance(model.optimizer, optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0).history
    assert all(w.dtype == torch.float32 for w in model.weights)
    assert history["loss"][-1] < history["loss"][0]
    np.testing.assert_allclose(history["loss"], float_history["loss"], rtol=0.05)
    for ours, exact in zip(model.get_weights(), float_model.get_weights()):
        np.testing.assert_allclose(ours, exact, atol=0.05)


def test_auto_scale_loss_false_keeps_the_optimizer():
    mixed_precision.set_global_policy("mixed_float16")
    model = _convnet(cnnkit)
    model.compile("sgd", "sparse_categorical_crossentropy", auto_scale_loss=False)
    assert type(model.optimizer).__name__ == "SGD"
    with pytest.raises(ValueError, match=r"Received: auto_scale_loss='yes'"):
        model.compile("sgd", "sparse_categorical_crossentropy", auto_scale_loss="yes")


def test_a_step_with_inf_gradients_is_skipped():
    """float16 activations times a loss scale of 2**40 overflow: the step changes no weight, the scale halves."""
    mixed_precision.set_global_policy("mixed_float16")
    model = _convnet(cnnkit)
    before = [w.detach().clone() for w in model.trainable_weights]
    opt = optimizers.LossScaleOptimizer(optimizers.SGD(0.1), initial_scale=2.0 ** 40)
    model.compile(opt, "sparse_categorical_crossentropy")
    x, y = _data(16)
    model.train_on_batch(x, y)  # (BatchNormalization's moving statistics still move: the forward pass ran, as Keras)
    assert opt.dynamic_scale == 2.0 ** 39 and opt.iterations == 0 and opt.step_counter == 0
    for a, b in zip(model.trainable_weights, before):
        torch.testing.assert_close(a.detach(), b, rtol=0, atol=0)
    opt.dynamic_scale = 2.0 ** 10
    model.train_on_batch(x, y)
    assert opt.iterations == 1 and opt.step_counter == 1
    assert all(not torch.equal(a.detach(), b) for a, b in zip(model.trainable_weights, before))


def test_loss_scaling_follows_torch_grad_scaler():
    """Oracle: torch.amp.GradScaler with the same initial scale and growth interval, driving torch.optim.SGD over
    the same scaled gradients, some with inf or NaN."""
    torch.manual_seed(0)
    start = [torch.randn(3, 4), torch.randn(4)]
    ours_vars = [t.clone() for t in start]
    ref_vars = [torch.nn.Parameter(t.clone()) for t in start]
    opt = optimizers.LossScaleOptimizer(optimizers.SGD(0.1), initial_scale=256.0, dynamic_growth_steps=3)
    scaler = torch.amp.GradScaler("cpu", init_scale=256.0, growth_interval=3)
    ref_opt = torch.optim.SGD(ref_vars, lr=0.1)
    for step in range(12):
        grads = [torch.randn(3, 4), torch.randn(4)]
        if step in (2, 7):
            grads[1][0] = float("inf") if step == 2 else float("nan")
        scale = opt.dynamic_scale
        assert scale == scaler.get_scale()
        scaled = [g * scale for g in grads]
        opt.apply(scaled, ours_vars)
        for var, g in zip(ref_vars, grads):
            var.grad = scaler.scale(g.clone())
        scaler.step(ref_opt)
        scaler.update()
        for a, b in zip(ours_vars, ref_vars):
            torch.testing.assert_close(a, b.detach())
        assert torch.equal(scaled[0], grads[0] * scale)  # apply() leaves the caller's gradients alone
    assert opt.dynamic_scale == scaler.get_scale()
    assert opt.iterations == 10  # two steps skipped


def test_loss_scale_optimizer_arguments_and_config():
    opt = optimizers.LossScaleOptimizer(optimizers.Adam(0.01), dynamic_growth_steps=10)
    assert opt.learning_rate == pytest.approx(0.01)
    opt.learning_rate = 0.5  # callbacks set the wrapped optimizer's rate
    assert opt.inner_optimizer.learning_rate == 0.5
    again = optimizers.get(optimizers.serialize(opt))
    assert isinstance(again, optimizers.LossScaleOptimizer) and type(again.inner_optimizer).__name__ == "Adam"
    assert again.dynamic_growth_steps == 10 and again.learning_rate == 0.5
    with pytest.raises(TypeError, match=r"Received: inner_optimizer='adam'"):
        optimizers.LossScaleOptimizer("adam")
    with pytest.raises(ValueError, match=r"Received: initial_scale=0"):
        optimizers.LossScaleOptimizer(optimizers.SGD(), initial_scale=0)
    with pytest.raises(ValueError, match=r"does not support `clipnorm`"):
        optimizers.LossScaleOptimizer(optimizers.SGD(), clipnorm=1.0)
    assert mixed_precision.LossScaleOptimizer is optimizers.LossScaleOptimizer


def test_models_record_their_policy_and_files_round_trip(keras, tmp_path):
    """Model configs carry the policy (Keras's form), so a loaded mixed_float16 model gets its loss scaling back;
    files cross over with Keras in both directions."""
    for lib in (cnnkit, keras):
        lib.mixed_precision.set_global_policy("mixed_float16")
    x, y = _data(32)
    model = _convnet(cnnkit)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, verbose=0)
    assert model.get_config()["dtype"] == _convnet(keras).get_config()["dtype"]
    model.save(tmp_path / "ours.keras")
    theirs = _convnet(keras)
    theirs.compile("adam", "sparse_categorical_crossentropy")
    theirs.save(tmp_path / "theirs.keras")
    for lib in (cnnkit, keras):
        lib.mixed_precision.set_global_policy("float32")
    loaded = cnnkit.models.load_model(tmp_path / "ours.keras")
    assert loaded.dtype_policy.name == "mixed_float16" and isinstance(loaded.optimizer, optimizers.LossScaleOptimizer)
    assert loaded.optimizer.iterations == 2
    for a, b in zip(loaded.optimizer.slots()["velocity"], model.optimizer.slots()["velocity"]):
        torch.testing.assert_close(a, b)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    from_keras = cnnkit.models.load_model(tmp_path / "theirs.keras")
    assert [layer.dtype_policy.name for layer in from_keras.layers] == ["mixed_float16"] * 6 + ["float32"]
    assert isinstance(from_keras.optimizer, optimizers.LossScaleOptimizer)
    in_keras = keras.models.load_model(tmp_path / "ours.keras")
    assert [layer.dtype_policy.name for layer in in_keras.layers] == ["mixed_float16"] * 6 + ["float32"]
    np.testing.assert_allclose(in_keras.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-3)
