"""Keras applications, side by side: MobileNetV2, EfficientNetB0, VGG16 and ConvNeXtTiny at 160x160x3, batch 16,
inference and frozen-backbone training, cnnkit vs Keras 3 (TensorFlow) vs a hand-written PyTorch loop.

Run from the repository root (in the project's venv):

    python benchmarks/applications.py                  # 3 rounds, 64 images, 3 passes per run (~30-40 min, 2 cores)
    python benchmarks/applications.py --quick          # 1 round, 32 images, 2 passes: checks that everything runs
    python benchmarks/applications.py --models VGG16,ConvNeXtTiny --modes infer --rounds 5

The model (the same code for cnnkit and Keras, `lib` being `cnnkit` or `keras`; random weights, no download):

    backbone = lib.applications.NAME(input_shape=(160, 160, 3), weights=None, include_top=False)
    backbone.trainable = False
    model = lib.Sequential([backbone, lib.layers.GlobalAveragePooling2D(), lib.layers.Dense(10, "softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

Modes (random images in [0, 255], as the applications' built-in preprocessing expects):
    infer  images/s of model.predict(x, batch_size=16, verbose=0)
    fit    samples/s of model.fit(x, y, batch_size=16, verbose=0) with the backbone frozen; for cnnkit with
           `cache_frozen` off (the default), so every step runs the backbone: it measures compute, as Keras does

Configurations:
    cnnkit  the model above, predict / fit
    keras   the same code on Keras 3 (TensorFlow backend), its own random weights
    torch   torchvision is not installed and an independent PyTorch version of each network would be a port of its
            own, so the torch reference is the cnnkit-built backbone used as the plain torch.nn.Module it is: its
            `forward` on internal NCHW tensors in channels_last memory format (the batch a zero-copy permuted view
            of the NHWC array), the backbone in eval mode with requires_grad off; inference under
            torch.inference_mode; glibc's large-block reuse that cnnkit's predict / fit turn on (as a PyTorch user
            gets from jemalloc or tcmalloc); training as a PyTorch user writes it for a frozen backbone: the
            backbone under torch.no_grad, a hand-written head (mean over H, W + nn.Linear, the cnnkit model's head weights) with
            cross-entropy on logits and torch.optim.Adam(eps=1e-7). So cnnkit / torch measures what cnnkit's
            predict / fit add around the same modules (batching, layout conversions, callbacks, metrics), not the
            modules themselves; cnnkit / keras compares the networks as a whole.

Method (as train_throughput.py and transfer.py): every (model, mode, configuration) run is its own Python process,
started one at a time; a round runs each configuration once, in an order rotated every round. A run makes
`--epochs` passes over the images; the first is warm-up and the run's figure is the median of the others. The table
shows the median over rounds, and the ratios cnnkit / keras and cnnkit / torch as the median over rounds of each
round's ratio (paired: the runs of one round ran close together in time). `--torch-threads N` sets torch's threads
in the cnnkit and torch runs (TensorFlow keeps its defaults). The CPU model (lscpu) and the load average are
printed. The machine is shared and noisy: compare ratios from one run, not absolute numbers across runs.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

SHAPE, BATCH, CLASSES = (160, 160, 3), 16, 10
MODELS = ["MobileNetV2", "EfficientNetB0", "VGG16", "ConvNeXtTiny"]
MODES = ["infer", "fit"]
CONFIGS = ["cnnkit", "keras", "torch"]


def cpu_model():
    """lscpu's 'Model name', or the platform's processor string."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    import platform  # noqa: PLC0415
    return platform.processor() or "unknown CPU"


def make_data(samples):
    rng = np.random.default_rng(0)
    return rng.uniform(0, 255, (samples, *SHAPE)).astype(np.float32), rng.integers(0, CLASSES, samples)


