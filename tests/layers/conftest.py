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


@pytest.fixture
def oracle(keras):
    return Oracle(keras)


@pytest.fixture
def config_round_trip():
    return check_config_round_trip
