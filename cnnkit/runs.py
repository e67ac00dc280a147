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
import sys
import time

import numpy as np
from PIL import Image

from cnnkit.applications import APPLICATIONS
from cnnkit.applications.registry import prepare
from cnnkit.callbacks import CSVLogger, EarlyStopping, History, ModelCheckpoint
from cnnkit.data.directory import index_directory
from cnnkit.data.image_io import DECODE_ERRORS, has_image_extension
from cnnkit.layers import Dense, GlobalAveragePooling2D, Input, InputLayer
from cnnkit.mixed_precision import global_policy, set_global_policy
from cnnkit.models import Model, Sequential
from cnnkit.models.saving import load_model
from cnnkit.preprocessing.image import ImageDataGenerator
from cnnkit.registry import did_you_mean
from cnnkit.training.distributed import is_chief
from cnnkit.training.interrupts import run_forwarding_stops
from cnnkit.training.lr_finder import lr_find
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
#: The largest image size `train` accepts (img_size / --img-size).
MAX_IMG_SIZE = 2048


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
    if img_size is not None and img_size > MAX_IMG_SIZE:
        raise RunError(f"--img-size {img_size} is too large: at most {MAX_IMG_SIZE} pixels (a batch of 16 RGB "
                       f"images of {MAX_IMG_SIZE}x{MAX_IMG_SIZE} is already 0.8 GB of input).")
    if not os.path.isdir(data_dir):
        raise RunError(f"{data_dir!r} is not a folder (expected one sub-folder of images per class).")
    classes, files, _ = index_directory(data_dir)
    if not files:
        loose = [name for name in os.listdir(data_dir) if has_image_extension(name)]
        if loose:
            raise RunError(f"{data_dir!r} holds {len(loose)} images but no class sub-folders: put each class in its "
                           f"own sub-folder ({data_dir}/cats/..., {data_dir}/dogs/...); the sub-folder names are the "
                           "class names.")
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


class _RunHistory(History):
    """History over both stages of a fine-tuning run (a second `fit` continues it)."""

    def on_train_begin(self, logs=None):
        pass


def last_block(backbone, last_conv):
    """The layers of a backbone's last block: from the first layer whose output has the spatial size of `last_conv`
    (the architecture's last convolutional maps) to the end (ResNet50: conv5_*, VGG16: block4_pool and block5_*,
    MobileNetV2: block_13 onwards). These are what fine-tuning unfreezes."""
    size = tuple(backbone.get_layer(last_conv).output.shape[1:3])
    layers = list(backbone.layers)
    for i, layer in enumerate(layers):
        shape = layer.output.shape if not isinstance(layer.output, list) else layer.output[0].shape
        if len(shape) == 4 and tuple(shape[1:3]) == size:
            return layers[i:]
    return []


def _optimizer(name, learning_rate):
    from cnnkit import optimizers  # noqa: PLC0415

    optimizer = optimizers.get(name)
    if learning_rate is not None:
        optimizer.learning_rate = learning_rate
    return optimizer


def _settings(optimizer, learning_rate, batch_size, seed, patience, fine_tune, cache):
    rate = learning_rate if learning_rate is not None else float(_optimizer(optimizer, None).learning_rate)
    text = {"optimizer": f"{optimizer} (learning rate {rate:g})", "batch size": batch_size, "seed": seed}
    if patience:
        text["early stopping"] = f"patience {patience} (val_accuracy)"
    if fine_tune:
        text["fine-tuning"] = f"{fine_tune} epochs, last block unfrozen, learning rate {rate / 10:g}"
    if cache:
        text["frozen-feature cache"] = "on"
    return text, rate


def input_for(entry, color_mode, size):
    """(colour mode, size) the architecture `entry` is built for from a folder's: ImageNet architectures take
    colour input of at least their minimum size."""
    if entry.pretrained:
        return "rgb", tuple(max(entry.min_size, v) for v in size)
    return color_mode, size


def flows(data_dir, size, color_mode, batch_size, seed, validation_split, preprocessing, augment=()):
    """(training iterator (augmented, shuffled), validation iterator (in order)) over a class-folder tree."""
    flow = dict(target_size=size, color_mode=color_mode, class_mode="sparse", batch_size=batch_size, seed=seed)
    train_flow = ImageDataGenerator(validation_split=validation_split, **pixel_arguments(preprocessing),
                                    **augmentation_arguments(augment)).flow_from_directory(
        data_dir, subset="training", **flow)
    val_flow = ImageDataGenerator(validation_split=validation_split, **pixel_arguments(preprocessing)
                                  ).flow_from_directory(data_dir, subset="validation", shuffle=False, **flow)
    return train_flow, val_flow


