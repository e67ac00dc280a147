"""cnnkit.applications.efficientnet_v2 against keras.applications.efficientnet_v2: weights in Keras's published
layout, predictions (the model preprocesses inside), .keras files back to Keras, parameter counts, Keras's argument
errors, and the frozen cache's refusal (drop connect Dropout inside the backbone)."""

import pytest

from cnnkit.applications import APPLICATIONS
from cnnkit.applications import EfficientNetV2B0
from cnnkit.applications import efficientnet_v2
from tests.applications.family_checks import fit_cached
from tests.applications.family_checks import frozen_backbone_model
from tests.applications.family_checks import zero_initial_weights


@pytest.mark.parametrize("name, include_top, kwargs", [
    ("EfficientNetV2B0", False, {}),
    ("EfficientNetV2B1", True, dict(classes=5, include_preprocessing=False)),
])
def test_efficientnet_v2_against_keras(keras, zoo, tmp_path, name, include_top, kwargs):
    zoo.check_against_keras(keras, tmp_path, name, "efficientnet_v2", (32, 32, 3), include_top=include_top,
                            file_round_trip=include_top, **kwargs)


# Keras's parameter counts (include_top=True, default input), measured from keras.applications 3.15; B0 is also
# compared live.
COUNTS = {"B0": 7200312, "B1": 8212124, "B2": 10178374, "B3": 14467622, "S": 21612360, "M": 54431388, "L": 119027848}


def test_efficientnet_v2_parameter_counts():
    with zero_initial_weights():
        for variant, expected in COUNTS.items():
            assert getattr(efficientnet_v2, f"EfficientNetV2{variant}")(weights=None).count_params() == expected


def test_efficientnet_v2_b0_count_live_and_s_preprocessing(keras):
    keras.backend.clear_session()
    assert EfficientNetV2B0(weights=None).count_params() == keras.applications.EfficientNetV2B0(
        weights=None).count_params()
    with zero_initial_weights():
        model = efficientnet_v2.EfficientNetV2S(weights=None, include_top=False, input_shape=(32, 32, 3))
    # Keras's S/M/L preprocessing (keras/src/applications/efficientnet_v2.py): Rescaling(1 / 128, offset=-1) only.
    assert [type(layer).__name__ for layer in model.layers[:3]] == ["InputLayer", "Rescaling", "Conv2D"]
    assert model.layers[1].get_config()["scale"] == 1 / 128 and model.layers[1].get_config()["offset"] == -1


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=None, include_top=False, input_shape=(31, 64, 3)), "at least 32x32"),
    (dict(weights="imagenet", include_top=True, input_shape=(64, 64, 3)), r"should be \(224, 224, 3\)"),
    (dict(weights="imagenet", include_top=True, classes=10), "`classes` should be 1000"),
])
def test_efficientnet_v2_argument_errors_as_keras(keras, kwargs, message):
    with pytest.raises(ValueError, match=message):
        EfficientNetV2B0(**kwargs)
    with pytest.raises(ValueError):
        keras.applications.EfficientNetV2B0(**kwargs)


def test_efficientnet_v2_frozen_backbone_cannot_be_cached():
    model = frozen_backbone_model(EfficientNetV2B0(weights=None, include_top=False, input_shape=(32, 32, 3)))
    with pytest.raises(ValueError, match=r"random in training \(Dropout 'block2b_drop'\)"):
        fit_cached(model, (32, 32, 3))
    assert APPLICATIONS.lookup("efficientnetv2l").default_size == 480
    assert efficientnet_v2.WEIGHTS_FILES["-s"][False].origin == (
        "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/efficientnetv2-s_notop.h5")
