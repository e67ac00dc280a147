"""An unset `training` means each layer's own `call` default, as in Keras 3: a custom layer declaring
`training=True` gets True from a direct model call and False from predict; dicts reach only layers that take them."""

import numpy as np
import pytest

import cnnkit
from cnnkit import layers


class Recorder(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def call(self, inputs, training=True):
        self.seen.append(training)
        return inputs


def test_unset_training_is_each_layers_own_default(keras):
    ours = Recorder()
    inputs = layers.Input((3,))
    model = cnnkit.Model(inputs, layers.Dropout(0.5)(ours(inputs)))
    x = np.ones((4, 3), np.float32)
    np.testing.assert_array_equal(np.asarray(model(x)), x)  # Dropout's default (False) applies, ours gets True
    model.predict(x, verbose=0)
    model(x, training=False)
    assert ours.seen == [True, False, False]

    class KerasRecorder(keras.layers.Layer):  # the same layer in Keras 3: the oracle for what `model(x)` passes
        seen = []

        def call(self, inputs, training=True):
            KerasRecorder.seen.append(bool(training))
            return inputs

    k_inputs = keras.Input((3,))
    k_model = keras.Model(k_inputs, KerasRecorder()(k_inputs))
    k_model(x)
    k_model(x, training=False)
    assert KerasRecorder.seen[-2:] == [True, False]  # (Keras also calls it once when the model is built)


def test_dicts_reach_only_layers_that_take_them():
    with pytest.raises(TypeError, match=r"Layer 'd' \(Dense\) takes arrays or tensors, not a dict"):
        layers.Dense(2, name="d")({"x": np.zeros((1, 3))})
    mixed = layers.MixUp(seed=0)({"images": np.zeros((2, 4, 4, 3)), "labels": np.eye(2)})
    assert set(mixed) == {"images", "labels"}
