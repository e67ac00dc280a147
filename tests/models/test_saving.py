"""Weights and model files in Keras's formats, checked against Keras 3 (TensorFlow backend) in both directions.

Formats: tf.keras legacy HDF5 weights ('.h5': bare, or under 'model_weights' in a whole-model file), Keras 3
'.weights.h5', '.keras' archives and whole-model legacy '.h5'. Every numeric check uses Keras as the oracle: a
file Keras wrote must give Keras's predictions in cnnkit, and a file cnnkit wrote must give cnnkit's predictions in
Keras. Weights are random everywhere, BatchNormalization moving statistics included, so that a swapped or
transposed weight cannot go unnoticed.
"""

import json
import os
import stat
import warnings
import zipfile

import h5py
import numpy as np
import pytest
import torch

import cnnkit
from cnnkit.layers import deserialize
from cnnkit.models import load_model
from cnnkit.models import saving

pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")

ATOL = 1e-5
SHAPE = (10, 10, 3)

# ---- architectures, written once for both libraries ----------------------------------------------------------


def sequential_with_input_shape(k):
    """A seed-style Sequential whose first layer carries input_shape: Conv2D, BatchNormalization, pooling,
    Flatten, Dense."""
    L = k.layers
    return k.models.Sequential([
        L.Conv2D(6, (3, 3), activation="relu", input_shape=SHAPE),
        L.BatchNormalization(),
        L.MaxPooling2D((2, 2)),
        L.Conv2D(5, (2, 2), padding="same", use_bias=False),
        L.Flatten(),
        L.Dense(8, activation="relu"),
        L.Dense(4, activation="softmax"),
    ])


def branched(k):
    """A functional graph with a shortcut branch (created first, as in ResNet), Add and Concatenate."""
    L = k.layers
    inputs = L.Input(shape=SHAPE)
    shortcut = L.Conv2D(4, 1, strides=2)(inputs)
    x = L.Conv2D(4, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = L.BatchNormalization()(x)
    x = L.Activation("relu")(x)
    added = L.Add()([shortcut, x])
    joined = L.Concatenate()([added, shortcut])
    x = L.AveragePooling2D(2)(joined)
    x = L.Flatten()(x)
    return k.models.Model(inputs, L.Dense(3, activation="softmax")(x))


def _backbone(k):
    # BatchNormalization before a convolution: frozen, its weights in tf.keras order are gamma, beta, mean, var,
    # kernel, bias; trainable, gamma, beta, kernel, bias, mean, var. A wrong order cannot go unnoticed.
    L = k.layers
    inputs = L.Input(shape=SHAPE)
    x = L.BatchNormalization()(inputs)
    x = L.Conv2D(4, 3, activation="relu")(x)
    x = L.MaxPooling2D(2)(x)
    return k.models.Model(inputs, x, name="backbone")


def nested(k, frozen):
    """A functional backbone inside a Sequential, frozen or not."""
    L = k.layers
    backbone = _backbone(k)
    backbone.trainable = not frozen
    model = k.models.Sequential([backbone, L.Flatten(), L.Dense(3, activation="softmax")])
    if not model.built:
        model.build((None, *SHAPE))
    return model


def ends_in_nested(k):
    """A functional model whose output is a nested functional model's (Keras numbers that call's node 1 in
    'output_layers')."""
    backbone = _backbone(k)
    inputs = k.layers.Input(shape=SHAPE)
    x = k.layers.Conv2D(3, 1)(inputs)
    return k.models.Model(inputs, backbone(x), name="outer")


ARCHS = {
    "sequential": sequential_with_input_shape,
    "branched": branched,
    "nested_frozen": lambda k: nested(k, frozen=True),
    "nested_trainable": lambda k: nested(k, frozen=False),
    "ends_in_nested": ends_in_nested,
}

# ---- helpers -------------------------------------------------------------------------------------------------


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    return rng.normal(size=(6, *SHAPE)).astype(np.float32)


def leaves(model):
    """The plain layers of a model, nested models opened, in layer order."""
    out = []
    for layer in model.layers:
        out.extend(leaves(layer) if hasattr(layer, "layers") else [layer])
    return out


def randomize(model, seed=0):
    """Random values for every weight of a Keras or cnnkit model, set layer by layer through set_weights (not
    through any file), BatchNormalization statistics kept plausible."""
    rng = np.random.default_rng(seed)
    for layer in leaves(model):
        values = []
        for weight in layer.get_weights():
            shape = weight.shape
            if type(layer).__name__ == "BatchNormalization":
                low, high = (0.5, 2.0) if len(values) in (0, 3) else (-0.5, 0.5)
                values.append(rng.uniform(low, high, shape))
            else:
                values.append(rng.normal(0.0, 1.0 / np.sqrt(max(1, int(np.prod(shape[:-1])))), shape))
        layer.set_weights([v.astype(np.float32) for v in values])


def copy_weights(source, target):
    """Copies weights leaf by leaf through get/set_weights (the two models have the same architecture)."""
    source_leaves, target_leaves = leaves(source), leaves(target)
    assert [type(a).__name__ for a in source_leaves] == [type(b).__name__ for b in target_leaves]
    for a, b in zip(source_leaves, target_leaves):
        b.set_weights(a.get_weights())


def assert_same_weights(a, b, atol=0.0):
    la, lb = leaves(a), leaves(b)
    assert [layer.name for layer in la] == [layer.name for layer in lb]
    for x, y in zip(la, lb):
        wx, wy = x.get_weights(), y.get_weights()
        assert len(wx) == len(wy), x.name
        for p, q in zip(wx, wy):
            np.testing.assert_allclose(p, q, atol=atol, rtol=0, err_msg=f"layer {x.name}")


def keras_predict(model, x):
    return np.asarray(model(x, training=False))


def cnnkit_predict(model, x):
    return model.predict(x, verbose=0)


def build_pair(keras, name):
    """(Keras model with random weights, cnnkit model of the same architecture and layer names, fresh weights)."""
    keras.backend.clear_session(free_memory=False)
    reference = ARCHS[name](keras)
    randomize(reference)
    cnnkit.utils.clear_session()
    mine = ARCHS[name](cnnkit)
    assert [layer.name for layer in leaves(mine)] == [layer.name for layer in leaves(reference)]
    return reference, mine


def keras_write(keras, model, path, kind):
    from keras.src.legacy.saving import legacy_h5_format  # noqa: PLC0415

    if kind == "legacy_weights":
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, model)
    elif kind == "keras3_weights":
        model.save_weights(path)
    else:  # '.keras' or whole-model '.h5'
        model.save(path)


