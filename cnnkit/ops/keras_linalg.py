"""Keras 3's products (`keras.ops.numpy`: matmul, dot, tensordot, einsum, ...) and `keras.ops.linalg` on torch.

Integer operands of products stay integer (int8 @ int8 -> int32 as in Keras); decompositions take floats.

Example:
    >>> matmul(np.ones((2, 3)), np.ones((3, 4))).shape
    torch.Size([2, 4])
"""

import torch

from cnnkit.ops.dispatch import float_tensor
from cnnkit.ops.dispatch import keras_op
from cnnkit.ops.dispatch import not_implemented
from cnnkit.ops.dispatch import operands as _operands
from cnnkit.ops.dispatch import tensor
from cnnkit.ops.keras_dtypes import result_type


def _product_operands(*xs):
    dtype = result_type(*xs)
    if dtype in ("int8", "int16", "uint8", "bool"):
        dtype = "int32"
    return _operands(*xs, dtype=dtype)


@keras_op("matmul")
def matmul(x1, x2):
    return torch.matmul(*_product_operands(x1, x2))


@keras_op("dot")
def dot(x1, x2):
    a, b = _product_operands(x1, x2)
    if a.dim() == 0 or b.dim() == 0:
        return a * b
    if b.dim() == 1:
        return torch.matmul(a, b)
    return torch.tensordot(a, b, dims=([a.dim() - 1], [b.dim() - 2]))


@keras_op("tensordot")
def tensordot(x1, x2, axes=2):
    a, b = _product_operands(x1, x2)
    return torch.tensordot(a, b, dims=axes if isinstance(axes, int) else [list(ax) if isinstance(ax, (list, tuple))
                                                                           else [ax] for ax in axes])


@keras_op("einsum")
def einsum(subscripts, *operands, **kwargs):
    return torch.einsum(subscripts, *_product_operands(*operands))


@keras_op("outer")
def outer(x1, x2):
    a, b = _product_operands(x1, x2)
    return torch.outer(a.reshape(-1), b.reshape(-1))


@keras_op("inner")
def inner(x1, x2):
    return torch.inner(*_product_operands(x1, x2))


@keras_op("vdot")
def vdot(x1, x2):
    a, b = _product_operands(x1, x2)
    return torch.sum(torch.conj(a.reshape(-1)) * b.reshape(-1))


@keras_op("kron")
def kron(x1, x2):
    return torch.kron(*_product_operands(x1, x2))


@keras_op("cross")
def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    a, b = _operands(x1, x2)
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = torch.movedim(a, axisa, -1), torch.movedim(b, axisb, -1)
    if a.shape[-1] == 2 or b.shape[-1] == 2:
        not_implemented("cross", "2-vectors (numpy's z-component convention)")
    a, b = torch.broadcast_tensors(a, b)
    return torch.movedim(torch.linalg.cross(a, b, dim=-1), -1, axisc)


@keras_op("slogdet")
def slogdet(x):
    sign, logabsdet = torch.linalg.slogdet(float_tensor(x))
    return sign, logabsdet


# ---- keras.ops.linalg ----------------------------------------------------------------------------------------
@keras_op("cholesky")
def cholesky(x, upper=False):
    return torch.linalg.cholesky(float_tensor(x), upper=upper)


@keras_op("cholesky_inverse")
def cholesky_inverse(x, upper=False):
    return torch.cholesky_inverse(float_tensor(x), upper=upper)


@keras_op("det")
def det(x):
    return torch.linalg.det(float_tensor(x))


@keras_op("eig")
def eig(x):
    return torch.linalg.eig(float_tensor(x))


@keras_op("eigh")
def eigh(x):
    return torch.linalg.eigh(float_tensor(x))


@keras_op("inv")
def inv(x):
    return torch.linalg.inv(float_tensor(x))


@keras_op("lstsq")
def lstsq(a, b, rcond=None):
    a, b = _operands(a, b, dtype=result_type(a, b, float))
    vector = b.dim() == 1
    out = torch.linalg.lstsq(a, b.unsqueeze(-1) if vector else b, rcond=rcond, driver="gelsd").solution
    return out.squeeze(-1) if vector else out


@keras_op("lu_factor")
def lu_factor(x):
    lu, pivots = torch.linalg.lu_factor(float_tensor(x))
    return lu, (pivots - 1).to(torch.int32)


@keras_op("matrix_rank")
def matrix_rank(x, tol=None):
    return torch.linalg.matrix_rank(float_tensor(x), atol=tol).to(torch.int32)


@keras_op("norm")
def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 (Keras's argument name)
    x = float_tensor(x)
    if axis is None and ord is None:
        return torch.linalg.vector_norm(x.reshape(-1), keepdim=False).reshape([1] * x.dim() if keepdims else [])
    if isinstance(axis, int) or (axis is None and x.dim() == 1):
        return torch.linalg.vector_norm(x, ord=2 if ord is None else ord, dim=axis, keepdim=keepdims)
    axis = (-2, -1) if axis is None else tuple(axis)
    if len(axis) == 1:
        return torch.linalg.vector_norm(x, ord=2 if ord is None else ord, dim=axis, keepdim=keepdims)
    return torch.linalg.matrix_norm(x, ord="fro" if ord is None else ord, dim=axis, keepdim=keepdims)


@keras_op("pinv")
def pinv(x, rcond=None):
    return torch.linalg.pinv(float_tensor(x), rtol=1e-15 if rcond is None else rcond)


@keras_op("qr")
def qr(x, mode="reduced"):
    if mode not in ("reduced", "complete"):
        raise ValueError(f"`mode` argument value not supported. Expected one of {{'reduced', 'complete'}}. "
                         f"Received: mode={mode}")
    return torch.linalg.qr(float_tensor(x), mode=mode)


@keras_op("solve")
def solve(a, b):
    a, b = _operands(a, b, dtype=result_type(a, b, float))
    return torch.linalg.solve(a, b)


@keras_op("solve_triangular")
def solve_triangular(a, b, lower=False):
    a, b = _operands(a, b, dtype=result_type(a, b, float))
    vector = b.dim() == a.dim() - 1
    out = torch.linalg.solve_triangular(a, b.unsqueeze(-1) if vector else b, upper=not lower)
    return out.squeeze(-1) if vector else out


@keras_op("svd")
def svd(x, full_matrices=True, compute_uv=True):
    x = float_tensor(x)
    if not compute_uv:
        return torch.linalg.svdvals(x)
    return torch.linalg.svd(x, full_matrices=full_matrices)


@keras_op("jvp")
def jvp(fun, primals, tangents, has_aux=False):
    out = torch.func.jvp(fun, tuple(tensor(p) for p in primals), tuple(tensor(t) for t in tangents),
                         has_aux=has_aux)
    return out


@keras_op("logdet")
def logdet(x):
    return torch.logdet(float_tensor(x))
