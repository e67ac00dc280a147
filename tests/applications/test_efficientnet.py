"""cnnkit.applications.efficientnet against keras.applications.efficientnet: weights in Keras's published layout
(Normalization statistics included), predictions (the model preprocesses inside), .keras files back to Keras,
parameter counts of B0..B7, Keras's extra Rescaling with ImageNet weights, and the frozen cache's refusal (drop
connect Dropout inside the backbone)."""

import copy
import math
import shutil

import numpy as np
import pytest

from cnnkit.applications import APPLICATIONS
from cnnkit.applications import EfficientNetB0
from cnnkit.applications import efficientnet
from cnnkit.datasets import _files
from tests.applications.family_checks import fit_cached
from tests.applications.family_checks import frozen_backbone_model
from tests.applications.family_checks import zero_initial_weights


def test_efficientnet_b0_with_and_without_top_against_keras(keras, zoo, tmp_path):
    # The classifier: avg_pool, top_dropout, predictions; the .keras way back with it (Dropout and Dense included).
    ours, with_top, theirs = zoo.check_with_and_without_top(keras, tmp_path, "EfficientNetB0", "efficientnet",
                                                            (32, 32, 3), head=3, classes=5, batch=2,
                                                            round_trip_with_top=True)
    for model in (ours, with_top):
        np.testing.assert_array_equal(model.get_layer("normalization").get_weights()[1],
                                      theirs.get_layer("normalization").get_weights()[1])
    assert with_top.output_shape == (None, 5) and ours.output_shape == (None, 1, 1, 1280)


# Keras's parameter counts (include_top=True, default input; the Normalization's 7 statistics included), measured
# from keras.applications 3.15; B0 is also compared live.
COUNTS = {"B0": 5330571, "B1": 7856239, "B2": 9177569, "B3": 12320535, "B4": 19466823, "B5": 30562527,
          "B6": 43265143, "B7": 66658687}


def test_efficientnet_parameter_counts():
    with zero_initial_weights():
        for variant, expected in COUNTS.items():
            model = getattr(efficientnet, f"EfficientNet{variant}")(weights=None)
            assert model.count_params() == expected and model.name == f"efficientnet{variant.lower()}"


def test_efficientnet_b0_count_live_and_random_model_runs(keras):
    keras.backend.clear_session()
    assert EfficientNetB0(weights=None).count_params() == keras.applications.EfficientNetB0(weights=None).count_params()
    model = EfficientNetB0(weights=None, include_top=False, input_shape=(32, 32, 3), pooling="avg")
    mean, variance, count = model.layers[2].get_weights()
    assert mean.tolist() == [0, 0, 0] and variance.tolist() == [1, 1, 1] and count == 0  # Keras's initial values
    assert np.isfinite(model.predict(np.full((1, 32, 32, 3), 128.0, "float32"), verbose=0)).all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=None, include_top=False, input_shape=(31, 64, 3)), "at least 32x32"),
    (dict(weights="imagenet", include_top=True, input_shape=(64, 64, 3)), r"should be \(224, 224, 3\)"),
    (dict(weights="imagenet", include_top=True, classes=10), "`classes` should be 1000"),
    (dict(weights=None, include_top=True, input_shape=(None, None, 3)), "static `input_shape`"),
])
def test_efficientnet_argument_errors_as_keras(keras, kwargs, message):
    with pytest.raises(ValueError, match=message):
        EfficientNetB0(**kwargs)
    with pytest.raises(ValueError):
        keras.applications.EfficientNetB0(**kwargs)


def test_imagenet_weights_add_keras_rescaling(keras, zoo, tmp_path, monkeypatch):
    """weights='imagenet': Keras 3.15's extra Rescaling(1 / sqrt(stddev)) after the Normalization (a copy of the
    file in Keras's cache is used as Keras would; nothing is downloaded)."""
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path / "cnnkit"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(_files.urllib.request, "urlopen", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    keras.backend.clear_session()
    theirs = keras.applications.EfficientNetB0(weights=None, include_top=False, input_shape=(32, 32, 3))
    zoo.randomize(theirs)
    (tmp_path / "keras" / "models").mkdir(parents=True)
    path = zoo.save_published(theirs, tmp_path / "efficientnetb0_notop.h5")
    shutil.copy(path, tmp_path / "keras" / "models" / "efficientnetb0_notop.h5")
    ours = EfficientNetB0(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    names = [layer.name for layer in ours.layers]
    assert names[1:5] == ["rescaling", "normalization", "rescaling_1", "stem_conv_pad"]
    np.testing.assert_allclose(ours.get_layer("rescaling_1").scale, [1 / math.sqrt(s) for s in (0.229, 0.224, 0.225)])
    # The oracle: Keras's model with Keras's Rescaling layer inserted after its normalization, in its config.
    config = theirs.get_config()
    specs = config["layers"]
    position = next(i for i, spec in enumerate(specs) if spec["name"] == "normalization")
    extra = copy.deepcopy(specs[position - 1])  # the first Rescaling's spec, as Keras writes it
    extra["name"] = extra["config"]["name"] = "rescaling_1"
    extra["config"]["scale"] = [1 / math.sqrt(s) for s in (0.229, 0.224, 0.225)]
    extra["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["normalization", 0, 0]
    specs.insert(position + 1, extra)
    specs[position + 2]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["rescaling_1", 0, 0]
    reference = keras.Model.from_config(config)
    reference.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    zoo.assert_close_to_scale(ours.predict(x, verbose=0), reference.predict(x, verbose=0))


def test_efficientnet_frozen_backbone_cannot_be_cached():
    model = frozen_backbone_model(EfficientNetB0(weights=None, include_top=False, input_shape=(32, 32, 3)))
    with pytest.raises(ValueError, match=r"random in training \(Dropout 'block2b_drop'\)"):
        fit_cached(model, (32, 32, 3))
    entry = APPLICATIONS.lookup("efficientnetb7")
    assert entry.preprocessing == "none" and entry.default_size == 600 and entry.last_conv == "top_activation"
    assert efficientnet.WEIGHTS_FILES["b3"][False].origin == \
        "https://storage.googleapis.com/keras-applications/efficientnetb3_notop.h5"
