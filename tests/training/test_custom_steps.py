"""A model's own train_step(data) / test_step(data), as in Keras 3's "customizing what happens in fit()" guide.

cnnkit runs the guide's PyTorch-backend code unchanged; Keras (TensorFlow backend) runs the same step written with
its GradientTape. Same weights, same unshuffled batches, SGD: the logs, History and weights must agree.
"""

import numpy as np
import pytest
import torch

import cnnkit

RNG = np.random.default_rng(0)
X = RNG.random((40, 6), dtype=np.float32)
Y = RNG.random((40, 1), dtype=np.float32)
X_VAL = RNG.random((12, 6), dtype=np.float32)
Y_VAL = RNG.random((12, 1), dtype=np.float32)


def _track(model, loss, y, y_pred, metrics_as_attributes):
    """The guide's metric updates and returned logs (the same code in both libraries)."""
    if metrics_as_attributes:
        model.loss_tracker.update_state(loss)
        model.mae_metric.update_state(y, y_pred)
        return {"loss": model.loss_tracker.result(), "mae": model.mae_metric.result()}
    for metric in model.metrics:
        if metric.name == "loss":
            metric.update_state(loss)
        else:
            metric.update_state(y, y_pred)
    return {m.name: m.result() for m in model.metrics}


def _guide_model_cnnkit(metrics_as_attributes=False):
    """The guide's CustomModel (PyTorch backend) written for cnnkit: only the module name differs."""

    class CustomModel(cnnkit.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if metrics_as_attributes:
                self.loss_tracker = cnnkit.metrics.Mean(name="loss")
                self.mae_metric = cnnkit.metrics.MeanAbsoluteError(name="mae")
                self.loss_fn = cnnkit.losses.MeanSquaredError()

        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)
            if metrics_as_attributes:
                loss = self.loss_fn(y, y_pred)
            else:
                loss = self.compute_loss(y=y, y_pred=y_pred)
            loss.backward()
            trainable_weights = [v for v in self.trainable_weights]
            gradients = [v.value.grad for v in trainable_weights]
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_weights)
            return _track(self, loss, y, y_pred, metrics_as_attributes)

        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            loss = self.loss_fn(y, y_pred) if metrics_as_attributes else self.compute_loss(y=y, y_pred=y_pred)
            return _track(self, loss, y, y_pred, metrics_as_attributes)

        if metrics_as_attributes:
            @property
            def metrics(self):
                return [self.loss_tracker, self.mae_metric]

    return CustomModel


