"""Checks shared by the family tests: fit(cache_frozen=True) on a frozen backbone (Sequential([backbone, GAP,
Dense])), and parameter counts of big builders without drawing their random initial weights."""

import contextlib

import numpy as np
import torch

from cnnkit import Sequential
from cnnkit.layers import Dense
from cnnkit.layers import GlobalAveragePooling2D


def frozen_backbone_model(backbone, classes=2):
    """Sequential([backbone (frozen), GlobalAveragePooling2D, Dense(classes, softmax)]), compiled."""
    backbone.trainable = False
    model = Sequential([backbone, GlobalAveragePooling2D(), Dense(classes, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def fit_cached(model, shape, samples=4, seed=0):
    """One epoch of fit(cache_frozen=True) on a few random 0-255 samples; returns the History."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (samples, *shape)).astype("float32")
    y = rng.integers(0, 2, samples)
    return model.fit(x, y, batch_size=2, epochs=1, verbose=0, cache_frozen=True)


@contextlib.contextmanager
def zero_initial_weights():
    """Builders called inside create their weights as zeros (shapes and counts unchanged): counting the parameters
    of EfficientNetB7 or ConvNeXtLarge then costs the allocation, not the random draws."""
    from cnnkit import initializers  # noqa: PLC0415

    original = initializers.to_tensor
    initializers.to_tensor = lambda initializer, shape, dtype=None: torch.zeros(tuple(shape), dtype=dtype)
    try:
        yield
    finally:
        initializers.to_tensor = original
