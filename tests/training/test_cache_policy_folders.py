"""fit(cache_frozen='auto') on the notes' folder iterators: the notes' transfer-learning shape (a frozen nested
backbone model, GlobalAveragePooling2D, Dense) on a tiny image folder. The oracle is the same fit with
cache_frozen=False (same seeds, same initial weights): weights and History must match, and a forward hook on the
backbone counts how many samples it really ran.
"""

import numpy as np
import pytest

from cnnkit import Sequential
from cnnkit.applications.resnet import preprocess_input
from cnnkit.data.export import write_image_folder
from cnnkit.layers import BatchNormalization
from cnnkit.layers import Conv2D
from cnnkit.layers import Dense
from cnnkit.layers import GlobalAveragePooling2D
from cnnkit.layers import Input
from cnnkit.models import Model
from cnnkit.preprocessing.image import ImageDataGenerator
from cnnkit.utils import clear_session
from cnnkit.utils import image_dataset_from_directory
from cnnkit.utils import set_random_seed

SIZE, CLASSES, IMAGES = 16, 4, 16


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    rng = np.random.default_rng(5)
    root = tmp_path_factory.mktemp("auto_cache_folder")
    write_image_folder(rng.integers(0, 256, (IMAGES, SIZE, SIZE, 3), dtype=np.uint8), np.arange(IMAGES) % CLASSES,
                       root, image_format="jpeg")
    return root


def _model():
    """The notes' shape in small: a 2-block backbone model (conv + frozen BatchNormalization, strided conv), frozen
    with `backbone.trainable = False`, then GlobalAveragePooling2D and Dense(softmax)."""
    clear_session()
    set_random_seed(0)
    inputs = Input((SIZE, SIZE, 3))
    x = BatchNormalization()(Conv2D(4, 3, activation="relu")(inputs))
    backbone = Model(inputs, Conv2D(6, 3, strides=2, activation="relu")(x))
    backbone.trainable = False
    model = Sequential([backbone, GlobalAveragePooling2D(), Dense(CLASSES, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    seen = []
    backbone.register_forward_hook(lambda module, args, out: seen.append(out.shape[0]))
    return model, seen


def _fit(capsys, data, cache_frozen, epochs=3):
    """(weights, history, samples the backbone ran, fit's 'fit: ' lines) of a fresh model fitted on data()."""
    model, seen = _model()
    train, val = data()
    capsys.readouterr()
    set_random_seed(1)
    history = model.fit(train, validation_data=val, epochs=epochs, verbose=2, cache_frozen=cache_frozen)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("fit: ")]
    return model.get_weights(), history.history, sum(seen), lines


def _auto_equals_no_cache(capsys, data, epochs=3):
    plain = _fit(capsys, data, False, epochs)
    auto = _fit(capsys, data, "auto", epochs)
    for a, b in zip(plain[0], auto[0]):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert plain[1].keys() == auto[1].keys() and "val_loss" in auto[1]
    for key in plain[1]:
        np.testing.assert_allclose(auto[1][key], plain[1][key], rtol=1e-5, atol=1e-6)
    assert plain[3] == []
    return plain[2], auto[2], auto[3]


def _flows(folder, train_generator=None, **generator_kwargs):
    """The notes' pair: flow_from_directory subsets 'training' and 'validation' (shuffle=True, the default)."""
    generator = ImageDataGenerator(validation_split=0.25, rescale=1. / 255, **generator_kwargs)

    def data():
        flows = [(train_generator or generator, "training"), (generator, "validation")]
        return [g.flow_from_directory(folder, target_size=(SIZE, SIZE), batch_size=4, class_mode="sparse",
                                      subset=subset, seed=54321) for g, subset in flows]
    return data


def test_flow_from_directory_with_rescale_is_cached_with_its_validation_subset(capsys, folder):
    plain, cached, lines = _auto_equals_no_cache(capsys, _flows(folder))
    assert plain == 3 * IMAGES and cached == IMAGES  # 12 training + 4 validation images, each run once
    assert lines == ["fit: caching the frozen part's output (6 floats per sample, 0 KB for 12 training + 4 validation "
                     "samples) during epoch 1; later epochs train only the rest (cache_frozen='auto'; False turns it "
                     "off)."]


def test_image_dataset_from_directory_is_cached(capsys, folder):
    def data():
        return image_dataset_from_directory(folder, image_size=(SIZE, SIZE), batch_size=4, validation_split=0.25,
                                            subset="both", seed=54321, verbose=False)
    plain, cached, lines = _auto_equals_no_cache(capsys, data)
    assert plain == 3 * IMAGES and cached == IMAGES
    assert len(lines) == 1 and "12 training + 4 validation samples) during epoch 1" in lines[0]


def test_augmented_training_caches_only_the_validation_features(capsys, folder):
    """The notes' augmentation block: a flipping generator for training, a plain one for validation."""
    flipping = ImageDataGenerator(validation_split=0.25, rescale=1. / 255, horizontal_flip=True, vertical_flip=True)
    plain, cached, lines = _auto_equals_no_cache(capsys, _flows(folder, train_generator=flipping))
    assert plain == 3 * IMAGES and cached == 3 * 12 + 4  # training every epoch, validation once
    assert lines == ["fit: caching the frozen part's output for the validation data only (4 samples, 0 KB; "
                     "cache_frozen='auto'), not for the training data: its ImageDataGenerator applies random "
                     "transforms (rotation, shifts, flips, zoom, ...), so the frozen part's output differs every "
                     "epoch; use a generator without them."]


def test_a_user_preprocessing_function_is_not_cached_automatically(capsys, folder):
    def scale(image):
        return image / 127.5 - 1

    plain, cached, lines = _auto_equals_no_cache(capsys, _flows(folder, preprocessing_function=scale), epochs=2)
    assert plain == cached == 2 * IMAGES
    assert len(lines) == 1 and lines[0].startswith("fit: not caching the frozen part's features (cache_frozen="
                                                   "'auto'): its ImageDataGenerator's preprocessing_function "
                                                   "(test_a_user_preprocessing_function_is_not_cached_automatically."
                                                   "<locals>.scale) is code that cnnkit cannot tell is deterministic")
    assert _fit(capsys, _flows(folder, preprocessing_function=scale), True, 2)[2] == IMAGES  # True: the user says so
    _, cached, lines = _auto_equals_no_cache(capsys, _flows(folder, preprocessing_function=preprocess_input), 2)
    assert cached == IMAGES and "during epoch 1" in lines[0]  # cnnkit's own preprocess_input is deterministic


def test_augmented_array_flow_caches_validation_arrays(capsys):
    rng = np.random.default_rng(2)
    x, y = rng.uniform(size=(12, SIZE, SIZE, 3)).astype("float32"), np.arange(12) % CLASSES
    xv, yv = rng.uniform(size=(6, SIZE, SIZE, 3)).astype("float32"), np.arange(6) % CLASSES

    def data():
        return ImageDataGenerator(horizontal_flip=True).flow(x, y, batch_size=4, seed=3), (xv, yv)
    plain, cached, lines = _auto_equals_no_cache(capsys, data, epochs=2)
    assert plain == 2 * 18 and cached == 2 * 12 + 6
    assert len(lines) == 1 and "for the validation data only (6 samples" in lines[0]
