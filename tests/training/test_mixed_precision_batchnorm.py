"""BatchNormalization under mixed_bfloat16 against Keras's: Keras upcasts the bfloat16 input to float32, normalises
with the float32 variables and casts the result back to bfloat16; cnnkit runs torch's mixed-dtype batch norm
(bfloat16 activations, float32 gamma/beta/statistics, float32 accumulation). Same values within bfloat16 rounding,
in training (batch statistics, gradients, moving statistics) and in inference."""

import numpy as np
import pytest
import torch

import cnnkit


pytestmark = pytest.mark.usefixtures("float32_policies")


def _block(lib):
    """Conv2D -> BatchNormalization -> ReLU (a ResNet unit), built under the global policy."""
    L = lib.layers
    return lib.Sequential([lib.Input((6, 6, 3)), L.Conv2D(8, 3, padding="same"),
                           L.BatchNormalization(momentum=0.9), L.Activation("relu")])


def _keras_step(keras, model, x, r):
    import tensorflow as tf  # noqa: PLC0415 (the oracle's backend)

    with tf.GradientTape() as tape:
        out = model(x, training=True)
        loss = tf.reduce_sum(tf.cast(out, tf.float32) * r)
    grads = tape.gradient(loss, model.trainable_weights)
    return out, [g.numpy() for g in grads]


def test_batchnorm_under_mixed_bfloat16_matches_keras(keras, rng):
    x = rng.standard_normal((4, 6, 6, 3)).astype(np.float32)
    r = rng.standard_normal((4, 6, 6, 8)).astype(np.float32)
    for lib in (cnnkit, keras):
        lib.mixed_precision.set_global_policy("mixed_bfloat16")
    theirs = _block(keras)
    ours = _block(cnnkit)
    ours.set_weights(theirs.get_weights())
    bn = ours.layers[1]
    assert bn.compute_dtype == "bfloat16" and all(w.dtype == torch.float32 for w in bn.weights)

    their_out, their_grads = _keras_step(keras, theirs, x, r)
    out = ours(torch.as_tensor(x), training=True)
    assert out.dtype == torch.bfloat16 and their_out.dtype.name == "bfloat16"
    (out.float() * torch.as_tensor(r)).sum().backward()
    their_out = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(their_out, "float32")))
    np.testing.assert_allclose(out.detach().float().numpy(), their_out, atol=3e-2, rtol=2e-2)
    kernel, bias, gamma, beta = ours.trainable_weights  # float32 gradients of the float32 variables
    assert all(w.grad.dtype == torch.float32 for w in ours.trainable_weights)
    for w, g in ((kernel, their_grads[0]), (gamma, their_grads[2]), (beta, their_grads[3])):
        np.testing.assert_allclose(w.grad.permute(*_keras_order(w)).numpy(), g, atol=0.05 * np.abs(g).max(),
                                   err_msg=w.name)
    # the bias before a batch norm in training: exactly zero gradient (the batch mean is subtracted), so both
    # libraries return bfloat16 rounding noise, small against the kernel's gradient
    scale = np.abs(their_grads[0]).max()
    assert np.abs(bias.grad.numpy()).max() < 0.2 * scale and np.abs(their_grads[1]).max() < 0.2 * scale
    their_stats = [v.numpy() for v in theirs.layers[1].non_trainable_weights]
    for ours_stat, their_stat in zip((bn.moving_mean, bn.moving_variance), their_stats):
        np.testing.assert_allclose(ours_stat.detach().numpy(), their_stat, rtol=1e-2, atol=1e-3)
    # inference mode: the moving statistics, output in bfloat16
    ours_eval = ours(torch.as_tensor(x), training=False)
    their_eval = keras.ops.convert_to_numpy(keras.ops.cast(theirs(x, training=False), "float32"))
    assert ours_eval.dtype == torch.bfloat16
    np.testing.assert_allclose(ours_eval.detach().float().numpy(), their_eval, atol=3e-2, rtol=2e-2)


def _keras_order(weight):
    """The permutation from cnnkit's torch-layout weight to Keras's layout (conv kernels (O, I, kh, kw) -> (kh, kw,
    I, O)); vectors as they are."""
    return (2, 3, 1, 0) if weight.dim() == 4 else tuple(range(weight.dim()))
