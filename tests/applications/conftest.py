"""Shared checks of `cnnkit.applications` against `keras.applications`: a Keras model with random weights
(BatchNormalization and Normalization statistics too) saved as Keras's published ImageNet files are laid out, loaded
into cnnkit with `weights=path`, and both predictions compared after each family's own `preprocess_input`; and the
way back, a cnnkit `.keras` file opened by Keras.
"""

import importlib

import h5py
import numpy as np
import pytest

import cnnkit


def randomize(model, seed=0):
    """Non-trivial values for every Keras weight: BatchNormalization and Normalization statistics positive where
    they must be, biases random."""
    rng = np.random.default_rng(seed)
    values = []
    for variable in model.weights:
        shape, name = tuple(variable.shape), variable.path
        if "variance" in name:
            values.append(rng.uniform(0.5, 2.0, shape))
        elif name.endswith("count"):
            values.append(np.asarray(variable))
        elif "gamma" in name:
            values.append(rng.uniform(0.5, 1.5, shape))
        elif "mean" in name or "beta" in name or "bias" in name:
            values.append(rng.normal(0.0, 0.3, shape))
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            values.append(rng.normal(0.0, 1.0 / np.sqrt(max(fan_in, 1)), shape))
    model.set_weights([np.asarray(v, np.asarray(w).dtype) for v, w in zip(values, model.weights)])


def save_published(keras_model, path):
    """Writes `keras_model`'s weights as Keras's published ImageNet files are laid out: tf.keras's HDF5 layout
    (layer_names / weight_names attributes), an 'input_1' input layer, weight names with ':0', Keras 2 attributes."""
    from keras.src.legacy.saving import legacy_h5_format  # noqa: PLC0415

    legacy = str(path) + ".legacy.h5"
    with h5py.File(legacy, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, keras_model)
    with h5py.File(legacy, "r") as src, h5py.File(path, "w") as dst:
        names = [n.decode() if isinstance(n, bytes) else n for n in src.attrs["layer_names"]]
        renamed = ["input_1" if n == "input_layer" else n for n in names]
        dst.attrs["layer_names"] = np.array([n.encode() for n in renamed])
        dst.attrs["backend"], dst.attrs["keras_version"] = b"tensorflow", b"2.2.4"
        for old_name, name in zip(names, renamed):
            group, old = dst.create_group(name), src[old_name]
            weight_names = [w.decode() if isinstance(w, bytes) else w for w in old.attrs["weight_names"]]
            group.attrs["weight_names"] = np.array([f"{w}:0".encode() for w in weight_names])
            for w in weight_names:
                group.create_dataset(f"{w}:0", data=np.asarray(old[w]))
    return path


