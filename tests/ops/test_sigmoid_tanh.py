"""The activation's tanh through sigmoid (cnnkit.ops.sigmoid_tanh) against numpy's float64 tanh, torch's own
gradients, and Keras's tanh-activated Conv2D with copied weights."""

import numpy as np
import torch

from cnnkit import activations
from cnnkit import layers
from cnnkit.ops import sigmoid_tanh

LENET_FIRST = (32, 6, 28, 28)  # LeNet's first activation (NCHW), in channels_last memory as in a model


def _inputs(shape, scale=3.0, seed=0):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * scale
    x.view(-1)[:8] = torch.tensor([0.0, -0.0, 1e-7, -1e-3, 20.0, -20.0, 100.0, -100.0])  # zero, tiny, saturated
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def test_values_within_2e7_of_float64_tanh_and_exact_at_zero_and_saturation():
    x = _inputs(LENET_FIRST)
    assert sigmoid_tanh.applies(x)
    got = sigmoid_tanh.tanh(x)
    want = np.tanh(x.double().numpy())
    assert got.dtype == torch.float32 and got.is_contiguous(memory_format=torch.channels_last)
    assert np.abs(got.double().numpy() - want).max() <= 2e-7
    planted = got[0, 0, 0, :8].tolist()  # the values _inputs planted
    assert planted[:2] == [0.0, 0.0] and planted[4:] == [1.0, -1.0, 1.0, -1.0]


def test_gradients_equal_torchs_tanh_gradients_first_and_second_order():
    x = _inputs((64, 300)).requires_grad_()
    ref = x.detach().clone().requires_grad_()
    grad = torch.randn(64, 300, generator=torch.Generator().manual_seed(1))
    y = sigmoid_tanh.tanh(x)
    assert y.grad_fn is not None and "SigmoidTanh" in type(y.grad_fn).__name__
    (gx,) = torch.autograd.grad(y, x, grad, create_graph=True)
    (gref,) = torch.autograd.grad(torch.tanh(ref), ref, grad, create_graph=True)
    torch.testing.assert_close(gx, gref, rtol=0, atol=2e-6)  # |d(1 - y^2)| <= 4e-7, times |grad| < 5
    (hx,) = torch.autograd.grad(gx.sum(), x)
    (href,) = torch.autograd.grad(gref.sum(), ref)
    torch.testing.assert_close(hx, href, rtol=0, atol=1e-5)


def test_small_tensors_other_dtypes_and_exports_keep_torch_tanh_exactly():
    small = torch.randn(32, 120)  # LeNet's Dense(120) activation: below MIN_ELEMENTS
    assert not sigmoid_tanh.applies(small)
    assert torch.equal(sigmoid_tanh.tanh(small), torch.tanh(small))
    for dtype in (torch.float64, torch.bfloat16):
        x = torch.randn(LENET_FIRST).to(dtype)
        assert not sigmoid_tanh.applies(x)
        assert torch.equal(sigmoid_tanh.tanh(x), torch.tanh(x))
    assert sigmoid_tanh.applies(torch.randn(LENET_FIRST))


def test_activation_tanh_is_the_kernel_and_no_grad_skips_autograd():
    x = _inputs(LENET_FIRST)
    with torch.no_grad():
        y = activations.tanh(x.requires_grad_())
    assert y.grad_fn is None
    torch.testing.assert_close(y, sigmoid_tanh.tanh(x.detach()), rtol=0, atol=0)


def test_tanh_conv2d_on_lenet_sized_batch_matches_keras(keras):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 28, 28, 1)).astype("float32")
    layer = layers.Conv2D(16, 5, padding="same", activation="tanh")
    out_shape = layer.compute_output_shape((8, 28, 28, 1))
    assert np.prod(out_shape) >= sigmoid_tanh.MIN_ELEMENTS  # the sigmoid path runs
    klayer = keras.layers.Conv2D(16, 5, padding="same", activation="tanh")
    klayer.build((8, 28, 28, 1))
    weights = [rng.standard_normal(w.shape).astype("float32") * 0.5 for w in klayer.get_weights()]
    klayer.set_weights(weights)
    layer.build((8, 28, 28, 1))
    layer.set_weights(weights)
    got = layer(x)
    got = got.detach().numpy() if isinstance(got, torch.Tensor) else np.asarray(got)
    np.testing.assert_allclose(got, np.asarray(klayer(x)), rtol=0, atol=1e-6)
