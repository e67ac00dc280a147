"""cnnkit.applications.nasnet against keras.applications.nasnet: the shared zoo check with and without the
classifier (NASNetMobile: NASNetLarge is the same cells with other widths, a third more layers and 90 M parameters,
too slow for the suite; its counts are checked), parameter counts of both builders, Keras's input-size errors
(NASNet's own static-shape rule among them), weights files, the registry and a frozen backbone with cache_frozen."""

import pytest

import cnnkit
from cnnkit.applications import APPLICATIONS
from cnnkit.applications import NASNetLarge
from cnnkit.applications import NASNetMobile
from cnnkit.applications import nasnet


def test_nasnet_mobile_with_and_without_top_matches_keras(keras, tmp_path, zoo):
    ours, with_top, _ = zoo.check_with_and_without_top(keras, tmp_path, "NASNetMobile", "nasnet", (32, 32, 3))
    names = [layer.name for layer in ours.layers]
    assert names[1:3] == ["stem_conv1", "stem_bn1"] and names[-2] == "normal_concat_12"
    assert "adjust_conv_projection_1" in names and ours.output_shape == (None, 1, 1, 1056)
    assert with_top.output_shape == (None, 3) and with_top.name == "nasnet_mobile"


def test_param_counts_match_keras(fast_init):
    # Measured from keras.applications (3.15) at the default sizes (224 / 331 with the classifier; without it
    # NASNetMobile's default input is (224, 224, 3) and NASNetLarge's (None, None, 3), whose unknown sizes change
    # which cells adjust their inputs: 84,887,922 instead of 84,916,818).
    assert NASNetMobile(weights=None).count_params() == 5326716
    assert NASNetMobile(weights=None, include_top=False).count_params() == 4269716
    assert NASNetLarge(weights=None).count_params() == 88949818


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=None, include_top=False, input_shape=(31, 64, 3)), "at least 32x32"),
    (dict(weights="imagenet", include_top=True, input_shape=(224, 224, 3)), r"should be \(331, 331, 3\)"),
    (dict(weights="imagenet", include_top=False, input_shape=(None, None, 3)), "must be static"),
    (dict(weights="imagenet", include_top=False, input_shape=(64, 64, 1)), "3 channels"),
])
def test_input_size_errors_as_keras(keras, kwargs, message):
    with pytest.raises(ValueError, match=message):
        NASNetLarge(**kwargs)
    with pytest.raises(ValueError, match=message):
        keras.applications.NASNetLarge(**kwargs)


def test_nasnet_arguments(fast_init):
    with pytest.raises(ValueError, match="multiple of 24"):
        nasnet.NASNet((32, 32, 3), penultimate_filters=100, weights=None, include_top=False)
    with pytest.raises(ValueError, match="only be loaded with NASNetLarge or NASNetMobile"):
        nasnet.NASNet((64, 64, 3), penultimate_filters=96, num_blocks=1, include_top=False, default_size=64)
    assert NASNetMobile(weights=None, include_top=False).input_shape == (None, 224, 224, 3)


def test_weights_files_and_registry(fast_init):
    files = nasnet.WEIGHTS_FILES[224]
    assert files[True].fname == "nasnet_mobile.h5"
    assert files[True].origin == "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/NASNet-mobile.h5"
    assert nasnet.WEIGHTS_FILES[331][False].file_hash == "d81d89dc07e6e56530c4e77faddd61b5"
    for key, size in (("nasnetmobile", 224), ("nasnetlarge", 331)):
        entry = APPLICATIONS.lookup(key)
        assert (entry.preprocessing, entry.default_size, entry.min_size) == ("tf", size, 32)
    entry = APPLICATIONS.lookup("nasnetmobile")
    model = entry(include_top=False, input_shape=(32, 32, 3))
    assert model.get_layer(entry.last_conv).output.shape[1:] == (1, 1, 1056)
    assert nasnet.decode_predictions is cnnkit.applications.decode_predictions


def test_frozen_nasnet_mobile_fits_with_cache_frozen(zoo, fast_init):
    zoo.check_frozen_fit(NASNetMobile, (32, 32, 3), samples=3)
