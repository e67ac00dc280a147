"""ImageDataGenerator.flow (in-memory arrays) and .flow_from_dataframe (a table of files), against numpy and
against Keras 3's legacy ImageDataGenerator (tf.keras's) with shuffle=False."""

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cnnkit.preprocessing.image import ImageDataGenerator


@pytest.fixture(scope="module")
def keras_idg(keras):
    from keras.src.legacy.preprocessing.image import ImageDataGenerator as KerasIDG  # noqa: PLC0415

    return KerasIDG


def _batches(iterator):
    return [iterator[i] for i in range(len(iterator))]


def _assert_same(ours, theirs, check_dtype=True):
    """Batches equal, recursively through tuples and lists."""
    if isinstance(theirs, (tuple, list)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), (type(ours), type(theirs))
        for a, b in zip(ours, theirs):
            _assert_same(a, b, check_dtype)
        return
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape
    if check_dtype:
        assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_array_equal(ours, theirs)


# ---- flow ----------------------------------------------------------------------------------------------------------
@pytest.fixture
def arrays():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (23, 6, 5, 3), dtype=np.uint8)
    y = np.array([0, 1, 2] * 7 + [0, 1])
    w = rng.uniform(0.5, 2.0, 23).astype(np.float32)
    return x, y, w


def test_flow_batches_equal_numpy_slices(arrays):
    x, y, w = arrays
    it = ImageDataGenerator(rescale=1 / 255).flow(x, y, batch_size=5, shuffle=False, sample_weight=w)
    assert len(it) == 5 and it.n == 23
    for i, (bx, by, bw) in enumerate(_batches(it)):
        sl = slice(5 * i, 5 * i + 5)
        assert bx.dtype == np.float32 and bx.shape == x[sl].shape
        np.testing.assert_array_equal(bx, x[sl].astype(np.float32) * np.float32(1 / 255))
        np.testing.assert_array_equal(by, y[sl])
        np.testing.assert_array_equal(bw, w[sl])
    only_x = ImageDataGenerator().flow(x, batch_size=10, shuffle=False)
    assert not isinstance(only_x[0], tuple)
    np.testing.assert_array_equal(only_x[2], x[20:].astype(np.float32))


def test_flow_shuffles_reproducibly_and_keeps_x_with_y(arrays):
    x, y, w = arrays
    gen = ImageDataGenerator()
    a = gen.flow(x, np.arange(23), batch_size=23, seed=9)
    b = gen.flow(x, np.arange(23), batch_size=23, seed=9)
    bx, order = a[0]
    np.testing.assert_array_equal(order, b[0][1])
    assert sorted(order.tolist()) == list(range(23)) and order.tolist() != list(range(23))
    np.testing.assert_array_equal(bx, x[order].astype(np.float32))  # images stay with their labels
    a.on_epoch_end()
    assert a[0][1].tolist() != order.tolist()


def test_flow_uint8_stays_uint8_in_memory(arrays):
    x, y, _ = arrays
    it = ImageDataGenerator(rescale=1 / 255).flow(x, y, batch_size=4)
    assert it.x.dtype == np.uint8 and np.shares_memory(it.x, x)  # no float copy of the whole array
    bx, _ = next(it)
    assert bx.dtype == np.float32


def test_flow_tuple_x_gives_a_list_of_images_and_extras(arrays, keras_idg):
    x, y, _ = arrays
    misc = np.arange(23 * 2, dtype=np.float32).reshape(23, 2)
    ours = ImageDataGenerator().flow((x, misc), y, batch_size=6, shuffle=False)
    theirs = keras_idg().flow((x, misc), y, batch_size=6, shuffle=False)
    for (bx, by), (kx, ky) in zip(_batches(ours), [theirs[i] for i in range(len(theirs))]):
        assert isinstance(bx, list) and len(bx) == 2
        _assert_same(bx, kx)
        np.testing.assert_array_equal(by, ky)
    several = ImageDataGenerator().flow((x, [misc, misc * 2]), y, batch_size=6, shuffle=False)
    (bx, _) = several[1]
    assert len(bx) == 3
    np.testing.assert_array_equal(bx[2], misc[6:12] * 2)


def test_flow_equals_keras(arrays, keras_idg):
    x, y, w = arrays
    xf = x.astype(np.float32)
    for kwargs in (dict(rescale=1 / 127.5), dict(samplewise_center=True, samplewise_std_normalization=True), {}):
        ours = ImageDataGenerator(**kwargs).flow(xf, y, batch_size=7, shuffle=False, sample_weight=w)
        theirs = keras_idg(**kwargs).flow(xf, y, batch_size=7, shuffle=False, sample_weight=w)
        assert len(ours) == len(theirs)
        for a, b in zip(_batches(ours), [theirs[i] for i in range(len(theirs))]):
            assert len(a) == len(b) == 3
            np.testing.assert_allclose(a[0], b[0], rtol=1e-6, atol=1e-6)
            np.testing.assert_array_equal(a[1], b[1])
            np.testing.assert_array_equal(a[2], b[2])


