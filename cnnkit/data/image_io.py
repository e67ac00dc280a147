"""Reading and writing image files: Keras's `load_img` / `img_to_array` / `array_to_img` / `save_img`, and the
fast decoder the folder iterators use (`read_image`: JPEGs decoded at reduced size when shrinking; `read_rgb_into`,
what the decoding workers of augmented batches use: the same pixels written into an RGBX block).

Images travel as numpy arrays (height, width, channels), channels last, like Keras.
"""

import functools
import io
import os
import pathlib
import stat

import numpy as np
from PIL import Image

try:
    import simplejpeg  # libjpeg-turbo without PIL's Python-side parsing: read_image's fast JPEG path
except ImportError:  # pragma: no cover - PIL decodes everything without it
    simplejpeg = None

from cnnkit.registry import did_you_mean

#: File extensions the folder readers accept (lower case, without the dot); other files are ignored.
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "bmp", "gif", "tif", "tiff", "webp", "ppm", "pgm")

INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
    "area": Image.Resampling.BOX,  # Keras 3 / TensorFlow names: area averaging and the Lanczos-3 kernel
    "lanczos3": Image.Resampling.LANCZOS,
}
COLOR_MODES = {"grayscale": 1, "rgb": 3, "rgba": 4}

#: What PIL raises for a file that is not a readable image (unknown format, zero bytes, truncated data).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError)


def check_interpolation(interpolation, what="interpolation"):
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"{what} must be one of {sorted(INTERPOLATIONS)}{did_you_mean(interpolation, INTERPOLATIONS)}"
                         f". Received: {what}={interpolation!r}")
    return INTERPOLATIONS[interpolation]


def check_color_mode(color_mode):
    if color_mode not in COLOR_MODES:
        raise ValueError(f"color_mode must be one of 'grayscale', 'rgb', 'rgba'"
                         f"{did_you_mean(color_mode, COLOR_MODES)}. Received: color_mode={color_mode!r}")
    return COLOR_MODES[color_mode]


def check_size(size, what):
    """(height, width) as a tuple of two positive ints."""
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in size)):
        raise ValueError(f"{what} must be (height, width), two positive ints. Received: {what}={size!r}")
    return int(size[0]), int(size[1])


