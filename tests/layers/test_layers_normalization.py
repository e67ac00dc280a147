"""BatchNormalization against Keras: inference with non-trivial moving statistics, training outputs and the
moving-statistics update (Keras momentum convention, biased variance), other axes, trainable=False."""

import numpy as np
import pytest
import torch

from cnnkit import layers

CASES = [
    pytest.param((6, 5), -1, id="rank2"),
    pytest.param((4, 7, 3), -1, id="rank3"),
    pytest.param((4, 7, 3), 1, id="rank3-axis1"),
    pytest.param((3, 5, 4, 6), -1, id="rank4"),
    pytest.param((3, 5, 4, 6), 3, id="rank4-axis3"),
    pytest.param((3, 5, 4, 6), 1, id="rank4-axis1"),
    pytest.param((3, 5, 4, 6), 2, id="rank4-axis2"),
    pytest.param((3, 5, 4, 6), -2, id="rank4-axis-2"),
    pytest.param((2, 3, 4, 5, 3), -1, id="rank5"),
    pytest.param((2, 3, 4, 5, 3), 2, id="rank5-axis2"),
]


def _data(rng, shape):
    """Inputs with a mean and spread far from (0, 1), different per feature."""
    return (rng.standard_normal(shape) * rng.uniform(0.5, 3.0) + rng.uniform(-2.0, 2.0)).astype("float32")


def _pair(keras, **kwargs):
    return layers.BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)


@pytest.mark.parametrize(("shape", "axis"), CASES)
@pytest.mark.parametrize("kwargs", [{}, dict(epsilon=1e-5, momentum=0.9), dict(center=False),
                                    dict(scale=False, epsilon=0.1)])
def test_batch_norm_inference_matches_keras(oracle, keras, rng, shape, axis, kwargs):
    bn, kbn = _pair(keras, axis=axis, **kwargs)
    x = _data(rng, shape)
    oracle.compare(bn, kbn, x, training=False, rng=rng, atol=2e-5)
    # Inference leaves the moving statistics alone.
    for mine, theirs in zip(bn.get_weights(), kbn.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize(("shape", "axis"), CASES)
@pytest.mark.parametrize("kwargs", [{}, dict(momentum=0.9), dict(momentum=0.5, epsilon=1e-5, center=False)])
def test_batch_norm_training_matches_keras(oracle, keras, rng, shape, axis, kwargs):
    """training=True: batch statistics for the output, and moving = moving * momentum + batch * (1 - momentum)
    with the biased batch variance, as Keras; checked over two steps."""
    bn, kbn = _pair(keras, axis=axis, **kwargs)
    x = _data(rng, shape)
    before = None
    oracle.compare(bn, kbn, x, training=True, rng=rng, atol=2e-5)
    for step in range(2):
        if step:
            x = _data(rng, shape)
            np.testing.assert_allclose(bn(x, training=True).numpy(), np.asarray(kbn(x, training=True)),
                                       rtol=1e-5, atol=2e-5)
        names = [v.name for v in kbn.weights]
        for name, mine, theirs in zip(names, bn.get_weights(), kbn.get_weights()):
            np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6, err_msg=name)
        moving = dict(zip(names, bn.get_weights()))
        assert before is None or not np.allclose(moving["moving_mean"], before)
        before = moving["moving_mean"]


def test_batch_norm_training_update_formula(rng):
    x = _data(rng, (8, 3, 3, 4))
    bn = layers.BatchNormalization(momentum=0.9)
    bn(x)
    gamma, beta, mean, var = [rng.uniform(0.5, 2.0, 4).astype("float32") for _ in range(4)]
    bn.set_weights([gamma, beta, mean, var])
    out = bn(x, training=True).numpy()
    batch_mean, batch_var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))  # biased
    np.testing.assert_allclose(out, gamma * (x - batch_mean) / np.sqrt(batch_var + 1e-3) + beta, rtol=1e-4,
                               atol=1e-5)
    new = bn.get_weights()
    np.testing.assert_allclose(new[2], 0.9 * mean + 0.1 * batch_mean, rtol=1e-5)
    np.testing.assert_allclose(new[3], 0.9 * var + 0.1 * batch_var, rtol=1e-5)


@pytest.mark.parametrize(("shape", "axis"), [((6, 5), -1), ((3, 5, 4, 6), -1), ((3, 5, 4, 6), 1)])
def test_frozen_batch_norm_uses_inference_mode_like_keras(oracle, keras, rng, shape, axis):
    """trainable=False: even with training=True, the moving statistics normalise and are not updated."""
    bn, kbn = _pair(keras, axis=axis, trainable=False)
    x = _data(rng, shape)
    got, _ = oracle.compare(bn, kbn, x, training=True, rng=rng, atol=2e-5)
    inference = bn(x, training=False).numpy()
    np.testing.assert_array_equal(got, inference)
    for mine, theirs in zip(bn.get_weights(), kbn.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    assert bn.trainable_weights == [] and len(bn.non_trainable_weights) == 4


def test_freezing_after_construction_also_switches_to_inference(keras, rng):
    bn, kbn = _pair(keras)
    x = _data(rng, (5, 3))
    bn(x), kbn(x)
    bn.trainable = False
    kbn.trainable = False
    before = bn.get_weights()
    np.testing.assert_allclose(bn(x, training=True).numpy(), np.asarray(kbn(x, training=True)), rtol=1e-5,
                               atol=1e-5)
    for old, new in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_batch_norm_default_training_flag_is_inference(rng):
    bn = layers.BatchNormalization()
    x = _data(rng, (4, 3))
    out = bn(x).numpy()
    np.testing.assert_allclose(out, x / np.sqrt(1 + 1e-3), rtol=1e-6)
    np.testing.assert_array_equal(bn.get_weights()[2], 0)


def test_batch_norm_gradients_flow_in_training(rng):
    bn = layers.BatchNormalization()
    x = torch.as_tensor(_data(rng, (4, 3, 3, 2)), dtype=torch.float32).requires_grad_()
    bn(x, training=True).square().sum().backward()
    assert x.grad is not None and bn.gamma.grad is not None and bn.beta.grad is not None


def test_batch_norm_config_and_defaults_match_keras(keras, config_round_trip):
    cfg = config_round_trip(layers.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False))
    assert cfg["axis"] == 1 and cfg["momentum"] == 0.9 and cfg["epsilon"] == 1e-5 and cfg["center"] is False
    mine, theirs = layers.BatchNormalization().get_config(), keras.layers.BatchNormalization().get_config()
    for key in ("axis", "momentum", "epsilon", "center", "scale"):
        assert mine[key] == theirs[key], key


@pytest.mark.parametrize("axis", [0, 4, -5])
def test_batch_norm_bad_axis_raises(axis):
    with pytest.raises(ValueError, match="axis"):
        layers.BatchNormalization(axis=axis)(np.zeros((2, 3, 3, 2), "float32"))


@pytest.mark.parametrize(("name", "value"), [("momentum", 1.5), ("momentum", -0.1), ("epsilon", 0.0),
                                             ("axis", [1, 2])])
def test_batch_norm_bad_arguments_raise(name, value):
    with pytest.raises(ValueError, match=name):
        layers.BatchNormalization(**{name: value})
