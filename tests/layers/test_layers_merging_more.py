"""Dot, the functional merge forms (add, ..., concatenate, dot), Permute, RepeatVector and Identity against Keras:
random configurations through the oracle (values, shapes, configs), numpy references, files in both directions,
ONNX, dtype policies and the argument errors."""

import random

import numpy as np
import pytest

import cnnkit
from cnnkit import layers

# ---- Dot -------------------------------------------------------------------------------------------------------


def _dot_configs(count, seed):
    """Random Dot configurations: input ranks 2-4, axes as an int, a pair, or negative, normalize or not."""
    rnd = random.Random(seed)
    configs = []
    while len(configs) < count:
        r1, r2 = rnd.randint(2, 4), rnd.randint(2, 4)
        a0, a1 = rnd.randint(1, r1 - 1), rnd.randint(1, r2 - 1)
        size = rnd.randint(1, 4)
        shape1 = [rnd.randint(1, 3) for _ in range(r1)]
        shape2 = [rnd.randint(1, 3) for _ in range(r2)]
        batch = rnd.randint(1, 3)
        shape1[0] = shape2[0] = batch
        shape1[a0] = shape2[a1] = size
        forms = [(a0, a1), [a0 - r1, a1 - r2], (a0, a1 - r2)]
        if a0 == a1:
            forms.append(a0)
        if r1 - a0 == r2 - a1:
            forms.append(a0 - r1)  # one negative int names the same axis from the end of both inputs
        axes = rnd.choice(forms)
        normalize = rnd.random() < 0.4
        configs.append(pytest.param(axes, normalize, tuple(shape1), tuple(shape2), (a0, a1),
                                    id=f"axes{axes}-n{int(normalize)}-{tuple(shape1)}-{tuple(shape2)}"))
    return configs


def reference_dot(x, y, axes, normalize):
    """Keras's Dot in float64 numpy: contract x's axis a0 with y's axis a1, sample by sample."""
    a0, a1 = axes
    x, y = x.astype(np.float64), y.astype(np.float64)
    if normalize:
        x = x / np.maximum(np.linalg.norm(x, axis=a0, keepdims=True), 1e-7)
        y = y / np.maximum(np.linalg.norm(y, axis=a1, keepdims=True), 1e-7)
    xs, ys = np.moveaxis(x, a0, -1), np.moveaxis(y, a1, 1)
    out = np.stack([np.tensordot(xs[i], ys[i], axes=([-1], [0])) for i in range(x.shape[0])])
    return out.reshape(out.shape[0], 1) if out.ndim == 1 else out


@pytest.mark.parametrize(("axes", "normalize", "shape1", "shape2", "resolved"), _dot_configs(40, seed=21))
def test_dot_matches_keras(oracle, keras, rng, axes, normalize, shape1, shape2, resolved):
    inputs = [rng.standard_normal(shape1).astype("float32"), rng.standard_normal(shape2).astype("float32")]
    got, _ = oracle.compare(layers.Dot(axes=axes, normalize=normalize), keras.layers.Dot(axes=axes,
                            normalize=normalize), inputs, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got, reference_dot(*inputs, resolved, normalize), rtol=1e-4, atol=1e-5)


def test_dot_normalize_gives_cosine_similarity(rng):
    x, y = rng.standard_normal((4, 6)).astype("float32"), rng.standard_normal((4, 6)).astype("float32")
    got = layers.Dot(axes=1, normalize=True)([x, y]).numpy()[:, 0]
    expected = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    zero = layers.Dot(axes=1, normalize=True)([np.zeros((1, 3)), np.ones((1, 3))]).numpy()
    assert np.isfinite(zero).all() and zero[0, 0] == 0.0  # Keras's epsilon: no division by zero


def test_dot_gradients_match_torch(rng):
    import torch  # noqa: PLC0415

    x = torch.tensor(rng.standard_normal((2, 3, 4)), dtype=torch.float32, requires_grad=True)
    y = torch.tensor(rng.standard_normal((2, 5, 4)), dtype=torch.float32, requires_grad=True)
    layers.Dot(axes=2)([x, y]).square().sum().backward()
    x2, y2 = x.detach().clone().requires_grad_(), y.detach().clone().requires_grad_()
    torch.einsum("bik,bjk->bij", x2, y2).square().sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(y.grad, y2.grad)


