"""A subclassed Model (keras.io's "Making new layers and models via subclassing") under 'mixed_bfloat16': its own
call and a custom layer's see their inputs in the compute dtype (Keras's input autocasting), so the ops written in
`call` between layers compute in bfloat16 as in Keras; dtypes and values against Keras running the same code."""

import numpy as np
import pytest

import cnnkit
from cnnkit import mixed_precision


@pytest.fixture(autouse=True)
def _float32_after(keras):
    yield
    mixed_precision.set_global_policy("float32")
    keras.mixed_precision.set_global_policy("float32")


def _dtype(tensor):
    return str(tensor.dtype).replace("torch.", "").replace("<dtype: '", "").replace("'>", "")


def _build(kit, seen):
    """The same subclassed model for both libraries; `seen` collects (where, dtype) during the call."""
    class Scale(kit.layers.Layer):
        def call(self, x):
            seen.append(("scale input", _dtype(x)))
            return x * 3.0

    class MyModel(kit.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = kit.layers.Conv2D(4, 3, activation="relu")
            self.scale = Scale()
            self.pool = kit.layers.GlobalAveragePooling2D()
            self.dense = kit.layers.Dense(2)

        def call(self, inputs):
            seen.append(("model input", _dtype(inputs)))
            x = self.conv(inputs / 2.0)
            x = kit.ops.mean(self.scale(x), axis=(1, 2)) + self.pool(x)
            seen.append(("between layers", _dtype(x)))
            return self.dense(x)

    return MyModel()


def test_subclassed_model_computes_in_bfloat16_as_keras(keras):
    x = np.random.default_rng(0).uniform(0, 1, (2, 6, 6, 3)).astype("float32")
    results = []
    for kit in (keras, cnnkit):
        kit.mixed_precision.set_global_policy("mixed_bfloat16")
        seen = []
        model = _build(kit, seen)
        model(x)  # builds
        results.append((model, seen))
    (theirs, k_seen), (ours, c_seen) = results
    ours.set_weights(theirs.get_weights())
    del k_seen[:], c_seen[:]
    expected, got = theirs(x), ours(x)
    assert c_seen == k_seen == [("model input", "bfloat16"), ("scale input", "bfloat16"),
                                ("between layers", "bfloat16")]
    assert _dtype(got) == _dtype(expected) == "bfloat16"
    assert _dtype(ours.conv.kernel) == _dtype(theirs.conv.kernel) == "float32"  # float32 weights
    expected = np.asarray(expected).astype("float32")
    np.testing.assert_allclose(got.float().detach().numpy(), expected, rtol=3e-2, atol=3e-2)
