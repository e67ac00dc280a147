"""Training runs from a class-folder tree, and using their models: what `cnnkit train / evaluate / predict` do.

A run folder holds `model.keras` (the best model by validation accuracy), `history.csv` (one row per epoch),
`labels.json` (class names in index order, image size, colour mode and the pixel scale the model expects), so a
model can be used on new images without remembering how it was trained, and `report.html` (see
`cnnkit.visualization.report`).

    runs/fruits/
      model.keras  history.csv  labels.json  report.html
"""

import functools
import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from cnnkit.applications import APPLICATIONS
from cnnkit.applications.registry import prepare
from cnnkit.callbacks import CSVLogger, ModelCheckpoint
from cnnkit.data.directory import index_directory, list_classes, list_images
from cnnkit.data.image_io import DECODE_ERRORS, img_to_array, load_img
from cnnkit.layers import Dense, GlobalAveragePooling2D, Input
from cnnkit.mixed_precision import global_policy, set_global_policy
from cnnkit.models import Model, Sequential
from cnnkit.models.saving import load_model
from cnnkit.preprocessing.image import ImageDataGenerator
from cnnkit.registry import did_you_mean
from cnnkit.training.distributed import is_chief
from cnnkit.utils.io import atomic_path
from cnnkit.visualization.report import write_report

#: What each `--augment` name turns on (ImageDataGenerator arguments).
AUGMENTATIONS = {
    "flip": {"horizontal_flip": True},
    "rotate": {"rotation_range": 20},
    "zoom": {"zoom_range": 0.2},
    "brightness": {"brightness_range": (0.8, 1.2)},
    "contrast": {"contrast_range": 0.2},
    "blur": {"blur_range": 1.0},
    "noise": {"noise_std": 8.0},
}
RESCALE = 1 / 255


class RunError(ValueError):
    """A problem with the user's data or files, reported as one line."""


def augmentation_arguments(names):
    """ImageDataGenerator arguments for a list of augmentation names ('flip', 'rotate', ...)."""
    arguments = {}
    for name in names:
        if name not in AUGMENTATIONS:
            raise RunError(f"unknown augmentation {name!r}; choose from {', '.join(AUGMENTATIONS)}."
                           f"{did_you_mean(name, AUGMENTATIONS)}")
        arguments.update(AUGMENTATIONS[name])
    return arguments


