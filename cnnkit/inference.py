"""Using a trained run's model on new images: what `cnnkit predict` and `cnnkit evaluate` do.

`load_run(model_path)` gives the model and its `labels.json` (class names, image size, colour mode, pixel
preprocessing); `predict_files` streams predictions over any number of image files in batches (memory flat in the
number of files; an unreadable file is reported, not fatal); `evaluate_folder` gives loss, accuracy, per-class
precision and recall and the confusion matrix on a class-folder tree, optionally with test-time augmentation.
"""

import json
import os

import numpy as np

from cnnkit.applications.registry import prepare
from cnnkit.data.directory import list_classes, list_images, warn_rejected
from cnnkit.data.image_io import DECODE_ERRORS, img_to_array, load_img
from cnnkit.models.saving import load_model
from cnnkit.preprocessing.image import ImageDataGenerator
from cnnkit.runs import RESCALE, RunError, pixel_arguments
from cnnkit.training.tta import predict_tta
from cnnkit.training.tta import scores as tta_scores
from cnnkit.visualization.evaluation import classification_report, confusion_matrix, most_confused


def load_run(model_path):
    """(model, labels dict) for a saved model; labels.json is read from the model's folder when there."""
    if not os.path.isfile(model_path):
        raise RunError(f"model file {model_path!r} not found.")
    try:
        model = load_model(model_path)
    except (OSError, ValueError, KeyError) as err:
        raise RunError(f"could not read the model {model_path!r}: {err}") from None
    labels_path = os.path.join(os.path.dirname(os.path.abspath(model_path)), "labels.json")
    labels = _read_labels(labels_path) if os.path.isfile(labels_path) else {}
    height, width, channels = model.input_shape[1:4]
    labels.setdefault("image_size", [height, width])
    labels.setdefault("color_mode", "grayscale" if channels == 1 else "rgb")
    labels.setdefault("rescale", RESCALE)
    labels.setdefault("preprocessing", "rescale")
    labels.setdefault("class_names", [str(i) for i in range(model.output_shape[-1])])
    if len(labels["class_names"]) != model.output_shape[-1]:
        raise RunError(f"{labels_path!r} names {len(labels['class_names'])} classes but the model "
                       f"{model_path!r} has {model.output_shape[-1]} outputs: the model and its labels.json come "
                       "from different runs.")
    return model, labels


#: labels.json's fields and what each must be (a check on the value, its description).
LABEL_FIELDS = {
    "class_names": (lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v), "a list of names"),
    "image_size": (lambda v: isinstance(v, list) and len(v) == 2 and all(
        isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in v), "[height, width], positive ints"),
    "color_mode": (lambda v: v in ("grayscale", "rgb", "rgba"), "'grayscale', 'rgb' or 'rgba'"),
    "preprocessing": (lambda v: isinstance(v, str), "a preprocessing mode name"),
    "rescale": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
}


def _read_labels(path):
    """A run folder's labels.json as a dict, its known fields checked; a RunError naming the file otherwise."""
    try:
        with open(path, encoding="utf-8") as f:
            labels = json.load(f)
    except (OSError, ValueError) as err:  # ValueError: not JSON (json.JSONDecodeError), not UTF-8
        raise RunError(f"the run file {path!r} cannot be read ({err}); delete or repair it.") from None
    if not isinstance(labels, dict):
        raise RunError(f"the run file {path!r} must hold a JSON object; it holds a {type(labels).__name__}.")
    for field, (valid, expected) in LABEL_FIELDS.items():
        if field in labels and not valid(labels[field]):
            raise RunError(f"the run file {path!r}: {field} must be {expected}. Received: {labels[field]!r}")
    return labels


