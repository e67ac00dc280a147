"""The seeds' data-generator and augmentation code, run with only the module name changed to cnnkit.

Each block is copied from /work/shared/seeds (named in the comment above it). The notes read '/dataset/' and
'/datasets/fruits_small/' (12 classes of fruit photos); here those paths point at a folder of 12 classes of JPEGs
of random sizes written by the test. `model` is a small convnet defined by the test (the notes define theirs
elsewhere).
"""

import os
import re

import numpy as np
import pytest
from PIL import Image

import cnnkit
from tests.test_seeds import to_cnnkit

CLASSES = [f"fruit_{name}" for name in ("apple", "banana", "cherry", "date", "elder", "fig", "grape", "kiwi",
                                         "lemon", "mango", "nut", "orange")]
PER_CLASS = 8


@pytest.fixture(scope="module")
def fruits(tmp_path_factory):
    """12 class folders of JPEGs, sizes 60-200 px; each class has its own dominant colour (so it can be learnt)."""
    root = tmp_path_factory.mktemp("fruits_small")
    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        os.makedirs(root / name)
        colour = np.array([(c * 37) % 256, (c * 91) % 256, (c * 151) % 256], dtype=np.float64)
        for i in range(PER_CLASS):
            height, width = (int(v) for v in rng.integers(60, 201, 2))
            noise = rng.normal(0, 20, (height, width, 3))
            pixels = np.clip(colour + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.jpg", quality=90)
    return str(root) + "/"


def run(code, fruits, **names):
    code = code.replace("'/dataset/'", repr(fruits)).replace("'/datasets/fruits_small/'", repr(fruits))
    namespace = dict(names)
    exec(to_cnnkit(code), namespace)  # noqa: S102 (the seeds' own code)
    return namespace


def small_model():
    from cnnkit.layers import Conv2D, Dense, GlobalAveragePooling2D, MaxPooling2D
    model = cnnkit.Sequential([cnnkit.Input((150, 150, 3)), Conv2D(8, 3, strides=2, activation="relu"),
                               MaxPooling2D(), GlobalAveragePooling2D(), Dense(12, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["acc"])
    return model


# 000_1b579fb7c50ef3cf.txt, "Data Generators" (four consecutive blocks).
SEED_000_FLOW = """
from tensorflow.keras.preprocessing.image import ImageDataGenerator
# от англ. data generator
datagen = ImageDataGenerator()
datagen_flow = datagen.flow_from_directory(
    # the folder with the dataset
    '/dataset/',
    # the target image size
    target_size=(150, 150),
    # the batch size
    batch_size=16,
    # class mode
    class_mode='sparse',
    # set a random number generator
    seed=54321)
# class indices
print(datagen_flow.class_indices)
features, target = next(datagen_flow)

print(features.shape)
"""

SEED_000_FIT = """
model.fit(datagen_flow, steps_per_epoch=len(datagen_flow))
"""

# 000_1b579fb7c50ef3cf.txt, "Data Generators": training and validation generators.
SEED_000_SUBSETS = """
# indicate that the validation set contains
# 25% random objects
datagen = ImageDataGenerator(validation_split=0.25)

train_datagen_flow = datagen.flow_from_directory(
    '/datasets/fruits_small/',
    target_size=(150, 150),
    batch_size=16,
    class_mode='sparse',
    # indicate that this is the data generator for the training set
    subset='training',
    seed=54321)

val_datagen_flow = datagen.flow_from_directory(
    '/datasets/fruits_small/',
    target_size=(150, 150),
    batch_size=16,
    class_mode='sparse',
    # indicate that this is the data generator for the validation set
    subset='validation',
    seed=54321)
model.fit(train_datagen_flow,
          validation_data=val_datagen_flow,
          steps_per_epoch=len(train_datagen_flow),
          validation_steps=len(val_datagen_flow))
"""

# 000_1b579fb7c50ef3cf.txt, "Augmentations in Keras" (two blocks).
SEED_000_AUGMENT = """
datagen = ImageDataGenerator(validation_split=0.25,
                             rescale=1./255,
                             vertical_flip=True)
train_datagen = ImageDataGenerator(
    validation_split=0.25,
    rescale=1./255,
    horizontal_flip=True)

validation_datagen = ImageDataGenerator(
    validation_split=0.25,
    rescale=1./255)

train_datagen_flow = train_datagen.flow_from_directory(
    '/dataset/',
    target_size=(150, 150),
    batch_size=16,
    class_mode='sparse',
    subset='training',
    seed=54321)

val_datagen_flow = validation_datagen.flow_from_directory(
    '/dataset/',
    target_size=(150, 150),
    batch_size=16,
    class_mode='sparse',
    subset='validation',
    seed=54321)
"""

# 001_85da1ba2f20097ba.txt, "Data generator". The notes pass `subset=` twice ('training' and 'validation', each
# marked "if necessary"), which Python rejects before any library runs; each variant is run with one of them.
SEED_001_FLOW = """
from tensorflow.keras.preprocessing.image import ImageDataGenerator
datagen = ImageDataGenerator()

# extract data from a folder
datagen_flow = datagen.flow_from_directory(
    # the folder with the dataset
    '/dataset/',
    # the target image size
    target_size=(150, 150),
    # the batch size
    batch_size=16,
    # class mode
    class_mode='sparse',
		# indicate that this is the data generator for the training set (if necessary)
    subset='training',
		# indicate that this is the data generator for the validation set (if necessary)
    subset='validation',
    # set a random number generator
    seed=12345)

# obtain the next batch
features, target = next(datagen_flow)
"""

# 001_85da1ba2f20097ba.txt, "Adding augmentation in data generators".
SEED_001_AUGMENT = """
datagen = ImageDataGenerator(validation_split=0.25,
                             rescale=1./255,
                             horizontal_flip=True,
                             vertical_flip=True)
"""


def test_seed_000_flow_from_directory_next_and_fit(fruits, capsys):
    namespace = run(SEED_000_FLOW, fruits)
    out = capsys.readouterr().out
    assert f"Found {12 * PER_CLASS} images belonging to 12 classes." in out
    assert str({name: i for i, name in enumerate(CLASSES)}) in out
    assert "(16, 150, 150, 3)" in out
    features, target = namespace["features"], namespace["target"]
    assert features.dtype == np.float32 and features.max() > 1  # no rescale: 0..255
    assert target.shape == (16,) and set(target) <= set(range(12))
    flow = namespace["datagen_flow"]
    assert len(flow) == int(np.ceil(12 * PER_CLASS / 16))
    history = run(SEED_000_FIT, fruits, model=small_model(), datagen_flow=flow)
    assert history is not None


def test_seed_000_training_and_validation_subsets(fruits, capsys):
    model = small_model()
    namespace = run("from tensorflow.keras.preprocessing.image import ImageDataGenerator\n" + SEED_000_SUBSETS,
                    fruits, model=model)
    out = capsys.readouterr().out
    assert f"Found {12 * 6} images belonging to 12 classes." in out  # 25% of 8 per class = 2 for validation
    assert f"Found {12 * 2} images belonging to 12 classes." in out
    train, val = namespace["train_datagen_flow"], namespace["val_datagen_flow"]
    assert not set(train.filenames) & set(val.filenames)
    assert len(train.filenames) + len(val.filenames) == 12 * PER_CLASS
    assert "val_loss" in model.history.history and "val_acc" in model.history.history


def test_seed_000_augmentation_generators(fruits, capsys):
    namespace = run("from tensorflow.keras.preprocessing.image import ImageDataGenerator\n" + SEED_000_AUGMENT,
                    fruits)
    train, val = namespace["train_datagen_flow"], namespace["val_datagen_flow"]
    assert not set(train.filenames) & set(val.filenames)  # "the same seed ... prevent sharing common elements"
    x, y = train[0]
    assert x.shape[1:] == (150, 150, 3) and 0 <= x.min() and x.max() <= 1  # rescale=1./255
    # the validation subset is never augmented: the flipping generator's validation batches are the plain ones
    flipping_val = namespace["train_datagen"].flow_from_directory(fruits, target_size=(150, 150), batch_size=16,
                                                                 class_mode="sparse", subset="validation", seed=54321)
    for i in range(len(val)):
        np.testing.assert_array_equal(flipping_val[i][0], val[i][0])
        np.testing.assert_array_equal(flipping_val[i][1], val[i][1])
    xv, yv = val[0]
    first = val.index_array[0]
    plain = cnnkit.utils.img_to_array(cnnkit.utils.load_img(val.filepaths[first], target_size=(150, 150))) / 255
    np.testing.assert_allclose(xv[0], plain, atol=1e-6)
    assert yv[0] == val.classes[first]
    assert namespace["datagen"].vertical_flip


def test_seed_000_training_flow_flips_some_images(fruits):
    from cnnkit.preprocessing.image import ImageDataGenerator
    flipper = ImageDataGenerator(rescale=1. / 255, horizontal_flip=True)
    plain = ImageDataGenerator(rescale=1. / 255)
    kwargs = dict(target_size=(150, 150), batch_size=16, class_mode="sparse", shuffle=False, seed=54321)
    flipped = flipper.flow_from_directory(fruits, **kwargs)[0][0]
    reference = plain.flow_from_directory(fruits, **kwargs)[0][0]
    same = [np.allclose(a, b) for a, b in zip(flipped, reference)]
    mirrored = [np.allclose(a, b[:, ::-1]) for a, b in zip(flipped, reference)]
    assert all(s or m for s, m in zip(same, mirrored))
    assert any(m and not s for s, m in zip(same, mirrored)) and any(same)


def without_subset(code, subset):
    return re.sub(rf"\n\t\t# [^\n]*\n    subset='{subset}',", "", code)


def test_seed_001_flow_from_directory(fruits, capsys):
    with pytest.raises(SyntaxError):  # the block as printed in the notes
        compile(to_cnnkit(SEED_001_FLOW), "seed_001", "exec")
    # the generator has no validation_split: as in Keras, subset='training' takes every image (with a warning) ...
    with pytest.warns(UserWarning, match="validation_split=0"):
        namespace = run(without_subset(SEED_001_FLOW, "validation") + SEED_001_AUGMENT, fruits)
    assert f"Found {12 * PER_CLASS} images belonging to 12 classes." in capsys.readouterr().out
    assert namespace["features"].shape == (16, 150, 150, 3)
    assert namespace["datagen"].horizontal_flip and namespace["datagen"].vertical_flip
    # ... and subset='validation' is a clear error (Keras silently makes an empty generator)
    with pytest.raises(ValueError, match="validation_split=0 selects no images"):
        run(without_subset(SEED_001_FLOW, "training"), fruits)
    # with the notes' next block's validation_split=0.25 both subsets work and do not overlap
    flows = {}
    for subset in ("training", "validation"):
        code = without_subset(SEED_001_FLOW, "validation" if subset == "training" else "training")
        code = code.replace("datagen = ImageDataGenerator()", SEED_001_AUGMENT)
        flows[subset] = run(code, fruits)["datagen_flow"]
    assert len(flows["training"].filenames) == 12 * 6 and len(flows["validation"].filenames) == 12 * 2
    assert not set(flows["training"].filenames) & set(flows["validation"].filenames)
