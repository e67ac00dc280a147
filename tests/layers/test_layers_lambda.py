"""Lambda against Keras: the same Python lambdas (arithmetic, indexing, slicing: code that runs on TensorFlow and
torch tensors alike) give the same values and output shapes; configs in Keras 3's form; files written by either
library open in the other with safe_mode=False and are refused by default; training through a Lambda."""

import json
import random

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit import config
from cnnkit import layers

# Functions both TensorFlow and torch tensors run, with the smallest input rank (batch included) each needs and
# whether its axis 1 must have size >= 2.
FUNCTIONS = [
    (lambda x: x * 2.0 + 1.0, 2),
    (lambda x: x * x - 0.5, 2),
    (lambda x: abs(x) / 3.0 - x, 2),
    (lambda x: (x + 1.0) ** 2, 2),
    (lambda x: -x[:, 1:], 2),
    (lambda x: x[..., :1] * x, 2),
    (lambda x: x[:, ::2] + 1.0, 2),
    (lambda x: x[:, :, None] * 0.5, 2),
    (lambda x: x[:, 0] - 1.0, 3),
    (lambda x: x[:, 1:, ..., :2], 3),
]


def _lambda_configs(count, seed):
    rnd = random.Random(seed)
    configs = []
    for i in range(count):
        index = i % len(FUNCTIONS)
        rank = rnd.randint(max(FUNCTIONS[index][1], 2), 5)
        shape = (rnd.randint(1, 3), *(rnd.randint(2, 4) for _ in range(rank - 1)))
        configs.append(pytest.param(index, shape, id=f"f{index}-{shape}"))
    return configs


@pytest.fixture
def unsafe():
    """Lambda configs holding Python bytecode may be rebuilt (as after load_model(..., safe_mode=False))."""
    with config.SafeModeScope(False):
        yield


@pytest.mark.parametrize(("index", "shape"), _lambda_configs(30, seed=8))
def test_lambda_matches_keras(oracle, keras, rng, unsafe, index, shape):
    fn = FUNCTIONS[index][0]
    x = rng.standard_normal(shape).astype("float32")
    got, _ = oracle.compare(layers.Lambda(fn), keras.layers.Lambda(fn), x)
    np.testing.assert_allclose(got, fn(x), rtol=1e-6, atol=1e-6)  # numpy runs the same code in Keras layout


@pytest.mark.parametrize("shape", [(None, 5), (None, None, 4), (None, 3, None, 2), (None, None, None, None, 3)])
@pytest.mark.parametrize("index", range(len(FUNCTIONS)))
def test_lambda_infers_output_shapes_with_unknown_dims_as_keras(keras, index, shape):
    fn, min_rank = FUNCTIONS[index]
    if len(shape) < min_rank:
        pytest.skip("the function needs a higher rank")
    assert layers.Lambda(fn).compute_output_shape(shape) == tuple(keras.layers.Lambda(fn).compute_output_shape(shape))


def test_lambda_with_arguments_defaults_and_closure(oracle, keras, rng, unsafe):
    def scaled(c):
        return lambda x, shift=0.25: x * c + shift
    x = rng.standard_normal((2, 3, 4)).astype("float32")
    fn = scaled(3.0)
    got, _ = oracle.compare(layers.Lambda(fn), keras.layers.Lambda(fn), x)
    np.testing.assert_allclose(got, x * 3.0 + 0.25, rtol=1e-6)
    cfg = layers.Lambda(fn).get_config()["function"]["config"]
    assert cfg["defaults"] == [0.25] and cfg["closure"] == [3.0]
    power = lambda x, p: x ** p  # noqa: E731
    got, _ = oracle.compare(layers.Lambda(power, arguments={"p": 3.0}), keras.layers.Lambda(
        power, arguments={"p": 3.0}), x)
    np.testing.assert_allclose(got, x ** 3, rtol=1e-5)


def test_lambda_training_argument(oracle, keras, rng, unsafe):
    fn = lambda x, training=False: x * (2.0 if training else 1.0)  # noqa: E731
    x = rng.standard_normal((2, 4)).astype("float32")
    for training in (True, False):
        got, expected = oracle.compare(layers.Lambda(fn), keras.layers.Lambda(fn), x, training=training)
        np.testing.assert_allclose(got, x * (2.0 if training else 1.0))


