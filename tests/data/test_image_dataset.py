"""cnnkit.utils.image_dataset_from_directory against Keras 3's keras.utils.image_dataset_from_directory (a
tf.data.Dataset; compared with shuffle=False).

Keras decodes with TensorFlow and resizes with tf.image.resize (no antialiasing, float output); cnnkit decodes
and resizes with PIL (uint8 output). So values are compared exactly where no resampling happens (image_size ==
file size) or with 'nearest' (both pick the same source pixel), and within 1 grey level for bilinear
upsampling (PIL rounds to uint8, TF does not). Grayscale differs by <= 1 level everywhere: PIL's RGB->L and
TensorFlow's PNG decoder round the luma differently.
"""

import os

import numpy as np
import pytest
from PIL import Image

from cnnkit.utils import image_dataset_from_directory

SIZE = (10, 14)  # every file's size (height, width)


def make_tree(root, counts, seed=0, size=SIZE, mixed=False):
    """Class folders of PNGs (noise); mixed: random sizes 6..20 instead of `size`."""
    rng = np.random.default_rng(seed)
    for name, count in counts.items():
        os.makedirs(os.path.join(root, name))
        for i in range(count):
            h, w = (int(v) for v in rng.integers(6, 21, 2)) if mixed else size
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
                os.path.join(root, name, f"img{i:02d}.png"))
        with open(os.path.join(root, name, "notes.txt"), "w") as f:
            f.write("x")
    return str(root)


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path / "tree", {"ant": 3, "bee": 4, "cow": 2})


def _ours(directory, **kwargs):
    return image_dataset_from_directory(directory, **dict(dict(shuffle=False, verbose=False), **kwargs))


def _theirs(keras, directory, **kwargs):
    return keras.utils.image_dataset_from_directory(directory, **dict(dict(shuffle=False, verbose=False), **kwargs))


def _collect(dataset, tf_dataset=False):
    """(images, labels or None) of one pass over a batched dataset, concatenated."""
    xs, ys = [], []
    for batch in dataset:
        if tf_dataset:
            batch = tuple(b.numpy() for b in batch) if isinstance(batch, tuple) else batch.numpy()
        x, y = batch if isinstance(batch, tuple) else (batch, None)
        xs.append(x)
        if y is not None:
            ys.append(y)
    return np.concatenate(xs), (np.concatenate(ys) if ys else None)


# ---- Keras parity ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("label_mode", ["int", "categorical", None])
@pytest.mark.parametrize("color_mode", ["rgb", "rgba", "grayscale"])
def test_files_classes_values_and_labels_equal_keras(keras, tree, label_mode, color_mode):
    kw = dict(image_size=SIZE, label_mode=label_mode, color_mode=color_mode, batch_size=4)
    ours, theirs = _ours(tree, **kw), _theirs(keras, tree, **kw)
    assert ours.file_paths == theirs.file_paths
    assert ours.class_names == theirs.class_names
    assert len(ours) == len(theirs) == 3
    x, y = _collect(ours)
    kx, ky = _collect(theirs, tf_dataset=True)
    assert x.dtype == kx.dtype == np.float32 and x.shape == kx.shape
    if color_mode == "grayscale":
        assert np.abs(x - kx).max() <= 1.0
    else:
        np.testing.assert_array_equal(x, kx)
    if label_mode is None:
        assert y is None and ky is None
    else:
        assert y.dtype == ky.dtype and y.shape == ky.shape
        np.testing.assert_array_equal(y, ky)


def test_binary_labels_equal_keras(keras, tree):
    kw = dict(image_size=SIZE, label_mode="binary", class_names=["cow", "ant"], batch_size=2)
    ours, theirs = _ours(tree, **kw), _theirs(keras, tree, **kw)
    assert ours.file_paths == theirs.file_paths and ours.class_names == theirs.class_names == ["cow", "ant"]
    x, y = _collect(ours)
    kx, ky = _collect(theirs, tf_dataset=True)
    assert y.dtype == ky.dtype == np.float32 and y.shape == ky.shape == (5, 1)
    np.testing.assert_array_equal(y, ky)
    np.testing.assert_array_equal(x, kx)