def image_paths(paths):
    """Image files named by `paths` (files, or folders searched recursively), in order; files of a folder that
    cannot be images are left out with one warning."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            rejected = []
            found += [os.path.join(path, f) for f in list_images(path, rejected=rejected)]
            warn_rejected(rejected, path)
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise RunError(f"{path!r} is not an image file or a folder.")
    if not found:
        raise RunError(f"no images found in {', '.join(map(repr, paths))}.")
    return found


def predict_files(model, labels, files, top=3, batch_size=32, tta=()):
    """Yields one dict per file, in order, decoding and predicting `batch_size` files at a time:
    {'path', 'predictions': [(class name, probability), ... top]} or, for a file that cannot be read,
    {'path', 'error': why}.

    Args:
        model, labels: from `load_run`.
        files: image paths.
        top: classes per image.
        batch_size: files decoded and predicted together (memory is bounded by it, not by len(files)).
        tta: test-time augmentations (`cnnkit.training.tta.TRANSFORMS` names), e.g. ('hflip',); () for none.
    """
    names, size = labels["class_names"], tuple(labels["image_size"])
    for start in range(0, len(files), batch_size):
        chunk, images, errors = files[start:start + batch_size], [], {}
        for path in chunk:
            try:
                images.append(img_to_array(load_img(path, color_mode=labels["color_mode"], target_size=size)))
            except DECODE_ERRORS as err:
                errors[path] = f"cannot read it as an image ({type(err).__name__}: {err})"
        rows = iter(())
        if images:
            batch = prepare(np.stack(images), labels["preprocessing"])
            rows = iter(predict_tta(model, batch, tta, batch_size) if tta else
                        np.asarray(model.predict(batch, verbose=0)))
        for path in chunk:
            if path in errors:
                yield {"path": path, "error": errors[path]}
                continue
            row = next(rows)
            best = np.argsort(-row)[:top]
            yield {"path": path, "predictions": [(names[i], float(row[i])) for i in best]}


def predict(model_path, paths, top=3, batch_size=32, tta=()):
    """[{'path', 'predictions': [(class name, probability), ...top]} or {'path', 'error'}] for image files or
    folders (a list; `predict_files` streams)."""
    model, labels = load_run(model_path)
    return list(predict_files(model, labels, image_paths(paths), top=top, batch_size=batch_size, tta=tta))


def evaluate_folder(model_path, data_dir, batch_size=32, tta=()):
    """A saved model on a class-folder tree with the same classes.

    Returns:
        {'loss', 'accuracy', 'samples', 'class_names', 'confusion_matrix' ((K, K) list), 'report' (the
        classification report as text), 'most_confused', 'model' and 'labels' (`load_run`'s), 'flow' (the
        iterator, in file order)}; loss (categorical cross-entropy) and accuracy are those of the (test-time
        augmented) predictions.
    """
    model, labels = load_run(model_path)
    classes = list_classes(data_dir) if os.path.isdir(data_dir) else None
    if classes is None:
        raise RunError(f"{data_dir!r} is not a folder (expected one sub-folder of images per class).")
    names = labels["class_names"]
    unknown = sorted(set(classes) - set(names))
    if unknown:
        raise RunError(f"class folders {unknown} are not classes of this model ({names}).")
    flow = ImageDataGenerator(**pixel_arguments(labels["preprocessing"])).flow_from_directory(
        data_dir, target_size=tuple(labels["image_size"]), color_mode=labels["color_mode"], classes=names,
        class_mode="sparse", batch_size=batch_size, shuffle=False)
    if flow.samples == 0:
        raise RunError(f"no images found in {data_dir!r}.")
    # one pass over the images: loss and accuracy come from the same predictions as the confusion matrix
    probabilities = predict_tta(model, flow, transforms=tta) if tta else np.asarray(model.predict(flow, verbose=0))
    truth, predicted = np.asarray(flow.classes), probabilities.argmax(-1)
    return {**tta_scores(probabilities, truth), "class_names": names,
            "confusion_matrix": confusion_matrix(truth, predicted, num_classes=len(names)).tolist(),
            "report": classification_report(truth, predicted, class_names=names),
            "most_confused": most_confused(truth, predicted, class_names=names, num_classes=len(names)),
            "model": model, "labels": labels,
            "flow": flow}
