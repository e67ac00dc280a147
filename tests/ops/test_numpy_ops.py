"""cnnkit.ops numpy functions (the seeds' convolve / convolve2d / pooling / Sobel / output size) against loops.

The oracles are written as plainly as the seeds write them: explicit Python loops over output positions. Where
Keras defines the semantics (padding='same' puts the extra zero at the end; pooling with 'same' ignores the
padded positions), the loops implement that rule and the Keras layers are checked as well.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from cnnkit import ops
from cnnkit.ops import SOBEL_HORIZONTAL
from cnnkit.ops import SOBEL_VERTICAL
from cnnkit.ops import average_pool2d
from cnnkit.ops import conv_output_length
from cnnkit.ops import convolve
from cnnkit.ops import convolve2d
from cnnkit.ops import max_pool2d
from cnnkit.ops import same_padding


# ---- oracles ------------------------------------------------------------------------------------------------


def seed_convolve(sequence, weights):
    """The seeds' 1-D convolution, copied from seed 000 / 001 (the notes forget the `return`; added here)."""
    convolution = np.zeros(len(sequence) - len(weights) + 1)
    for i in range(convolution.shape[0]):
        convolution[i] = np.sum(weights * sequence[i:i + len(weights)])
    return convolution


def loop_pads(n, k, s, d, padding):
    """(before, after) zeros, written out from the rules (TF 'same': the extra zero goes at the end)."""
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return (k - 1) * d, 0
    if padding == "same":
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        return total // 2, total - total // 2
    return padding, padding


def loop_convolve1d(sequence, weights, strides=1, padding="valid", dilation=1):
    before, after = loop_pads(len(sequence), len(weights), strides, dilation, padding)
    x = np.concatenate([np.zeros(before), np.asarray(sequence, float), np.zeros(after)])
    span = (len(weights) - 1) * dilation + 1
    out = []
    start = 0
    while start + span <= len(x):
        out.append(sum(weights[t] * x[start + t * dilation] for t in range(len(weights))))
        start += strides
    return np.array(out)


def loop_convolve2d(image, kernel, strides=(1, 1), padding="valid", dilation=(1, 1)):
    """Double loop over output pixels; a (K, K, C) kernel sums over channels too; a (K, K) one is per channel."""
    image = np.asarray(image, float)
    kernel = np.asarray(kernel, float)
    squeeze = image.ndim == 2
    if squeeze:
        image = image[:, :, None]
    h, w, c = image.shape
    kh, kw = kernel.shape[:2]
    (t, b) = loop_pads(h, kh, strides[0], dilation[0], padding)
    (left, right) = loop_pads(w, kw, strides[1], dilation[1], padding)
    padded = np.zeros((h + t + b, w + left + right, c))
    padded[t:t + h, left:left + w] = image
    out_h = (padded.shape[0] - ((kh - 1) * dilation[0] + 1)) // strides[0] + 1
    out_w = (padded.shape[1] - ((kw - 1) * dilation[1] + 1)) // strides[1] + 1
    per_channel = kernel.ndim == 2 and not squeeze
    out = np.zeros((out_h, out_w, c) if per_channel else (out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            for a in range(kh):
                for q in range(kw):
                    pixel = padded[i * strides[0] + a * dilation[0], j * strides[1] + q * dilation[1]]
                    if kernel.ndim == 3:
                        out[i, j] += np.sum(pixel * kernel[a, q])
                    elif per_channel:
                        out[i, j] += pixel * kernel[a, q]
                    else:
                        out[i, j] += pixel[0] * kernel[a, q]
    return out


def loop_pool2d(image, pool, strides, padding, reduce):
    """Pooling by loops over windows; 'same' windows only see the real pixels (Keras/TensorFlow semantics)."""
    image = np.asarray(image, float)
    squeeze = image.ndim == 2
    if squeeze:
        image = image[:, :, None]
    h, w, c = image.shape
    t, _ = loop_pads(h, pool[0], strides[0], 1, padding)
    left, _ = loop_pads(w, pool[1], strides[1], 1, padding)
    out_h = conv_output_length(h, pool[0], padding, strides[0])
    out_w = conv_output_length(w, pool[1], padding, strides[1])
    out = np.zeros((out_h, out_w, c))
    for i in range(out_h):
        for j in range(out_w):
            r0, c0 = i * strides[0] - t, j * strides[1] - left
            rows = range(max(r0, 0), min(r0 + pool[0], h))
            cols = range(max(c0, 0), min(c0 + pool[1], w))
            for ch in range(c):
                values = [image[r, q, ch] for r in rows for q in cols]
                out[i, j, ch] = reduce(values)
    return out[:, :, 0] if squeeze else out


def seed_output_size(w, k, p, s):
    """The seeds' formula: floor((W - K + 2P) / S) + 1."""
    return math.floor((w - k + 2 * p) / s) + 1


# ---- 1-D convolution ----------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30).flatmap(lambda m: st.tuples(
    st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=m, max_size=m),
    st.lists(st.floats(-10, 10, allow_nan=False, width=32), min_size=1, max_size=m))))
