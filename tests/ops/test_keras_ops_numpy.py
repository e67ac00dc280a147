"""`cnnkit.ops`' numpy-like ops (keras.ops.numpy) against Keras's own ops on TensorFlow: values and dtypes, on
random float32 and int32 inputs of a couple of shapes (see tests/ops/conftest.py for the input codes)."""

import numpy as np
import pytest

import cnnkit.ops

UNARY_FLOAT = ["abs", "absolute", "negative", "sign", "square", "exp", "exp2", "expm1", "sin", "cos", "tan",
               "arctan", "sinh", "cosh", "tanh", "arcsinh", "deg2rad", "rad2deg", "floor", "ceil", "trunc", "round",
               "fabs", "isfinite", "isinf", "isnan", "signbit", "copy", "real", "imag", "conj", "conjugate",
               "sinc", "cbrt", "isneginf", "isposinf", "logical_not", "ravel", "nan_to_num", "ndim", "size"]
POSITIVE = ["sqrt", "log", "log2", "log10", "log1p", "reciprocal", "i0"]
UNIT = ["arcsin", "arccos", "arctanh"]
BINARY = ["add", "subtract", "multiply", "divide", "true_divide", "maximum", "minimum", "fmax", "fmin", "arctan2",
          "hypot", "logaddexp", "logaddexp2", "equal", "not_equal", "greater", "greater_equal", "less",
          "less_equal", "logical_and", "logical_or", "logical_xor", "isclose", "allclose", "divide_no_nan",
          "heaviside", "nextafter", "matmul_skip"]
INT_BINARY = ["add", "subtract", "multiply", "floor_divide", "mod", "maximum", "minimum", "bitwise_and",
              "bitwise_or", "bitwise_xor", "equal", "greater", "gcd", "lcm", "true_divide"]
REDUCTIONS = ["sum", "mean", "max", "min", "prod", "std", "var", "amax", "amin", "ptp", "logsumexp", "median"]
AXES = [{}, {"axis": 1}, {"axis": -1, "keepdims": True}, {"axis": (0, 2)}]

