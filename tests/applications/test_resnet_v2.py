"""cnnkit.applications.resnet_v2 against keras.applications.resnet_v2: the shared zoo check with and without the
classifier, parameter counts of every builder, Keras's input-size errors, weights files, the registry and a frozen
backbone trained with cache_frozen."""

import pytest

import cnnkit
from cnnkit.applications import APPLICATIONS
from cnnkit.applications import ResNet50V2
from cnnkit.applications import ResNet101V2
from cnnkit.applications import ResNet152V2
from cnnkit.applications import resnet_v2


def test_resnet50v2_with_and_without_top_matches_keras(keras, tmp_path, zoo):
    ours, with_top, _ = zoo.check_with_and_without_top(keras, tmp_path, "ResNet50V2", "resnet_v2", (32, 32, 3),
                                                    classes=5, pooling="avg", batch=2)
    names = [layer.name for layer in ours.layers]
    assert names[1:5] == ["conv1_pad", "conv1_conv", "pool1_pad", "pool1_pool"]
    assert names[-3:] == ["post_bn", "post_relu", "avg_pool"] and "max_pooling2d" in names
    assert ours.output_shape == (None, 2048)
    assert with_top.output_shape == (None, 5) and with_top.name == "resnet50v2"


def test_param_counts_match_keras(fast_init):
    # Measured from keras.applications (3.15) at the default 224x224 with the classifier (42,626,560 and
    # 58,331,648 without it: 2048 * 1000 + 1000 fewer); the zoo checks above compare ResNet50V2's counts with a
    # live Keras model.
    assert ResNet50V2(weights=None).count_params() == 25613800
    assert ResNet101V2(weights=None).count_params() == 44675560
    assert ResNet152V2(weights=None).count_params() == 60380648


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=None, include_top=False, input_shape=(64, 31, 3)), "at least 32x32"),
    (dict(weights="imagenet", include_top=True, input_shape=(64, 64, 3)), r"should be \(224, 224, 3\)"),
    (dict(weights="imagenet", include_top=False, input_shape=(64, 64, 4)), "3 channels"),
])
def test_input_size_errors_as_keras(keras, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResNet101V2(**kwargs)
    with pytest.raises(ValueError, match=message):
        keras.applications.ResNet101V2(**kwargs)


def test_weights_files_and_registry(fast_init):
    files = resnet_v2.WEIGHTS_FILES["resnet152v2"]
    assert files[False].origin == ("https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
                                   "resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert files[True].file_hash == "a49b44d1979771252814e80f8ec446f9"
    assert set(resnet_v2.WEIGHTS_FILES) == {"resnet50v2", "resnet101v2", "resnet152v2"}
    for key in ("resnet50v2", "resnet101v2", "resnet152v2"):
        entry = APPLICATIONS.lookup(key)
        assert entry.preprocessing == "tf" and entry.last_conv == "post_relu" and entry.min_size == 32
    assert resnet_v2.decode_predictions is cnnkit.applications.decode_predictions


def test_frozen_resnet50v2_fits_with_cache_frozen(zoo, fast_init):
    zoo.check_frozen_fit(ResNet50V2, (32, 32, 3))
