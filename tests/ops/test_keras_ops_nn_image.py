"""`cnnkit.ops`' nn, image, linalg, math and core ops against Keras's own ops on TensorFlow (values and dtypes);
channels_last defaults, Keras-layout kernels (see tests/ops/conftest.py for the input codes)."""

import numpy as np
import pytest
import torch

import cnnkit.ops


def _a(*shape, low=None, high=None, dtype="float32"):
    if low is None:
        return lambda r: r.normal(size=shape).astype(dtype)
    return lambda r: r.uniform(low, high, size=shape).astype(dtype)


def _labels(n, classes):
    return lambda r: r.integers(0, classes, size=(n,)).astype("int32")


def INPUT_SPD(r):  # noqa: N802
    a = r.normal(size=(3, 3))
    return a @ a.T + 3 * np.eye(3)


def KERAS_STFT(r):  # noqa: N802 (a spectrogram to invert: cnnkit's stft, checked against Keras's above)
    return cnnkit.ops.stft(r.normal(size=(2, 32)).astype("float32"), 8, 4, 16)


ACTIVATIONS = ["relu", "relu6", "sigmoid", "softplus", "softsign", "silu", "swish", "log_sigmoid", "hard_sigmoid",
               "hard_silu", "hard_swish", "elu", "selu", "gelu", "celu", "hard_tanh", "hard_shrink", "soft_shrink",
               "tanh_shrink", "sparse_plus", "sparse_sigmoid", "squareplus", "softmax", "log_softmax", "sparsemax",
               "glu", "leaky_relu"]
IMG = _a(2, 7, 6, 3, low=0.0, high=1.0)
IMG_CF = _a(2, 3, 7, 6, low=0.0, high=1.0)

