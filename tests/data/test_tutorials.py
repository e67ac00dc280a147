"""The data code of two TensorFlow image tutorials, run on cnnkit: https://www.tensorflow.org/tutorials/images/
classification and .../images/data_augmentation, line for line with `tf.data.AUTOTUNE` replaced by a number and
`tf.`/`keras.` names by cnnkit's (tiny images, few epochs).

Substitutions beyond the names, each marked in the code: the flower photos are a generated folder of small JPEGs;
tfds.load('tf_flowers', ...) (unbatched (image, label) pairs) is image_dataset_from_directory(batch_size=None);
the random augmentation layers (RandomFlip, RandomRotation, RandomZoom) come from other branches, so a Lambda /
plain function stands where they would be; tf.expand_dims / tf.cast / tf.random.uniform are numpy's;
tf.nn.softmax is cnnkit.activations.softmax on a torch tensor. In the augmentation tutorial the source images
are read at IMG_SIZE already: data_augmentation is first called on one image, and cnnkit's Sequential built by a
first call keeps that call's image size (a later batch of another size is refused), where Keras 3 takes other sizes.
"""

import os

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

import cnnkit
from cnnkit import layers
from cnnkit.models import Sequential

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CLASSES = ("daisy", "roses", "tulips")


@pytest.fixture(scope="module")
def flower_photos(tmp_path_factory):
    """Stands in for the downloaded flower_photos folder: class folders of JPEGs of varied sizes."""
    root = tmp_path_factory.mktemp("flowers") / "flower_photos"
    rng = np.random.default_rng(0)
    for k, name in enumerate(CLASSES):
        os.makedirs(root / name)
        for i in range(10):
            h, w = (int(v) for v in rng.integers(10, 20, 2))
            pixels = np.clip(rng.normal(60 + 70 * k, 30, (h, w, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.jpg")
    return root


def test_classification_tutorial(flower_photos, capsys):
    data_dir = flower_photos
    batch_size = 12
    img_height = 16
    img_width = 16
    train_ds = cnnkit.utils.image_dataset_from_directory(
        data_dir,
        validation_split=0.2,
        subset="training",
        seed=123,
        image_size=(img_height, img_width),
        batch_size=batch_size)
    val_ds = cnnkit.utils.image_dataset_from_directory(
        data_dir,
        validation_split=0.2,
        subset="validation",
        seed=123,
        image_size=(img_height, img_width),
        batch_size=batch_size)
    class_names = train_ds.class_names
    print(class_names)

    plt.figure(figsize=(10, 10))
    for images, labels in train_ds.take(1):
        for i in range(9):
            ax = plt.subplot(3, 3, i + 1)  # noqa: F841
            plt.imshow(images[i].numpy().astype("uint8"))
            plt.title(class_names[labels[i]])
            plt.axis("off")
    plt.close("all")

    for image_batch, labels_batch in train_ds:
        print(image_batch.shape)
        print(labels_batch.shape)
        break

    AUTOTUNE = 4  # was tf.data.AUTOTUNE  # noqa: N806
    train_ds = train_ds.cache().shuffle(1000).prefetch(buffer_size=AUTOTUNE)
    val_ds = val_ds.cache().prefetch(buffer_size=AUTOTUNE)

    normalization_layer = layers.Rescaling(1. / 255)
    normalized_ds = train_ds.map(lambda x, y: (normalization_layer(x), y))
    image_batch, labels_batch = next(iter(normalized_ds))
    first_image = image_batch[0]
    # Notice the pixel values are now in `[0,1]`.
    print(np.min(first_image), np.max(first_image))

    num_classes = len(class_names)
    model = Sequential([
        layers.Rescaling(1. / 255, input_shape=(img_height, img_width, 3)),
        layers.Conv2D(16, 3, padding='same', activation='relu'),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding='same', activation='relu'),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding='same', activation='relu'),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(128, activation='relu'),
        layers.Dense(num_classes)
    ])
    model.compile(optimizer='adam',
                  loss=cnnkit.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['accuracy'])
    epochs = 2
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=0)
    acc = history.history['accuracy']
    val_acc = history.history['val_accuracy']

    # (a Lambda where the tutorial has RandomFlip / RandomRotation / RandomZoom, which other branches add)
    data_augmentation = Sequential([
        layers.Lambda(lambda x: torch.flip(x, dims=[2]), input_shape=(img_height, img_width, 3)),
    ])
    for images, _ in train_ds.take(1):
        for i in range(9):
            augmented_images = data_augmentation(images)
            plt.imshow(augmented_images[0].numpy().astype("uint8"))
    plt.close("all")

    sunflower_path = os.path.join(data_dir, "roses", "3.jpg")
    img = cnnkit.utils.load_img(sunflower_path, target_size=(img_height, img_width))
    img_array = cnnkit.utils.img_to_array(img)
    img_array = np.expand_dims(img_array, 0)  # Create a batch (was tf.expand_dims)
    predictions = model.predict(img_array, verbose=0)
    score = cnnkit.activations.softmax(torch.as_tensor(predictions[0]))  # was tf.nn.softmax
    print("This image most likely belongs to {} with a {:.2f} percent confidence."
          .format(class_names[np.argmax(score)], 100 * np.max(score.numpy())))

    # what the tutorial's printouts show
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Found 30 files belonging to 3 classes." and out[1] == "Using 24 files for training."
    assert out[4] == str(list(CLASSES)) and out[5] == str((batch_size, img_height, img_width, 3))
    assert out[6] == str((batch_size,))
    low, high = (float(v) for v in out[7].split())
    assert 0.0 <= low <= high <= 1.0
    assert len(acc) == len(val_acc) == epochs and all(np.isfinite(history.history['val_loss']))
    assert out[-1].startswith("This image most likely belongs to ")
    assert len(model.predict(val_ds, verbose=0)) == 6  # predict on a dataset of (x, y) batches


