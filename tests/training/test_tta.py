"""Test-time augmentation against an independent computation: the model's own predictions of flipped and shifted
copies (made here with numpy), averaged."""

import numpy as np
import pytest

import cnnkit
from cnnkit import layers
from cnnkit.preprocessing.image import ImageDataGenerator
from cnnkit.training.tta import evaluate_tta, predict_tta


@pytest.fixture(scope="module")
def model_and_data():
    cnnkit.utils.set_random_seed(0)
    model = cnnkit.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
                               layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(0).random((10, 8, 8, 1), dtype=np.float32)
    return model, x, np.arange(10) % 3


def test_predict_tta_averages_the_flipped_and_shifted_views(model_and_data):
    model, x, _ = model_and_data
    p = lambda images: model.predict(images, verbose=0)  # noqa: E731
    np.testing.assert_allclose(predict_tta(model, x, batch_size=4), (p(x) + p(x[:, :, ::-1])) / 2, atol=1e-6)
    edge = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")  # shifts by 8 / 16 = 0.5 -> 1 pixel
    views = [x, x[:, ::-1], edge[:, 2:10, 1:9], edge[:, 0:8, 1:9], edge[:, 1:9, 2:10], edge[:, 1:9, 0:8]]
    np.testing.assert_allclose(predict_tta(model, x, transforms=("vflip", "shift")),
                               np.mean([p(v) for v in views], axis=0), atol=1e-6)


def test_evaluate_tta_on_arrays_and_a_folder_iterator(model_and_data):
    model, x, y = model_and_data
    p = predict_tta(model, x)
    expected = {"accuracy": float(np.mean(p.argmax(-1) == y)),
                "loss": float(-np.log(p[np.arange(10), y]).mean()), "samples": 10}
    result = evaluate_tta(model, x, y)
    assert result["samples"] == 10 and result["accuracy"] == expected["accuracy"]
    assert result["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    flow = ImageDataGenerator().flow(x, y, batch_size=4, shuffle=False)
    assert evaluate_tta(model, flow)["loss"] == pytest.approx(expected["loss"], rel=1e-6)
    assert evaluate_tta(model, x, np.eye(3)[y])["accuracy"] == expected["accuracy"]  # one-hot labels


def test_unknown_transform_gets_did_you_mean(model_and_data):
    model, x, _ = model_and_data
    with pytest.raises(ValueError, match="Did you mean 'hflip'"):
        predict_tta(model, x, transforms=("hflp",))
