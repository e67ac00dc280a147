"""Keras 3's element-wise numpy ops (`keras.ops.numpy`) on torch: arithmetic, powers and logs, trigonometry,
rounding, comparisons, logical and bitwise ops.

Operands broadcast as numpy's do and meet at Keras's result dtype (`cnnkit.ops.keras_dtypes`); functions that are
real-valued only (sqrt, exp, sin, ...) turn integer and bool inputs into floatx, as Keras does.

Example:
    >>> add(np.ones((2, 1), np.int32), 1.5).dtype
    torch.float32
"""

import torch

from cnnkit.ops.dispatch import float_tensor
from cnnkit.ops.dispatch import keras_op
from cnnkit.ops.dispatch import operands
from cnnkit.ops.dispatch import tensor
from cnnkit.ops.keras_dtypes import floatx
from cnnkit.ops.keras_dtypes import dtype_of
from cnnkit.ops.keras_dtypes import is_float
from cnnkit.ops.keras_dtypes import result_type

def _unary_float(name, function):
    @keras_op(name)
    def op(x):
        return function(float_tensor(x))

    return op

def _unary(name, function):
    @keras_op(name)
    def op(x):
        return function(tensor(x))

    return op

def _binary(name, function, floating=False):
    @keras_op(name)
    def op(x1, x2):
        dtype = result_type(x1, x2)
        if floating and not is_float(dtype):
            dtype = floatx()
        a, b = operands(x1, x2, dtype=dtype)
        return function(a, b)

    return op


def _bitwise(name, function):
    @keras_op(name)
    def op(x, y):
        return function(*operands(x, y))

    return op

def _compare(name, function):
    @keras_op(name)
    def op(x1, x2):
        return function(*operands(x1, x2))

    return op

# ---- arithmetic ----------------------------------------------------------------------------------------------
add = _binary("add", torch.add)
subtract = _binary("subtract", torch.subtract)
multiply = _binary("multiply", torch.multiply)
divide = _binary("divide", torch.true_divide, floating=True)
true_divide = _binary("true_divide", torch.true_divide, floating=True)
floor_divide = _binary("floor_divide", torch.floor_divide)
mod = _binary("mod", torch.remainder)
fmod = _binary("fmod", torch.fmod)
maximum = _binary("maximum", torch.maximum)
minimum = _binary("minimum", torch.minimum)
fmax = _binary("fmax", torch.fmax)
fmin = _binary("fmin", torch.fmin)
arctan2 = _binary("arctan2", torch.atan2, floating=True)
hypot = _binary("hypot", torch.hypot, floating=True)
logaddexp = _binary("logaddexp", torch.logaddexp, floating=True)
logaddexp2 = _binary("logaddexp2", torch.logaddexp2, floating=True)
nextafter = _binary("nextafter", torch.nextafter, floating=True)
heaviside = _binary("heaviside", torch.heaviside)
gcd = _binary("gcd", torch.gcd)
lcm = _binary("lcm", torch.lcm)
negative = _unary("negative", torch.negative)
absolute = _unary("absolute", torch.abs)
abs_ = _unary("abs", torch.abs)
fabs = _unary_float("fabs", torch.abs)
sign = _unary("sign", torch.sign)
square = _unary("square", torch.square)
conjugate = _unary("conjugate", torch.conj_physical)
conj = _unary("conj", torch.conj_physical)
real = _unary("real", lambda x: torch.real(x) if x.is_complex() else x)
imag = _unary("imag", lambda x: torch.imag(x) if x.is_complex() else torch.zeros_like(x))
angle = _unary_float("angle", torch.angle)
copy = _unary("copy", torch.clone)

@keras_op("divide_no_nan")
def divide_no_nan(x1, x2):
    dtype = result_type(x1, x2)
    a, b = operands(x1, x2, dtype=dtype if is_float(dtype) else floatx())
    return torch.where(b == 0, torch.zeros_like(a * b), a / torch.where(b == 0, torch.ones_like(b), b))

@keras_op("power")
def power(x1, x2):
    a, b = operands(x1, x2)
    return torch.pow(a, b)

@keras_op("reciprocal")
def reciprocal(x):
    return torch.reciprocal(float_tensor(x))

@keras_op("ldexp")
def ldexp(x1, x2):
    a = float_tensor(x1) if not isinstance(x1, torch.Tensor) or not x1.is_floating_point() else x1
    dtype = result_type(x1, float) if not is_float(dtype_of(x1)[0]) else dtype_of(x1)[0]
    return torch.ldexp(tensor(a, dtype), tensor(x2, device=a.device))