def assert_close_to_scale(ours, theirs, rtol=1e-4):
    """Equal within `rtol` relative to the output's scale (its largest magnitude)."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape
    scale = max(float(np.abs(theirs).max()), 1e-12)
    np.testing.assert_allclose(ours / scale, theirs / scale, rtol=0, atol=rtol)


def keras_predict(model, x):
    """A Keras model's inference output, called eagerly (Keras's predict traces a tf.function first: several
    seconds for the deep application graphs)."""
    return np.asarray(model(x, training=False))


def _preprocessors(module):
    """(Keras's, cnnkit's) `preprocess_input` of `keras.applications.<module>`."""
    return tuple(importlib.import_module(f"{package}.applications.{module}").preprocess_input
                 for package in ("keras", "cnnkit"))


def _load_and_compare(theirs, path, name, x, want, rtol, added_pooling=None, **builder_kwargs):
    """Saves the Keras model `theirs` in the published layout at `path`, loads it into
    `cnnkit.applications.<name>(weights=path, **builder_kwargs)` and checks layer names (with `added_pooling`, the
    pooling cnnkit's builder adds and the Keras graph lacks: the graph's names, then that global pooling layer),
    parameter counts and the prediction on `x` (already preprocessed by cnnkit's function) against `want`. Returns
    (cnnkit model, its prediction)."""
    save_published(theirs, path)
    cnnkit.utils.clear_session()  # default layer names (global_average_pooling2d, ...) counted afresh, as Keras's
    ours = getattr(cnnkit.applications, name)(weights=str(path), **builder_kwargs)
    names = [layer.name for layer in ours.layers][1:]
    if added_pooling is not None:
        kind = "Average" if added_pooling == "avg" else "Max"
        assert type(ours.layers[-1]).__name__ == f"Global{kind}Pooling2D"
        names = names[:-1]
    assert names == [layer.name for layer in theirs.layers][1:]
    assert ours.count_params() == theirs.count_params()
    got = ours.predict(x, verbose=0)
    assert_close_to_scale(got, want, rtol)
    return ours, got


def _check_keras_opens(keras, ours, got, path, keras_x, rtol):
    """cnnkit's model saved as `.keras` at `path` is opened by Keras and predicts `got` on `keras_x`."""
    ours.save(path)
    reopened = keras.models.load_model(path, compile=False)
    assert_close_to_scale(keras_predict(reopened, keras_x), got, rtol)


def check_against_keras(keras, tmp_path, name, module, input_shape, include_top=False, rtol=1e-4, batch=2,
                        seed=0, file_round_trip=True, **kwargs):
    """Builds `keras.applications.<name>` with random weights, saves it in the published layout, loads it into
    `cnnkit.applications.<name>(weights=path)` and compares: layer names, parameter counts and predictions on random
    0-255 images after each library's `<module>.preprocess_input`. With `file_round_trip`, cnnkit's model saved as
    `.keras` is opened by Keras and predicts the same. Returns (cnnkit model, Keras model)."""
    keras.backend.clear_session()
    theirs = getattr(keras.applications, name)(weights=None, include_top=include_top, input_shape=input_shape,
                                               **kwargs)
    randomize(theirs, seed)
    x = np.random.default_rng(seed + 1).uniform(0, 255, (batch, *input_shape)).astype("float32")
    keras_pre, ours_pre = _preprocessors(module)
    expected = keras_predict(theirs, keras_pre(x.copy()))
    ours, got = _load_and_compare(theirs, tmp_path / f"{name}.h5", name, ours_pre(x.copy()), expected, rtol,
                                  include_top=include_top, input_shape=input_shape, **kwargs)
    if file_round_trip:
        _check_keras_opens(keras, ours, got, tmp_path / f"{name}.keras", keras_pre(x.copy()), rtol)
    return ours, theirs


def check_with_and_without_top(keras, tmp_path, name, module, input_shape, head=2, classes=3, pooling=None,
                               rtol=1e-4, batch=1, seed=0, round_trip_with_top=False):
    """`check_against_keras` with and without the classifier on ONE Keras build (the deep graphs take seconds to
    build, randomize and save): `keras.applications.<name>(include_top=True, classes=classes)` with random weights,
    and its graph without the last `head` layers (the classifier: GlobalAveragePooling2D and Dense 'predictions',
    EfficientNet's Dropout between them), the layers include_top=False builds (Keras adds the classifier after
    them). Each is saved in the published layout and loaded into cnnkit's builder with the same include_top; layer
    names, parameter counts and predictions are compared, and the cnnkit model without the classifier (with it:
    `round_trip_with_top`), saved as `.keras`, is opened by Keras and predicts the same. With `pooling` ('avg' or
    'max'), the model without the classifier is built with that pooling and compared with the Keras graph's output
    averaged or maxed over the spatial axes by numpy (its layers: the graph's, then the pooling layer). Returns
    (cnnkit model without top, cnnkit model with top, Keras model with top)."""
    keras.backend.clear_session()
    full = getattr(keras.applications, name)(weights=None, include_top=True, classes=classes,
                                             input_shape=input_shape)
    randomize(full, seed)
    assert type(full.layers[-head]).__name__ == "GlobalAveragePooling2D"  # where Keras's classifier starts
    trunk = keras.Model(full.input, full.layers[-head].input)
    x = np.random.default_rng(seed + 1).uniform(0, 255, (batch, *input_shape)).astype("float32")
    keras_pre, ours_pre = _preprocessors(module)
    both = keras.Model(full.input, [trunk.output, full.output])  # one eager pass for both oracles
    expected = [np.asarray(y) for y in both(keras_pre(x.copy()), training=False)]
    if pooling is not None:
        expected[0] = {"avg": np.mean, "max": np.max}[pooling](expected[0].astype("float64"), axis=(1, 2))
    trunk_ours, trunk_got = _load_and_compare(trunk, tmp_path / f"{name}_False.h5", name, ours_pre(x.copy()),
                                              expected[0], rtol, added_pooling=pooling, pooling=pooling,
                                              include_top=False,
                                              input_shape=input_shape)
    full_ours, full_got = _load_and_compare(full, tmp_path / f"{name}_True.h5", name, ours_pre(x.copy()),
                                            expected[1], rtol, include_top=True, input_shape=input_shape,
                                            classes=classes)
    ours, got = (full_ours, full_got) if round_trip_with_top else (trunk_ours, trunk_got)
    _check_keras_opens(keras, ours, got, tmp_path / f"{name}.keras", keras_pre(x.copy()), rtol)
    return trunk_ours, full_ours, full


def check_frozen_fit(builder, input_shape, classes=3, samples=6, **kwargs):
    """fit(cache_frozen=True) of Sequential([frozen backbone, GlobalAveragePooling2D, Dense]) on a few tiny images
    trains the head as fit without the cache does (same loss, same head weights; the head restarts from the same
    weights and a fresh optimizer). Returns the cached run's history."""
    from cnnkit import Sequential  # noqa: PLC0415
    from cnnkit.layers import Dense  # noqa: PLC0415
    from cnnkit.layers import GlobalAveragePooling2D  # noqa: PLC0415
    from cnnkit.utils import set_random_seed  # noqa: PLC0415

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (samples, *input_shape)).astype("float32")
    y = rng.integers(0, classes, samples)
    backbone = builder(weights=None, include_top=False, input_shape=input_shape, **kwargs)
    backbone.trainable = False
    model = Sequential([backbone, GlobalAveragePooling2D(), Dense(classes, activation="softmax")])
    start, frozen = model.layers[-1].get_weights(), backbone.get_weights()
    results = []
    for cache_frozen in (False, True):
        model.layers[-1].set_weights(start)
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        set_random_seed(0)
        history = model.fit(x, y, batch_size=3, epochs=1, verbose=0, cache_frozen=cache_frozen)
        results.append((model.layers[-1].get_weights(), history.history["loss"]))
    (head, loss), (cached_head, cached_loss) = results
    np.testing.assert_allclose(cached_loss, loss, rtol=1e-4, atol=1e-6)
    for a, b in zip(cached_head, head):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    for a, b in zip(backbone.get_weights(), frozen):
        np.testing.assert_array_equal(a, b)  # frozen: weights and BatchNormalization statistics unchanged
    return cached_loss