def test_lambda_several_inputs_and_outputs(keras, rng):
    xs = [rng.standard_normal((2, 3, 4)).astype("float32") for _ in range(2)]
    merge = lambda t: t[0] * t[1] + t[0]  # noqa: E731
    got = layers.Lambda(merge)(xs).numpy()
    np.testing.assert_allclose(got, np.asarray(keras.layers.Lambda(merge)(xs)), rtol=1e-6)
    split = lambda t: [t[..., :2] * 2.0, t[:, 1:] + 1.0]  # noqa: E731
    outs, kouts = layers.Lambda(split)(xs[0]), keras.layers.Lambda(split)(xs[0])
    for o, k in zip(outs, kouts):
        np.testing.assert_allclose(o.numpy(), np.asarray(k), rtol=1e-6)
    shape = (None, 3, 4)
    assert layers.Lambda(split).compute_output_shape(shape) == [
        tuple(s) for s in keras.layers.Lambda(split).compute_output_shape(shape)]
    assert layers.Lambda(merge).compute_output_shape([shape, shape]) == (None, 3, 4)


@pytest.mark.parametrize(("output_shape", "input_shape"), [
    ((3,), (None, 5)), ((2, 2), (4, 7)), ([(3,), (1, 2)], (None, 5)), (lambda s: (s[0], 9), (None, 5)),
])
def test_lambda_output_shape_argument(keras, output_shape, input_shape):
    fn = lambda x: x  # noqa: E731
    assert layers.Lambda(fn, output_shape=output_shape).compute_output_shape(input_shape) == _tuples(
        keras.layers.Lambda(fn, output_shape=output_shape).compute_output_shape(input_shape))


def _tuples(shape):
    return [tuple(s) for s in shape] if isinstance(shape, list) else tuple(shape)