def _guide_model_keras(keras, metrics_as_attributes=False):
    """The same model for Keras on TensorFlow (the guide's TensorFlow version of the step)."""
    import tensorflow as tf  # noqa: PLC0415

    class CustomModel(keras.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if metrics_as_attributes:
                self.loss_tracker = keras.metrics.Mean(name="loss")
                self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")
                self.loss_fn = keras.losses.MeanSquaredError()

        def _loss(self, y, y_pred):
            return self.loss_fn(y, y_pred) if metrics_as_attributes else self.compute_loss(y=y, y_pred=y_pred)

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self._loss(y, y_pred)
            gradients = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply(gradients, self.trainable_variables)
            return _track(self, loss, y, y_pred, metrics_as_attributes)

        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            return _track(self, self._loss(y, y_pred), y, y_pred, metrics_as_attributes)

        if metrics_as_attributes:
            @property
            def metrics(self):
                return [self.loss_tracker, self.mae_metric]

    return CustomModel


def _build(lib, cls, metrics_as_attributes, weights=None):
    inputs = lib.Input(shape=(6,))
    hidden = lib.layers.Dense(4, activation="tanh")(inputs)
    model = cls(inputs, lib.layers.Dense(1)(hidden))
    if weights is not None:
        model.set_weights(weights)
    if metrics_as_attributes:  # the guide's second model: compile without a loss or metrics
        model.compile(optimizer=lib.optimizers.SGD(0.1))
    else:
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    return model


@pytest.mark.parametrize("metrics_as_attributes", [False, True], ids=["compiled", "attributes"])
def test_the_guides_custom_steps_train_as_keras(keras, metrics_as_attributes):
    ours = _build(cnnkit, _guide_model_cnnkit(metrics_as_attributes), metrics_as_attributes)
    theirs = _build(keras, _guide_model_keras(keras, metrics_as_attributes), metrics_as_attributes,
                    ours.get_weights())
    kwargs = {"batch_size": 8, "epochs": 3, "shuffle": False, "verbose": 0, "validation_data": (X_VAL, Y_VAL)}
    history = ours.fit(X, Y, **kwargs).history
    expected = theirs.fit(X, Y, **kwargs).history
    assert sorted(history) == sorted(expected) == ["loss", "mae", "val_loss", "val_mae"]
    for key in expected:
        np.testing.assert_allclose(history[key], expected[key], rtol=1e-5, atol=1e-6)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for return_dict in (False, True):
        got = ours.evaluate(X_VAL, Y_VAL, batch_size=5, verbose=0, return_dict=return_dict)
        want = theirs.evaluate(X_VAL, Y_VAL, batch_size=5, verbose=0, return_dict=return_dict)
        if return_dict:
            assert sorted(got) == sorted(want)
            got, want = [got[k] for k in sorted(want)], [want[k] for k in sorted(want)]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # train_on_batch: Keras hands the step (x, y, None), which the guide's `x, y = data` cannot unpack; cnnkit
    # packs (x, y) as fit does. The batch's loss is the MSE of the weights before the step.
    before = ours.predict(X[:8], verbose=0)
    loss, mae = ours.train_on_batch(X[:8], Y[:8])
    assert loss == pytest.approx(float(np.mean((before - Y[:8]) ** 2)), rel=1e-5)
    assert mae == pytest.approx(float(np.mean(np.abs(before - Y[:8]))), rel=1e-5)


def test_metrics_lists_the_loss_tracker_and_the_compiled_metrics_as_keras(keras):
    def model(lib):
        m = lib.Sequential([lib.Input((6,)), lib.layers.Dense(1)])
        m.compile(optimizer="sgd", loss="mse", metrics=["mae", "mse"])
        return m

    ours, theirs = model(cnnkit), model(keras)
    assert [m.name for m in ours.metrics] == [m.name for m in theirs.metrics] == ["loss", "compile_metrics"]
    ours.fit(X, Y, epochs=1, verbose=0)
    theirs.fit(X, Y, epochs=1, verbose=0)
    assert sorted(ours.metrics[1].result()) == sorted(theirs.metrics[1].result()) == ["mae", "mse"]
    assert sorted(ours.get_metrics_result()) == sorted(theirs.get_metrics_result()) == ["loss", "mae", "mse"]


def test_a_step_that_logs_other_keys_gives_its_own_logs_and_super_runs_cnnkits_step():
    """Keras: an epoch's logs are the last step's dict when its keys are not the metrics'; `super().train_step`
    is the default step (it returns the compiled metrics' logs)."""

    class Logged(cnnkit.Model):
        def train_step(self, data):
            logs = super().train_step(data)
            return {"doubled_loss": 2 * logs["loss"], "steps": self.optimizer.iterations}

    inputs = cnnkit.Input((6,))
    model = Logged(inputs, cnnkit.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(X, Y, batch_size=10, epochs=2, shuffle=False, verbose=0).history
    assert sorted(history) == ["doubled_loss", "steps"] and history["steps"] == [4.0, 8.0]
    assert model.evaluate(X, Y, verbose=0) == pytest.approx(float(np.mean((model.predict(X, verbose=0) - Y) ** 2)),
                                                          rel=1e-5)


def test_weights_answer_keras_value_and_keep_their_class():
    import copy  # noqa: PLC0415
    import pickle  # noqa: PLC0415

    layer = cnnkit.layers.Dense(2)
    layer.build((None, 3))
    kernel = layer.trainable_weights[0]
    assert kernel.value is kernel and isinstance(kernel, torch.nn.Parameter)
    for clone in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        assert clone.trainable_weights[0].value is clone.trainable_weights[0]


def test_compile_without_a_loss_fails_at_the_first_default_step_with_keras_words():
    model = cnnkit.Sequential([cnnkit.Input((6,)), cnnkit.layers.Dense(1)])
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="No loss to compute. Provide a `loss` argument in `compile"):
        model.fit(X, Y, verbose=0)


def test_an_overridden_train_step_is_never_given_cached_features():
    class Plain(cnnkit.Model):
        def train_step(self, data):
            return super().train_step(data)

    inputs = cnnkit.Input((6,))
    frozen = cnnkit.layers.Dense(4, trainable=False)
    model = Plain(inputs, cnnkit.layers.Dense(1)(frozen(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="overrides train_step"):
        model.fit(X, Y, epochs=2, verbose=0, cache_frozen=True)
    calls = []
    frozen.register_forward_hook(lambda *args: calls.append(1))
    model.fit(X, Y, batch_size=20, epochs=3, verbose=0)  # 'auto' leaves it alone: the frozen layer runs every step
    assert len(calls) == 6


def _attribute_metric_model(lib, weights=None):
    """A classifier whose train_step also feeds an accuracy held as an attribute; test_step is the default one."""
    if lib is cnnkit:
        def apply(model, x, y):
            model.zero_grad()
            y_pred = model(x, training=True)
            loss = model.compute_loss(y=y, y_pred=y_pred)
            loss.backward()
            with torch.no_grad():
                model.optimizer.apply([v.value.grad for v in model.trainable_weights], model.trainable_weights)
            return loss, y_pred
    else:
        import tensorflow as tf  # noqa: PLC0415

        def apply(model, x, y):
            with tf.GradientTape() as tape:
                y_pred = model(x, training=True)
                loss = model.compute_loss(y=y, y_pred=y_pred)
            model.optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
            return loss, y_pred

    class Classifier(lib.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.acc = lib.metrics.SparseCategoricalAccuracy(name="acc")

        def train_step(self, data):
            x, y = data
            loss, y_pred = apply(self, x, y)
            self.acc.update_state(y, y_pred)
            self.metrics[0].update_state(loss)
            return self.get_metrics_result()

    inputs = lib.Input((6,))
    model = Classifier(inputs, lib.layers.Dense(3, activation="softmax")(inputs))
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=lib.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    return model


def test_attribute_metrics_and_the_default_test_step_log_as_keras(keras):
    """Keras lists a metric held as an attribute in model.metrics (no 'compile_metrics' without compiled metrics),
    logs it also from the default test_step (where nothing updates it: 0) and returns it from evaluate."""
    labels = (X[:, 0] * 3).astype("int64") % 3
    ours = _attribute_metric_model(cnnkit)
    theirs = _attribute_metric_model(keras, ours.get_weights())
    assert [m.name for m in ours.metrics] == [m.name for m in theirs.metrics] == ["loss", "acc"]
    kwargs = {"batch_size": 8, "epochs": 2, "shuffle": False, "verbose": 0, "validation_data": (X[:12], labels[:12])}
    history, expected = ours.fit(X, labels, **kwargs).history, theirs.fit(X, labels, **kwargs).history
    assert sorted(history) == sorted(expected) == ["acc", "loss", "val_acc", "val_loss"]
    for key in expected:
        np.testing.assert_allclose(history[key], expected[key], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.evaluate(X, labels, verbose=0), theirs.evaluate(X, labels, verbose=0), rtol=1e-5)


def test_an_overridden_train_step_refuses_several_processes(monkeypatch):
    """Under torchrun the step would run outside DistributedDataParallel (gradients not averaged): a clear error
    before any process group is joined."""

    class Own(cnnkit.Model):
        def train_step(self, data):
            return super().train_step(data)

    inputs = cnnkit.Input((6,))
    model = Own(inputs, cnnkit.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="outside DistributedDataParallel"):
        model.fit(X, Y, verbose=0)
