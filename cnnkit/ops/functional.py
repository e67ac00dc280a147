"""Keras semantics for convolution, pooling and normalisation, on torch tensors in cnnkit's internal layout.

All functions take (N, C, *spatial) tensors, except `batch_dot` (Keras-layout axes and tensors, for Dot). Random
layers' math is in `cnnkit.ops.noise`, per-sample normalisation in `cnnkit.ops.normalization`. What differs from
torch.nn.functional:
- 'same' padding works with any stride and follows TensorFlow: when the total padding is odd, the extra zero
  goes at the end (bottom/right). Symmetric cases pass the padding to the kernel (no copy); only asymmetric ones
  pad explicitly, as timm's `pad_same` does.
- max pooling with 'same' ignores the padded positions (padding with -inf); average pooling with 'same' divides
  by the number of real (non-padded) inputs in each window.
- batch normalisation takes Keras's momentum (0.99 = keep 99% of the old statistics; torch's momentum is
  1 - that) and updates the moving variance with the biased batch variance, as Keras does (torch uses the
  unbiased one).
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

from cnnkit.ops import layout
from cnnkit.ops import one_channel_conv
from cnnkit.ops.shapes import adaptive_windows
from cnnkit.ops.shapes import conv_transpose_crops
from cnnkit.ops.shapes import padding_amounts

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _torch_pad_arg(pads):
    """[(before, after) per spatial axis] -> F.pad's flat list, last axis first."""
    flat = []
    for before, after in reversed(pads):
        flat += [before, after]
    return flat


def pad(x, pads, value=0.0):
    """Pads the spatial axes of an internal-layout tensor; `pads` is [(before, after)] per spatial axis (negative
    amounts crop)."""
    if not any(before or after for before, after in pads):
        return x
    if (x.dim() >= 3 and not x.is_contiguous() and min(min(p) for p in pads) >= 0
            and not (torch.is_grad_enabled() and x.requires_grad)
            and not torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export()):
        return _pad_keeping_layout(x, pads, value)
    return F.pad(x, _torch_pad_arg(pads), value=value)


def _pad_keeping_layout(x, pads, value):
    """Constant padding of a tensor stored in another order than its axes' (cnnkit's channels_last internal
    tensors): the output is allocated in the input's storage order, only its borders are filled and the input is
    copied into the inside. F.pad fills the whole output then copies, on a (16, 96, 80, 80) channels_last tensor
    about 2x slower (MobileNetV2's and EfficientNet's ZeroPadding2D before their strided depthwise convolutions)."""
    spatial = x.dim() - len(pads)
    shape = list(x.shape)
    for i, (before, after) in enumerate(pads):
        shape[spatial + i] += before + after
    order = sorted(range(x.dim()), key=lambda d: -x.stride(d))  # the input's storage order, outermost first
    out = torch.empty([shape[d] for d in order], dtype=x.dtype, device=x.device).permute(
        [order.index(d) for d in range(x.dim())])
    inside = out
    for i, (before, after) in enumerate(pads):
        axis = spatial + i
        out.narrow(axis, 0, before).fill_(value)
        out.narrow(axis, shape[axis] - after, after).fill_(value)
        inside = inside.narrow(axis, before, x.shape[axis])
    inside.copy_(x)
    return out


def conv(x, kernel, bias, strides, padding, dilation, groups=1):
    """N-d convolution (cross-correlation, no kernel flip) with Keras padding semantics.

    Args:
        x: (N, C_in, *spatial).
        kernel: (C_out, C_in // groups, *kernel_size), torch layout.
        bias: (C_out,) or None.
        strides, dilation: tuples of ints, one per spatial axis.
        padding: 'valid', 'same' or 'causal'.

    Returns:
        (N, C_out, *out_spatial).
    """
    rank = x.dim() - 2
    if x.shape[1] == 1 and any(s > 1 for s in strides):
        # A one-channel Keras-layout view has channels_last strides, on which torch's CPU (oneDNN) convolution
        # can return wrong values when a stride is > 1 (e.g. batch >= 2, strides (1, 2), one output column; cf.
        # pytorch#82060; of ~3,600 configurations scanned, every failure had a stride > 1). A view with standard
        # strides avoids it (no copy for a contiguous input, the usual case). Stride-1 convolutions keep the
        # channels_last view, so the network stays on torch's fast channels_last kernels.
        x = x.reshape(x.shape[0], math.prod(x.shape[1:])).view(x.shape)
    pads = padding_amounts(x.shape[2:], kernel.shape[2:], strides, dilation, padding)
    if not all(before == after for before, after in pads):
        x, pads = pad(x, pads), [(0, 0)] * rank
    if one_channel_conv.applies(x, kernel, groups):
        return one_channel_conv.conv_one_channel(x, kernel, bias, strides, [p[0] for p in pads], dilation)
    return _CONV[rank](x, kernel, bias, strides, [p[0] for p in pads], dilation, groups)


