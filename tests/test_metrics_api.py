"""Metrics' API against Keras: configs (and their round trips both ways), string names, default names, bad
arguments, and compile(metrics=[...]) in fit/evaluate giving Keras's log keys and values."""

import numpy as np
import pytest

import cnnkit
from cnnkit import metrics
from cnnkit.models.keras_config import compile_args

CONFIG_CASES = [
    ("Sum", {}), ("TruePositives", {"thresholds": [0.2, 0.7]}), ("Precision", {"top_k": 2, "class_id": 1}),
    ("Recall", {"thresholds": 0.3}), ("AUC", {}), ("AUC", {"curve": "PR", "summation_method": "majoring"}),
    ("AUC", {"thresholds": [0.7, 0.2], "multi_label": True, "num_labels": 2, "label_weights": [1.0, 2.0]}),
    ("PrecisionAtRecall", {"recall": 0.4}), ("RecallAtPrecision", {"precision": 0.8, "num_thresholds": 10}),
    ("SensitivityAtSpecificity", {"specificity": 0.5, "class_id": 2}),
    ("SpecificityAtSensitivity", {"sensitivity": 0.5}), ("F1Score", {"average": "macro", "threshold": 0.4}),
    ("FBetaScore", {"beta": 0.5}), ("IoU", {"num_classes": 3, "target_class_ids": [0, 2], "ignore_class": 1}),
    ("MeanIoU", {"num_classes": 3, "sparse_y_pred": False}), ("BinaryIoU", {"threshold": 0.3}),
    ("OneHotIoU", {"num_classes": 3, "target_class_ids": [1]}), ("OneHotMeanIoU", {"num_classes": 3}),
    ("RootMeanSquaredError", {}), ("R2Score", {"class_aggregation": None, "num_regressors": 1}),
    ("MeanAbsolutePercentageError", {}), ("MeanSquaredLogarithmicError", {}), ("LogCoshError", {}),
    ("CosineSimilarity", {}), ("PearsonCorrelation", {}), ("ConcordanceCorrelation", {"axis": -1}),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.1}),
    ("CategoricalCrossentropy", {"label_smoothing": 0.2}), ("SparseCategoricalCrossentropy", {"ignore_class": 0}),
    ("KLDivergence", {}), ("Poisson", {}), ("Hinge", {}), ("SquaredHinge", {}), ("CategoricalHinge", {}),
]


def _plain(config):
    """A Keras config with tensors and numpy numbers as Python lists and floats."""
    out = {}
    for key, value in config.items():
        if hasattr(value, "numpy"):
            value = value.numpy()
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if isinstance(value, (list, tuple)):
            value = [float(v) if isinstance(v, np.floating) else v for v in value]
        out[key] = value
    return out


def test_configs_equal_keras_and_round_trip(keras):
    keras.utils.clear_session()
    for name, kwargs in CONFIG_CASES:
        theirs = getattr(keras.metrics, name)(**kwargs)
        ours = getattr(metrics, name)(**kwargs)
        config = ours.get_config()
        assert config == _plain(theirs.get_config()), name  # default names too ('auc', then 'auc_1')
        assert type(ours).from_config(config).get_config() == config, name
        restored = keras.metrics.deserialize(metrics.serialize(ours))  # cnnkit's config opens in Keras ...
        assert _plain(restored.get_config()) == config, name
        again = metrics.deserialize(keras.metrics.serialize(theirs))  # ... and Keras's in cnnkit
        assert again.get_config() == config, name
        compiled = compile_args({"metrics": [keras.metrics.serialize(theirs)]})["metrics"][0]  # a file's compile
        assert compiled.get_config() == config, name  # config (None options kept)


