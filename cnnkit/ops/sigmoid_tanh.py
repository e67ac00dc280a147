"""tanh on large float32 CPU tensors through torch's sigmoid kernel: tanh(x) = 2 * sigmoid(2x) - 1.

torch's CPU tanh runs MKL's high-accuracy vector tanh (about 2 ns an element on AMD EPYC with AVX-512), its sigmoid a
short exp-based loop (about 0.4 ns). Written as three passes (2x, sigmoid in place, 2s - 1 in place) tanh is 3-4x
faster on LeNet's first activation (32 x 28 x 28 x 6: 58 against 222 us), which is tanh-activated throughout.

The result differs from torch.tanh by at most about 2e-7 absolute (the rounding of sigmoid's output near 1/2),
like TensorFlow's own CPU tanh (Eigen's rational approximation, about 2.3e-7); the relative error grows for |x|
below about 1e-6, where the result rounds to a multiple of 6e-8 (0 for |x| < 3e-8). The gradient is
torch's own `tanh_backward` on the output, as for torch.tanh. Small tensors (where the extra passes cost more than
the kernel saves), other dtypes and devices, and traced or exported graphs use torch.tanh.

Note:
    `cnnkit.ops.tanh` (Keras's `keras.ops.tanh`) stays torch.tanh; this is the activation function's kernel
    (`activation="tanh"`, `cnnkit.activations.tanh`).
"""

import torch

MIN_ELEMENTS = 16384  # below this torch.tanh is as fast (LeNet's Dense(120) activation: 7.3 against 7.9 us)
_MINUS_ONE = torch.tensor(-1.0)


def applies(x):
    """Whether `tanh` computes `x` through sigmoid (see the module doc)."""
    return (x.dtype == torch.float32 and x.device.type == "cpu" and x.numel() >= MIN_ELEMENTS
            and not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export())


def _forward(x):
    y = torch.mul(x, 2.0)
    y.sigmoid_()
    return torch.add(_MINUS_ONE, y, alpha=2.0, out=y)


class _SigmoidTanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = _forward(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


def tanh(x):
    """Element-wise tanh of a tensor, through sigmoid where that is faster (see the module doc).

    Args:
        x: a tensor of any shape.

    Returns:
        tanh(x), same shape and dtype, differentiable (also twice).

    Example:
        >>> y = tanh(torch.randn(32, 6, 28, 28))
    """
    if not applies(x):
        return torch.tanh(x)
    if torch.is_grad_enabled() and x.requires_grad:
        return _SigmoidTanh.apply(x)
    return _forward(x)
