"""cnnkit.applications.resnet against keras.applications.resnet: graph, layer names, parameter counts, input-shape
rules, weights from files and from the caches (Keras's published layout), preprocess_input, decode_predictions,
a frozen backbone and the seeds' transfer-learning block.

Small inputs (32x32, 64x64) keep ResNet on the CPU fast; each reference model is built once per module. Nothing
is downloaded: files the tests need are written into temporary cache folders ($CNNKIT_HOME, $KERAS_HOME).
"""

import dataclasses
import hashlib
import json
import shutil
import urllib.error

import h5py
import numpy as np
import pytest

from cnnkit import Sequential
from cnnkit.applications import APPLICATIONS
from cnnkit.applications import ResNet50
from cnnkit.applications import ResNet101
from cnnkit.applications import ResNet152
from cnnkit.applications import decode_predictions
from cnnkit.applications import imagenet_utils
from cnnkit.applications import preprocess_input
from cnnkit.applications import resnet
from cnnkit.applications.common import WeightsFile
from cnnkit.datasets import _files
from cnnkit.datasets import DatasetHashError
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Dense
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.layers import Input
from cnnkit.layers import Rescaling
from cnnkit.models import Model

SHAPE = (64, 64, 3)
NOTOP_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"


def _md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()  # noqa: S324 (Keras's published hashes are md5)


def _counts(model):
    def size(weights):
        return int(sum(np.prod(tuple(w.shape)) for w in weights))
    return size(model.weights), size(model.trainable_weights), size(model.non_trainable_weights)


def _randomize(model, seed=0):
    """Non-trivial values for every Keras weight, BatchNormalization statistics included (the models tests' helper)."""
    from tests.models.conftest import randomize_keras_weights  # noqa: PLC0415

    randomize_keras_weights(model, seed)


def _publish_style(source, target):
    """Rewrites a tf.keras weights file the way Keras's published ImageNet files name things: an 'input_1' layer,
    weight names with ':0', Keras 2 attributes."""
    with h5py.File(source, "r") as src, h5py.File(target, "w") as dst:
        names = [n.decode() if isinstance(n, bytes) else n for n in src.attrs["layer_names"]]
        names = ["input_1" if n == "input_layer" else n for n in names]
        dst.attrs["layer_names"] = np.array([n.encode() for n in names])
        dst.attrs["backend"], dst.attrs["keras_version"] = b"tensorflow", b"2.2.4"
        for name in names:
            group = dst.create_group(name)
            old = src["input_layer" if name == "input_1" else name]
            weight_names = [w.decode() if isinstance(w, bytes) else w for w in old.attrs["weight_names"]]
            group.attrs["weight_names"] = np.array([f"{w}:0".encode() for w in weight_names])
            for w in weight_names:
                group.create_dataset(f"{w}:0", data=np.asarray(old[w]))


