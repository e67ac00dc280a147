"""cnnkit.applications.inception_resnet_v2 against keras.applications.inception_resnet_v2: Keras's
CustomScaleLayer (values, config, .keras files both ways), the shared zoo check with and without the classifier,
parameter counts, Keras's input-size errors, weights files, the registry and a frozen backbone with cache_frozen."""

import numpy as np
import pytest

import cnnkit
from cnnkit.applications import APPLICATIONS
from cnnkit.applications import InceptionResNetV2
from cnnkit.applications import inception_resnet_v2
from cnnkit.applications.inception_resnet_v2 import CustomScaleLayer
from cnnkit.layers import Input
from cnnkit.models import Model


def test_custom_scale_layer_matches_keras(keras, tmp_path):
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer as KerasScale  # noqa: PLC0415

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3, 3, 4)).astype("float32"), rng.normal(size=(2, 3, 3, 4)).astype("float32")
    ours, theirs = CustomScaleLayer(0.17, name="scale"), KerasScale(0.17, name="scale")
    np.testing.assert_allclose(np.asarray(ours([a, b])), np.asarray(theirs([a, b])), rtol=1e-6)
    assert ours.get_config() == theirs.get_config()
    assert CustomScaleLayer.from_config(ours.get_config()).scale == 0.17
    # A Keras model holding the layer opens in cnnkit, and back.
    inputs = keras.Input((3, 3, 4))
    keras.Model(inputs, KerasScale(0.5)([inputs, inputs])).save(tmp_path / "k.keras")
    mine = cnnkit.models.load_model(tmp_path / "k.keras")
    assert isinstance(mine.layers[-1], CustomScaleLayer) and mine.layers[-1].scale == 0.5
    np.testing.assert_allclose(np.asarray(mine.predict(a, verbose=0)), 1.5 * a, rtol=1e-6)
    x = Input((3, 3, 4))
    Model(x, CustomScaleLayer(2.0)([x, x])).save(tmp_path / "c.keras")
    reopened = keras.models.load_model(tmp_path / "c.keras")
    np.testing.assert_allclose(reopened.predict(a, verbose=0), 3 * a, rtol=1e-6)
    with pytest.raises(ValueError, match="CustomScaleLayer: `scale` should be a number. Received: scale='big'"):
        CustomScaleLayer("big")
    with pytest.raises(ValueError, match="list of two tensors"):
        CustomScaleLayer(1.0)(Input((3,)))


def test_inception_resnet_v2_with_and_without_top_matches_keras(keras, tmp_path, zoo):
    ours, with_top, _ = zoo.check_with_and_without_top(keras, tmp_path, "InceptionResNetV2", "inception_resnet_v2",
                                                    (75, 75, 3))
    names = [layer.name for layer in ours.layers]
    assert names[-3:] == ["conv_7b", "conv_7b_bn", "conv_7b_ac"] and "custom_scale_layer_39" in names
    assert ours.output_shape == (None, 1, 1, 1536)
    assert with_top.output_shape == (None, 3) and with_top.name == "inception_resnet_v2"


def test_param_counts_match_keras(fast_init):
    # Measured from keras.applications (3.15) at the default 299x299 (the zoo checks above compare live).
    assert InceptionResNetV2(weights=None).count_params() == 55873736
    assert InceptionResNetV2(weights=None, include_top=False, pooling="avg").count_params() == 54336736


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=None, include_top=False, input_shape=(100, 74, 3)), "at least 75x75"),
    (dict(weights="imagenet", include_top=True, input_shape=(224, 224, 3)), r"should be \(299, 299, 3\)"),
    (dict(weights="imagenet", include_top=False, input_shape=(100, 100, 2)), "3 channels"),
])
def test_input_size_errors_as_keras(keras, kwargs, message):
    with pytest.raises(ValueError, match=message):
        InceptionResNetV2(**kwargs)
    with pytest.raises(ValueError, match=message):
        keras.applications.InceptionResNetV2(**kwargs)


def test_weights_files_and_registry(fast_init):
    assert inception_resnet_v2.WEIGHTS_FILES[True].origin == (
        "https://storage.googleapis.com/tensorflow/keras-applications/inception_resnet_v2/"
        "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5")
    assert inception_resnet_v2.WEIGHTS_FILES[False].file_hash == "d19885ff4a710c122648d3b5c3b684e4"
    entry = APPLICATIONS.lookup("inceptionresnetv2")
    assert (entry.preprocessing, entry.default_size, entry.min_size, entry.last_conv) == ("tf", 299, 75,
                                                                                         "conv_7b_ac")
    with pytest.raises(ValueError, match="Unknown Inception-ResNet block type"):
        inception_resnet_v2.inception_resnet_block(Input((8, 8, 4)), 0.1, "block99", 1)


def test_frozen_inception_resnet_v2_fits_with_cache_frozen(zoo, fast_init):
    zoo.check_frozen_fit(InceptionResNetV2, (75, 75, 3), samples=3)