def find_learning_rate(data_dir, model="small", batch_size=16, img_size=None, validation_split=0.2, seed=0,
                       weights=None, freeze=False, optimizer="adam", steps=100, out="lr_find.png"):
    """`cnnkit lr-find`: the learning-rate range test (`cnnkit.training.lr_find`) of the model `cnnkit train` would
    build with these arguments, on its training images; writes the plot to `out` and returns the result."""
    classes, _, size, color_mode = probe_folder(data_dir, img_size)
    entry = APPLICATIONS.lookup(model)
    color_mode, size = input_for(entry, color_mode, size)
    net, preprocessing = build(model, size + ((1 if color_mode == "grayscale" else 3),), len(classes), weights,
                               freeze)
    train_flow, _ = flows(data_dir, size, color_mode, batch_size, seed, validation_split, preprocessing)
    net.compile(optimizer=_optimizer(optimizer, None), loss="sparse_categorical_crossentropy")
    result = lr_find(net, train_flow, steps=steps)
    result.plot(out)
    return result


def train(data_dir, model="small", epochs=12, batch_size=16, img_size=None, augment=(), validation_split=0.2,
          out=None, seed=0, verbose=1, weights=None, freeze=False, optimizer="adam", learning_rate=None,
          patience=None, cache=False, fine_tune=0, command=None, precision="float32"):
    """Trains a built-in architecture on a class-folder tree and writes the run folder; returns (model, history,
    run folder).

    Args:
        weights: None, 'imagenet' (architectures with ImageNet weights) or a weights file.
        freeze: keep a pretrained backbone's weights and BatchNormalization statistics fixed.
        optimizer, learning_rate: the optimizer's name and learning rate (default: adam at Keras's 0.001).
        patience: stop after this many epochs without a better val_accuracy (EarlyStopping); None: never.
        cache: compute a frozen backbone's features once (`fit(cache_frozen=True)`); needs `freeze` and no
            augmentation.
        fine_tune: after `epochs` on a frozen backbone, unfreeze its last block (`last_block`) and train this many
            more epochs at a tenth of the learning rate (the freeze-then-unfreeze recipe); needs pretrained weights.
        command: the command line, recorded in the report.
        precision: the dtype policy the model's layers are built with ('float32', 'mixed_bfloat16',
            'mixed_float16'; see `cnnkit.precision_support`).

    Ctrl-C stops training; the best model so far stays in the run folder and the report is written for it
    (KeyboardInterrupt is re-raised after saying so).
    """
    started = time.perf_counter()
    classes, count, size, color_mode = probe_folder(data_dir, img_size)
    entry = APPLICATIONS.lookup(model)
    if fine_tune and not (entry.pretrained and weights is not None):
        raise RunError(f"--fine-tune unfreezes the last block of a pretrained backbone: choose an architecture with "
                       f"ImageNet weights ({', '.join(backbones())}) and --weights imagenet (or a weights file).")
    if cache and not (freeze or fine_tune):
        raise RunError("--cache keeps the frozen backbone's features: add --freeze (or --fine-tune N).")
    if cache and augment:
        raise RunError("--cache computes each image's backbone features once, so it cannot be combined with "
                       "--augment (every epoch would see new images).")
    color_mode, size = input_for(entry, color_mode, size)
    channels = 1 if color_mode == "grayscale" else 3
    previous = global_policy()
    set_global_policy(precision)  # layers take the global policy when they are created
    try:
        net, preprocessing = build(model, size + (channels,), len(classes), weights, freeze or bool(fine_tune))
    finally:
        set_global_policy(previous)
    settings, rate = _settings(optimizer, learning_rate, batch_size, seed, patience, fine_tune, cache)
    train_flow, val_flow = flows(data_dir, size, color_mode, batch_size, seed, validation_split, preprocessing,
                                 augment)
    for part, part_flow in (("training", train_flow), ("validation", val_flow)):
        if part_flow.samples == 0:
            raise RunError(f"--validation-split {validation_split} leaves no {part} image (of {count}); use a "
                           f"value that keeps images on both sides, e.g. 0.2.")
    out = out or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)  # after the checks: a failed start leaves no empty run folder
    net.compile(optimizer=_optimizer(optimizer, learning_rate), loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
    if verbose and is_chief():
        print(f"Training {entry.key} ({net.count_params():,} parameters; weights: {weights or 'random'}"
              f"{', backbone frozen' if freeze or fine_tune else ''}) on {size[0]}x{size[1]} {color_mode} images, "
              f"{len(classes)} classes, {epochs + fine_tune} epoch{'s' * (epochs + fine_tune != 1)}; run folder: "
              f"{out}", flush=True)
    labels = {"class_names": classes, "image_size": list(size), "color_mode": color_mode, "rescale": RESCALE,
              "preprocessing": preprocessing, "model": model, "data_dir": os.path.abspath(data_dir),
              "precision": precision}
    if is_chief():  # under torchrun, process 0 writes the run folder
        with atomic_path(os.path.join(out, "labels.json")) as tmp, open(tmp, "w") as f:
            json.dump(labels, f, indent=2)
    model_path = os.path.join(out, "model.keras")
    callbacks = [ModelCheckpoint(model_path, monitor="val_accuracy", save_best_only=True),
                 CSVLogger(os.path.join(out, "history.csv"))]
    if patience:
        callbacks.append(EarlyStopping(monitor="val_accuracy", patience=patience))
    history = _RunHistory()

    def report(interrupted=False):
        if not is_chief():
            return
        best = load_model(model_path) if os.path.exists(model_path) else net
        x_val, y_val = collect(val_flow)
        info = {"data": os.path.abspath(data_dir), "images": f"{train_flow.samples} training, {val_flow.samples} "
                f"validation", "input": f"{size[0]}x{size[1]} {color_mode}", "epochs": epochs + fine_tune,
                "augmentation": ", ".join(augment) or "none", "weights": weights or "random",
                "frozen backbone": "yes" if freeze or fine_tune else "no", **settings, "precision": precision,
                "model file": model_path,
                "duration": f"{time.perf_counter() - started:.0f} s" + (" (interrupted with Ctrl-C)" if interrupted
                                                                         else "")}
        if command:
            info["command"] = command
        write_report(os.path.join(out, "report.html"), best, history, x_val, y_val, class_names=classes,
                     train_data=train_flow, title=f"cnnkit train: {os.path.basename(os.path.abspath(data_dir))}",
                     info=info, deprocess=entry.deprocess, gradcam_layer=entry.last_conv,
                     best_monitor="val_accuracy" if os.path.exists(model_path) else None)

    try:
        net.fit(train_flow, validation_data=val_flow, epochs=epochs, callbacks=[*callbacks, history],
                verbose=verbose, cache_frozen=True if cache else "auto")
        if fine_tune and not net.stop_training:
            backbone = net.layers[1] if isinstance(net.layers[0], InputLayer) else net.layers[0]
            backbone.trainable = True
            unfrozen = {id(layer) for layer in last_block(backbone, entry.last_conv)}
            for layer in backbone.layers:
                layer.trainable = id(layer) in unfrozen
            net.compile(optimizer=_optimizer(optimizer, rate / 10), loss="sparse_categorical_crossentropy",
                        metrics=["accuracy"])
            callbacks[1] = CSVLogger(os.path.join(out, "history.csv"), append=True)  # one file for both stages
            net.fit(train_flow, validation_data=val_flow, epochs=epochs + fine_tune, initial_epoch=epochs,
                    callbacks=[*callbacks, history], verbose=verbose)
    except KeyboardInterrupt:
        saved = os.path.exists(model_path)
        print(f"\nInterrupted: the best model so far is in {model_path}" if saved
              else "\nInterrupted before the first epoch ended: no model saved.")
        if saved and history.epoch:
            report(interrupted=True)
        raise
    report()
    return net, history, out


def launch(nproc, argv, data_dir, img_size=None, augment=(), out=None):
    """Runs the command line `argv` (a `cnnkit train ...` without --nproc's effect) in `nproc` processes on this
    machine with torch.distributed.run --standalone (through `cnnkit.training.launcher`; data parallel training, no
    network needed); returns its exit code (128 + the signal after a stop, which every process saves before). The
    folder and augmentations are checked first, so mistakes are one clear line, and the run folder is chosen here so
    that every process writes to the same one."""
    probe_folder(data_dir, img_size)
    augmentation_arguments(augment)
    argv = _without_option(list(argv), "--nproc")
    if out is None:
        argv += ["--out", os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))  # the cores, shared out
    command = [sys.executable, "-m", "cnnkit.training.launcher", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "cnnkit.cli", *argv]
    return run_forwarding_stops(command, env, notice="cnnkit train: stopping: the training processes save the best "
                                                     "model so far and the report (again to stop them at once)")


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
