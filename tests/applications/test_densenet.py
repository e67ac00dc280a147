"""cnnkit.applications.densenet against keras.applications.densenet: the shared zoo check with and without the
classifier, parameter counts of every builder, Keras's input-size errors, weights files, the registry and a frozen
backbone trained with cache_frozen."""

import pytest

import cnnkit
from cnnkit.applications import APPLICATIONS
from cnnkit.applications import DenseNet121
from cnnkit.applications import DenseNet169
from cnnkit.applications import DenseNet201
from cnnkit.applications import densenet


def test_densenet121_with_and_without_top_matches_keras(keras, tmp_path, zoo):
    ours, with_top, _ = zoo.check_with_and_without_top(keras, tmp_path, "DenseNet121", "densenet", (32, 32, 3),
                                                    classes=4, pooling="max", batch=2)
    names = [layer.name for layer in ours.layers]
    assert names[1:3] == ["zero_padding2d", "conv1_conv"] and names[-3:] == ["bn", "relu", "max_pool"]
    assert ours.output_shape == (None, 1024)
    assert with_top.output_shape == (None, 4) and with_top.name == "densenet121"


def test_param_counts_match_keras(fast_init):
    # Measured from keras.applications (3.15) at the default 224x224 with the classifier (the zoo checks above
    # compare DenseNet121's counts with a live Keras model).
    assert DenseNet121(weights=None).count_params() == 8062504
    assert DenseNet169(weights=None).count_params() == 14307880
    assert DenseNet201(weights=None).count_params() == 20242984


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=None, include_top=False, input_shape=(16, 64, 3)), "at least 32x32"),
    (dict(weights="imagenet", include_top=True, input_shape=(64, 64, 3)), r"should be \(224, 224, 3\)"),
    (dict(weights=None, include_top=True, input_shape=(None, None, 3)), "static `input_shape`"),
])
def test_input_size_errors_as_keras(keras, kwargs, message):
    with pytest.raises(ValueError, match=message):
        DenseNet169(**kwargs)
    with pytest.raises(ValueError, match=message):
        keras.applications.DenseNet169(**kwargs)


def test_weights_files_and_registry(fast_init):
    files = densenet.WEIGHTS_FILES["densenet201"]
    assert files[False].origin == ("https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
                                   "densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert files[False].file_hash == "c13680b51ded0fb44dff2d8f86ac8bb1"
    with pytest.raises(ValueError, match=r"no ImageNet weights for blocks=\[2, 2, 2, 2\]"):
        densenet.DenseNet([2, 2, 2, 2], include_top=False, input_shape=(32, 32, 3))
    for key in ("densenet121", "densenet169", "densenet201"):
        entry = APPLICATIONS.lookup(key)
        assert entry.preprocessing == "torch" and entry.last_conv == "relu" and entry.default_size == 224
    assert densenet.decode_predictions is cnnkit.applications.decode_predictions


def test_frozen_densenet121_fits_with_cache_frozen(zoo, fast_init):
    zoo.check_frozen_fit(DenseNet121, (32, 32, 3))