def _pool_pads(x, pool_size, strides, padding):
    return padding_amounts(x.shape[2:], pool_size, strides, (1,) * len(pool_size), padding)


def _native_pad(pads, pool_size):
    """The symmetric padding torch's pooling kernels can do themselves, or None."""
    if all(before == after and before <= k // 2 for (before, after), k in zip(pads, pool_size)):
        return [p[0] for p in pads]
    return None


def max_pool(x, pool_size, strides, padding):
    """Max pooling; 'same' never picks a padded position."""
    rank = x.dim() - 2
    pads = _pool_pads(x, pool_size, strides, padding)
    native = _native_pad(pads, pool_size)
    if native is not None:
        return _MAX_POOL[rank](x, pool_size, strides, native)
    return _MAX_POOL[rank](pad(x, pads, value=-math.inf), pool_size, strides)


def avg_pool(x, pool_size, strides, padding):
    """Average pooling; 'same' divides each window by its count of real (non-padded) inputs."""
    rank = x.dim() - 2
    pads = _pool_pads(x, pool_size, strides, padding)
    native = _native_pad(pads, pool_size)
    if native is not None:
        return _AVG_POOL[rank](x, pool_size, strides, native, count_include_pad=False)
    ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
    counts = _AVG_POOL[rank](pad(ones, pads), pool_size, strides)
    return _AVG_POOL[rank](pad(x, pads), pool_size, strides) / counts


def global_pool(x, mode, keepdims=False):
    """Mean or max over all spatial axes: (N, C, *spatial) -> (N, C) or (N, C, 1, ...)."""
    dims = tuple(range(2, x.dim()))
    if mode == "max":
        return x.amax(dim=dims, keepdim=keepdims)
    return x.mean(dim=dims, keepdim=keepdims)


def dense(x, kernel, bias):
    """x @ kernel.T + bias over the Keras last axis; `kernel` is (out, in) (torch.nn.Linear layout)."""
    if x.dim() >= 3:
        return F.linear(x.movedim(1, -1), kernel, bias).movedim(-1, 1)
    return F.linear(x, kernel, bias)


def batch_norm(x, gamma, beta, moving_mean, moving_variance, training, momentum, epsilon, axis=1):
    """Batch normalisation with Keras conventions.

    Args:
        x: internal-layout tensor; `axis` is the internal feature axis (1 for Keras's default axis=-1).
        gamma, beta: (C,) tensors or None (scale=False / center=False).
        moving_mean, moving_variance: (C,) buffers, updated in place when `training`.
        training: use the batch statistics and update the moving ones.
        momentum: Keras momentum: moving = moving * momentum + batch * (1 - momentum).
        epsilon: added to the variance.
    """
    if axis != 1:
        y = batch_norm(x.movedim(axis, 1), gamma, beta, moving_mean, moving_variance, training, momentum,
                       epsilon)
        return y.movedim(1, axis)
    if not training:
        return F.batch_norm(x, moving_mean, moving_variance, gamma, beta, False, 0.0, epsilon)
    out, mean, invstd = torch.native_batch_norm(x, gamma, beta, None, None, True, 0.0, epsilon)
    with torch.no_grad():
        variance = invstd.reciprocal().square_().sub_(epsilon).clamp_(min=0)
        moving_mean.mul_(momentum).add_(mean.to(moving_mean.dtype), alpha=1.0 - momentum)
        moving_variance.mul_(momentum).add_(variance.to(moving_variance.dtype), alpha=1.0 - momentum)
    return out


def flatten(x):
    """Flattens in Keras (channels_last) order, so Dense weights port unchanged: (N, ...) -> (N, prod)."""
    return layout.to_keras(x).reshape(x.shape[0], -1)


def prelu(x, alpha):
    """x where x >= 0, alpha * x elsewhere; `alpha` has x's internal shape without the batch axis (size 1 on
    shared axes). One alpha per channel (or one in all) runs torch's fused `F.prelu`."""
    alpha = alpha.to(x.dtype)
    if alpha.dim() <= 1 or all(n == 1 for n in alpha.shape[1:]):
        return F.prelu(x, alpha.reshape(-1))
    return torch.where(x >= 0, x, alpha * x)


def keep_mask(mask, device):
    """A mask as a bool tensor: booleans as they are, numbers kept where > 0.5 (Keras's rule)."""
    mask = mask if isinstance(mask, torch.Tensor) else torch.as_tensor(np.asarray(mask))
    mask = mask.to(device)
    return mask if mask.dtype == torch.bool else mask > 0.5


def mask_logits(x, keep):
    """x where `keep`, elsewhere a large negative number (-1e9; -3e4 in float16), as Keras's Softmax masks."""
    return x.masked_fill(~keep, -3e4 if x.dtype == torch.float16 else -1e9)


def activity_penalty(regularizer, x):
    """Keras 3's activity regularization loss: `regularizer(x)` divided by the batch size (0 for an empty batch),
    computed in float32 for float16/bfloat16 activations."""
    penalty = regularizer(x.float() if x.dtype in (torch.float16, torch.bfloat16) else x)
    if x.dim() == 0:
        return penalty
    return penalty / x.shape[0] if x.shape[0] else penalty * 0.0


def batch_dot(x, y, axes):
    """Keras's `batch_dot` on Keras-layout tensors: contracts x's axis axes[0] with y's axis axes[1] (both >= 1),
    sample by sample. The output is x's shape without axes[0], then y's without the batch axis and axes[1];
    a rank-1 result becomes (batch, 1), as in Keras.
    """
    a0, a1 = axes
    xs = x.movedim(a0, -1)  # (B, *x_rest, K)
    ys = y.movedim(a1, 1)  # (B, K, *y_rest)
    x_rest, y_rest = tuple(xs.shape[1:-1]), tuple(ys.shape[2:])
    x3 = xs.flatten(1, -2) if x_rest else xs.unsqueeze(1)  # (B, X, K)
    y3 = ys.flatten(2, -1) if y_rest else ys.unsqueeze(-1)  # (B, K, Y)
    out = torch.bmm(x3, y3)  # (B, X, Y)
    out = out.unflatten(2, y_rest) if y_rest else out.squeeze(2)
    out = out.unflatten(1, x_rest) if x_rest else out.squeeze(1)
    return out.unsqueeze(-1) if out.dim() == 1 else out


# ---- transposed, depthwise and separable convolutions --------------------------------------------------------


def conv_transpose(x, kernel, bias, strides, padding, output_padding, dilation):
    """N-d transposed convolution with TensorFlow's output size and alignment (Keras's Conv*DTranspose).

    Args:
        x: (N, C_in, *spatial).
        kernel: (C_in, C_out, *kernel_size), torch's conv_transpose layout.
        bias: (C_out,) or None.
        strides, dilation: tuples of ints, one per spatial axis.
        padding: 'valid' or 'same'.
        output_padding: None or a tuple of ints (each < its stride).

    Returns:
        (N, C_out, *out_spatial), out_spatial from `cnnkit.ops.shapes.deconv_output_length`.

    torch crops the same amount from both ends of the full output (`padding`) and can add up to
    max(stride, dilation) - 1 positions at the end (`output_padding`); TensorFlow's crops may differ at the two
    ends ('same' with a stride often drops one more position at the end). The common part goes to the kernel;
    the rest is cropped by `F.pad` with negative amounts (and, in rare 'valid' cases, zeros appended): a
    channels_last copy whose gradient is padded back in channels_last. A slice would be a view, but its
    strided output slows every later elementwise op, and its backward gives the convolution a channels-first
    gradient to reorder.
    """
    rank = x.dim() - 2
    output_padding = output_padding or (None,) * rank
    crops = [conv_transpose_crops(n, k, s, padding, op, d)
             for n, k, s, op, d in zip(x.shape[2:], kernel.shape[2:], strides, output_padding, dilation)]
    torch_pad = [max(min(before, after), 0) for before, after in crops]
    torch_out_pad, extra = [], []
    for (before, after), p, s, d in zip(crops, torch_pad, strides, dilation):
        grow = min(max(p - after, 0), max(s, d) - 1)
        torch_out_pad.append(grow)
        extra.append((before - p, after - p + grow))  # still to crop (> 0) or to append as zeros (< 0)
    y = _CONV_TRANSPOSE[rank](x, kernel, None, strides, torch_pad, torch_out_pad, 1, dilation)
    y = pad(y, [(-start, -end) for start, end in extra])
    if bias is not None:
        # Added here, in place (neither the kernel nor the crop keeps its output for the backward pass): torch's
        # CPU transposed convolution with a bias and output_padding 0 takes about 3x longer than without
        # (11.4 vs 3.7 ms for 32x32x32x32 -> 65x65x16, stride 2, torch 2.13), and appended zeros need it too.
        y = y.add_(bias.reshape(-1, *(1,) * rank))
    return y


def depthwise_conv(x, kernel, bias, strides, padding, dilation):
    """Depthwise convolution (Keras's DepthwiseConv*D): each input channel convolved with its own filters.

    Args:
        x: (N, C, *spatial).
        kernel: (C, multiplier, *kernel_size) (see `layout.depthwise_to_torch`).
        bias: (C * multiplier,) or None.

    Returns:
        (N, C * multiplier, *out_spatial); output channel c * multiplier + m, as in TensorFlow.
    """
    weight = kernel.reshape(kernel.shape[0] * kernel.shape[1], 1, *kernel.shape[2:])  # a view
    return conv(x, weight, bias, strides, padding, dilation, groups=kernel.shape[0])


def separable_conv(x, depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation):
    """Depthwise convolution (no bias) then a 1x1 convolution with `pointwise_kernel` (C_out, C * multiplier,
    1, ...) and `bias` (Keras's SeparableConv*D)."""
    y = depthwise_conv(x, depthwise_kernel, None, strides, padding, dilation)
    ones = (1,) * (x.dim() - 2)
    return conv(y, pointwise_kernel, bias, ones, "valid", ones)


# ---- cropping and adaptive pooling -------------------------------------------------------------------------------

_ADAPTIVE_POOL = {
    ("average", 1): F.adaptive_avg_pool1d, ("average", 2): F.adaptive_avg_pool2d,
    ("average", 3): F.adaptive_avg_pool3d, ("max", 1): F.adaptive_max_pool1d, ("max", 2): F.adaptive_max_pool2d,
    ("max", 3): F.adaptive_max_pool3d,
}


def crop(x, cropping):
    """Removes [(before, after)] elements from each spatial axis of an internal-layout tensor (a view)."""
    index = [slice(None), slice(None)]
    index += [slice(before, n - after) for n, (before, after) in zip(x.shape[2:], cropping)]
    return x[tuple(index)]


def adaptive_pool(x, output_size, mode):
    """Adaptive max or average pooling to `output_size`: bin i of an axis of n inputs covers
    [floor(i * n / m), ceil((i + 1) * n / m)) (Keras's bins, which are torch's).

    torch's kernels compute it; while exporting to ONNX, where torch's exporter takes only sizes that divide,
    the same bins are computed as Keras does: two fixed-window poolings per axis and a gather.
    """
    rank = x.dim() - 2
    divides = all(int(n) % m == 0 for n, m in zip(x.shape[2:], output_size))
    if not divides and torch.onnx.is_in_onnx_export():
        return _adaptive_pool_gather(x, output_size, mode)
    return _ADAPTIVE_POOL[(mode, rank)](x, tuple(output_size))


def _adaptive_pool_gather(x, output_size, mode):
    rank = x.dim() - 2
    pool = _MAX_POOL[rank] if mode == "max" else _AVG_POOL[rank]
    for axis, m in enumerate(output_size):
        small, big, index = adaptive_windows(int(x.shape[2 + axis]), m)
        pooled = []
        for window in (small, big) if big is not None else (small,):
            kernel = tuple(window if a == axis else 1 for a in range(rank))
            pooled.append(pool(x, kernel, 1))
        x = torch.cat(pooled, dim=2 + axis).index_select(2 + axis, torch.as_tensor(index, device=x.device))
    return x
