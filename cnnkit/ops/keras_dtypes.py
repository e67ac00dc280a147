"""Keras 3's dtype rules for `cnnkit.ops` (keras/src/backend/common/dtypes.py, as Keras on TensorFlow applies them).

- Python numbers are weak: `int32 tensor + 3` stays int32, `int32 tensor + 3.0` becomes float32 (floatx), a float16
  tensor + 3.0 stays float16; Python ints alone become int32, Python floats float32, as in Keras.
- Arrays keep their dtype (a float64 numpy array stays float64, an int64 one int64).
- Two dtypes meet at their least upper bound on Keras's (JAX's) promotion lattice: int8 + uint8 -> int16,
  int32 + float16 -> float16, bool + int8 -> int8.

Example:
    >>> result_type(torch.ones(2, dtype=torch.int8), 3.0)
    'float32'
"""

import functools

import numpy as np
import torch

from cnnkit import config



def floatx():
    """Keras's default float type (`cnnkit.config.floatx()`, 'float32' unless set)."""
    return config.floatx()

_INTS = ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
_FLOATS = ("bfloat16", "float16", "float32", "float64")

_LATTICE = {
    "bool": ["int"], "uint8": ["int16", "uint16"], "uint16": ["int32", "uint32"], "uint32": ["int64", "uint64"],
    "uint64": ["float"], "int": ["uint8", "int8", "complex64"], "int8": ["int16"], "int16": ["int32"],
    "int32": ["int64"], "int64": ["float"], "float": ["bfloat16", "float16"], "bfloat16": ["float32"],
    "float16": ["float32"], "float32": ["float64", "complex64"], "float64": ["complex128"],
    "complex64": ["complex128"], "complex128": [],
}


def _upper_bounds():
    bounds = {node: {node} for node in _LATTICE}
    for node in _LATTICE:
        while True:
            grown = set().union(*(_LATTICE[b] for b in bounds[node])) | bounds[node]
            if grown == bounds[node]:
                break
            bounds[node] = grown
    return bounds


_UPPER = _upper_bounds()


@functools.lru_cache(512)
def _least_upper_bound(*nodes):
    nodes = set(nodes)
    common = set.intersection(*(_UPPER[n] for n in nodes))
    least = (common & nodes) or {c for c in common if common.issubset(_UPPER[c])}
    if len(least) != 1:
        raise ValueError(f"Input dtypes {tuple(sorted(nodes))} have no available implicit dtype promotion path. "
                         "Try explicitly casting inputs to the desired output type.")
    return least.pop()


TORCH_DTYPES = {
    "bool": torch.bool, "uint8": torch.uint8, "int8": torch.int8, "int16": torch.int16, "int32": torch.int32,
    "int64": torch.int64, "uint16": torch.uint16, "uint32": torch.uint32, "uint64": torch.uint64,
    "bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32, "float64": torch.float64,
    "complex64": torch.complex64, "complex128": torch.complex128,
}
_NAMES = {v: k for k, v in TORCH_DTYPES.items()}


def standardize_dtype(dtype):
    """A dtype (str, torch or numpy dtype, Python type, None for floatx) as Keras's name, e.g. 'float32'."""
    if dtype is None:
        return floatx()
    if isinstance(dtype, torch.dtype):
        return _NAMES[dtype]
    if dtype in (int, "int"):
        return "int32"
    if dtype is float or dtype == "float":
        return floatx()
    if dtype is bool:
        return "bool"
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in TORCH_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype}")
    return name


def to_torch_dtype(dtype):
    """Keras's dtype name (or any form `standardize_dtype` takes) as a torch dtype."""
    return TORCH_DTYPES[standardize_dtype(dtype)]


def dtype_of(x):
    """(Keras dtype name, weak) of an operand: Python ints and floats are weak."""
    if isinstance(x, torch.Tensor):
        return _NAMES[x.dtype], False
    if isinstance(x, (bool, np.bool_)):
        return "bool", False
    if isinstance(x, int):
        return "int64", True
    if isinstance(x, float):
        return "float32", True
    if isinstance(x, complex):
        return "complex128", True
    if isinstance(x, (np.ndarray, np.generic)):
        return x.dtype.name, False
    if isinstance(x, (list, tuple)):
        return python_sequence_dtype(x), False
    dtype = getattr(x, "dtype", None)
    if dtype is not None:
        return standardize_dtype(dtype), False
    raise TypeError(f"cnnkit.ops: cannot take an operand of type {type(x).__name__}: {x!r}")


def python_sequence_dtype(values):
    """Keras's dtype for a (nested) list of Python numbers or arrays: the promotion of its items."""
    flat = np.asarray(values)
    if flat.dtype == object:
        raise TypeError(f"cnnkit.ops: cannot convert {values!r} to a tensor.")
    items = [v for v in _flatten(values)]
    if not items:
        return floatx()
    return result_type(*items)


def _flatten(values):
    for v in values:
        if isinstance(v, (list, tuple)):
            yield from _flatten(v)
        else:
            yield v


def _weak(dtype, weak):
    if not weak or dtype == "bool":
        return dtype
    return "float" if "float" in dtype else ("int" if "int" in dtype else "complex64")


def result_type(*operands):
    """Keras's result dtype of `operands` (tensors, arrays, Python numbers, dtype names); floatx for none.

    Strings among `operands` are dtype names (strong), as in `keras.backend.result_type`.
    """
    pairs = []
    for x in operands:
        if x is None:
            continue
        if x is int or x is float:
            pairs.append(("int64" if x is int else "float32", True))
        elif x is bool or isinstance(x, (str, torch.dtype, np.dtype)):
            pairs.append((standardize_dtype(x), False))
        else:
            pairs.append(dtype_of(x))
    if not pairs:
        return floatx()
    dtypes, weaks = zip(*pairs)
    if len(dtypes) == 1:
        out, weak = dtypes[0], weaks[0]
    elif len(set(dtypes)) == 1 and not all(weaks):
        out, weak = dtypes[0], False
    elif all(weaks):
        out, weak = _least_upper_bound(*set(dtypes)), True
    else:
        out = _least_upper_bound(*{_weak(d, w) for d, w in zip(dtypes, weaks)})
        weak = out in ("int", "float")
    if out != "bool" and weak:
        out = {"b": "bool", "i": "int32", "u": "uint32"}.get(out[:1], floatx())
    return out


def is_float(dtype):
    """Whether Keras dtype name `dtype` is a floating-point type."""
    return dtype in _FLOATS


def is_int(dtype):
    """Whether Keras dtype name `dtype` is an integer type (signed or not)."""
    return dtype in _INTS