def test_data_augmentation_tutorial(flower_photos, capsys):
    # was: (train_ds, val_ds, test_ds), metadata = tfds.load('tf_flowers', split=[...], with_info=True,
    # as_supervised=True): unbatched (image, label) elements of varied sizes
    train_ds, val_ds = cnnkit.utils.image_dataset_from_directory(
        flower_photos, validation_split=0.4, subset="both", seed=1, image_size=(16, 16), batch_size=None,
        verbose=False)
    test_ds, val_ds = val_ds.take(6), val_ds.skip(6)
    num_classes = len(train_ds.class_names)  # was metadata.features['label'].num_classes
    get_label_name = train_ds.class_names.__getitem__  # was metadata.features['label'].int2str

    image, label = next(iter(train_ds))
    _ = plt.imshow(image.numpy().astype("uint8"))  # (tfds images are uint8, these float32 0..255)
    _ = plt.title(get_label_name(label))

    IMG_SIZE = 16  # noqa: N806
    resize_and_rescale = Sequential([
        layers.Resizing(IMG_SIZE, IMG_SIZE),
        layers.Rescaling(1. / 255)
    ])
    result = resize_and_rescale(image)
    _ = plt.imshow(result)
    print("Min and max pixel values:", result.numpy().min(), result.numpy().max())

    # (a Lambda where the tutorial has RandomFlip("horizontal_and_vertical") and RandomRotation(0.2))
    data_augmentation = Sequential([
        layers.Lambda(lambda x: torch.flip(x, dims=[1, 2])),
    ])
    # Add the image to a batch.
    image = np.expand_dims(image, 0).astype(np.float32)  # was tf.cast(tf.expand_dims(image, 0), tf.float32)
    plt.figure(figsize=(10, 10))
    for i in range(9):
        augmented_image = data_augmentation(image)
        ax = plt.subplot(3, 3, i + 1)  # noqa: F841
        plt.imshow(augmented_image[0].numpy().astype("uint8"))
        plt.axis("off")
    plt.close("all")

    aug_ds = train_ds.map(
        lambda x, y: (resize_and_rescale(x, training=True), y))
    assert next(iter(aug_ds))[0].shape == (IMG_SIZE, IMG_SIZE, 3)

    batch_size = 8
    AUTOTUNE = 2  # was tf.data.AUTOTUNE  # noqa: N806

    def prepare(ds, shuffle=False, augment=False):
        # Resize and rescale all datasets.
        ds = ds.map(lambda x, y: (resize_and_rescale(x), y),
                    num_parallel_calls=AUTOTUNE)
        if shuffle:
            ds = ds.shuffle(1000)
        # Batch all datasets.
        ds = ds.batch(batch_size)
        # Use data augmentation only on the training set.
        if augment:
            ds = ds.map(lambda x, y: (data_augmentation(x, training=True), y),
                        num_parallel_calls=AUTOTUNE)
        # Use buffered prefetching on all datasets.
        return ds.prefetch(buffer_size=AUTOTUNE)

    train_ds = prepare(train_ds, shuffle=True, augment=True)
    val_ds = prepare(val_ds)
    test_ds = prepare(test_ds)

    model = Sequential([
        layers.Conv2D(16, 3, padding='same', activation='relu'),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding='same', activation='relu'),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(128, activation='relu'),
        layers.Dense(num_classes)
    ])
    model.compile(optimizer='adam',
                  loss=cnnkit.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['accuracy'])
    epochs = 2
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=0)
    loss, acc = model.evaluate(test_ds, verbose=0)
    print("Accuracy", acc)

    def random_invert_img(x, p=0.5):
        if np.random.uniform() < p:  # was tf.random.uniform([])
            x = (255 - x)
        else:
            x
        return x

    def random_invert(factor=0.5):
        return layers.Lambda(lambda x: random_invert_img(x, factor))

    random_invert = random_invert()
    for i in range(9):
        augmented_image = random_invert(image)
        plt.imshow(augmented_image[0].numpy().astype("uint8"))
    plt.close("all")

    out = capsys.readouterr().out.splitlines()
    low, high = (float(v) for v in out[0].split(":")[1].split())
    assert 0.0 <= low <= high <= 1.0
    assert len(history.history["val_loss"]) == epochs and 0.0 <= acc <= 1.0
    assert int(train_ds.cardinality()) == 3 and int(test_ds.cardinality()) == 1  # 18 training, 6 test images