@pytest.mark.parametrize(("axes", "shapes"), [
    (-1, [(None, 3, 4), (None, 5, 4)]),
    ((1, 1), [(None, None, 4), (None, None, 6)]),
    (2, [(None, 3, None), (None, 2, None)]),
    ((1, 2), [(None, 3), (None, 2, 3, 5)]),
])
def test_dot_compute_output_shape_with_unknown_dims(keras, axes, shapes):
    assert layers.Dot(axes=axes).compute_output_shape(shapes) == tuple(
        keras.layers.Dot(axes=axes).compute_output_shape(shapes))


@pytest.mark.parametrize("axes", [1, -1, (1, 2), [2, -1]])
def test_dot_reads_keras_configs(keras, config_round_trip, axes):
    kcfg = keras.layers.Dot(axes=axes, normalize=True, name="d").get_config()
    layer = layers.deserialize({"class_name": "Dot", "config": kcfg})
    assert layer.axes == (axes if isinstance(axes, int) else tuple(axes)) and layer.normalize is True
    cfg = config_round_trip(layer)
    assert cfg["axes"] == (axes if isinstance(axes, int) else list(axes))


# ---- functional forms ------------------------------------------------------------------------------------------

FUNCTIONAL = {"add": "Add", "subtract": "Subtract", "multiply": "Multiply", "average": "Average",
              "maximum": "Maximum", "minimum": "Minimum", "concatenate": "Concatenate", "dot": "Dot"}


def _functional_args(name):
    return {"concatenate": {"axis": 1}, "dot": {"axes": -1}}.get(name, {})


@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
def test_functional_forms_match_the_classes_and_keras(keras, rng, name):
    inputs = [rng.standard_normal((2, 3, 4)).astype("float32") for _ in range(2)]
    kwargs = _functional_args(name)
    got = getattr(layers, name)(inputs, **kwargs).numpy()
    np.testing.assert_array_equal(got, getattr(layers, FUNCTIONAL[name])(**kwargs)(inputs).numpy())
    expected = np.asarray(getattr(keras.layers, name)(inputs, **kwargs))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
def test_functional_forms_on_symbolic_inputs_build_a_model(keras, rng, name):
    kwargs = _functional_args(name)
    a, b = layers.Input((3, 4)), layers.Input((3, 4))
    out = getattr(layers, name)([a, b], name="merged", **kwargs)
    model = cnnkit.models.Model([a, b], out)
    layer = model.get_layer("merged")
    assert type(layer) is getattr(layers, FUNCTIONAL[name])
    ka, kb = keras.Input((3, 4)), keras.Input((3, 4))
    kout = getattr(keras.layers, name)([ka, kb], **kwargs)
    assert out.shape == tuple(kout.shape)
    xs = [rng.standard_normal((2, 3, 4)).astype("float32") for _ in range(2)]
    np.testing.assert_allclose(model.predict(xs, verbose=0), np.asarray(keras.Model([ka, kb], kout)(xs)),
                               rtol=1e-5, atol=1e-5)


def test_functional_forms_pass_layer_arguments():
    with pytest.raises(TypeError, match="axis"):
        layers.add([np.zeros((1, 2)), np.zeros((1, 2))], axis=1)
    out = layers.dot([np.ones((1, 2, 3)), np.ones((1, 2, 3))], axes=(1, 1), normalize=True)
    np.testing.assert_allclose(out.numpy(), np.full((1, 3, 3), 1.0), rtol=1e-6)


# ---- Permute ---------------------------------------------------------------------------------------------------


def _permute_configs(count, seed):
    rnd = random.Random(seed)
    configs = []
    for i in range(count):
        rank = 2 + i % 4  # input ranks 2..5, batch included
        dims = list(range(1, rank))
        rnd.shuffle(dims)
        shape = (rnd.randint(1, 3), *(rnd.randint(2, 5) for _ in range(rank - 1)))
        configs.append(pytest.param(tuple(dims), shape, id=f"{tuple(dims)}-{shape}"))
    return configs


