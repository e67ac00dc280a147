"""cnnkit's image file helpers (load_img / img_to_array / array_to_img / save_img / read_image) against Keras's own
`keras.utils` implementations: identical arrays on PNG files of every PIL mode, for every color_mode,
interpolation and keep_aspect_ratio."""

import contextlib
import io

import numpy as np
import pytest
from PIL import Image

from cnnkit import utils
from cnnkit.data import image_io

INTERPOLATIONS = ["nearest", "bilinear", "bicubic", "lanczos", "box", "hamming"]


@pytest.fixture(scope="module")
def pngs(tmp_path_factory):
    """PNG files in the PIL modes one meets: RGB, RGBA, L, LA, P (palette) and 16-bit grayscale (I;16)."""
    rng = np.random.default_rng(7)
    folder = tmp_path_factory.mktemp("pngs")
    paths = {}

    def save(name, img):
        paths[name] = str(folder / f"{name}.png")
        img.save(paths[name])

    save("rgb", Image.fromarray(rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)))
    save("rgba", Image.fromarray(rng.integers(0, 256, (13, 17, 4), dtype=np.uint8), "RGBA"))
    save("l", Image.fromarray(rng.integers(0, 256, (13, 17), dtype=np.uint8)))
    save("la", Image.fromarray(rng.integers(0, 256, (13, 17, 2), dtype=np.uint8), "LA"))
    save("p", Image.fromarray(rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)).convert("P"))
    save("i16", Image.fromarray(rng.integers(0, 65536, (13, 17), dtype=np.uint16)))
    assert Image.open(paths["i16"]).mode == "I;16"
    # what TensorFlow's decode_png makes of i16 in RGB (8 bits: value >> 8; tests/data/test_bad_folders.py checks
    # that against TensorFlow): cnnkit reads i16 in 'rgb' / 'rgba' as Keras reads this file (Keras clips i16)
    save("i16_as_8", Image.fromarray((np.asarray(Image.open(paths["i16"])) >> 8).astype(np.uint8)))
    assert Image.open(paths["p"]).mode == "P"
    return paths


@pytest.fixture(scope="module")
def smooth_jpeg(tmp_path_factory):
    """An 80x96 JPEG of smooth gradients and low-frequency waves (so reduced-scale decoding is comparable)."""
    yy, xx = np.mgrid[0:80, 0:96]
    pixels = np.stack([xx * 2.5, yy * 3.0, 128 + 60 * np.sin(xx / 9.0) * np.cos(yy / 7.0)], -1)
    path = tmp_path_factory.mktemp("jpeg") / "smooth.jpg"
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path, quality=95)
    return str(path)


def _both(keras, path, **kwargs):
    ours = utils.img_to_array(utils.load_img(path, **kwargs))
    if path.endswith("i16.png") and kwargs.get("color_mode", "rgb") != "grayscale":
        path = path.replace("i16.png", "i16_as_8.png")  # Keras clips 16-bit values to 255 in RGB: not followed
    theirs = keras.utils.img_to_array(keras.utils.load_img(path, **kwargs))
    return ours, theirs


@pytest.mark.parametrize("name", ["rgb", "rgba", "l", "la", "p", "i16"])
@pytest.mark.parametrize("color_mode", ["grayscale", "rgb", "rgba"])
def test_load_img_original_size_equals_keras(keras, pngs, name, color_mode):
    ours, theirs = _both(keras, pngs[name], color_mode=color_mode)
    assert ours.dtype == theirs.dtype == np.float32
    assert ours.shape == theirs.shape == (13, 17, {"grayscale": 1, "rgb": 3, "rgba": 4}[color_mode])
    np.testing.assert_array_equal(ours, theirs)
    img = utils.load_img(pngs[name], color_mode=color_mode)
    assert img.mode == keras.utils.load_img(pngs[name], color_mode=color_mode).mode
    if name == "i16" and color_mode != "grayscale":
        assert 0 < ours[..., :3].max() < 255  # not clipped to white


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("target_size", [(7, 9), (20, 11), (13, 17), (5, 30)])
@pytest.mark.parametrize("keep_aspect_ratio", [False, True])
def test_load_img_resized_equals_keras(keras, pngs, interpolation, target_size, keep_aspect_ratio):
    for name in ("rgb", "p", "i16"):
        for color_mode in ("grayscale", "rgb", "rgba"):
            kwargs = dict(color_mode=color_mode, target_size=target_size, interpolation=interpolation,
                          keep_aspect_ratio=keep_aspect_ratio)
            ours, theirs = _both(keras, pngs[name], **kwargs)
            assert ours.shape == theirs.shape == target_size + (ours.shape[-1],)
            np.testing.assert_array_equal(ours, theirs, err_msg=f"{name} {kwargs}")