def test_convolve_matches_seed_loop(data):
    sequence, weights = (np.array(v) for v in data)
    np.testing.assert_allclose(convolve(sequence, weights), seed_convolve(sequence, weights), rtol=1e-12,
                               atol=1e-9)


def test_convolve_seed_examples():
    # Seed 000's docstring example and seed 004's array/kernel example (8 outputs of a length-3 kernel).
    np.testing.assert_array_equal(convolve(np.array([1, 0, 1, 0, 1]), np.array([1, -1, 0])), [1, -1, 1])
    array = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    kernel = np.array([1, -1, 0])
    out = convolve(array, kernel)
    assert out.shape == (8,)
    np.testing.assert_array_equal(out, [1, -1, 1, -1, 1, -1, 1, -1])
    np.testing.assert_array_equal(out, seed_convolve(array, kernel))


@pytest.mark.parametrize("padding", ["valid", "same", "causal", 0, 1, 2])
@pytest.mark.parametrize("strides", [1, 2, 3])
@pytest.mark.parametrize("dilation", [1, 2])
def test_convolve_strides_padding_dilation(rng, padding, strides, dilation):
    for m in (5, 8, 11):
        for n in (1, 2, 3):
            sequence, weights = rng.normal(size=m), rng.normal(size=n)
            expected = loop_convolve1d(sequence, weights, strides, padding, dilation)
            got = convolve(sequence, weights, strides=strides, padding=padding, dilation_rate=dilation)
            assert got.shape == (conv_output_length(m, n, padding, strides, dilation),)
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_convolve_same_puts_extra_zero_at_end():
    # Length 4, kernel 2, stride 1: total padding 1 -> (0, 1): the last output sees the last value and a zero.
    out = convolve(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 10.0]), padding="same")
    np.testing.assert_array_equal(out, [21.0, 32.0, 43.0, 4.0])
    # Stride 2 on length 6 with kernel 3: total padding 1 -> (0, 1) as TensorFlow does.
    assert same_padding(6, 3, 2) == (0, 1)
    assert same_padding(32, 3, 2) == (0, 1)
    assert same_padding(5, 4, 1) == (1, 2)


def test_convolve_matches_keras_conv1d(keras, rng):
    x = rng.normal(size=(13,)).astype(np.float32)
    w = rng.normal(size=(4,)).astype(np.float32)
    for padding, strides, dilation in [("valid", 1, 1), ("same", 2, 1), ("same", 1, 2), ("causal", 1, 2),
                                       ("valid", 1, 3), ("same", 3, 1)]:
        layer = keras.layers.Conv1D(1, 4, strides=strides, padding=padding, dilation_rate=dilation, use_bias=False)
        layer.build((1, 13, 1))
        layer.set_weights([w.reshape(4, 1, 1)])
        expected = np.asarray(layer(x.reshape(1, 13, 1)))[0, :, 0]
        got = convolve(x, w, strides=strides, padding=padding, dilation_rate=dilation)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=f"{padding} {strides} {dilation}")


# ---- 2-D convolution ----------------------------------------------------------------------------------------

