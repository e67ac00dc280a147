"""The Keras-ops oracle for tests/ops/test_keras_ops_*.py: `run_case` calls one op of `cnnkit.ops` and the same op
of `keras.ops` (TensorFlow) on the same inputs and compares values and dtypes.

A case is (op, args, kwargs, options). Each arg is an input code (below), or a value passed as is to both, or
a callable `rng -> value`. Options: tol (rtol = atol), dtype (False: skip the dtype check), ns (the namespace,
e.g. 'nn' for keras.ops.nn.<op>; default the flat keras.ops), sort (compare sorted values), abs (compare
absolute values: eigenvectors and singular vectors up to sign).
"""

import numpy as np
import pytest
import torch

import cnnkit.ops


def _normal(shape, dtype="float32"):
    return lambda rng: rng.normal(size=shape).astype(dtype)


def _uniform(shape, low, high, dtype="float32"):
    return lambda rng: rng.uniform(low, high, size=shape).astype(dtype)


def _spd(rng):
    a = rng.normal(size=(3, 3)).astype("float32")
    return (a @ a.T + 3 * np.eye(3)).astype("float32")


INPUTS = {
    "f": _normal((2, 3, 4)), "f2": _normal((3, 4)), "v": _normal((5,)), "p": _uniform((2, 3, 4), 0.5, 2.0),
    "p2": _uniform((3, 4), 0.5, 2.0), "u": _uniform((3, 4), -0.9, 0.9), "g": _uniform((3, 4), 1.1, 3.0),
    "i": lambda rng: rng.integers(-5, 6, size=(3, 4)).astype("int32"),
    "ip": lambda rng: rng.integers(1, 6, size=(3, 4)).astype("int32"),
    "iv": lambda rng: rng.integers(0, 4, size=(5,)).astype("int32"),
    "b": lambda rng: rng.integers(0, 2, size=(3, 4)).astype(bool),
    "m": _spd, "sq": _normal((3, 3)), "img": _uniform((2, 6, 6, 3), 0.0, 1.0),
    "f64": _normal((3, 4), "float64"), "nan": lambda rng: np.where(rng.random((3, 4)) < 0.3, np.nan,
                                                                    rng.normal(size=(3, 4))).astype("float32"),
}


def _make(arg, rng):
    if isinstance(arg, str) and arg in INPUTS:
        return INPUTS[arg](rng)
    if isinstance(arg, list) and any(isinstance(a, str) and a in INPUTS or callable(a) for a in arg):
        return [_make(a, rng) for a in arg]
    if callable(arg) and not isinstance(arg, type):
        return arg(rng)
    return arg


def _to_numpy(value, keras):
    if isinstance(value, (list, tuple)):
        return [_to_numpy(v, keras) for v in value]
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, (str, bool, int, float, type(None))):
        return value
    return keras.ops.convert_to_numpy(value)


def _dtype(value, keras):
    if isinstance(value, torch.Tensor):
        return str(value.dtype).replace("torch.", "")
    if hasattr(value, "dtype"):
        return keras.backend.standardize_dtype(value.dtype)
    return type(value).__name__


def _compare(ours, theirs, keras, tol, check_dtype, options, where):
    if isinstance(theirs, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(theirs), where
        for o, t in zip(ours, theirs):
            _compare(o, t, keras, tol, check_dtype, options, where)
        return
    if isinstance(theirs, (str, bool, int, float)) and not hasattr(theirs, "dtype"):
        assert ours == theirs, where
        return
    if check_dtype:
        assert _dtype(ours, keras) == _dtype(theirs, keras), f"{where}: dtype {_dtype(ours, keras)} != " \
                                                             f"{_dtype(theirs, keras)}"
    a, b = np.asarray(_to_numpy(ours, keras)), np.asarray(_to_numpy(theirs, keras))
    assert a.shape == b.shape, f"{where}: shape {a.shape} != {b.shape}"
    if options.get("sort"):
        a, b = np.sort(a, axis=None), np.sort(b, axis=None)
    if options.get("abs"):
        a, b = np.abs(a), np.abs(b)
    if a.dtype == bool or b.dtype == bool:
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        np.testing.assert_allclose(a.astype("float64"), b.astype("float64"), rtol=tol, atol=tol, equal_nan=True,
                                   err_msg=where)


@pytest.fixture
def run_case(keras, rng):
    def run(case):
        op, args, kwargs, options = (list(case) + [{}, {}])[:4]
        values = [_make(a, rng) for a in args]
        ns = options.get("ns") or next((n for n in ("image", "nn", "linalg") if not hasattr(keras.ops, op)), None)
        theirs_fn = getattr(getattr(keras.ops, ns) if ns else keras.ops, op)
        ours_fn = getattr(getattr(cnnkit.ops, ns) if ns else cnnkit.ops, op)
        theirs = theirs_fn(*[keras.ops.convert_to_tensor(v) if isinstance(v, np.ndarray) and options.get("tensors")
                             else v for v in values], **kwargs)
        ours = ours_fn(*values, **kwargs)
        _compare(ours, theirs, keras, options.get("tol", 1e-5), options.get("dtype", True), options,
                 f"{op}{tuple(args)} {kwargs}")

    return run
