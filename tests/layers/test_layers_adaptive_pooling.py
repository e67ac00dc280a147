"""AdaptiveAveragePooling1D/2D/3D and AdaptiveMaxPooling1D/2D/3D against Keras and a numpy reference: values over
random configurations (sizes that do not divide, output larger than input), shapes, configs, files, ONNX (also
for sizes torch's exporter refuses), dtype policies, and the argument errors."""

import itertools
import json
import math
import random
import re

import numpy as np
import pytest
import torch

from cnnkit import layers

MODES = {"average": "AdaptiveAveragePooling", "max": "AdaptiveMaxPooling"}


def reference_adaptive_pool(x, output_size, mode):
    """Keras's bins written out in numpy: output i of an axis of n inputs pools [floor(i n / m), ceil((i+1) n / m)).

    x: (N, *spatial, C), Keras layout."""
    reduce = np.max if mode == "max" else np.mean
    spatial = x.shape[1:-1]
    out = np.empty((x.shape[0], *output_size, x.shape[-1]), dtype=np.float64)
    for index in itertools.product(*[range(m) for m in output_size]):
        window = tuple(slice(math.floor(i * n / m), math.ceil((i + 1) * n / m))
                       for i, n, m in zip(index, spatial, output_size))
        out[(slice(None), *index, slice(None))] = reduce(x[(slice(None), *window, slice(None))],
                                                          axis=tuple(range(1, len(spatial) + 1)))
    return out


def keras_max_pool_crashes(spatial, output_size):
    """Keras 3.15's adaptive max pooling (TensorFlow backend) kills the process with SIGFPE when an output size is 1
    or an input axis has size 1 (its 'big' window, ceil(n / m) + 1, is then larger than the input)."""
    return any(m == 1 or n == 1 for n, m in zip(spatial, output_size))


def _configs(count, seed):
    rnd = random.Random(seed)
    configs = []
    while len(configs) < count:
        rank = rnd.randint(1, 3)
        mode = rnd.choice(list(MODES))
        spatial = tuple(rnd.randint(1, 9 if rank < 3 else 6) for _ in range(rank))
        output = tuple(rnd.randint(1, 6 if rank < 3 else 4) for _ in range(rank))
        if rnd.random() < 0.3:  # sizes that do not divide, on every axis
            output = tuple(max(2, min(m, n - 1)) if n > 2 else m for n, m in zip(spatial, output))
        arg = output[0] if len(set(output)) == 1 and rnd.random() < 0.5 else output
        shape = (rnd.randint(1, 3), *spatial, rnd.randint(1, 3))
        configs.append(pytest.param(rank, mode, arg, shape, id=f"{MODES[mode]}{rank}D-{arg}-{shape}"))
    return configs


@pytest.mark.parametrize(("rank", "mode", "output_size", "shape"), _configs(60, seed=13))
def test_adaptive_pooling_matches_keras(oracle, keras, rng, rank, mode, output_size, shape):
    name = f"{MODES[mode]}{rank}D"
    layer = getattr(layers, name)(output_size)
    x = rng.standard_normal(shape).astype("float32")
    if mode == "max" and keras_max_pool_crashes(shape[1:-1], layer.output_size):
        got = layer(x).numpy()
        assert layer.compute_output_shape((None, *shape[1:])) == (None, *got.shape[1:])
        assert layer.compute_output_shape((None, *shape[1:])) == tuple(
            getattr(keras.layers, name)(output_size).compute_output_shape((None, *shape[1:])))
    else:
        got, _ = oracle.compare(layer, getattr(keras.layers, name)(output_size), x)
    np.testing.assert_allclose(got, reference_adaptive_pool(x, layer.output_size, mode), rtol=1e-5, atol=1e-6)
    assert not layer.stochastic