def test_lambda_gradients_flow_and_it_trains(rng):
    x = torch.tensor(rng.standard_normal((3, 4)), dtype=torch.float32, requires_grad=True)
    layers.Lambda(lambda t: t * t * 0.5)(x).sum().backward()
    torch.testing.assert_close(x.grad, x.detach())  # d/dx x^2/2 = x
    inp = layers.Input((4,))
    out = layers.Dense(1)(layers.Lambda(lambda t: t * 2.0 + 1.0)(layers.Dense(3)(inp)))
    model = cnnkit.models.Model(inp, out)
    model.compile(optimizer="sgd", loss="mse")
    data = rng.standard_normal((32, 4)).astype("float32")
    target = data.sum(axis=1, keepdims=True)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(data, target, epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert not np.allclose(before[0], model.get_weights()[0])  # the Dense before the Lambda learned


def test_the_frozen_cache_never_caches_a_lambda():
    """A Lambda runs the user's code, which cnnkit cannot tell is deterministic: fit(cache_frozen=True) caches the
    frozen layer before it and trains from there."""
    from cnnkit.training import frozen  # noqa: PLC0415

    inputs = layers.Input((3,))
    x = layers.Dense(4, trainable=False, name="frozen")(inputs)
    model = cnnkit.Model(inputs, layers.Dense(2)(layers.Lambda(lambda t: t * 2.0, name="fn")(x)))
    split = frozen.FrozenSplit(model)
    assert [node.layer.name for node in split.backbone.nodes if node.inputs] == ["frozen"]
    with pytest.raises(ValueError, match="'fn'.*runs custom code"):
        frozen.FrozenSplit(cnnkit.Model(inputs, layers.Lambda(lambda t: t * 2.0, name="fn")(inputs)))


# ---- configs and safe mode -------------------------------------------------------------------------------------


def named_double(x):
    return x * 2.0


def test_lambda_configs_are_keras_s(keras):
    fn = lambda x: x * 2.0 + 1.0  # noqa: E731
    for mine, theirs in [(layers.Lambda(fn), keras.layers.Lambda(fn)),
                         (layers.Lambda(fn, output_shape=(3,)), keras.layers.Lambda(fn, output_shape=(3,))),
                         (layers.Lambda(named_double), keras.layers.Lambda(named_double))]:
        cfg, kcfg = json.loads(json.dumps(mine.get_config())), json.loads(json.dumps(theirs.get_config()))
        kcfg.pop("dtype"), cfg.pop("dtype"), kcfg.pop("name"), cfg.pop("name")
        assert cfg == kcfg


def test_lambda_config_round_trip(config_round_trip, unsafe):
    with config.custom_object_scope({"named_double": named_double}):
        for layer in (layers.Lambda(lambda x, a=1.0: x + a, output_shape=lambda s: s, arguments={"k": [1, 2]}),
                      layers.Lambda(named_double, output_shape=(4,)), layers.Lambda(cnnkit.activations.relu),
                      layers.Lambda(lambda x: x, output_shape=[(2,), (3, None)])):
            config_round_trip(layer)


def test_lambda_named_functions_come_from_custom_objects_or_activations(keras):
    spec = layers.serialize(layers.Lambda(named_double))
    with pytest.raises(ValueError, match=r"Layer 'lambda\w*' \(Lambda\): cannot find the function 'named_double'"
                                         r".*custom_objects"):
        layers.deserialize(spec)
    with config.custom_object_scope({"named_double": named_double}):
        assert layers.deserialize(spec).function is named_double
    relu = layers.deserialize({"class_name": "Lambda", "config": keras.layers.Lambda(keras.activations.relu)
                               .get_config()})
    np.testing.assert_array_equal(relu(np.array([[-1.0, 2.0]])).numpy(), [[0.0, 2.0]])


def test_lambda_bytecode_refused_in_safe_mode_by_default(monkeypatch):
    spec = json.loads(json.dumps(layers.serialize(layers.Lambda(lambda x: x + 1.0, name="plus_one"))))
    message = r"Layer 'plus_one' \(Lambda\): Requested the deserialization of a `Lambda` layer.*`safe_mode=False`"
    with pytest.raises(ValueError, match=message):
        layers.deserialize(spec)
    with pytest.raises(ValueError, match=message):
        layers.Lambda.from_config(spec["config"])
    with pytest.raises(ValueError, match=message):
        cnnkit.models.model_from_config(spec)
    assert cnnkit.models.model_from_config(spec, safe_mode=False)(np.ones((1, 2))).numpy().tolist() == [[2.0, 2.0]]
    with config.SafeModeScope(False):
        assert layers.deserialize(spec).name == "plus_one"
    shape_spec = json.loads(json.dumps(layers.serialize(layers.Lambda(named_double, output_shape=lambda s: s))))
    with pytest.raises(ValueError, match=r"whose `output_shape` is a Python lambda"), \
            config.custom_object_scope({"named_double": named_double}):
        layers.deserialize(shape_spec)
    monkeypatch.setitem(config._state, "unsafe", False)
    config.enable_unsafe_deserialization()
    assert config.in_safe_mode() is False
    assert layers.deserialize(spec).name == "plus_one"
    with config.SafeModeScope(True), pytest.raises(ValueError, match=message):  # an explicit scope wins
        layers.deserialize(spec)


def test_lambda_reads_tf_keras_2_configs(unsafe):
    """tf.keras 2 wrote [code, defaults, closure] with function_type='lambda' (Keras's own func_dump here)."""
    from keras.src.utils.python_utils import func_dump  # noqa: PLC0415

    code, defaults, closure = func_dump(lambda x, c=3.0: x * c)
    spec = {"class_name": "Lambda", "config": {
        "name": "old", "trainable": True, "dtype": "float32", "function": [code, list(defaults), closure],
        "function_type": "lambda", "module": "__main__", "output_shape": [2], "output_shape_type": "raw",
        "output_shape_module": None, "arguments": {}}}
    layer = layers.deserialize(spec)
    np.testing.assert_allclose(layer(np.ones((1, 2))).numpy(), [[3.0, 3.0]])
    assert layer.compute_output_shape((None, 2)) == (None, 2)


# ---- files -----------------------------------------------------------------------------------------------------


def _model(k):
    inp = k.layers.Input((3, 4))
    y = k.layers.Dense(5)(inp)
    return k.models.Model(inp, k.layers.Dense(2)(k.layers.Lambda(lambda x: x * 2.0 + 1.0)(y)))


def _predict(model, x):
    return model.predict(x, verbose=0) if isinstance(model, cnnkit.models.Model) else np.asarray(model(x))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("writer", ["cnnkit", "keras"])
def test_lambda_files_open_in_the_other_library_only_with_safe_mode_off(keras, rng, tmp_path, writer, suffix):
    libraries = {"cnnkit": cnnkit, "keras": keras}
    reader = libraries["keras" if writer == "cnnkit" else "cnnkit"]
    model = _model(libraries[writer])
    x = rng.standard_normal((3, 3, 4)).astype("float32")
    path = str(tmp_path / f"{writer}{suffix}")
    model.save(path)
    # cnnkit's message names the layer; Keras's does not.
    named = rf"Layer '{model.layers[2].name}' \(Lambda\): " if reader is cnnkit else ""
    with pytest.raises(ValueError, match=rf"{named}.*`Lambda` layer.*`safe_mode=False`"):
        reader.models.load_model(path, compile=False)
    loaded = reader.models.load_model(path, compile=False, safe_mode=False)
    np.testing.assert_allclose(_predict(loaded, x), _predict(model, x), rtol=1e-5, atol=1e-5)


def test_lambda_weights_file_from_keras(keras, rng, tmp_path):
    model = _model(keras)
    x = rng.standard_normal((3, 3, 4)).astype("float32")
    weights = str(tmp_path / "keras.weights.h5")
    model.save_weights(weights)
    fresh = _model(cnnkit)
    fresh.load_weights(weights)
    np.testing.assert_allclose(fresh.predict(x, verbose=0), np.asarray(model(x)), rtol=1e-5, atol=1e-5)


def test_lambda_named_function_file_from_keras(keras, rng, tmp_path):
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Lambda(named_double)(keras.layers.Dense(3)(inp)))
    path = str(tmp_path / "named.keras")
    model.save(path)
    with pytest.raises(ValueError, match="cannot find the function 'named_double'"):
        cnnkit.models.load_model(path)
    loaded = cnnkit.models.load_model(path, custom_objects={"named_double": named_double})  # no bytecode: safe
    x = rng.standard_normal((2, 4)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), np.asarray(model(x)), rtol=1e-5, atol=1e-5)


