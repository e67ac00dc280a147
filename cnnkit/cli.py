"""The `cnnkit` command line.

    cnnkit demo                   # train the seeds' MNIST convnet on the built-in 5,000 digits, report accuracy
    cnnkit train DATA_DIR --model small --epochs 12 --augment flip,rotate --out runs/fruits
    cnnkit evaluate runs/fruits/model.keras DATA_DIR
    cnnkit predict runs/fruits/model.keras photo.jpg more_photos/ --top 3 [--json]
    cnnkit summary lenet          # a built-in architecture, or a saved model file
    cnnkit plot runs/fruits/model.keras model.png --show-shapes
    cnnkit export runs/fruits/model.keras --onnx  # writes runs/fruits/model.onnx
    cnnkit summary small --input-shape 32,32,3 --classes 10
"""

import argparse
import contextlib
import json
import os
import sys
import time

from cnnkit.applications import APPLICATIONS
from cnnkit.precision_support import PRECISIONS, precision_help


def _shape(text):
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints like 28,28,1; got {text!r}") from None
    if any(v <= 0 for v in shape):
        raise argparse.ArgumentTypeError(f"expected positive sizes; got {text!r}")
    return shape


def _summary(args):
    if os.path.sep in args.model or os.path.isfile(args.model):
        from cnnkit.runs import load_run  # noqa: PLC0415

        load_run(args.model)[0].summary()
        return 0
    build = APPLICATIONS.lookup(args.model)
    kwargs = {"classes": args.classes}
    if args.input_shape:
        kwargs["input_shape"] = args.input_shape
    model = build(**kwargs)
    model.summary()
    return 0


def _demo(args):
    from cnnkit.applications import SmallConvNet  # noqa: PLC0415
    from cnnkit.datasets import mnist_5k  # noqa: PLC0415
    from cnnkit.utils import set_random_seed  # noqa: PLC0415
    from cnnkit.utils import to_categorical  # noqa: PLC0415

    start = time.perf_counter()
    set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = mnist_5k.load_data()
    print(f"mnist_5k: {len(x_train)} training and {len(x_test)} test digits (28x28, 10 classes)")
    x_train = x_train.reshape(-1, 28, 28, 1).astype("float32") / 255
    x_test = x_test.reshape(-1, 28, 28, 1).astype("float32") / 255
    model = SmallConvNet()
    model.summary()
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, to_categorical(y_train, 10), batch_size=args.batch_size, epochs=args.epochs,
                        verbose=args.verbose)
    test_loss, test_acc = model.evaluate(x_test, to_categorical(y_test, 10), verbose=0)
    print(f"test loss: {test_loss:.4f} - test accuracy: {test_acc:.4f} ({time.perf_counter() - start:.0f}s in all)")
    if args.out:
        from cnnkit.visualization.report import write_report  # noqa: PLC0415

        path = write_report(os.path.join(args.out, "report.html"), model, history, x_test, y_test,
                            train_data=(x_train[:16], y_train[:16]),
                            title="cnnkit demo: the seeds' MNIST convnet on mnist_5k",
                            info={"data": "mnist_5k: 4,000 training, 1,000 test digits (the report's validation)",
                                  "epochs": args.epochs, "test accuracy": f"{test_acc:.4f}"})
        print(f"report: {path}")
    return 0


def _augment_list(text):
    return [name.strip() for name in text.split(",") if name.strip()]


def _train(args):
    from cnnkit.runs import launch, train  # noqa: PLC0415
    from cnnkit.training.distributed import is_chief  # noqa: PLC0415

    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:  # not yet under torchrun: start N copies of this command
        return launch(args.nproc, args.argv, args.data_dir, args.img_size, args.augment, args.out)
    options = dict(model=args.model, epochs=args.epochs, batch_size=args.batch_size, img_size=args.img_size,
                   augment=args.augment, validation_split=args.validation_split, out=args.out, seed=args.seed,
                   verbose=args.verbose, weights=args.weights, freeze=args.freeze, precision=args.precision)
    if not is_chief():  # under torchrun: only process 0 prints
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            train(args.data_dir, **{**options, "verbose": 0})
        return 0
    start = time.perf_counter()
    model, history, out = train(args.data_dir, **options)
    logs = history.history
    best = max(logs.get("val_accuracy", [float("nan")]))
    print(f"best validation accuracy: {best:.4f} ({time.perf_counter() - start:.0f}s); model, history and labels "
          f"in {out}")
    return 0