CASES = (
    [(op, ["f"], {}) for op in ACTIVATIONS]
    + [("gelu", ["f"], {"approximate": False}), ("leaky_relu", ["f"], {"negative_slope": 0.1}),
       ("elu", ["f"], {"alpha": 0.5}), ("softmax", ["f"], {"axis": 1}), ("log_softmax", ["f"], {"axis": (1, 2)}),
       ("softmax", ["f"], {"axis": (0, 2)}), ("threshold", ["f", 0.1, -1.0]), ("relu", ["i"])]
    # convolutions and pooling: channels_last, Keras-layout kernels
    + [("conv", [IMG, _a(3, 3, 3, 4)], {}), ("conv", [IMG, _a(3, 2, 3, 4)], {"strides": 2, "padding": "same"}),
       ("conv", [IMG, _a(2, 2, 3, 2)], {"dilation_rate": 2}), ("conv", [_a(2, 9, 4), _a(3, 4, 5)], {}),
       ("conv", [_a(1, 4, 5, 4, 2), _a(2, 2, 2, 2, 3)], {"strides": (1, 2, 1)}),
       ("depthwise_conv", [IMG, _a(3, 3, 3, 2)], {"padding": "same", "strides": 2}),
       ("separable_conv", [IMG, _a(3, 3, 3, 2), _a(1, 1, 6, 4)], {"padding": "same"}),
       ("conv_transpose", [IMG, _a(3, 3, 5, 3)], {"strides": 2, "padding": "same"}),
       ("conv_transpose", [IMG, _a(2, 3, 4, 3)], {"strides": (2, 1), "output_padding": (1, 0)}),
       ("max_pool", [IMG, 2], {}), ("max_pool", [IMG, 3], {"strides": 2, "padding": "same"}),
       ("average_pool", [IMG, (2, 3)], {"padding": "same"}), ("average_pool", [_a(2, 9, 3), 2], {}),
       ("adaptive_average_pool", [IMG, (3, 2)], {}, {"tensors": True}),
       ("adaptive_max_pool", [IMG, 3], {}, {"tensors": True})]
    # normalization, encodings, losses
    + [("batch_normalization", ["f", _a(4), _a(4, low=0.5, high=2), -1], {"offset": _a(4), "scale": _a(4)}),
       ("batch_normalization", ["f", _a(3), _a(3, low=0.5, high=2), 1], {}),
       ("moments", ["f", [0, 1]], {}), ("moments", ["f", [2]], {"keepdims": True}),
       ("normalize", ["f"], {}), ("normalize", ["f"], {"axis": 1, "order": 1}),
       ("layer_normalization", ["f"], {"gamma": _a(4), "beta": _a(4)}), ("rms_normalization", ["f"], {"scale": _a(4)}),
       ("one_hot", [_labels(5, 4), 4], {}), ("one_hot", [[0, 2, -1, 5], 4], {"axis": 0}),
       ("multi_hot", [lambda r: np.array([[0, 2], [1, 1]]), 4], {}), ("binary_crossentropy", [_a(3, 4, low=0, high=1),
                                                                          _a(3, 4, low=0.01, high=0.99)], {}),
       ("binary_crossentropy", [_a(3, 4, low=0, high=1), "f2"], {"from_logits": True}),
       ("categorical_crossentropy", [_a(3, 4, low=0, high=1), _a(3, 4, low=0.1, high=1)], {}),
       ("categorical_crossentropy", [_a(3, 4, low=0, high=1), "f2"], {"from_logits": True}),
       ("sparse_categorical_crossentropy", [_labels(3, 4), _a(3, 4, low=0.1, high=1)], {}),
       ("sparse_categorical_crossentropy", [_labels(3, 4), "f2"], {"from_logits": True}),
       ("psnr", [IMG, IMG, 1.0], {}), ("depth_to_space", [_a(1, 2, 3, 8), 2], {}),
       ("space_to_depth", [_a(1, 4, 6, 2), 2], {}),
       ("dot_product_attention", [_a(2, 4, 2, 3), _a(2, 5, 2, 3), _a(2, 5, 2, 3)], {}),
       ("dot_product_attention", [_a(2, 4, 2, 3), _a(2, 4, 2, 3), _a(2, 4, 2, 3)], {"is_causal": True}),
       ("ctc_loss", [[[1, 2, 0], [2, 0, 0]], _a(2, 6, 4), [2, 1], [6, 5]], {}, {"tol": 1e-4}),
       ("ctc_decode", [_a(2, 6, 4), [6, 4]], {}, {"dtype": False})]
    # image (channels_last unless said)
    + [("resize", [IMG, (4, 5)], {"ns": None}), ("resize", [IMG, (9, 8)], {"interpolation": "nearest"}),
       ("resize", [IMG, (5, 5)], {"interpolation": "bicubic", "crop_to_aspect_ratio": True}),
       ("resize", [IMG, (4, 4)], {"antialias": True, "pad_to_aspect_ratio": True}),
       ("resize", [IMG_CF, (4, 3)], {"data_format": "channels_first"}),
       ("affine_transform", [IMG, lambda r: np.array([1.0, 0.1, -1.0, 0.0, 0.9, 0.5, 0.0, 0.0], "float32")], {}),
       ("affine_transform", [IMG, lambda r: np.array([1.0, 0.0, -1.3, 0.2, 1.0, 0.0, 0.0, 0.0], "float32")],
        {"interpolation": "nearest",
                                                                              "fill_mode": "reflect"}),
       ("perspective_transform", [IMG, [[0, 0], [5, 0], [0, 6], [5, 6]], [[0, 1], [5, 0], [1, 6], [5, 5]]], {}),
       ("map_coordinates", [_a(5, 4), _a(2, 3, 3, low=-1, high=5), 1], {"fill_mode": "nearest"}),
       ("map_coordinates", [_a(5, 4), _a(2, 6, low=-1, high=5), 0], {"fill_mode": "constant", "fill_value": 2.0}),
       ("crop_images", [IMG], {"top_cropping": 1, "left_cropping": 2, "target_height": 4, "target_width": 3}),
       ("pad_images", [IMG], {"top_padding": 1, "bottom_padding": 2, "left_padding": 0, "right_padding": 1}),
       ("rgb_to_grayscale", [IMG], {}), ("rgb_to_hsv", [IMG], {}), ("hsv_to_rgb", [IMG], {}),
       ("rgb_to_grayscale", [IMG_CF], {"data_format": "channels_first"}),
       ("extract_patches", [IMG, 2], {}), ("extract_patches", [IMG, (3, 2)], {"strides": 2, "padding": "same"}),
       ("gaussian_blur", [IMG], {"kernel_size": (3, 3), "sigma": (1.0, 1.0)}), ("sobel_edges", [IMG], {})]
    # linalg, math, core
    + [("cholesky", ["m"], {}), ("det", ["sq"], {}), ("inv", ["m"], {}), ("eigh", ["m"], {}, {"abs": True}),
       ("lstsq", [_a(4, 3), _a(4, 2)], {}, {"tol": 1e-4}), ("lu_factor", ["m"], {}), ("matrix_rank", ["sq"], {}),
       ("norm", ["f2"], {}), ("norm", ["f2"], {"axis": 1}), ("norm", ["f2"], {"ord": "nuc"}),
       ("norm", ["f"], {"axis": (1, 2), "keepdims": True}), ("pinv", ["f2"], {}, {"tol": 1e-4}),
       ("qr", ["f2"], {}, {"abs": True}), ("solve", ["m", _a(3, 2)], {}, {"tol": 1e-4}),
       ("solve_triangular", [lambda r: (np.tril(r.normal(size=(3, 3))) + 3 * np.eye(3)).astype("float32"), _a(3, 2)],
        {"lower": True}), ("svd", ["f2"], {"compute_uv": False}), ("slogdet", ["sq"], {}), ("logdet", ["m"], {}),
       ("segment_sum", ["f2", lambda r: np.array([0, 0, 2])], {"num_segments": 3}),
       ("segment_max", ["f2", lambda r: np.array([1, 0, 1])], {"num_segments": 2}),
       ("top_k", ["f2", 2], {}), ("in_top_k", [[1, 0, 3], "f2", 2], {}), ("logsumexp", ["f"], {"axis": 1}),
       ("erf", ["f"], {}), ("erfc", ["f"], {}), ("erfinv", ["u"], {}), ("rsqrt", ["p"], {}),
       ("fft", [("f2", "u")], {}), ("fft2", [("f2", "u")], {}, {"tol": 1e-4}), ("ifft2", [("f2", "u")], {}),
       ("rfft", ["f2"], {}), ("irfft", [("f2", "u")], {}), ("stft", [_a(2, 32), 8, 4, 16], {}, {"tol": 1e-4}),
       ("extract_sequences", [_a(2, 10), 4, 3], {}), ("cdist", [_a(3, 2), _a(4, 2)], {}, {"tol": 1e-4}),
       ("cast", ["f2", "int32"], {}), ("cast", ["i", "bool"], {}), ("saturate_cast", [_a(5, low=-300, high=300),
                                                                                    "uint8"], {}),
       ("convert_to_tensor", [[1, 2]], {}), ("convert_to_tensor", [[1.5]], {"dtype": "float64"}),
       ("convert_to_numpy", ["f2"], {}), ("shape", ["f"], {}), ("dtype", ["i"], {}), ("is_tensor", ["f2"], {}),
       ("stop_gradient", ["f2"], {}), ("slice", ["f", (0, 1, 1), (2, 2, 2)], {}),
       ("slice_update", ["f2", (1, 1), _a(2, 2)], {}), ("scatter", [[[0, 1], [2, 3]], [1.0, 2.0], (3, 4)], {}),
       ("scatter_update", ["f2", [[0, 1], [2, 3]], [1.0, 2.0]], {}), ("unstack", ["f"], {"axis": 2}),
       ("angle", ["f2"], {}), ("isreal", ["f2"], {}), ("bitwise_right_shift", ["ip", "ip"], {}),
       ("cholesky_inverse", [lambda r: np.linalg.cholesky(INPUT_SPD(r)).astype("float32")], {}, {"tol": 1e-4}),
       ("segment_min", ["f2", lambda r: np.array([1, 0, 1])], {"num_segments": 2}),
       ("segment_prod", ["f2", lambda r: np.array([0, 0, 1])], {"num_segments": 2}),
       ("unfold", [_a(1, 2, 4, 5), 2], {}), ("fold", [_a(1, 8, 12), (4, 5), 2], {}),
       ("view", ["f2", "int32"], {}), ("rearrange", [IMG, "b h w c -> b (c h) w"], {}),
       ("rearrange", [_a(2, 4, 6, 3), "b (h1 h) (w1 w) c -> (b h1 w1) h w c"], {"h1": 2, "w1": 3}),
       ("rearrange", [_a(2, 4, 6, 3), "b (h h1) (w w1) c -> b h w (c h1 w1)"], {"h1": 2, "w1": 2}),
       ("istft", [lambda r: tuple(np.asarray(v) for v in KERAS_STFT(r)), 8, 4, 16], {}, {"tol": 1e-4})]
)


