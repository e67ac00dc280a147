"""A self-contained HTML report of a trained classifier: one file, every image embedded (no network, no files
beside it), readable in any browser.

Sections: the summary (how good: the validation accuracy and the best epoch; with what: model, data, settings;
how to reproduce it: seed, versions, device, command line), the data (classes, counts for training and validation,
a batch of augmented training images), the model (summary and diagram), learning curves, final metrics, confusion
matrix and classification report, the top losses, the first layer's filters, feature maps of one validation image,
and Grad-CAM for validation images of several classes.

Example:
    >>> write_report("runs/fruits/report.html", model, history, x_val, y_val, class_names=names)
"""

import base64
import datetime
import html
import io
import platform

import numpy as np
import torch

from cnnkit import config

from cnnkit.layers.convolutional import BaseConv
from cnnkit.models.functional import Functional
from cnnkit.utils.io import atomic_path
from cnnkit.visualization._mpl import pyplot
from cnnkit.visualization.batches import show_batch
from cnnkit.visualization.evaluation import classification_report, most_confused, plot_confusion_matrix
from cnnkit.visualization.evaluation import plot_top_losses
from cnnkit.visualization.filters import MAX_FEATURE_MAPS, plot_feature_maps, plot_filters
from cnnkit.visualization.gradcam import plot_grad_cam
from cnnkit.visualization.history import plot_history
from cnnkit.visualization.plot_model import plot_model

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; } td, th { padding: 0.2em 0.8em; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 12px; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
.muted { color: #666; } .headline { font-size: 1.2em; }
"""


REPORT_MAPS = 16  # feature maps per layer in the report: 2 rows of 8 (all 64 of a layer: ~4x the drawing time)
_MAPS_NOTE = (f'<p class="muted">The first {REPORT_MAPS} maps of each layer; '
              f"<code>cnnkit.visualization.plot_feature_maps(model, image)</code> shows up to {MAX_FEATURE_MAPS}.</p>")


def _png(fig):
    """A figure as an embedded <img> (PNG, base64 data URI); the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    pyplot().close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def _table(rows, header):
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _section(title, content):
    return f"<h2>{html.escape(title)}</h2>\n{content}\n"


def _labels(y):
    y = np.asarray(y)
    return y.argmax(-1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(len(y)).astype(np.int64)


def _first_conv(model):
    """The first 2-D convolution, also inside a nested model (a backbone in a Sequential)."""
    for layer in model.layers:
        found = _first_conv(layer) if isinstance(layer, Functional) else layer
        if isinstance(found, BaseConv) and found.rank == 2:
            return found
    return None


def _versions():
    from cnnkit import __version__  # noqa: PLC0415

    return f"cnnkit {__version__}, torch {torch.__version__}, python {platform.python_version()}"


def _headline(history, accuracy, count, best_monitor):
    """How good, in one paragraph: the validation accuracy of the report's model and which epoch it is."""
    text = f"<p class='headline'>Validation accuracy: <b>{accuracy:.4f}</b> on {count} images"
    logs = (history.history if hasattr(history, "history") else history) or {}
    values = logs.get(best_monitor or "val_accuracy") or []
    if values:
        best = int(np.nanargmax(values)) if "acc" in (best_monitor or "val_accuracy") else int(np.nanargmin(values))
        text += (f" (best epoch: {best + 1} of {len(values)}, {best_monitor or 'val_accuracy'} {values[best]:.4f}; "
                 f"last epoch: {values[-1]:.4f})")
    text += ".</p>"
    if best_monitor:
        text += (f"<p class='muted'>The model of this report is the best epoch's (kept by {best_monitor}); the "
                 "learning curves and the final metrics show every epoch up to the last.</p>")
    else:
        text += "<p class='muted'>The model of this report is the last epoch's.</p>"
    return text


def _confused(labels, predicted, names, num_classes):
    pairs = most_confused(labels, predicted, class_names=names, num_classes=num_classes)[:10]
    if not pairs:
        return "<p>Most confused: no mistakes.</p>"
    return "<p>Most confused (true class taken for predicted class):</p>" + _table(
        pairs, ("true", "predicted", "images"))


def _gradcam_picks(labels, count):
    """Indices of up to `count` images, one per class first (so that several classes are shown)."""
    picks = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)][:count]
    rest = [i for i in range(len(labels)) if i not in picks]
    return picks + rest[:count - len(picks)]


def _try(title, draw, parts):
    """Adds a section drawn by `draw()`; a section that cannot be drawn says why instead of breaking the report."""
    try:
        parts.append(_section(title, draw()))
    except (ValueError, TypeError, RuntimeError) as err:
        parts.append(_section(title, f'<p class="muted">Not available: {html.escape(str(err))}</p>'))


def write_report(path, model, history=None, x_val=None, y_val=None, class_names=None, train_data=None,
                 title="cnnkit report", info=None, gradcam_images=3, deprocess=None, gradcam_layer=None,
                 best_monitor=None):
    """Writes the HTML report of a trained classifier to `path` (atomically) and returns the path.

    Args:
        path: the .html file to write.
        model: the trained model (softmax classifier).
        history: the History of `fit` (or its `.history` dict), for the learning curves.
        x_val, y_val: validation images (n, h, w, c) as the model takes them, and labels (sparse or one-hot).
        class_names: names in class-index order (default: '0', '1', ...).
        train_data: a training iterator (or (x, y) batch) shown as the augmentation preview.
        title: the page title. info: extra {name: value} lines for the run information.
        gradcam_images: how many validation images get a Grad-CAM panel.
        deprocess: a function from the model's inputs back to 0-255 RGB, so that preprocessed images (an
            application's `preprocess_input`) show in their true colours (e.g. `APPLICATIONS.lookup(name).deprocess`).
        gradcam_layer: the layer Grad-CAM looks at (default: Grad-CAM's own choice, the last convolutional maps).
        best_monitor: the metric by which `model` was kept as the best epoch (e.g. 'val_accuracy' with
            ModelCheckpoint(save_best_only=True)); None: `model` is the last epoch's.
    """
    parts = []
    num_classes = int(model.output_shape[-1])
    names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
    rows = [("created", datetime.datetime.now().strftime("%Y-%m-%d %H:%M")), ("model", model.name),
            ("parameters", f"{model.count_params():,}"), ("classes", ", ".join(names))]
    rows += [(k, v) for k, v in (info or {}).items()]
    rows += [("device", str(config.get_device())), ("versions", _versions())]
    labels = None if y_val is None else _labels(y_val)
    predictions = None
    headline = ""
    if x_val is not None and labels is not None:
        predictions = np.asarray(model.predict(x_val, verbose=0))
        headline = _headline(history, float(np.mean(predictions.argmax(-1) == labels)), len(labels), best_monitor)
    parts.append(_section("Summary", headline + _table(rows, ("", ""))))
    data = ""
    train_classes = getattr(train_data, "classes", None)  # a folder iterator knows every training image's class
    if labels is not None:
        counts = np.bincount(labels, minlength=num_classes)
        if train_classes is not None and len(train_classes):
            train_counts = np.bincount(np.asarray(train_classes), minlength=num_classes)
            data += "<p>Images per class:</p>" + _table(
                [(n, t, v) for n, t, v in zip(names, train_counts, counts)], ("class", "training", "validation"))
        else:
            data += "<p>Validation images per class:</p>" + _table(zip(names, counts), ("class", "images"))
    if train_data is not None:
        data += "<p>A batch of training images as the model sees them (augmented):</p>"
        data += _png(show_batch(train_data, class_names=names, deprocess=deprocess))
    if data:
        parts.append(_section("Data", data))
    lines = []
    model.summary(print_fn=lambda text, *a, **k: lines.append(text), line_length=100)
    parts.append(_section("Model", f"<pre>{html.escape(chr(10).join(lines))}</pre>"))
    _try("Model diagram", lambda: _png(plot_model(model, to_file=None, show_shapes=True)), parts)
    if history is not None:
        logs = history.history if hasattr(history, "history") else history
        parts.append(_section("Learning curves", _png(plot_history(history))))
        final = [(k, f"{v[-1]:.4f}") for k, v in sorted(logs.items()) if len(v)]
        parts.append(_section("Final metrics (last epoch)", _table(final, ("metric", "value"))))
    if predictions is not None:
        predicted = predictions.argmax(-1)
        accuracy = float(np.mean(predicted == labels))
        parts.append(_section("Validation", f"<p>Accuracy: <b>{accuracy:.4f}</b> on {len(labels)} images.</p>"
                              + _png(plot_confusion_matrix(labels, predicted, class_names=names))
                              + f"<pre>{html.escape(classification_report(labels, predicted, class_names=names))}"
                                "</pre>" + _confused(labels, predicted, names, num_classes)))
        _try("Top losses", lambda: _png(plot_top_losses(model, x_val, labels, k=min(9, len(labels)),
                                                        class_names=names, deprocess=deprocess)), parts)
    conv = _first_conv(model)
    if conv is not None:
        _try(f"First-layer filters ({conv.name})", lambda: _png(plot_filters(conv)), parts)
    if x_val is not None and len(x_val):
        _try("Feature maps of one validation image",
             lambda: _png(plot_feature_maps(model, x_val[0], max_maps=REPORT_MAPS)) + _MAPS_NOTE, parts)
        if conv is not None:
            picks = (_gradcam_picks(labels, gradcam_images) if labels is not None
                     else range(min(gradcam_images, len(x_val))))
            _try("Grad-CAM", lambda: "".join(_png(plot_grad_cam(model, x_val[i], layer=gradcam_layer,
                                                                class_names=names, deprocess=deprocess))
                                             for i in picks), parts)
    page = (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n" + "".join(parts)
            + "</body></html>\n")
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    return path