def build(lib, name):
    """The frozen-backbone transfer model (cnnkit and Keras share the API)."""
    backbone = getattr(lib.applications, name)(input_shape=SHAPE, weights=None, include_top=False)
    backbone.trainable = False
    model = lib.Sequential([backbone, lib.layers.GlobalAveragePooling2D(),
                            lib.layers.Dense(CLASSES, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run_framework(lib, name, mode, x, y, epochs):
    model = build(lib, name)
    times = []
    if mode == "infer":
        for _ in range(epochs):
            start = time.perf_counter()
            model.predict(x, batch_size=BATCH, verbose=0)
            times.append(time.perf_counter() - start)
        return times

    class EpochTimer(lib.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[EpochTimer()])
    return times


def run_torch(name, mode, x, y, epochs):
    """The cnnkit-built backbone as a plain nn.Module, with a hand-written head and loop (see the docstring)."""
    import torch  # noqa: PLC0415

    import cnnkit  # noqa: PLC0415
    import cnnkit.applications  # noqa: PLC0415,F401
    # What cnnkit's predict / fit do once per process (glibc keeps freed large blocks instead of page-faulting them
    # in again every step), as a PyTorch user would get from jemalloc or tcmalloc.
    cnnkit.config.reuse_large_allocations()
    model = build(cnnkit, name)
    backbone = model.layers[0].eval()
    for p in backbone.parameters():
        p.requires_grad_(False)
    kernel, bias = model.layers[-1].get_weights()
    head = torch.nn.Linear(kernel.shape[0], CLASSES)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(kernel.T))
        head.bias.copy_(torch.from_numpy(bias))
    forward = backbone.forward  # nn.Module.forward on internal (N, C, H, W) tensors, no Keras-layout conversion
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    # The same modules, so the same backbone features as cnnkit's predict (relative to the largest; the softmax of
    # random weights saturates, so it would check little).
    expected = backbone.predict(x[:2], verbose=0)
    with torch.inference_mode():
        got = forward(xt[:2].permute(0, 3, 1, 2), training=False).permute(0, 2, 3, 1).numpy()
    max_diff = float(np.abs(got - expected).max() / np.abs(expected).max())
    times = []
    if mode == "infer":
        for _ in range(epochs):
            start = time.perf_counter()
            with torch.inference_mode():
                for i in range(0, len(x), BATCH):
                    features = forward(xt[i:i + BATCH].permute(0, 3, 1, 2), training=False)
                    _ = torch.softmax(head(features.mean((2, 3))), -1).numpy()
            times.append(time.perf_counter() - start)
        return times, max_diff
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-3, eps=1e-7)
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x))
        for i in range(0, len(x), BATCH):
            index = order[i:i + BATCH]
            with torch.no_grad():
                features = forward(xt[index].permute(0, 3, 1, 2), training=False).mean((2, 3))
            loss = torch.nn.functional.cross_entropy(head(features), yt[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        float(loss.detach())  # wait for the last step, as fit does at the end of an epoch
        times.append(time.perf_counter() - start)
    return times, max_diff


def worker(config, name, mode, samples, epochs):
    x, y = make_data(samples)
    extra = {}
    if config == "keras":
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras  # noqa: PLC0415
        times = run_framework(keras, name, mode, x, y, epochs)
    else:
        import torch  # noqa: PLC0415

        import cnnkit  # noqa: PLC0415
        import cnnkit.applications  # noqa: PLC0415,F401
        cnnkit.config.set_device("cpu")
        if os.environ.get("BENCH_TORCH_THREADS"):
            torch.set_num_threads(int(os.environ["BENCH_TORCH_THREADS"]))
        if config == "cnnkit":
            times = run_framework(cnnkit, name, mode, x, y, epochs)
        else:
            times, extra["max_diff"] = run_torch(name, mode, x, y, epochs)
    rates = [samples / t for t in times]
    print(json.dumps({"rate": statistics.median(rates[1:]), **extra}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: infer, fit")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset of cnnkit, keras, torch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="passes per run; the first is warm-up")
    parser.add_argument("--samples", type=int, default=64, help="images per pass (4 steps of 16)")
    parser.add_argument("--quick", action="store_true", help="1 round, 2 passes, 32 images")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--worker", nargs=3, metavar=("CONFIG", "MODEL", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.epochs, args.samples = 1, 2, 32
    if args.torch_threads:
        os.environ["BENCH_TORCH_THREADS"] = str(args.torch_threads)
    if args.worker:
        worker(*args.worker, args.samples, args.epochs)
        return
    models, modes, configs = args.models.split(","), args.modes.split(","), args.configs.split(",")
    for value, allowed in ((models, MODELS), (modes, MODES), (configs, CONFIGS)):
        bad = [v for v in value if v not in allowed]
        if bad:
            parser.error(f"unknown {bad}; choose from {allowed}")
    print(f"CPU: {cpu_model()}; torch threads: {args.torch_threads or 'default'}", flush=True)
    results = {(m, d, c): [] for m in models for d in modes for c in configs}
    for round_index in range(args.rounds):
        shift = round_index % len(configs)
        for name in models:
            for mode in modes:
                for config in configs[shift:] + configs[:shift]:
                    proc = subprocess.run([sys.executable, __file__, "--worker", config, name, mode, "--samples",
                                           str(args.samples), "--epochs", str(args.epochs)], capture_output=True,
                                          text=True, check=False)
                    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
                    if proc.returncode or not lines:
                        sys.exit(f"{config} {name} {mode} failed:\n{proc.stderr[-3000:]}")
                    result = json.loads(lines[-1])
                    if result.get("max_diff", 0) > 1e-4:
                        sys.exit(f"torch {name}: features differ from cnnkit's predict by {result['max_diff']} of the largest")
                    results[(name, mode, config)].append(result["rate"])
        print(f"round {round_index + 1}/{args.rounds} done (load average {os.getloadavg()[0]:.2f})", flush=True)

    def paired(name, mode, other):
        ours, theirs = results[(name, mode, "cnnkit")], results[(name, mode, other)]
        return statistics.median(a / b for a, b in zip(ours, theirs))

    print(f"\n{SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]}, batch {BATCH}, {args.samples} images per pass; images/s (infer) and "
          f"samples/s (fit), median of {args.rounds} rounds (each the median of {args.epochs - 1} passes after the "
          "first); ratios: median of the rounds' paired ratios, > 1 means cnnkit is faster")
    others = [c for c in ("keras", "torch") if c in configs and "cnnkit" in configs]
    print(f"{'model':15} {'mode':5} " + " ".join(f"{c:>8}" for c in configs)
          + "".join(f"  {'cnnkit/' + c:>12}" for c in others))
    for name in models:
        for mode in modes:
            rates = {c: statistics.median(results[(name, mode, c)]) for c in configs}
            print(f"{name:15} {mode:5} " + " ".join(f"{rates[c]:8.2f}" for c in configs)
                  + "".join(f"  {paired(name, mode, c):11.2f}x" for c in others))
            for c in others:
                print(f"RATIO {name}:{mode} cnnkit/{c} {paired(name, mode, c):.4f}")


if __name__ == "__main__":
    main()