@pytest.mark.parametrize("seed", [0, 5, None])
def test_flow_subsets_are_disjoint_complete_and_stratified(arrays, seed):
    x, y, w = arrays
    gen = ImageDataGenerator(validation_split=0.3)
    ids = np.arange(23)  # labels carry the sample id: y = id, stratified by the class in `y`
    train = gen.flow(x, y, batch_size=50, shuffle=False, sample_weight=ids.astype(np.float32), subset="training",
                     seed=seed)
    val = gen.flow(x, y, batch_size=50, shuffle=False, sample_weight=ids.astype(np.float32), subset="validation",
                   seed=seed)
    _, ty, tid = train[0]
    vx, vy, vid = val[0]
    assert not set(tid.tolist()) & set(vid.tolist())
    assert sorted(tid.tolist() + vid.tolist()) == list(range(23))
    for c in range(3):
        assert int((vy == c).sum()) == round(int((y == c).sum()) * 0.3)
    np.testing.assert_array_equal(vy, y[vid.astype(int)])
    np.testing.assert_array_equal(vx, x[vid.astype(int)].astype(np.float32))
    # one-hot labels are stratified the same way
    val_onehot = gen.flow(x, np.eye(3)[y], batch_size=50, shuffle=False, subset="validation", seed=seed)
    np.testing.assert_array_equal(val_onehot[0][1].argmax(1), vy)


def test_flow_validation_subset_is_never_augmented(arrays):
    """Needs working flips (cnnkit/data/augment.py)."""
    x, y, _ = arrays
    gen = ImageDataGenerator(validation_split=0.4, horizontal_flip=True, vertical_flip=True)
    ids = np.arange(23)
    val = gen.flow(x, ids, batch_size=50, shuffle=False, subset="validation", seed=3, ignore_class_split=True)
    vx, vid = val[0]
    assert len(vid) == round(23 * 0.4)  # ignore_class_split: a plain random split (ids are not classes)
    np.testing.assert_array_equal(vx, x[vid].astype(np.float32))
    train = gen.flow(x, ids, batch_size=50, shuffle=False, subset="training", seed=3, ignore_class_split=True)
    tx, tid = train[0]
    assert not np.array_equal(tx, x[tid].astype(np.float32))  # some of 14 images flipped


def test_flow_subset_errors_and_class_split(arrays):
    x, y, _ = arrays
    with pytest.raises(ValueError, match="validation_split"):
        ImageDataGenerator().flow(x, y, subset="validation")
    with pytest.raises(ValueError, match="subset must be"):
        ImageDataGenerator(validation_split=0.2).flow(x, y, subset="valid")
    rare = y.copy()
    rare[0] = 7  # one sample of class 7: it cannot be in both subsets
    with pytest.raises(ValueError, match="ignore_class_split"):
        ImageDataGenerator(validation_split=0.2).flow(x, rare, subset="validation", seed=1)
    it = ImageDataGenerator(validation_split=0.2).flow(x, rare, subset="validation", seed=1,
                                                       ignore_class_split=True)
    assert it.n == round(23 * 0.2)  # not stratified then


def test_flow_errors(arrays):
    x, y, w = arrays
    gen = ImageDataGenerator()
    with pytest.raises(ValueError, match="rank-4"):
        gen.flow(x[0], y)
    with pytest.raises(ValueError, match="same length"):
        gen.flow(x, y[:-1])
    with pytest.raises(ValueError, match="sample_weight"):
        gen.flow(x, y, sample_weight=w[:3])
    with pytest.raises(TypeError, match="Did you mean 'batch_size'"):
        gen.flow(x, y, batchsize=4)


def test_flow_channels_first(arrays):
    x, y, _ = arrays
    chw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    it = ImageDataGenerator(data_format="channels_first").flow(chw, y, batch_size=4, shuffle=False)
    bx, _ = it[0]
    assert bx.shape == (4, 3, 6, 5)
    np.testing.assert_array_equal(bx, chw[:4].astype(np.float32))