def test_load_img_accepts_pathlib_and_bytesio(keras, pngs):
    import pathlib  # noqa: PLC0415

    path = pathlib.Path(pngs["rgb"])
    np.testing.assert_array_equal(utils.img_to_array(utils.load_img(path)),
                                  keras.utils.img_to_array(keras.utils.load_img(path)))
    data = path.read_bytes()
    np.testing.assert_array_equal(utils.img_to_array(utils.load_img(io.BytesIO(data), target_size=(4, 5))),
                                  keras.utils.img_to_array(keras.utils.load_img(io.BytesIO(data),
                                                                                target_size=(4, 5))))
    with pytest.raises(TypeError):
        utils.load_img(12345)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("dtype", [None, "float64", "uint8"])
def test_img_to_array_equals_keras(keras, pngs, data_format, dtype):
    for name in ("rgb", "l", "i16", "rgba"):
        img = Image.open(pngs[name])
        ours = utils.img_to_array(img, data_format=data_format, dtype=dtype)
        theirs = keras.utils.img_to_array(img, data_format=data_format, dtype=dtype)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("scale", [True, False])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_array_to_img_equals_keras(keras, channels, scale, data_format):
    rng = np.random.default_rng(channels)
    x = rng.uniform(-3, 250, (6, 5, channels)).astype(np.float32)
    if data_format == "channels_first":
        x = x.transpose(2, 0, 1)
    ours = utils.array_to_img(x, data_format=data_format, scale=scale)
    theirs = keras.utils.array_to_img(x, data_format=data_format, scale=scale)
    assert ours.mode == theirs.mode and ours.size == theirs.size == (5, 6)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_array_to_img_wide_grayscale_and_errors(keras):
    x = np.arange(30, dtype=np.float32).reshape(5, 6, 1) * 100  # max > 255, scale=False: a 32-bit 'I' image
    ours, theirs = utils.array_to_img(x, scale=False), keras.utils.array_to_img(x, scale=False)
    assert ours.mode == theirs.mode == "I"
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    flat = np.zeros((4, 4, 1), np.float32)  # all equal: scale divides by nothing
    np.testing.assert_array_equal(np.asarray(utils.array_to_img(flat)), np.asarray(keras.utils.array_to_img(flat)))
    with pytest.raises(ValueError, match="rank 3"):
        utils.array_to_img(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="channels"):
        utils.array_to_img(np.zeros((4, 4, 2)))


@pytest.mark.parametrize("channels,ext", [(3, "png"), (1, "png"), (4, "png"), (3, "bmp"), (3, "jpg"), (4, "jpg")])
def test_save_img_writes_the_same_file_as_keras(keras, tmp_path, channels, ext):
    rng = np.random.default_rng(channels)
    x = rng.uniform(0, 1, (9, 7, channels)).astype(np.float32)
    utils.save_img(str(tmp_path / f"ours.{ext}"), x)
    with pytest.warns(UserWarning) if (channels == 4 and ext == "jpg") else contextlib.nullcontext():
        keras.utils.save_img(str(tmp_path / f"keras.{ext}"), x)
    ours, theirs = Image.open(tmp_path / f"ours.{ext}"), Image.open(tmp_path / f"keras.{ext}")
    assert ours.format == theirs.format and ours.mode == theirs.mode and ours.size == (7, 9)
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_save_img_file_format_and_round_trip(keras, tmp_path):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (6, 8, 3)).astype(np.float32)
    buffer = io.BytesIO()
    utils.save_img(buffer, x, file_format="png", scale=False)
    buffer.seek(0)
    np.testing.assert_array_equal(utils.img_to_array(utils.load_img(buffer)), x)
    utils.save_img(tmp_path / "a.jpg", x, file_format="jpg", quality=100)  # 'jpg' means JPEG, kwargs go to PIL
    assert Image.open(tmp_path / "a.jpg").format == "JPEG"
    chw = x.transpose(2, 0, 1)
    utils.save_img(str(tmp_path / "chw.png"), chw, data_format="channels_first", scale=False)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "chw.png")), x.astype(np.uint8))


