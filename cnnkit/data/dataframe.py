"""`DataFrameIterator`: batches of images listed in a table (what `ImageDataGenerator.flow_from_dataframe` returns).

Any object whose columns can be read as `df[column]` works (a pandas DataFrame, a dict of lists); pandas is not
needed by cnnkit.
"""

import os
import warnings

import numpy as np

from cnnkit.data import directory as directory_lib
from cnnkit.data.files import FileIterator, check_class_mode
from cnnkit.data.image_io import has_image_extension


def _column(df, name, what):
    try:
        return list(df[name])
    except (KeyError, IndexError, TypeError):
        raise KeyError(f"flow_from_dataframe: {what}={name!r} is not a column of the dataframe.") from None


class DataFrameIterator(FileIterator):
    """Batches from a table of file names and labels.

    class_mode: 'categorical' (y_col holds a class name, or a list of names for multi-label one-hot), 'binary'
    (exactly two class names), 'sparse' (class names -> index), 'raw' (y_col values as they are; y_col may be a list
    of columns), 'multi_output' (y_col a list of columns, one label array each), 'input' (the images) or None.

    With a validation_split the split is seeded and stratified by class (for class modes with classes), as for
    folders; rows whose file is missing or not an image are dropped with a warning when validate_filenames.
    """

    allowed_class_modes = ("binary", "categorical", "input", "multi_output", "raw", "sparse", None)

    def __init__(self, dataframe, directory=None, image_data_generator=None, x_col="filename", y_col="class",
                 weight_col=None, target_size=(256, 256), color_mode="rgb", classes=None, class_mode="categorical",
                 batch_size=32, shuffle=True, seed=None, data_format="channels_last", save_to_dir=None,
                 save_prefix="", save_format="png", subset=None, interpolation="nearest", keep_aspect_ratio=False,
                 dtype="float32", validate_filenames=True, workers=None, cache=False, on_error="warn",
                 verbose=True, use_multiprocessing=None):
        check_class_mode(class_mode, self.allowed_class_modes)
        if class_mode == "multi_output" and not isinstance(y_col, list):
            raise TypeError(f"class_mode='multi_output' needs y_col to be a list of columns. Received: y_col={y_col!r}")
        self.directory, self.class_mode = os.fspath(directory) if directory else "", class_mode
        names = _column(dataframe, x_col, "x_col")
        bad = [n for n in names if not isinstance(n, str)]
        if bad:
            raise TypeError(f"flow_from_dataframe: every value of column x_col={x_col!r} must be a file name (str). "
                            f"Received: {bad[0]!r}")
        rows = np.arange(len(names))
        if validate_filenames:
            ok = np.array([has_image_extension(n) and directory_lib.image_file_problem(os.path.join(self.directory, n))
                           is None for n in names], dtype=bool)
            if not ok.all():
                warnings.warn(f"Found {int((~ok).sum())} invalid image filename(s) in x_col={x_col!r} (missing, or "
                              f"not an image), e.g. {names[int(np.flatnonzero(~ok)[0])]!r}. They will be ignored.",
                              stacklevel=3)
            rows = rows[ok]
        with_classes = class_mode in ("categorical", "binary", "sparse")
        labels = None
        if with_classes:
            rows, labels, class_names = self._classes(_column(dataframe, y_col, "y_col"), rows, classes, class_mode)
            self.class_indices = {name: i for i, name in enumerate(class_names)}
        else:
            self.class_indices = {}
            if classes:
                warnings.warn(f"classes is ignored with class_mode={class_mode!r}.", stacklevel=3)
        validation_split = getattr(image_data_generator, "_validation_split", 0.0)
        strata = (np.array([c if isinstance(c, int) else -1 for c in labels]) if labels is not None
                  else np.zeros(len(rows), np.int64))
        keep = directory_lib.subset_indices(strata, validation_split, subset, seed)
        rows = rows[keep]
        self.filenames = [names[r] for r in rows]
        self.filepaths = [os.path.join(self.directory, n) for n in self.filenames]
        if labels is not None:
            labels = [labels[k] for k in keep]
            multi = any(isinstance(c, list) for c in labels)
            self.classes = labels if multi else np.asarray(labels, dtype=np.int32)
        else:
            self.classes = None
        self._targets = None
        if class_mode == "raw":
            columns = y_col if isinstance(y_col, list) else [y_col]
            values = np.stack([np.asarray(_column(dataframe, c, "y_col")) for c in columns], axis=-1)
            self._targets = values[rows] if isinstance(y_col, list) else values[rows, 0]
        elif class_mode == "multi_output":
            self._targets = [np.asarray(_column(dataframe, c, "y_col"))[rows] for c in y_col]
        self._sample_weight = (None if weight_col is None
                               else np.asarray(_column(dataframe, weight_col, "weight_col"), dtype="float32")[rows])
        if verbose:
            kind = "validated" if validate_filenames else "non-validated"
            tail = f" belonging to {len(self.class_indices)} classes." if with_classes else "."
            print(f"Found {len(self.filenames)} {kind} image filenames{tail}")
        self._setup(image_data_generator, target_size, color_mode, data_format, save_to_dir, save_prefix,
                    save_format, subset, interpolation, keep_aspect_ratio, dtype, batch_size, shuffle, seed,
                    workers, cache, on_error, use_multiprocessing)

    @staticmethod
    def _classes(values, rows, classes, class_mode):
        """(rows kept, class index (or list of indices) per kept row, class names)."""
        values = [values[r] for r in rows]
        for v in values:
            if not isinstance(v, (str, list, tuple)) or (class_mode != "categorical" and not isinstance(v, str)):
                raise TypeError(f"flow_from_dataframe: with class_mode={class_mode!r} the y_col values must be class "
                                f"names (str{', or lists of them' if class_mode == 'categorical' else ''}). "
                                f"Received: {v!r}")
        if classes:
            class_names = list(dict.fromkeys(classes))
        else:
            found = set()
            for v in values:
                found.update(v if isinstance(v, (list, tuple)) else [v])
            class_names = sorted(found, key=directory_lib.natural_key)
        if class_mode == "binary" and len(class_names) != 2:
            raise ValueError(f"class_mode='binary' needs exactly 2 classes. Found {len(class_names)}: {class_names}")
        index = {name: i for i, name in enumerate(class_names)}
        kept_rows, labels = [], []
        for r, v in zip(rows, values):
            if isinstance(v, (list, tuple)):
                known = [index[c] for c in v if c in index]
                if known:
                    kept_rows.append(r)
                    labels.append(known)
            elif v in index:
                kept_rows.append(r)
                labels.append(index[v])
        return np.asarray(kept_rows, dtype=np.int64), labels, class_names

    @property
    def labels(self):
        return self._targets if self.class_mode in ("raw", "multi_output") else self.classes

    @property
    def sample_weight(self):
        return self._sample_weight

    def _with_labels(self, batch_x, index_array):
        mode = self.class_mode
        if mode == "raw":
            y = self._targets[index_array]
        elif mode == "multi_output":
            y = [t[index_array] for t in self._targets]
        elif mode == "categorical" and isinstance(self.classes, list):
            y = np.zeros((len(index_array), self.num_classes), dtype=self.dtype)
            for row, i in enumerate(index_array):
                y[row, self.classes[i]] = 1.0
        else:
            out = super()._with_labels(batch_x, index_array)
            if self._sample_weight is None or mode in (None, "input"):
                return out
            return out + (self._sample_weight[index_array],)
        out = (batch_x, y)
        return out if self._sample_weight is None else out + (self._sample_weight[index_array],)
