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


def check_against_keras(keras, tmp_path, name, module, input_shape, include_top=False, rtol=1e-4, batch=2,
                        seed=0, file_round_trip=True, **kwargs):
    """Builds `keras.applications.<name>` with random weights, saves it in the published layout, loads it into
    `cnnkit.applications.<name>(weights=path)` and compares: layer names, parameter counts and predictions on random
    0-255 images after each library's `<module>.preprocess_input`. With `file_round_trip`, cnnkit's model saved as
    `.keras` is opened by Keras and predicts the same. Returns (cnnkit model, Keras model)."""
    keras.backend.clear_session()
    cnnkit.utils.clear_session()  # default layer names (global_average_pooling2d, ...) counted afresh, as Keras's
    theirs = getattr(keras.applications, name)(weights=None, include_top=include_top, input_shape=input_shape,
                                               **kwargs)
    randomize(theirs, seed)
    path = save_published(theirs, tmp_path / f"{name}.h5")
    ours = getattr(cnnkit.applications, name)(weights=str(path), include_top=include_top, input_shape=input_shape,
                                              **kwargs)
    assert [layer.name for layer in ours.layers][1:] == [layer.name for layer in theirs.layers][1:]
    assert ours.count_params() == theirs.count_params()
    x = np.random.default_rng(seed + 1).uniform(0, 255, (batch, *input_shape)).astype("float32")
    keras_pre = importlib.import_module(f"keras.applications.{module}").preprocess_input
    ours_pre = importlib.import_module(f"cnnkit.applications.{module}").preprocess_input
    expected = theirs.predict(keras_pre(x.copy()), verbose=0)
    got = ours.predict(ours_pre(x.copy()), verbose=0)
    assert_close_to_scale(got, expected, rtol)
    if file_round_trip:
        saved = tmp_path / f"{name}.keras"
        ours.save(saved)
        reopened = keras.models.load_model(saved, compile=False)
        assert_close_to_scale(reopened.predict(keras_pre(x.copy()), verbose=0), got, rtol)
    return ours, theirs


@pytest.fixture
def zoo():
    """The shared checks, as a namespace: zoo.check_against_keras(keras, tmp_path, 'VGG16', 'vgg16', (32, 32, 3))."""
    import types  # noqa: PLC0415

    return types.SimpleNamespace(check_against_keras=check_against_keras, randomize=randomize,
                                 save_published=save_published, assert_close_to_scale=assert_close_to_scale)