# ---- flow_from_dataframe -----------------------------------------------------------------------------------------
@pytest.fixture
def table(tmp_path):
    """10 PNGs (sizes 6..16) in tmp_path/'img', and a DataFrame describing them with every kind of label."""
    rng = np.random.default_rng(11)
    folder = tmp_path / "img"
    folder.mkdir()
    names = [f"f{i:02d}.png" for i in range(10)]
    for name in names:
        h, w = (int(v) for v in rng.integers(6, 17, 2))
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / name)
    df = pd.DataFrame({
        "filename": names,
        "class": ["cat", "dog", "eel", "cat", "dog", "cat", "eel", "dog", "cat", "cat"],
        "pair": ["no", "yes"] * 5,
        "tags": [["cat"], ["dog", "eel"], ["eel"], ["cat", "dog"], ["dog"], ["cat"], ["eel", "cat"], ["dog"],
                 ["cat", "dog", "eel"], ["cat"]],
        "value": rng.uniform(-1, 1, 10).astype(np.float64),
        "count": np.arange(10, dtype=np.int64) * 3,
        "weight": rng.uniform(0.1, 1.0, 10),
    })
    return str(folder), df


def _both(keras_idg, folder, df, **kwargs):
    kwargs = dict(dict(target_size=(8, 9), batch_size=4, shuffle=False), **kwargs)
    ours = ImageDataGenerator(rescale=1 / 255).flow_from_dataframe(df, folder, **kwargs)
    theirs = keras_idg(rescale=1 / 255).flow_from_dataframe(df, folder, **kwargs)
    return ours, theirs


@pytest.mark.parametrize("class_mode,y_col", [("categorical", "class"), ("categorical", "tags"),
                                              ("binary", "pair"), ("sparse", "class"), ("raw", "value"),
                                              ("raw", ["value", "count"]), ("multi_output", ["value", "count"]),
                                              ("input", "class"), (None, "class")])
def test_dataframe_equals_keras(keras_idg, table, class_mode, y_col, capsys):
    folder, df = table
    ours, theirs = _both(keras_idg, folder, df, y_col=y_col, class_mode=class_mode)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == out[1]
    assert ours.filenames == theirs.filenames
    assert ours.class_indices == getattr(theirs, "class_indices", {})  # Keras sets it only with classes
    assert len(ours) == len(theirs)
    if class_mode in ("categorical", "binary", "sparse") and y_col != "tags":
        assert list(ours.classes) == list(theirs.classes)
    for a, b in zip(_batches(ours), [theirs[i] for i in range(len(theirs))]):
        _assert_same(a, b)


def test_dataframe_label_values(table):
    folder, df = table
    gen = ImageDataGenerator()
    kw = dict(directory=folder, target_size=(8, 9), batch_size=10, shuffle=False)
    _, y = gen.flow_from_dataframe(df, class_mode="categorical", **kw)[0]
    np.testing.assert_array_equal(y, np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 0, 2, 1, 0, 0]])
    _, y = gen.flow_from_dataframe(df, y_col="tags", class_mode="categorical", **kw)[0]
    assert y.dtype == np.float32 and y.shape == (10, 3)
    np.testing.assert_array_equal(y[8], [1, 1, 1])
    np.testing.assert_array_equal(y[1], [0, 1, 1])
    _, y = gen.flow_from_dataframe(df, y_col="pair", class_mode="binary", **kw)[0]
    np.testing.assert_array_equal(y, [0, 1] * 5)
    _, y = gen.flow_from_dataframe(df, class_mode="sparse", **kw)[0]
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [0, 1, 2, 0, 1, 0, 2, 1, 0, 0])
    _, y = gen.flow_from_dataframe(df, y_col="value", class_mode="raw", **kw)[0]
    np.testing.assert_array_equal(y, df["value"].to_numpy())
    _, ys = gen.flow_from_dataframe(df, y_col=["value", "count"], class_mode="multi_output", **kw)[0]
    assert isinstance(ys, list) and len(ys) == 2
    np.testing.assert_array_equal(ys[1], df["count"].to_numpy())
    x = gen.flow_from_dataframe(df, class_mode=None, **kw)[0]
    assert isinstance(x, np.ndarray) and x.shape == (10, 8, 9, 3)


@pytest.mark.parametrize("class_mode,y_col", [("categorical", "class"), ("sparse", "class"), ("raw", "value"),
                                              ("binary", "pair")])
def test_dataframe_weight_col_equals_keras(keras_idg, table, class_mode, y_col):
    folder, df = table
    ours, theirs = _both(keras_idg, folder, df, y_col=y_col, class_mode=class_mode, weight_col="weight")
    for a, b in zip(_batches(ours), [theirs[i] for i in range(len(theirs))]):
        assert len(a) == len(b) == 3
        _assert_same(a[:2], b[:2])
        np.testing.assert_allclose(a[2], b[2], rtol=1e-7)  # cnnkit: float32; Keras: the column's dtype
    assert ours.sample_weight.dtype == np.float32


def test_dataframe_classes_argument_drops_other_rows(keras_idg, table):
    folder, df = table
    ours, theirs = _both(keras_idg, folder, df, classes=["eel", "dog"], class_mode="sparse")
    assert ours.class_indices == theirs.class_indices == {"eel": 0, "dog": 1}
    assert ours.filenames == theirs.filenames and len(ours.filenames) == 5
    for a, b in zip(_batches(ours), [theirs[i] for i in range(len(theirs))]):
        _assert_same(a, b)