SUFFIX = {"legacy_weights": "w.h5", "keras3_weights": "w.weights.h5", "keras_archive": "m.keras",
          "legacy_model": "m.h5"}


def fresh_cnnkit(name):
    cnnkit.utils.clear_session()
    return ARCHS[name](cnnkit)


def fresh_keras(keras, name):
    keras.backend.clear_session(free_memory=False)
    return ARCHS[name](keras)


# ---- weights: Keras -> cnnkit and cnnkit -> Keras, every format ------------------------------------------------


@pytest.mark.parametrize("arch", list(ARCHS))
def test_keras_file_loads_into_cnnkit_in_every_format(keras, tmp_path, data, arch):
    """Keras writes each of the 4 formats; one cnnkit model reads them in turn, its weights reset to other random
    values before each file, so that every load has to bring the Keras weights in by itself."""
    reference, mine = build_pair(keras, arch)
    expected = keras_predict(reference, data)
    for seed, kind in enumerate(SUFFIX, start=1):
        path = str(tmp_path / SUFFIX[kind])
        keras_write(keras, reference, path, kind)
        randomize(mine, seed=seed)
        mine.load_weights(path)
        assert_same_weights(mine, reference)
        np.testing.assert_allclose(cnnkit_predict(mine, data), expected, atol=ATOL, err_msg=kind)
        if kind in ("keras_archive", "legacy_model"):
            loaded = load_model(path, compile=False)
            assert type(loaded).__name__ == type(mine).__name__, kind
            assert [type(layer).__name__ for layer in leaves(loaded)] == [type(layer).__name__
                                                                         for layer in leaves(mine)], kind
            assert_same_weights(loaded, reference)
            np.testing.assert_allclose(cnnkit_predict(loaded, data), expected, atol=ATOL, err_msg=kind)
            if arch == "nested_frozen":
                backbone = loaded.layers[0]
                assert not backbone.trainable and not any(layer.trainable for layer in backbone.layers
                                                          if layer.weights)
                assert len(loaded.trainable_weights) == len(reference.trainable_weights) == 2


@pytest.mark.parametrize("arch", list(ARCHS))
def test_cnnkit_file_loads_into_keras_in_every_format(keras, tmp_path, data, arch):
    """cnnkit writes each of the 4 formats; one Keras model reads them in turn, its weights reset to other random
    values before each file; the whole-model files also open with keras.models.load_model."""
    source, mine = build_pair(keras, arch)
    copy_weights(source, mine)
    expected = cnnkit_predict(mine, data)
    target = fresh_keras(keras, arch)
    for seed, kind in enumerate(SUFFIX, start=1):
        path = str(tmp_path / SUFFIX[kind])
        if kind in ("keras_archive", "legacy_model"):
            mine.save(path)
        else:
            mine.save_weights(path)
        randomize(target, seed=seed)
        target.load_weights(path)
        assert_same_weights(target, source)
        np.testing.assert_allclose(keras_predict(target, data), expected, atol=ATOL, err_msg=kind)
        if kind in ("keras_archive", "legacy_model"):
            keras.backend.clear_session(free_memory=False)
            loaded = keras.models.load_model(path, compile=False)
            assert [type(layer).__name__ for layer in leaves(loaded)] == [type(layer).__name__
                                                                         for layer in leaves(mine)], kind
            assert_same_weights(loaded, source)
            np.testing.assert_allclose(keras_predict(loaded, data), expected, atol=ATOL, err_msg=kind)
            if arch == "nested_frozen":
                assert not loaded.layers[0].trainable
                assert len(loaded.trainable_weights) == 2