@pytest.fixture
def fast_init(monkeypatch):
    """Truncated-normal initial weights (he_normal, glorot_normal, ...) drawn as a clipped normal: cnnkit's exact
    sampler (`cnnkit.initializers.truncated_normal`, which redraws the values beyond two standard deviations) costs
    several times one normal draw, most of a deep model's build. For tests that count parameters, read shapes or
    need any random backbone."""
    from cnnkit import initializers  # noqa: PLC0415

    def clipped_normal(shape, dtype, mean, stddev, generator=None):
        import torch  # noqa: PLC0415

        out = torch.empty(shape, dtype=dtype).normal_(mean, stddev, generator=generator)
        return out.clamp_(mean - 2 * stddev, mean + 2 * stddev)
    monkeypatch.setattr(initializers, "truncated_normal", clipped_normal)


@pytest.fixture
def zoo():
    """The shared checks, as a namespace: zoo.check_against_keras(keras, tmp_path, 'VGG16', 'vgg16', (32, 32, 3))."""
    import types  # noqa: PLC0415

    return types.SimpleNamespace(check_against_keras=check_against_keras, check_frozen_fit=check_frozen_fit,
                                 check_with_and_without_top=check_with_and_without_top,
                                 randomize=randomize,
                                 save_published=save_published, assert_close_to_scale=assert_close_to_scale)