CASES = (
    [(op, ["f"]) for op in UNARY_FLOAT]
    + [(op, ["i"]) for op in ["abs", "negative", "sign", "square", "exp", "sin", "floor", "round", "isnan",
                              "bitwise_not", "bitwise_invert", "sqrt"]]
    + [(op, ["p"]) for op in POSITIVE] + [(op, ["u"]) for op in UNIT] + [("arccosh", ["g"])]
    + [(op, ["f2", "u"]) for op in BINARY if op != "matmul_skip"]
    + [(op, ["f", 2.5]) for op in ["add", "multiply", "maximum", "power", "subtract", "greater", "divide"]]
    + [(op, ["ip", "ip"]) for op in INT_BINARY]
    + [("add", ["i", 2]), ("add", ["i", 2.5]), ("multiply", ["b", 3]), ("add", ["f64", "f2"]),
       ("add", ["i", "f2"]), ("power", ["p2", "ip"]), ("power", ["ip", 2]), ("left_shift", ["ip", 1]),
       ("right_shift", ["ip", 1]), ("bitwise_left_shift", ["ip", "ip"]), ("ldexp", ["f2", "ip"]),
       ("fmod", ["f2", "p2"]), ("mod", ["f2", "p2"]), ("clip", ["f", -0.5, 0.5]), ("clip", ["i", -2, 3]),
       ("round", ["f"], {"decimals": 2}), ("nan_to_num", ["nan"], {"nan": 1.5})]
    + [(op, ["f"], kw) for op in REDUCTIONS for kw in AXES]
    + [(op, ["i"], kw) for op in ["sum", "mean", "max", "prod", "var"] for kw in AXES[:3]]
    + [(op, ["b"], kw) for op in ["all", "any", "sum"] for kw in AXES[:3]]
    + [(op, ["f"], kw) for op in ["argmax", "argmin"] for kw in [{}, {"axis": 1}, {"axis": -1, "keepdims": True}]]
    + [(op, ["nan"], kw) for op in ["nansum", "nanmean", "nanmax", "nanmin", "nanprod", "nanstd", "nanvar",
                                    "nanmedian", "nanargmax", "nanargmin"] for kw in [{}, {"axis": 1}]]
    + [("count_nonzero", ["i"]), ("count_nonzero", ["i"], {"axis": 0}),
       ("quantile", ["f", 0.3], {"axis": 1}), ("quantile", ["f", [0.1, 0.9]], {"axis": -1, "keepdims": True}),
       ("percentile", ["f2", 40.0]), ("nanquantile", ["nan", 0.5], {"axis": 1}), ("nanpercentile", ["nan", 50.0]),
       ("average", ["f2"], {"axis": 1}), ("average", ["f2", 0, lambda r: r.uniform(0.1, 1, 3).astype("float32")]),
       ("cumsum", ["f"], {"axis": 1}), ("cumsum", ["i"]), ("cumprod", ["u"], {"axis": 0}),
       ("nancumsum", ["nan"], {"axis": 1}), ("nancumprod", ["nan"], {"axis": 0}),
       ("sort", ["f"]), ("sort", ["i"], {"axis": 0}), ("argsort", ["f"], {"axis": 1}),
       ("searchsorted", [lambda r: np.array([0.0, 1.0, 2.5, 4.0], "float32"), "v"]),
       ("digitize", ["f2", [-1.0, 0.0, 1.0]]),
       ("bincount", ["iv"]), ("bincount", ["iv"], {"minlength": 6}),
       ("histogram", ["v"], {"bins": 4})]
    # shape, joining, indexing
    + [("reshape", ["f", (4, -1)]), ("transpose", ["f"]), ("transpose", ["f", (1, 0, 2)]),
       ("expand_dims", ["f", 1]), ("expand_dims", ["f", (0, -1)]), ("squeeze", [lambda r: r.normal(size=(3, 1, 4))]),
       ("squeeze", [lambda r: r.normal(size=(1, 3, 1))], {"axis": 0}), ("moveaxis", ["f", 0, -1]),
       ("swapaxes", ["f", 0, 2]), ("broadcast_to", ["v", (2, 5)]), ("concatenate", [["f2", "f2"]], {"axis": 1}),
       ("concatenate", [["i", "f2"]]), ("append", ["f2", "f2"], {"axis": 0}), ("append", ["f2", "v"]),
       ("stack", [["f2", "u"]], {"axis": 1}), ("hstack", [["f2", "u"]]), ("vstack", [["f2", "u"]]),
       ("dstack", [["f2", "u"]]), ("split", ["f", 2], {"axis": 2}), ("split", ["f2", [1, 3]], {"axis": 1}),
       ("array_split", ["f2", 3], {"axis": 1}), ("hsplit", ["f2", 2]), ("vsplit", [lambda r: r.normal(size=(4, 2)),
                                                                                  2]),
       ("dsplit", ["f", 2]), ("unstack", ["f"], {"axis": 1}), ("tile", ["f2", (2, 1)]), ("repeat", ["f2", 2]),
       ("repeat", ["f2", 2], {"axis": 1}), ("repeat", ["f2", [1, 0, 2]], {"axis": 0}), ("flip", ["f"]),
       ("flip", ["f"], {"axis": 1}), ("fliplr", ["f2"]), ("flipud", ["f2"]), ("roll", ["f", 2]),
       ("roll", ["f", -1], {"axis": 2}), ("rot90", ["f2"]), ("rot90", ["f2", 3]),
       ("pad", ["f2", ((1, 2), (0, 1))]), ("pad", ["f2", ((1, 1), (0, 2))], {"constant_values": 3.0}),
       ("pad", ["f2", ((1, 1), (2, 2))], {"mode": "reflect"}), 
       ("pad", ["f2", ((2, 1), (1, 1))], {"mode": "symmetric"}), 
       ("take", ["f", [0, 2]], {"axis": 2}), ("take", ["f", [[1, -1]]], {"axis": 1}), ("take", ["f2", [3, 0]]),
       ("take_along_axis", ["f2", lambda r: r.integers(0, 4, (3, 2))], {"axis": 1}),
       ("where", ["b", "f2", "u"]), ("where", ["b", "f2", 0.0]), ("where", ["b", "i", 1.5]), ("nonzero", ["b"]),
       ("select", [["b", lambda r: r.random((3, 4)) > 0.5], ["f2", "u"], 1.0]),
       ("diag", ["v"]), ("diag", ["f2"], {"k": 1}), ("diagflat", ["f2"]), ("diagonal", ["f"], {"axis1": 1,
                                                                                              "axis2": 2}),
       ("trace", ["f2"]), ("trace", ["f"], {"offset": 1, "axis1": 1, "axis2": 2}), ("tril", ["f2"]),
       ("triu", ["f2", -1]), ("diff", ["f"]), ("diff", ["f2"], {"n": 2, "axis": 0}),
       ("unique", ["iv"]), ("unravel_index", [[1, 5, 7], (3, 4)]), ("isin", ["i", [0, 1, 2]]),
       ("meshgrid", ["v", [1.0, 2.0]]), ("meshgrid", ["v", [1.0, 2.0]], {"indexing": "ij"}),
       ("get_item", ["f2", 1])]
    # creation, ranges and windows
    + [("zeros", [(2, 3)]), ("ones", [(2,)], {"dtype": "int32"}), ("full", [(2, 3), 7]), ("full", [(2,), 1.5]),
       ("zeros_like", ["i"]), ("ones_like", ["f2"], {"dtype": "float64"}), ("full_like", ["i", 2.7]),
       ("eye", [3]), ("eye", [3, 4], {"k": 1}), ("identity", [2]), ("tri", [3, 4], {"k": -1}),
       ("arange", [5]), ("arange", [1.0, 3.0, 0.5]), ("arange", [2, 9, 3]), ("linspace", [0.0, 1.0, 5]),
       ("linspace", [0, 10, 4], {"endpoint": False}), ("logspace", [0.0, 2.0, 3]), ("geomspace", [1.0, 100.0, 3]),
       ("array", [[[1, 2], [3, 4]]]), ("array", [[1.0, 2.0]], {"dtype": "float64"}), ("vander", ["v"], {"N": 3}),
       ("trapezoid", ["f2"]), ("trapezoid", ["f2"], {"dx": 0.5, "axis": 0}), ("corrcoef", ["f2"]),
       ("correlate", ["v", [1.0, 0.5, -1.0]]), ("correlate", ["v", [1.0, 0.5]], {"mode": "full"}),
       ("correlate", ["v", [1.0, 0.5, 2.0]], {"mode": "same"}), ("bartlett", [5]), ("blackman", [6]),
       ("hamming", [5]), ("hanning", [4]), ("kaiser", [5, 2.0])]
    # products
    + [("matmul", ["f2", lambda r: r.normal(size=(4, 2)).astype("float32")]), ("matmul", ["f", "v_skip"]),
       ("matmul", ["i", lambda r: r.integers(-3, 3, (4, 2)).astype("int32")]), ("dot", ["f2", "v4"]),
       ("dot", ["f", lambda r: r.normal(size=(4, 2)).astype("float32")]), ("dot", ["v", 2.0]),
       ("tensordot", ["f", lambda r: r.normal(size=(3, 4, 2)).astype("float32")]),
       ("tensordot", ["f2", "f2"], {"axes": ([1], [1])}), ("einsum", ["ij,kj->ik", "f2", "u"]),
       ("einsum", ["bij->bji", "f"]), ("outer", ["v", "v"]), ("inner", ["f2", "u"]), ("vdot", ["f2", "u"]),
       ("kron", ["f2", [[1.0, 2.0]]]), ("cross", [lambda r: r.normal(size=(4, 3)), lambda r: r.normal(size=(4, 3))])]
)
CASES = [c for c in CASES if "matmul_skip" not in c and "v_skip" not in c[1]]