SEED_S = [[1, 1, 1, 0, 0],
          [0, 1, 1, 1, 0],
          [0, 0, 1, 1, 1],
          [0, 0, 1, 1, 0],
          [0, 1, 1, 0, 0]]

SEED_W = [[1, 0, 1],
          [0, 1, 0],
          [1, 0, 1]]


def test_convolve2d_seed_example():
    expected = np.array([[4, 3, 4], [2, 4, 3], [2, 3, 4]], dtype=float)
    np.testing.assert_array_equal(loop_convolve2d(SEED_S, SEED_W), expected)
    np.testing.assert_array_equal(convolve2d(SEED_S, SEED_W), expected)
    np.testing.assert_array_equal(convolve2d(np.array(SEED_S), np.array(SEED_W)), expected)


def test_convolve2d_docstring_example():
    np.testing.assert_array_equal(convolve2d(np.eye(3), np.ones((2, 2))), [[2, 1], [1, 2]])


@pytest.mark.parametrize("shape,k", [((5, 5), 3), ((7, 9), 2), ((6, 6), 1), ((4, 8), 4), ((3, 3), 3)])
def test_convolve2d_grayscale_vs_loops(rng, shape, k):
    image, kernel = rng.normal(size=shape), rng.normal(size=(k, k))
    np.testing.assert_allclose(convolve2d(image, kernel), loop_convolve2d(image, kernel), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_convolve2d_volume_sums_over_channels(rng, channels):
    image, kernel = rng.normal(size=(7, 6, channels)), rng.normal(size=(3, 3, channels))
    got = convolve2d(image, kernel)
    assert got.shape == (5, 4)
    np.testing.assert_allclose(got, loop_convolve2d(image, kernel), rtol=1e-12, atol=1e-12)
    # Summing over channels = the sum of the per-channel 2-D convolutions (the seeds' "add the results").
    per_channel = sum(convolve2d(image[:, :, c], kernel[:, :, c]) for c in range(channels))
    np.testing.assert_allclose(got, per_channel, rtol=1e-12, atol=1e-12)


def test_convolve2d_2d_kernel_on_volume_is_per_channel(rng):
    image, kernel = rng.normal(size=(6, 5, 3)), rng.normal(size=(3, 2))
    got = convolve2d(image, kernel)
    assert got.shape == (4, 4, 3)
    np.testing.assert_allclose(got, loop_convolve2d(image, kernel), rtol=1e-12, atol=1e-12)
    for c in range(3):
        np.testing.assert_allclose(got[:, :, c], convolve2d(image[:, :, c], kernel), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding", ["valid", "same", 1, 2])
@pytest.mark.parametrize("strides", [(1, 1), (2, 2), (2, 3), (3, 1)])
@pytest.mark.parametrize("dilation", [(1, 1), (2, 2), (1, 2)])
def test_convolve2d_variants_vs_loops(rng, padding, strides, dilation):
    image = rng.normal(size=(9, 8, 2))
    kernel = rng.normal(size=(3, 2, 2))
    got = convolve2d(image, kernel, strides=strides, padding=padding, dilation_rate=dilation)
    expected = loop_convolve2d(image, kernel, strides, padding, dilation)
    assert got.shape == expected.shape
    for axis in range(2):
        assert got.shape[axis] == conv_output_length(image.shape[axis], kernel.shape[axis], padding,
                                                     strides[axis], dilation[axis])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_convolve2d_same_stride_matches_keras(keras, rng):
    image = rng.normal(size=(8, 7, 3)).astype(np.float32)
    kernel = rng.normal(size=(3, 4, 3)).astype(np.float32)
    for strides, dilation in [((1, 1), (1, 1)), ((2, 2), (1, 1)), ((2, 3), (1, 1)), ((1, 1), (2, 2))]:
        layer = keras.layers.Conv2D(1, (3, 4), strides=strides, padding="same", dilation_rate=dilation,
                                    use_bias=False)
        layer.build((1, 8, 7, 3))
        layer.set_weights([kernel[..., None]])
        expected = np.asarray(layer(image[None]))[0, :, :, 0]
        got = convolve2d(image, kernel, strides=strides, padding="same", dilation_rate=dilation)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=f"{strides} {dilation}")


# ---- pooling ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pool,strides", [((2, 2), None), ((3, 3), None), ((2, 2), (1, 1)), ((3, 2), (2, 1)),
                                          ((2, 3), (3, 2))])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_vs_loops(rng, pool, strides, padding):
    image = rng.normal(size=(7, 8, 3))
    s = pool if strides is None else strides
    np.testing.assert_allclose(max_pool2d(image, pool, strides, padding),
                               loop_pool2d(image, pool, s, padding, max), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(average_pool2d(image, pool, strides, padding),
                               loop_pool2d(image, pool, s, padding, np.mean), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(max_pool2d(image[:, :, 0], pool, strides, padding),
                               loop_pool2d(image[:, :, 0], pool, s, padding, max), rtol=1e-12, atol=1e-12)


def test_pooling_docstring_examples():
    np.testing.assert_array_equal(max_pool2d(np.arange(16).reshape(4, 4), 2), [[5, 7], [13, 15]])
    np.testing.assert_array_equal(average_pool2d(np.arange(16).reshape(4, 4), 2), [[2.5, 4.5], [10.5, 12.5]])


def test_max_pool_same_never_picks_padding():
    image = -np.ones((3, 3))  # all negative: a padded zero would win if it took part
    out = max_pool2d(image, 2, padding="same")
    assert out.shape == (2, 2)
    np.testing.assert_array_equal(out, -np.ones((2, 2)))
    np.testing.assert_array_equal(average_pool2d(image, 2, padding="same"), -np.ones((2, 2)))


@pytest.mark.parametrize("pool,strides,size", [((2, 2), None, (7, 7)), ((3, 3), (2, 2), (8, 7)),
                                               ((2, 2), (1, 1), (5, 6)), ((3, 2), (2, 3), (9, 10)),
                                               ((4, 4), (3, 3), (10, 11)), ((2, 2), None, (8, 8))])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_matches_keras(keras, rng, pool, strides, size, padding):
    image = rng.normal(size=(*size, 2)).astype(np.float32)
    for mine, theirs in [(max_pool2d, keras.layers.MaxPooling2D), (average_pool2d, keras.layers.AveragePooling2D)]:
        expected = np.asarray(theirs(pool_size=pool, strides=strides, padding=padding)(image[None]))[0]
        got = mine(image, pool, strides, padding)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=f"{mine.__name__}")


# ---- output size --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("w", [5, 7, 28, 32, 33])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("p", [0, 1, 2])
@pytest.mark.parametrize("s", [1, 2, 3])
def test_conv_output_length_seed_formula(w, k, p, s):
    assert conv_output_length(w, k, p, s) == seed_output_size(w, k, p, s)
    if p == 0:
        assert conv_output_length(w, k, "valid", s) == seed_output_size(w, k, 0, s)


def test_conv_output_length_seed_numbers():
    # Seed 002: n=32, p=0, f=5, s=1 -> 28; MNIST convnet: 28 -> 26 -> 13 -> 11 -> 5 -> 3.
    assert conv_output_length(32, 5, 0, 1) == 28
    assert conv_output_length(28, 3, "valid", 1) == 26
    assert conv_output_length(26, 2, "valid", 2) == 13
    assert conv_output_length(13, 3, "valid", 1) == 11
    assert conv_output_length(11, 2, "valid", 2) == 5
    assert conv_output_length(5, 3, "valid", 1) == 3
    assert conv_output_length(28, 5, "same", 1) == 28
    assert conv_output_length(7, 3, 1, 2) == 4
    assert conv_output_length(None, 3, "same", 2) is None


def test_conv_output_length_matches_keras(keras):
    from keras.src.ops.operation_utils import compute_conv_output_shape  # noqa: PLC0415
    from keras.src.ops.operation_utils import compute_pooling_output_shape  # noqa: PLC0415

    for w in (4, 5, 7, 10, 28, 31, 32):
        for k in (1, 2, 3, 5):
            for s in (1, 2, 3):
                for d in (1, 2):
                    for padding in ("valid", "same"):
                        if padding == "valid" and w < (k - 1) * d + 1:
                            continue
                        expected = compute_conv_output_shape((1, w, 1), 1, (k,), (s,), padding,
                                                             dilation_rate=(d,))[1]
                        assert conv_output_length(w, k, padding, s, d) == expected, (w, k, s, d, padding)
                    if d == 1:
                        for padding in ("valid", "same"):
                            if padding == "valid" and w < k:
                                continue
                            expected = compute_pooling_output_shape((1, w, 1), (k,), (s,), padding)[1]
                            assert conv_output_length(w, k, padding, s) == expected, (w, k, s, padding)


def test_conv_output_length_matches_keras_layer_shapes(keras):
    for padding in ("valid", "same"):
        for strides in (1, 2, 3):
            layer = keras.layers.Conv2D(2, (3, 5), strides=strides, padding=padding)
            shape = layer.compute_output_shape((None, 17, 12, 3))
            assert shape[1:3] == (conv_output_length(17, 3, padding, strides),
                                  conv_output_length(12, 5, padding, strides))


# ---- Sobel --------------------------------------------------------------------------------------------------


def test_sobel_kernels_equal_seeds():
    np.testing.assert_array_equal(SOBEL_HORIZONTAL, np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]))
    np.testing.assert_array_equal(SOBEL_VERTICAL, np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]))
    assert ops.SOBEL_HORIZONTAL is SOBEL_HORIZONTAL
    with pytest.raises(ValueError):
        SOBEL_HORIZONTAL[0, 0] = 5  # read-only: a shared constant must not be changed by accident