@pytest.fixture(scope="module")
def keras_notop(keras, tmp_path_factory):
    """Keras's ResNet50 (include_top=False, 64x64) with seeded random weights, saved in three layouts, and its
    prediction on a random batch."""
    from keras.src.legacy.saving import legacy_h5_format  # noqa: PLC0415

    keras.backend.clear_session()
    model = keras.applications.ResNet50(weights=None, include_top=False, input_shape=SHAPE)
    _randomize(model)
    folder = tmp_path_factory.mktemp("resnet_weights")
    paths = {"keras3": folder / "resnet50.weights.h5", "legacy": folder / "resnet50_legacy.h5",
             "published": folder / NOTOP_FILE}
    model.save_weights(paths["keras3"])
    with h5py.File(paths["legacy"], "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    _publish_style(paths["legacy"], paths["published"])
    x = np.random.default_rng(1).uniform(0, 1, (2, *SHAPE)).astype("float32")
    return {"model": model, "paths": paths, "x": x, "y": model.predict(x, verbose=0)}


@pytest.fixture(scope="module")
def notop():
    """cnnkit's ResNet50 (include_top=False, 64x64, random weights), shared by the tests that only read it."""
    return ResNet50(weights=None, include_top=False, input_shape=SHAPE)


# ---- the graph ----------------------------------------------------------------------------------------------


def test_resnet50_graph_matches_keras(keras_notop, notop):
    theirs = keras_notop["model"]
    assert [layer.name for layer in notop.layers][1:] == [layer.name for layer in theirs.layers][1:]
    assert [layer.name for layer in notop.layers][1:7] == ["conv1_pad", "conv1_conv", "conv1_bn", "conv1_relu",
                                                           "pool1_pad", "pool1_pool"]
    assert [type(a).__name__ for a in notop.layers][1:] == [type(b).__name__ for b in theirs.layers][1:]
    assert [tuple(a.output.shape) for a in notop.layers] == [tuple(b.output.shape) for b in theirs.layers]
    assert _counts(notop) == _counts(theirs) == (23587712, 23534592, 53120)
    assert notop.name == "resnet50" and notop.output_shape == (None, 2, 2, 2048)


def test_resnet50_with_top_param_counts(keras):
    assert ResNet50(weights=None).count_params() == 25636712
    keras.backend.clear_session()
    theirs = keras.applications.ResNet50(weights=None, input_shape=SHAPE, classes=10)
    mine = ResNet50(weights=None, input_shape=SHAPE, classes=10)
    assert _counts(mine) == _counts(theirs)
    assert mine.layers[-2].name == "avg_pool" and mine.layers[-1].name == "predictions"
    assert mine.output_shape == (None, 10)


@pytest.mark.parametrize("builder, include_top, expected", [
    ("ResNet101", True, 44707176),
    ("ResNet152", False, 58370944),
])
def test_deeper_resnets_match_keras(keras, builder, include_top, expected):
    keras.backend.clear_session()
    shape = (224, 224, 3) if include_top else (32, 32, 3)
    theirs = getattr(keras.applications, builder)(weights=None, include_top=include_top, input_shape=shape)
    mine = {"ResNet101": ResNet101, "ResNet152": ResNet152}[builder](
        weights=None, include_top=include_top, input_shape=shape)
    assert _counts(mine) == _counts(theirs) and mine.count_params() == expected
    assert [layer.name for layer in mine.layers][1:] == [layer.name for layer in theirs.layers][1:]
    assert mine.name == builder.lower()


def test_pooling_modes(notop, keras_notop):
    pooled = {p: ResNet50(weights=None, include_top=False, input_shape=SHAPE, pooling=p) for p in ("avg", "max")}
    features = notop.predict(keras_notop["x"], verbose=0)
    for mode, model in pooled.items():
        assert model.output_shape == (None, 2048)
        assert model.layers[-1].name == f"{mode}_pool" and model.count_params() == 23587712
        model.set_weights(notop.get_weights())
        expected = features.mean(axis=(1, 2)) if mode == "avg" else features.max(axis=(1, 2))
        np.testing.assert_allclose(model.predict(keras_notop["x"], verbose=0), expected, rtol=1e-5, atol=1e-5)
    assert ResNet50(weights=None, include_top=False).output_shape == (None, None, None, 2048)


def test_input_tensor():
    inputs = Input(shape=(32, 32, 3), name="image")
    scaled = Rescaling(1 / 255, name="scale")(inputs)
    model = ResNet50(weights=None, include_top=False, input_tensor=scaled, pooling="avg")
    assert model.inputs[0] is inputs and [layer.name for layer in model.layers][:3] == ["image", "scale", "conv1_pad"]
    assert model.predict(np.zeros((1, 32, 32, 3), "float32"), verbose=0).shape == (1, 2048)
    with pytest.raises(TypeError, match="symbolic tensor"):
        ResNet50(weights=None, include_top=False, input_tensor=np.zeros((1, 32, 32, 3)))
    with pytest.raises(ValueError, match="at least 32x32"):
        ResNet50(weights=None, include_top=False, input_tensor=Input(shape=(16, 16, 3)))


@pytest.mark.parametrize("kwargs, message", [
    (dict(weights=None, include_top=False, input_shape=(31, 64, 3)), "at least 32x32"),
    (dict(weights="imagenet", include_top=True, input_shape=SHAPE), r"should be \(224, 224, 3\)"),
    (dict(weights="imagenet", include_top=True, classes=10), "`classes` should be 1000"),
    (dict(weights="imagenet", include_top=False, input_shape=(64, 64, 1)), "3 channels"),
    (dict(weights=None, include_top=True, input_shape=(None, None, 3)), "static `input_shape`"),
    (dict(weights=None, include_top=False, input_shape=(64, 64)), "three integers"),
    (dict(weights="no/such/file.h5"), "the path to the weights file"),
    (dict(weights="imagenet", classifier_activation="relu"), "Only `None` and `softmax`"),
])
def test_invalid_arguments_raise_as_keras(keras, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResNet50(**kwargs)
    with pytest.raises(ValueError):  # Keras refuses the same arguments (before any download)
        keras.applications.ResNet50(**kwargs)


def test_unknown_pooling_raises():
    with pytest.raises(ValueError, match="'avg' or 'max'"):
        ResNet50(weights=None, include_top=False, pooling="sum")


# ---- weights ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["keras3", "legacy", "published"])
def test_weights_from_keras_files_give_keras_predictions(keras_notop, layout):
    model = ResNet50(weights=keras_notop["paths"][layout], include_top=False, input_shape=SHAPE)
    np.testing.assert_allclose(model.predict(keras_notop["x"], verbose=0), keras_notop["y"], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(model.get_layer("conv4_block6_3_bn").get_weights()[3],
                                  keras_notop["model"].get_layer("conv4_block6_3_bn").get_weights()[3])


def test_weights_file_with_other_layer_names_loads_in_order(keras_notop, tmp_path):
    """Keras loads tf.keras files by layer order: a file whose names differ (here every one) still loads."""
    renamed = tmp_path / "renamed.h5"
    with h5py.File(keras_notop["paths"]["legacy"], "r") as src, h5py.File(renamed, "w") as dst:
        names = [n.decode() if isinstance(n, bytes) else n for n in src.attrs["layer_names"]]
        dst.attrs["layer_names"] = np.array([f"old_{n}".encode() for n in names])
        for name in names:
            src.copy(src[name], dst, name=f"old_{name}")
    model = ResNet50(weights=renamed, include_top=False, input_shape=SHAPE)
    np.testing.assert_allclose(model.predict(keras_notop["x"], verbose=0), keras_notop["y"], rtol=1e-4, atol=1e-4)


def test_weights_file_that_does_not_fit(keras_notop, tmp_path):
    with pytest.raises(ValueError, match="no weights for the layers predictions"):
        ResNet50(weights=keras_notop["paths"]["legacy"], input_shape=SHAPE, classes=10)
    bad = tmp_path / "bad.h5"
    shutil.copy(keras_notop["paths"]["legacy"], bad)
    with h5py.File(bad, "r+") as f:
        del f["conv1_conv/conv1_conv/kernel"]
        f["conv1_conv/conv1_conv"].create_dataset("kernel", data=np.zeros((7, 7, 3, 32), "float32"))
    with pytest.raises(ValueError, match="conv1_conv") as info:
        ResNet50(weights=bad, include_top=False, input_shape=SHAPE)
    assert "(7, 7, 3, 32)" in str(info.value) and "(7, 7, 3, 64)" in str(info.value)


@pytest.fixture
def homes(tmp_path, monkeypatch):
    """Empty cnnkit and Keras caches, and no network (a download attempt fails at once)."""
    monkeypatch.setenv("CNNKIT_HOME", str(tmp_path / "cnnkit"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable (test)")
    monkeypatch.setattr(_files.urllib.request, "urlopen", offline)
    return tmp_path


def test_imagenet_weights_from_cnnkit_cache(keras_notop, homes, monkeypatch):
    cache = homes / "cnnkit" / "models"
    cache.mkdir(parents=True)
    shutil.copy(keras_notop["paths"]["published"], cache / NOTOP_FILE)
    with pytest.raises(DatasetHashError, match="md5"):  # Keras's published hash: the fake file fails it
        ResNet50(weights="imagenet", include_top=False, input_shape=SHAPE)
    files = dict(resnet.WEIGHTS_FILES["resnet50"])
    files[False] = dataclasses.replace(files[False], file_hash=_md5(cache / NOTOP_FILE))
    monkeypatch.setitem(resnet.WEIGHTS_FILES, "resnet50", files)
    model = ResNet50(weights="imagenet", include_top=False, input_shape=SHAPE)
    np.testing.assert_allclose(model.predict(keras_notop["x"], verbose=0), keras_notop["y"], rtol=1e-4, atol=1e-4)


def test_imagenet_weights_from_keras_cache(keras_notop, homes):
    (homes / "keras" / "models").mkdir(parents=True)
    shutil.copy(keras_notop["paths"]["published"], homes / "keras" / "models" / NOTOP_FILE)
    model = ResNet50(weights="imagenet", include_top=False, input_shape=SHAPE)  # Keras checked its own copy
    np.testing.assert_allclose(model.predict(keras_notop["x"], verbose=0), keras_notop["y"], rtol=1e-4, atol=1e-4)


def test_imagenet_weights_offline_error(homes):
    with pytest.raises(OSError) as info:
        ResNet50(weights="imagenet", include_top=False, input_shape=SHAPE)
    message = str(info.value)
    assert isinstance(info.value, imagenet_utils.WeightsDownloadError)
    assert NOTOP_FILE in message
    assert "https://storage.googleapis.com/tensorflow/keras-applications/resnet/" + NOTOP_FILE in message
    assert str(homes / "cnnkit" / "models") in message and str(homes / "keras" / "models") in message
    assert resnet.WEIGHTS_FILES["resnet152"][True] == WeightsFile(
        "resnet152_weights_tf_dim_ordering_tf_kernels.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
        "resnet152_weights_tf_dim_ordering_tf_kernels.h5", "100835be76be38e30d865e96f2aaae62")


# ---- preprocess_input and decode_predictions ----------------------------------------------------------------


def test_preprocess_input_matches_keras(keras):
    from keras.src.applications import imagenet_utils as keras_utils  # noqa: PLC0415

    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (2, 5, 4, 3)).astype("uint8")
    image = rng.uniform(0, 255, (5, 4, 3)).astype("float32")
    for x in (batch, image, image.astype("float64"), batch.astype("float32")):
        before = x.copy()
        mine = preprocess_input(x)
        theirs = keras.applications.resnet.preprocess_input(x.copy())
        assert mine.dtype == theirs.dtype and mine.shape == x.shape
        np.testing.assert_array_equal(mine, theirs)
        np.testing.assert_array_equal(x, before)  # the input is left as it was
    np.testing.assert_allclose(preprocess_input(np.zeros((1, 1, 3)))[0, 0], [-103.939, -116.779, -123.68])
    channels_first = batch.transpose(0, 3, 1, 2)
    for mode in ("caffe", "tf", "torch"):
        for x in (channels_first, channels_first[0]):
            np.testing.assert_allclose(
                imagenet_utils.preprocess_input(x, data_format="channels_first", mode=mode),
                keras_utils.preprocess_input(x.astype("float32"), data_format="channels_first", mode=mode), rtol=1e-6)
        np.testing.assert_allclose(imagenet_utils.preprocess_input(batch, mode=mode),
                                   keras_utils.preprocess_input(batch.copy(), mode=mode), rtol=1e-6)


@pytest.fixture
def class_index(homes, monkeypatch):
    """A fake 1000-class index in cnnkit's cache, with its md5 as the expected hash."""
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}
    path = homes / "cnnkit" / "models" / "imagenet_class_index.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(index))
    monkeypatch.setattr(imagenet_utils, "CLASS_INDEX_HASH", _md5(path))
    return index, path


def test_decode_predictions_matches_keras(keras, class_index, monkeypatch):
    from keras.src.applications import imagenet_utils as keras_utils  # noqa: PLC0415

    index, path = class_index
    monkeypatch.setattr(keras_utils, "CLASS_INDEX", index)
    preds = np.random.default_rng(0).dirichlet(np.ones(1000), 3).astype("float32")
    preds[1, [10, 20]] = 0.5  # a tie
    mine = decode_predictions(preds, top=4)
    assert mine == keras.applications.resnet.decode_predictions(preds, top=4)
    assert {row[:2] for row in mine[1][:2]} == {("n00000010", "class_10"), ("n00000020", "class_20")}
    assert all([s for _, _, s in row] == sorted((s for _, _, s in row), reverse=True) for row in mine)
    assert decode_predictions(preds, top=2, class_index_path=path) == decode_predictions(preds, top=2)
    for bad in (preds[0], preds[:, :999]):
        with pytest.raises(ValueError, match=r"\(samples, 1000\)"):
            decode_predictions(bad)


def test_decode_predictions_checks_the_class_index_hash(homes):
    path = homes / "cnnkit" / "models" / "imagenet_class_index.json"
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    with pytest.raises(DatasetHashError, match="c2c37ea517e94d9795004a39431a14cb"):
        decode_predictions(np.zeros((1, 1000)))
    path.unlink()
    with pytest.raises(OSError, match="imagenet_class_index.json") as info:
        decode_predictions(np.zeros((1, 1000)))
    assert imagenet_utils.CLASS_INDEX_PATH in str(info.value)


# ---- frozen backbone, registry, seeds -----------------------------------------------------------------------


def test_frozen_backbone_trains_only_the_head():
    backbone = ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3))
    backbone.trainable = False
    model = Sequential([backbone, GlobalAveragePooling2D(), Dense(3, activation="softmax")])
    lines = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    text = "\n".join(lines)
    assert "Trainable params: 6,147" in text and "Non-trainable params: 23,587,712" in text
    lines.clear()
    backbone.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    assert "Trainable params: 0" in "\n".join(lines)
    assert _counts(backbone) == (23587712, 0, 23587712)
    bn = [layer for layer in backbone.layers if isinstance(layer, BatchNormalization)]
    stats = [[w.copy() for w in layer.get_weights()] for layer in bn]
    frozen, head = backbone.get_weights(), model.layers[-1].get_weights()
    rng = np.random.default_rng(0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(rng.uniform(0, 1, (8, 32, 32, 3)).astype("float32"), rng.integers(0, 3, 8), batch_size=4, epochs=1,
              verbose=0)
    for layer, before in zip(bn, stats):
        for now, then in zip(layer.get_weights(), before):
            np.testing.assert_array_equal(now, then)  # inference mode: moving statistics unchanged
    for now, then in zip(backbone.get_weights(), frozen):
        np.testing.assert_array_equal(now, then)
    assert any(not np.array_equal(a, b) for a, b in zip(model.layers[-1].get_weights(), head))


def test_registry_builds_untrained_resnets():
    assert {"resnet50", "resnet101", "resnet152"} <= set(APPLICATIONS.names())
    model = APPLICATIONS.lookup("resnet50")(input_shape=(32, 32, 3), classes=5)
    assert model.output_shape == (None, 5) and model.count_params() == 23587712 + 2048 * 5 + 5


# 000_1b579fb7c50ef3cf.txt / 001_85da1ba2f20097ba.txt, "ResNet in Keras": run with weights=None (the only edit
# besides the module name); weights='imagenet' needs Keras's published file in a cache or network access.
SEED_RESNET = """
from tensorflow.keras.applications.resnet import ResNet50
from tensorflow.keras.layers import GlobalAveragePooling2D, Dense
from tensorflow.keras.models import Sequential

model = ResNet50(input_shape=None,
                 classes=1000,
                 include_top=True,
                 weights=None)

backbone = ResNet50(input_shape=(150, 150, 3),
                    weights=None,
                    include_top=False)

# freeze ResNet50 with the top removed (optional)
backbone.trainable = False

model2 = Sequential()
model2.add(backbone)
model2.add(GlobalAveragePooling2D())
model2.add(Dense(12, activation='softmax'))
"""


def test_seed_resnet_block_runs_with_random_weights():
    namespace = {}
    exec(SEED_RESNET.replace("tensorflow.keras", "cnnkit"), namespace)  # noqa: S102 (the seeds' own code)
    assert namespace["model"].count_params() == 25636712 and namespace["model"].output_shape == (None, 1000)
    model = namespace["model2"]
    assert model.output_shape == (None, 12)
    assert _counts(model) == (23587712 + 24588, 24588, 23587712)
    assert model.predict(np.zeros((1, 150, 150, 3), "float32"), verbose=0).shape == (1, 12)


def test_model_from_resnet_features():
    """A ResNet50 backbone used as a layer of a functional model (Keras's feature-extraction recipe)."""
    backbone = ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3))
    inputs = Input(shape=(32, 32, 3))
    outputs = Dense(2)(GlobalAveragePooling2D()(backbone(inputs)))
    assert Model(inputs, outputs).count_params() == 23587712 + 4098