@pytest.mark.parametrize("image_size", [(20, 28), (17, 23), (30, 20), (25, 14)])
def test_bilinear_upsampling_within_one_level_of_keras(keras, tree, image_size):
    kw = dict(image_size=image_size, interpolation="bilinear", batch_size=9)
    x, _ = _collect(_ours(tree, **kw))
    kx, _ = _collect(_theirs(keras, tree, **kw), tf_dataset=True)
    assert x.shape == kx.shape == (9,) + image_size + (3,)
    assert np.abs(x - kx).max() <= 1.0 + 1e-4


def make_smooth_tree(root, counts, seed=0):
    """Class folders of PNGs of random sizes 6..20 holding gentle ramps (<= 4 levels a pixel, all >= 60):
    sampling one pixel off changes a value by a few levels, a misplaced pad row by 60 or more."""
    rng = np.random.default_rng(seed)
    for name, count in counts.items():
        os.makedirs(os.path.join(root, name))
        for i in range(count):
            h, w = (int(v) for v in rng.integers(6, 21, 2))
            rows, cols = np.mgrid[0:h, 0:w]
            base = 60 + rng.integers(0, 40) + 4 * rows + 3 * cols
            pixels = np.stack([base, base[::-1], base[:, ::-1]], -1).astype(np.uint8)
            Image.fromarray(pixels).save(os.path.join(root, name, f"img{i:02d}.png"))
    return str(root)


@pytest.mark.parametrize("image_size", [(20, 28), (7, 9), (12, 12), (30, 20), (5, 21)])
@pytest.mark.parametrize("aspect", [{}, {"pad_to_aspect_ratio": True}, {"crop_to_aspect_ratio": True}])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_resize_pad_and_crop_geometry_matches_keras(keras, tmp_path, image_size, aspect, interpolation):
    """Same pad placement (zeros exactly where Keras has them) and the same crop / scale, up to the sampling
    differences: 'nearest' breaks ties (a source coordinate of exactly k + 0.5) differently in PIL and TF,
    bilinear downscaling is antialiased in PIL and not in TF."""
    root = make_smooth_tree(tmp_path / "mixed", {"a": 3, "b": 3}, seed=4)
    kw = dict(image_size=image_size, interpolation=interpolation, batch_size=6, **aspect)
    x, _ = _collect(_ours(root, **kw))
    kx, _ = _collect(_theirs(keras, root, **kw), tf_dataset=True)
    assert x.shape == kx.shape == (6,) + image_size + (3,)
    assert x.dtype == np.float32  # Keras gives uint8 for 'nearest' (tf.image.resize keeps the dtype)
    kx = kx.astype(np.float32)
    np.testing.assert_array_equal(x == 0, kx == 0)
    assert np.abs(x - kx).max() <= 8 and np.abs(x - kx).mean() < 1, (np.abs(x - kx).max(), np.abs(x - kx).mean())


def test_crop_to_aspect_ratio_bilinear_is_close_to_keras(keras, tree):
    """cnnkit resizes the crop box inside the full image (PIL's resize(box=...), as Keras's load_img
    keep_aspect_ratio), Keras 3 crops first and then resizes: the filters see different pixels just outside
    the crop at its edges, so only the interior is compared closely."""
    kw = dict(image_size=(30, 20), interpolation="bilinear", crop_to_aspect_ratio=True, batch_size=9)
    x, _ = _collect(_ours(tree, **kw))
    kx, _ = _collect(_theirs(keras, tree, **kw), tf_dataset=True)
    assert x.shape == kx.shape == (9, 30, 20, 3)
    assert np.abs(x - kx)[:, 2:-2, 2:-2].max() <= 1.0 + 1e-4
    assert np.abs(x - kx).mean() < 5