def test_sobel_finds_edges():
    horizontal_edge = np.zeros((8, 8))
    horizontal_edge[4:, :] = 1.0  # dark top, bright bottom: a horizontal contour between rows 3 and 4
    vertical_edge = horizontal_edge.T.copy()  # dark left, bright right: a vertical contour

    h_on_h = convolve2d(horizontal_edge, SOBEL_HORIZONTAL)
    v_on_h = convolve2d(horizontal_edge, SOBEL_VERTICAL)
    h_on_v = convolve2d(vertical_edge, SOBEL_HORIZONTAL)
    v_on_v = convolve2d(vertical_edge, SOBEL_VERTICAL)
    assert h_on_h.shape == (6, 6)
    # The horizontal kernel responds (4 = 1 + 2 + 1) on the rows around the edge and nowhere else ...
    rows = np.nonzero(np.abs(h_on_h).max(axis=1))[0]
    np.testing.assert_array_equal(rows, [2, 3])
    np.testing.assert_array_equal(h_on_h[2:4], 4 * np.ones((2, 6)))
    # ... and is blind to the vertical edge; the vertical kernel is the transpose.
    np.testing.assert_array_equal(h_on_v, np.zeros((6, 6)))
    np.testing.assert_array_equal(v_on_h, np.zeros((6, 6)))
    np.testing.assert_array_equal(v_on_v, h_on_h.T)


