"""`image_dataset_from_directory`: Keras 3's function, returning an iterable of numpy batches (no TensorFlow)."""

import os

import numpy as np

from cnnkit.data import directory as directory_lib
from cnnkit.data.files import FileIterator
from cnnkit.data.image_io import IMAGE_EXTENSIONS
from cnnkit.data.pipeline import DatasetOps
from cnnkit.data.pipeline import as_element
from cnnkit.registry import check_kwargs, did_you_mean

LABEL_MODES = ("int", "categorical", "binary", None)


class ImageDataset(DatasetOps, FileIterator):  # DatasetOps first: `shuffle` is tf.data's method
    """The batches of `image_dataset_from_directory`: `for images, labels in dataset` runs one epoch (a new order
    each time when shuffling); `len(dataset)` batches, `dataset[i]`, `class_names`, `file_paths`; and
    tf.data.Dataset's methods (`take`, `map`, `cache`, `shuffle`, `prefetch`, `batch`, `unbatch`, `repeat`,
    `filter`, `cardinality`, `as_numpy_iterator`), each returning a lazy `cnnkit.data.pipeline.Dataset`.

    Images are float32 (batch, height, width, channels) in 0..255; labels int32 (batch,) for 'int', float32
    one-hot for 'categorical', float32 (batch, 1) for 'binary'. Iterating yields them as
    `cnnkit.data.pipeline.Tensor` (numpy arrays with tf's `.numpy()`); `dataset[i]` as plain numpy arrays.

    Example:
        >>> train = image_dataset_from_directory("data/", image_size=(64, 64))
        >>> train = train.map(lambda x, y: (x / 255.0, y)).cache().prefetch(2)
    """

    def __init__(self, filepaths, labels, class_names, label_mode, image_size, color_mode, batch_size, shuffle,
                 seed, interpolation, aspect, data_format, subset, workers, cache, on_error,
                 use_multiprocessing=None):
        self.filepaths, self.file_paths = filepaths, filepaths
        self.filenames = filepaths
        self.classes = labels
        self.class_names = class_names
        self.class_indices = {name: i for i, name in enumerate(class_names or [])}
        self.label_mode, self.class_mode = label_mode, None
        self._unbatched = batch_size is None
        self._setup(None, image_size, color_mode, data_format, None, "", "png", subset, interpolation, aspect,
                    "float32", batch_size or 1, shuffle, seed, workers, cache, on_error,
                    use_multiprocessing)

    def _with_labels(self, batch_x, index_array):
        if self.label_mode is None:
            return batch_x
        labels = self.classes[index_array]
        if self.label_mode == "int":
            return batch_x, labels.astype(np.int32)
        if self.label_mode == "binary":
            return batch_x, labels.astype(np.float32).reshape(-1, 1)
        out = np.zeros((len(labels), len(self.class_names)), dtype=np.float32)
        out[np.arange(len(labels)), labels] = 1.0
        return batch_x, out

    def __iter__(self):
        try:
            for i in range(len(self)):
                batch = self[i]
                if self._unbatched:
                    batch = tuple(part[0] for part in batch) if isinstance(batch, tuple) else batch[0]
                yield as_element(batch)
        finally:  # also after a partial pass (`take`): the next pass is a new epoch, reshuffled
            self.on_epoch_end()

    def _elements(self):
        return iter(self)

    def _count(self):
        return len(self)

    def __next__(self):
        raise TypeError("Iterate an image dataset with `for batch in dataset` (or index it: dataset[i]).")


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode="rgb", batch_size=32, image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, data_format=None,
                                 verbose=True, workers=None, cache=False, on_error="warn", use_multiprocessing=None,
                                 **kwargs):
    """Keras 3's `image_dataset_from_directory`, as an iterable of numpy batches.

    Args are Keras's: labels ('inferred' from the class folders, None, or a list with one label per file in
    sorted file order), label_mode ('int', 'categorical', 'binary', None), class_names, color_mode, batch_size
    (None: single images), image_size (height, width), shuffle, seed, validation_split, subset ('training',
    'validation', 'both' -> a (train, validation) pair), interpolation, follow_links, crop_to_aspect_ratio,
    pad_to_aspect_ratio, data_format, verbose. cnnkit extras: workers, use_multiprocessing, cache, on_error (see
    flow_from_directory).

    Note:
        Class folders sort naturally ('2' before '10'); the validation split is seeded and stratified per class
        (Keras splits the shuffled file list), and works unseeded too.

    Example:
        >>> train, val = image_dataset_from_directory("data/", validation_split=0.2, subset="both", seed=1,
        ...                                           image_size=(150, 150), batch_size=16)
        >>> for images, labels in train: ...
    """
    check_kwargs("image_dataset_from_directory()", kwargs, set(image_dataset_from_directory.__code__.co_varnames[
        :image_dataset_from_directory.__code__.co_argcount]))
    if label_mode not in LABEL_MODES:
        raise ValueError(f"label_mode must be one of 'int', 'categorical', 'binary' or None"
                         f"{did_you_mean(label_mode, LABEL_MODES[:3])}. Received: label_mode={label_mode!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True.")
    if subset not in (None, "training", "validation", "both"):
        raise ValueError(f"subset must be 'training', 'validation', 'both' or None. Received: subset={subset!r}")
    if subset is not None and not validation_split:
        raise ValueError(f"subset={subset!r} needs a validation_split.")
    if validation_split and subset is None:
        raise ValueError("validation_split is set but subset is not: pass subset='training', 'validation' or 'both'.")
    validation_split = directory_lib.check_validation_split(validation_split or 0.0)
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (int(image_size), int(image_size))  # as Keras: an int is a square size
    if label_mode is None:
        labels = None  # as Keras: no labels, every image under `directory`, class_names None, "Found N files."
    if isinstance(labels, str) and labels == "inferred":  # (labels may be a numpy array: no `==` on it)
        names, files, label_array = directory_lib.index_directory(directory, class_names, follow_links)
    elif labels is None or isinstance(labels, (list, tuple, np.ndarray)):
        if class_names is not None and labels is None:
            raise ValueError("class_names is only meaningful with labels='inferred' or a list of labels.")
        directory_lib.check_directory(directory)
        rejected = []
        files = directory_lib.list_images(directory, follow_links, rejected)
        directory_lib.warn_rejected(rejected, directory)
        label_array = np.zeros(len(files), np.int32) if labels is None else np.asarray(labels)
        if labels is not None and len(label_array) != len(files):
            raise ValueError(f"labels has {len(label_array)} entries but {len(files)} image files were found in "
                             f"{os.fspath(directory)!r}; give one label per file, in sorted file order.")
        names = list(class_names) if class_names else (
            None if labels is None else [str(c) for c in range(int(label_array.max(initial=-1)) + 1)])
        if labels is None:
            label_mode = None
    else:
        raise ValueError(f"labels must be 'inferred', None or a list of labels. Received: labels={labels!r}")
    if label_mode == "binary" and names is not None and len(names) != 2:
        raise ValueError(f"label_mode='binary' needs exactly 2 classes. Found {len(names)}: {names}")
    if not files:
        raise ValueError(f"No images found in directory {os.fspath(directory)!r}. Allowed formats: "
                         f"{', '.join(IMAGE_EXTENSIONS)}")
    if verbose:
        print(f"Found {len(files)} files" + (f" belonging to {len(names)} classes." if labels is not None else "."))
    paths = [os.path.join(os.fspath(directory), f) for f in files]
    aspect = True if crop_to_aspect_ratio else ("pad" if pad_to_aspect_ratio else False)

    def make(part):
        keep = directory_lib.subset_indices(label_array, validation_split, part, seed)
        if verbose and part is not None:
            print(f"Using {len(keep)} files for {part}.")
        return ImageDataset([paths[i] for i in keep], label_array[keep], names, label_mode, image_size, color_mode,
                            batch_size, shuffle, seed, interpolation, aspect, data_format,
                            part, workers, cache, on_error, use_multiprocessing)

    if subset == "both":
        return make("training"), make("validation")
    return make(subset)