def _cases():
    for case in CASES:
        case = tuple(case) + ({},) * (3 - len(case))
        op, args, kwargs = case[:3]
        options = dict(case[3]) if len(case) > 3 else {}
        kwargs = dict(kwargs)
        kwargs.pop("ns", None)
        yield pytest.param((op, args, kwargs, options), id=f"{op}-{'-'.join(map(str, kwargs))}")


def _pairs(args):
    return [tuple(a) if isinstance(a, tuple) and all(isinstance(v, str) for v in a) else a for a in args]


@pytest.mark.parametrize("case", list(_cases()))
def test_op_matches_keras(run_case, rng, case):
    op, args, kwargs, options = case
    if any(isinstance(a, tuple) and all(isinstance(v, str) for v in a) for a in args):  # (real, imag) pairs
        from tests.ops.conftest import INPUTS  # noqa: PLC0415

        args = [tuple(INPUTS[v](rng) for v in a) if isinstance(a, tuple) and all(isinstance(v, str) for v in a)
                else a for a in args]
    made = []
    for a in args:
        made.append((lambda r, value=a: value(r)) if callable(a) else a)
    kwargs = {k: (v(rng) if callable(v) else v) for k, v in kwargs.items()}
    run_case((op, made, kwargs, options))


def test_channels_first_matches_channels_last(rng):
    """data_format='channels_first' (TensorFlow's CPU kernels lack it): the channels_last result, transposed."""
    x = rng.uniform(size=(2, 7, 6, 3)).astype("float32")
    k = rng.normal(size=(3, 3, 3, 2)).astype("float32")
    first = x.transpose(0, 3, 1, 2)
    for op, args, kwargs in [("conv", (k,), {"padding": "same"}), ("max_pool", (2,), {}),
                             ("average_pool", (3,), {"strides": 2, "padding": "same"}),
                             ("depthwise_conv", (k[..., :1],), {}), ("resize", ((4, 3),), {}),
                             ("rgb_to_grayscale", (), {}), ("extract_patches", (2,), {})]:
        ns = cnnkit.ops.image if op in ("resize", "rgb_to_grayscale", "extract_patches") else cnnkit.ops
        last = getattr(ns, op)(x, *args, **kwargs).numpy()
        cf = getattr(ns, op)(first, *args, data_format="channels_first", **kwargs).numpy()
        np.testing.assert_allclose(cf, last.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-6, err_msg=op)


