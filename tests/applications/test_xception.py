"""cnnkit.applications.xception against keras.applications.xception: the shared zoo check with and without the
classifier, parameter counts, Keras's input-size errors, weights files, the registry and a frozen backbone trained
with cache_frozen."""

import pytest

import cnnkit
from cnnkit.applications import APPLICATIONS
from cnnkit.applications import Xception
from cnnkit.applications import xception


def test_xception_with_and_without_top_matches_keras(keras, tmp_path, zoo):
    ours, with_top, _ = zoo.check_with_and_without_top(keras, tmp_path, "Xception", "xception", (71, 71, 3),
                                                    pooling="avg", batch=2)
    names = [layer.name for layer in ours.layers]
    assert {"conv2d_3", "batch_normalization_3", "add_11"} <= set(names)  # Keras's unnamed layers, same names
    assert names[-1] == "global_average_pooling2d" and ours.output_shape == (None, 2048)
    assert with_top.output_shape == (None, 3) and with_top.name == "xception"


def test_param_counts_match_keras(fast_init):
    # Measured from keras.applications (3.15) at the default 299x299 (the zoo checks above compare live).
    assert Xception(weights=None).count_params() == 22910480
    assert Xception(weights=None, include_top=False).count_params() == 20861480


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=None, include_top=False, input_shape=(70, 100, 3)), "at least 71x71"),
    (dict(weights="imagenet", include_top=True, input_shape=(224, 224, 3)), r"should be \(299, 299, 3\)"),
    (dict(weights="imagenet", include_top=False, input_shape=(100, 100, 1)), "3 channels"),
])
def test_input_size_errors_as_keras(keras, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Xception(**kwargs)
    with pytest.raises(ValueError, match=message):
        keras.applications.Xception(**kwargs)


def test_weights_files_and_registry(fast_init):
    assert xception.WEIGHTS_FILES[True].origin == ("https://storage.googleapis.com/tensorflow/keras-applications/"
                                                   "xception/xception_weights_tf_dim_ordering_tf_kernels.h5")
    assert xception.WEIGHTS_FILES[False].file_hash == "b0042744bf5b25fce3cb969f33bebb97"
    entry = APPLICATIONS.lookup("xception")
    assert (entry.preprocessing, entry.default_size, entry.min_size) == ("tf", 299, 71)
    assert entry.last_conv == "block14_sepconv2_act"
    assert xception.decode_predictions is cnnkit.applications.decode_predictions


def test_frozen_xception_fits_with_cache_frozen(zoo, fast_init):
    zoo.check_frozen_fit(Xception, (71, 71, 3), samples=3)