#: PIL's modes of 16-bit (and 32-bit integer) single-channel images, e.g. 16-bit greyscale PNGs.
WIDE_GRAY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def _convert(img, color_mode):
    """`img` in the mode `color_mode` asks for. 16-bit greyscale kept as is in 'grayscale' (as Keras); in 'rgb' /
    'rgba' scaled to 0..255 first (value >> 8, what TensorFlow's decode_png and PIL's own 16-bit RGB decoding
    do), where PIL's convert (and so Keras's load_img) clips every value above 255 to white."""
    if color_mode == "grayscale":
        return img if img.mode in ("L",) + WIDE_GRAY_MODES else img.convert("L")
    wanted = "RGBA" if color_mode == "rgba" else "RGB"
    if img.mode in WIDE_GRAY_MODES:
        img = Image.fromarray((np.clip(np.asarray(img, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8))
    return img if img.mode == wanted else img.convert(wanted)


def _aspect_crop_box(width, height, target_width, target_height):
    """Keras's keep_aspect_ratio crop: the centred box with the target's aspect ratio."""
    crop_height = min(height, (width * target_height) // target_width)
    crop_width = min(width, (height * target_width) // target_height)
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    return left, top, left + crop_width, top + crop_height


def _resize(img, target_size, interpolation, keep_aspect_ratio):
    """keep_aspect_ratio: False (stretch), True (centre crop to the target's aspect ratio, as Keras) or 'pad'
    (fit inside the target, centred, black borders: Keras 3's pad_to_aspect_ratio)."""
    size = (target_size[1], target_size[0])
    if img.size == size:
        return img
    resample = check_interpolation(interpolation)
    if keep_aspect_ratio == "pad":
        # tf.image.resize_with_pad's geometry, in float32 as there: inner size floored, offsets
        # floor((target - exact inner size) / 2)
        width, height = np.float32(img.size[0]), np.float32(img.size[1])
        ratio = max(width / np.float32(size[0]), height / np.float32(size[1]))
        exact = (width / ratio, height / ratio)
        inner = tuple(max(1, int(np.floor(v))) for v in exact)
        offset = tuple(max(0, int(np.floor((np.float32(t) - v) / np.float32(2)))) for t, v in zip(size, exact))
        canvas = Image.new(img.mode, size)
        canvas.paste(img.resize(inner, resample), offset)
        return canvas
    if keep_aspect_ratio:
        return img.resize(size, resample, box=_aspect_crop_box(*img.size, *size))
    return img.resize(size, resample)


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """Loads an image file into a PIL Image, as `keras.utils.load_img`.

    Args:
        path: a file path (str or pathlib.Path) or an io.BytesIO.
        color_mode: 'grayscale', 'rgb' or 'rgba'.
        target_size: None (original size) or (height, width).
        interpolation: 'nearest', 'bilinear', 'bicubic', 'lanczos', 'box' or 'hamming' (used when resizing).
        keep_aspect_ratio: crop the centre to the target's aspect ratio before resizing.

    Returns:
        A PIL Image.

    Example:
        >>> img = load_img("cat.jpg", target_size=(150, 150))
        >>> img_to_array(img).shape
        (150, 150, 3)
    """
    check_color_mode(color_mode)
    if isinstance(path, io.BytesIO):
        img = Image.open(path)
    elif isinstance(path, (str, bytes, pathlib.Path)):
        with open(path, "rb") as f:
            img = Image.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"load_img: path must be a file path or an io.BytesIO. Received: {type(path).__name__}")
    img.load()  # decode now: a damaged file fails here (DECODE_ERRORS), not later in whatever reads the pixels
    img = _convert(img, color_mode)
    if target_size is not None:
        img = _resize(img, check_size(target_size, "target_size"), interpolation, keep_aspect_ratio)
    return img


def _draft_scale(width, height, target_size, keep_aspect_ratio):
    """(scale, request): the reduced scale (1, 2, 4 or 8) `read_image` decodes a width x height JPEG at for
    `target_size`, and the (width, height) the resize needs. The scale is PIL's draft-mode choice for that request,
    used only when it is 2x smaller or more in both directions (below that, draft would not shrink but would still
    change how RGB->L rounds)."""
    target_height, target_width = target_size
    if keep_aspect_ratio is True:
        left, top, right, bottom = _aspect_crop_box(width, height, target_width, target_height)
        scale = max(target_width / max(right - left, 1), target_height / max(bottom - top, 1))
        request = (int(np.ceil(width * scale)), int(np.ceil(height * scale)))
    elif keep_aspect_ratio == "pad":
        scale = min(target_width / width, target_height / height)
        request = (int(np.ceil(width * scale)), int(np.ceil(height * scale)))
    else:
        request = (target_width, target_height)
    if width < 2 * request[0] or height < 2 * request[1]:
        return 1, request
    ratio = min(width // request[0], height // request[1])
    return next(s for s in (8, 4, 2) if ratio >= s), request


def _jpeg_bytes(path):
    """The bytes of a JPEG file that simplejpeg may decode, or None: simplejpeg missing, the name not .jpg/.jpeg
    (decided by name, so other files are not opened twice: that made a 28x28 PNG 8% slower to read), or the data
    not starting with a JPEG's start-of-image marker (only its first 3 bytes are read then)."""
    if simplejpeg is None or not os.fspath(path).lower().endswith((".jpg", ".jpeg")):
        return None
    with open(path, "rb") as f:
        data = f.read(3)
        return data + f.read() if data == b"\xff\xd8\xff" else None


def _decode_jpeg_fast(data, target_size, keep_aspect_ratio):
    """An RGB JPEG decoded by libjpeg-turbo through simplejpeg with PIL's settings (accurate integer DCT, smooth
    chroma upsampling, the same reduced scale), so the pixels are PIL's exactly, in a third of the time (no Python
    header parsing): an RGBX array (height, width, 4), before the resize to `target_size`.

    Returns None where PIL must decode: not a YCbCr or greyscale JPEG (CMYK, YCCK), a multi-picture file (MPO,
    whose first frame PIL decodes without draft mode), an image over PIL's decompression-bomb limit, or data
    libjpeg-turbo rejects or only half decodes (PIL then raises its own error, or applies LOAD_TRUNCATED_IMAGES).
    """
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    if (colorspace not in ("YCbCr", "Gray") or data.find(b"MPF\x00", 0, 65536) >= 0
            or (Image.MAX_IMAGE_PIXELS is not None and width * height > Image.MAX_IMAGE_PIXELS)):
        return None
    scale = 1 if target_size is None else _draft_scale(width, height, target_size, keep_aspect_ratio)[0]
    size = (-(-height // scale), -(-width // scale))
    try:
        pixels = simplejpeg.decode_jpeg(data, "RGBX", min_height=size[0] if scale > 1 else 0,
                                        min_width=size[1] if scale > 1 else 0, min_factor=scale)
    except ValueError:
        return None
    return pixels if pixels.shape == size + (4,) else None


def _read_jpeg_fast(data, target_size, interpolation, keep_aspect_ratio):
    """`_decode_jpeg_fast`, resized by PIL and packed to RGB (height, width, 3); None where PIL must decode."""
    pixels = _decode_jpeg_fast(data, target_size, keep_aspect_ratio)
    if pixels is None:
        return None
    img = Image.frombuffer("RGBX", (pixels.shape[1], pixels.shape[0]), pixels, "raw", "RGBX", 0, 1)  # shares it
    if target_size is not None:
        img = _resize(img, target_size, interpolation, keep_aspect_ratio)
    # PIL packs RGBX to RGB in C; numpy would copy the strided [..., :3] view element by element (7x slower)
    return np.frombuffer(img.tobytes("raw", "RGB"), np.uint8).reshape(img.size[1], img.size[0], 3)


@functools.lru_cache(maxsize=4096)
def nearest_index(size, target):
    """The source index of each of `target` pixels along an axis of `size` pixels in PIL's NEAREST resize: read
    off PIL itself (a resized 1-pixel-high image of the indices), so gathering rows and columns with it gives
    `Image.resize(..., NEAREST)`'s pixels exactly (PIL's nearest scaling maps each axis on its own)."""
    line = Image.fromarray(np.arange(size, dtype=np.int32)[None, :])
    return np.asarray(line.resize((target, 1), Image.Resampling.NEAREST), dtype=np.intp)[0]


def read_rgb_into(path, out, target_size, interpolation="nearest", keep_aspect_ratio=False):
    """`read_image(path, target_size, 'rgb', ...)` written into `out[..., :3]`: `out` is a (height, width, 4)
    uint8 array whose 4th channel is left undefined (RGBX: a JPEG read with nearest resizing is gathered straight
    from libjpeg-turbo's RGBX pixels, without PIL's resize and RGB packing).

    Raises:
        What `read_image` raises.
    """
    data = _jpeg_bytes(path) if interpolation == "nearest" and keep_aspect_ratio is False else None
    if data is not None:
        pixels = _decode_jpeg_fast(data, target_size, False)
        if pixels is not None:
            words, rows = out.view(np.uint32)[:, :, 0], pixels.view(np.uint32)[:, :, 0]
            if rows.shape == words.shape:  # PIL's resize returns an image of the target size as it is
                words[...] = rows
            else:
                np.take(rows[nearest_index(rows.shape[0], target_size[0])],
                        nearest_index(rows.shape[1], target_size[1]), axis=1, out=words)
            return
    out[:, :, :3] = read_image(path, target_size, "rgb", interpolation, keep_aspect_ratio)  # uint8 ('rgb' is 8-bit)


def read_image(path, target_size, color_mode="rgb", interpolation="nearest", keep_aspect_ratio=False):
    """Decodes one file straight to a (height, width, channels) array at `target_size` (uint8 for 8-bit images).

    Faster than `load_img`: a JPEG that is shrunk is decoded at a reduced scale (PIL draft mode: 1/2, 1/4 or 1/8,
    never below the target size), which also averages pixels instead of dropping them. With simplejpeg installed
    (a dependency of cnnkit), JPEG files (.jpg, .jpeg) read in 'rgb' are decoded by libjpeg-turbo directly, with
    pixels identical to PIL's.

    Raises:
        OSError / ValueError / SyntaxError: the file is not a readable image (see DECODE_ERRORS).
    """
    data = _jpeg_bytes(path) if color_mode == "rgb" else None
    if data is not None:
        array = _read_jpeg_fast(data, target_size, interpolation, keep_aspect_ratio)
        if array is not None:
            return array
    with Image.open(path) as img:
        if img.format == "JPEG" and target_size is not None:
            scale, request = _draft_scale(*img.size, target_size, keep_aspect_ratio)
            if scale > 1:
                img.draft("L" if color_mode == "grayscale" else "RGB", request)
        img.load()
        out = _convert(img, color_mode)
        if target_size is not None:
            out = _resize(out, target_size, interpolation, keep_aspect_ratio)
        array = np.asarray(out)
    if array.ndim == 2:
        array = array[:, :, None]
    return array


def decode_files(paths, target_size, color_mode="rgb", interpolation="nearest", keep_aspect_ratio=False):
    """`read_image` on each path: [(array, None) | (None, "ErrorType: message")] (what decoding workers run)."""
    return [_checked_read(path, lambda p: read_image(p, target_size, color_mode, interpolation, keep_aspect_ratio))
            for path in paths]


def _checked_read(path, read):
    """(read(path), None), or (None, "ErrorType: message") when the file does not decode (DECODE_ERRORS) or is not
    a regular file (reading a FIFO would wait forever; a folder scan refuses them too)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise OSError("not a regular file (a FIFO, socket or device)")
        return read(path), None
    except DECODE_ERRORS as err:
        return None, f"{type(err).__name__}: {err}"


def decode_rgb_into(paths, out, target_size, interpolation="nearest", keep_aspect_ratio=False):
    """`read_rgb_into(path, out[k], ...)` on each path: [None (written) | "ErrorType: message"]."""
    return [_checked_read(path, lambda p, image=image: read_rgb_into(p, image, target_size, interpolation,
                                                                     keep_aspect_ratio))[1]
            for path, image in zip(paths, out)]


def img_to_array(img, data_format=None, dtype=None):
    """A PIL Image as a float array (height, width, channels) (channels first with data_format='channels_first')."""
    data_format = check_data_format(data_format)
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 2:
        x = x[:, :, None]
    elif x.ndim != 3:
        raise ValueError(f"img_to_array: unsupported image shape {x.shape}")
    return x.transpose(2, 0, 1) if data_format == "channels_first" else x


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A (height, width, channels) array as a PIL Image; scale=True maps the array's min..max to 0..255."""
    data_format = check_data_format(data_format)
    x = np.asarray(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError(f"array_to_img: expected an image array of rank 3 (height, width, channels). Received "
                         f"shape: {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x = x / top
        x = x * 255
    channels = x.shape[2]
    if channels == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"array_to_img: an image needs 1, 3 or 4 channels. Received: {channels}")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Saves an image array to a file (format from `file_format` or the extension), as `keras.utils.save_img`."""
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and (file_format == "jpg" or file_format == "jpeg"
                               or str(path).lower().endswith((".jpg", ".jpeg"))):
        img = img.convert("RGB")
    img.save(path, format="jpeg" if file_format == "jpg" else file_format, **kwargs)


def has_image_extension(name):
    return os.path.splitext(name)[1][1:].lower() in IMAGE_EXTENSIONS


def check_data_format(data_format, owner=None):
    """'channels_last' (also for None) or 'channels_first'; a ValueError naming `owner` for anything else."""
    if data_format is None:
        return "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{owner + ': ' if owner else ''}data_format must be 'channels_last' or 'channels_first'. "
                         f"Received: data_format={data_format!r}")
    return data_format