def probe_folder(data_dir, img_size=None):
    """(class names, image count, (height, width), color_mode) of a class-folder tree; clear errors when unusable.

    Without `img_size` the images' median size is used, capped at 150 pixels a side; grayscale when the sampled
    images are all single-channel.
    """
    if not os.path.isdir(data_dir):
        raise RunError(f"{data_dir!r} is not a folder (expected one sub-folder of images per class).")
    classes, files, _ = index_directory(data_dir)
    if not files:
        raise RunError(f"no images found in {data_dir!r} (expected one sub-folder of images per class).")
    counts = {name: sum(f.startswith(name + os.sep) for f in files) for name in classes}
    used = [name for name, count in counts.items() if count]
    if len(used) < 2:
        raise RunError(f"{data_dir!r} has images of {len(used)} class only ({used}); a classifier needs at least 2 "
                       f"class folders with images.")
    sizes, modes = [], set()
    for name in files[:: max(1, len(files) // 32)][:32]:  # a sample spread over the classes
        size, mode = _size_and_mode(os.path.join(data_dir, name))
        if size is not None:
            sizes.append(size)
            modes.add(mode)
    if not sizes:
        raise RunError(f"none of the sampled images in {data_dir!r} could be read.")
    color_mode = "grayscale" if modes == {"L"} else "rgb"
    if img_size is None:
        img_size = tuple(int(min(150, v)) for v in np.median(np.array(sizes), axis=0))
    else:
        img_size = (img_size, img_size)
    return classes, len(files), img_size, color_mode


def _size_and_mode(path):
    """((height, width), 'L' for single-channel else PIL's mode) from the file header; (None, None) if unreadable."""
    try:
        with Image.open(path) as img:
            return img.size[::-1], ("L" if img.mode in ("L", "1", "I;16", "I") else img.mode)
    except DECODE_ERRORS:
        return None, None


def backbones():
    """Names of the architectures with ImageNet weights, trained as a backbone + pooling + softmax head."""
    return [name for name in APPLICATIONS.names() if APPLICATIONS.lookup(name).pretrained]


def pixel_arguments(preprocessing):
    """ImageDataGenerator arguments that turn 0-255 pixels into what the model takes: an application's
    preprocess_input mode ('caffe', 'tf', 'torch'), 'none' (the model takes 0-255 pixels) or 'rescale' (x / 255)."""
    if preprocessing == "rescale":
        return {"rescale": RESCALE}  # ImageDataGenerator's own rescale (fused into its float conversion)
    if preprocessing == "none":
        return {}
    return {"preprocessing_function": functools.partial(prepare, mode=preprocessing)}


def build(model, input_shape, classes, weights=None, freeze=False):
    """(model, its pixel preprocessing name). Architectures with ImageNet weights are a backbone without its top +
    GlobalAveragePooling2D + Dense(classes, softmax), as in the notes (a frozen backbone runs in inference mode,
    `backbone(x, training=False)`, so its dropout and BatchNormalization are fixed too); the small nets are built
    whole."""
    entry = APPLICATIONS.lookup(model)
    if freeze and entry.pretrained and weights is None:
        raise RunError("--freeze keeps a pretrained backbone fixed: add --weights imagenet (or a weights file); "
                       "a frozen backbone with random weights learns nothing.")
    if entry.pretrained:
        backbone = entry(include_top=False, weights=weights, input_shape=input_shape)
        if freeze:
            backbone.trainable = False
            inputs = Input(shape=input_shape)
            x = GlobalAveragePooling2D()(backbone(inputs, training=False))
            return Model(inputs, Dense(classes, activation="softmax")(x), name=f"{entry.key}_classifier"), \
                entry.preprocessing
        return Sequential([backbone, GlobalAveragePooling2D(), Dense(classes, activation="softmax")]), \
            entry.preprocessing
    if freeze:
        raise RunError(f"--freeze needs a pretrained backbone ({', '.join(backbones())}); {model!r} is trained "
                       "from scratch.")
    net = entry(input_shape=input_shape, classes=classes)
    if weights is not None:
        if weights == "imagenet":
            raise RunError(f"{model!r} has no ImageNet weights; these architectures have: {', '.join(backbones())}.")
        net.load_weights(weights)
    return net, entry.preprocessing


def train(data_dir, model="small", epochs=12, batch_size=16, img_size=None, augment=(), validation_split=0.2,
          out=None, seed=0, verbose=1, weights=None, freeze=False, precision="float32"):
    """Trains a built-in architecture on a class-folder tree and writes the run folder; returns (model, history,
    run folder). `weights`: None, 'imagenet' (architectures with ImageNet weights) or a weights file; `freeze`
    keeps a pretrained backbone's weights and BatchNormalization statistics fixed. `precision`: the dtype
    policy the model's layers are built with ('float32', 'mixed_bfloat16', 'mixed_float16'; see
    `cnnkit.precision_support`). Ctrl-C stops training; the best model so far stays in the
    run folder (KeyboardInterrupt is re-raised after saying so)."""
    classes, count, size, color_mode = probe_folder(data_dir, img_size)
    entry = APPLICATIONS.lookup(model)
    if entry.pretrained:  # ImageNet-style: colour input, at least the architecture's minimum size
        color_mode, size = "rgb", tuple(max(entry.min_size, v) for v in size)
    channels = 1 if color_mode == "grayscale" else 3
    previous = global_policy()
    set_global_policy(precision)  # layers take the global policy when they are created
    try:
        net, preprocessing = build(model, size + (channels,), len(classes), weights, freeze)
    finally:
        set_global_policy(previous)
    out = out or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)  # after the checks: a failed start leaves no empty run folder
    flow = dict(target_size=size, color_mode=color_mode, class_mode="sparse", batch_size=batch_size, seed=seed)
    train_flow = ImageDataGenerator(validation_split=validation_split, **pixel_arguments(preprocessing),
                                    **augmentation_arguments(augment)).flow_from_directory(
        data_dir, subset="training", **flow)
    val_flow = ImageDataGenerator(validation_split=validation_split, **pixel_arguments(preprocessing)
                                  ).flow_from_directory(data_dir, subset="validation", shuffle=False, **flow)
    net.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    labels = {"class_names": classes, "image_size": list(size), "color_mode": color_mode, "rescale": RESCALE,
              "preprocessing": preprocessing, "model": model, "data_dir": os.path.abspath(data_dir),
              "precision": precision}
    if is_chief():  # under torchrun, process 0 writes the run folder
        with atomic_path(os.path.join(out, "labels.json")) as tmp, open(tmp, "w") as f:
            json.dump(labels, f, indent=2)
    model_path = os.path.join(out, "model.keras")
    callbacks = [ModelCheckpoint(model_path, monitor="val_accuracy", save_best_only=True),
                 CSVLogger(os.path.join(out, "history.csv"))]
    try:
        history = net.fit(train_flow, validation_data=val_flow, epochs=epochs, callbacks=callbacks,
                          verbose=verbose)
    except KeyboardInterrupt:
        print(f"\nInterrupted: the best model so far is in {model_path}" if os.path.exists(model_path)
              else "\nInterrupted before the first epoch ended: no model saved.")
        raise
    if not is_chief():
        return net, history, out
    best = load_model(model_path) if os.path.exists(model_path) else net
    x_val, y_val = collect(val_flow)
    info = {"data": os.path.abspath(data_dir), "images": f"{train_flow.samples} training, {val_flow.samples} "
            f"validation", "input": f"{size[0]}x{size[1]} {color_mode}", "epochs": epochs,
            "augmentation": ", ".join(augment) or "none", "weights": weights or "random",
            "frozen backbone": "yes" if freeze else "no", "precision": precision, "model file": model_path}
    write_report(os.path.join(out, "report.html"), best, history, x_val, y_val, class_names=classes,
                 train_data=train_flow, title=f"cnnkit train: {os.path.basename(os.path.abspath(data_dir))}",
                 info=info, deprocess=entry.deprocess, gradcam_layer=entry.last_conv)
    return net, history, out


def launch(nproc, argv, data_dir, img_size=None, augment=(), out=None):
    """Runs the command line `argv` (a `cnnkit train ...` without --nproc's effect) in `nproc` processes on this
    machine with `python -m torch.distributed.run --standalone` (data parallel training; no network needed);
    returns its exit code. The folder and augmentations are checked first, so mistakes are one clear line, and
    the run folder is chosen here so that every process writes to the same one."""
    probe_folder(data_dir, img_size)
    augmentation_arguments(augment)
    argv = _without_option(list(argv), "--nproc")
    if out is None:
        argv += ["--out", os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))  # the cores, shared out
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "cnnkit.cli", *argv]
    return subprocess.run(command, env=env, check=False).returncode


