"""Oracle helpers for the per-layer tests: build a cnnkit layer and the same Keras layer, copy the weights, and
compare outputs, output shapes, weight shapes, parameter counts and configs.

Everything is exposed through the `oracle` fixture (an `Oracle` bound to the session's Keras module), so the test
files need no imports from this file.
"""

import json

import numpy as np
import pytest
import torch


def to_numpy(value):
    """A torch tensor, a TensorFlow/Keras tensor or an array as a numpy array."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def batchless(shape):
    """`shape` (a tuple or a list of tuples for merge layers) with the batch axis replaced by None."""
    if isinstance(shape, list):
        return [batchless(s) for s in shape]
    return (None, *tuple(shape)[1:])


def shapes_of(inputs):
    if isinstance(inputs, list):
        return [tuple(x.shape) for x in inputs]
    return tuple(inputs.shape)


def check_config_round_trip(layer):
    """`type(l).from_config(l.get_config()).get_config() == l.get_config()`, also through JSON."""
    cfg = layer.get_config()
    text = json.dumps(cfg)  # must be JSON-serialisable
    rebuilt = type(layer).from_config(cfg)
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == cfg
    from_json = type(layer).from_config(json.loads(text))
    assert from_json.get_config() == cfg
    return cfg


def randomize_keras_weights(klayer, rng, scale=0.5):
    """Sets every Keras weight to random values (variances positive), so biases and statistics are non-trivial."""
    values = []
    for variable in klayer.weights:
        shape = tuple(variable.shape)
        if "variance" in variable.name:
            values.append(rng.uniform(0.5, 2.0, size=shape).astype("float32"))
        else:
            values.append((rng.standard_normal(shape) * scale).astype("float32"))
    klayer.set_weights(values)
    return values


class Oracle:
    """Compares cnnkit layers against Keras layers (the Keras module is the session fixture)."""

    def __init__(self, keras):
        self.keras = keras

    def keras_call(self, klayer, inputs, training=None):
        kwargs = {} if training is None else {"training": training}
        out = klayer(inputs, **kwargs)
        if isinstance(out, (list, tuple)):
            return [to_numpy(o) for o in out]
        return to_numpy(out)

    def check_shapes(self, layer, klayer, inputs, output):
        """compute_output_shape (batch None and concrete) == actual output shape == Keras's output shape."""
        actual = tuple(output.shape)
        none_batch = layer.compute_output_shape(batchless(shapes_of(inputs)))
        assert isinstance(none_batch, tuple), f"compute_output_shape returned {type(none_batch).__name__}"
        assert none_batch == (None, *actual[1:])
        assert tuple(layer.compute_output_shape(shapes_of(inputs))) == actual
        keras_shape = tuple(klayer.compute_output_shape(batchless(shapes_of(inputs))))
        assert none_batch == keras_shape

    def check_weights_match(self, layer, klayer):
        """Same number, order (by name), shapes and parameter counts as the Keras layer."""
        kweights = klayer.get_weights()
        weights = layer.get_weights()
        assert [w.shape for w in weights] == [w.shape for w in kweights]
        assert [s.attr for s in layer._weight_specs] == [v.name for v in klayer.weights]
        assert len(layer.trainable_weights) == len(klayer.trainable_weights)
        assert len(layer.non_trainable_weights) == len(klayer.non_trainable_weights)
        assert layer.count_params() == klayer.count_params()

    def compare(self, layer, klayer, inputs, *, training=None, rtol=1e-5, atol=1e-5, rng=None,
                randomize=True, check_values=True):
        """Builds both layers on `inputs`, copies Keras's (randomised) weights into cnnkit, runs both and
        compares outputs, shapes, weights and configs. Returns (cnnkit output, Keras output) as numpy.

        check_values=False skips only the output comparison (for a known bug of the oracle; the caller then
        checks the values against an independent reference)."""
        if isinstance(inputs, list):
            inputs = [np.asarray(x, dtype="float32") for x in inputs]
        else:
            inputs = np.asarray(inputs, dtype="float32")
        klayer.build(batchless(shapes_of(inputs)) if not isinstance(inputs, list) else
                     [tuple(s) for s in shapes_of(inputs)])
        layer(inputs)  # builds
        self.check_weights_match(layer, klayer)
        if randomize and klayer.weights:
            randomize_keras_weights(klayer, rng if rng is not None else np.random.default_rng(1))
        layer.set_weights(klayer.get_weights())
        for mine, theirs in zip(layer.get_weights(), klayer.get_weights()):
            np.testing.assert_array_equal(mine, theirs)
        expected = self.keras_call(klayer, inputs, training)
        kwargs = {} if training is None else {"training": training}
        output = layer(inputs, **kwargs)
        assert isinstance(output, torch.Tensor)
        self.check_shapes(layer, klayer, inputs, output)
        got = to_numpy(output)
        assert got.dtype == np.float32
        if check_values:
            np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)
        check_config_round_trip(layer)
        return got, expected


    def compare_gradients(self, layer, klayer, inputs, rng, rtol=1e-4, atol=1e-4):
        """The gradients of loss = sum(output * probe) (a fixed random probe) with respect to the input and to
        every weight equal TensorFlow's (GradientTape), with Keras's randomised weights copied into cnnkit; the
        weight gradients are compared in Keras layout."""
        import tensorflow as tf  # noqa: PLC0415

        from cnnkit.ops import layout  # noqa: PLC0415

        inputs = np.asarray(inputs, dtype="float32")
        klayer.build(inputs.shape)
        randomize_keras_weights(klayer, rng)
        layer(inputs)
        layer.set_weights(klayer.get_weights())
        probe = rng.standard_normal(tuple(klayer.compute_output_shape(inputs.shape))).astype("float32")
        tx = tf.constant(inputs)
        with tf.GradientTape() as tape:
            tape.watch(tx)
            loss = tf.reduce_sum(klayer(tx) * probe)
        expected = tape.gradient(loss, [tx, *klayer.weights])
        x = torch.tensor(inputs, requires_grad=True)
        (layer(x) * torch.from_numpy(probe)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), to_numpy(expected[0]), rtol=rtol, atol=atol, err_msg="input")
        assert len(layer._weight_specs) == len(expected) - 1
        for spec, want in zip(layer._weight_specs, expected[1:]):
            got = layout.WEIGHT_LAYOUTS[spec.kind][1](getattr(layer, spec.attr).grad.numpy())
            np.testing.assert_allclose(got, to_numpy(want), rtol=rtol, atol=atol, err_msg=spec.attr)


