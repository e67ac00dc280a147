"""2-D convolution of a one-channel input (grayscale images: the notes' MNIST and LeNet first layers) on the CPU.

torch's CPU convolution (oneDNN) cannot tell the memory order of a one-channel (N, 1, H, W) tensor (its NCHW and
NHWC strides describe the same bytes), takes it as NCHW, and then computes the output in a blocked layout and
reorders all of it to NCHW: on a (64, 1, 28, 28) batch with 32 filters that reorder costs 5-10x the convolution
itself, and the layers after it get NCHW memory instead of channels_last. With one zero channel added, the
input has an unambiguous channels_last layout and oneDNN runs its direct NHWC kernel (forward 8x faster on AMD EPYC,
the MNIST convnet's first layer). The zero channel adds exact zeros to every sum, so the output is the same.
With fewer than 16 filters (LeNet's 6) the reorder is small and the direct kernel is slower than oneDNN's
blocked one for so few output channels (0.32 against 0.16 ms on LeNet's first layer), so those keep torch's path.

The backward pass runs on the original one-channel problem (the padded one would compute the zero channel's
gradient for nothing).
"""

import torch
import torch.nn.functional as F


def applies(x, kernel, groups):
    """Whether `conv_one_channel` should replace torch's convolution for this call."""
    return (x.dim() == 4 and x.shape[1] == 1 and groups == 1 and x.device.type == "cpu" and kernel.shape[0] >= 16
            and x.dtype == torch.float32 and kernel.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")  # mixed precision: autocast casts inside, the backward would not
            and not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export())


def _with_zero_channel(t):
    """(N, 1, *spatial) -> (N, 2, *spatial) in channels_last memory, the second channel zero."""
    out = torch.zeros((t.shape[0], *t.shape[2:], 2), dtype=t.dtype, device=t.device)
    out[..., 0] = t[:, 0]
    return out.permute(0, 3, 1, 2)


class _OneChannelConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kernel, bias, strides, padding, dilation):
        ctx.save_for_backward(x, kernel)
        ctx.settings = (strides, padding, dilation, bias is not None)
        return F.conv2d(_with_zero_channel(x), _with_zero_channel(kernel), bias, strides, padding, dilation)

    @staticmethod
    def backward(ctx, grad):
        x, kernel = ctx.saved_tensors
        strides, padding, dilation, has_bias = ctx.settings
        wanted = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], has_bias and ctx.needs_input_grad[2]]
        grad_x, grad_kernel, grad_bias = torch.ops.aten.convolution_backward(
            grad, x, kernel, [kernel.shape[0]] if has_bias else None, list(strides), list(padding), list(dilation),
            False, [0, 0], 1, wanted)
        return grad_x, grad_kernel, grad_bias, None, None, None


def conv_one_channel(x, kernel, bias, strides, padding, dilation):
    """`F.conv2d(x, kernel, bias, strides, padding, dilation)` for x of shape (N, 1, H, W) (see the module doc).

    Args:
        x: (N, 1, H, W) float32 CPU tensor.
        kernel: (C_out, 1, kh, kw).
        bias: (C_out,) or None.
        strides, padding, dilation: pairs of ints (padding symmetric, as F.conv2d takes it).

    Returns:
        (N, C_out, H_out, W_out) in channels_last memory.
    """
    return _OneChannelConv2d.apply(x, kernel, bias, tuple(strides), tuple(padding), tuple(dilation))
