"""The applications registry: one entry per architecture, what the command line and the report read from it."""

import numpy as np
import pytest

import cnnkit
from cnnkit.applications import APPLICATIONS
from cnnkit.applications import Application
from cnnkit.applications import imagenet_utils


def test_applications_is_an_attribute_of_cnnkit():
    assert cnnkit.applications.ResNet50 is cnnkit.applications.resnet.ResNet50
    assert cnnkit.applications.resnet.preprocess_input is not None


@pytest.mark.parametrize("name", APPLICATIONS.names())
def test_every_entry_is_consistent(name):
    entry = APPLICATIONS.lookup(name)
    assert entry.key == name and entry.min_size <= entry.default_size
    if entry.pretrained:
        assert getattr(cnnkit.applications, entry.name) is entry.builder  # Keras's builder name


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_deprocess_inverts_keras_preprocess_input(keras, mode):
    """True colours: the registry's deprocess undoes Keras's own preprocess_input for each mode."""
    from keras.applications import imagenet_utils as keras_utils  # noqa: PLC0415

    x = np.random.default_rng(0).uniform(0, 255, (2, 5, 6, 3)).astype("float32")
    prepared = keras_utils.preprocess_input(x.copy(), mode=mode)
    np.testing.assert_allclose(imagenet_utils.deprocess_input(prepared, mode=mode), x, atol=1e-3)
    entry = Application("X", lambda **kw: None, mode, default_size=32, min_size=32)
    np.testing.assert_allclose(entry.preprocess(x), prepared, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(entry.deprocess(prepared), x, atol=1e-3)


def test_an_entry_with_an_unknown_preprocessing_is_refused():
    with pytest.raises(ValueError, match="preprocessing must be one of"):
        Application("X", lambda **kw: None, "bgr", default_size=32, min_size=32)


def test_show_batch_shows_caffe_images_in_true_colours():
    """A red image preprocessed for ResNet ('caffe': BGR, means subtracted) shows red, not blue."""
    from cnnkit.visualization.batches import display_images  # noqa: PLC0415

    red = np.zeros((1, 4, 4, 3), np.float32)
    red[..., 0] = 255.0
    prepared = imagenet_utils.preprocess_input(red, mode="caffe")
    shown = display_images(prepared, APPLICATIONS.lookup("resnet50").deprocess)
    np.testing.assert_allclose(shown[0, 0, 0], [1.0, 0.0, 0.0], atol=1e-6)
    assert display_images(prepared)[0, 0, 0].argmax() != 0  # without deprocess the channels are swapped
