"""cnnkit.applications.inception_v3 against keras.applications.inception_v3: the shared zoo check with and without
the classifier, parameter counts, Keras's input-size errors, weights files, the registry and a frozen backbone
trained with cache_frozen."""

import pytest

import cnnkit
from cnnkit.applications import APPLICATIONS
from cnnkit.applications import InceptionV3
from cnnkit.applications import inception_v3


def test_inception_v3_with_and_without_top_matches_keras(keras, tmp_path, zoo):
    ours, with_top, _ = zoo.check_with_and_without_top(keras, tmp_path, "InceptionV3", "inception_v3", (75, 75, 3),
                                                    batch=2)
    names = [layer.name for layer in ours.layers]
    assert names[1:4] == ["conv2d", "batch_normalization", "activation"] and names[-1] == "mixed10"
    assert "conv2d_93" in names and "mixed9_1" in names and ours.output_shape == (None, 1, 1, 2048)
    assert ours.get_layer("batch_normalization").count_params() == 3 * 32  # scale=False: beta, mean, variance
    assert with_top.output_shape == (None, 3) and with_top.name == "inception_v3"


def test_param_counts_match_keras(fast_init):
    # Measured from keras.applications (3.15) at the default 299x299 (the zoo checks above compare live).
    assert InceptionV3(weights=None).count_params() == 23851784
    assert InceptionV3(weights=None, include_top=False, pooling="max").count_params() == 21802784


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=None, include_top=False, input_shape=(74, 100, 3)), "at least 75x75"),
    (dict(weights="imagenet", include_top=True, input_shape=(224, 224, 3)), r"should be \(299, 299, 3\)"),
    (dict(weights=None, include_top=True, input_shape=(None, None, 3)), "static `input_shape`"),
])
def test_input_size_errors_as_keras(keras, kwargs, message):
    with pytest.raises(ValueError, match=message):
        InceptionV3(**kwargs)
    with pytest.raises(ValueError, match=message):
        keras.applications.InceptionV3(**kwargs)


def test_weights_files_and_registry(fast_init):
    assert inception_v3.WEIGHTS_FILES[False].origin == (
        "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert inception_v3.WEIGHTS_FILES[True].file_hash == "9a0d58056eeedaa3f26cb7ebd46da564"
    entry = APPLICATIONS.lookup("inceptionv3")
    assert (entry.preprocessing, entry.default_size, entry.min_size, entry.last_conv) == ("tf", 299, 75, "mixed10")
    assert inception_v3.decode_predictions is cnnkit.applications.decode_predictions


def test_frozen_inception_v3_fits_with_cache_frozen(zoo, fast_init):
    zoo.check_frozen_fit(InceptionV3, (75, 75, 3), samples=3)
