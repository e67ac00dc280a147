"""Keras-style custom metrics (keras.io's "Writing your own metrics"): the guide's code, written once for both
libraries (`kit` is keras or cnnkit), run in compile / fit / evaluate and standalone, against Keras running it;
and `Metric.direction` (what callbacks' mode='auto' reads) against Keras's."""

import numpy as np
import pytest

import cnnkit


def guide_metric(kit):
    """keras.io's CategoricalTruePositives, verbatim but for the module (`kit.metrics.Metric`, `kit.ops`)."""
    ops = kit.ops

    class CategoricalTruePositives(kit.metrics.Metric):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
            values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
            values = ops.cast(values, "float32")
            if sample_weight is not None:
                sample_weight = ops.cast(sample_weight, "float32")
                values = ops.multiply(values, sample_weight)
            self.true_positives.assign_add(ops.sum(values))

        def result(self):
            return self.true_positives

        def reset_state(self):
            # The state of the metric will be reset at the start of each epoch.
            self.true_positives.assign(0.0)

    return CategoricalTruePositives()


def ratio_metric(kit):
    """The older form (`add_weight(name=..., initializer='zeros')`), `.assign(...)` of arithmetic on variables,
    `assign_sub`, `.value`, a ratio result, and Keras's default reset_state (zeros)."""
    ops = kit.ops

    class PositiveRate(kit.metrics.Metric):
        def __init__(self, name="positive_rate", **kwargs):
            super().__init__(name=name, **kwargs)
            self.positives = self.add_weight(name="positives", initializer="zeros")
            self.seen = self.add_weight(name="seen", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            hits = ops.cast(ops.greater(y_pred, 0.5), self.dtype)
            self.positives.assign(self.positives + ops.sum(hits))
            self.seen.assign_add(ops.cast(ops.size(hits), self.dtype) + 1.0)
            self.seen.assign_sub(1.0)

        def result(self):
            return ops.divide_no_nan(self.positives.value, self.seen)

    return PositiveRate()


def _model(kit):
    inputs = kit.Input((6,))
    x = kit.layers.Dense(8, activation="relu")(inputs)
    return kit.Model(inputs, kit.layers.Dense(3, activation="softmax")(x))


def test_guide_metric_in_compile_fit_evaluate_matches_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype("float32")
    y = rng.integers(0, 3, size=(40, 1)).astype("float32")
    weights = rng.uniform(0.5, 2.0, size=(40,)).astype("float32")
    keras.utils.set_random_seed(0)
    theirs, ours = _model(keras), _model(cnnkit)
    ours.set_weights(theirs.get_weights())
    results = []
    for kit, model in ((keras, theirs), (cnnkit, ours)):
        model.compile(optimizer=kit.optimizers.SGD(learning_rate=1e-3),
                      loss=kit.losses.SparseCategoricalCrossentropy(), metrics=[guide_metric(kit)])
        history = model.fit(x, y, sample_weight=weights, batch_size=16, epochs=2, shuffle=False, verbose=0)
        evaluated = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
        results.append((history.history["categorical_true_positives"], evaluated["categorical_true_positives"]))
    (k_history, k_eval), (c_history, c_eval) = results
    np.testing.assert_allclose(c_history, k_history, rtol=1e-5)
    assert c_eval == pytest.approx(k_eval, rel=1e-5)
    assert isinstance(c_eval, float) and k_eval > 0


def test_older_form_variables_and_arithmetic_match_keras(keras):
    rng = np.random.default_rng(1)
    batches = [rng.uniform(size=(n, 2)).astype("float32") for n in (5, 3)]
    ours, theirs = ratio_metric(cnnkit), ratio_metric(keras)
    for batch in batches:
        ours.update_state(None, batch)
        theirs.update_state(None, batch)
    assert float(ours.result()) == pytest.approx(float(theirs.result()), rel=1e-6)
    assert [v.path for v in (ours.positives, ours.seen)] == [v.path for v in theirs.variables]
    assert float(ours.seen.numpy()) == float(theirs.seen.numpy()) == 16.0
    # The state sums across workers (`variables` / `assign_variables`, what distributed training does).
    first, second = ratio_metric(cnnkit), ratio_metric(cnnkit)
    first.update_state(None, batches[0])
    second.update_state(None, batches[1])
    first.assign_variables([a + b for a, b in zip(first.variables, second.variables)])
    assert float(first.result()) == pytest.approx(float(theirs.result()), rel=1e-6)
    ours.reset_state()
    theirs.reset_state()
    assert float(ours.result()) == float(theirs.result()) == 0.0
    with pytest.raises(ValueError, match="must match"):
        ours.seen.assign(np.zeros(2))


@pytest.mark.parametrize("name", ["Precision", "AUC", "F1Score", "R2Score", "MeanIoU", "CategoricalAccuracy",
                                  "MeanSquaredError", "CategoricalCrossentropy", "Mean"])
def test_direction_is_keras_direction(keras, name):
    """`Metric.direction` (what mode='auto' reads) is the direction Keras gives the same metric."""
    kwargs = {"num_classes": 2} if name == "MeanIoU" else {}
    ours, theirs = getattr(cnnkit.metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    assert ours.direction == getattr(theirs, "_direction", None)