def test_legacy_h5_reads_a_nested_model_frozen_in_the_file_and_trainable_in_the_model(keras, tmp_path, data):
    """Keras pairs tf.keras weights by position, so a nested model saved frozen cannot be read by Keras into the
    same model made trainable (the order differs); cnnkit pairs them by name when the names match."""
    reference, _ = build_pair(keras, "nested_frozen")
    path = str(tmp_path / "frozen.h5")
    keras_write(keras, reference, path, "legacy_weights")
    with h5py.File(path) as f:  # the premise: the file's order is the frozen one
        names = [n.decode() if isinstance(n, bytes) else n for n in f["backbone"].attrs["weight_names"]]
    assert [n.split("/")[-1] for n in names[:4]] == ["gamma", "beta", "moving_mean", "moving_variance"]
    mine = fresh_cnnkit("nested_trainable")
    mine.load_weights(path)
    assert_same_weights(mine, reference)
    np.testing.assert_allclose(cnnkit_predict(mine, data), keras_predict(reference, data), atol=ATOL)


# ---- .keras and whole-model .h5: architecture, compile config, optimizer state ----------------------------------


def _train_data(n=24):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, *SHAPE)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, n)]
    return x, y


def _compiled_cnnkit(seed=0):
    cnnkit.utils.clear_session()
    torch.manual_seed(seed)
    model = sequential_with_input_shape(cnnkit)
    model.compile(optimizer=cnnkit.optimizers.Adam(learning_rate=0.01), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_cnnkit_round_trip_keeps_architecture_compile_config_and_optimizer_state(tmp_path, suffix):
    x, y = _train_data()
    model = _compiled_cnnkit()
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    path = str(tmp_path / f"model{suffix}")
    model.save(path)
    loaded = load_model(path)

    assert type(loaded) is type(model) and loaded.name == model.name
    assert saving.keras_model_config(loaded) == saving.keras_model_config(model)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert loaded.output_shape == model.output_shape
    assert_same_weights(loaded, model)
    assert loaded.compiled and type(loaded.optimizer) is cnnkit.optimizers.Adam
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.loss == model.loss and loaded._metric_specs == model._metric_specs
    assert loaded.optimizer.iterations == model.optimizer.iterations == 3

    # One more epoch each: the same weights only if the Adam moments and step count came back too.
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    loaded.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert_same_weights(loaded, model, atol=1e-6)
    # ...and not with a fresh optimizer (the check above can fail).
    restarted = load_model(path, compile=False)
    restarted.compile(optimizer=cnnkit.optimizers.Adam(learning_rate=0.01), loss="categorical_crossentropy")
    restarted.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert not np.allclose(restarted.layers[-1].get_weights()[0], model.layers[-1].get_weights()[0], atol=1e-4)
    assert np.allclose(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), atol=1e-5)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_cnnkit_saved_model_trains_on_in_keras(keras, tmp_path, suffix):
    """Keras opens the model compiled as saved and trains on: from the saved optimizer state for '.keras'; afresh
    for '.h5' (Keras 3.15 cannot restore an optimizer from a legacy '.h5', not even from its own files)."""
    x, y = _train_data()
    model = _compiled_cnnkit()
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    path = str(tmp_path / f"model{suffix}")
    model.save(path)
    keras.backend.clear_session(free_memory=False)
    theirs = keras.models.load_model(path)
    assert isinstance(theirs.optimizer, keras.optimizers.Adam)
    assert float(theirs.optimizer.learning_rate) == pytest.approx(0.01)
    np.testing.assert_allclose(keras_predict(theirs, x), cnnkit_predict(model, x), atol=ATOL)
    if suffix == ".h5":
        assert int(theirs.optimizer.iterations) == 0
        model = load_model(path, compile=False)
        model.compile(optimizer=cnnkit.optimizers.Adam(learning_rate=0.01), loss="categorical_crossentropy")
    else:
        assert int(theirs.optimizer.iterations) == 3
    # The same step from the same optimizer state gives the same weights.
    model.train_on_batch(x[:8], y[:8])
    theirs.run_eagerly = True
    theirs.train_on_batch(x[:8], y[:8])
    assert_same_weights(theirs, model, atol=2e-5)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_saved_model_opens_and_trains_on_in_cnnkit(keras, tmp_path, suffix):
    x, y = _train_data()
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    theirs = sequential_with_input_shape(keras)
    theirs.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="categorical_crossentropy",
                   metrics=["accuracy"], run_eagerly=True)  # eager: tracing would take seconds
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    path = str(tmp_path / f"model{suffix}")
    theirs.save(path)
    mine = load_model(path)
    assert type(mine).__name__ == "Sequential"
    assert [layer.name for layer in mine.layers] == [layer.name for layer in theirs.layers]
    assert_same_weights(mine, theirs)
    np.testing.assert_allclose(cnnkit_predict(mine, x), keras_predict(theirs, x), atol=ATOL)
    assert mine.compiled and type(mine.optimizer) is cnnkit.optimizers.Adam
    assert mine.optimizer.learning_rate == pytest.approx(0.01)
    assert mine.optimizer.iterations == int(theirs.optimizer.iterations) == 3
    assert mine.loss == "categorical_crossentropy"
    theirs.run_eagerly = True
    theirs.train_on_batch(x[:8], y[:8])
    mine.train_on_batch(x[:8], y[:8])
    assert_same_weights(mine, theirs, atol=2e-5)


