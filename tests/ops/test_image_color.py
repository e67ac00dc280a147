"""cnnkit.ops.image_math's colour-space kernels against TensorFlow's tf.image (Keras's ops.image on TensorFlow)."""

import numpy as np
import pytest
import torch

from cnnkit.ops import image_math as image


@pytest.fixture
def tf():
    import tensorflow  # noqa: PLC0415

    return tensorflow


def _rgb(rng, scale):
    x = rng.uniform(0, 1, (3, 6, 5, 3)).astype("float32")
    x[0, 0, :5] = [[0.5, 0.5, 0.5], [0, 0, 0], [1, 1, 0], [0, 1, 1], [1, 0, 1]]  # grey, black, ties between maxima
    return x * scale


@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_rgb_to_hsv_and_back_as_tensorflow(tf, rng, scale):
    x = _rgb(rng, scale)
    np.testing.assert_allclose(image.rgb_to_hsv(torch.from_numpy(x)).numpy(), tf.image.rgb_to_hsv(x).numpy(),
                               atol=1e-6 * scale, rtol=1e-6)
    hsv = rng.uniform(0, 1, (2, 4, 4, 3)).astype("float32") * np.float32([1, 3, scale])  # saturation above 1 too
    np.testing.assert_allclose(image.hsv_to_rgb(torch.from_numpy(hsv)).numpy(), tf.image.hsv_to_rgb(hsv).numpy(),
                               atol=1e-6 * scale, rtol=1e-6)


def test_rgb_to_grayscale_as_keras(tf, rng):
    x = _rgb(rng, 255.0)
    np.testing.assert_allclose(image.rgb_to_grayscale(torch.from_numpy(x)).numpy(),
                               tf.image.rgb_to_grayscale(x).numpy(), atol=1e-4)
    one = torch.from_numpy(x[..., :1])
    assert image.rgb_to_grayscale(one) is one
    with pytest.raises(ValueError, match="expected 3 \\(RGB\\) or 1"):
        image.rgb_to_grayscale(torch.zeros(1, 2, 2, 4))
