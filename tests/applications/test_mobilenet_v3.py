"""cnnkit.applications.mobilenet_v3 against keras.applications.mobilenet_v3: weights in Keras's published layout,
predictions (the model preprocesses inside), .keras files back to Keras (with the hard sigmoid's operations),
parameter counts, Keras's input and alpha rules, a frozen backbone."""

import numpy as np
import pytest

from cnnkit.applications import APPLICATIONS
from cnnkit.applications import MobileNetV3Large
from cnnkit.applications import MobileNetV3Small
from cnnkit.applications import mobilenet_v3
from cnnkit.layers import Input
from tests.applications.family_checks import fit_cached
from tests.applications.family_checks import frozen_backbone_model


@pytest.mark.parametrize("name, include_top, kwargs", [
    ("MobileNetV3Small", False, dict(alpha=0.75)),
    ("MobileNetV3Small", True, dict(classes=5, minimalistic=True, include_preprocessing=False)),
    ("MobileNetV3Large", True, dict(alpha=1.25, classes=4)),
])
def test_mobilenet_v3_against_keras(keras, zoo, tmp_path, name, include_top, kwargs):
    zoo.check_against_keras(keras, tmp_path, name, "mobilenet_v3", (32, 32, 3), include_top=include_top,
                            file_round_trip=name == "MobileNetV3Small", **kwargs)


# Keras's parameter counts (include_top=True, default input), measured from keras.applications 3.15.
def test_mobilenet_v3_parameter_counts():
    for builder, kwargs, expected in ((MobileNetV3Small, {}, 2554968), (MobileNetV3Small, dict(minimalistic=True),
                                                                        2056848),
                                      (MobileNetV3Large, {}, 5507432), (MobileNetV3Large, dict(minimalistic=True),
                                                                        3948688)):
        assert builder(weights=None, **kwargs).count_params() == expected


def test_mobilenet_v3_small_parameter_count_live(keras):
    keras.backend.clear_session()
    assert MobileNetV3Small(weights=None).count_params() == keras.applications.MobileNetV3Small(
        weights=None).count_params()


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=None, input_shape=(31, 64, 3)), "at least 32x32"),
    (dict(weights=None, input_tensor=Input((16, 16, 3))), "at least 32x32"),
    (dict(weights="imagenet", alpha=0.5), "alpha can be one of"),
    (dict(weights="imagenet", alpha=0.75, minimalistic=True), "alpha can be one of"),
    (dict(weights="imagenet", classes=10), "`classes` should be 1000"),
])
def test_mobilenet_v3_argument_errors_as_keras(keras, kwargs, message):
    with pytest.raises(ValueError, match=message):
        MobileNetV3Small(**kwargs)
    if "input_tensor" in kwargs:
        kwargs = dict(kwargs, input_tensor=keras.layers.Input((16, 16, 3)))
    with pytest.raises(ValueError):
        keras.applications.MobileNetV3Small(**kwargs)


def test_mobilenet_v3_classifier_takes_any_size_and_files():
    model = MobileNetV3Small(weights=None, classes=3)
    assert model.input_shape == (None, None, None, 3) and model.output_shape == (None, 3)
    assert model.predict(np.zeros((1, 40, 48, 3), "float32"), verbose=0).shape == (1, 3)
    assert mobilenet_v3.WEIGHTS_FILES["large_224_1.0_float"][False].fname == \
        "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5"
    assert mobilenet_v3.preprocess_input(np.full((1, 2, 2, 3), 255.0)).max() == 255.0


def test_mobilenet_v3_frozen_backbone_cached_fit():
    model = frozen_backbone_model(MobileNetV3Small(weights=None, include_top=False, input_shape=(32, 32, 3)))
    assert np.isfinite(fit_cached(model, (32, 32, 3)).history["loss"][0])
    assert APPLICATIONS.lookup("mobilenetv3small").preprocessing == "none"
