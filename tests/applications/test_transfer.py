"""Transfer learning with ResNet50 (issue 5): unfreezing by layer name against Keras doing the same, fine-tuning
that changes only the unfrozen weights, a fine-tuned model reopened by Keras with the same predictions,
fit(cache_frozen=True) on a ResNet equal to fit without it, and the seeds' blocks trained from a folder of images.

weights=None everywhere (tests are offline); small inputs (32x32, 64x64) keep ResNet50 quick on the CPU, and one
test runs the seeds' 150x150.
"""

import re

import numpy as np
import pytest

from cnnkit.applications import ResNet50
from cnnkit.data.export import write_image_folder
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Dense
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.models import Model
from cnnkit.preprocessing.image import ImageDataGenerator
from cnnkit.training import frozen
from cnnkit.utils import clear_session
from cnnkit.utils import set_random_seed


def _counts(model):
    def size(weights):
        return int(sum(np.prod(tuple(w.shape)) for w in weights))
    return size(model.trainable_weights), size(model.non_trainable_weights)


def _fine_tune_model(kit, shape, classes=3):
    """The seeds' model with only the conv5 blocks of the backbone trainable (the same code for both libraries)."""
    backbone = kit.applications.ResNet50(input_shape=shape, weights=None, include_top=False)
    for layer in backbone.layers:
        layer.trainable = layer.name.startswith("conv5_")
    model = kit.models.Sequential()
    model.add(backbone)
    model.add(kit.layers.GlobalAveragePooling2D())
    model.add(kit.layers.Dense(classes, activation="softmax"))
    return model, backbone


def _summary_counts(model):
    lines = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    text = "\n".join(lines)
    return tuple(int(re.search(rf"{kind} params: ([\d,]+)", text).group(1).replace(",", ""))
                 for kind in ("Trainable", "Non-trainable"))


def test_unfreeze_by_name_counts_match_keras(keras):
    import cnnkit  # noqa: PLC0415

    model, _ = _fine_tune_model(cnnkit, (32, 32, 3))
    keras.backend.clear_session()
    reference, _ = _fine_tune_model(keras, (32, 32, 3))
    expected = _counts(reference)
    assert _counts(model) == expected
    assert _summary_counts(model) == expected
    assert expected[0] > 0 and expected[1] > 0  # both parts present in the oracle


def test_fine_tuning_changes_only_the_unfrozen_weights(rng):
    import cnnkit  # noqa: PLC0415

    model, backbone = _fine_tune_model(cnnkit, (32, 32, 3))
    before = {layer.name: layer.get_weights() for layer in backbone.layers}
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(rng.uniform(0, 1, (8, 32, 32, 3)).astype("float32"), rng.integers(0, 3, 8), batch_size=4, epochs=1,
              verbose=0)
    changed = set()
    for layer in backbone.layers:
        for now, then in zip(layer.get_weights(), before[layer.name]):
            if not np.array_equal(now, then):
                changed.add(layer.name)
    weighted = {layer.name for layer in backbone.layers if layer.weights}
    conv5 = {name for name in weighted if name.startswith("conv5_")}
    assert changed == conv5  # every conv5 conv and BN (weights and moving statistics), nothing else
    frozen_bn = [layer for layer in backbone.layers if isinstance(layer, BatchNormalization)
                 and not layer.name.startswith("conv5_")]
    assert frozen_bn and all(layer.name not in changed for layer in frozen_bn)


def test_fine_tuned_model_reopened_by_keras_predicts_the_same(keras, rng, tmp_path):
    import cnnkit  # noqa: PLC0415

    model, _ = _fine_tune_model(cnnkit, (64, 64, 3))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = rng.uniform(0, 1, (6, 64, 64, 3)).astype("float32")
    model.fit(x, rng.integers(0, 3, 6), batch_size=3, epochs=1, verbose=0)  # two steps, conv5 BN stats move
    path = tmp_path / "fine_tuned.keras"
    model.save(path)
    keras.backend.clear_session()
    reopened = keras.models.load_model(path, compile=False)
    assert reopened.count_params() == model.count_params()
    np.testing.assert_allclose(reopened.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-4)