def _cases():
    for case in CASES:
        case = list(case) + [{}] * (3 - len(case))
        if "v4" in case[1]:
            case[1] = [lambda r: r.normal(size=(4,)).astype("float32") if a == "v4" else a for a in case[1]]
        yield pytest.param(tuple(case), id=f"{case[0]}-{'-'.join(a if isinstance(a, str) else '_' for a in case[1])}"
                                              f"-{'-'.join(map(str, case[2].values()))}")


@pytest.mark.parametrize("case", list(_cases()))
def test_numpy_op_matches_keras(run_case, case):
    run_case(case)


def test_every_keras_name_is_in_cnnkit_ops(keras):
    import cnnkit.ops  # noqa: PLC0415

    flat = [n for n in dir(keras.ops) if not n.startswith("_")]
    assert [n for n in flat if not hasattr(cnnkit.ops, n)] == []
    for ns in ("numpy", "nn", "image", "linalg"):
        names = [n for n in dir(getattr(keras.ops, ns)) if not n.startswith("_")]
        assert [n for n in names if not hasattr(getattr(cnnkit.ops, ns), n)] == [], ns


def test_ops_tensorflow_lacks_match_numpy(rng):
    """Modes and cases Keras's TensorFlow backend does not run (pad 'edge'/'wrap') or gets wrong (rot90 k=2 on
    axes (1, 2) of a rank-3 input): numpy is the oracle."""
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    np.testing.assert_array_equal(cnnkit.ops.rot90(x, 2, axes=(1, 2)).numpy(), np.rot90(x, 2, axes=(1, 2)))
    for mode in ("edge", "wrap", "reflect", "symmetric"):
        np.testing.assert_array_equal(cnnkit.ops.pad(x, ((0, 1), (2, 1), (1, 2)), mode=mode).numpy(),
                                      np.pad(x, ((0, 1), (2, 1), (1, 2)), mode=mode))
