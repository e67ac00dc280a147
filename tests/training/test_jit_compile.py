"""compile(jit_compile=...): torch.compile of the forward pass gives eager's numbers; where it cannot compile,
one warning names the reason and training runs eagerly. Tests use torch.compile's 'aot_eager' backend (same
tracing and autograd, no code generation) so they stay cheap; benchmarks use the default inductor."""

import warnings

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit.training import jit


@pytest.fixture(autouse=True)
def _cheap_backend(monkeypatch):
    monkeypatch.setattr(jit, "OPTIONS", {"backend": "aot_eager"})
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _model(weights=None):
    L = cnnkit.layers
    model = cnnkit.Sequential([cnnkit.Input((6, 6, 2)), L.Conv2D(4, 3, activation="relu"), L.BatchNormalization(),
                               L.MaxPooling2D(2), L.Flatten(), L.Dropout(0.0), L.Dense(3, activation="softmax")])
    if weights is not None:
        model.set_weights(weights)
    return model


def _data(n=40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6, 6, 2)).astype(np.float32)
    return x, rng.integers(0, 3, n)


def _train(jit_compile, weights, x, y):
    model = _model(weights)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=jit_compile)
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history  # last batch: 8
    return model, history


def test_compiled_training_and_predict_equal_eager():
    x, y = _data()
    weights = _model().get_weights()
    eager, eager_history = _train(False, weights, x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning
        compiled, history = _train(True, weights, x, y)
        predictions = compiled.predict(x, verbose=0)
    assert compiled._jit_forward is not None and compiled._jit_forward.failed is None
    np.testing.assert_allclose(history["loss"], eager_history["loss"], rtol=1e-5)
    for a, b in zip(compiled.get_weights(), eager.get_weights()):  # BatchNormalization's moving statistics too
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(predictions, eager.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_auto_and_false_run_eagerly_and_bad_values_are_refused():
    for value in ("auto", False):
        model = _model()
        model.compile("sgd", "mse", jit_compile=value)
        assert model._jit_forward is None
    with pytest.raises(ValueError, match=r"jit_compile must be True, False or 'auto'\. Received: jit_compile='xla'"):
        _model().compile("sgd", "mse", jit_compile="xla")


def test_torch_compile_unavailable_falls_back_with_one_warning(monkeypatch):
    def unavailable(*args, **kwargs):
        raise RuntimeError("torch.compile is not supported on Python 3.99")

    monkeypatch.setattr(torch, "compile", unavailable)
    x, y = _data()
    weights = _model().get_weights()
    eager, _ = _train(False, weights, x, y)
    with pytest.warns(UserWarning, match=r"RuntimeError: torch.compile is not supported on Python 3\.99\); "
                                         r"running eagerly") as record:
        model, _ = _train(True, weights, x, y)
    assert len([w for w in record if "jit_compile" in str(w.message)]) == 1
    for a, b in zip(model.get_weights(), eager.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_compilation_failing_at_first_use_falls_back_with_one_warning(monkeypatch):
    calls = []

    def failing_compile(fn, **kwargs):
        def compiled(*args, **kw):
            calls.append(1)
            raise RuntimeError("InductorError: no working C++ compiler found")
        return compiled

    monkeypatch.setattr(torch, "compile", failing_compile)
    x, y = _data()
    weights = _model().get_weights()
    eager, eager_history = _train(False, weights, x, y)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model, history = _train(True, weights, x, y)
        model.predict(x, verbose=0)
    messages = [str(w.message) for w in record if "jit_compile" in str(w.message)]
    assert len(messages) == 1 and "no working C++ compiler found" in messages[0]
    assert len(calls) == 1  # never tried again
    assert model._jit_forward.failed.startswith("RuntimeError")
    np.testing.assert_allclose(history["loss"], eager_history["loss"], rtol=1e-6)


def test_a_model_error_is_not_hidden_by_the_compiler():
    model = _model()
    model.compile("sgd", "sparse_categorical_crossentropy", jit_compile=True)
    with pytest.raises(ValueError):
        model.fit(np.zeros((4, 5, 5, 2), np.float32), np.zeros(4), verbose=0)
