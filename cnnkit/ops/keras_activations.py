"""Keras 3's activation ops (`keras.ops.nn`: relu, gelu, softmax, ...) on torch, with Keras's defaults
(`leaky_relu` negative_slope=0.2, `gelu` approximate=True, `hard_sigmoid` = relu6(x + 3) / 6).

Example:
    >>> softmax(np.zeros((1, 4)))
    tensor([[0.2500, 0.2500, 0.2500, 0.2500]])
"""


import torch
import torch.nn.functional as F

from cnnkit.ops.dispatch import float_tensor
from cnnkit.ops.dispatch import keras_op
from cnnkit.ops.dispatch import tensor
from cnnkit.ops.logits import attach_logits


def _activation(name, function):
    @keras_op(name)
    def op(x):
        return function(float_tensor(x))

    return op


@keras_op("relu")
def relu(x):
    return torch.relu(tensor(x))


@keras_op("relu6")
def relu6(x):
    x = tensor(x)
    return torch.clamp(x, 0, 6)


sigmoid = _activation("sigmoid", lambda x: attach_logits(torch.sigmoid(x), x))  # logits kept, as Keras's
softplus = _activation("softplus", F.softplus)
softsign = _activation("softsign", F.softsign)
silu = _activation("silu", F.silu)
swish = _activation("swish", F.silu)
log_sigmoid = _activation("log_sigmoid", F.logsigmoid)
hard_sigmoid = _activation("hard_sigmoid", lambda x: F.relu6(x + 3.0) / 6.0)
hard_silu = _activation("hard_silu", lambda x: x * (F.relu6(x + 3.0) / 6.0))
hard_swish = _activation("hard_swish", lambda x: x * (F.relu6(x + 3.0) / 6.0))
selu = _activation("selu", F.selu)
hard_tanh = _activation("hard_tanh", F.hardtanh)
tanh_shrink = _activation("tanh_shrink", F.tanhshrink)
sparse_plus = _activation("sparse_plus", lambda x: torch.where(
    x <= -1, torch.zeros_like(x), torch.where(x >= 1, x, (x + 1) ** 2 / 4)))
sparse_sigmoid = _activation("sparse_sigmoid", lambda x: torch.where(
    x <= -1, torch.zeros_like(x), torch.where(x >= 1, torch.ones_like(x), (x + 1) / 2)))


@keras_op("leaky_relu")
def leaky_relu(x, negative_slope=0.2):
    return F.leaky_relu(float_tensor(x), negative_slope)


@keras_op("elu")
def elu(x, alpha=1.0):
    return F.elu(float_tensor(x), alpha)


@keras_op("celu")
def celu(x, alpha=1.0):
    return F.celu(float_tensor(x), alpha)


@keras_op("gelu")
def gelu(x, approximate=True):
    return F.gelu(float_tensor(x), approximate="tanh" if approximate else "none")


@keras_op("glu")
def glu(x, axis=-1):
    return F.glu(float_tensor(x), dim=axis)


@keras_op("hard_shrink")
def hard_shrink(x, threshold=0.5):
    return F.hardshrink(float_tensor(x), threshold)


@keras_op("soft_shrink")
def soft_shrink(x, threshold=0.5):
    return F.softshrink(float_tensor(x), threshold)


@keras_op("squareplus")
def squareplus(x, b=4):
    x = float_tensor(x)
    return (x + torch.sqrt(x * x + b)) / 2


@keras_op("threshold")
def threshold(x, threshold, default_value):
    x = float_tensor(x)
    return torch.where(x > threshold, x, torch.as_tensor(default_value, dtype=x.dtype, device=x.device))


def _dims(x, axis):
    return tuple(range(x.dim())) if axis is None else axis


@keras_op("softmax")
def softmax(x, axis=-1):
    x = float_tensor(x)
    if isinstance(axis, int):
        return attach_logits(torch.softmax(x, dim=axis), x)  # as Keras's: see cnnkit.ops.logits
    return torch.exp(x - torch.logsumexp(x, dim=_dims(x, axis), keepdim=True))


@keras_op("log_softmax")
def log_softmax(x, axis=-1):
    x = float_tensor(x)
    if isinstance(axis, int):
        return torch.log_softmax(x, dim=axis)
    return x - torch.logsumexp(x, dim=_dims(x, axis), keepdim=True)


@keras_op("sparsemax")
def sparsemax(x, axis=-1):
    """Keras 3.15's formula (all its backends): tau = (sum of the sorted cumulative sums inside the support - 1) / k.
    This equals the paper's threshold (the cumulative sum at k) only when the support has one entry; cnnkit
    follows Keras so that models give Keras's outputs."""
    x = float_tensor(x)
    z = torch.movedim(x, axis, -1)
    z_sorted = torch.sort(z, dim=-1, descending=True).values
    cumulative = torch.cumsum(z_sorted, dim=-1)
    r = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype, device=z.device)
    support = z_sorted - (cumulative - 1) / r > 0
    k = support.sum(dim=-1, keepdim=True).to(z.dtype)
    tau = (torch.where(support, cumulative, torch.zeros_like(cumulative)).sum(dim=-1, keepdim=True) - 1) / k
    return torch.movedim(torch.clamp(z - tau, min=0), -1, axis)