# ---- errors -------------------------------------------------------------------------------------------------


def test_kernel_larger_than_input():
    with pytest.raises(ValueError, match=r"convolve.*kernel.*\(5,\).*\(3,\)"):
        convolve(np.ones(3), np.ones(5))
    with pytest.raises(ValueError, match=r"convolve2d.*kernel.*\(4, 4\)"):
        convolve2d(np.ones((3, 3)), np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"max_pool2d.*\(4, 4\)"):
        max_pool2d(np.ones((3, 3)), 4)
    with pytest.raises(ValueError, match="conv_output_length.*input_length=3"):
        conv_output_length(3, 5, "valid", 1)
    # With padding the kernel fits: 3 + 2 * 1 = 5.
    assert convolve(np.ones(3), np.ones(5), padding=1).shape == (1,)
    # Dilation widens the window: 3 taps at dilation 2 span 5.
    with pytest.raises(ValueError, match="dilation"):
        convolve(np.ones(4), np.ones(3), dilation_rate=2)


@pytest.mark.parametrize("bad", [0, -1, (1, 0), 1.5, True])
def test_bad_strides(bad):
    with pytest.raises(ValueError, match=r"convolve2d.*strides.*Received: strides=" + _re(bad)):
        convolve2d(np.ones((5, 5)), np.ones((3, 3)), strides=bad)
    with pytest.raises(ValueError, match=r"max_pool2d.*strides.*Received: strides=" + _re(bad)):
        max_pool2d(np.ones((5, 5)), 2, strides=bad)
    with pytest.raises(ValueError, match=r"average_pool2d.*strides.*Received: strides=" + _re(bad)):
        average_pool2d(np.ones((5, 5)), 2, strides=bad)
    if not isinstance(bad, tuple):
        with pytest.raises(ValueError, match=r"convolve.*strides.*Received: strides=" + _re(bad)):
            convolve(np.ones(5), np.ones(3), strides=bad)


