"""The `cnnkit` command line.

    cnnkit demo                   # train a small MNIST convnet on the built-in 5,000 digits, report accuracy
    cnnkit lr-find DATA_DIR       # suggest a learning rate
    cnnkit train DATA_DIR --model small --epochs 12 --augment flip,rotate --out runs/fruits
    cnnkit evaluate runs/fruits/model.keras DATA_DIR
    cnnkit predict runs/fruits/model.keras photo.jpg more_photos/ --top 3 [--json]
    cnnkit summary lenet          # a built-in architecture, or a saved model file
    cnnkit plot runs/fruits/model.keras model.png --show-shapes
    cnnkit export runs/fruits/model.keras --onnx  # writes runs/fruits/model.onnx
    cnnkit summary small --input-shape 32,32,3 --classes 10

This module parses the command line and dispatches; the sub-commands are in `cnnkit.commands` (demo, training,
inference, models), which import torch only when a command runs.
"""

import argparse
import os
import sys

import cnnkit  # light: the sub-packages (and torch) load on first use, so --help and --version start at once
from cnnkit.commands import applications
from cnnkit.commands import demo as demo_command
from cnnkit.commands import inference
from cnnkit.commands import models
from cnnkit.commands import training
from cnnkit.precision_support import PRECISIONS, precision_help

# The architectures `--model`, `summary`, `plot` and `export` take: the names of cnnkit.applications.APPLICATIONS,
# listed here so that `--help` needs no torch (a test checks the two lists are equal).
ARCHITECTURES = (
    "convnextbase", "convnextlarge", "convnextsmall", "convnexttiny", "convnextxlarge", "densenet121", "densenet169",
    "densenet201", "efficientnetb0", "efficientnetb1", "efficientnetb2", "efficientnetb3", "efficientnetb4",
    "efficientnetb5", "efficientnetb6", "efficientnetb7", "efficientnetv2b0", "efficientnetv2b1", "efficientnetv2b2",
    "efficientnetv2b3", "efficientnetv2l", "efficientnetv2m", "efficientnetv2s", "inceptionresnetv2", "inceptionv3",
    "lenet", "mobilenet", "mobilenetv2", "mobilenetv3large", "mobilenetv3small", "nasnetlarge", "nasnetmobile",
    "resnet101", "resnet101v2", "resnet152", "resnet152v2", "resnet50", "resnet50v2", "small", "vgg16", "vgg19",
    "xception")


def _shape(text):
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints like 28,28,1; got {text!r}") from None
    if any(v <= 0 for v in shape):
        raise argparse.ArgumentTypeError(f"expected positive sizes; got {text!r}")
    return shape


def _augment_list(text):
    return [name.strip() for name in text.split(",") if name.strip()]


def _add_export(sub):
    export = sub.add_parser("export", help="write a model as an ONNX file (for onnxruntime and other runtimes)",
                            description="Write MODEL (a saved model file, or a built-in architecture with untrained "
                                        "weights) as ONNX: channels_last float32 inputs with a dynamic batch axis, "
                                        "the same outputs as predict. Needs pip install \"cnnkit[onnx]\".")
    export.add_argument("model", help="saved model (.keras or .h5), or a built-in architecture: "
                                      f"{', '.join(ARCHITECTURES)}")
    export.add_argument("out", nargs="?", default=None,
                        help="file to write (default: the model file with .onnx, or ARCHITECTURE.onnx)")
    export.add_argument("--onnx", action="store_true", help="ONNX format (the default and only format)")
    export.add_argument("--opset", type=_positive, default=None, help="ONNX opset version (default: torch's)")
    export.add_argument("--input-shape", type=_shape, default=None,
                        help="built-in architectures: height,width,channels (e.g. 64,64,3)")
    export.add_argument("--classes", type=_positive, default=None, help="built-in architectures: output classes")
    export.set_defaults(run=models.export)


