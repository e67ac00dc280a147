"""cnnkit.applications.vgg16 / vgg19 against keras.applications: the shared zoo check (Keras's published weights
layout in, predictions after preprocess_input, .keras file back to Keras) with and without the classifier,
parameter counts, Keras's input-size errors, the registry and a frozen backbone trained with cache_frozen."""

import pytest

import cnnkit
from cnnkit.applications import APPLICATIONS
from cnnkit.applications import VGG16
from cnnkit.applications import VGG19
from cnnkit.applications import vgg16
from cnnkit.applications import vgg19
from tests.applications.family_checks import zero_initial_weights


@pytest.mark.parametrize("name, module", [("VGG16", "vgg16"), ("VGG19", "vgg19")])
def test_vgg_without_top_matches_keras(keras, tmp_path, zoo, name, module):
    ours, _ = zoo.check_against_keras(keras, tmp_path, name, module, (32, 32, 3), include_top=False)
    assert ours.output_shape == (None, 1, 1, 512) and ours.name == module


def test_vgg16_with_top_and_pooling_match_keras(keras, tmp_path, zoo):
    ours, _ = zoo.check_against_keras(keras, tmp_path, "VGG16", "vgg16", (32, 32, 3), include_top=True, classes=7)
    assert [layer.name for layer in ours.layers][-4:] == ["flatten", "fc1", "fc2", "predictions"]
    ours, _ = zoo.check_against_keras(keras, tmp_path, "VGG19", "vgg19", (40, 40, 3), pooling="max")
    assert ours.layers[-1].name == "global_max_pooling2d" and ours.output_shape == (None, 512)


def test_param_counts_match_keras():
    # Measured from keras.applications (3.15) at the default 224x224 with the classifier (the zoo checks above
    # compare both without it, and VGG16 with it at 32x32, with live Keras models). Zero initial weights: the
    # counts without drawing 140M random numbers twice.
    with zero_initial_weights():
        assert VGG16(weights=None).count_params() == 138357544
        assert VGG19(weights=None).count_params() == 143667240


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=None, include_top=False, input_shape=(31, 64, 3)), "at least 32x32"),
    (dict(weights="imagenet", include_top=True, input_shape=(64, 64, 3)), r"should be \(224, 224, 3\)"),
    (dict(weights="imagenet", include_top=False, input_shape=(64, 64, 1)), "3 channels"),
    (dict(weights=None, include_top=True, input_shape=(None, None, 3)), "static `input_shape`"),
])
@pytest.mark.parametrize("builder", ["VGG16", "VGG19"])
def test_input_size_errors_as_keras(keras, builder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(cnnkit.applications, builder)(**kwargs)
    with pytest.raises(ValueError, match=message):
        getattr(keras.applications, builder)(**kwargs)


def test_weights_files_and_registry(fast_init):
    assert vgg16.WEIGHTS_FILES[False].origin == ("https://storage.googleapis.com/tensorflow/keras-applications/"
                                                 "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert vgg19.WEIGHTS_FILES[True].fname == "vgg19_weights_tf_dim_ordering_tf_kernels.h5"
    assert vgg19.WEIGHTS_FILES[True].file_hash == "cbe5617147190e668d6c5d5026f83318"
    entry = APPLICATIONS.lookup("vgg19")
    assert entry.preprocessing == "caffe" and entry.default_size == 224 and entry.min_size == 32
    model = entry(input_shape=(32, 32, 3), include_top=False)
    assert model.get_layer(entry.last_conv).output.shape[1:] == (2, 2, 512)
    assert vgg16.decode_predictions is cnnkit.applications.decode_predictions


def test_frozen_vgg16_fits_with_cache_frozen(zoo, fast_init):
    zoo.check_frozen_fit(VGG16, (32, 32, 3))
