"""`cnnkit evaluate` and `cnnkit predict`: a saved model on a class-folder tree or on image files."""

import csv
import json
import os
import sys

from cnnkit.commands import applications


def evaluate(args):
    from cnnkit.inference import evaluate_folder  # noqa: PLC0415

    result = evaluate_folder(args.model, args.data_dir, batch_size=args.batch_size, tta=args.tta)
    tta = f" (test-time augmentation: {', '.join(args.tta)})" if args.tta else ""
    print(f"{result['samples']} images - loss: {result['loss']:.4f} - accuracy: {result['accuracy']:.4f}{tta}")
    print(result["report"])
    names = result["class_names"]
    width = max(len(n) for n in names)
    print("confusion matrix (rows: true class, columns: predicted class):")
    print(" " * (width + 1) + " ".join(f"{n[:6]:>6}" for n in names))
    for name, row in zip(names, result["confusion_matrix"]):
        print(f"{name:>{width}} " + " ".join(f"{v:>6}" for v in row))
    if result["most_confused"]:
        print("most confused: " + ", ".join(f"{t} taken for {p} ({n})" for t, p, n in result["most_confused"][:5]))
    if args.report:
        from cnnkit.runs import collect  # noqa: PLC0415
        from cnnkit.visualization.report import write_report  # noqa: PLC0415

        model, labels = result["model"], result["labels"]
        x, y = collect(result["flow"])
        write_report(args.report, model, None, x, y, class_names=names, info={"data": os.path.abspath(args.data_dir),
                     "model file": os.path.abspath(args.model)}, title=f"cnnkit evaluate: {args.data_dir}",
                     deprocess=applications().lookup(labels.get("model", "small")).deprocess)
        print(f"report: {args.report}")
    return 0


def predict(args):
    from cnnkit.inference import image_paths, load_run, predict_files  # noqa: PLC0415

    model, labels = load_run(args.model)
    files = image_paths(args.images)
    results = predict_files(model, labels, files, top=args.top, batch_size=args.batch_size, tta=args.tta)
    if sys.stderr.isatty() and not args.json:
        from tqdm.std import tqdm  # noqa: PLC0415

        results = tqdm(results, total=len(files), file=sys.stderr, unit="image", leave=False)
    writer = csv_file = None
    if args.csv:
        csv_file = open(args.csv, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed below)
        writer = csv.writer(csv_file)
        writer.writerow(["path", *[f"{kind}_{i + 1}" for i in range(args.top) for kind in ("class", "probability")]])
    rows, skipped = [], 0
    try:
        for r in results:
            if "error" in r:
                skipped += 1
                print(f"skipped {r['path']}: {r['error']}", file=sys.stderr)
                continue
            if writer is not None:
                writer.writerow([r["path"], *[v for c, p in r["predictions"] for v in (c, f"{p:.6f}")]])
            if args.json:
                rows.append({"path": r["path"], "predictions": [{"class": c, "probability": p}
                                                                for c, p in r["predictions"]]})
            elif writer is None:
                print(f"{r['path']}: " + ", ".join(f"{c} {p:.3f}" for c, p in r["predictions"]), flush=True)
    finally:
        if csv_file is not None:
            csv_file.close()
    if args.json:
        print(json.dumps(rows, indent=2))
    if args.csv:
        print(f"{len(files) - skipped} predictions written to {args.csv}")
    if skipped:
        print(f"{skipped} of {len(files)} files skipped (not readable as images)", file=sys.stderr)
    return 0
