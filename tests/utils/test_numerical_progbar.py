"""to_categorical, normalize and Progbar against Keras's."""

import re

import numpy as np
import pytest
import torch

from cnnkit.utils import Progbar
from cnnkit.utils import normalize
from cnnkit.utils import to_categorical


def test_to_categorical_matches_keras(keras):
    for labels, classes in (([0, 2, 1], None), (np.array([[1], [3]]), 5), (np.array([[0, 1], [2, 0]]), 3)):
        ours = to_categorical(labels, classes)
        np.testing.assert_array_equal(ours, keras.utils.to_categorical(labels, classes))
        assert ours.dtype == np.float32
    out = to_categorical(torch.tensor([[1], [0]]), 3)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_array_equal(out.numpy(), keras.utils.to_categorical(np.array([[1], [0]]), 3))
    with pytest.raises(ValueError, match="out of range"):
        to_categorical([3], 2)


def test_normalize_matches_keras(keras, rng):
    x = rng.normal(size=(4, 5))
    x[1] = 0.0
    for axis, order in ((-1, 2), (-1, 1), (1, 3)):  # (Keras's numpy branch breaks on axis=0)
        np.testing.assert_allclose(normalize(x, axis, order), keras.utils.normalize(x, axis, order), rtol=1e-12)
    t = torch.tensor(x, dtype=torch.float32)
    np.testing.assert_allclose(normalize(t).numpy(), keras.utils.normalize(x), rtol=1e-5)
    with pytest.raises(ValueError, match="order"):
        normalize(x, order=0)


def _strip_times(text):
    """The bar's text without colours, times, and the padding and backspaces whose count depends on them."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text).replace("\b", "")
    text = re.sub(r"\d+(us|ms|s)/(step|sample)", "T/U", re.sub(r" \d+s\b", " Ts", text))
    return re.sub(r" +(\r|\n|$)", r"\1", text)


def test_progbar_output_matches_keras(keras, capsys):
    def run(cls, **kwargs):
        bar = cls(target=4, **kwargs)
        bar.update(1, [("loss", 1.0), ("acc", 0.5)])
        bar.update(3, [("loss", 0.5), ("acc", 1.0)])
        bar.add(1, [("loss", 0.25), ("acc", 0.0)])
        return capsys.readouterr().out

    for kwargs in ({"verbose": 2}, {"verbose": 2, "stateful_metrics": ["acc"]},
                   {"verbose": 1, "interval": 0.0}, {"verbose": 1, "interval": 0.0, "unit_name": "sample",
                                                     "stateless_metrics": ["loss"]}, {"verbose": 0}):
        assert _strip_times(run(Progbar, **kwargs)) == _strip_times(run(keras.utils.Progbar, **kwargs)), kwargs
    bar = Progbar(None, verbose=1, interval=0.0)
    bar.update(5, [("loss", 2.0)])
    kbar = keras.utils.Progbar(None, verbose=1, interval=0.0)
    ours = capsys.readouterr().out
    kbar.update(5, [("loss", 2.0)])
    assert _strip_times(ours) == _strip_times(capsys.readouterr().out)
    with pytest.raises(ValueError, match="Only one of"):
        Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])
