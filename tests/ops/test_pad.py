"""`cnnkit.ops.functional.pad` on internal (channels_last-stored) tensors against numpy's constant padding."""

import numpy as np
import pytest
import torch

from cnnkit.ops import functional as nn


@pytest.mark.parametrize("shape, pads", [((2, 96, 8, 8), ((0, 1), (0, 1))), ((2, 5, 7, 9), ((2, 3), (0, 4))),
                                         ((2, 5, 7), ((1, 2),)), ((2, 3, 4, 5, 6), ((1, 0), (0, 2), (3, 1)))])
@pytest.mark.parametrize("value", [0.0, 2.5])
def test_pad_channels_last_matches_numpy(rng, shape, pads, value):
    """The border-only path (no gradient, a tensor stored channels-last as cnnkit's internal ones are): numpy's
    values, and the output stored channels-last too."""
    keras_layout = rng.standard_normal((shape[0], *shape[2:], shape[1])).astype(np.float32)
    x = torch.from_numpy(keras_layout).movedim(-1, 1)  # internal (N, C, *spatial) view, channels-last storage
    expected = np.pad(keras_layout, [(0, 0), *pads, (0, 0)], constant_values=value)
    with torch.no_grad():
        out = nn.pad(x, pads, value)
    np.testing.assert_array_equal(out.movedim(1, -1).numpy(), expected)
    assert out.movedim(1, -1).is_contiguous()


def test_pad_gradient_and_crop_match_numpy(rng):
    """With a gradient needed, and with negative amounts (crops), F.pad runs: same values, gradient of ones inside."""
    keras_layout = rng.standard_normal((2, 6, 7, 3)).astype(np.float32)
    x = torch.from_numpy(keras_layout).movedim(-1, 1).requires_grad_(True)
    out = nn.pad(x, ((1, 2), (0, 1)))
    np.testing.assert_array_equal(out.detach().movedim(1, -1).numpy(),
                                  np.pad(keras_layout, [(0, 0), (1, 2), (0, 1), (0, 0)]))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(x.shape, np.float32))
    with torch.no_grad():
        cropped = nn.pad(x, ((-1, 2), (0, -2)))
    np.testing.assert_array_equal(cropped.movedim(1, -1).numpy(),
                                  np.pad(keras_layout, [(0, 0), (0, 2), (0, 0), (0, 0)])[:, 1:, :-2])
