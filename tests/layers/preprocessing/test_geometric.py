"""Keras 3's geometric augmentation layers (RandomFlip, RandomRotation, RandomZoom, RandomTranslation, RandomShear,
RandomCrop, RandomPerspective) and their kernels (cnnkit.ops.image.affine_transform / perspective_transform).

Oracles: Keras 3.15 on TensorFlow (the session's `keras`), and the same Keras layer objects switched to Keras's
torch backend (`layer.backend.set_backend("torch")`, what Keras itself does inside tf.data), whose image kernels
define the semantics cnnkit follows: the two backends agree except for fill_mode 'wrap' at fractional positions
(TensorFlow wraps the position and clamps, torch wraps every pixel index).
"""

import numpy as np
import pytest
import torch

from cnnkit import layers
from cnnkit.layers import Input
from cnnkit.models import Sequential
from cnnkit.ops import image

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")
WARP_CASES = [(f, i) for f in FILL_MODES for i in INTERPOLATIONS]


@pytest.fixture
def images(rng):
    return rng.uniform(0, 255, (3, 10, 8, 2)).astype("float32")


def torch_keras(keras, name, **kwargs):
    """Keras's layer computing with Keras's torch backend."""
    klayer = getattr(keras.layers, name)(**kwargs)
    klayer.backend.set_backend("torch")
    return klayer


def as_numpy(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


# ---- kernels ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fill_mode", (*FILL_MODES, "mirror"))
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_affine_transform_equals_keras_torch_backend(keras, rng, fill_mode, interpolation):
    from keras.src.backend.torch import image as keras_torch_image  # noqa: PLC0415

    x = torch.tensor(rng.uniform(0, 9, (3, 7, 6, 2)), dtype=torch.float32)
    rows = [[1.3, 0.4, -2.1, -0.3, 0.8, 1.7, 0, 0], [0.6, -0.2, 1.3, 0.25, 1.4, -3.3, 0, 0],
            [-1, 0.1, 5.2, 0.1, -1.2, 6.1, 0, 0]]
    transform = torch.tensor(rows, dtype=torch.float32)
    want = keras_torch_image.affine_transform(x.clone(), transform.clone(), interpolation, fill_mode, 3.5)
    got = image.affine_transform(x, transform, interpolation, fill_mode, 3.5)
    np.testing.assert_allclose(as_numpy(got), as_numpy(want), atol=1e-5)
    single = image.affine_transform(x[1].numpy(), np.array(rows[1]), interpolation, fill_mode, 3.5)
    np.testing.assert_allclose(as_numpy(single), as_numpy(want[1]), atol=1e-5)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_perspective_transform_equals_keras(keras, rng, interpolation):
    from keras.src.backend.torch import image as keras_torch_image  # noqa: PLC0415

    x = torch.tensor(rng.uniform(0, 9, (3, 7, 6, 2)), dtype=torch.float32)
    start = torch.tensor([[0.0, 0], [5, 0], [0, 6], [5, 6]]).repeat(3, 1, 1)
    end = start + start * torch.tensor(rng.uniform(-0.4, 0.4, (3, 4, 2)), dtype=torch.float32)
    got = as_numpy(image.perspective_transform(x, start, end, interpolation, 2.0))
    want = as_numpy(keras_torch_image.perspective_transform(x, start, end, interpolation, 2.0))
    np.testing.assert_allclose(got, want, atol=1e-4)
    tf_want = as_numpy(keras.ops.image.perspective_transform(x.numpy(), start.numpy(), end.numpy(), interpolation,
                                                             fill_value=2.0))
    np.testing.assert_allclose(got, tf_want, atol=1e-3)


def test_kernel_errors():
    with pytest.raises(ValueError, match="fill_mode"):
        image.affine_transform(torch.zeros(1, 4, 4, 1), torch.zeros(8), fill_mode="edge")
    with pytest.raises(ValueError, match="interpolation"):
        image.affine_transform(torch.zeros(1, 4, 4, 1), torch.zeros(8), interpolation="bicubic")
    with pytest.raises(ValueError, match="transform"):
        image.affine_transform(torch.zeros(1, 4, 4, 1), torch.zeros(6))
    with pytest.raises(ValueError, match="rank"):
        image.affine_transform(torch.zeros(4, 4), torch.zeros(8))