@pytest.fixture
def oracle(keras):
    return Oracle(keras)


@pytest.fixture
def config_round_trip():
    return check_config_round_trip


# ---- models around one layer: files in both directions, ONNX, dtype policies -----------------------------------

FILE_KINDS = ("keras", "h5", "weights.h5")


def _as_list(value):
    return value if isinstance(value, list) else [value]


def one_layer_model(k, make, input_shapes):
    """`Model(inputs, make(k)(inputs))` in library `k` (keras or cnnkit); `input_shapes` is a shape without the
    batch axis, or a list of them for a layer called on a list."""
    shapes = input_shapes if isinstance(input_shapes, list) else [input_shapes]
    inputs = [k.layers.Input(shape=tuple(s)) for s in shapes]
    outputs = make(k)(inputs if isinstance(input_shapes, list) else inputs[0])
    return k.models.Model(inputs if isinstance(input_shapes, list) else inputs[0], outputs)


def _predict_keras(model, xs):
    return [to_numpy(o) for o in _as_list(model(xs if len(xs) > 1 else xs[0], training=False))]


def _predict_cnnkit(model, xs):
    return [to_numpy(o) for o in _as_list(model.predict(xs if len(xs) > 1 else xs[0], verbose=0))]


def _random_weights(model, rng):
    values = []
    for w in model.get_weights():
        values.append(rng.uniform(0.5, 1.5, w.shape) if w.ndim == 1 else rng.normal(0, 0.5, w.shape))
    model.set_weights([v.astype("float32") for v in values])


def _dtype_name(tensor):
    """'float32', 'bfloat16', ... for a torch, TensorFlow or Keras tensor or variable."""
    dtype = tensor.dtype
    return getattr(dtype, "name", None) or str(dtype).split(".")[-1]