def _evaluate(args):
    from cnnkit.runs import evaluate  # noqa: PLC0415

    result = evaluate(args.model, args.data_dir, batch_size=args.batch_size)
    print(f"{result['samples']} images - loss: {result['loss']:.4f} - accuracy: {result['accuracy']:.4f}")
    return 0


def _predict(args):
    from cnnkit.runs import predict  # noqa: PLC0415

    results = predict(args.model, args.images, top=args.top)
    if args.json:
        print(json.dumps([{"path": r["path"], "predictions": [{"class": c, "probability": p}
                                                               for c, p in r["predictions"]]} for r in results],
                         indent=2))
        return 0
    for r in results:
        print(f"{r['path']}: " + ", ".join(f"{c} {p:.3f}" for c, p in r["predictions"]))
    return 0


def _plot(args):
    from cnnkit.runs import load_run  # noqa: PLC0415
    from cnnkit.visualization.plot_model import plot_model  # noqa: PLC0415

    model = load_run(args.model)[0] if os.path.isfile(args.model) or os.path.sep in args.model else \
        APPLICATIONS.lookup(args.model)()
    plot_model(model, to_file=args.out, show_shapes=args.show_shapes, rankdir=args.rankdir)
    print(f"model diagram: {args.out}")
    return 0


def _export(args):
    if os.path.isfile(args.model) or os.path.sep in args.model or args.model.endswith((".keras", ".h5", ".hdf5")):
        from cnnkit.models import load_model  # noqa: PLC0415

        if not os.path.isfile(args.model):
            raise ValueError(f"model file {args.model!r} not found.")
        model = load_model(args.model, compile=False)
        default_out = os.path.splitext(args.model)[0] + ".onnx"
    else:
        kwargs = {"classes": args.classes} if args.classes else {}
        if args.input_shape:
            kwargs["input_shape"] = args.input_shape
        model = APPLICATIONS.lookup(args.model)(**kwargs)  # untrained: an architecture to try a runtime on
        default_out = f"{args.model}.onnx"
    kwargs = {} if args.opset is None else {"opset_version": args.opset}
    try:
        model.export(args.out or default_out, format="onnx", verbose=False, **kwargs)
    except ImportError as err:  # onnx not installed: one line, like the other errors
        raise ValueError(str(err)) from None
    print(f"ONNX model: {args.out or default_out} (inputs: {', '.join(str(t.shape) for t in model.inputs)}; "
          "channels_last float32, dynamic batch)")
    return 0


def _add_export(sub):
    export = sub.add_parser("export", help="write a model as an ONNX file (for onnxruntime and other runtimes)",
                            description="Write MODEL (a saved model file, or a built-in architecture with untrained "
                                        "weights) as ONNX: channels_last float32 inputs with a dynamic batch axis, "
                                        "the same outputs as predict. Needs pip install \"cnnkit[onnx]\".")
    export.add_argument("model", help="saved model (.keras or .h5), or a built-in architecture: "
                                      f"{', '.join(APPLICATIONS.names())}")
    export.add_argument("out", nargs="?", default=None,
                        help="file to write (default: the model file with .onnx, or ARCHITECTURE.onnx)")
    export.add_argument("--onnx", action="store_true", help="ONNX format (the default and only format)")
    export.add_argument("--opset", type=_positive, default=None, help="ONNX opset version (default: torch's)")
    export.add_argument("--input-shape", type=_shape, default=None,
                        help="built-in architectures: height,width,channels (e.g. 64,64,3)")
    export.add_argument("--classes", type=_positive, default=None, help="built-in architectures: output classes")
    export.set_defaults(run=_export)