def _without_option(argv, name):
    """`argv` without `name VALUE` / `name=VALUE`."""
    kept, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == name:
            skip = True
        elif not item.startswith(name + "="):
            kept.append(item)
    return kept


def collect(flow, limit=2000):
    """Up to `limit` (images, labels) of an iterator, in its order (for the report)."""
    xs, ys, total = [], [], 0
    for i in range(len(flow)):
        x, y = flow[i][:2]
        xs.append(x)
        ys.append(y)
        total += len(x)
        if total >= limit:
            break
    return np.concatenate(xs)[:limit], np.concatenate(ys)[:limit]


def load_run(model_path):
    """(model, labels dict) for a saved model; labels.json is read from the model's folder when there."""
    if not os.path.isfile(model_path):
        raise RunError(f"model file {model_path!r} not found.")
    try:
        model = load_model(model_path)
    except (OSError, ValueError, KeyError) as err:
        raise RunError(f"could not read the model {model_path!r}: {err}") from None
    labels_path = os.path.join(os.path.dirname(os.path.abspath(model_path)), "labels.json")
    labels = {}
    if os.path.isfile(labels_path):
        with open(labels_path) as f:
            labels = json.load(f)
    height, width, channels = model.input_shape[1:4]
    labels.setdefault("image_size", [height, width])
    labels.setdefault("color_mode", "grayscale" if channels == 1 else "rgb")
    labels.setdefault("rescale", RESCALE)
    labels.setdefault("preprocessing", "rescale")
    labels.setdefault("class_names", [str(i) for i in range(model.output_shape[-1])])
    return model, labels


def image_paths(paths):
    """Image files named by `paths` (files, or folders searched recursively), in order."""
    found = []
    for path in paths:
        if os.path.isdir(path):
            found += [os.path.join(path, f) for f in list_images(path)]
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise RunError(f"{path!r} is not an image file or a folder.")
    if not found:
        raise RunError(f"no images found in {', '.join(map(repr, paths))}.")
    return found


def predict(model_path, paths, top=3):
    """[{'path', 'predictions': [(class name, probability), ...top]}] for image files or folders."""
    model, labels = load_run(model_path)
    files = image_paths(paths)
    images = []
    for path in files:
        try:
            img = load_img(path, color_mode=labels["color_mode"], target_size=tuple(labels["image_size"]))
        except DECODE_ERRORS as err:
            raise RunError(f"could not read the image {path!r}: {err}") from None
        images.append(img_to_array(img))
    batch = np.stack(images)
    batch = prepare(batch, labels["preprocessing"])
    probabilities = np.asarray(model.predict(batch, verbose=0))
    names = labels["class_names"]
    results = []
    for path, row in zip(files, probabilities):
        best = np.argsort(-row)[:top]
        results.append({"path": path, "predictions": [(names[i], float(row[i])) for i in best]})
    return results


def evaluate(model_path, data_dir, batch_size=32):
    """{'loss', 'accuracy', 'samples'} of a saved model on a class-folder tree with the same classes."""
    model, labels = load_run(model_path)
    classes = list_classes(data_dir) if os.path.isdir(data_dir) else None
    if classes is None:
        raise RunError(f"{data_dir!r} is not a folder (expected one sub-folder of images per class).")
    unknown = sorted(set(classes) - set(labels["class_names"]))
    if unknown:
        raise RunError(f"class folders {unknown} are not classes of this model ({labels['class_names']}).")
    flow = ImageDataGenerator(**pixel_arguments(labels["preprocessing"])).flow_from_directory(
        data_dir, target_size=tuple(labels["image_size"]), color_mode=labels["color_mode"],
        classes=labels["class_names"], class_mode="sparse", batch_size=batch_size, shuffle=False)
    if flow.samples == 0:
        raise RunError(f"no images found in {data_dir!r}.")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, accuracy = model.evaluate(flow, verbose=0)
    return {"loss": float(loss), "accuracy": float(accuracy), "samples": flow.samples}
