"""The `cnnkit` command line.

    cnnkit summary lenet          # the seeds' LeNet: layers, output shapes, parameter counts
    cnnkit summary small --input-shape 32,32,3 --classes 10
"""

import argparse
import sys

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


def build_parser():
    parser = argparse.ArgumentParser(prog="cnnkit", description="Keras-compatible CNNs on PyTorch.")
    sub = parser.add_subparsers(dest="command", required=True)
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
