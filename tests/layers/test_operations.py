"""Arithmetic on symbolic tensors recorded as Keras 3's numpy operations: not layers, Keras's config form, and
.keras files crossing both ways with Keras (which writes the same operations for `x + 3.0`)."""

import json

import numpy as np
import pytest

import cnnkit
from cnnkit.layers import Conv2D
from cnnkit.layers import Input
from cnnkit.layers import ReLU
from cnnkit.models import Model
from cnnkit.models.functional import Functional


def _build(kit):
    x = kit.layers.Input((6, 6, 3))
    c = kit.layers.Conv2D(4, 1, name="c")(x)
    y = kit.layers.ReLU(6.0, name="r")(c + 3.0) * (1.0 / 6.0)
    return kit.models.Model(x, 2.0 - (c + y) / 4.0)


def test_operations_match_keras_and_cross_files(keras, tmp_path):
    keras.backend.clear_session()
    cnnkit.utils.clear_session()
    ours, theirs = _build(cnnkit), _build(keras)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers] == ["input_layer", "c",
                                                                                                 "r"]
    theirs.set_weights(ours.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype("float32")
    expected = theirs.predict(x, verbose=0)
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    ours_cfg = {spec["name"]: spec for spec in ours.get_config()["layers"]}
    theirs_cfg = {spec["name"]: spec for spec in theirs.get_config()["layers"]}
    assert set(ours_cfg) == set(theirs_cfg)
    for name in ("add", "multiply", "add_1", "true_divide", "subtract"):
        assert {k: ours_cfg[name][k] for k in ("module", "class_name", "config", "registered_name")} == \
            {k: theirs_cfg[name][k] for k in ("module", "class_name", "config", "registered_name")}
        assert json.loads(json.dumps(ours_cfg[name]["inbound_nodes"])) == \
            json.loads(json.dumps(theirs_cfg[name]["inbound_nodes"]))
    ours.save(tmp_path / "ours.keras")
    reopened = keras.models.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(reopened.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    theirs.save(tmp_path / "theirs.keras")
    loaded = cnnkit.models.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    again = Functional.from_config(ours.get_config())
    again.set_weights(ours.get_weights())
    np.testing.assert_allclose(again.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_operation_operands_checked():
    x = Input((4,))
    with pytest.raises(TypeError):
        x + "a"
    y = Conv2D(2, 1)(Input((4, 4, 3)))
    with pytest.raises(ValueError, match="incompatible shapes"):
        Model(x, y + x)
    assert Model(x, ReLU()(x * 2)).layers[-1].name.startswith("re_lu")