@pytest.mark.parametrize(("n", "m"), [(10, 4), (7, 5), (5, 3), (4, 9), (3, 3), (9, 2), (2, 7), (13, 6)])
@pytest.mark.parametrize("mode", list(MODES))
def test_adaptive_pooling_bins_on_one_axis(oracle, keras, rng, n, m, mode):
    """Bins that overlap (m does not divide n) and repeat inputs (m > n), on a 2-D input with one such axis."""
    name = f"{MODES[mode]}2D"
    x = rng.standard_normal((2, n, 3, 2)).astype("float32")
    got, _ = oracle.compare(getattr(layers, name)((m, 2)), getattr(keras.layers, name)((m, 2)), x)
    np.testing.assert_allclose(got, reference_adaptive_pool(x, (m, 2), mode), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", list(MODES))
def test_adaptive_pooling_to_one_is_global_pooling(rng, mode):
    x = rng.standard_normal((2, 5, 7, 3)).astype("float32")
    got = getattr(layers, f"{MODES[mode]}2D")(1)(x).numpy()
    expected = x.max(axis=(1, 2)) if mode == "max" else x.mean(axis=(1, 2))
    np.testing.assert_allclose(got[:, 0, 0], expected, rtol=1e-5, atol=1e-6)


def test_adaptive_pooling_gradient_flows():
    x = torch.randn(2, 7, 5, 3, requires_grad=True)
    layers.AdaptiveMaxPooling2D((3, 2))(x).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("mode", list(MODES))
def test_keras_configs_load(keras, config_round_trip, rank, mode):
    name = f"{MODES[mode]}{rank}D"
    klayer = getattr(keras.layers, name)(3)
    kcfg = json.loads(json.dumps(klayer.get_config()))
    layer = getattr(layers, name).from_config(dict(kcfg))
    cfg = config_round_trip(layer)
    assert {k: v for k, v in cfg.items() if k != "dtype"} == {k: v for k, v in kcfg.items() if k != "dtype"}
    assert layers.deserialize({"class_name": name, "config": kcfg}).get_config() == cfg


# ---- files, ONNX, dtype policies ---------------------------------------------------------------------------------

FILE_CASES = {  # input sizes >= 2 and output sizes >= 2 (see keras_max_pool_crashes)
    "AdaptiveAveragePooling1D": (lambda k: k.layers.AdaptiveAveragePooling1D(4), (7, 2)),
    "AdaptiveAveragePooling2D": (lambda k: k.layers.AdaptiveAveragePooling2D((2, 3)), (6, 5, 2)),
    "AdaptiveAveragePooling3D": (lambda k: k.layers.AdaptiveAveragePooling3D((2, 3, 2)), (4, 5, 3, 2)),
    "AdaptiveMaxPooling1D": (lambda k: k.layers.AdaptiveMaxPooling1D(3), (7, 2)),
    "AdaptiveMaxPooling2D": (lambda k: k.layers.AdaptiveMaxPooling2D((4, 2)), (6, 5, 2)),
    "AdaptiveMaxPooling3D": (lambda k: k.layers.AdaptiveMaxPooling3D(2), (3, 5, 4, 2)),
    "AdaptiveAveragePooling2D-divides": (lambda k: k.layers.AdaptiveAveragePooling2D((3, 2)), (6, 4, 2)),
    "AdaptiveMaxPooling2D-larger": (lambda k: k.layers.AdaptiveMaxPooling2D((5, 7)), (3, 4, 2)),
}


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_files_and_onnx(files, tmp_path, case):
    """ONNX too where torch's exporter refuses adaptive pooling (sizes that do not divide)."""
    make, shape = FILE_CASES[case]
    model = files.check(make, shape, tmp_path)
    files.check_onnx(model, tmp_path)


@pytest.mark.parametrize("case", list(FILE_CASES)[:6])
def test_mixed_bfloat16_policy(files, case):
    make, shape = FILE_CASES[case]
    files.check_policy(make, shape)


# ---- errors ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("bad", [0, -1, 2.5, None, "2", True])
def test_bad_output_size_raises(rank, mode, bad):
    name = f"{MODES[mode]}{rank}D"
    with pytest.raises(ValueError, match=rf"{name}: output_size must be a positive int .*Received: output_size="):
        getattr(layers, name)(bad)


@pytest.mark.parametrize(("name", "output_size"), [
    ("AdaptiveAveragePooling1D", (2, 2)), ("AdaptiveMaxPooling2D", (2, 0)), ("AdaptiveMaxPooling2D", (2,)),
    ("AdaptiveAveragePooling3D", (1, 2)), ("AdaptiveAveragePooling2D", (3, -3)),
])
def test_bad_output_size_tuples_raise(name, output_size):
    received = re.escape(str(output_size))
    with pytest.raises(ValueError, match=rf"{name}: output_size must .*Received: output_size={received}"):
        getattr(layers, name)(output_size)


def test_wrong_rank_and_data_format_raise():
    with pytest.raises(ValueError, match="ndim"):
        layers.AdaptiveAveragePooling2D(2)(np.zeros((1, 4, 3), "float32"))
    with pytest.raises(ValueError, match="data_format"):
        layers.AdaptiveMaxPooling1D(2, data_format="channels_first")