def _architecture(text):
    """A registered architecture's name (any case), else argparse's error with "did you mean"."""
    try:
        return APPLICATIONS.lookup(text.lower()).key
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


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
                       help=f"architecture (default small): {', '.join(APPLICATIONS.names())}")
    train.add_argument("--weights", default=None,
                       help="'imagenet' (Keras's published weights, for every ImageNet architecture) or a weights file "
                            "(default: random)")
    train.add_argument("--freeze", action="store_true",
                       help="keep a pretrained backbone fixed (needs --weights) and train only the new head")
    train.add_argument("--img-size", type=_positive, default=None,
                       help="square input size in pixels (default: the images' median size, at most 150)")
    train.add_argument("--epochs", type=_positive, default=12, help="training epochs (default 12)")
    train.add_argument("--batch-size", type=_positive, default=16, help="batch size (default 16)")
    train.add_argument("--augment", type=_augment_list, default=[],
                       help="comma-separated: flip, rotate, zoom, brightness, contrast, blur, noise")
    train.add_argument("--validation-split", type=_fraction, default=0.2,
                       help="share of each class held out for validation (default 0.2)")
    train.add_argument("--out", default=None, help="run folder (default runs/<date-time>)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="progress display (default 1)")
    train.add_argument("--precision", default="float32", choices=PRECISIONS, help=precision_help())
    train.add_argument("--nproc", type=_positive, default=1,
                       help="training processes on this machine (data parallel, via torch.distributed.run; "
                            "default 1). --batch-size stays the global batch")
    train.set_defaults(run=_train)
    evaluate = sub.add_parser("evaluate", help="loss and accuracy of a saved model on a class-folder tree",
                              description="Evaluate MODEL (a .keras file; labels.json beside it gives the class "
                                          "names and image size) on DATA_DIR.")
    evaluate.add_argument("model", help="saved model (.keras or .h5)")
    evaluate.add_argument("data_dir", help="folder with one sub-folder of images per class")
    evaluate.add_argument("--batch-size", type=_positive, default=32, help="batch size (default 32)")
    evaluate.set_defaults(run=_evaluate)
    predict = sub.add_parser("predict", help="classify image files or folders with a saved model",
                             description="Print the top classes of each image (files, or folders searched "
                                         "recursively).")
    predict.add_argument("model", help="saved model (.keras or .h5)")
    predict.add_argument("images", nargs="+", help="image files or folders")
    predict.add_argument("--top", type=_positive, default=3, help="classes shown per image (default 3)")
    predict.add_argument("--json", action="store_true", help="print JSON instead of text")
    predict.set_defaults(run=_predict)
    plot = sub.add_parser("plot", help="draw a model's layer graph to an image (PNG, SVG or PDF)",
                          description="Draw MODEL (a saved model file or a built-in architecture) as boxes and "
                                      "arrows, like keras.utils.plot_model, without Graphviz.")
    plot.add_argument("model", help="saved model file, or a built-in architecture")
    plot.add_argument("out", help="image file to write (.png, .svg or .pdf)")
    plot.add_argument("--show-shapes", action="store_true", help="write each layer's input and output shapes")
    plot.add_argument("--rankdir", default="TB", choices=("TB", "LR"), help="top-to-bottom or left-to-right")
    plot.set_defaults(run=_plot)


def build_parser():
    parser = argparse.ArgumentParser(prog="cnnkit", description="Keras-compatible CNNs on PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train the seeds' MNIST convnet on the built-in digits",
                          description="Train the seeds' MNIST convnet (conv 32/64/64, dense 64, softmax; rmsprop, "
                                      "categorical cross-entropy) on the built-in mnist_5k digits and print the test "
                                      "accuracy.")
    demo.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    demo.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="progress display (default 1)")
    demo.add_argument("--out", default=os.path.join("runs", "demo"),
                      help="folder for report.html (default runs/demo; '' for none)")
    demo.set_defaults(run=_demo)
    _add_train(sub)
    summary = sub.add_parser("summary", help="print the summary of a built-in architecture or a saved model",
                             description="Print a model's layers, output shapes and parameter counts.")
    summary.add_argument("model", help=f"a saved model file, or a built-in architecture: "
                                       f"{', '.join(APPLICATIONS.names())}")
    summary.add_argument("--input-shape", type=_shape, default=None, help="height,width,channels (e.g. 28,28,1)")
    summary.add_argument("--classes", type=int, default=10, help="number of output classes (default 10)")
    summary.set_defaults(run=_summary)
    _add_export(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, OSError) as err:
        print(f"cnnkit {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
