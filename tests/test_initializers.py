"""Initializers against Keras: the same distributions (range, mean, spread) for conv and dense kernel shapes,
which exercises Keras's fan rules; plus names, configs and errors."""

import json

import numpy as np
import pytest
import torch

from cnnkit import initializers

DRAWS = 8  # samples pooled per side: quantiles of ~20,000+ values have small standard errors


@pytest.fixture(autouse=True)
def _seeded(keras):
    """Both libraries seeded: the comparison is deterministic, not a coin toss at the tolerance edge."""
    torch.manual_seed(0)
    keras.utils.set_random_seed(0)


def _draw(make, shape):
    """DRAWS independent samples, each from a new initializer (a Keras 3 initializer without a seed returns the
    same values on every call)."""
    return np.concatenate([np.asarray(make()(shape)).ravel() for _ in range(DRAWS)])

NAMES = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
         "random_normal", "random_uniform", "truncated_normal", "zeros", "ones"]
SHAPES = [(3, 3, 16, 32), (5, 5, 3, 8, 4), (200, 50)]


def _stats(values):
    """Quantiles, mean and spread: stable statistics for samples of a few thousand values."""
    return np.array([*np.quantile(values, [0.02, 0.25, 0.5, 0.75, 0.98]), values.mean(), values.std()])


BOUNDED = {"glorot_uniform", "he_uniform", "lecun_uniform", "random_uniform", "truncated_normal", "glorot_normal",
           "he_normal", "lecun_normal"}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", NAMES)
def test_distribution_matches_keras(keras, name, shape):
    assert tuple(initializers.to_tensor(initializers.get(name), shape).shape) == shape
    ours = _draw(lambda: lambda s: initializers.to_tensor(initializers.get(name), s).numpy(), shape)
    theirs = _draw(lambda: keras.initializers.get(name), shape)
    scale = max(theirs.std(), 1e-3)
    np.testing.assert_allclose(_stats(ours), _stats(theirs), atol=0.04 * scale + 1e-7, rtol=0.03)
    if name in BOUNDED:  # uniform limits and the 2-sigma truncation: the ranges agree too
        np.testing.assert_allclose([ours.min(), ours.max()], [theirs.min(), theirs.max()], atol=0.08 * scale)


@pytest.mark.parametrize("config", [
    ("VarianceScaling", {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"}),
    ("VarianceScaling", {"scale": 0.5, "mode": "fan_avg", "distribution": "untruncated_normal"}),
    ("RandomNormal", {"mean": 1.0, "stddev": 0.2}), ("RandomUniform", {"minval": -2.0, "maxval": 3.0}),
    ("TruncatedNormal", {"mean": 0.5, "stddev": 0.1}), ("Constant", {"value": 0.25}),
])
def test_configured_initializers_match_keras(keras, config):
    name, kwargs = config
    shape = (3, 3, 32, 64)
    ours = _draw(lambda: lambda s: initializers.to_tensor(getattr(initializers, name)(**kwargs), s).numpy(), shape)
    theirs = _draw(lambda: getattr(keras.initializers, name)(**kwargs), shape)
    scale = max(theirs.std(), 1e-3)
    np.testing.assert_allclose(_stats(ours), _stats(theirs), atol=0.04 * scale + 1e-7, rtol=0.03)


def test_orthogonal_and_identity(keras):
    ours = initializers.to_tensor(initializers.Orthogonal(gain=2.0), (64, 32)).numpy()
    np.testing.assert_allclose(ours.T @ ours, 4.0 * np.eye(32), atol=1e-4)
    np.testing.assert_array_equal(initializers.to_tensor(initializers.Identity(), (3, 4)).numpy(),
                                  np.asarray(keras.initializers.Identity()((3, 4))))


def test_seed_makes_it_repeatable():
    a = initializers.to_tensor(initializers.GlorotUniform(seed=3), (8, 8)).numpy()
    b = initializers.to_tensor(initializers.GlorotUniform(seed=3), (8, 8)).numpy()
    c = initializers.to_tensor(initializers.GlorotUniform(seed=4), (8, 8)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_names_configs_and_errors(keras):
    assert isinstance(initializers.get("HeNormal"), initializers.HeNormal)
    for name in NAMES:
        init = initializers.get(name)
        spec = json.loads(json.dumps(initializers.serialize(init)))
        assert type(initializers.get(spec)) is type(init)
        assert type(keras.initializers.deserialize(spec)).__name__ == type(init).__name__
    with pytest.raises(ValueError, match="Did you mean 'he_normal'"):
        initializers.get("he_normall")
    with pytest.raises(ValueError, match="mode"):
        initializers.VarianceScaling(mode="fan_sideways")