def test_loss_and_metric_objects_are_saved_and_a_plain_function_loss_is_warned_about(keras, tmp_path):
    x, y = _train_data(8)
    model = _compiled_cnnkit()
    model.compile(optimizer="sgd", loss=cnnkit.losses.CategoricalCrossentropy(label_smoothing=0.1),
                  metrics=[cnnkit.metrics.CategoricalAccuracy(), "mean_squared_error"])
    path = str(tmp_path / "objects.keras")
    model.save(path)
    loaded = load_model(path)
    assert type(loaded.optimizer) is cnnkit.optimizers.SGD
    assert loaded._compiled_losses[0].get_config() == model._compiled_losses[0].get_config()
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)
    keras.backend.clear_session(free_memory=False)
    theirs = keras.models.load_model(path)
    assert theirs.loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    theirs.run_eagerly = True
    np.testing.assert_allclose(theirs.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-4)

    model.compile(optimizer="sgd", loss=lambda t, p: ((t - p) ** 2).mean())
    with pytest.warns(UserWarning, match="uncompiled"):
        model.save(path)
    assert not load_model(path).compiled


OPTIMIZERS = {
    "adam": lambda k: k.optimizers.Adam(learning_rate=0.01),
    "adamw": lambda k: k.optimizers.AdamW(learning_rate=0.01),
    "nadam": lambda k: k.optimizers.Nadam(learning_rate=0.01),
    "adam_amsgrad": lambda k: k.optimizers.Adam(learning_rate=0.01, amsgrad=True),
    "rmsprop": lambda k: k.optimizers.RMSprop(learning_rate=0.01, momentum=0.5),
    "rmsprop_centered": lambda k: k.optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
    "adadelta": lambda k: k.optimizers.Adadelta(learning_rate=1.0),
    "sgd": lambda k: k.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    "adagrad": lambda k: k.optimizers.Adagrad(learning_rate=0.1),
    "adamax": lambda k: k.optimizers.Adamax(learning_rate=0.01),
    "ftrl": lambda k: k.optimizers.Ftrl(learning_rate=0.1, l1_regularization_strength=0.01),
    "lion": lambda k: k.optimizers.Lion(learning_rate=0.01),
    "lamb": lambda k: k.optimizers.Lamb(learning_rate=0.01),
    "adafactor": lambda k: k.optimizers.Adafactor(learning_rate=0.1),
    # the 4th step overwrites the weights with their averages: the averages went across too
    "adam_ema": lambda k: k.optimizers.Adam(learning_rate=0.01, use_ema=True, ema_momentum=0.5,
                                            ema_overwrite_frequency=2),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_state_crosses_over_both_ways(keras, tmp_path, name):
    """Keras trains, saves '.keras'; cnnkit opens it and both take the same step. Then cnnkit saves and Keras
    opens it, and again both take the same step: every slot (and Nadam's momentum product) went across."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(8, 5)).astype(np.float32)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(1)
    theirs = _dense_stack(keras, [("a", 3, True), ("b", 2, True)], 5)
    theirs.compile(optimizer=OPTIMIZERS[name](keras), loss="mean_squared_error", run_eagerly=True)
    for _ in range(3):
        theirs.train_on_batch(x, y)
    path = str(tmp_path / "a.keras")
    theirs.save(path)
    mine = load_model(path)
    assert type(mine.optimizer).__name__ == type(theirs.optimizer).__name__
    assert mine.optimizer.iterations == 3
    mine.train_on_batch(x, y)
    theirs.train_on_batch(x, y)
    assert_same_weights(mine, theirs, atol=1e-5)

    path = str(tmp_path / "b.keras")
    mine.save(path)
    keras.backend.clear_session(free_memory=False)
    again = keras.models.load_model(path)
    assert int(again.optimizer.iterations) == 4
    again.run_eagerly = True
    again.train_on_batch(x, y)
    mine.train_on_batch(x, y)
    assert_same_weights(mine, again, atol=1e-5)


def test_keras_model_with_options_cnnkit_cannot_honour_is_refused_by_name(keras, tmp_path):
    keras.backend.clear_session(free_memory=False)
    L = keras.layers
    model = keras.Sequential([L.Input((4, 4, 2)), L.BatchNormalization(renorm=True, name="bn_renorm"),
                              L.Flatten(), L.Dense(2)])
    path = str(tmp_path / "renorm.keras")
    model.save(path)
    with pytest.raises(ValueError, match=r"'bn_renorm'.*renorm=True"):
        load_model(path)

    # Keras's defaults for options cnnkit does not have are accepted (the tests above load such files), and
    # anything else is refused with the layer, the option and the value.
    spec = {"class_name": "Dense", "config": {"name": "head", "units": 3, "lora_rank": 4}}
    with pytest.raises(ValueError, match=r"'head'.*lora_rank=4"):
        deserialize(spec)
    spec = {"class_name": "Conv2D", "config": {
        "name": "conv", "filters": 2, "kernel_size": 3,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None, "input_axes": [0]}}}}
    with pytest.raises(ValueError, match=r"'conv'.*input_axes=\[0\]"):
        deserialize(spec)
    spec["config"]["kernel_initializer"]["config"]["input_axes"] = None
    spec["config"].update(quantization_config=None, ragged=False, build_config={"input_shape": None},
                          dtype={"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}})
    assert type(deserialize(spec)).__name__ == "Conv2D"


def test_tf_keras_2_configs_and_weight_names_are_read(keras, tmp_path, data):
    """A tf.keras 2 whole-model file: no 'module' keys, InputLayer with batch_input_shape, inbound nodes as lists
    of [layer, node, tensor, kwargs], weight names with ':0'."""
    keras.backend.clear_session(free_memory=False)
    reference = branched(keras)
    randomize(reference)
    config = json.loads(json.dumps(reference.get_config()))
    for spec in config["layers"]:
        spec.pop("module", None)
        spec.pop("registered_name", None)
        spec.pop("build_config", None)
        if spec["class_name"] == "InputLayer":
            spec["config"]["batch_input_shape"] = spec["config"].pop("batch_shape")
        spec["inbound_nodes"] = [[
            [*ref["config"]["keras_history"], {}]
            for ref in (node["args"][0] if isinstance(node["args"][0], list) else node["args"])
        ] for node in spec["inbound_nodes"]]
    config["input_layers"] = [config["input_layers"]]
    config["output_layers"] = [config["output_layers"]]
    path = str(tmp_path / "tf2.h5")
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Functional", "config": config})
        f.attrs["keras_version"] = "2.15.0"
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = np.array([layer.name.encode() for layer in reference.layers])
        for layer in reference.layers:
            sub = group.create_group(layer.name)
            names = [f"{layer.name}/{w.name}:0".encode() for w in layer.trainable_weights + layer.non_trainable_weights]
            sub.attrs["weight_names"] = np.array(names)
            for name, w in zip(names, layer.trainable_weights + layer.non_trainable_weights):
                sub.create_dataset(name.decode(), data=np.asarray(w))
    mine = load_model(path)
    assert_same_weights(mine, reference)
    np.testing.assert_allclose(cnnkit_predict(mine, data), keras_predict(reference, data), atol=ATOL)


# ---- by_name and skip_mismatch, as Keras -------------------------------------------------------------------------


def _dense_stack(k, spec, input_dim):
    L = k.layers
    layers = [L.Input((input_dim,))]
    for name, units, use_bias in spec:
        layers.append(L.Dense(units, name=name, use_bias=use_bias))
    return k.models.Sequential(layers)


SAVED = [("a", 3, True), ("b", 2, True)]  # input dim 4
TARGETS = {
    "names_match_a_subset": ([("a", 3, True), ("x", 3, True), ("b", 2, True)], 4),
    "kernel_shape_differs": ([("a", 3, True), ("x", 5, True), ("b", 2, True)], 4),
    "weight_count_differs": ([("a", 3, True), ("b", 2, False)], 4),
    "first_layer_shape_differs": ([("p", 3, True), ("q", 2, True)], 5),
    "same": ([("a", 3, True), ("b", 2, True)], 4),
}


def _outcome(load, model):
    """('error', None) when loading raises ValueError, else ('loaded', weights)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load()
    except ValueError:
        return "error", None
    return "loaded", [w.copy() for w in model.get_weights()]


@pytest.mark.parametrize("writer", ["keras", "cnnkit"])
@pytest.mark.parametrize("target", list(TARGETS))
def test_by_name_and_skip_mismatch_behave_as_keras_for_h5(keras, tmp_path, writer, target):
    keras.backend.clear_session(free_memory=False)
    saved = _dense_stack(keras, SAVED, 4)
    randomize(saved, seed=5)
    path = str(tmp_path / "saved.h5")
    if writer == "keras":
        keras_write(keras, saved, path, "legacy_weights")
    else:
        mine = _dense_stack(cnnkit, SAVED, 4)
        copy_weights(saved, mine)
        mine.save_weights(path)
    spec, input_dim = TARGETS[target]
    outcomes = set()
    for by_name in (False, True):
        for skip_mismatch in (False, True):
            theirs = _dense_stack(keras, spec, input_dim)
            randomize(theirs, seed=9)
            mine = _dense_stack(cnnkit, spec, input_dim)
            copy_weights(theirs, mine)
            initial = mine.get_weights()
            expected = _outcome(lambda: theirs.load_weights(path, skip_mismatch=skip_mismatch, by_name=by_name),
                                theirs)
            got = _outcome(lambda: mine.load_weights(path, skip_mismatch=skip_mismatch, by_name=by_name), mine)
            case = f"by_name={by_name}, skip_mismatch={skip_mismatch}"
            assert got[0] == expected[0], case
            if expected[0] == "loaded":
                for p, q in zip(got[1], expected[1]):
                    np.testing.assert_array_equal(p, q, err_msg=case)
            else:  # unchanged (Keras may have loaded the layers before the one that failed; cnnkit checks first)
                for p, q in zip(mine.get_weights(), initial):
                    np.testing.assert_array_equal(p, q, err_msg=case)
            outcomes.add((case, expected[0]))
    assert len(outcomes) == 4


@pytest.mark.parametrize("target", ["names_match_a_subset", "kernel_shape_differs", "weight_count_differs",
                                    "first_layer_shape_differs", "same"])
def test_skip_mismatch_behaves_as_keras_for_weights_h5_and_keras_archives(keras, tmp_path, target):
    keras.backend.clear_session(free_memory=False)
    saved = _dense_stack(keras, SAVED, 4)
    randomize(saved, seed=5)
    spec, input_dim = TARGETS[target]
    for suffix in (".weights.h5", ".keras"):
        path = str(tmp_path / f"saved{suffix}")
        saved.save(path) if suffix == ".keras" else saved.save_weights(path)
        for skip_mismatch in (False, True):
            theirs = _dense_stack(keras, spec, input_dim)
            randomize(theirs, seed=9)
            mine = _dense_stack(cnnkit, spec, input_dim)
            copy_weights(theirs, mine)
            expected = _outcome(lambda: theirs.load_weights(path, skip_mismatch=skip_mismatch), theirs)
            got = _outcome(lambda: mine.load_weights(path, skip_mismatch=skip_mismatch), mine)
            assert got[0] == expected[0], (suffix, skip_mismatch)
            if expected[0] == "loaded":
                for p, q in zip(got[1], expected[1]):
                    np.testing.assert_array_equal(p, q)
        with pytest.raises(ValueError, match="by_name"):
            _dense_stack(cnnkit, spec, input_dim).load_weights(path, by_name=True)


def test_skipping_warns_with_the_layer_and_shapes(keras, tmp_path):
    saved = _dense_stack(cnnkit, SAVED, 4)
    path = str(tmp_path / "saved.h5")
    saved.save_weights(path)
    target = _dense_stack(cnnkit, TARGETS["kernel_shape_differs"][0], 4)
    with pytest.warns(UserWarning, match=r"'kernel' of layer 'b'.*\(3, 2\).*\(5, 2\)"):
        target.load_weights(path, by_name=True, skip_mismatch=True)
    np.testing.assert_array_equal(target.get_layer("b").get_weights()[1], saved.get_layer("b").get_weights()[1])


def test_weights_h5_with_weights_for_layers_the_model_lacks_is_refused(keras, tmp_path):
    """Keras silently loads a '.weights.h5' of a bigger model into a smaller one; cnnkit refuses (another
    architecture), and with skip_mismatch=True loads what fits, as Keras."""
    keras.backend.clear_session(free_memory=False)
    big = _dense_stack(keras, SAVED + [("c", 2, True)], 4)
    randomize(big, seed=2)
    path = str(tmp_path / "big.weights.h5")
    big.save_weights(path)
    small = _dense_stack(cnnkit, SAVED, 4)
    before = small.get_weights()
    with pytest.raises(ValueError, match=r"layers/dense_2"):
        small.load_weights(path)
    for p, q in zip(small.get_weights(), before):
        np.testing.assert_array_equal(p, q)
    with pytest.warns(UserWarning, match="another architecture"):
        small.load_weights(path, skip_mismatch=True)
    theirs = _dense_stack(keras, SAVED, 4)
    theirs.load_weights(path)
    for p, q in zip(small.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(p, q)


# ---- bad files ---------------------------------------------------------------------------------------------------


def _small(units=2, input_dim=4, name="small"):
    cnnkit.utils.clear_session()
    L = cnnkit.layers
    return cnnkit.Sequential([L.Dense(3, input_shape=(input_dim,)), L.Dense(units)], name=name)


def _save(model, path):
    if path.endswith((".keras",)) or os.path.basename(path).startswith("model"):
        model.save(path)
    else:
        model.save_weights(path)


BAD_FILE_NAMES = ["w.h5", "w.weights.h5", "model.keras", "model.h5"]


@pytest.mark.parametrize("name", BAD_FILE_NAMES)
def test_truncated_or_foreign_files_raise_a_clear_value_error(tmp_path, name):
    path = str(tmp_path / name)
    model = _small()
    _save(model, path)
    content = open(path, "rb").read()
    before = model.get_weights()
    for damaged in (content[: len(content) // 2], content[:100], b"not a model\n" * 20, b""):
        with open(path, "wb") as f:
            f.write(damaged)
        with pytest.raises(ValueError, match=str(tmp_path)) as info:
            model.load_weights(path)
        assert "Traceback" not in str(info.value)
        if name.startswith("model"):
            with pytest.raises(ValueError, match=str(tmp_path)):
                load_model(path)
    for p, q in zip(model.get_weights(), before):
        np.testing.assert_array_equal(p, q)


def test_hdf5_and_zip_files_that_are_not_keras_files(tmp_path):
    model = _small()
    path = str(tmp_path / "other.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.zeros(3))
    with pytest.raises(ValueError, match="not a Keras weights file"):
        model.load_weights(path)
    with pytest.raises(ValueError, match="weights only|no model_config"):
        model.save_weights(str(tmp_path / "weights.h5")) or load_model(str(tmp_path / "weights.h5"))
    archive = str(tmp_path / "other.keras")
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="model.weights.h5"):
        model.load_weights(archive)
    with pytest.raises(ValueError, match="not a valid .keras archive"):
        load_model(archive)


@pytest.mark.parametrize("name", BAD_FILE_NAMES)
def test_file_of_another_architecture_names_the_layer_and_the_shapes(tmp_path, name):
    path = str(tmp_path / name)
    _save(_small(units=2), path)
    other = _small(units=5)  # last kernel (3, 5) where the file has (3, 2)
    before = other.get_weights()
    with pytest.raises(ValueError, match=r"'dense_1'.*\(3, 2\).*\(3, 5\)"):
        other.load_weights(path)
    for p, q in zip(other.get_weights(), before):  # nothing was loaded, not even the first layer
        np.testing.assert_array_equal(p, q)

    cnnkit.utils.clear_session()
    deeper = cnnkit.Sequential([cnnkit.layers.Dense(3, input_shape=(4,)), cnnkit.layers.Dense(2),
                                cnnkit.layers.Dense(2)])
    expected = r"Layer count mismatch.*\['dense', 'dense_1'\].*\['dense', 'dense_1', 'dense_2'\]" \
        if name.endswith((".h5",)) and not name.endswith(".weights.h5") else r"no weights for layer 'dense_2'"
    with pytest.raises(ValueError, match=expected):
        deeper.load_weights(path)


def test_missing_files_and_wrong_suffixes(tmp_path):
    model = _small()
    for name in BAD_FILE_NAMES:
        with pytest.raises(FileNotFoundError, match="no such file"):
            model.load_weights(str(tmp_path / name))
    for name in ("model.keras", "model.h5", "model.hdf5"):
        with pytest.raises(FileNotFoundError, match="no such file"):
            load_model(str(tmp_path / name))
    text = tmp_path / "weights.txt"
    text.write_text("x")
    with pytest.raises(ValueError, match=r"must end in"):
        model.load_weights(str(text))
    with pytest.raises(ValueError, match=r"must end in"):
        model.save_weights(str(tmp_path / "w.keras"))
    with pytest.raises(ValueError, match=r"must end in"):
        model.save_weights(str(tmp_path / "w.pt"))
    with pytest.raises(ValueError, match=r"must end in"):
        model.save(str(tmp_path / "model.json"))
    with pytest.raises(ValueError, match=r"must end in"):
        load_model(str(text))
    assert sorted(os.listdir(tmp_path)) == ["weights.txt"]


# ---- atomic writes -------------------------------------------------------------------------------------------------


def _fail_midway(monkeypatch, name):
    """Makes the writer for `name` raise after it has started writing."""
    class DiskFull(RuntimeError):
        pass

    if name.endswith(".keras"):
        original = zipfile.ZipFile.writestr
        calls = []

        def writestr(self, *args, **kwargs):
            calls.append(1)
            if len(calls) % 3 == 2:  # the second entry of each archive
                raise DiskFull("disk full")
            return original(self, *args, **kwargs)
        monkeypatch.setattr(zipfile.ZipFile, "writestr", writestr)
    else:
        attr = "write_keras3" if name.endswith(".weights.h5") else "write_legacy"
        original = getattr(saving, attr)

        def writer(group, model):
            original(group.create_group("partial"), model)
            raise DiskFull("disk full")
        monkeypatch.setattr(saving, attr, writer)
    return DiskFull


@pytest.mark.parametrize("name", BAD_FILE_NAMES)
def test_a_failed_write_leaves_the_previous_file_and_no_temporary_file(tmp_path, monkeypatch, name):
    path = str(tmp_path / name)
    model = _small()
    _save(model, path)
    content = open(path, "rb").read()
    model.layers[0].set_weights([w + 1 for w in model.layers[0].get_weights()])
    error = _fail_midway(monkeypatch, name)
    with pytest.raises(error):
        _save(model, path)
    assert open(path, "rb").read() == content
    assert os.listdir(tmp_path) == [name]
    os.remove(path)
    with pytest.raises(error):  # no previous file: none afterwards either
        _save(model, path)
    assert os.listdir(tmp_path) == []


def test_saved_files_get_ordinary_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    model = _small()
    path = str(tmp_path / "w.weights.h5")
    model.save_weights(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask
    os.chmod(path, 0o640)
    model.save_weights(path)  # replacing a file keeps its permissions
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    with pytest.raises(FileExistsError):
        model.save_weights(path, overwrite=False)


# ---- the seeds' checkpoint flow -----------------------------------------------------------------------------------


def test_model_checkpoint_best_only_then_load_weights_restores_the_best_epoch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cnnkit.utils.clear_session()
    torch.manual_seed(0)
    np.random.seed(0)
    L = cnnkit.layers
    model = cnnkit.Sequential([
        L.Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 1)), L.BatchNormalization(),
        L.MaxPooling2D((2, 2)), L.Flatten(), L.Dense(16, activation="relu"), L.Dense(3, activation="softmax")])
    model.compile(optimizer=cnnkit.optimizers.Adam(learning_rate=0.03), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8, 8, 1)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 40)]  # random labels: validation loss soon rises
    seen = {}
    capture = cnnkit.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.__setitem__(epoch, (float(logs["val_loss"]), model.get_weights())))
    checkpoint = cnnkit.callbacks.ModelCheckpoint("weights_file.hdf5", monitor="val_loss", save_best_only=True)
    model.fit(x, y, batch_size=8, epochs=6, validation_split=0.2, callbacks=[checkpoint, capture], verbose=0)

    best = min(seen, key=lambda epoch: seen[epoch][0])
    assert best != max(seen), "the best epoch should not be the last one, or the test proves nothing"
    assert os.listdir(tmp_path) == ["weights_file.hdf5"]
    model.load_weights("weights_file.hdf5")
    for p, q in zip(model.get_weights(), seen[best][1]):
        np.testing.assert_array_equal(p, q)
    assert model.evaluate(x[32:], y[32:], verbose=0)[0] == pytest.approx(seen[best][0], rel=1e-5)
    restored = load_model("weights_file.hdf5")
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_a_custom_layer_class_loads_through_custom_objects(tmp_path):
    """A layer class of the user's (not registered) is found by name in `custom_objects`, as in Keras; without it
    the error names the class. (A name no README snippet registers, so test order does not matter.)"""

    class UnregisteredScale(cnnkit.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs, training=False):
            return inputs * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    inputs = cnnkit.Input((3,))
    model = cnnkit.Model(inputs, cnnkit.layers.Dense(2)(UnregisteredScale(3.0)(inputs)))
    path = str(tmp_path / "custom.keras")
    model.save(path)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    with pytest.raises(ValueError, match="Unknown layer: 'UnregisteredScale'"):
        load_model(path)
    loaded = load_model(path, custom_objects={"UnregisteredScale": UnregisteredScale})
    assert loaded.layers[1].factor == 3.0
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
