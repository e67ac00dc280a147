"""cnnkit.data.export.write_image_folder: (x, y) arrays to a class-folder tree, read back with PIL."""

import os

import numpy as np
import pytest
from PIL import Image

from cnnkit.data.export import write_image_folder


def _read_tree(directory):
    """{class folder: [(file name, pixels)]}, files sorted by name."""
    tree = {}
    for name in sorted(os.listdir(directory)):
        files = sorted(os.listdir(os.path.join(directory, name)))
        tree[name] = [(f, np.asarray(Image.open(os.path.join(directory, name, f)))) for f in files]
    return tree


def test_grayscale_round_trip_like_mnist_5k(tmp_path, rng):
    x = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
    y = np.array([3, 0, 1, 3, 2, 0, 1, 1, 3, 0, 2, 9], np.uint8)
    counts = write_image_folder(x, y, tmp_path / "out")
    assert counts == {str(c): int((y == c).sum()) for c in range(10)}
    tree = _read_tree(tmp_path / "out")
    assert sorted(tree) == [str(c) for c in range(10)]  # a folder for every class, even empty ones
    for label in range(10):
        files = tree[str(label)]
        indices = np.flatnonzero(y == label)
        assert [f for f, _ in files] == [f"{i:02d}.png" for i in indices]  # zero-padded, in dataset order
        for (_, pixels), i in zip(files, indices):
            assert pixels.dtype == np.uint8 and pixels.shape == (28, 28)
            np.testing.assert_array_equal(pixels, x[i])


def test_rgb_float_images_and_one_hot_labels(tmp_path, rng):
    x = rng.integers(0, 256, (5, 4, 6, 3)).astype(np.float32) / 255.0  # floats in [0, 1]
    y = np.eye(3, dtype=np.float32)[[2, 0, 2, 1, 0]]
    counts = write_image_folder(x, y, tmp_path / "out", class_names=["cat", "dog", "eel"])
    assert counts == {"cat": 2, "dog": 1, "eel": 2}
    tree = _read_tree(tmp_path / "out")
    assert [f for f, _ in tree["eel"]] == ["0.png", "2.png"]
    np.testing.assert_array_equal(tree["eel"][1][1], np.rint(x[2] * 255).astype(np.uint8))
    assert tree["dog"][0][1].shape == (4, 6, 3)


def test_channel_axis_of_one_float_0_255_and_column_labels(tmp_path, rng):
    x = rng.integers(0, 256, (4, 5, 5, 1)).astype(np.float64)
    x[0, 0, 0, 0] = 254.6
    y = np.array([[1], [0], [1], [1]])  # CIFAR-style (n, 1)
    counts = write_image_folder(x, y, tmp_path / "out", image_format="bmp")
    assert counts == {"0": 1, "1": 3}
    tree = _read_tree(tmp_path / "out")
    assert [f for f, _ in tree["1"]] == ["0.bmp", "2.bmp", "3.bmp"]
    np.testing.assert_array_equal(tree["1"][0][1], np.rint(x[0, ..., 0]).astype(np.uint8))


def test_default_class_names_are_zero_padded_so_they_sort_in_class_order(tmp_path):
    x = np.zeros((12, 2, 2), np.uint8)
    counts = write_image_folder(x, np.arange(12), tmp_path / "out", image_format="jpeg")
    assert list(counts) == [f"{c:02d}" for c in range(12)]
    assert sorted(os.listdir(tmp_path / "out")) == list(counts)
    assert os.listdir(tmp_path / "out" / "10") == ["10.jpg"]


def test_read_back_by_keras_image_dataset_from_directory(tmp_path, rng, keras):
    x = rng.integers(0, 256, (13, 8, 8), dtype=np.uint8)
    y = np.array([0, 11, 2, 10, 1, 5, 11, 3, 7, 4, 9, 6, 8])
    write_image_folder(x, y, tmp_path / "out")
    dataset = keras.utils.image_dataset_from_directory(
        str(tmp_path / "out"), color_mode="grayscale", image_size=(8, 8), batch_size=None, shuffle=False)
    images, labels = zip(*[(image.numpy(), int(label)) for image, label in dataset])
    order = np.argsort(y, kind="stable")  # Keras lists classes in folder order, files by name within each
    np.testing.assert_array_equal(labels, y[order])
    np.testing.assert_array_equal(np.stack(images)[..., 0], x[order].astype(np.float32))


def test_refuses_a_non_empty_directory_unless_it_holds_an_earlier_export(tmp_path, rng):
    x = rng.integers(0, 256, (4, 3, 3), dtype=np.uint8)
    write_image_folder(x, [0, 1, 2, 3], tmp_path / "out")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_image_folder(x, [0, 0, 0, 0], tmp_path / "out")
    assert write_image_folder(x[:2], [1, 1], tmp_path / "out", overwrite=True) == {"0": 0, "1": 2}
    assert sorted(os.listdir(tmp_path / "out")) == ["0", "1"]  # the earlier export's classes 2 and 3 are gone
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt"):
        write_image_folder(x, [0, 0, 0, 0], tmp_path / "out", overwrite=True)
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        write_image_folder(x, [0, 0, 0, 0], tmp_path / "file")


@pytest.mark.parametrize("x, y, match", [
    (np.zeros((3, 4, 4), np.uint8), [0, 1], "same length"),
    (np.zeros((3, 4), np.uint8), [0, 1, 2], "shape"),
    (np.zeros((3, 4, 4, 2), np.uint8), [0, 1, 2], "shape"),
    (np.full((3, 4, 4), 256.0), [0, 1, 2], r"\[0, 1\].*\[0, 255\]"),
    (np.full((3, 4, 4), -0.5), [0, 1, 2], r"\[0, 255\]"),
    (np.full((3, 4, 4), np.nan), [0, 1, 2], "NaN"),
    (np.full((3, 4, 4), 300, np.int64), [0, 1, 2], r"\[0, 255\]"),
    (np.zeros((3, 4, 4), np.uint8), [0, -1, 2], "non-negative"),
    (np.zeros((3, 4, 4), np.uint8), [0, 1.5, 2], "non-negative"),
    (np.zeros((2, 4, 4), np.uint8), [[1, 1], [0, 1]], "one-hot"),
    (np.zeros((0, 4, 4), np.uint8), [], "no images"),
])
def test_bad_inputs(tmp_path, x, y, match):
    with pytest.raises(ValueError, match=match):
        write_image_folder(x, y, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_class_names_and_format(tmp_path):
    x = np.zeros((2, 4, 4), np.uint8)
    with pytest.raises(ValueError, match="2 class_names for labels up to 2"):
        write_image_folder(x, [0, 2], tmp_path / "out", class_names=["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        write_image_folder(x, [0, 1], tmp_path / "out", class_names=["a", "a"])
    with pytest.raises(ValueError, match="folder name"):
        write_image_folder(x, [0, 1], tmp_path / "out", class_names=["a", "../b"])
    with pytest.raises(ValueError, match="image_format"):
        write_image_folder(x, [0, 1], tmp_path / "out", image_format="tiff")
