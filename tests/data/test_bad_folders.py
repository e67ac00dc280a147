"""Damaged image folders (issue 20): files that cannot be images are left out at scan time, FIFOs and link loops
neither hang nor repeat samples, `predict` keeps one row per file (or names the file it cannot read), and 16-bit
PNGs read in RGB are scaled as TensorFlow decodes them instead of clipped to white."""

import os
import signal
import warnings

import numpy as np
import pytest
from PIL import Image

import cnnkit
from cnnkit.data.directory import image_file_problem, index_directory
from cnnkit.data.image_io import load_img, read_image
from cnnkit.preprocessing.image import ImageDataGenerator


@pytest.fixture
def alarm():
    """Fails a test that blocks for more than 20 s (a FIFO opened for reading would wait forever)."""
    def fail(*_):
        raise TimeoutError("blocked")
    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _png(path, seed, size=8):
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="PNG")
    return pixels


def _folder(root, per_class=3):
    for c, name in enumerate(("cats", "dogs")):
        os.makedirs(root / name)
        for i in range(per_class):
            _png(root / name / f"{i}.png", 10 * c + i)
    return root


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])  # the header is intact: only decoding fails


def test_scan_leaves_out_files_that_cannot_be_images(tmp_path, alarm, cnnkit_logs):
    root = _folder(tmp_path)
    (root / "cats" / "empty.jpg").write_bytes(b"")
    (root / "cats" / "page.jpg").write_text("<html>not found</html>")
    os.mkfifo(root / "dogs" / "pipe.png")
    os.symlink("loop2.png", root / "dogs" / "loop1.png")
    os.symlink("loop1.png", root / "dogs" / "loop2.png")
    _png(root / "dogs" / "png_named.jpg", 99)  # a PNG with a .jpg name is an image (PIL reads it by content)
    with cnnkit_logs.expect(r"Left out 5 file\(s\).*'cats/empty\.jpg' \(empty file\).*"
                            r"'cats/page\.jpg' \(not an image.*'dogs/loop1\.png' \(cannot be opened"):
        _, files, labels = index_directory(root)
    assert files == ["cats/0.png", "cats/1.png", "cats/2.png", "dogs/0.png", "dogs/1.png", "dogs/2.png",
                     "dogs/png_named.jpg"]
    np.testing.assert_array_equal(labels, [0, 0, 0, 1, 1, 1, 1])
    assert "FIFO" in image_file_problem(root / "dogs" / "pipe.png")
    # a FIFO named in a table that is not validated is refused when read, not waited on
    table = {"filename": ["cats/0.png", "dogs/pipe.png"], "class": ["cats", "dogs"]}
    unchecked = ImageDataGenerator().flow_from_dataframe(table, str(root), target_size=(8, 8), batch_size=2,
                                                         shuffle=False, validate_filenames=False, workers=1)
    with cnnkit_logs.expect(r"Skipping unreadable image .*pipe\.png.*not a regular file"):
        assert len(unchecked[0][0]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flow = ImageDataGenerator().flow_from_directory(root, target_size=(8, 8), batch_size=7, shuffle=False,
                                                        workers=1)
    x, _ = flow[0]
    assert x.shape == (7, 8, 8, 3) and flow.skipped == 0


def test_link_loop_with_follow_links_neither_hangs_nor_repeats(tmp_path, alarm):
    root = _folder(tmp_path)
    os.symlink("..", root / "cats" / "up")  # cats/up -> the root: cats/up/cats/up/...
    os.symlink(".", root / "dogs" / "self")
    os.makedirs(tmp_path.parent / f"{tmp_path.name}_more")
    _png(tmp_path.parent / f"{tmp_path.name}_more" / "extra.png", 5)
    os.symlink(tmp_path.parent / f"{tmp_path.name}_more", root / "dogs" / "more")  # a real link: followed
    _, files, _ = index_directory(root, follow_links=True)
    assert len(files) == len(set(os.path.realpath(root / f) for f in files))  # no file twice
    assert sorted(f for f in files if f.startswith("dogs")) == ["dogs/0.png", "dogs/1.png", "dogs/2.png",
                                                                "dogs/more/extra.png"]
    assert [f for f in files if f.startswith("cats")][:3] == ["cats/0.png", "cats/1.png", "cats/2.png"]
    dataset = cnnkit.utils.image_dataset_from_directory(root, image_size=(8, 8), follow_links=True, workers=1,
                                                        verbose=False)
    assert sum(len(y) for _, y in dataset) == len(files)


def _model():
    cnnkit.utils.set_random_seed(1)
    model = cnnkit.Sequential([cnnkit.Input((8, 8, 3)), cnnkit.layers.Flatten(),
                               cnnkit.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_predict_has_one_row_per_file_in_order(tmp_path):
    root = _folder(tmp_path, per_class=5)
    model = _model()
    flow = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        root, target_size=(8, 8), batch_size=4, shuffle=False, workers=1, class_mode="sparse")
    got = model.predict(flow, verbose=0)
    # oracle: the files read by PIL in `filenames` order, predicted as one array
    images = np.stack([np.asarray(Image.open(root / f).convert("RGB"), np.float32) / 255 for f in flow.filenames])
    assert got.shape == (len(flow.filenames), 2) == (len(flow.classes), 2)
    np.testing.assert_allclose(got, model.predict(images, verbose=0), rtol=1e-6)


@pytest.mark.parametrize("workers", [1, 2])
def test_predict_names_an_unreadable_file_instead_of_dropping_its_row(tmp_path, workers, cnnkit_logs):
    root = _folder(tmp_path, per_class=5)
    _truncate(root / "dogs" / "3.png")
    model = _model()
    flow = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        root, target_size=(8, 8), batch_size=4, shuffle=False, workers=workers, use_multiprocessing=False,
        class_mode="sparse")
    assert "dogs/3.png" in flow.filenames  # a valid header: kept at scan time, fails when decoded
    with cnnkit_logs.expect("Skipping unreadable image.*dogs/3.png"):
        model.evaluate(flow, verbose=0)  # fit and evaluate skip it (its label goes with it)
    assert flow.skipped_files == [os.path.join(str(root), "dogs", "3.png")]
    with pytest.raises(ValueError, match=r"Could not read the image '.*dogs/3\.png'.*predict needs one row per file"):
        model.predict(flow, verbose=0)  # also when it was found unreadable (and skipped) before
    fresh = ImageDataGenerator().flow_from_directory(root, target_size=(8, 8), batch_size=4, shuffle=False,
                                                     workers=workers, use_multiprocessing=False)
    with pytest.raises(ValueError, match=r"dogs/3\.png"):
        model.predict(fresh, verbose=0)
    with cnnkit_logs.expect("Skipping unreadable image"):
        assert fresh[2][0].shape[0] == 1  # outside predict the batch (dogs/3, dogs/4) skips it, as before
    (root / "dogs" / "3.png").unlink()
    _png(root / "dogs" / "3.png", 3)  # replaced: predict works again, one row per file
    assert model.predict(fresh, verbose=0).shape == (10, 2)


def _png16(path, gray):
    Image.fromarray(gray).save(path)  # uint16 array: PIL writes a 16-bit greyscale PNG
    assert Image.open(path).mode in ("I;16", "I")


def test_16_bit_png_in_rgb_is_scaled_like_tensorflow(tmp_path):
    import tensorflow as tf  # noqa: PLC0415 (the oracle)

    gray = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1040)  # 0 .. 65520
    path = tmp_path / "g16.png"
    _png16(path, gray)
    expected = tf.io.decode_png(path.read_bytes(), channels=3).numpy()  # uint8: 16-bit scaled down
    assert expected[..., 0].max() > 200 and not (expected == 255).all()
    np.testing.assert_array_equal(read_image(path, None, "rgb"), expected)
    np.testing.assert_array_equal(np.asarray(load_img(path)), expected)  # Keras's load_img clips to 255 here
    rgba = tf.io.decode_png(path.read_bytes(), channels=4).numpy()
    np.testing.assert_array_equal(np.asarray(load_img(path, color_mode="rgba")), rgba)
    # grayscale keeps the 16-bit values, as Keras's load_img
    np.testing.assert_array_equal(read_image(path, None, "grayscale")[..., 0], gray)
    os.makedirs(tmp_path / "folder" / "a")
    _png16(tmp_path / "folder" / "a" / "g.png", gray)
    flow = ImageDataGenerator().flow_from_directory(tmp_path / "folder", target_size=(8, 8), batch_size=1,
                                                    workers=1)
    np.testing.assert_array_equal(flow[0][0][0], expected.astype(np.float32))
