"""The two model/loss mistakes newcomers make most get errors that say what to change."""

import numpy as np
import pytest

import cnnkit
from cnnkit import layers

X = np.random.default_rng(0).random((16, 8, 8, 1), dtype=np.float32)
Y = np.arange(16) % 3


def test_forgotten_flatten_is_named():
    model = cnnkit.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(3, 3), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"output is \(6, 6, 3\) per image .*add Flatten\(\) or "
                                         r"GlobalAveragePooling2D\(\) before the output Dense layer"):
        model.fit(X, Y, epochs=1, verbose=0)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"add Flatten\(\)"):
        model.fit(X, np.eye(3)[Y], epochs=1, verbose=0)


def test_sigmoid_output_with_sparse_loss_suggests_binary_crossentropy():
    model = cnnkit.Sequential([layers.Input((8, 8, 1)), layers.Flatten(), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="use loss='binary_crossentropy' for two classes"):
        model.fit(X, Y % 2, epochs=1, verbose=0)


def test_per_pixel_labels_still_train():
    """Segmentation (labels per pixel) is not a mistake: no hint, it trains."""
    model = cnnkit.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(3, 3, padding="same",
                                                                      activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(X, np.zeros((16, 8, 8), dtype=int), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
