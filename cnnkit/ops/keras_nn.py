"""Keras 3's `keras.ops.nn` convolutions, pooling, normalization, one-hot encodings and crossentropies on torch.

Image ops take channels_last inputs (N, *spatial, C) and Keras-layout kernels ((*k, in, out) for `conv`,
(*k, out, in) for `conv_transpose`, (*k, in, multiplier) for `depthwise_conv`) unless
`data_format='channels_first'`; the work is done by `cnnkit.ops.functional` (TensorFlow's 'same' padding and
pooling semantics) on channels-first views, so results match Keras's layers.

Example:
    >>> conv(np.ones((1, 5, 5, 2), np.float32), np.ones((3, 3, 2, 4), np.float32), padding="same").shape
    torch.Size([1, 5, 5, 4])
"""

import torch
import torch.nn.functional as F

from cnnkit import config
from cnnkit.ops import functional
from cnnkit.ops import layout
from cnnkit.ops.arguments import normalize_tuple
from cnnkit.ops.dispatch import float_tensor
from cnnkit.ops.dispatch import keras_op
from cnnkit.ops.dispatch import not_implemented
from cnnkit.ops.dispatch import operands
from cnnkit.ops.dispatch import tensor
from cnnkit.ops.keras_dtypes import result_type
from cnnkit.ops.keras_dtypes import to_torch_dtype


def _channels_first(x, data_format):
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError(f"The `data_format` argument must be one of {{'channels_first', 'channels_last'}}. "
                         f"Received: data_format={data_format}")
    return data_format == "channels_first"


def _in(x, data_format):
    return x if _channels_first(x, data_format) else layout.to_internal(x)


def _out(y, data_format):
    return y if _channels_first(y, data_format) else layout.to_keras(y)


def _kernel_to_torch(kernel):
    rank = kernel.dim() - 2
    return kernel.permute(rank + 1, rank, *range(rank))


def _conv_args(inputs, kernel, strides, dilation_rate, padding, owner):
    x, k = operands(inputs, kernel, dtype=result_type(inputs, kernel, float))
    rank = x.dim() - 2
    padding = padding.lower()
    if padding not in ("valid", "same", "causal"):
        raise ValueError(f"{owner}: `padding` must be 'valid' or 'same'. Received: padding={padding}")
    return (x, k, normalize_tuple(strides, rank, "strides", owner),
            normalize_tuple(dilation_rate, rank, "dilation_rate", owner), padding)


@keras_op("conv")
def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    x, k, strides, dilation, padding = _conv_args(inputs, kernel, strides, dilation_rate, padding, "conv")
    x = _in(x, data_format)
    groups = x.shape[1] // k.shape[-2]
    return _out(functional.conv(x, _kernel_to_torch(k), None, strides, padding, dilation, groups), data_format)


@keras_op("depthwise_conv")
def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    x, k, strides, dilation, padding = _conv_args(inputs, kernel, strides, dilation_rate, padding, "depthwise_conv")
    rank = k.dim() - 2
    weight = k.permute(rank, rank + 1, *range(rank))
    return _out(functional.depthwise_conv(_in(x, data_format), weight, None, strides, padding, dilation),
                data_format)


@keras_op("separable_conv")
def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    y = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(y, pointwise_kernel, 1, "valid", data_format, 1)


@keras_op("conv_transpose")
def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None,
                   dilation_rate=1):
    x, k, strides, dilation, padding = _conv_args(inputs, kernel, strides, dilation_rate, padding, "conv_transpose")
    rank = x.dim() - 2
    if output_padding is not None:
        output_padding = normalize_tuple(output_padding, rank, "output_padding", "conv_transpose", allow_zero=True)
    y = functional.conv_transpose(_in(x, data_format), _kernel_to_torch(k), None, strides, padding, output_padding,
                                  dilation)
    return _out(y, data_format)


def _pool(function, inputs, pool_size, strides, padding, data_format, owner):
    x = float_tensor(inputs)
    rank = x.dim() - 2
    pool_size = normalize_tuple(pool_size, rank, "pool_size", owner)
    strides = pool_size if strides is None else normalize_tuple(strides, rank, "strides", owner)
    padding = padding.lower()
    if padding not in ("valid", "same"):
        raise ValueError(f"{owner}: `padding` must be 'valid' or 'same'. Received: padding={padding}")
    return _out(function(_in(x, data_format), pool_size, strides, padding), data_format)


@keras_op("max_pool")
def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    return _pool(functional.max_pool, inputs, pool_size, strides, padding, data_format, "max_pool")


@keras_op("average_pool")
def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    return _pool(functional.avg_pool, inputs, pool_size, strides, padding, data_format, "average_pool")


def _adaptive(mode, inputs, output_size, data_format):
    x = float_tensor(inputs)
    size = normalize_tuple(output_size, x.dim() - 2, "output_size", f"adaptive_{mode}_pool")
    return _out(functional.adaptive_pool(_in(x, data_format), size, mode), data_format)


@keras_op("adaptive_average_pool")
def adaptive_average_pool(inputs, output_size, data_format=None):
    return _adaptive("average", inputs, output_size, data_format)


@keras_op("adaptive_max_pool")
def adaptive_max_pool(inputs, output_size, data_format=None):
    return _adaptive("max", inputs, output_size, data_format)