def test_pad_to_aspect_ratio_geometry(tree):
    (x, _), = list(_ours(tree, image_size=(30, 14), pad_to_aspect_ratio=True, batch_size=9, interpolation="nearest"))
    assert x.shape == (9, 30, 14, 3)
    # 10x14 fits as 10x14 in the middle of 30x14: 10 black rows above and below
    np.testing.assert_array_equal(x[:, :10], 0)
    np.testing.assert_array_equal(x[:, 20:], 0)
    direct = np.stack([np.asarray(Image.open(p), dtype=np.float32) for p in _ours(tree).file_paths])
    np.testing.assert_array_equal(x[:, 10:20], direct)


def test_labels_list_equals_keras(keras, tmp_path):
    root = tmp_path / "flat"
    rng = np.random.default_rng(2)
    (root / "sub").mkdir(parents=True)
    for name in ("f00.png", "f01.png", "f02.png", os.path.join("sub", "f03.png"), "f04.png"):
        Image.fromarray(rng.integers(0, 256, SIZE + (3,), dtype=np.uint8)).save(root / name)
    labels = [1, 0, 2, 2, 1]
    kw = dict(labels=labels, image_size=SIZE, batch_size=2)
    ours, theirs = _ours(str(root), **kw), _theirs(keras, str(root), **kw)
    assert ours.file_paths == theirs.file_paths
    assert ours.class_names == theirs.class_names == ["0", "1", "2"]
    x, y = _collect(ours)
    kx, ky = _collect(theirs, tf_dataset=True)
    np.testing.assert_array_equal(x, kx)
    np.testing.assert_array_equal(y, ky)
    assert y.dtype == ky.dtype == np.int32
    as_array = _ours(str(root), labels=np.array(labels), image_size=SIZE, batch_size=5)
    np.testing.assert_array_equal(_collect(as_array)[1], labels)
    with pytest.raises(ValueError, match="labels has 2 entries but 5 image files"):
        _ours(str(root), labels=[0, 1])


def test_batch_size_none_gives_single_images_like_keras(keras, tree):
    for label_mode, label_shape in (("int", ()), ("categorical", (3,)), (None, None)):
        ours = list(_ours(tree, image_size=SIZE, batch_size=None, label_mode=label_mode))
        theirs = list(_theirs(keras, tree, image_size=SIZE, batch_size=None, label_mode=label_mode))
        assert len(ours) == len(theirs) == 9
        for a, b in zip(ours, theirs):
            if label_shape is None:
                assert a.shape == tuple(b.shape) == SIZE + (3,)
                np.testing.assert_array_equal(a, b.numpy())
            else:
                assert a[0].shape == tuple(b[0].shape) == SIZE + (3,)
                assert np.shape(a[1]) == tuple(b[1].shape) == label_shape
                np.testing.assert_array_equal(a[1], b[1].numpy())
    binary = list(_ours(tree, image_size=SIZE, batch_size=None, label_mode="binary", class_names=["ant", "bee"]))
    assert np.shape(binary[0][1]) == (1,)


def test_messages(tree, capsys, keras):
    image_dataset_from_directory(tree, image_size=SIZE, seed=1)
    assert capsys.readouterr().out == "Found 9 files belonging to 3 classes.\n"
    image_dataset_from_directory(tree, image_size=SIZE, label_mode=None)
    assert capsys.readouterr().out == "Found 9 files.\n"
    train, val = image_dataset_from_directory(tree, image_size=SIZE, validation_split=0.25, subset="both", seed=1)
    assert capsys.readouterr().out == ("Found 9 files belonging to 3 classes.\nUsing 7 files for training.\n"
                                       "Using 2 files for validation.\n")
    # Keras prints the same lines (its split takes int(0.25 * 9) = 2 files of the shuffled list)
    keras.utils.image_dataset_from_directory(tree, image_size=SIZE, validation_split=0.25, subset="both", seed=1)
    assert capsys.readouterr().out == ("Found 9 files belonging to 3 classes.\nUsing 7 files for training.\n"
                                       "Using 2 files for validation.\n")
    image_dataset_from_directory(tree, image_size=SIZE, validation_split=0.25, subset="validation", seed=1,
                                 verbose=False)
    assert capsys.readouterr().out == ""


