"""cnnkit.applications.mobilenet_v2 against keras.applications.mobilenet_v2: weights in Keras's published layout,
predictions, .keras files back to Keras, parameter counts, Keras's input-size and alpha rules, a frozen backbone."""

import numpy as np
import pytest

from cnnkit.applications import APPLICATIONS
from cnnkit.applications import MobileNetV2
from cnnkit.applications import mobilenet_v2
from cnnkit.layers import Input
from tests.applications.family_checks import fit_cached
from tests.applications.family_checks import frozen_backbone_model


@pytest.mark.parametrize("include_top, kwargs", [
    (False, dict(alpha=0.35)),
    (True, dict(alpha=0.5, classes=5)),
])
def test_mobilenet_v2_against_keras(keras, zoo, tmp_path, include_top, kwargs):
    ours, _ = zoo.check_against_keras(keras, tmp_path, "MobileNetV2", "mobilenet_v2", (33, 32, 3),
                                      include_top=include_top, file_round_trip=include_top, **kwargs)
    assert ours.name == f"mobilenetv2_{kwargs['alpha']:0.2f}_33"


def test_mobilenet_v2_parameter_count_matches_keras(keras):
    keras.backend.clear_session()
    theirs = keras.applications.MobileNetV2(weights=None)
    ours = MobileNetV2(weights=None)
    assert ours.count_params() == theirs.count_params() == 3538984
    assert ours.name == theirs.name == "mobilenetv2_1.00_224"
    assert [layer.name for layer in ours.layers][1:] == [layer.name for layer in theirs.layers][1:]


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=None, include_top=False, input_shape=(64, 31, 3)), "at least 32x32"),
    (dict(weights="imagenet", alpha=0.25), "alpha must be one of"),
    (dict(weights="imagenet", include_top=True, input_shape=(96, 97, 3)), r"should be \(224, 224, 3\)"),
    (dict(weights="imagenet", include_top=True, classes=10), "`classes` should be 1000"),
    (dict(weights=None, include_top=False, input_shape=(64, 64, 3), input_tensor=Input((64, 48, 3))),
     "must equal input_shape"),
])
def test_mobilenet_v2_argument_errors_as_keras(keras, kwargs, message):
    with pytest.raises(ValueError, match=message):
        MobileNetV2(**kwargs)
    if "input_tensor" in kwargs:
        kwargs = dict(kwargs, input_tensor=keras.layers.Input((64, 48, 3)))
    with pytest.raises(ValueError):
        keras.applications.MobileNetV2(**kwargs)


def test_mobilenet_v2_size_from_input_tensor_names_weights():
    model = MobileNetV2(weights=None, include_top=False, input_tensor=Input((96, 96, 3)))
    assert model.name == "mobilenetv2_1.00_None"  # as Keras: rows from input_shape (None), not the tensor
    assert mobilenet_v2.WEIGHTS_FILES[(0.35, 96)][False].fname == \
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    assert mobilenet_v2.WEIGHTS_FILES[(1.0, 224)][True].origin == (
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5")


def test_mobilenet_v2_frozen_backbone_cached_fit():
    model = frozen_backbone_model(MobileNetV2(weights=None, include_top=False, alpha=0.35, input_shape=(32, 32, 3)))
    assert np.isfinite(fit_cached(model, (32, 32, 3)).history["loss"][0])
    entry = APPLICATIONS.lookup("mobilenetv2")
    assert entry.preprocessing == "tf" and entry.last_conv == "out_relu"
