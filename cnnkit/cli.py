"""The `cnnkit` command line.

    cnnkit demo                   # train the seeds' MNIST convnet on the built-in 5,000 digits, report accuracy
    cnnkit summary lenet          # the seeds' LeNet: layers, output shapes, parameter counts
    cnnkit summary small --input-shape 32,32,3 --classes 10
"""

import argparse
import sys
import time

from cnnkit.applications import APPLICATIONS


def _shape(text):
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints like 28,28,1; got {text!r}") from None
    if any(v <= 0 for v in shape):
        raise argparse.ArgumentTypeError(f"expected positive sizes; got {text!r}")
    return shape


def _summary(args):
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
    model.fit(x_train, to_categorical(y_train, 10), batch_size=args.batch_size, epochs=args.epochs,
              verbose=args.verbose)
    test_loss, test_acc = model.evaluate(x_test, to_categorical(y_test, 10), verbose=0)
    print(f"test loss: {test_loss:.4f} - test accuracy: {test_acc:.4f} ({time.perf_counter() - start:.0f}s in all)")
    return 0


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
    demo.set_defaults(run=_demo)
    summary = sub.add_parser("summary", help="print the summary of a built-in architecture",
                             description="Print a model's layers, output shapes and parameter counts.")
    summary.add_argument("model", help=f"built-in architecture: {', '.join(APPLICATIONS.names())}")
    summary.add_argument("--input-shape", type=_shape, default=None, help="height,width,channels (e.g. 28,28,1)")
    summary.add_argument("--classes", type=int, default=10, help="number of output classes (default 10)")
    summary.set_defaults(run=_summary)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError) as err:
        print(f"cnnkit {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