@keras_op("clip")
def clip(x, x_min, x_max):
    x = tensor(x)
    if x.dtype == torch.bool:
        x = x.to(torch.int32)
    return torch.clamp(x, x_min, x_max)

@keras_op("round")
def round_(x, decimals=0):
    x = tensor(x)
    if not x.is_floating_point():
        if decimals >= 0:
            return x
        factor = 10 ** (-decimals)
        return (torch.round(x.double() / factor) * factor).to(x.dtype)
    return torch.round(x, decimals=decimals)

# ---- exponentials, logs, powers, trigonometry ----------------------------------------------------------------
exp = _unary_float("exp", torch.exp)
exp2 = _unary_float("exp2", torch.exp2)
expm1 = _unary_float("expm1", torch.expm1)
log = _unary_float("log", torch.log)
log2 = _unary_float("log2", torch.log2)
log10 = _unary_float("log10", torch.log10)
log1p = _unary_float("log1p", torch.log1p)
sqrt = _unary_float("sqrt", torch.sqrt)
cbrt = _unary_float("cbrt", lambda x: torch.sign(x) * torch.abs(x).pow(1.0 / 3.0))
sin = _unary_float("sin", torch.sin)
cos = _unary_float("cos", torch.cos)
tan = _unary_float("tan", torch.tan)
arcsin = _unary_float("arcsin", torch.asin)
arccos = _unary_float("arccos", torch.acos)
arctan = _unary_float("arctan", torch.atan)
sinh = _unary_float("sinh", torch.sinh)
cosh = _unary_float("cosh", torch.cosh)
tanh = _unary_float("tanh", torch.tanh)
arcsinh = _unary_float("arcsinh", torch.asinh)
arccosh = _unary_float("arccosh", torch.acosh)
arctanh = _unary_float("arctanh", torch.atanh)
deg2rad = _unary_float("deg2rad", torch.deg2rad)
rad2deg = _unary_float("rad2deg", torch.rad2deg)
sinc = _unary_float("sinc", torch.sinc)
i0 = _unary_float("i0", torch.i0)
signbit = _unary("signbit", torch.signbit)

def _rounding(name, function):
    @keras_op(name)
    def op(x):
        x = tensor(x)
        if x.dtype == torch.bool or not x.is_floating_point():
            return x.to(torch.float32) if name != "trunc" else x
        return function(x)

    return op

floor = _rounding("floor", torch.floor)
ceil = _rounding("ceil", torch.ceil)
trunc = _rounding("trunc", torch.trunc)

# ---- comparisons and tests -----------------------------------------------------------------------------------
equal = _compare("equal", torch.eq)
not_equal = _compare("not_equal", torch.ne)
greater = _compare("greater", torch.gt)
greater_equal = _compare("greater_equal", torch.ge)
less = _compare("less", torch.lt)
less_equal = _compare("less_equal", torch.le)
isfinite = _unary("isfinite", torch.isfinite)
isinf = _unary("isinf", torch.isinf)
isnan = _unary("isnan", torch.isnan)
isneginf = _unary("isneginf", torch.isneginf)
isposinf = _unary("isposinf", torch.isposinf)
isreal = _unary("isreal", torch.isreal)

@keras_op("isclose")
def isclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b = operands(x1, x2)
    return torch.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)

@keras_op("allclose")
def allclose(x1, x2, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b = operands(x1, x2)
    return torch.all(torch.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))

# ---- logical and bitwise -------------------------------------------------------------------------------------
def _logical(name, function):
    @keras_op(name)
    def op(x1, x2):
        return function(tensor(x1).bool(), tensor(x2).bool())

    return op

logical_and = _logical("logical_and", torch.logical_and)
logical_or = _logical("logical_or", torch.logical_or)
logical_xor = _logical("logical_xor", torch.logical_xor)
logical_not = _unary("logical_not", lambda x: torch.logical_not(x.bool()))
bitwise_and = _bitwise("bitwise_and", torch.bitwise_and)
bitwise_or = _bitwise("bitwise_or", torch.bitwise_or)
bitwise_xor = _bitwise("bitwise_xor", torch.bitwise_xor)
bitwise_invert = _unary("bitwise_invert", torch.bitwise_not)
bitwise_not = _unary("bitwise_not", torch.bitwise_not)
bitwise_left_shift = _bitwise("bitwise_left_shift", torch.bitwise_left_shift)
bitwise_right_shift = _bitwise("bitwise_right_shift", torch.bitwise_right_shift)
left_shift = _bitwise("left_shift", torch.bitwise_left_shift)
right_shift = _bitwise("right_shift", torch.bitwise_right_shift)

@keras_op("nan_to_num")
def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    x = tensor(x)
    if not x.is_floating_point():
        return x
    return torch.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