def test_dataframe_invalid_filenames_are_dropped_with_a_warning(keras_idg, table, tmp_path, cnnkit_logs):
    folder, df = table
    (tmp_path / "img" / "readme.txt").write_text("x")
    extra = pd.DataFrame({"filename": ["missing.png", "readme.txt"], "class": ["cat", "dog"]})
    bad = pd.concat([df[["filename", "class"]], extra], ignore_index=True)
    with pytest.warns(UserWarning, match="2 invalid image filename"):
        ours = ImageDataGenerator().flow_from_dataframe(bad, folder, target_size=(8, 9), shuffle=False)
    with pytest.warns(UserWarning, match="invalid"):
        theirs = keras_idg().flow_from_dataframe(bad, folder, target_size=(8, 9), shuffle=False)
    assert ours.filenames == theirs.filenames == list(df["filename"])
    # without validation the rows are kept, and the unreadable ones are skipped (with a warning) when read
    unchecked = ImageDataGenerator().flow_from_dataframe(bad, folder, target_size=(8, 9), shuffle=False,
                                                         validate_filenames=False, batch_size=12)
    assert unchecked.samples == 12
    with cnnkit_logs.expect() as logs:
        x, y = unchecked[0]
    assert len(x) == len(y) == 10 and unchecked.skipped == 2
    messages = " ".join(logs.messages)
    assert "missing.png" in messages and "readme.txt" in messages


def test_dataframe_absolute_paths_without_directory(table):
    folder, df = table
    absolute = df.assign(filename=[os.path.join(folder, f) for f in df["filename"]])
    a = ImageDataGenerator().flow_from_dataframe(absolute, target_size=(8, 9), batch_size=10, shuffle=False)
    b = ImageDataGenerator().flow_from_dataframe(df, folder, target_size=(8, 9), batch_size=10, shuffle=False)
    _assert_same(a[0], b[0])


@pytest.mark.parametrize("seed", [1, 2, None])
def test_dataframe_subsets_are_disjoint_and_stratified(table, seed):
    folder, df = table
    plain = ImageDataGenerator(validation_split=0.4)
    augmenting = ImageDataGenerator(validation_split=0.4, horizontal_flip=True)
    kw = dict(directory=folder, target_size=(8, 9), class_mode="sparse", seed=seed)
    train = plain.flow_from_dataframe(df, subset="training", **kw)
    val = plain.flow_from_dataframe(df, subset="validation", **kw)
    assert not set(train.filenames) & set(val.filenames)
    assert sorted(train.filenames + val.filenames) == list(df["filename"])
    counts = df["class"].value_counts()
    for name, index in val.class_indices.items():
        assert int((val.classes == index).sum()) == round(counts[name] * 0.4)
    assert augmenting.flow_from_dataframe(df, subset="validation", **kw).filenames == val.filenames


def test_dataframe_reproducible_shuffle_and_a_dict_works_too(table):
    folder, df = table
    kw = dict(directory=folder, target_size=(8, 9), class_mode="sparse", batch_size=3, seed=4)
    a = _batches(ImageDataGenerator().flow_from_dataframe(df, **kw))
    b = _batches(ImageDataGenerator().flow_from_dataframe({c: list(df[c]) for c in ("filename", "class")}, **kw))
    for u, v in zip(a, b):
        _assert_same(u, v)


def test_dataframe_errors(table):
    folder, df = table
    gen = ImageDataGenerator()
    with pytest.raises(KeyError, match="x_col='path'"):
        gen.flow_from_dataframe(df, folder, x_col="path")
    with pytest.raises(KeyError, match="y_col='label'"):
        gen.flow_from_dataframe(df, folder, y_col="label")
    with pytest.raises(ValueError, match="exactly 2 classes"):
        gen.flow_from_dataframe(df, folder, class_mode="binary")
    with pytest.raises(TypeError, match="class names"):
        gen.flow_from_dataframe(df, folder, y_col="value", class_mode="sparse")
    with pytest.raises(TypeError, match="list of columns"):
        gen.flow_from_dataframe(df, folder, y_col="value", class_mode="multi_output")
    with pytest.raises(ValueError, match="Did you mean 'raw'"):
        gen.flow_from_dataframe(df, folder, class_mode="rwa")
    with pytest.raises(TypeError, match="Did you mean 'weight_col'"):
        gen.flow_from_dataframe(df, folder, weigth_col="weight")
    with pytest.raises(TypeError, match="file name"):
        gen.flow_from_dataframe(df.assign(filename=range(10)), folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gen.flow_from_dataframe(df, folder, class_mode="raw", y_col="value")  # a clean table: no warning