class FileOracle:
    """Files in Keras's three formats across the two libraries, for a model made of one layer."""

    def __init__(self, keras):
        self.keras = keras

    def check(self, make, input_shapes, tmp_path, rng=None, atol=1e-5, batch=3):
        """A model around `make(k)` (k = keras or cnnkit): saved by Keras as '.keras', '.h5' and '.weights.h5' and
        read by cnnkit (load_model / load_weights), then saved by cnnkit in each format and read by Keras; each
        time the reader's predictions must equal the writer's on the same data. Also checks that the two models
        have the same parameter count and the same weight shapes."""
        import cnnkit  # noqa: PLC0415

        keras = self.keras
        rng = rng if rng is not None else np.random.default_rng(3)
        shapes = _as_list(input_shapes)
        xs = [rng.normal(size=(batch, *s)).astype("float32") for s in shapes]
        keras.backend.clear_session(free_memory=False)
        cnnkit.utils.clear_session()
        theirs, mine = one_layer_model(keras, make, input_shapes), one_layer_model(cnnkit, make, input_shapes)
        assert mine.count_params() == theirs.count_params()
        assert [w.shape for w in mine.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
        _random_weights(theirs, rng)
        expected = _predict_keras(theirs, xs)
        for kind in FILE_KINDS:
            path = str(tmp_path / f"keras_{kind.replace('.', '_')}.{kind}")
            (theirs.save_weights if kind == "weights.h5" else theirs.save)(path)
            if kind == "weights.h5":
                loaded = one_layer_model(cnnkit, make, input_shapes)
                loaded.load_weights(path)
            else:
                loaded = cnnkit.models.load_model(path, compile=False)
            for got, want in zip(_predict_cnnkit(loaded, xs), expected):
                np.testing.assert_allclose(got, want, atol=atol, rtol=1e-5, err_msg=f"Keras {kind} -> cnnkit")
        _random_weights(mine, rng)
        expected = _predict_cnnkit(mine, xs)
        for kind in FILE_KINDS:
            path = str(tmp_path / f"cnnkit_{kind.replace('.', '_')}.{kind}")
            (mine.save_weights if kind == "weights.h5" else mine.save)(path)
            keras.backend.clear_session(free_memory=False)
            if kind == "weights.h5":
                loaded = one_layer_model(keras, make, input_shapes)
                loaded.load_weights(path)
            else:
                loaded = keras.models.load_model(path, compile=False)
            for got, want in zip(_predict_keras(loaded, xs), expected):
                np.testing.assert_allclose(got, want, atol=atol, rtol=1e-5, err_msg=f"cnnkit {kind} -> Keras")
        return mine

    def check_onnx(self, model, tmp_path, rng=None, atol=1e-4):
        """The model exported to ONNX and run by onnxruntime gives `model.predict`'s outputs (batches 1 and 4)."""
        ort = pytest.importorskip("onnxruntime")
        rng = rng if rng is not None else np.random.default_rng(4)
        path = tmp_path / "model.onnx"
        model.export(path, verbose=False)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        shapes = [tuple(s[1:]) for s in _as_list(model.input_shape)]
        for batch in (1, 4):
            xs = [rng.normal(size=(batch, *s)).astype("float32") for s in shapes]
            got = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), xs)})
            for g, e in zip(got, _predict_cnnkit(model, xs)):
                np.testing.assert_allclose(g, e, atol=atol, rtol=1e-4)

    def check_policy(self, make, input_shapes, policy="mixed_bfloat16", rng=None):
        """Under a mixed policy the layer computes in the policy's compute dtype and keeps float32 weights, as
        in Keras: same output dtype and weight dtypes as the Keras layer."""
        import cnnkit  # noqa: PLC0415

        keras = self.keras
        rng = rng if rng is not None else np.random.default_rng(5)
        xs = [rng.normal(size=(2, *s)).astype("float32") for s in _as_list(input_shapes)]
        arg = xs if isinstance(input_shapes, list) else xs[0]
        keras.config.set_dtype_policy(policy)
        cnnkit.mixed_precision.set_global_policy(policy)
        try:
            theirs, mine = make(keras), make(cnnkit)
            want, got = _as_list(theirs(arg)), _as_list(mine(arg))
            assert [_dtype_name(o) for o in got] == [_dtype_name(o) for o in want]
            assert [_dtype_name(w) for w in mine.weights] == [_dtype_name(w) for w in theirs.weights]
        finally:
            keras.config.set_dtype_policy("float32")
            cnnkit.mixed_precision.set_global_policy("float32")


@pytest.fixture
def files(keras):
    return FileOracle(keras)
