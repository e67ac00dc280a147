"""Hints for the mistakes newcomers make most, added to the error a loss raises on the first batch.

- A classifier without `Flatten()` / `GlobalAveragePooling2D()`: the output is still (batch, H, W, classes) feature
  maps while the labels have one class per image.
- A one-unit sigmoid output (a binary classifier) with `sparse_categorical_crossentropy`, which needs one output per
  class: `binary_crossentropy` is meant.
"""

ONE_OUTPUT_SPARSE = (" The model outputs one value per image (e.g. Dense(1, activation='sigmoid')), but "
                     "sparse_categorical_crossentropy needs one output per class: use loss='binary_crossentropy' for "
                     "two classes, or end the model with Dense(num_classes, activation='softmax').")
_CLASSIFICATION = ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy")


def _loss_name(loss_fn):
    name = getattr(loss_fn, "name", None) or getattr(loss_fn, "__name__", "")
    return str(name).lower()


def loss_hint(loss_fn, y_true, y_pred):
    """A sentence to add to the error `loss_fn(y_true, y_pred)` raised, or '' when none applies.

    Args:
        loss_fn: the compiled loss (an object or function).
        y_true, y_pred: the batch's labels and the model's output (tensors).
    """
    name = _loss_name(loss_fn)
    if not any(known in name for known in _CLASSIFICATION):
        return ""
    labels_rank = y_true.dim() - (1 if y_true.dim() >= 2 and y_true.shape[-1] == 1 and "sparse" in name else 0)
    if y_pred.dim() >= 3 and labels_rank <= (1 if "sparse" in name else 2):
        return (f" The model's output is {tuple(y_pred.shape[1:])} per image (feature maps), but the labels give one "
                "class per image: add Flatten() or GlobalAveragePooling2D() before the output Dense layer.")
    if "sparse" in name and y_pred.dim() == 2 and y_pred.shape[-1] == 1:
        return ONE_OUTPUT_SPARSE
    return ""