# ---- splits, shuffling -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 3, None])
def test_subset_both_is_disjoint_complete_and_stratified(tmp_path, seed):
    root = make_tree(tmp_path / "s", {"a": 10, "b": 6, "c": 3}, seed=5)
    train, val = image_dataset_from_directory(root, image_size=(6, 6), validation_split=0.3, subset="both",
                                              seed=seed, verbose=False)
    assert not set(train.file_paths) & set(val.file_paths)
    assert sorted(train.file_paths + val.file_paths) == sorted(_ours(root).file_paths)
    assert [int((val.classes == c).sum()) for c in range(3)] == [3, 2, 1]
    assert train.class_names == val.class_names == ["a", "b", "c"]
    single = image_dataset_from_directory(root, image_size=(6, 6), validation_split=0.3, subset="validation",
                                          seed=seed, verbose=False)
    if seed is not None:
        assert single.file_paths == val.file_paths
    labels = np.concatenate([y for _, y in val])
    assert sorted(labels.tolist()) == sorted(val.classes.tolist())


def test_shuffled_iteration_gives_a_new_order_each_pass_and_repeats_from_the_seed(tmp_path):
    root = make_tree(tmp_path / "sh", {"a": 8, "b": 8}, seed=6)

    def passes(dataset, n=2):
        return [np.concatenate([x for x, _ in dataset]) for _ in range(n)]

    a = passes(image_dataset_from_directory(root, image_size=(6, 6), batch_size=5, seed=7, verbose=False))
    b = passes(image_dataset_from_directory(root, image_size=(6, 6), batch_size=5, seed=7, verbose=False))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])
    assert sorted(a[0].reshape(16, -1).tolist()) == sorted(a[1].reshape(16, -1).tolist())
    unshuffled = _collect(_ours(root, image_size=(6, 6)))[0]
    assert not np.array_equal(a[0], unshuffled)
    np.testing.assert_array_equal(passes(_ours(root, image_size=(6, 6)), 1)[0], unshuffled)


def test_indexing_len_and_next(tree):
    ds = _ours(tree, image_size=SIZE, batch_size=4)
    assert len(ds) == 3
    x, y = ds[2]
    assert x.shape == (1,) + SIZE + (3,) and y.tolist() == [2]
    with pytest.raises(TypeError, match="for batch in dataset"):
        next(ds)


def test_image_size_int_and_natural_class_order(tmp_path):
    root = make_tree(tmp_path / "n", {"10": 1, "2": 2, "1": 1}, seed=8)
    ds = _ours(root, image_size=8)  # an int is a square size, as Keras
    assert ds.class_names == ["1", "2", "10"]  # natural order (Keras: ['1', '10', '2'])
    x, y = ds[0]
    assert x.shape == (4, 8, 8, 3) and y.tolist() == [0, 1, 1, 2]


# ---- errors ------------------------------------------------------------------------------------------------------
def test_errors(tree, tmp_path):
    with pytest.raises(ValueError, match="Did you mean 'categorical'"):
        _ours(tree, label_mode="categorial")
    with pytest.raises(ValueError, match="Only one of"):
        _ours(tree, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="validation_split"):
        _ours(tree, subset="training")
    with pytest.raises(ValueError, match="subset"):
        _ours(tree, validation_split=0.2)
    with pytest.raises(ValueError, match="subset must be"):
        _ours(tree, validation_split=0.2, subset="test")
    with pytest.raises(ValueError, match="exactly 2 classes"):
        _ours(tree, label_mode="binary")
    with pytest.raises(TypeError, match="Did you mean 'image_size'"):
        _ours(tree, img_size=(4, 4))
    with pytest.raises(FileNotFoundError):
        _ours(str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="Did you mean 'rgb'"):
        _ours(tree, color_mode="rgbb")
    with pytest.raises(ValueError, match="labels must be"):
        _ours(tree, labels="inferd")
    with pytest.raises(ValueError, match="class_names"):
        _ours(tree, labels=None, class_names=["ant"])
    with pytest.raises(FileNotFoundError, match="dog"):
        _ours(tree, class_names=["ant", "dog"])
    with pytest.raises(ValueError, match="validation_split"):
        _ours(tree, validation_split=1.2, subset="training")
