"""`cnnkit train` and `cnnkit lr-find`: a classifier trained from a folder of class sub-folders (`cnnkit.runs`)."""

import contextlib
import os
import time


def train(args):
    from cnnkit.runs import launch, train  # noqa: PLC0415
    from cnnkit.training.distributed import is_chief  # noqa: PLC0415

    if args.nproc > 1 and "WORLD_SIZE" not in os.environ:  # not yet under torchrun: start N copies of this command
        return launch(args.nproc, args.argv, args.data_dir, args.img_size, args.augment, args.out)
    options = dict(model=args.model, epochs=args.epochs, batch_size=args.batch_size, img_size=args.img_size,
                   augment=args.augment, validation_split=args.validation_split, out=args.out, seed=args.seed,
                   verbose=args.verbose, weights=args.weights, freeze=args.freeze, optimizer=args.optimizer,
                   learning_rate=args.lr, patience=args.patience, cache=args.cache, fine_tune=args.fine_tune,
                   command="cnnkit " + " ".join(args.argv), precision=args.precision)
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
    report = os.path.join(out, "report.html")
    if os.path.exists(report):
        print(f"report: {report}")
    return 0


def lr_find(args):
    from cnnkit.runs import find_learning_rate  # noqa: PLC0415

    result = find_learning_rate(args.data_dir, model=args.model, batch_size=args.batch_size, img_size=args.img_size,
                                seed=args.seed, weights=args.weights, freeze=args.freeze, optimizer=args.optimizer,
                                steps=args.steps, out=args.out)
    print(f"suggested learning rate: {result.suggestion:.2g} (steepest fall of the loss; the lowest loss was at "
          f"{result.min_loss_learning_rate:.2g}); plot: {args.out}")
    print(f"train with it: cnnkit train {args.data_dir} --model {args.model} --lr {result.suggestion:.2g}")
    return 0