# ---- read_image (the iterators' decoder) ---------------------------------------------------------------------
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic", "box"])
@pytest.mark.parametrize("keep_aspect_ratio", [False, True])
def test_read_image_on_png_equals_load_img(pngs, interpolation, keep_aspect_ratio):
    for name in ("rgb", "rgba", "l", "p", "i16"):
        for color_mode in ("grayscale", "rgb", "rgba"):
            for target_size in ((7, 9), (20, 11), (13, 17)):
                array = image_io.read_image(pngs[name], target_size, color_mode, interpolation, keep_aspect_ratio)
                expected = utils.img_to_array(utils.load_img(pngs[name], color_mode, target_size, interpolation,
                                                             keep_aspect_ratio))
                assert array.ndim == 3 and array.shape == expected.shape
                assert array.dtype == (np.uint16 if name == "i16" and color_mode == "grayscale" else np.uint8)
                np.testing.assert_array_equal(array.astype(np.float32), expected)


def test_read_image_without_target_size_is_the_original(pngs):
    array = image_io.read_image(pngs["rgb"], None)
    np.testing.assert_array_equal(array, np.asarray(Image.open(pngs["rgb"])))
    assert image_io.read_image(pngs["l"], None, "grayscale").shape == (13, 17, 1)


@pytest.mark.parametrize("target_size", [(80, 96), (60, 72), (100, 50), (41, 96)])
@pytest.mark.parametrize("color_mode", ["rgb", "grayscale"])
def test_read_image_on_jpeg_not_shrunk_2x_equals_load_img(smooth_jpeg, target_size, color_mode):
    """No draft decoding unless it shrinks: the result is load_img's exactly (grayscale included: libjpeg's own
    grayscale output differs from PIL's RGB->L conversion by one level here and there)."""
    array = image_io.read_image(smooth_jpeg, target_size, color_mode, "bilinear")
    expected = utils.img_to_array(utils.load_img(smooth_jpeg, color_mode, target_size, "bilinear"))
    np.testing.assert_array_equal(array.astype(np.float32), expected)


@pytest.mark.parametrize("target_size", [(40, 48), (20, 24), (10, 12), (30, 30), (25, 40)])
@pytest.mark.parametrize("interpolation", ["bilinear", "box"])
@pytest.mark.parametrize("color_mode", ["rgb", "grayscale"])
@pytest.mark.parametrize("keep_aspect_ratio", [False, True])
def test_read_image_shrinks_jpeg_in_draft_mode_close_to_load_img(smooth_jpeg, target_size, interpolation,
                                                                 color_mode, keep_aspect_ratio):
    """A JPEG shrunk by 2x or more is decoded by libjpeg at 1/2, 1/4 or 1/8 scale (DCT scaling, PIL's draft
    mode), then resized by PIL. That is not bit-identical to decoding at full size and resizing (the DCT
    downscale filters differently, rounds at another stage, and in grayscale takes libjpeg's Y channel instead of
    PIL's RGB->L), but on a smooth image both are averaging filters over about the same pixels: measured here
    they differ by < 1.5 grey levels on average and <= 8 at worst, so the tolerance is mean < 2.5, max <= 12."""
    array = image_io.read_image(smooth_jpeg, target_size, color_mode, interpolation, keep_aspect_ratio)
    expected = utils.img_to_array(utils.load_img(smooth_jpeg, color_mode, target_size, interpolation,
                                                 keep_aspect_ratio))
    assert array.shape == expected.shape and array.dtype == np.uint8
    diff = np.abs(array.astype(np.float32) - expected)
    assert diff.mean() < 2.5 and diff.max() <= 12, (diff.mean(), diff.max())


