"""The one-channel CPU convolution path (cnnkit.ops.one_channel_conv) against torch.nn.functional.conv2d with
mkldnn disabled (torch's reference im2col kernel) and torch's own gradients."""

import pytest
import torch
import torch.nn.functional as F

from cnnkit.ops import functional
from cnnkit.ops import one_channel_conv


def _reference(x, kernel, bias, strides, padding, dilation):
    with torch.backends.mkldnn.flags(enabled=False):
        return F.conv2d(x, kernel, bias, strides, padding, dilation)


@pytest.mark.parametrize("filters, size, strides, padding, dilation, bias", [
    (32, 3, (1, 1), (0, 0), (1, 1), True),     # the notes' MNIST first layer
    (16, 5, (1, 1), (2, 2), (1, 1), True),     # 'same'
    (16, 3, (2, 1), (1, 1), (2, 2), False),    # strides, dilation, no bias
])
def test_values_and_gradients_equal_torchs_reference(filters, size, strides, padding, dilation, bias):
    torch.manual_seed(0)
    x = torch.rand(3, 1, 13, 11, requires_grad=True)
    kernel = torch.randn(filters, 1, size, size, requires_grad=True)
    b = torch.randn(filters, requires_grad=True) if bias else None
    leaves = [t for t in (x, kernel, b) if t is not None]
    assert one_channel_conv.applies(x, kernel, 1)
    out = one_channel_conv.conv_one_channel(x, kernel, b, strides, padding, dilation)
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, leaves, grad)
    ref = _reference(x, kernel, b, strides, padding, dilation)
    want = torch.autograd.grad(ref, leaves, grad)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-4)


def test_only_float32_one_channel_ungrouped_cpu_inputs_take_the_path():
    kernel = torch.zeros(16, 1, 3, 3)
    assert not one_channel_conv.applies(torch.zeros(2, 1, 8, 8), torch.zeros(6, 1, 5, 5), 1)  # LeNet's 6 filters
    assert not one_channel_conv.applies(torch.zeros(2, 3, 8, 8), torch.zeros(8, 3, 3, 3), 1)
    assert not one_channel_conv.applies(torch.zeros(2, 1, 8, 8, dtype=torch.float64), kernel.double(), 1)
    assert not one_channel_conv.applies(torch.zeros(2, 1, 8), torch.zeros(16, 1, 3), 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # mixed_bfloat16 convolutions keep torch's own path
        assert not one_channel_conv.applies(torch.zeros(2, 1, 8, 8), kernel, 1)


def test_keras_same_padding_with_an_odd_total_goes_through_it():
    # 'same' with stride 2 on an even size pads (0, 1): functional.conv pads explicitly, then the path runs.
    torch.manual_seed(1)
    x = torch.rand(2, 1, 8, 8)
    kernel = torch.randn(16, 1, 3, 3)
    got = functional.conv(x, kernel, None, (2, 2), "same", (1, 1))
    want = _reference(F.pad(x, (0, 1, 0, 1)), kernel, None, (2, 2), (0, 0), (1, 1))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_gradients_keep_the_layouts_of_a_first_layer():
    """A first layer: the input needs no gradient, the kernel is stored channels_last (as cnnkit's Conv2D keeps
    it); the kernel's gradient comes back in the kernel's own layout, equal to the reference."""
    torch.manual_seed(1)
    x = torch.rand(4, 1, 10, 10).contiguous(memory_format=torch.channels_last)
    kernel = torch.randn(32, 1, 3, 3).contiguous(memory_format=torch.channels_last).requires_grad_()
    b = torch.randn(32, requires_grad=True)
    out = one_channel_conv.conv_one_channel(x, kernel, b, (1, 1), (0, 0), (1, 1))
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, [kernel, b], grad)
    want = torch.autograd.grad(_reference(x, kernel, b, (1, 1), (0, 0), (1, 1)), [kernel, b], grad)
    assert got[0].stride() == kernel.stride()
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-4)
