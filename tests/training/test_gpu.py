"""The GPU data path and mixed precision on CUDA (skipped without CUDA): pinned batches, non-blocking copies,
channels_last models, float16/bfloat16 training against float32 on the CPU."""

import numpy as np
import pytest
import torch

import cnnkit
from cnnkit import config
from cnnkit import mixed_precision
from cnnkit.training import data_adapter

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(autouse=True)
def _reset():
    yield
    mixed_precision.set_global_policy("float32")
    config.set_device(None)


def _convnet(weights=None):
    L = cnnkit.layers
    model = cnnkit.Sequential([cnnkit.Input((12, 12, 3)), L.Conv2D(8, 3, activation="relu"), L.BatchNormalization(),
                               L.MaxPooling2D(2), L.Flatten(), L.Dense(4), L.Activation("softmax", dtype="float32")])
    if weights is not None:
        model.set_weights(weights)
    return model


def _data(n=96):
    rng = np.random.default_rng(0)
    x = rng.random((n, 12, 12, 3)).astype(np.float32)
    return x, (x[:, :6].mean(axis=(1, 2, 3)) * 10).astype(np.int64) % 4


def test_batches_are_not_pinned_for_the_cpu():
    config.set_device("cpu")
    assert not data_adapter.pin_by_default()
    x, y = _data(8)
    (bx, _, _), = data_adapter.ArrayData(x, y, batch_size=8).epoch()
    assert not bx.is_pinned() and bx.device.type == "cpu"


@cuda
def test_prefetch_pins_batches_for_cuda():
    config.set_device("cuda")
    x, y = _data(32)
    batches = list(data_adapter.ArrayData(x, y, batch_size=8, shuffle=False).epoch())
    assert all(bx.is_pinned() and by.is_pinned() for bx, by, _ in batches)
    np.testing.assert_array_equal(torch.cat([bx for bx, _, _ in batches]).numpy(), x)
    nested = list(data_adapter.prefetch(iter([([torch.ones(2), torch.zeros(3)], None)]), pin_memory=True))
    assert all(t.is_pinned() for t in nested[0][0])


@cuda
@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_fit_on_cuda_matches_the_cpu(policy):
    x, y = _data()
    config.set_device("cpu")
    cnnkit.utils.set_random_seed(3)
    reference = _convnet()
    weights = reference.get_weights()
    reference.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    expected = reference.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    config.set_device("cuda")
    mixed_precision.set_global_policy(policy)
    model = _convnet(weights)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    assert model.weights[0].device.type == "cuda" and all(w.dtype == torch.float32 for w in model.weights)
    assert model.layers[0].kernel.is_contiguous(memory_format=torch.channels_last)
    tolerance = 1e-4 if policy == "float32" else 0.05
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=tolerance)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference.predict(x, verbose=0), atol=tolerance)


@cuda
def test_jit_compile_on_cuda_equals_eager():
    x, y = _data()
    config.set_device("cuda")
    weights = _convnet().get_weights()
    results = []
    for jit_compile in (False, True):
        model = _convnet(weights)
        model.compile("sgd", "sparse_categorical_crossentropy", jit_compile=jit_compile)
        results.append(model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0).history["loss"])
        assert jit_compile is False or model._jit_forward.failed is None
    np.testing.assert_allclose(results[1], results[0], rtol=1e-4)