def test_read_image_really_uses_draft_mode_for_jpeg_only(smooth_jpeg, pngs, monkeypatch):
    from PIL import JpegImagePlugin  # noqa: PLC0415

    monkeypatch.setattr(image_io, "simplejpeg", None)  # PIL's path (the fast path's scale: test_fast_jpeg_*)
    calls = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        calls.append((self.format, mode, size))
        return original(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    image_io.read_image(smooth_jpeg, (20, 24), "rgb", "bilinear")
    assert calls == [("JPEG", "RGB", (24, 20))]  # PIL's (width, height)
    image_io.read_image(smooth_jpeg, (40, 40), "grayscale", "bilinear")
    assert calls[1] == ("JPEG", "L", (40, 40))
    image_io.read_image(pngs["rgb"], (5, 6), "rgb", "bilinear")
    image_io.read_image(smooth_jpeg, None)
    image_io.read_image(smooth_jpeg, (60, 72), "grayscale", "bilinear")  # shrunk < 2x: decoded at full size
    assert len(calls) == 2
    # 'nearest' through draft averages 2x2 blocks instead of picking one pixel: not what load_img gives
    fast = image_io.read_image(smooth_jpeg, (40, 48), "rgb", "nearest")
    slow = utils.img_to_array(utils.load_img(smooth_jpeg, target_size=(40, 48)))
    assert not np.array_equal(fast.astype(np.float32), slow)


def test_read_image_pad_keeps_the_aspect_ratio_with_black_borders(tmp_path):
    Image.fromarray(np.full((10, 20, 3), 200, np.uint8)).save(tmp_path / "wide.png")
    array = image_io.read_image(tmp_path / "wide.png", (20, 20), "rgb", "nearest", "pad")
    assert array.shape == (20, 20, 3)
    np.testing.assert_array_equal(array[5:15], 200)
    np.testing.assert_array_equal(array[:5], 0)
    np.testing.assert_array_equal(array[15:], 0)


@pytest.mark.parametrize("data", [b"", b"not an image at all", None])
def test_read_image_raises_a_decode_error_for_bad_files(tmp_path, smooth_jpeg, data):
    path = tmp_path / "bad.jpg"
    if data is None:  # truncated JPEG
        with open(smooth_jpeg, "rb") as f:
            data = f.read()[:200]
    path.write_bytes(data)
    with pytest.raises(image_io.DECODE_ERRORS):
        image_io.read_image(path, (8, 8))


# ---- the fast JPEG path (libjpeg-turbo through simplejpeg) against PIL's own decoding ------------------------
@pytest.fixture(scope="module")
def jpeg_zoo(tmp_path_factory):
    """JPEGs of the kinds one meets: chroma subsampling 4:2:0 / 4:2:2 / 4:4:4, progressive, optimised Huffman
    tables, greyscale, CMYK, EXIF, odd sizes (not multiples of the 8 or 16 pixel blocks), tiny, and a
    multi-picture file (MPO). Content: smooth waves plus noise, so every DCT coefficient and rounding matters."""
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("zoo")

    def pixels(height, width):
        yy, xx = np.mgrid[0:height, 0:width]
        smooth = np.stack([xx * 250 / width, yy * 250 / height, 128 + 90 * np.sin(xx / 7) * np.cos(yy / 5)], -1)
        return (smooth + rng.normal(0, 25, (height, width, 3))).clip(0, 255).astype(np.uint8)

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 'rotate 90': neither PIL's open nor Keras's load_img applies it
    kinds = {"420": ({}, (203, 307)), "422": ({"subsampling": 1}, (203, 307)),
             "444": ({"subsampling": 0}, (203, 307)), "progressive": ({"progressive": True}, (211, 171)),
             "optimized": ({"optimize": True, "quality": 75}, (161, 243)), "q100": ({"quality": 100}, (97, 131)),
             "exif": ({"exif": exif.tobytes()}, (120, 90)), "tiny": ({}, (5, 7)), "gray": ({}, (203, 307)),
             "cmyk": ({}, (64, 80))}
    paths = {}
    for name, (options, size) in kinds.items():
        img = Image.fromarray(pixels(*size))
        img = img.convert("L") if name == "gray" else img.convert("CMYK") if name == "cmyk" else img
        paths[name] = str(folder / f"{name}.jpg")
        img.save(paths[name], "JPEG", **{"quality": 90, **options})
    paths["mpo"] = str(folder / "mpo.jpg")
    Image.fromarray(pixels(203, 307)).save(paths["mpo"], "MPO", save_all=True,
                                          append_images=[Image.fromarray(pixels(203, 307))])
    assert Image.open(paths["mpo"]).format == "MPO" and Image.open(paths["cmyk"]).mode == "CMYK"
    return paths


class _CountingSimplejpeg:
    """simplejpeg with its decode_jpeg calls counted."""

    def __init__(self, module):
        self.module, self.decoded = module, 0

    def decode_jpeg_header(self, *args, **kwargs):
        return self.module.decode_jpeg_header(*args, **kwargs)

    def decode_jpeg(self, *args, **kwargs):
        self.decoded += 1
        return self.module.decode_jpeg(*args, **kwargs)


def _pil_only(monkeypatch, call):
    with monkeypatch.context() as patch:
        patch.setattr(image_io, "simplejpeg", None)
        return call()


needs_simplejpeg = pytest.mark.skipif(image_io.simplejpeg is None, reason="simplejpeg is not installed")


@needs_simplejpeg
@pytest.mark.parametrize("name", ["420", "422", "444", "progressive", "optimized", "q100", "exif", "tiny", "gray",
                                  "cmyk", "mpo"])
@pytest.mark.parametrize("keep_aspect_ratio", [False, True, "pad"])
def test_fast_jpeg_path_gives_pils_pixels_exactly(jpeg_zoo, monkeypatch, name, keep_aspect_ratio):
    """Every size class: none, the original, shrunk < 2x, and shrunk by 2x, 4x and 8x (reduced-scale decoding),
    enlarged; every interpolation."""
    counter = _CountingSimplejpeg(image_io.simplejpeg)
    monkeypatch.setattr(image_io, "simplejpeg", counter)
    path = jpeg_zoo[name]
    original = Image.open(path).size[::-1]
    for target_size in (None, original, (150, 150), (100, 150), (50, 76), (25, 38), (13, 9), (260, 330)):
        for interpolation in ("nearest", "bilinear", "bicubic", "box", "lanczos"):
            fast = image_io.read_image(path, target_size, "rgb", interpolation, keep_aspect_ratio)
            slow = _pil_only(monkeypatch, lambda: image_io.read_image(path, target_size, "rgb", interpolation,
                                                                      keep_aspect_ratio))
            assert fast.dtype == slow.dtype == np.uint8 and fast.flags.c_contiguous == slow.flags.c_contiguous
            assert fast.shape == slow.shape == (target_size or original) + (3,)
            np.testing.assert_array_equal(fast, slow, err_msg=f"{name} {target_size} {interpolation}")
            if target_size is None:
                break
    # the fast path really ran, except for the kinds PIL must decode (CMYK; MPO, which PIL decodes without draft)
    assert (counter.decoded > 0) == (name not in ("cmyk", "mpo")), counter.decoded


@needs_simplejpeg
def test_fast_jpeg_path_is_for_rgb_jpegs_only(jpeg_zoo, pngs, monkeypatch):
    counter = _CountingSimplejpeg(image_io.simplejpeg)
    monkeypatch.setattr(image_io, "simplejpeg", counter)
    for color_mode in ("grayscale", "rgba"):  # libjpeg's own greyscale rounds differently from PIL's RGB->L
        fast = image_io.read_image(jpeg_zoo["420"], (50, 76), color_mode, "bilinear")
        slow = _pil_only(monkeypatch, lambda: image_io.read_image(jpeg_zoo["420"], (50, 76), color_mode, "bilinear"))
        np.testing.assert_array_equal(fast, slow)
    image_io.read_image(pngs["rgb"], (5, 6), "rgb")
    assert counter.decoded == 0
    image_io.read_image(jpeg_zoo["420"], (5, 6), "rgb")
    assert counter.decoded == 1


@needs_simplejpeg
@pytest.mark.parametrize("damage", ["truncated", "empty", "text", "header-only", "bad-bytes"])
@pytest.mark.parametrize("load_truncated", [False, True])
def test_fast_jpeg_path_leaves_damaged_files_to_pil(jpeg_zoo, tmp_path, monkeypatch, damage, load_truncated):
    """A damaged JPEG gets PIL's verdict: PIL's error (so the iterators skip it), or, with
    ImageFile.LOAD_TRUNCATED_IMAGES, PIL's partial image."""
    from PIL import ImageFile  # noqa: PLC0415

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", load_truncated)
    with open(jpeg_zoo["420"], "rb") as f:
        data = f.read()
    data = {"truncated": data[:len(data) // 2], "empty": b"", "text": b"not a picture", "header-only": data[:3],
            "bad-bytes": data[:600] + bytes(range(256)) * 4 + data[1624:]}[damage]
    path = tmp_path / "damaged.jpg"
    path.write_bytes(data)

    def outcome():
        try:
            return image_io.read_image(path, (50, 76), "rgb", "bilinear")
        except image_io.DECODE_ERRORS as err:
            return type(err)
    fast, slow = outcome(), _pil_only(monkeypatch, outcome)
    if isinstance(slow, type):
        assert fast is slow
    else:
        np.testing.assert_array_equal(fast, slow)
    if damage == "truncated":
        assert isinstance(slow, np.ndarray) == load_truncated


def test_nearest_index_gathers_pils_nearest_resize(rng):
    """Rows and columns gathered with `nearest_index` are PIL's NEAREST resize, pixel for pixel, shrinking and
    enlarging, odd and even sizes (the map is read off a 1-pixel-high PIL image: PIL maps each axis on its own)."""
    sizes = [(1, 1), (1, 7), (3, 2), (97, 131), (150, 150), (203, 307), (400, 100)]
    sizes += [tuple(int(v) for v in rng.integers(1, 420, 2)) for _ in range(12)]
    for height, width in sizes:
        pixels = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
        for target in ((150, 150), (1, 1), (5, 9), (height, width), (2 * height + 1, width // 2 + 1), (333, 77)):
            expected = np.asarray(Image.fromarray(pixels, "RGBA").resize(target[::-1], Image.Resampling.NEAREST))
            gathered = pixels[image_io.nearest_index(height, target[0])][:, image_io.nearest_index(width, target[1])]
            np.testing.assert_array_equal(gathered, expected, err_msg=f"{(height, width)} -> {target}")


@pytest.mark.parametrize("name", ["420", "progressive", "tiny", "gray", "cmyk", "mpo"])
def test_read_rgb_into_writes_read_images_pixels(jpeg_zoo, pngs, name):
    """The decoding workers' RGBX path: out[..., :3] is `read_image(..., 'rgb')` for every size class (fast
    JPEG gather with 'nearest', PIL otherwise), and PNGs, 16-bit too (read as 8-bit in 'rgb')."""
    path = jpeg_zoo[name]
    original = Image.open(path).size[::-1]
    for target_size in (original, (150, 150), (100, 150), (50, 76), (13, 9), (260, 330)):
        for interpolation, keep_aspect_ratio in (("nearest", False), ("nearest", True), ("bilinear", False)):
            out = np.zeros(target_size + (4,), np.uint8)
            image_io.read_rgb_into(path, out, target_size, interpolation, keep_aspect_ratio)
            expected = image_io.read_image(path, target_size, "rgb", interpolation, keep_aspect_ratio)
            np.testing.assert_array_equal(out[..., :3], expected, err_msg=f"{name} {target_size} {interpolation}")
    for png in ("rgb", "i16"):
        out = np.zeros((5, 6, 4), np.uint8)
        image_io.read_rgb_into(pngs[png], out, (5, 6))
        np.testing.assert_array_equal(out[..., :3], image_io.read_image(pngs[png], (5, 6), "rgb"))
        assert out[..., :3].any()


def test_decode_rgb_into_reports_read_images_errors(jpeg_zoo, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff not a picture")
    out = np.zeros((2, 50, 76, 4), np.uint8)
    results = image_io.decode_rgb_into([jpeg_zoo["420"], str(bad)], out, (50, 76))
    assert results[0] is None and results[1] == image_io.decode_files([str(bad)], (50, 76))[0][1]
    np.testing.assert_array_equal(out[0, ..., :3], image_io.read_image(jpeg_zoo["420"], (50, 76)))


# ---- errors --------------------------------------------------------------------------------------------------
def test_bad_color_mode_says_did_you_mean(pngs):
    with pytest.raises(ValueError, match="Did you mean 'rgb'"):
        utils.load_img(pngs["rgb"], color_mode="rbg")
    with pytest.raises(ValueError, match="Did you mean 'grayscale'"):
        utils.load_img(pngs["rgb"], color_mode="greyscale")
    with pytest.raises(ValueError, match="color_mode"):
        image_io.check_color_mode("cmyk")


def test_bad_interpolation_says_did_you_mean(pngs):
    with pytest.raises(ValueError, match="Did you mean 'bilinear'"):
        utils.load_img(pngs["rgb"], target_size=(4, 4), interpolation="bilinaer")
    with pytest.raises(ValueError, match="Did you mean 'lanczos'"):
        image_io.read_image(pngs["rgb"], (4, 4), "rgb", "lanczoz")
    with pytest.raises(ValueError, match="interpolation must be one of"):
        utils.load_img(pngs["rgb"], target_size=(4, 4), interpolation="cubic-spline")


@pytest.mark.parametrize("target_size", [(0, 4), (4,), "44", (4.0, 4), (True, 4)])
def test_bad_target_size(pngs, target_size):
    with pytest.raises(ValueError, match="target_size"):
        utils.load_img(pngs["rgb"], target_size=target_size)


def test_bad_data_format():
    with pytest.raises(ValueError, match="data_format"):
        utils.img_to_array(Image.new("RGB", (2, 2)), data_format="channels_middle")