def _re(value):
    import re  # noqa: PLC0415

    return re.escape(repr(value))


def test_bad_dilation_pool_size_and_padding():
    with pytest.raises(ValueError, match=r"dilation_rate.*Received: dilation_rate=0"):
        convolve(np.ones(5), np.ones(3), dilation_rate=0)
    with pytest.raises(ValueError, match=r"pool_size.*Received: pool_size=0"):
        max_pool2d(np.ones((4, 4)), 0)
    with pytest.raises(ValueError, match=r"padding.*Received: padding='full'"):
        convolve(np.ones(5), np.ones(3), padding="full")
    with pytest.raises(ValueError, match=r"padding.*Received: padding=-1"):
        convolve2d(np.ones((5, 5)), np.ones((3, 3)), padding=-1)
    with pytest.raises(ValueError, match=r"padding.*Received: padding='causal'"):
        convolve2d(np.ones((5, 5)), np.ones((3, 3)), padding="causal")
    with pytest.raises(ValueError, match=r"max_pool2d: padding.*Received: padding=1"):
        max_pool2d(np.ones((4, 4)), 2, padding=1)
    for name, value in [("kernel_size", 0), ("stride", 0), ("dilation", -1)]:
        kwargs = {"kernel_size": 3, "stride": 1, "dilation": 1, name: value}
        with pytest.raises(ValueError, match=f"{name}={value}"):
            conv_output_length(10, kwargs["kernel_size"], "valid", kwargs["stride"], kwargs["dilation"])
    with pytest.raises(ValueError, match="padding='full'"):
        conv_output_length(10, 3, "full", 1)
    with pytest.raises(ValueError, match="padding=-2"):
        conv_output_length(10, 3, -2, 1)


def test_wrong_ranks():
    with pytest.raises(ValueError, match=r"convolve: sequence.*1-D.*\(2, 3\)"):
        convolve(np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match=r"convolve: weights.*1-D.*\(2, 2\)"):
        convolve(np.ones(5), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"convolve2d: image.*\(5,\)"):
        convolve2d(np.ones(5), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"convolve2d: image.*\(1, 5, 5, 3\)"):
        convolve2d(np.ones((1, 5, 5, 3)), np.ones((2, 2, 3)))
    with pytest.raises(ValueError, match=r"convolve2d: kernel.*\(3, 3, 2\).*\(5, 5, 3\)"):
        convolve2d(np.ones((5, 5, 3)), np.ones((3, 3, 2)))
    with pytest.raises(ValueError, match=r"convolve2d: kernel.*\(3, 3, 3\).*\(5, 5\)"):
        convolve2d(np.ones((5, 5)), np.ones((3, 3, 3)))
    with pytest.raises(ValueError, match=r"convolve2d: kernel.*\(3,\)"):
        convolve2d(np.ones((5, 5)), np.ones(3))
    with pytest.raises(ValueError, match=r"max_pool2d: image.*\(4,\)"):
        max_pool2d(np.ones(4))
    with pytest.raises(ValueError, match=r"average_pool2d: image.*\(1, 4, 4, 1\)"):
        average_pool2d(np.ones((1, 4, 4, 1)))
