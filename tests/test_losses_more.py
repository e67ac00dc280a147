"""The focal, hinge, regression and overlap losses against Keras (TensorFlow backend): per-sample functions on
several shapes, the classes with every reduction and sample weights, configs and names."""

import json

import numpy as np
import pytest
import torch

from cnnkit import losses

NEW = [
    ("BinaryFocalCrossentropy", {}), ("BinaryFocalCrossentropy", {"from_logits": True, "gamma": 1.5}),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4, "label_smoothing": 0.1}),
    ("CategoricalFocalCrossentropy", {}), ("CategoricalFocalCrossentropy", {"from_logits": True, "alpha": 0.5}),
    ("CategoricalFocalCrossentropy", {"label_smoothing": 0.2, "gamma": 0.5}),
    ("Hinge", {}), ("SquaredHinge", {}), ("CategoricalHinge", {}), ("LogCosh", {}),
    ("MeanSquaredLogarithmicError", {}), ("MeanAbsolutePercentageError", {}), ("Poisson", {}),
    ("CosineSimilarity", {}), ("CosineSimilarity", {"axis": 1}), ("Dice", {}), ("Dice", {"axis": (1, 2)}),
    ("Tversky", {}), ("Tversky", {"alpha": 0.7, "beta": 0.3, "axis": -1}),
]
FUNCTIONS = {"BinaryFocalCrossentropy": "binary_focal_crossentropy", "Hinge": "hinge", "Dice": "dice",
             "CategoricalFocalCrossentropy": "categorical_focal_crossentropy", "SquaredHinge": "squared_hinge",
             "CategoricalHinge": "categorical_hinge", "LogCosh": "log_cosh", "Poisson": "poisson",
             "MeanSquaredLogarithmicError": "mean_squared_logarithmic_error", "Tversky": "tversky",
             "MeanAbsolutePercentageError": "mean_absolute_percentage_error", "CosineSimilarity": "cosine_similarity"}


def _inputs(name, kwargs, rng, shape):
    logits = (rng.normal(size=shape) * 3).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels = np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], size=shape[:-1])]
    binary = rng.integers(0, 2, size=shape).astype(np.float32)
    if name == "BinaryFocalCrossentropy":
        return binary, logits if kwargs.get("from_logits") else 1 / (1 + np.exp(-logits))
    if name == "CategoricalFocalCrossentropy":
        return labels, logits if kwargs.get("from_logits") else probs
    if name in ("Hinge", "SquaredHinge"):
        return binary, logits  # {0, 1} labels: converted to -1 / 1 as Keras does
    if name == "CategoricalHinge":
        return labels, logits
    if name in ("Dice", "Tversky"):
        return binary, 1 / (1 + np.exp(-logits))
    if name in ("MeanSquaredLogarithmicError", "Poisson"):
        return np.abs(logits), np.exp(logits / 3)
    return logits[::-1].copy(), logits  # regression: any reals


