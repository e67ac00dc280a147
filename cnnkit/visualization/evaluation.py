"""Evaluating a classifier: confusion matrix, scikit-learn's classification report, and the worst predictions.

Labels may be given in any of the forms Keras uses: class indices (n,) or (n, 1), one-hot rows (n, K), or
predicted probabilities (n, K) (their argmax is taken). A single probability per sample ((n,) or (n, 1) floats
that are not whole numbers) is a binary prediction, thresholded at 0.5 as Keras's binary accuracy does.

Example:
    >>> probs = model.predict(x_test)
    >>> confusion_matrix(y_test, probs)
    array([[97,  3],
           [ 5, 95]])
    >>> print(classification_report(y_test, probs, class_names=['cat', 'dog']))
"""

import math

import numpy as np

from cnnkit.visualization._mpl import finish
from cnnkit.visualization._mpl import pyplot
from cnnkit.visualization.batches import display_images

_HEADERS = ("precision", "recall", "f1-score", "support")
_EPSILON = 1e-7  # Keras's backend epsilon: probabilities are clipped to [eps, 1 - eps] in cross-entropy


def to_class_indices(y, name="y"):
    """Class indices (int64, shape (n,)) from indices, one-hot rows, probabilities or binary probabilities.

    Args:
        y: array-like of shape (n,), (n, 1) or (n, K).
        name: the argument's name, for error messages.

    Returns:
        (indices, K or None): K is the number of columns of a one-hot / probability array (2 for a binary
        probability), None for plain indices.

    Raises:
        ValueError: an array of another rank, negative or fractional class indices.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2:
        if y.shape[1] == 0:
            raise ValueError(f"{name}: a (n, K) array needs K >= 1 columns. Received shape {y.shape}.")
        return np.argmax(y, axis=1).astype(np.int64), y.shape[1]
    if y.ndim != 1:
        raise ValueError(f"{name} must be class indices (n,), one-hot labels or probabilities (n, K). Received an "
                         f"array of shape {y.shape}.")
    if y.dtype == bool:
        return y.astype(np.int64), None
    if not np.issubdtype(y.dtype, np.number):
        raise ValueError(f"{name} must hold numbers (class indices). Received dtype {y.dtype}.")
    if np.issubdtype(y.dtype, np.floating) and y.size and np.any(y != np.round(y)):
        if np.all((y >= 0) & (y <= 1)):
            return (y > 0.5).astype(np.int64), 2
        raise ValueError(f"{name}: class indices must be whole numbers. Received e.g. {y[y != np.round(y)][0]!r}.")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"{name}: class indices must be >= 0. Received {int(y.min())}.")
    return y, None


def _pair(y_true, y_pred, num_classes=None):
    """Both label arrays as indices, checked for equal length; and the number of classes."""
    true, k_true = to_class_indices(y_true, "y_true")
    pred, k_pred = to_class_indices(y_pred, "y_pred")
    if len(true) != len(pred):
        raise ValueError(f"y_true and y_pred must have the same number of samples. Received {len(true)} labels "
                         f"and {len(pred)} predictions.")
    if num_classes is None:
        largest = max([int(a.max()) + 1 for a in (true, pred) if a.size] + [0])
        num_classes = max([largest] + [k for k in (k_true, k_pred) if k is not None])
    else:
        num_classes = int(num_classes)
        for name, labels in (("y_true", true), ("y_pred", pred)):
            if labels.size and labels.max() >= num_classes:
                raise ValueError(f"{name} holds class {int(labels.max())}, but num_classes={num_classes} (classes "
                                 f"0..{num_classes - 1}).")
    return true, pred, num_classes


def confusion_matrix(y_true, y_pred, num_classes=None):
    """The confusion matrix: entry [i, j] counts the samples of true class i predicted as class j.

    Args:
        y_true: true labels: class indices (n,) or (n, 1), or one-hot rows (n, K).
        y_pred: predictions: class indices, or probabilities / one-hot rows (n, K) (argmax is taken).
        num_classes: K; default: the width of a one-hot / probability argument, else the largest index + 1.

    Returns:
        An int64 array (K, K); rows are true classes, columns predicted classes.

    Raises:
        ValueError: different numbers of samples, or a class index >= num_classes.

    Example:
        >>> confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2])
        array([[1, 0, 0],
               [0, 1, 1],
               [0, 0, 1]])
    """
    true, pred, k = _pair(y_true, y_pred, num_classes)
    return np.bincount(true * k + pred, minlength=k * k).reshape(k, k).astype(np.int64)


def most_confused(y_true, y_pred, class_names=None, min_count=1, num_classes=None):
    """The most frequent mistakes, largest first (fastai's `most_confused`): which class is taken for which.

    Args:
        y_true, y_pred, num_classes: as `confusion_matrix`.
        class_names: names in class-index order (default: the indices as strings).
        min_count: leave out pairs seen fewer times.

    Returns:
        A list of (true class name, predicted class name, count), by count then by true and predicted index.

    Example:
        >>> most_confused([0, 1, 1, 2, 2], [0, 2, 2, 1, 2], class_names=["cat", "dog", "fox"])
        [('dog', 'fox', 2), ('fox', 'dog', 1)]
    """
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise ValueError(f"most_confused: min_count must be a positive int. Received: min_count={min_count!r}")
    cm = confusion_matrix(y_true, y_pred, num_classes)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(cm))]
    if len(names) != len(cm):
        raise ValueError(f"most_confused: {len(names)} class names for {len(cm)} classes.")
    pairs = [(int(cm[i, j]), i, j) for i in range(len(cm)) for j in range(len(cm)) if i != j and cm[i, j] >= min_count]
    pairs.sort(key=lambda item: (-item[0], item[1], item[2]))
    return [(names[i], names[j], count) for count, i, j in pairs]


def _row_normalize(cm):
    sums = cm.sum(axis=1, keepdims=True).astype(np.float64)
    return np.divide(cm, sums, out=np.zeros(cm.shape, dtype=np.float64), where=sums > 0)


def plot_confusion_matrix(cm_or_y_true, y_pred=None, class_names=None, normalize=False, path=None):
    """Draws a confusion matrix as a heat map with the count (or row fraction) written in each cell.

    Args:
        cm_or_y_true: a (K, K) confusion matrix, or the true labels when `y_pred` is given.
        y_pred: predictions (indices, one-hot or probabilities); None when the first argument is a matrix.
        class_names: K tick labels (default '0', '1', ...).
        normalize: True divides each row by its total (the recall of each class on the diagonal).
        path: where to save the figure (optional).

    Returns:
        The matplotlib Figure; `fig.axes[0].images[0]` holds the plotted matrix.

    Example:
        >>> fig = plot_confusion_matrix(y_test, model.predict(x_test), class_names=['cat', 'dog'], normalize=True)
    """
    if y_pred is None:
        cm = np.asarray(cm_or_y_true)
        if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
            raise ValueError(f"plot_confusion_matrix: a confusion matrix must be square (K, K). Received shape "
                             f"{cm.shape}; pass y_true and y_pred to compute one.")
    else:
        cm = confusion_matrix(cm_or_y_true, y_pred,
                              num_classes=None if class_names is None else len(class_names))
    k = cm.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(n) for n in class_names]
    if len(names) != k:
        raise ValueError(f"plot_confusion_matrix: {len(names)} class_names for a {k}x{k} matrix.")
    values = _row_normalize(cm) if normalize else cm
    plt = pyplot()
    size = max(4.0, 0.6 * k + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(values, interpolation="nearest", cmap="Blues", vmin=0,
                      vmax=1.0 if normalize else max(1, values.max()))
    fig.colorbar(image, ax=ax)
    ax.set(xticks=np.arange(k), yticks=np.arange(k), xticklabels=names, yticklabels=names,
           xlabel="predicted", ylabel="true",
           title="Confusion matrix (normalised by row)" if normalize else "Confusion matrix")
    ax.tick_params(axis="x", labelrotation=45 if max(len(n) for n in names) > 3 else 0)
    threshold = (1.0 if normalize else max(1, values.max())) / 2.0
    for i in range(k):
        for j in range(k):
            text = f"{values[i, j]:.2f}" if normalize else f"{int(values[i, j])}"
            ax.text(j, i, text, ha="center", va="center",
                    color="white" if values[i, j] > threshold else "black")
    fig.tight_layout()
    finish(fig, path)
    return fig


def _scores(cm):
    """Per-class precision, recall, f1 and support from a confusion matrix; 0/0 is 0.0 (sklearn's
    zero_division=0)."""
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0).astype(np.float64), cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(tp), where=total > 0)
    return precision, recall, f1, support


def classification_report(y_true, y_pred, class_names=None, output_dict=False, digits=2):
    """Precision, recall, F1 and support per class, with accuracy and macro / weighted averages.

    The numbers and the text layout are scikit-learn's `classification_report` (with `zero_division=0`: a ratio
    with a zero denominator is 0.0). Without `class_names` the rows are the classes that occur in y_true or
    y_pred, named by their index, as in scikit-learn; with them, every class 0..K-1 gets a row.

    Args:
        y_true: true labels (indices, or one-hot rows).
        y_pred: predictions (indices, or probabilities / one-hot rows; argmax is taken).
        class_names: K names for classes 0..K-1 (optional).
        output_dict: True returns a dict instead of text.
        digits: decimals in the text report.

    Returns:
        The report as text, or a dict {class name: {'precision', 'recall', 'f1-score', 'support'}, 'accuracy':
        float, 'macro avg': {...}, 'weighted avg': {...}} (every number a float, as scikit-learn returns).

    Example:
        >>> print(classification_report([0, 1, 1], [0, 1, 0], class_names=['cat', 'dog']))
                      precision    recall  f1-score   support
        <BLANKLINE>
                 cat       0.50      1.00      0.67         1
                 dog       1.00      0.50      0.67         2
        ...
    """
    k = None if class_names is None else len(class_names)
    true, pred, k = _pair(y_true, y_pred, k)
    cm = confusion_matrix(true, pred, num_classes=k)
    if class_names is None:
        labels = np.union1d(true, pred).astype(np.int64)
        names = [str(label) for label in labels]
    else:
        labels, names = np.arange(k), [str(n) for n in class_names]
    precision, recall, f1, support = (a[labels] for a in _scores(cm))
    total = support.sum()
    weights = support / total if total > 0 else np.zeros_like(support)
    rows = [(n, p, r, f, s) for n, p, r, f, s in zip(names, precision, recall, f1, support)]
    averages = {
        "accuracy": float(np.trace(cm) / total) if total > 0 else 0.0,
        "macro avg": (precision.mean(), recall.mean(), f1.mean(), total),
        "weighted avg": ((precision * weights).sum(), (recall * weights).sum(), (f1 * weights).sum(), total),
    }
    if output_dict:
        report = {name: dict(zip(_HEADERS, (float(v) for v in values))) for name, *values in rows}
        report["accuracy"] = averages["accuracy"]
        for heading in ("macro avg", "weighted avg"):
            report[heading] = dict(zip(_HEADERS, (float(v) for v in averages[heading])))
        return report
    width = max([len(n) for n in names] + [len("weighted avg"), digits])
    text = ("{:>{width}s} " + " {:>9}" * 4).format("", *_HEADERS, width=width) + "\n\n"
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    for name, p, r, f, s in rows:
        text += row_fmt.format(name, p, r, f, int(s), width=width, digits=digits)
    text += "\n"
    text += ("{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f} {:>9}\n").format(
        "accuracy", "", "", averages["accuracy"], int(total), width=width, digits=digits)
    for heading in ("macro avg", "weighted avg"):
        p, r, f, s = averages[heading]
        text += row_fmt.format(heading, p, r, f, int(s), width=width, digits=digits)
    return text


def plot_top_losses(model, x, y, k=9, class_names=None, path=None, from_logits=False, batch_size=32,
                    deprocess=None):
    """Shows the k samples with the highest loss: the model's most confident mistakes.

    The loss of a sample is the cross-entropy of its true class, -log(p[true]), computed as Keras's
    categorical cross-entropy (probabilities clipped to [1e-7, 1 - 1e-7]). Each panel's title is
    'prediction/actual/loss/probability', the probability being the one the model gives the true class.

    Args:
        model: a cnnkit classifier (a single output of shape (n, K)).
        x: images (n, H, W, C), (n, H, W, 1) or (n, H, W).
        y: true labels, class indices (n,) or one-hot (n, K).
        k: how many samples to show (at most n).
        class_names: names for the titles (default: class indices).
        path: where to save the figure (optional).
        from_logits: True when the model outputs logits rather than probabilities (softmax is applied).
        batch_size: for `model.predict`.
        deprocess: a function from the model's inputs back to 0-255 RGB, to show preprocessed images in their
            true colours (see `cnnkit.visualization.batches.display_images`).

    Returns:
        The Figure, with `fig.top_losses = (indices, losses)`: the k indices into x, worst first, and their losses.

    Example:
        >>> fig = plot_top_losses(model, x_test, y_test, k=9, class_names=[str(d) for d in range(10)])
        >>> fig.top_losses[0]   # indices of the worst predictions
    """
    probs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"plot_top_losses needs a classifier with outputs (n, K). Received outputs of shape "
                         f"{probs.shape}.")
    if from_logits:
        probs = np.exp(probs - probs.max(axis=1, keepdims=True))
    probs = probs / probs.sum(axis=1, keepdims=True)
    true, _ = to_class_indices(y, "y")
    if len(true) != len(probs):
        raise ValueError(f"plot_top_losses: x has {len(probs)} samples, y has {len(true)} labels.")
    if true.size and true.max() >= probs.shape[1]:
        raise ValueError(f"plot_top_losses: y holds class {int(true.max())}, but the model has {probs.shape[1]} "
                         "outputs.")
    p_true = probs[np.arange(len(true)), true]
    losses = -np.log(np.clip(p_true, _EPSILON, 1 - _EPSILON))
    k = max(1, min(int(k), len(losses)))
    order = np.argsort(-losses, kind="stable")[:k]
    pred = probs.argmax(axis=1)
    name = (lambda c: str(c)) if class_names is None else (lambda c: str(class_names[c]))
    plt = pyplot()
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    fig = plt.figure(figsize=(3.0 * cols, 3.2 * rows))
    fig.suptitle("prediction/actual/loss/probability")
    images = display_images(np.asarray(x)[order], deprocess)
    for slot, index in enumerate(order):
        ax = fig.add_subplot(rows, cols, slot + 1)
        image = images[slot]
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        ax.set_title(f"{name(pred[index])}/{name(true[index])}/{losses[index]:.2f}/{p_true[index]:.2f}",
                     fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    fig.top_losses = (order, losses[order])
    finish(fig, path)
    return fig