def test_string_names_are_keras_names(keras):
    from keras.src.metrics import ALL_OBJECTS_DICT  # noqa: PLC0415 (the oracle's table of names)

    out_of_scope = {"Metric", "MeanMetricWrapper"}
    keras.utils.clear_session()
    ours, theirs = metrics.get("auc"), keras.metrics.get("auc")  # a name given as a string counts as Keras's
    assert ours.name == "auc" and metrics.AUC().name == theirs.__class__().name == "auc_1"
    checked = 0
    for key, cls in ALL_OBJECTS_DICT.items():
        if cls.__name__ in out_of_scope or key in ("accuracy", "acc"):
            continue
        assert metrics.METRICS.lookup(key).__name__ == cls.__name__, key
        if cls.__name__ in ("IoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU", "PrecisionAtRecall", "RecallAtPrecision",
                            "SensitivityAtSpecificity", "SpecificityAtSensitivity"):
            with pytest.raises(ValueError, match="needs argument"):
                metrics.get(key)
        else:
            metric = metrics.get(key)
            assert type(metric).__name__ == cls.__name__ and metric.name == key
        checked += 1
    assert checked > 90


@pytest.mark.parametrize("make,message", [
    (lambda: metrics.Precision(thresholds=1.5), r"Threshold values must be in \[0, 1\]. Received: \[1.5\]"),
    (lambda: metrics.TruePositives(thresholds=[0.5, -0.1]), r"Threshold values must be in \[0, 1\]"),
    (lambda: metrics.Recall(thresholds=[0.2, None]), r"Threshold values must be in \[0, 1\]"),
    (lambda: metrics.AUC(thresholds=[0.5, 2.0]), r"Threshold values must be in \[0, 1\]"),
    (lambda: metrics.AUC(num_thresholds=1), "num_thresholds` must be an integer > 1. Received: num_thresholds=1"),
    (lambda: metrics.AUC(curve="ROCK"), 'Invalid AUC curve value: "ROCK"'),
    (lambda: metrics.AUC(summation_method="mid"), 'Invalid AUC summation method value: "mid"'),
    (lambda: metrics.AUC(num_labels=3), "`num_labels` is needed only when `multi_label` is True"),
    (lambda: metrics.SensitivityAtSpecificity(1.5), "specificity` must be in the range"),
    (lambda: metrics.PrecisionAtRecall(0.5, num_thresholds=0), "num_thresholds` must be an integer > 0"),
    (lambda: metrics.F1Score(average="mean"), "Invalid `average` argument value"),
    (lambda: metrics.FBetaScore(beta=2), "It should be a Python float. Received: beta=2"),
    (lambda: metrics.F1Score(threshold=0.0), "It should verify 0 < threshold <= 1"),
    (lambda: metrics.IoU(num_classes=2, target_class_ids=[2]), r"Target class id 2 is out of range"),
    (lambda: metrics.R2Score(class_aggregation="sum"), "Invalid value for argument `class_aggregation`"),
    (lambda: metrics.R2Score(num_regressors=-1), "Expected a value >= 0"),
    (lambda: metrics.get("precison"), "Unknown metric: 'precison'. Did you mean 'precision'"),
    (lambda: metrics.get("mean_io_u"), r"MeanIoU\) needs argument\(s\) num_classes"),
])
def test_bad_arguments_raise_value_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_shapes_raise_value_errors():
    with pytest.raises(ValueError, match="must have rank 2 when `multi_label=True`"):
        metrics.AUC(multi_label=True).update_state(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="F1Score expects 2D inputs"):
        metrics.F1Score().update_state(np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="R2Score expects 2D inputs"):
        metrics.R2Score().update_state(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="When class_id is provided, y_pred must be a 2D array"):
        metrics.Precision(class_id=1).update_state(np.zeros(4), np.zeros(4))


def _eager(lib):
    """Keras runs eagerly (tracing its train step takes longer than these few steps)."""
    return {} if lib is cnnkit else {"run_eagerly": True}


def _binary_model(lib, weights=None):
    layers = lib.layers
    model = lib.Sequential([layers.Input((4,)), layers.Dense(3, activation="tanh"),
                            layers.Dense(1, activation="sigmoid")])
    if weights is not None:
        model.set_weights(weights)
    return model


