"""cnnkit.applications.mobilenet against keras.applications.mobilenet: weights in Keras's published layout,
predictions, .keras files back to Keras, parameter counts, Keras's input-size and alpha rules, a frozen backbone."""

import numpy as np
import pytest

from cnnkit.applications import APPLICATIONS
from cnnkit.applications import MobileNet
from cnnkit.applications import mobilenet
from tests.applications.family_checks import fit_cached
from tests.applications.family_checks import frozen_backbone_model


@pytest.mark.parametrize("include_top, kwargs", [
    (False, dict(alpha=0.25, depth_multiplier=2)),
    (True, dict(alpha=0.5, classes=5)),
])
def test_mobilenet_against_keras(keras, zoo, tmp_path, include_top, kwargs):
    ours, _ = zoo.check_against_keras(keras, tmp_path, "MobileNet", "mobilenet", (32, 32, 3), include_top=include_top,
                                      file_round_trip=include_top, **kwargs)
    assert ours.name == f"mobilenet_{kwargs['alpha']:0.2f}_32"


def test_mobilenet_pooling_layer_names_match_keras(keras):
    from cnnkit.utils import clear_session  # noqa: PLC0415

    for pooling in ("avg", "max"):
        keras.backend.clear_session()
        clear_session()
        theirs = keras.applications.MobileNet(weights=None, include_top=False, alpha=0.25, pooling=pooling)
        ours = MobileNet(weights=None, include_top=False, alpha=0.25, pooling=pooling)
        assert ours.layers[-1].name == theirs.layers[-1].name and ours.name == theirs.name == "mobilenet_0.25_None"
        assert ours.output_shape == theirs.output_shape == (None, 256)


def test_mobilenet_parameter_count_matches_keras(keras):
    keras.backend.clear_session()
    theirs = keras.applications.MobileNet(weights=None)
    ours = MobileNet(weights=None)
    assert ours.count_params() == theirs.count_params() == 4253864
    assert ours.name == theirs.name == "mobilenet_1.00_224"


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=None, include_top=False, input_shape=(31, 64, 3)), "at least 32x32"),
    (dict(weights="imagenet", depth_multiplier=2), "depth multiplier must be 1"),
    (dict(weights="imagenet", alpha=0.3), "alpha can be one of"),
    (dict(weights="imagenet", include_top=True, input_shape=(128, 160, 3)), r"should be \(224, 224, 3\)"),
    (dict(weights="imagenet", include_top=True, classes=10), "`classes` should be 1000"),
])
def test_mobilenet_argument_errors_as_keras(keras, kwargs, message):
    with pytest.raises(ValueError, match=message):
        MobileNet(**kwargs)
    with pytest.raises(ValueError):
        keras.applications.MobileNet(**kwargs)


def test_mobilenet_weights_files():
    assert mobilenet.WEIGHTS_FILES[(0.75, 160)][False].fname == "mobilenet_7_5_160_tf_no_top.h5"
    assert mobilenet.WEIGHTS_FILES[(1.0, 224)][True].origin == \
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/mobilenet_1_0_224_tf.h5"


def test_mobilenet_frozen_backbone_cached_fit():
    model = frozen_backbone_model(MobileNet(weights=None, include_top=False, alpha=0.25, input_shape=(32, 32, 3)))
    history = fit_cached(model, (32, 32, 3))
    assert np.isfinite(history.history["loss"][0])
    entry = APPLICATIONS.lookup("mobilenet")
    assert entry.preprocessing == "tf" and entry.last_conv == "conv_pw_13_relu"
