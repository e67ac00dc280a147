"""`cnnkit summary`, `cnnkit plot` and `cnnkit export`: a saved model file or a built-in architecture."""

import os

from cnnkit.commands import applications


def summary(args):
    if os.path.sep in args.model or os.path.isfile(args.model):
        from cnnkit.inference import load_run  # noqa: PLC0415

        load_run(args.model)[0].summary()
        return 0
    build = applications().lookup(args.model)
    kwargs = {"classes": args.classes}
    if args.input_shape:
        kwargs["input_shape"] = args.input_shape
    model = build(**kwargs)
    model.summary()
    return 0


def plot(args):
    from cnnkit.inference import load_run  # noqa: PLC0415
    from cnnkit.visualization.plot_model import plot_model  # noqa: PLC0415

    model = load_run(args.model)[0] if os.path.isfile(args.model) or os.path.sep in args.model else \
        applications().lookup(args.model)()
    plot_model(model, to_file=args.out, show_shapes=args.show_shapes, rankdir=args.rankdir)
    print(f"model diagram: {args.out}")
    return 0


def export(args):
    metadata = None
    if os.path.isfile(args.model) or os.path.sep in args.model or args.model.endswith((".keras", ".h5", ".hdf5")):
        from cnnkit.models import load_model  # noqa: PLC0415

        if not os.path.isfile(args.model):
            raise ValueError(f"model file {args.model!r} not found.")
        model = load_model(args.model, compile=False)
        default_out = os.path.splitext(args.model)[0] + ".onnx"
        labels_path = os.path.join(os.path.dirname(os.path.abspath(args.model)), "labels.json")
        if os.path.isfile(labels_path):  # a run's model: its classes and pixel preprocessing travel with it
            from cnnkit.inference import load_run  # noqa: PLC0415

            labels = load_run(args.model)[1]
            metadata = {key: labels[key] for key in ("class_names", "image_size", "color_mode", "preprocessing")}
    else:
        kwargs = {"classes": args.classes} if args.classes else {}
        if args.input_shape:
            kwargs["input_shape"] = args.input_shape
        model = applications().lookup(args.model)(**kwargs)  # untrained: an architecture to try a runtime on
        default_out = f"{args.model}.onnx"
    kwargs = {} if args.opset is None else {"opset_version": args.opset}
    if metadata:
        kwargs["metadata"] = metadata
    try:
        model.export(args.out or default_out, format="onnx", verbose=False, **kwargs)
    except ImportError as err:  # onnx not installed: one line, like the other errors
        raise ValueError(str(err)) from None
    print(f"ONNX model: {args.out or default_out} (inputs: {', '.join(str(t.shape) for t in model.inputs)}; "
          "channels_last float32, dynamic batch)")
    return 0