def test_fit_and_evaluate_logs_match_keras(keras, rng):
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = (x[:, :1] + rng.normal(size=(40, 1)) * 0.5 > 0).astype(np.float32)
    weight = rng.uniform(0.5, 2, size=40).astype(np.float32)
    keras.utils.clear_session()
    reference = _binary_model(keras)
    ours = _binary_model(cnnkit, reference.get_weights())
    for model, lib in ((reference, keras), (ours, cnnkit)):
        M = lib.metrics
        model.compile(optimizer=lib.optimizers.SGD(0.0), loss="binary_crossentropy",
                      metrics=[M.Precision(), M.Recall(), M.AUC(), M.Precision(thresholds=0.3), "mape"],
                      weighted_metrics=[M.AUC(curve="PR"), "precision"], **_eager(lib))
    monitored = ["val_precision", "recall", "val_auc_1", "mape", "val_loss"]  # mode='auto': Keras's direction
    their_stops = [keras.callbacks.EarlyStopping(monitor=m, patience=5) for m in monitored]
    our_stops = [cnnkit.callbacks.EarlyStopping(monitor=m, patience=5) for m in monitored]
    theirs = reference.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, sample_weight=weight,
                           validation_data=(x[:24], y[:24]), callbacks=their_stops).history
    mine = ours.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, sample_weight=weight,
                    validation_data=(x[:24], y[:24]), callbacks=our_stops).history
    assert [s.maximize for s in our_stops] == [s.monitor_op is keras.ops.greater for s in their_stops] == [
        True, True, True, False, False]
    assert set(mine) == set(theirs)
    expected = {"precision", "recall", "auc", "precision_1", "mape", "auc_1", "weighted_precision", "val_auc_1"}
    assert expected <= set(mine)
    for key in theirs:
        np.testing.assert_allclose(mine[key], theirs[key], rtol=1e-4, atol=1e-6, err_msg=key)
    ours_eval = ours.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    theirs_eval = reference.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert list(ours_eval) == list(theirs_eval)
    for key in theirs_eval:
        np.testing.assert_allclose(ours_eval[key], theirs_eval[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_array_results_in_fit_logs_like_keras(keras, rng, capsys):
    x = rng.normal(size=(24, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=24)]
    keras.utils.clear_session()
    logs = {}
    for lib in (keras, cnnkit):
        lib.utils.set_random_seed(3)
        layers = lib.layers
        model = lib.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
        if lib is cnnkit:
            model.set_weights(weights)
        weights = model.get_weights()
        model.compile(optimizer="sgd", loss="categorical_crossentropy",
                      metrics=["f1_score", lib.metrics.F1Score(average="macro", name="f1_macro"), "r2_score"],
                      **_eager(lib))
        logs[lib.__name__] = model.evaluate(x, y, batch_size=8, verbose=2, return_dict=True)
    assert list(logs["cnnkit"]) == list(logs["keras"])
    assert np.shape(logs["cnnkit"]["f1_score"]) == (3,)
    for key, value in logs["keras"].items():
        np.testing.assert_allclose(logs["cnnkit"][key], np.asarray(value), rtol=1e-4, atol=1e-6, err_msg=key)
    assert "f1_score: " in capsys.readouterr().out  # the progress line shows the array's mean


def test_custom_objects_by_name_and_unbuilt_results():
    from cnnkit import config  # noqa: PLC0415

    def doubled_error(y_true, y_pred):
        return 2 * metrics.mean_absolute_error(y_true, y_pred)

    with config.custom_object_scope({"doubled_error": doubled_error, "MyPrecision": metrics.Precision}):
        metric = metrics.get("doubled_error")
        metric.update_state(np.zeros((2, 3)), np.ones((2, 3)))
        assert (metric.name, metric.result()) == ("doubled_error", 2.0)
        assert type(metrics.get("MyPrecision")) is metrics.Precision
    assert metrics.F1Score().result() == 0.0 and metrics.AUC(multi_label=True).variables == []  # not built yet
