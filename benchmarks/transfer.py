"""Transfer learning, side by side: the seeds' ResNet50 model (150x150 backbone without top, GlobalAveragePooling2D,
Dense(12, softmax)) in cnnkit vs a hand-written PyTorch ResNet50 vs Keras 3 (TensorFlow), and cnnkit's
`fit(cache_frozen=True)`.

Run from the repository root (in the project's venv):

    python benchmarks/transfer.py                 # 3 rounds, 128 images, 3 passes per run (~10-15 min on 2 cores)
    python benchmarks/transfer.py --quick         # 1 round, 32 images, 2 passes: checks that everything runs
    python benchmarks/transfer.py --tasks train --configs cnnkit,cnnkit-cache
    python benchmarks/transfer.py --tasks e2e     # the notes' script end to end, 1,000 JPEGs, 5 epochs, 3 rounds

Tasks (random images, batch 16, 150x150x3):
    infer  images/s of predict (inference mode) over the images
    train  images/s of training with the backbone frozen (backbone.trainable = False; adam, sparse categorical
           cross-entropy on 12 classes)
    e2e    the notes' frozen-ResNet50 script end to end on a generated folder of JPEGs (flow_from_directory), the
           same text run by Keras and by cnnkit: seconds from building the iterators to the end of fit, first
           epoch included (see transfer_e2e.py; not in the default --tasks: `--tasks e2e`)

Configurations:
    cnnkit        model.predict(x, batch_size=16, verbose=0) / model.fit(x, y, batch_size=16, verbose=0)
    cnnkit-cache  (train only) model.fit(..., cache_frozen=True): the frozen backbone and the pooling run once per
                  image in the first epoch; the figure is the later epochs' rate, and the first epoch's is shown too
    torch         a hand-written nn.Module ResNet50 (the same graph, weights copied from the cnnkit model, its
                  features checked against cnnkit's within 1e-4 of the largest), channels_last, batches as zero-copy
                  NHWC views; inference under torch.inference_mode; training as a PyTorch user writes it for a
                  frozen backbone: backbone in eval mode under torch.no_grad, the head trained with
                  torch.optim.Adam(eps=1e-7)
    keras         Keras 3 on TensorFlow: keras.applications.ResNet50 + the same head (its own random weights),
                  model.predict / model.fit

Method (as train_throughput.py): every (task, configuration) run is its own process, started one at a time; a round
runs each configuration once, in an order rotated every round. A run makes `--epochs` passes over the images; the
first is warm-up and the figure is the median of the others; the table is the median over rounds, with the ratios.
The machine is shared and noisy: compare ratios from one run, not absolute numbers across runs.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

import transfer_e2e

SHAPE, BATCH, CLASSES = (150, 150, 3), 16, 12
CONFIGS = {"infer": ["cnnkit", "torch", "keras"], "train": ["cnnkit", "cnnkit-cache", "torch", "keras"]}
STAGES = [("conv2", 64, 3, 1), ("conv3", 128, 4, 2), ("conv4", 256, 6, 2), ("conv5", 512, 3, 2)]


def make_data(samples):
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (samples, *SHAPE)).astype(np.float32), rng.integers(0, CLASSES, samples)


def build(lib, freeze=True):
    """The seeds' transfer-learning model (cnnkit and Keras share the API)."""
    backbone = lib.applications.ResNet50(input_shape=SHAPE, weights=None, include_top=False)
    backbone.trainable = not freeze
    model = lib.Sequential([backbone, lib.layers.GlobalAveragePooling2D(),
                            lib.layers.Dense(CLASSES, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run_framework(lib, task, x, y, epochs, cache_frozen=False):
    model = build(lib)
    if task == "infer":
        times = []
        for _ in range(epochs):
            start = time.perf_counter()
            model.predict(x, batch_size=BATCH, verbose=0)
            times.append(time.perf_counter() - start)
        return times
    times = []

    class EpochTimer(lib.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    kwargs = {"cache_frozen": True} if cache_frozen else {}
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[EpochTimer()], **kwargs)
    return times


def torch_resnet50():
    """ResNet50 v1 as Keras builds it (stride in the first 1x1 conv of a block, BN epsilon 1.001e-5), layers kept
    under Keras's names so the weights can be copied by name, plus the 12-class head."""
    import torch  # noqa: PLC0415
    from torch import nn  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: PLC0415

    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            m = {"conv1_conv": nn.Conv2d(3, 64, 7, 2, padding=3), "conv1_bn": nn.BatchNorm2d(64, eps=1.001e-5)}
            cin = 64
            for stage, filters, blocks, _ in STAGES:
                for b in range(1, blocks + 1):
                    name = f"{stage}_block{b}"
                    stride = 1 if b > 1 or stage == "conv2" else 2
                    if b == 1:
                        m[f"{name}_0_conv"] = nn.Conv2d(cin, 4 * filters, 1, stride)
                        m[f"{name}_0_bn"] = nn.BatchNorm2d(4 * filters, eps=1.001e-5)
                    m[f"{name}_1_conv"] = nn.Conv2d(cin, filters, 1, stride)
                    m[f"{name}_2_conv"] = nn.Conv2d(filters, filters, 3, padding=1)
                    m[f"{name}_3_conv"] = nn.Conv2d(filters, 4 * filters, 1)
                    for i, width in ((1, filters), (2, filters), (3, 4 * filters)):
                        m[f"{name}_{i}_bn"] = nn.BatchNorm2d(width, eps=1.001e-5)
                    cin = 4 * filters
            self.m = nn.ModuleDict(m)

        def forward(self, x):
            m = self.m
            x = F.relu(m["conv1_bn"](m["conv1_conv"](x)), inplace=True)
            x = F.max_pool2d(x, 3, 2, padding=1)  # after relu, zero padding = Keras's ZeroPadding2D + valid pool
            for stage, _, blocks, _ in STAGES:
                for b in range(1, blocks + 1):
                    n = f"{stage}_block{b}"
                    shortcut = m[f"{n}_0_bn"](m[f"{n}_0_conv"](x)) if b == 1 else x
                    y = F.relu(m[f"{n}_1_bn"](m[f"{n}_1_conv"](x)), inplace=True)
                    y = F.relu(m[f"{n}_2_bn"](m[f"{n}_2_conv"](y)), inplace=True)
                    y = m[f"{n}_3_bn"](m[f"{n}_3_conv"](y))
                    x = F.relu(y + shortcut, inplace=True)
            return x

    backbone = Backbone()
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, CLASSES))
    return backbone, head, torch


def copy_weights(model, backbone, head, torch):
    """cnnkit's weights (Keras layout) into the torch modules."""
    keras_backbone = model.layers[0]
    with torch.no_grad():
        for layer in keras_backbone.layers:
            if layer.name not in backbone.m:
                continue
            module, weights = backbone.m[layer.name], layer.get_weights()
            if isinstance(module, torch.nn.Conv2d):
                module.weight.copy_(torch.from_numpy(weights[0].transpose(3, 2, 0, 1)))
                module.bias.copy_(torch.from_numpy(weights[1]))
            else:
                for target, value in zip((module.weight, module.bias, module.running_mean, module.running_var),
                                         weights):
                    target.copy_(torch.from_numpy(value))
        kernel, bias = model.layers[-1].get_weights()
        head[2].weight.copy_(torch.from_numpy(kernel.T))
        head[2].bias.copy_(torch.from_numpy(bias))


def run_torch(task, x, y, epochs):
    import cnnkit  # noqa: PLC0415 (only to build the model whose weights the torch modules get)
    import cnnkit.applications  # noqa: PLC0415,F401
    backbone, head, torch = torch_resnet50()
    model = build(cnnkit)
    copy_weights(model, backbone, head, torch)
    with torch.no_grad():
        expected = model.layers[0](x[:4]).numpy()  # the backbone's features (the softmax of random weights saturates)
    del model
    backbone = backbone.to(memory_format=torch.channels_last).eval()
    head = head.to(memory_format=torch.channels_last)
    for p in backbone.parameters():
        p.requires_grad_(False)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    with torch.inference_mode():
        got = backbone(xt[:4].permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    max_diff = float(np.abs(got - expected).max() / np.abs(expected).max())  # relative to the largest feature
    times = []
    if task == "infer":
        for _ in range(epochs):
            start = time.perf_counter()
            with torch.inference_mode():
                for i in range(0, len(x), BATCH):
                    _ = torch.softmax(head(backbone(xt[i:i + BATCH].permute(0, 3, 1, 2))), -1).numpy()
            times.append(time.perf_counter() - start)
        return times, max_diff
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-3, eps=1e-7)
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x))
        for i in range(0, len(x), BATCH):
            index = order[i:i + BATCH]
            with torch.no_grad():
                features = backbone(xt[index].permute(0, 3, 1, 2))
            loss = torch.nn.functional.cross_entropy(head(features), yt[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        float(loss)
        times.append(time.perf_counter() - start)
    return times, max_diff


def worker(config, task, samples, epochs):
    x, y = make_data(samples)
    extra = {}
    if config == "keras":
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras  # noqa: PLC0415
        times = run_framework(keras, task, x, y, epochs)
    elif config.startswith("cnnkit"):
        import cnnkit  # noqa: PLC0415
        import cnnkit.applications  # noqa: PLC0415,F401
        times = run_framework(cnnkit, task, x, y, epochs, cache_frozen=config == "cnnkit-cache")
    else:
        times, extra["max_diff"] = run_torch(task, x, y, epochs)
    rates = [samples / t for t in times]
    print(json.dumps({"rate": statistics.median(rates[1:]), "first": rates[0], **extra}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="infer,train", help="comma-separated: infer, train, e2e")
    parser.add_argument("--configs", default=None, help="comma-separated subset of cnnkit, cnnkit-cache, torch, "
                        "keras")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="passes per run; the first is warm-up")
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--e2e-images", type=int, default=None, help="e2e: JPEGs in the folder (default 1000)")
    parser.add_argument("--e2e-epochs", type=int, default=None, help="e2e: epochs of fit (default 5)")
    parser.add_argument("--e2e-validation-split", type=float, default=0.25,
                        help="e2e: the notes' validation_split (0: the notes' fit on the whole folder)")
    parser.add_argument("--quick", action="store_true", help="1 round, 2 passes, 32 images (e2e: 96 images, 2 "
                        "epochs)")
    parser.add_argument("--worker", nargs=2, metavar=("CONFIG", "TASK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.epochs, args.samples = 1, 2, 32
    default_images, default_epochs = (96, 2) if args.quick else (1000, 5)
    args.e2e_images = args.e2e_images or default_images
    args.e2e_epochs = args.e2e_epochs or default_epochs
    if args.worker:
        worker(args.worker[0], args.worker[1], args.samples, args.epochs)
        return
    tasks = args.tasks.split(",")
    unknown = [t for t in tasks if t not in CONFIGS and t != "e2e"]
    if unknown:
        parser.error(f"unknown task(s) {unknown}; choose from infer, train, e2e")
    if "e2e" in tasks:
        split = args.e2e_validation_split
        if not 0 <= split < 1 or args.e2e_images * split < (transfer_e2e.CLASSES if split else 0):
            parser.error(f"--e2e-validation-split must be in [0, 1) and leave every one of the "
                         f"{transfer_e2e.CLASSES} classes a validation image (--e2e-images at least "
                         f"{transfer_e2e.CLASSES / split if split else 0:.0f}); received {split} with "
                         f"{args.e2e_images} images")
        tasks.remove("e2e")
        transfer_e2e.run(args, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        if not tasks:
            return
    wanted = args.configs.split(",") if args.configs else None
    plan = {t: [c for c in CONFIGS[t] if wanted is None or c in wanted] for t in tasks}
    results = {(t, c): [] for t in tasks for c in plan[t]}
    for round_index in range(args.rounds):
        for task in tasks:
            configs = plan[task]
            shift = round_index % max(len(configs), 1)
            for config in configs[shift:] + configs[:shift]:
                proc = subprocess.run([sys.executable, __file__, "--worker", config, task, "--samples",
                                       str(args.samples), "--epochs", str(args.epochs)], capture_output=True,
                                      text=True, check=False)
                lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
                if proc.returncode or not lines:
                    sys.exit(f"{config} on {task} failed:\n{proc.stderr[-3000:]}")
                result = json.loads(lines[-1])
                if "max_diff" in result and result["max_diff"] > 1e-4:
                    sys.exit(f"the torch ResNet50 does not match cnnkit's features (max relative diff "
                             f"{result['max_diff']})")
                results[(task, config)].append(result)
        print(f"round {round_index + 1}/{args.rounds} done (load average {os.getloadavg()[0]:.2f})", flush=True)
    print(f"\nimages/s, batch {BATCH}, {SHAPE[0]}x{SHAPE[1]}, median of {args.rounds} rounds (each the median of "
          f"{args.epochs - 1} passes after the first)")
    for task in tasks:
        rates = {c: statistics.median(r["rate"] for r in results[(task, c)]) for c in plan[task]}
        print(f"{task:6} " + "  ".join(f"{c} {rates[c]:.1f}" for c in plan[task]))
        diffs = [r["max_diff"] for r in results.get((task, "torch"), [])]
        if diffs:
            print(f"       torch vs cnnkit backbone features: max diff {max(diffs):.1e} of the largest")
        ours = rates.get("cnnkit", float("nan"))
        if "torch" in rates:
            print(f"       cnnkit / torch {ours / rates['torch']:.2f}x")
            print(f"RATIO {task} cnnkit/torch {ours / rates['torch']:.4f}")
        if "keras" in rates:
            print(f"       cnnkit / keras {ours / rates['keras']:.2f}x")
            print(f"RATIO {task} cnnkit/keras {ours / rates['keras']:.4f}")
        if "cnnkit-cache" in rates:
            first = statistics.median(r["first"] for r in results[(task, "cnnkit-cache")])
            print(f"       cnnkit-cache later epochs / cnnkit {rates['cnnkit-cache'] / ours:.1f}x (its first epoch: "
                  f"{first:.1f} images/s)")
            print(f"RATIO {task} cnnkit-cache/cnnkit {rates['cnnkit-cache'] / ours:.4f}")


if __name__ == "__main__":
    main()