def _functional_fine_tune(shape):
    clear_session()
    set_random_seed(0)
    backbone = ResNet50(input_shape=shape, weights=None, include_top=False)
    for layer in backbone.layers:
        layer.trainable = layer.name.startswith("conv5_")
    outputs = Dense(3, activation="softmax")(GlobalAveragePooling2D()(backbone.output))
    return Model(backbone.input, outputs)


def test_cache_frozen_on_a_fine_tuned_resnet_equals_fit_without_it(rng):
    """Functional ResNet50 with conv5 unfrozen: conv1-conv4 are cached (the cut is conv4's output)."""
    x = rng.uniform(0, 1, (10, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 3, 10)
    weights, histories = [], []
    for cache_frozen in (False, True):
        model = _functional_fine_tune((32, 32, 3))
        if cache_frozen:
            split = frozen.FrozenSplit(model)
            assert {layer.name.split("_")[0] for layer in split.backbone.layers[1:]} == {"conv1", "pool1", "conv2",
                                                                                         "conv3", "conv4"}
            assert all(layer.name.startswith("conv5_") for layer in split.head.layers[1:-2])
            assert split.backbone.outputs == [model.get_layer("conv4_block6_out").output]
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        set_random_seed(1)
        history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, validation_split=0.2,
                            cache_frozen=cache_frozen)
        weights.append(model.get_weights())
        histories.append(history.history)
    for a, b in zip(*weights):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    for key in histories[0]:
        np.testing.assert_allclose(histories[1][key], histories[0][key], rtol=1e-4, atol=1e-5)


def test_partly_unfrozen_backbone_in_a_sequential_says_how_to_cache():
    import cnnkit  # noqa: PLC0415

    model, _ = _fine_tune_model(cnnkit, (32, 32, 3))
    with pytest.raises(ValueError, match=r"its first layer 'resnet50' has trainable weights.*Model\(backbone.input"):
        frozen.FrozenSplit(model)


# 000_1b579fb7c50ef3cf.txt (~line 465) / 001_85da1ba2f20097ba.txt (~line 115), with the module name changed
# (and weights=None: tests are offline); then trained with fit on flow_from_directory as in the notes.
SEED_BLOCK = """
from tensorflow.keras.applications.resnet import ResNet50
from tensorflow.keras.layers import GlobalAveragePooling2D, Dense
from tensorflow.keras.models import Sequential

backbone = ResNet50(input_shape=(150, 150, 3),
                    weights=None,
                    include_top=False)

# freeze ResNet50 with the top removed (optional)
backbone.trainable = False

model = Sequential()
model.add(backbone)
model.add(GlobalAveragePooling2D())
model.add(Dense(12, activation='softmax'))
"""


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """12 classes x 1 JPEG (sizes around 150 px), and the same images as PNGs."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (12, 160, 140, 3), dtype=np.uint8)
    folders = {}
    for image_format in ("jpeg", "png"):
        folders[image_format] = tmp_path_factory.mktemp(f"seed_{image_format}")
        write_image_folder(x, np.arange(12), folders[image_format], image_format=image_format)
    return folders


def _seed_model(freeze):
    namespace = {}
    code = SEED_BLOCK.replace("tensorflow.keras", "cnnkit")
    if not freeze:
        code = code.replace("backbone.trainable = False", "backbone.trainable = True")
    exec(code, namespace)  # noqa: S102 (the seeds' own code)
    return namespace["model"], namespace["backbone"]


@pytest.mark.parametrize(("freeze", "image_format", "cache_frozen"),
                         [(True, "jpeg", False), (True, "png", True), (False, "jpeg", False)])
def test_seed_block_trains_on_a_folder_at_150(photo_folder, freeze, image_format, cache_frozen):
    model, backbone = _seed_model(freeze)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    flow = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        photo_folder[image_format], target_size=(150, 150), batch_size=6, class_mode="sparse", seed=54321)
    assert flow.image_shape == (150, 150, 3) and flow.num_classes == 12
    before_backbone = backbone.get_weights()
    head_before = model.layers[-1].get_weights()
    history = model.fit(flow, epochs=1, verbose=0, cache_frozen=cache_frozen)
    assert set(history.history) == {"acc", "loss"} and np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(model.layers[-1].get_weights(), head_before))
    unchanged = all(np.array_equal(a, b) for a, b in zip(backbone.get_weights(), before_backbone))
    assert unchanged == freeze
    assert model.predict(flow, verbose=0).shape == (12, 12)
