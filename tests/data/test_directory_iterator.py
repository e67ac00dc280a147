"""ImageDataGenerator.flow_from_directory / DirectoryIterator: folder scanning, class modes, Keras parity of the
pixels, validation splits, reproducibility, unreadable files, caching, bounded memory, threads, and training.

The Keras oracle is Keras 3's legacy `ImageDataGenerator` (keras.src.legacy.preprocessing.image), which is
tf.keras's. Trees are written into tmp_path: PNG / JPEG files of a few sizes (6-20 px) plus files and folders that
must be ignored.
"""

import os
import tracemalloc

import numpy as np
import pytest
from PIL import Image

import cnnkit
from cnnkit import utils
from cnnkit.data import image_io as image_io_module
from cnnkit.preprocessing.image import DirectoryIterator, ImageDataGenerator

TARGET = (9, 11)


def _noise(rng, height, width, channels=3):
    return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)


def make_tree(root, counts, seed=0, jpeg_every=0, junk=True):
    """A class-folder tree: counts {class: number of images}; files img00.png ... (every `jpeg_every`-th a JPEG),
    random sizes 6..20 px, random noise (so every file's pixels are unique). With junk: notes.txt, .DS_Store and
    a hidden .ipynb_checkpoints folder holding an image, in the root and in every class folder; junk='files':
    without the hidden folders (Keras would take them as a class / as images: trees compared with Keras)."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    for name, count in counts.items():
        folder = os.path.join(root, name)
        os.makedirs(folder, exist_ok=True)
        for i in range(count):
            height, width = (int(v) for v in rng.integers(6, 21, 2))
            ext = "jpg" if jpeg_every and i % jpeg_every == jpeg_every - 1 else "png"
            Image.fromarray(_noise(rng, height, width)).save(os.path.join(folder, f"img{i:02d}.{ext}"))
        if junk:
            _junk(folder, rng, junk != "files")
    if junk:
        _junk(root, rng, junk != "files")
    return str(root)


def _junk(folder, rng, hidden_folder=True):
    with open(os.path.join(folder, "notes.txt"), "w") as f:
        f.write("not an image")
    with open(os.path.join(folder, ".DS_Store"), "wb") as f:
        f.write(b"\x00\x00\x00\x01Bud1")
    if not hidden_folder:
        return
    hidden = os.path.join(folder, ".ipynb_checkpoints")
    os.makedirs(hidden, exist_ok=True)
    Image.fromarray(_noise(rng, 8, 8)).save(os.path.join(hidden, "img00-checkpoint.png"))


def expected_images(iterator, rescale=None, paths=None):
    """What each file of `iterator` (or `paths`) should give, decoded independently with cnnkit.utils.load_img
    (which equals Keras's)."""
    images = []
    for path in iterator.filepaths if paths is None else paths:
        img = utils.load_img(path, color_mode=iterator.color_mode, target_size=iterator.target_size,
                             interpolation=iterator.interpolation, keep_aspect_ratio=iterator.keep_aspect_ratio)
        x = utils.img_to_array(img)
        images.append(x * np.float32(rescale) if rescale else x)
    return np.stack(images)


def identify(batch_x, reference):
    """Index into `reference` (n, h, w, c) of every image of batch_x (exact match), or -1."""
    flat = reference.reshape(len(reference), -1)
    out = []
    for image in batch_x:
        hits = np.flatnonzero((flat == image.reshape(1, -1)).all(1))
        out.append(int(hits[0]) if len(hits) == 1 else -1)
    return out


def epoch(iterator):
    """All batches of one epoch (by index), as a list."""
    return [iterator[i] for i in range(len(iterator))]


def assert_batches_equal(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        u, v = (u, v) if isinstance(u, tuple) else ((u,), (v,))
        assert len(u) == len(v)
        for p, q in zip(u, v):
            assert p.dtype == q.dtype and p.shape == q.shape
            np.testing.assert_array_equal(p, q)


@pytest.fixture
def tree(tmp_path):
    """Classes '2' (5 images), '10' (4) and 'cat' (3), one JPEG in every 3; junk everywhere; a nested sub-folder."""
    root = make_tree(tmp_path / "tree", {"10": 4, "2": 5, "cat": 3}, jpeg_every=3)
    os.makedirs(os.path.join(root, "cat", "more"))
    Image.fromarray(_noise(np.random.default_rng(9), 12, 7)).save(os.path.join(root, "cat", "more", "img00.png"))
    return root


@pytest.fixture
def keras_tree(tmp_path):
    """PNG-only, alphabetic class names (Keras sorts classes by plain string order, cnnkit naturally)."""
    return make_tree(tmp_path / "ktree", {"ant": 4, "bee": 5, "cow": 3}, seed=1, junk="files")


@pytest.fixture(scope="module")
def keras_idg(keras):
    from keras.src.legacy.preprocessing.image import ImageDataGenerator as KerasIDG  # noqa: PLC0415

    return KerasIDG


# ---- scanning ------------------------------------------------------------------------------------------------
def test_found_message_attributes_and_natural_class_order(tree, capsys):
    it = ImageDataGenerator().flow_from_directory(tree, target_size=TARGET, batch_size=5, shuffle=False)
    assert capsys.readouterr().out == "Found 13 images belonging to 3 classes.\n"
    assert it.class_indices == {"2": 0, "10": 1, "cat": 2}
    expected = ([os.path.join("2", f"img{i:02d}.{'jpg' if i % 3 == 2 else 'png'}") for i in range(5)]
                + [os.path.join("10", f"img{i:02d}.{'jpg' if i % 3 == 2 else 'png'}") for i in range(4)]
                + [os.path.join("cat", f) for f in ("img00.png", "img01.png", "img02.jpg")]
                + [os.path.join("cat", "more", "img00.png")])
    assert it.filenames == expected
    assert it.filepaths == [os.path.join(tree, f) for f in expected]
    assert it.classes.tolist() == [0] * 5 + [1] * 4 + [2] * 4
    assert it.samples == it.n == 13
    assert it.num_classes == 3
    assert it.image_shape == (9, 11, 3)
    assert len(it) == 3
    assert not any(".ipynb_checkpoints" in f or f.endswith((".txt", ".DS_Store")) for f in it.filenames)


def test_classes_argument_and_grayscale_and_channels_first(tree, capsys):
    it = ImageDataGenerator().flow_from_directory(tree, target_size=(7, 8), classes=["cat", "2"],
                                                  color_mode="grayscale", class_mode="sparse", shuffle=False)
    assert "Found 9 images belonging to 2 classes." in capsys.readouterr().out
    assert it.class_indices == {"cat": 0, "2": 1}
    assert it.classes.tolist() == [0] * 4 + [1] * 5
    assert it.image_shape == (7, 8, 1)
    x, _ = it[0]
    assert x.shape == (9, 7, 8, 1)
    first = ImageDataGenerator(data_format="channels_first").flow_from_directory(tree, target_size=(7, 8),
                                                                                 shuffle=False)
    assert first.image_shape == (3, 7, 8)
    xf, _ = first[0]
    xl, _ = ImageDataGenerator().flow_from_directory(tree, target_size=(7, 8), shuffle=False)[0]
    np.testing.assert_array_equal(xf, xl.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("class_mode", ["categorical", "binary", "sparse", "input", None])
def test_next_shapes_and_dtypes_for_every_class_mode(tmp_path, class_mode):
    counts = {"a": 3, "b": 4} if class_mode == "binary" else {"a": 3, "b": 4, "c": 2}
    root = make_tree(tmp_path / "t", counts)
    it = ImageDataGenerator(rescale=1 / 255).flow_from_directory(root, target_size=TARGET, class_mode=class_mode,
                                                                 batch_size=4, shuffle=False)
    n = sum(counts.values())
    batches = [next(it) for _ in range(len(it))]
    sizes = [len(b[0] if isinstance(b, tuple) else b) for b in batches]
    assert sizes == [4] * (n // 4) + ([n % 4] if n % 4 else [])
    for batch in batches:
        x = batch[0] if isinstance(batch, tuple) else batch
        assert x.dtype == np.float32 and x.shape[1:] == (9, 11, 3) and 0 <= x.min() and x.max() <= 1
    if class_mode is None:
        assert not isinstance(batches[0], tuple)
        return
    assert len(batches[0]) == 2
    y = np.concatenate([b[1] for b in batches])
    assert y.dtype == np.float32
    if class_mode == "categorical":
        assert y.shape == (n, 3)
        np.testing.assert_array_equal(y, np.eye(3, dtype=np.float32)[it.classes])
    elif class_mode in ("binary", "sparse"):
        assert y.shape == (n,)
        np.testing.assert_array_equal(y, it.classes.astype(np.float32))
    else:  # input: the images themselves, a separate copy
        x, target = batches[0]
        np.testing.assert_array_equal(x, target)
        assert not np.shares_memory(x, target)


def test_next_wraps_around_into_a_new_epoch(tree):
    it = ImageDataGenerator().flow_from_directory(tree, target_size=TARGET, batch_size=5, class_mode="sparse", seed=3)
    first = [next(it)[1] for _ in range(3)]
    assert it.epoch == 1 and it.batch_index == 0
    second = [next(it)[1] for _ in range(3)]
    assert sorted(np.concatenate(first).tolist()) == sorted(np.concatenate(second).tolist())
    it.reset()
    assert it.batch_index == 0


# ---- Keras parity ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("class_mode", ["categorical", "binary", "sparse", "input", None])
@pytest.mark.parametrize("color_mode", ["rgb", "grayscale", "rgba"])
def test_pixels_and_labels_equal_keras(keras_idg, tmp_path, class_mode, color_mode, capsys):
    counts = {"ant": 4, "bee": 5} if class_mode == "binary" else {"ant": 4, "bee": 5, "cow": 3}
    root = make_tree(tmp_path / "k", counts, seed=2, jpeg_every=4, junk="files")  # JPEGs not shrunk 2x: exact too
    kwargs = dict(target_size=TARGET, color_mode=color_mode, class_mode=class_mode, batch_size=4, shuffle=False)
    theirs = keras_idg(rescale=1 / 255.0).flow_from_directory(root, **kwargs)
    ours = ImageDataGenerator(rescale=1 / 255.0).flow_from_directory(root, **kwargs)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == out[1]
    assert ours.filenames == theirs.filenames and ours.class_indices == theirs.class_indices
    assert ours.classes.tolist() == theirs.classes.tolist() and ours.image_shape == theirs.image_shape
    assert len(ours) == len(theirs)
    assert_batches_equal(epoch(ours), [theirs[i] for i in range(len(theirs))])


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic", "lanczos"])
@pytest.mark.parametrize("keep_aspect_ratio", [False, True])
def test_interpolations_and_aspect_ratio_equal_keras(keras_idg, keras_tree, interpolation, keep_aspect_ratio):
    kwargs = dict(target_size=(14, 10), class_mode="sparse", batch_size=5, shuffle=False,
                  interpolation=interpolation, keep_aspect_ratio=keep_aspect_ratio)
    theirs = keras_idg().flow_from_directory(keras_tree, **kwargs)
    ours = ImageDataGenerator().flow_from_directory(keras_tree, **kwargs)
    assert_batches_equal(epoch(ours), [theirs[i] for i in range(len(theirs))])


def test_unshuffled_batches_follow_filenames_and_classes(tree):
    it = ImageDataGenerator(rescale=0.5).flow_from_directory(tree, target_size=TARGET, class_mode="sparse",
                                                             batch_size=5, shuffle=False)
    xs, ys = zip(*epoch(it))
    np.testing.assert_array_equal(np.concatenate(xs), expected_images(it, rescale=0.5))
    np.testing.assert_array_equal(np.concatenate(ys), it.classes)


# ---- validation split ------------------------------------------------------------------------------------------
@pytest.fixture
def split_tree(tmp_path):
    return make_tree(tmp_path / "split", {"a": 10, "b": 7, "c": 4, "d": 1}, seed=4, junk=False)


@pytest.mark.parametrize("seed", [0, 1, 7, 12345, None])
def test_split_is_disjoint_complete_and_stratified(split_tree, seed):
    plain = ImageDataGenerator(validation_split=0.3)
    augmenting = ImageDataGenerator(validation_split=0.3, horizontal_flip=True, vertical_flip=True, rescale=1 / 255)
    kw = dict(target_size=TARGET, seed=seed)
    train = plain.flow_from_directory(split_tree, subset="training", **kw)
    val = plain.flow_from_directory(split_tree, subset="validation", **kw)
    everything = plain.flow_from_directory(split_tree, **kw)
    assert not set(train.filenames) & set(val.filenames)
    assert sorted(train.filenames + val.filenames) == sorted(everything.filenames)
    counts = {"a": 10, "b": 7, "c": 4, "d": 1}
    for name, index in val.class_indices.items():
        assert int((val.classes == index).sum()) == round(counts[name] * 0.3)
        assert int((train.classes == index).sum()) == counts[name] - round(counts[name] * 0.3)
    # the split depends only on the files, the fraction and the seed: not on the augmentation settings
    assert augmenting.flow_from_directory(split_tree, subset="validation", **kw).filenames == val.filenames
    assert augmenting.flow_from_directory(split_tree, subset="training", **kw).filenames == train.filenames
    # subsets keep the order of `filenames`, and labels stay with their files
    assert train.filenames == [f for f in everything.filenames if f in set(train.filenames)]
    assert [f.split(os.sep)[0] for f in val.filenames] == [list(val.class_indices)[c] for c in val.classes]


def test_different_seeds_give_different_splits(split_tree):
    gen = ImageDataGenerator(validation_split=0.3)
    splits = {tuple(gen.flow_from_directory(split_tree, target_size=TARGET, subset="validation",
                                            seed=seed).filenames) for seed in range(6)}
    assert len(splits) > 1


def test_validation_subset_is_never_augmented(tmp_path):
    """Needs working flips (cnnkit/data/augment.py)."""
    root = make_tree(tmp_path / "aug", {"a": 6, "b": 6}, seed=5, junk=False)
    kw = dict(target_size=(10, 10), class_mode="sparse", batch_size=4, seed=11)
    gen = ImageDataGenerator(validation_split=0.5, horizontal_flip=True, vertical_flip=True)
    val = gen.flow_from_directory(root, subset="validation", shuffle=False, **kw)
    xs, ys = zip(*epoch(val))
    np.testing.assert_array_equal(np.concatenate(xs), expected_images(val))
    np.testing.assert_array_equal(np.concatenate(ys), val.classes)
    # ... while the training subset is: every image is the original or one of its flips, and some are flipped
    train = gen.flow_from_directory(root, subset="training", shuffle=False, **kw)
    reference = expected_images(train)
    seen = set()
    for _ in range(3):
        for (x, _), start in zip(epoch(train), [0, 4]):
            for image, ref in zip(x, reference[start:]):
                variants = [ref, ref[:, ::-1], ref[::-1], ref[::-1, ::-1]]
                match = [k for k, v in enumerate(variants) if np.array_equal(image, v)]
                assert match, "an augmented image is not a flip of its file"
                seen.add(match[0])
        train.on_epoch_end()
    assert len(seen) >= 3  # 18 draws: the original and most flips occur


# ---- reproducibility ---------------------------------------------------------------------------------------------
def test_same_seed_same_batches_and_new_order_each_epoch(tree):
    def make():
        return ImageDataGenerator().flow_from_directory(tree, target_size=TARGET, class_mode="sparse",
                                                        batch_size=4, seed=42)

    a, b = make(), make()
    first_a, first_b = epoch(a), epoch(b)
    assert_batches_equal(first_a, first_b)
    reference = expected_images(make_unshuffled(tree))
    order = [i for x, _ in first_a for i in identify(x, reference)]
    assert sorted(order) == list(range(13))
    assert order != list(range(13))  # shuffled
    a.on_epoch_end()
    b.on_epoch_end()
    second_a = epoch(a)
    assert_batches_equal(second_a, epoch(b))
    order2 = [i for x, _ in second_a for i in identify(x, reference)]
    assert sorted(order2) == list(range(13)) and order2 != order
    other = ImageDataGenerator().flow_from_directory(tree, target_size=TARGET, class_mode="sparse", batch_size=4,
                                                     seed=43)
    assert [i for x, _ in epoch(other) for i in identify(x, reference)] != order


def make_unshuffled(root, **kwargs):
    return ImageDataGenerator().flow_from_directory(root, target_size=TARGET, shuffle=False, **kwargs)


def test_unseeded_order_follows_the_global_seed(tree):
    def order():
        utils.set_random_seed(5)
        it = ImageDataGenerator().flow_from_directory(tree, target_size=TARGET, class_mode="sparse", batch_size=13)
        return it[0][1].tolist()

    assert order() == order()


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_workers_give_identical_batches(tree, workers):
    kw = dict(target_size=TARGET, class_mode="categorical", batch_size=4, seed=8)
    reference = epoch(ImageDataGenerator(rescale=1 / 255).flow_from_directory(tree, workers=0, **kw))
    it = ImageDataGenerator(rescale=1 / 255).flow_from_directory(tree, workers=workers, **kw)
    assert it.workers == workers
    assert_batches_equal(epoch(it), reference)
    it.close()


def test_workers_give_identical_augmented_batches(tree):
    """Needs working flips (cnnkit/data/augment.py): the augmentation of a batch depends on (seed, epoch, batch),
    not on the thread that decoded it."""
    kw = dict(target_size=TARGET, class_mode="sparse", batch_size=4, seed=8)
    gen = ImageDataGenerator(horizontal_flip=True, vertical_flip=True)
    assert_batches_equal(epoch(gen.flow_from_directory(tree, workers=0, **kw)),
                         epoch(gen.flow_from_directory(tree, workers=2, **kw)))


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_workers_give_identical_warped_batches(tree, interpolation):
    """The worker processes' RGBX path for warped 'rgb' batches (JPEGs gathered from libjpeg-turbo's RGBX output,
    the rest through PIL) gives the in-process batches bit for bit."""
    kw = dict(target_size=TARGET, class_mode="sparse", batch_size=4, seed=8, interpolation=interpolation)
    gen = ImageDataGenerator(rescale=1 / 255, rotation_range=20, zoom_range=0.2, horizontal_flip=True,
                             vertical_flip=True)
    assert_batches_equal(epoch(gen.flow_from_directory(tree, workers=0, **kw)),
                         epoch(gen.flow_from_directory(tree, workers=2, **kw)))


# ---- unreadable files ----------------------------------------------------------------------------------------------
@pytest.fixture
def corrupt_tree(tmp_path):
    root = make_tree(tmp_path / "bad", {"a": 4, "b": 4}, seed=6, junk=False)
    good = os.path.join(root, "b", "img00.png")
    Image.fromarray(_noise(np.random.default_rng(1), 40, 40)).save(tmp_path / "big.jpg", quality=90)
    with open(tmp_path / "big.jpg", "rb") as f:
        data = f.read()
    with open(os.path.join(root, "a", "truncated.jpg"), "wb") as f:
        f.write(data[:len(data) // 3])
    with open(os.path.join(root, "b", "text.png"), "w") as f:
        f.write("this is not a PNG\n" * 10)
    open(os.path.join(root, "b", "empty.jpg"), "wb").close()
    assert os.path.exists(good)
    return root


BAD = {os.path.join("a", "truncated.jpg")}  # a valid header: found unreadable only when decoded
NOT_IMAGES = {os.path.join("b", "text.png"), os.path.join("b", "empty.jpg")}  # left out when scanned


@pytest.mark.parametrize("workers", [0, 2])
def test_unreadable_files_are_skipped_with_one_warning_each(corrupt_tree, workers, cnnkit_logs):
    with cnnkit_logs.expect(r"Left out 2 file\(s\).*b/empty\.jpg.*b/text\.png"):
        it = ImageDataGenerator().flow_from_directory(corrupt_tree, target_size=TARGET, class_mode="sparse",
                                                      batch_size=4, shuffle=False, workers=workers)
    assert not NOT_IMAGES & set(it.filenames)
    assert it.samples == 9 and len(it) == 3  # the truncated file: unknown until read
    with cnnkit_logs.expect() as logs:
        batches = epoch(it)
    messages = [m for m in logs.messages if "unreadable" in m]
    assert len(messages) == 1  # one clean log line per file (no source path), not a Python warning
    for bad in BAD:
        assert sum(os.path.join(corrupt_tree, bad) in m for m in messages) == 1
    assert it.skipped == 1
    assert sorted(it.skipped_files) == sorted(os.path.join(corrupt_tree, b) for b in BAD)
    sizes = [len(x) for x, _ in batches]
    assert sum(sizes) == 8 and max(sizes) <= 4
    good = [i for i, f in enumerate(it.filenames) if f not in BAD]
    reference = expected_images(it, paths=[it.filepaths[i] for i in good])
    xs, ys = zip(*batches)
    np.testing.assert_array_equal(np.concatenate(xs), reference)  # the readable files, in order
    np.testing.assert_array_equal(np.concatenate(ys), it.classes[good])
    # a new iterator: the file named once, then counted at the end of the epoch; later epochs are quiet
    with cnnkit_logs.expect("Left out"):
        shuffled = ImageDataGenerator().flow_from_directory(corrupt_tree, target_size=TARGET, batch_size=4, seed=1,
                                                            workers=workers)
    with cnnkit_logs.expect() as logs:
        for _ in range(len(shuffled)):
            next(shuffled)
    assert [m.split(" (")[0] for m in logs.messages] == ["Skipping unreadable image '" + os.path.join(
        corrupt_tree, "a", "truncated.jpg") + "'", "1 unreadable image(s) skipped this epoch"]
    with cnnkit_logs.expect() as logs:
        total = sum(len(next(shuffled)[0]) for _ in range(len(shuffled)))
    assert logs.messages == []  # a file already known to be unreadable is left out without a word
    assert total == 8 and shuffled.skipped == 1


@pytest.mark.filterwarnings("ignore:Left out")
def test_a_batch_of_only_unreadable_files_borrows_a_readable_one(corrupt_tree, cnnkit_logs):
    it = ImageDataGenerator().flow_from_directory(corrupt_tree, target_size=TARGET, class_mode="sparse",
                                                  batch_size=1, shuffle=False)
    bad_index = it.filenames.index(os.path.join("a", "truncated.jpg"))
    with cnnkit_logs.expect("truncated.jpg"):
        x, y = it[bad_index]
    assert x.shape == (1, 9, 11, 3) and y.shape == (1,)


@pytest.mark.filterwarnings("ignore:Left out")
def test_on_error_raise_names_the_file(corrupt_tree):
    it = ImageDataGenerator().flow_from_directory(corrupt_tree, target_size=TARGET, batch_size=4, shuffle=False,
                                                  on_error="raise")
    with pytest.raises(ValueError, match="truncated.jpg"):
        epoch(it)
    with pytest.raises(ValueError, match="on_error"):
        ImageDataGenerator().flow_from_directory(corrupt_tree, on_error="ignore")


# ---- cache ------------------------------------------------------------------------------------------------------
def _count_reads(monkeypatch):
    calls = []
    original = image_io_module.read_image

    def counting(path, *args, **kwargs):
        calls.append(path)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(image_io_module, "read_image", counting)
    return calls


def test_cache_gives_identical_batches_and_reads_each_file_once(tree, monkeypatch):
    # threads, so that the counting read_image is the one the decoding workers call
    kw = dict(target_size=TARGET, class_mode="sparse", batch_size=4, seed=2, use_multiprocessing=False)
    plain = ImageDataGenerator(rescale=1 / 255).flow_from_directory(tree, **kw)
    cached = ImageDataGenerator(rescale=1 / 255).flow_from_directory(tree, cache=True, **kw)
    calls = _count_reads(monkeypatch)
    assert_batches_equal(epoch(cached), epoch(plain))
    assert len(calls) == 2 * 13
    plain.on_epoch_end()
    cached.on_epoch_end()
    calls.clear()
    second = epoch(cached)
    assert calls == []  # nothing reopened
    assert_batches_equal(second, epoch(plain))


def test_cache_survives_the_folder_being_deleted(tmp_path):
    import shutil  # noqa: PLC0415

    root = make_tree(tmp_path / "gone", {"a": 3, "b": 3}, seed=3)
    it = ImageDataGenerator().flow_from_directory(root, target_size=TARGET, batch_size=4, seed=0, cache=True)
    first = np.concatenate([x for x, _ in epoch(it)])
    shutil.rmtree(root)
    it.on_epoch_end()
    second = np.concatenate([x for x, _ in epoch(it)])
    assert it.skipped == 0
    assert sorted(first.reshape(6, -1).tolist()) == sorted(second.reshape(6, -1).tolist())


def test_cache_budget_keeps_only_what_fits(tmp_path, monkeypatch):
    root = make_tree(tmp_path / "budget", {"a": 5, "b": 5}, seed=3, junk=False)
    image_bytes = 9 * 11 * 3  # uint8, as decoded
    it = ImageDataGenerator().flow_from_directory(root, target_size=TARGET, batch_size=3, shuffle=False,
                                                  cache=4 * image_bytes + 10, workers=0)
    calls = _count_reads(monkeypatch)
    first = epoch(it)
    assert len(calls) == 10
    calls.clear()
    it.on_epoch_end()
    assert_batches_equal(epoch(it), first)
    assert len(calls) == 10 - 4  # four images fit in the budget; the rest are read again
    with pytest.raises(ValueError, match="cache"):
        ImageDataGenerator().flow_from_directory(root, cache=-1)


# ---- memory ----------------------------------------------------------------------------------------------------
def _write_folder(root, n, size=128):
    rng = np.random.default_rng(n)
    for c in ("a", "b"):
        os.makedirs(os.path.join(root, c), exist_ok=True)
    for i in range(n):
        Image.fromarray(_noise(rng, size, size)).save(os.path.join(root, "ab"[i % 2], f"{i:04d}.png"),
                                                      compress_level=0)
    return str(root)


def _peak_over_two_epochs(root, cache=False):
    it = ImageDataGenerator().flow_from_directory(root, target_size=(128, 128), batch_size=8, seed=0, workers=2,
                                                  cache=cache)
    tracemalloc.start()  # before the first batch: a cache is allocated when the first image arrives
    try:
        for _ in range(2 * len(it)):
            next(it)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        it.close()


def test_streaming_memory_does_not_grow_with_the_folder(tmp_path):
    """Without cache the iterator keeps no decoded image: the traced peak over two epochs (numpy memory: the
    decoded uint8 images and their stacked batch, about 0.8 MB here; the float batch is torch's and not traced)
    does not depend on the folder size. One image is 48 KB decoded, so keeping them would add 2.4 MB for 50
    files and 7.2 MB for 150 (the cache=True check below)."""
    small = _write_folder(tmp_path / "small", 50)
    large = _write_folder(tmp_path / "large", 150)
    peak_small, peak_large = _peak_over_two_epochs(small), _peak_over_two_epochs(large)
    assert peak_large < 1.3 * peak_small + 512 * 1024, (peak_small, peak_large)
    # the measurement does see retained images: with cache=True the peak grows with the folder
    cached_small, cached_large = _peak_over_two_epochs(small, True), _peak_over_two_epochs(large, True)
    assert cached_large - cached_small > 3 * 1024 * 1024, (cached_small, cached_large)


# ---- training ----------------------------------------------------------------------------------------------------
def test_fit_and_predict_with_directory_iterators(tmp_path):
    root = make_tree(tmp_path / "fit", {"a": 6, "b": 6, "c": 5}, seed=8)
    gen = ImageDataGenerator(rescale=1 / 255, validation_split=0.25)
    kw = dict(target_size=(12, 12), class_mode="sparse", batch_size=4, seed=1)
    train = gen.flow_from_directory(root, subset="training", **kw)
    val = gen.flow_from_directory(root, subset="validation", **kw)
    model = cnnkit.Sequential([cnnkit.Input((12, 12, 3)), cnnkit.layers.Conv2D(4, 3, activation="relu"),
                               cnnkit.layers.GlobalAveragePooling2D(), cnnkit.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, steps_per_epoch=len(train), validation_steps=len(val),
                        epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and len(history.history["val_loss"]) == 2
    assert all(np.isfinite(history.history["loss"]))
    everything = ImageDataGenerator(rescale=1 / 255).flow_from_directory(root, target_size=(12, 12),
                                                                         class_mode=None, batch_size=5, shuffle=False)
    predictions = model.predict(everything, verbose=0)
    assert predictions.shape == (len(everything.filenames), 3)
    labelled = ImageDataGenerator(rescale=1 / 255).flow_from_directory(root, target_size=(12, 12),
                                                                       class_mode="sparse", batch_size=5,
                                                                       shuffle=False)
    np.testing.assert_allclose(model.predict(labelled, verbose=0), predictions, rtol=1e-5, atol=1e-6)


# ---- errors ------------------------------------------------------------------------------------------------------
def test_errors(tree, tmp_path):
    gen = ImageDataGenerator()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        gen.flow_from_directory(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="is a file, not a folder"):
        gen.flow_from_directory(os.path.join(tree, "cat", "img00.png"))
    with pytest.raises(ValueError, match="Did you mean 'sparse'"):
        gen.flow_from_directory(tree, class_mode="spars")
    with pytest.raises(ValueError, match="Did you mean 'categorical'"):
        gen.flow_from_directory(tree, class_mode="categorial")
    with pytest.raises(ValueError, match="subset must be"):
        ImageDataGenerator(validation_split=0.2).flow_from_directory(tree, subset="test")
    with pytest.raises(ValueError, match="validation_split"):
        gen.flow_from_directory(tree, subset="validation")
    with pytest.warns(UserWarning, match="all images are used for training"):  # as Keras: no split, all
        assert gen.flow_from_directory(tree, subset="training").samples == 13
    with pytest.raises(TypeError, match="Did you mean 'class_mode'"):
        gen.flow_from_directory(tree, clas_mode="sparse")
    with pytest.raises(TypeError, match="Did you mean 'target_size'"):
        gen.flow_from_directory(tree, target_sise=(4, 4))
    with pytest.raises(FileNotFoundError, match="dog"):
        gen.flow_from_directory(tree, classes=["cat", "dog"])
    with pytest.raises(ValueError, match="Did you mean 'rgb'"):
        gen.flow_from_directory(tree, color_mode="rbg")
    with pytest.raises(ValueError, match="Did you mean 'bilinear'"):
        gen.flow_from_directory(tree, interpolation="bilinar")
    with pytest.raises(ValueError, match="batch_size"):
        gen.flow_from_directory(tree, batch_size=0)
    with pytest.raises(ValueError, match="validation_split"):
        ImageDataGenerator(validation_split=1.5)
    it = gen.flow_from_directory(tree, target_size=TARGET, batch_size=5)
    with pytest.raises(IndexError):
        it[3]
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    empty_it = gen.flow_from_directory(str(empty), target_size=TARGET)
    assert empty_it.samples == 0 and len(empty_it) == 0
    with pytest.raises(ValueError, match="no samples"):
        next(empty_it)


def test_directory_iterator_constructed_directly(tree):
    it = DirectoryIterator(tree, None, target_size=TARGET, class_mode="binary", classes=["2", "10"],
                           shuffle=False, batch_size=9)
    x, y = it[0]
    assert x.dtype == np.float32 and x.max() > 1  # no generator: raw 0..255 floats
    np.testing.assert_array_equal(y, [0] * 5 + [1] * 4)


@pytest.mark.parametrize("generator_kw", [dict(rescale=1 / 255), dict(), dict(rescale=0.5, samplewise_center=True)])
def test_cached_rows_converted_in_place_equal_the_plain_batches(tree, monkeypatch, generator_kw):
    """Cached epochs convert each cached row straight into the float batch (rows of 64 KB and more; the threshold
    is lowered here for the small test images): the numbers equal the uncached iterator's, bit for bit."""
    from cnnkit.data import iterators as iterators_module  # noqa: PLC0415

    monkeypatch.setattr(iterators_module, "ROW_COPY_BYTES", 0)
    kw = dict(target_size=TARGET, class_mode="categorical", batch_size=4, seed=3, use_multiprocessing=False)
    plain = ImageDataGenerator(**generator_kw).flow_from_directory(tree, **kw)
    cached = ImageDataGenerator(**generator_kw).flow_from_directory(tree, cache=True, **kw)
    epoch(cached)
    plain.on_epoch_end()
    cached.on_epoch_end()
    assert_batches_equal(epoch(cached), epoch(plain))


def test_flow_rows_converted_in_place_equal_numpy():
    """flow(x) on large uint8 images: each batch is x[indices] * float32(rescale), as numpy computes it."""
    x = np.random.default_rng(0).integers(0, 256, (10, 150, 150, 3), dtype=np.uint8)
    it = ImageDataGenerator(rescale=1 / 255).flow(x, np.arange(10), batch_size=4, shuffle=True, seed=5)
    for i in range(len(it)):
        batch, labels = it[i]
        assert batch.dtype == np.float32
        np.testing.assert_array_equal(batch, x[labels] * np.float32(1 / 255))


@pytest.mark.parametrize("threads", [1, 3])
def test_flow_rows_split_between_threads_equal_numpy(monkeypatch, threads):
    """Large batches are converted by several threads, each writing its own block of rows: same numbers."""
    from cnnkit.data import iterators as iterators_module  # noqa: PLC0415

    monkeypatch.setattr(iterators_module, "ROW_THREADS", threads)
    monkeypatch.setattr(iterators_module, "PARALLEL_BYTES", 0)
    x = np.random.default_rng(1).integers(0, 256, (11, 150, 160, 3), dtype=np.uint8)  # rows over ROW_COPY_BYTES
    it = ImageDataGenerator(rescale=1 / 127.5).flow(x, np.arange(11), batch_size=7, shuffle=True, seed=2)
    for i in range(len(it)):
        batch, labels = it[i]
        np.testing.assert_array_equal(batch, x[labels] * np.float32(1 / 127.5))


def test_rows_are_not_left_waiting_for_a_helper_thread_that_never_runs(monkeypatch):
    """A helper thread the OS does not schedule (here: the pool's only thread is busy) leaves its block of rows
    to the calling thread, which converts them too; the batch is complete and correct, with no wait."""
    import threading  # noqa: PLC0415
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    from cnnkit.data import iterators as iterators_module  # noqa: PLC0415

    blocked, release = ThreadPoolExecutor(1), threading.Event()
    blocked.submit(release.wait)
    monkeypatch.setattr(iterators_module, "ROW_THREADS", 2)
    monkeypatch.setattr(iterators_module, "PARALLEL_BYTES", 0)
    monkeypatch.setitem(iterators_module._row_pool, "pool", blocked)
    x = np.random.default_rng(4).integers(0, 256, (9, 150, 160, 3), dtype=np.uint8)  # rows over ROW_COPY_BYTES
    rows = np.array([8, 0, 3, 3, 5])
    try:
        done = threading.Event()
        result = {}

        def run():
            result["batch"] = iterators_module.transform_rows(None, x, rows, None, False, "float32")
            done.set()
        threading.Thread(target=run, daemon=True).start()
        assert done.wait(20), "transform_rows waited for a helper thread that never ran"
        np.testing.assert_array_equal(result["batch"], x[rows].astype(np.float32))
    finally:
        release.set()
        blocked.shutdown()