def test_lambda_onnx_and_policy(files, tmp_path, unsafe):
    model = _model(cnnkit)
    files.check_onnx(model, tmp_path)
    files.check_policy(lambda k: k.layers.Lambda(lambda x: x * 2.0 + 1.0), (3, 4))


# ---- errors ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", [None, 3, "relu_x"])
def test_lambda_function_must_be_callable(function):
    with pytest.raises(ValueError, match=r"Lambda: function must be callable\. Received: function="):
        layers.Lambda(function)


def test_lambda_bad_arguments_raise():
    fn = lambda x: x  # noqa: E731
    with pytest.raises(NotImplementedError, match=r"Lambda: mask is not supported"):
        layers.Lambda(fn, mask=lambda x, m: m)
    with pytest.raises(ValueError, match=r"Lambda: arguments must be a dict.*Received: arguments=\[1\]"):
        layers.Lambda(fn, arguments=[1])
    for bad in ("3", (3.0,), [(3,), "a"], 5):
        with pytest.raises(ValueError, match=r"Lambda: output_shape must be .*Received: output_shape="):
            layers.Lambda(fn, output_shape=bad)
    with pytest.raises(ValueError, match=r"Layer 'lambda\w*' \(Lambda\): arguments must be JSON values"):
        layers.Lambda(fn, arguments={"a": object()}).get_config()
    weight = torch.ones(3)
    with pytest.raises(ValueError, match=r"\(Lambda\): the values the lambda closes over must be JSON values"):
        layers.Lambda(lambda x: x * weight).get_config()


def test_lambda_bad_functions_raise(rng):
    x = rng.standard_normal((2, 3)).astype("float32")
    with pytest.raises(TypeError, match=r"Layer 'lambda\w*' \(Lambda\): the function must return a torch tensor"):
        layers.Lambda(lambda t: t.numpy())(x)
    tf_code = lambda t: tf.reduce_sum(t)  # noqa: E731, F821 (Keras code using TensorFlow)
    with pytest.raises(NotImplementedError, match=r"Layer 'lambda\w*' \(Lambda\): could not infer the output shape"
                                                  r".*NameError.*rewritten with torch.*output_shape="):
        layers.Lambda(tf_code)(layers.Input((3,)))


def test_lambda_bytecode_from_another_python_raises(unsafe):
    spec = {"class_name": "Lambda", "config": {"name": "old", "function": {"class_name": "__lambda__", "config": {
        "code": "bm90IGJ5dGVjb2Rl\n", "defaults": None, "closure": None}}, "arguments": {}}}
    with pytest.raises(ValueError, match=r"Layer 'old' \(Lambda\): the stored Python lambda cannot be rebuilt"):
        layers.deserialize(spec)