def _architecture(text):
    """A registered architecture's name (any case), else argparse's error with "did you mean"."""
    try:
        return applications().lookup(text.lower()).key
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _optimizer_name(text):
    from cnnkit import optimizers  # noqa: PLC0415 (loads torch)

    try:
        optimizers.get(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number like 0.001; got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number like 0.001; got {text!r}")
    return value


def _tta_list(text):
    from cnnkit.training.tta import TRANSFORMS  # noqa: PLC0415
    from cnnkit.registry import did_you_mean  # noqa: PLC0415

    names = tuple(name.strip() for name in text.split(",") if name.strip())
    for name in names:
        if name not in TRANSFORMS:
            raise argparse.ArgumentTypeError(f"unknown test-time augmentation {name!r}; choose from "
                                             f"{', '.join(TRANSFORMS)}.{did_you_mean(name, TRANSFORMS)}")
    return names


def _verbose(text):
    if text == "auto":
        return text
    if text not in ("0", "1", "2"):
        raise argparse.ArgumentTypeError(f"expected auto, 0, 1 or 2; got {text!r}")
    return int(text)


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int; got {text!r}")
    return value


def _fraction(text):
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1; got {text!r}")
    return value


def _add_train(sub):
    train = sub.add_parser("train", help="train a classifier from a folder of class sub-folders",
                           description="Train a built-in architecture on DATA_DIR (one sub-folder of images per "
                                       "class). Writes the best model (model.keras), history.csv, labels.json and "
                                       "report.html to --out. Ctrl-C stops; the best model so far is kept.")
    train.add_argument("data_dir", help="folder with one sub-folder of images per class")
    train.add_argument("--model", default="small", type=_architecture, metavar="NAME",
                       help=f"architecture (default small): {', '.join(ARCHITECTURES)}")
    train.add_argument("--weights", default=None,
                       help="'imagenet' (Keras's published weights, for every ImageNet architecture) or a weights file "
                            "(default: random)")
    train.add_argument("--freeze", action="store_true",
                       help="keep a pretrained backbone fixed (needs --weights) and train only the new head")
    train.add_argument("--img-size", type=_positive, default=None,
                       help="square input size in pixels (default: the images' median size, at most 150)")
    train.add_argument("--epochs", type=_positive, default=12, help="training epochs (default 12)")
    train.add_argument("--batch-size", type=_positive, default=16, help="batch size (default 16)")
    train.add_argument("--optimizer", default="adam", type=_optimizer_name, metavar="NAME",
                       help="optimizer (default adam): any cnnkit.optimizers name (sgd, rmsprop, adamw, ...)")
    train.add_argument("--lr", type=_positive_float, default=None, metavar="RATE",
                       help="learning rate (default: the optimizer's Keras default, 0.001 for adam); "
                            "`cnnkit lr-find` suggests one")
    train.add_argument("--patience", type=_positive, default=None, metavar="N",
                       help="stop when validation accuracy has not improved for N epochs (default: never)")
    train.add_argument("--cache", action="store_true",
                       help="compute the frozen backbone's features once and reuse them every epoch (with --freeze "
                            "or --fine-tune, without --augment): later epochs take a fraction of the time")
    train.add_argument("--fine-tune", type=_positive, default=0, metavar="N",
                       help="after --epochs on the frozen backbone, unfreeze its last block and train N more epochs "
                            "at a tenth of the learning rate (needs --weights)")
    train.add_argument("--augment", type=_augment_list, default=[],
                       help="comma-separated: flip, rotate, zoom, brightness, contrast, blur, noise")
    train.add_argument("--validation-split", type=_fraction, default=0.2,
                       help="share of each class held out for validation (default 0.2)")
    train.add_argument("--out", default=None, help="run folder (default runs/<date-time>)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--verbose", type=_verbose, default="auto", metavar="{auto,0,1,2}",
                       help="progress display: 1 a bar, 2 one line per epoch, 0 none (default auto: a bar on a "
                            "terminal, one line per epoch in a redirected log)")
    train.add_argument("--precision", default="float32", choices=PRECISIONS, help=precision_help())
    train.add_argument("--nproc", type=_positive, default=1,
                       help="training processes on this machine (data parallel, via torch.distributed.run; "
                            "default 1). --batch-size stays the global batch")
    train.set_defaults(run=training.train)
    finder = sub.add_parser("lr-find", help="suggest a learning rate (the learning-rate range test)",
                            description="Train the model `cnnkit train` would build for a few steps while the "
                                        "learning rate grows from 1e-7 to 10, plot the loss against it and suggest "
                                        "the learning rate where the loss falls fastest (then: cnnkit train --lr).")
    finder.add_argument("data_dir", help="folder with one sub-folder of images per class")
    finder.add_argument("--model", default="small", type=_architecture, metavar="NAME",
                        help="architecture (default small), as for train")
    finder.add_argument("--weights", default=None, help="'imagenet' or a weights file, as for train")
    finder.add_argument("--freeze", action="store_true", help="keep a pretrained backbone fixed, as for train")
    finder.add_argument("--img-size", type=_positive, default=None, help="square input size, as for train")
    finder.add_argument("--batch-size", type=_positive, default=16, help="batch size (default 16)")
    finder.add_argument("--optimizer", default="adam", type=_optimizer_name, metavar="NAME",
                        help="optimizer (default adam)")
    finder.add_argument("--steps", type=_positive, default=100, help="training steps (default 100)")
    finder.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    finder.add_argument("--out", default="lr_find.png", help="the plot to write (default lr_find.png)")
    finder.set_defaults(run=training.lr_find)
    evaluate = sub.add_parser("evaluate", help="loss and accuracy of a saved model on a class-folder tree",
                              description="Evaluate MODEL (a .keras file; labels.json beside it gives the class "
                                          "names and image size) on DATA_DIR.")
    evaluate.add_argument("model", help="saved model (.keras or .h5)")
    evaluate.add_argument("data_dir", help="folder with one sub-folder of images per class")
    evaluate.add_argument("--batch-size", type=_positive, default=32, help="batch size (default 32)")
    evaluate.add_argument("--tta", type=_tta_list, default=(), metavar="NAMES",
                          help="test-time augmentation, comma-separated: hflip, vflip, shift (average the "
                               "predictions of each image and its transformed copies)")
    evaluate.add_argument("--report", default=None, metavar="HTML",
                          help="also write an HTML report (confusion matrix, top losses, Grad-CAM, ...)")
    evaluate.set_defaults(run=inference.evaluate)
    predict = sub.add_parser("predict", help="classify image files or folders with a saved model",
                             description="Print the top classes of each image (files, or folders searched "
                                         "recursively).")
    predict.add_argument("model", help="saved model (.keras or .h5)")
    predict.add_argument("images", nargs="+", help="image files or folders")
    predict.add_argument("--top", type=_positive, default=3, help="classes shown per image (default 3)")
    predict.add_argument("--json", action="store_true", help="print JSON instead of text")
    predict.add_argument("--csv", default=None, metavar="FILE", help="write the predictions to a CSV file")
    predict.add_argument("--batch-size", type=_positive, default=32,
                         help="images decoded and predicted at a time (default 32; memory does not grow with the "
                              "number of files)")
    predict.add_argument("--tta", type=_tta_list, default=(), metavar="NAMES",
                         help="test-time augmentation, comma-separated: hflip, vflip, shift")
    predict.set_defaults(run=inference.predict)
    plot = sub.add_parser("plot", help="draw a model's layer graph to an image (PNG, SVG or PDF)",
                          description="Draw MODEL (a saved model file or a built-in architecture) as boxes and "
                                      "arrows, like keras.utils.plot_model, without Graphviz.")
    plot.add_argument("model", help="saved model file, or a built-in architecture")
    plot.add_argument("out", help="image file to write (.png, .svg or .pdf)")
    plot.add_argument("--show-shapes", action="store_true", help="write each layer's input and output shapes")
    plot.add_argument("--rankdir", default="TB", choices=("TB", "LR"), help="top-to-bottom or left-to-right")
    plot.set_defaults(run=models.plot)


def build_parser():
    """The `cnnkit` argument parser."""
    return _parsers()[0]


def _parsers():
    """(the `cnnkit` parser, {command: its sub-parser})."""
    parser = argparse.ArgumentParser(prog="cnnkit", description="Keras-compatible CNNs on PyTorch.")
    parser.add_argument("--version", action="version", version=f"cnnkit {cnnkit.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a small convnet on the built-in handwritten digits (a first run)",
                          description="Train a small MNIST convnet (conv 32/64/64, dense 64, softmax; rmsprop, "
                                      "categorical cross-entropy) on the built-in mnist_5k digits and print the test "
                                      "accuracy.")
    demo.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    demo.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--verbose", type=_verbose, default="auto", metavar="{auto,0,1,2}",
                      help="progress display: 1 a bar, 2 one line per epoch, 0 none (default auto: a bar on a "
                           "terminal, one line per epoch in a redirected log)")
    demo.add_argument("--out", default=os.path.join("runs", "demo"),
                      help="folder for report.html (default runs/demo; '' for none)")
    demo.set_defaults(run=demo_command.demo)
    _add_train(sub)
    summary = sub.add_parser("summary", help="print the summary of a built-in architecture or a saved model",
                             description="Print a model's layers, output shapes and parameter counts.")
    summary.add_argument("model", help=f"a saved model file, or a built-in architecture: "
                                       f"{', '.join(ARCHITECTURES)}")
    summary.add_argument("--input-shape", type=_shape, default=None, help="height,width,channels (e.g. 28,28,1)")
    summary.add_argument("--classes", type=int, default=10, help="number of output classes (default 10)")
    summary.set_defaults(run=models.summary)
    _add_export(sub)
    return parser, sub.choices


def parse_args(argv):
    """The parsed command line; a command's options and positionals may come in any order
    (`cnnkit export small --input-shape 64,64,3 out.onnx`)."""
    parser, commands = _parsers()
    if not argv or argv[0] not in commands:  # --help, --version or a mistake: argparse says which
        return parser.parse_args(argv)
    args = commands[argv[0]].parse_intermixed_args(argv[1:])
    args.command = argv[0]
    return args


def main(argv=None):
    """Runs the command line `argv` (default sys.argv[1:]); returns the exit status: 0, 2 for a usage or input
    error, 130 after Ctrl-C, 143 after SIGTERM (an in-process caller gets SIGTERM as this return value)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    args.argv = argv
    from cnnkit.training.interrupts import Terminated, sigterm_as_interrupt  # noqa: PLC0415 (after --help)

    try:
        with sigterm_as_interrupt():  # SIGTERM stops like Ctrl-C: the best model so far stays in the run folder
            return args.run(args)
    except (ValueError, TypeError, OSError) as err:
        print(f"cnnkit {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        return stop.code if isinstance(stop, Terminated) else 130  # 143 after SIGTERM, 130 after Ctrl-C


if __name__ == "__main__":
    sys.exit(main())