def test_control_flow_and_gradients_of_core_ops(keras):
    assert cnnkit.ops.fori_loop(0, 4, lambda i, acc: acc + i, 1) == 7
    assert cnnkit.ops.while_loop(lambda i: i < 5, lambda i: i + 2, 0) == 6
    assert cnnkit.ops.cond(True, lambda: 1, lambda: 2) == 1
    assert cnnkit.ops.switch(1, [lambda x: x + 1, lambda x: x * 10], 2) == 20
    xs = np.arange(6, dtype="float32").reshape(3, 2)
    carry, ys = cnnkit.ops.scan(lambda c, x: (c + x, c * x), np.zeros(2, "float32"), xs)
    kcarry, kys = keras.ops.scan(lambda c, x: (c + x, c * x), np.zeros(2, "float32"), xs)
    np.testing.assert_allclose(carry.numpy(), np.asarray(kcarry))
    np.testing.assert_allclose(ys.numpy(), np.asarray(kys))
    np.testing.assert_allclose(cnnkit.ops.map(lambda x: x * 2, xs).numpy(), xs * 2)
    np.testing.assert_allclose(cnnkit.ops.associative_scan(lambda a, b: a + b, xs, axis=0).numpy(),
                               np.asarray(keras.ops.associative_scan(lambda a, b: a + b, xs, axis=0)))
    np.testing.assert_allclose(cnnkit.ops.vectorized_map(lambda row: row.sum(), xs).numpy(), xs.sum(1))

    @cnnkit.ops.custom_gradient
    def clipped(x):
        def grad(*args, upstream=None):
            return cnnkit.ops.clip(upstream, -0.5, 0.5)
        return x * 3.0, grad

    x = torch.ones(3, requires_grad=True)
    clipped(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0.5, 0.5])
    x = torch.ones(2, requires_grad=True)
    (cnnkit.ops.stop_gradient(x) * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


@pytest.mark.parametrize("name", ["argpartition", "elastic_transform", "ssim", "scale_and_translate",
                                  "extract_patches_3d"])
def test_missing_ops_raise_naming_the_op(name):
    with pytest.raises(NotImplementedError, match=name):
        ns = cnnkit.ops if name == "argpartition" else cnnkit.ops.image
        getattr(ns, name)(np.zeros((1, 4, 4, 4)), 2, 3)