@pytest.mark.parametrize(("dims", "shape"), _permute_configs(24, seed=5))
def test_permute_matches_keras(oracle, keras, rng, dims, shape):
    x = rng.standard_normal(shape).astype("float32")
    got, _ = oracle.compare(layers.Permute(dims), keras.layers.Permute(dims), x)
    np.testing.assert_array_equal(got, np.transpose(x, (0, *dims)))


def test_permute_then_conv_matches_keras(keras, rng):
    """Permuted images feed a channels-first internal layout correctly into the next layer."""
    x = rng.standard_normal((2, 4, 5, 3)).astype("float32")
    kconv, conv = keras.layers.Conv2D(2, 3, padding="same"), layers.Conv2D(2, 3, padding="same")
    expected = np.asarray(kconv(keras.layers.Permute((3, 1, 2))(x)))
    permuted = layers.Permute((3, 1, 2))(x)
    conv(permuted)
    conv.set_weights(kconv.get_weights())
    np.testing.assert_allclose(conv(permuted).detach().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_permute_unknown_dims(keras):
    shape = (None, None, 3, 5)
    assert layers.Permute((3, 1, 2)).compute_output_shape(shape) == tuple(
        keras.layers.Permute((3, 1, 2)).compute_output_shape(shape)) == (None, 5, None, 3)


# ---- RepeatVector and Identity ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "features", "batch"), [(1, 1, 1), (3, 4, 2), (5, 2, 3), (2, 7, 1), (4, 3, 4)])
def test_repeat_vector_matches_keras(oracle, keras, rng, n, features, batch):
    x = rng.standard_normal((batch, features)).astype("float32")
    got, _ = oracle.compare(layers.RepeatVector(n), keras.layers.RepeatVector(n), x)
    np.testing.assert_array_equal(got, np.repeat(x[:, None, :], n, axis=1))


def test_repeat_vector_then_conv1d_and_gradient(keras, rng):
    import torch  # noqa: PLC0415

    x = rng.standard_normal((2, 3)).astype("float32")
    kconv, conv = keras.layers.Conv1D(2, 2), layers.Conv1D(2, 2)
    expected = np.asarray(kconv(keras.layers.RepeatVector(4)(x)))
    conv(layers.RepeatVector(4)(x))
    conv.set_weights(kconv.get_weights())
    np.testing.assert_allclose(conv(layers.RepeatVector(4)(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    xt = torch.tensor(x, requires_grad=True)
    layers.RepeatVector(4)(xt).sum().backward()
    torch.testing.assert_close(xt.grad, torch.full_like(xt, 4.0))


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (2, 4, 5, 3), (1, 2, 3, 2, 2)])
def test_identity_matches_keras(oracle, keras, rng, shape):
    x = rng.standard_normal(shape).astype("float32")
    got, _ = oracle.compare(layers.Identity(), keras.layers.Identity(), x)
    np.testing.assert_array_equal(got, x)


def test_identity_on_a_list(keras, rng):
    xs = [rng.standard_normal((2, 3, 4)).astype("float32"), rng.standard_normal((2, 5)).astype("float32")]
    out = layers.Identity()(xs)
    assert isinstance(out, list) and [o.shape for o in out] == [(2, 3, 4), (2, 5)]
    for o, x in zip(out, xs):
        np.testing.assert_array_equal(o.numpy(), x)
    shapes = [(None, 3, 4), (None, 5)]
    assert layers.Identity().compute_output_shape(shapes) == [tuple(s) for s in
                                                               keras.layers.Identity().compute_output_shape(shapes)]


# ---- files, ONNX, dtype policies -------------------------------------------------------------------------------

FILE_CASES = {
    "Dot": (lambda k: k.layers.Dot(axes=(2, 2), normalize=True), [(3, 4), (5, 4)]),
    "Dot_rank2": (lambda k: k.layers.Dot(axes=-1), [(6,), (6,)]),
    "Permute": (lambda k: k.layers.Permute((3, 1, 2)), (4, 5, 3)),
    "RepeatVector": (lambda k: k.layers.RepeatVector(3), (5,)),
    "Identity": (lambda k: k.layers.Identity(), (4, 4, 2)),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_files_onnx_and_policy(files, tmp_path, case):
    make, shapes = FILE_CASES[case]
    model = files.check(make, shapes, tmp_path)
    files.check_onnx(model, tmp_path)
    files.check_policy(make, shapes)


def test_files_with_layers_around(files, tmp_path):
    """A Conv2D's output permuted, flattened, repeated and dotted, so that weights sit on both sides."""
    def make(k):
        def build(x):
            y = k.layers.Conv2D(3, 2)(x)
            y = k.layers.Permute((3, 2, 1))(y)
            y = k.layers.Dense(2)(k.layers.Flatten()(y))
            r = k.layers.RepeatVector(4)(y)
            return k.layers.Dot(axes=2)([r, k.layers.Identity()(r)])
        return build
    model = files.check(make, (5, 4, 2), tmp_path)
    files.check_onnx(model, tmp_path)


# ---- errors ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("axes", ["1", (1, 2, 3), (1,), (1.0, 2), 1.5, None, True, (True, 1)])
def test_dot_bad_axes_raise(axes):
    with pytest.raises(ValueError, match=r"Dot: axes must be an int or a pair of ints\. Received: axes="):
        layers.Dot(axes=axes)


@pytest.mark.parametrize("axes", [0, (0, 1), [1, 0]])
def test_dot_batch_axis_raises(axes):
    with pytest.raises(ValueError, match=r"Dot: axes cannot include the batch axis 0\. Received: axes="):
        layers.Dot(axes=axes)


def test_dot_bad_normalize_raises():
    with pytest.raises(ValueError, match=r"Dot: normalize must be True or False\. Received: normalize='yes'"):
        layers.Dot(axes=1, normalize="yes")


def test_dot_bad_inputs_raise():
    a, b = np.zeros((2, 3, 4), "float32"), np.zeros((2, 3, 5), "float32")
    with pytest.raises(ValueError, match=r"Layer 'dot\w*' \(Dot\): incompatible input shapes: axis values"):
        layers.Dot(axes=2)([a, b])
    with pytest.raises(ValueError, match=r"\(Dot\) needs exactly 2 inputs"):
        layers.Dot(axes=2)([a, a, a])
    with pytest.raises(ValueError, match=r"\(Dot\) must be called on a list"):
        layers.Dot(axes=2)(a)
    with pytest.raises(ValueError, match=r"\(Dot\): axes=3 do not fit the input shapes"):
        layers.Dot(axes=3)([a, a])
    with pytest.raises(ValueError, match=r"\(Dot\): axes=-3 do not fit"):  # resolves to the batch axis
        layers.Dot(axes=-3)([a, a])
    with pytest.raises(ValueError, match=r"\(Dot\): incompatible input shapes: batch sizes 2 != 3"):
        layers.Dot(axes=2)([a, np.zeros((3, 3, 4), "float32")])
    with pytest.raises(ValueError, match=r"rank >= 2"):
        layers.Dot(axes=1).compute_output_shape([(None,), (None, 3)])


@pytest.mark.parametrize("dims", [(1, 1), (0, 1), (1, 3), (2, 3), (), "12", (1.0, 2), (True,), 2, None])
def test_permute_bad_dims_raise(dims):
    with pytest.raises(ValueError, match=r"Permute: dims must be a permutation of 1\.\.n .* Received: dims="):
        layers.Permute(dims)


def test_permute_wrong_rank_raises():
    with pytest.raises(ValueError, match=r"layer 'permute\w*' \(Permute\).*expected ndim=3, found ndim=4"):
        layers.Permute((2, 1))(np.zeros((2, 3, 4, 5), "float32"))


@pytest.mark.parametrize("n", [0, -1, 2.5, True, "3", None])
def test_repeat_vector_bad_n_raises(n):
    with pytest.raises(ValueError, match=r"RepeatVector: n must be a positive int\. Received: n="):
        layers.RepeatVector(n)


def test_repeat_vector_wrong_rank_raises():
    with pytest.raises(ValueError, match=r"\(RepeatVector\).*expected ndim=2, found ndim=3"):
        layers.RepeatVector(2)(np.zeros((2, 3, 4), "float32"))


def test_identity_rejects_unknown_arguments():
    with pytest.raises(TypeError, match="Identity"):
        layers.Identity(foo=1)