@pytest.mark.parametrize("shape", [(6, 4), (3, 5, 5, 2)])
@pytest.mark.parametrize("name,kwargs", NEW, ids=[f"{n}-{k}" for n, k in NEW])
def test_function_matches_keras(keras, rng, name, kwargs, shape):
    y_true, y_pred = _inputs(name, kwargs, rng, shape)
    if len(shape) == 2 and kwargs.get("axis") == (1, 2):
        pytest.skip("axis (1, 2) needs a 4-d input")
    fn = FUNCTIONS[name]
    ours = getattr(losses, fn)(torch.tensor(y_true), torch.tensor(y_pred), **kwargs).numpy()
    theirs = np.asarray(getattr(keras.losses, fn)(y_true, y_pred, **kwargs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none", "mean_with_sample_weight"])
@pytest.mark.parametrize("name,kwargs", NEW, ids=[f"{n}-{k}" for n, k in NEW])
def test_class_reductions_and_sample_weight_match_keras(keras, rng, name, kwargs, reduction):
    shape = (3, 5, 5, 2) if kwargs.get("axis") == (1, 2) else (6, 4)
    y_true, y_pred = _inputs(name, kwargs, rng, shape)
    weight = rng.uniform(0, 2, size=(shape[0], 1) if len(shape) == 4 else shape[0]).astype(np.float32)
    ours = getattr(losses, name)(reduction=reduction, **kwargs)
    theirs = getattr(keras.losses, name)(reduction=reduction, **kwargs)
    for sample_weight in (None, weight):
        np.testing.assert_allclose(ours(y_true, y_pred, sample_weight=sample_weight).numpy(),
                                   np.asarray(theirs(y_true, y_pred, sample_weight=sample_weight)),
                                   rtol=1e-5, atol=1e-5)


def test_rank_alignment_and_hinge_labels_match_keras(keras, rng):
    """(batch,) labels against (batch, 1) predictions are aligned as Keras aligns them; -1 / 1 hinge labels pass."""
    y_true = rng.integers(0, 2, size=8).astype(np.float32)
    y_pred = rng.uniform(0.05, 0.95, size=(8, 1)).astype(np.float32)
    for name in ("BinaryFocalCrossentropy", "Poisson", "LogCosh", "MeanAbsolutePercentageError"):
        np.testing.assert_allclose(getattr(losses, name)()(y_true, y_pred).numpy(),
                                   np.asarray(getattr(keras.losses, name)()(y_true, y_pred)), rtol=1e-5)
    signed = 2 * y_true[:, None] - 1
    for name in ("Hinge", "SquaredHinge"):
        np.testing.assert_allclose(getattr(losses, name)()(signed, y_pred).numpy(),
                                   np.asarray(getattr(keras.losses, name)()(signed, y_pred)), rtol=1e-5)


@pytest.mark.parametrize("name,kwargs", NEW, ids=[f"{n}-{k}" for n, k in NEW])
def test_config_is_keras_form_and_round_trips(keras, name, kwargs):
    ours, theirs = getattr(losses, name)(**kwargs), getattr(keras.losses, name)(**kwargs)
    config = json.loads(json.dumps(ours.get_config()))
    keras_config = theirs.get_config()
    assert {k: v for k, v in config.items() if k in keras_config} == {
        k: list(v) if isinstance(v, tuple) else v for k, v in keras_config.items()}
    assert set(config) - set(keras_config) <= {"axis"}  # Keras leaves CosineSimilarity's axis out of its config
    again = type(ours).from_config(config)
    assert again.get_config() == config
    theirs_again = type(theirs).from_config(config)  # Keras reads cnnkit's config
    assert theirs_again.get_config() == keras_config | ({} if "axis" not in keras_config else {"axis": config["axis"]})


def test_names_match_keras_get(keras):
    for name in ("binary_focal_crossentropy", "BinaryFocalCrossentropy", "categorical_focal_crossentropy", "hinge",
                 "squared_hinge", "categorical_hinge", "log_cosh", "LogCosh", "msle", "MSLE", "mape", "MAPE",
                 "mean_squared_logarithmic_error", "mean_absolute_percentage_error", "poisson", "Poisson",
                 "cosine_similarity", "CosineSimilarity", "dice", "Dice", "tversky", "Tversky", "bce", "BCE"):
        ours, theirs = losses.get(name), keras.losses.get(name)
        expected = theirs.__name__ if callable(theirs) and not isinstance(theirs, keras.losses.Loss) else theirs.name
        assert ours.name == expected or losses.LOSSES.name_of(type(ours)) == expected, name
    with pytest.raises(ValueError, match="Did you mean 'dice'"):
        losses.get("dise")


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"BinaryFocalCrossentropy: gamma must be a float >= 0. Received: gamma=-1"):
        losses.BinaryFocalCrossentropy(gamma=-1)
    with pytest.raises(ValueError, match=r"Dice: Invalid value for argument `reduction`.*reduction='avg'"):
        losses.Dice(reduction="avg")
    with pytest.raises(ValueError, match=r"Poisson: dtype must be one of"):
        losses.Poisson(dtype="int8")


def test_focal_loss_trains_a_model(rng):
    """compile(loss='binary_focal_crossentropy') works end to end and lowers the loss."""
    from cnnkit.layers import Dense
    from cnnkit.layers import Input
    from cnnkit.models import Sequential
    x = rng.normal(size=(32, 4)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    model = Sequential([Input((4,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_focal_crossentropy")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_new_loss_and_ema_optimizer_cross_to_keras_in_a_keras_file(keras, rng, tmp_path):
    """A model compiled with a focal loss and an EMA optimizer: saved by cnnkit, Keras and cnnkit both restore the
    loss (with its options) and the optimizer, and evaluate to the same loss."""
    from cnnkit import optimizers
    from cnnkit.layers import Dense
    from cnnkit.layers import Input
    from cnnkit.models import Sequential
    from cnnkit.models import load_model
    x = rng.normal(size=(8, 4)).astype(np.float32)
    y = rng.integers(0, 2, size=(8, 2)).astype(np.float32)
    model = Sequential([Input((4,)), Dense(2, activation="sigmoid")])
    model.compile(optimizer=optimizers.Lion(0.01, use_ema=True),
                  loss=losses.BinaryFocalCrossentropy(gamma=3.0, apply_class_balancing=True))
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "focal.keras")
    model.save(path)
    theirs, mine = keras.models.load_model(path), load_model(path)
    assert type(theirs.loss).__name__ == "BinaryFocalCrossentropy" and theirs.loss.gamma == 3.0
    assert theirs.optimizer.use_ema and int(theirs.optimizer.iterations) == 1
    assert mine.optimizer.use_ema and mine.optimizer.iterations == 1
    expected = model.evaluate(x, y, verbose=0)
    assert mine.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-6)
    assert theirs.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-5)