@keras_op("batch_normalization")
def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    x = float_tensor(x)
    shape = [1] * x.dim()
    shape[axis] = x.shape[axis]

    def param(v):
        return tensor(v, device=x.device).to(x.dtype).reshape(shape)

    inv = torch.rsqrt(param(variance) + epsilon)
    if scale is not None:
        inv = inv * param(scale)
    out = (x - param(mean)) * inv
    return out + param(offset) if offset is not None else out


@keras_op("moments")
def moments(x, axes, keepdims=False, synchronized=False):
    x = float_tensor(x)
    dims = tuple(axes) if isinstance(axes, (list, tuple)) else (axes,)
    var, mean = torch.var_mean(x, dim=dims, keepdim=keepdims, correction=0)
    return mean, var


@keras_op("normalize")
def normalize(x, axis=-1, order=2, epsilon=None):
    x = float_tensor(x)
    eps = config.epsilon() if epsilon is None else epsilon
    norm = torch.linalg.vector_norm(x, ord=order, dim=axis, keepdim=True)
    return x / torch.clamp(norm, min=eps)


@keras_op("layer_normalization")
def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    x = float_tensor(x)
    eps = config.epsilon() if epsilon is None else epsilon
    var, mean = torch.var_mean(x, dim=axis, keepdim=True, correction=0)
    out = (x - mean) * torch.rsqrt(var + eps)
    if kwargs.get("rms_scaling"):
        out = x * torch.rsqrt(torch.mean(x * x, dim=axis, keepdim=True) + eps)
    if gamma is not None:
        out = out * tensor(gamma, device=x.device).to(x.dtype)
    return out + tensor(beta, device=x.device).to(x.dtype) if beta is not None else out


@keras_op("rms_normalization")
def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    x = float_tensor(x)
    eps = config.epsilon() if epsilon is None else epsilon
    out = x * torch.rsqrt(torch.mean(x * x, dim=axis, keepdim=True) + eps)
    return out * tensor(scale, device=x.device).to(x.dtype) if scale is not None else out


@keras_op("one_hot")
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        not_implemented("one_hot", "sparse=True")
    x = tensor(x).to(torch.int64)
    valid = (x >= 0) & (x < num_classes)
    out = F.one_hot(torch.where(valid, x, torch.zeros_like(x)), num_classes) * valid.unsqueeze(-1)
    return torch.movedim(out, -1, axis).to(to_torch_dtype(dtype))


@keras_op("multi_hot")
def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    num_classes = kwargs.get("num_tokens", num_classes)
    x = tensor(inputs)
    batched = x.dim() > 1
    out = one_hot(x if batched else x.unsqueeze(0), num_classes, axis=-1, dtype=dtype, sparse=sparse)
    out = torch.amax(out, dim=-2)
    out = out if batched else out.squeeze(0)
    return torch.movedim(out, -1, axis) if batched else out


def _ce_operands(target, output):
    output = float_tensor(output)
    return tensor(target, device=output.device).to(output.dtype), output


@keras_op("binary_crossentropy")
def binary_crossentropy(target, output, from_logits=False):
    target, output = _ce_operands(target, output)
    if from_logits:
        return F.binary_cross_entropy_with_logits(output, target, reduction="none")
    eps = config.epsilon()
    output = torch.clamp(output, eps, 1.0 - eps)
    return -(target * torch.log(output) + (1.0 - target) * torch.log(1.0 - output))


@keras_op("categorical_crossentropy")
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    target, output = _ce_operands(target, output)
    if from_logits:
        return -torch.sum(target * torch.log_softmax(output, dim=axis), dim=axis)
    output = output / torch.sum(output, dim=axis, keepdim=True)
    eps = config.epsilon()
    return -torch.sum(target * torch.log(torch.clamp(output, eps, 1.0 - eps)), dim=axis)


@keras_op("sparse_categorical_crossentropy")
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    output = float_tensor(output)
    target = tensor(target, device=output.device).to(torch.int64)
    if target.dim() == output.dim() and target.shape[-1] == 1:
        target = target.squeeze(-1)
    onehot = torch.movedim(F.one_hot(target, output.shape[axis]), -1, axis).to(output.dtype)
    return categorical_crossentropy(onehot, output, from_logits=from_logits, axis=axis)


@keras_op("psnr")
def psnr(x1, x2, max_val):
    a, b = operands(x1, x2, dtype=result_type(x1, x2, float))
    mse = torch.mean((a - b) ** 2)
    return 20.0 * torch.log10(torch.as_tensor(float(max_val))) - 10.0 * torch.log10(mse)


def _last(x, data_format):
    return layout.to_keras(x) if data_format == "channels_first" else x


def _first(y, data_format):
    return layout.to_internal(y) if data_format == "channels_first" else y


@keras_op("depth_to_space")
def depth_to_space(x, block_size, data_format="channels_last"):
    """TensorFlow's order: output channel c of block position (i, j) is input channel (i * b + j) * C' + c."""
    x = _last(tensor(x), data_format)
    n, h, w, c = x.shape
    b = block_size
    y = x.reshape(n, h, w, b, b, c // (b * b)).permute(0, 1, 3, 2, 4, 5).reshape(n, h * b, w * b, c // (b * b))
    return _first(y, data_format)


@keras_op("space_to_depth")
def space_to_depth(x, block_size, data_format="channels_last"):
    x = _last(tensor(x), data_format)
    n, h, w, c = x.shape
    b = block_size
    y = x.reshape(n, h // b, b, w // b, b, c).permute(0, 1, 3, 2, 4, 5).reshape(n, h // b, w // b, b * b * c)
    return _first(y, data_format)
