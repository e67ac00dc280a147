"""Training with augmentation layers in the model, side by side: cnnkit `fit` vs Keras 3 `fit` (TensorFlow).

The notes' CIFAR convnet (train_throughput.py's `cifar` workload: conv 32/64/64 3x3 relu + 2 max-pools, dense 64,
softmax 10, adam, batch 32) with Keras 3's augmentation layers in front:

    RandomFlip("horizontal"), RandomRotation(0.1), RandomZoom(0.1), RandomContrast(0.1)

fitted on numpy arrays (32x32x3 random images, integer labels). Run from the repository root (project venv):

    python benchmarks/augmentation.py                       # 5 rounds, aug and plain variants (~10 min)
    python benchmarks/augmentation.py --rounds 1 --samples 256 --epochs 2     # smoke run
    python benchmarks/augmentation.py --contrast off        # without RandomContrast (both libraries)

`--contrast auto` (default) keeps RandomContrast when cnnkit has it and otherwise leaves it out of both models
(printed at the start). `--variants plain` adds the same convnet without augmentation, for the cost of the
augmentation itself.

Method (as train_throughput.py): every (variant, library) run is its own Python process, started one at a time; a
round runs each library once, in an order alternating every round. A run trains `--epochs` epochs and reports
samples/s for each epoch after the first (warm-up); its figure is the median of those. The table shows the median
rate over rounds and their ratio cnnkit / Keras (as train_throughput.py), then each round's rates and ratio. The CPU
model (lscpu) is printed with the results: compare ratios from one run, not absolute numbers across machines. On a
busy machine torch's spinning OpenMP threads can slow cnnkit by an order of magnitude (see benchmarks/layers.py):
`--omp-wait-policy passive` or `--torch-threads 1` show that effect.

cnnkit's augmentation runs batched in torch: each layer draws its per-image parameters in one numpy call and
applies them to the whole batch (flip: one indexed flip of the drawn images; rotation and zoom: one batched
grid_sample each, bilinear with reflect fill; contrast: one broadcast expression); there is no Python loop over the
images.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

# cnnkit from this checkout (not an installed copy), also in the worker processes
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SHAPE, BATCH, OPTIMIZER = (32, 32, 3), 32, "adam"
LIBRARIES = ["cnnkit", "keras"]


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


def augmentation(lib, contrast):
    L = lib.layers
    layers = [L.RandomFlip("horizontal"), L.RandomRotation(0.1), L.RandomZoom(0.1)]
    return layers + ([L.RandomContrast(0.1)] if contrast else [])


def convnet(lib):
    L = lib.layers
    return [L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
            L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
            L.Conv2D(64, (3, 3), activation="relu"), L.Flatten(),
            L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")]


def run(lib, variant, contrast, samples, epochs):
    rng = np.random.default_rng(0)
    x = rng.random((samples, *SHAPE), dtype=np.float32)
    y = rng.integers(0, 10, size=samples)
    front = augmentation(lib, contrast) if variant == "aug" else []
    model = lib.Sequential([lib.layers.Input(shape=SHAPE), *front, *convnet(lib)])
    model.compile(optimizer=OPTIMIZER, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    times = []

    class EpochTimer(lib.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[EpochTimer()])
    return [samples / t for t in times[1:]]


def worker(library, variant, contrast, samples, epochs):
    if library == "keras":
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras as lib  # noqa: PLC0415
    else:
        import torch  # noqa: PLC0415

        import cnnkit as lib  # noqa: PLC0415
        lib.config.set_device("cpu")
        if os.environ.get("BENCH_TORCH_THREADS"):
            torch.set_num_threads(int(os.environ["BENCH_TORCH_THREADS"]))
    rates = run(lib, variant, contrast, samples, epochs)
    print(json.dumps({"rate": statistics.median(rates)}))


def cnnkit_has_contrast():
    import cnnkit  # noqa: PLC0415
    return hasattr(cnnkit.layers, "RandomContrast")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run; the first is warm-up")
    parser.add_argument("--samples", type=int, default=8192)  # 256 steps an epoch: 64 measured the machine more
    parser.add_argument("--variants", nargs="+", default=["aug", "plain"], choices=["aug", "plain"])
    parser.add_argument("--contrast", choices=("auto", "on", "off"), default="auto",
                        help="RandomContrast in the augmentation (auto: when cnnkit has it)")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--omp-wait-policy", choices=("default", "passive", "active"), default="default",
                        help="OMP_WAIT_POLICY for the workers; 'passive' makes idle OpenMP threads sleep instead of "
                             "spinning, which matters on a shared machine")
    parser.add_argument("--worker", nargs=2, metavar=("LIBRARY", "VARIANT"), help=argparse.SUPPRESS)
    parser.add_argument("--with-contrast", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], bool(args.with_contrast), args.samples, args.epochs)
        return
    if args.omp_wait_policy != "default":
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()  # inherited by the workers
    if args.torch_threads:
        os.environ["BENCH_TORCH_THREADS"] = str(args.torch_threads)
    contrast = {"on": True, "off": False}.get(args.contrast)
    if contrast is None:
        contrast = cnnkit_has_contrast()
        if not contrast:
            print("note: cnnkit has no RandomContrast on this branch: left out of both models (--contrast off)")
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is warm-up)")
    print(f"CPU: {cpu_model()}; {os.cpu_count()} logical CPUs; augmentation: RandomFlip, RandomRotation, "
          f"RandomZoom{', RandomContrast' if contrast else ''}; {args.samples} samples, batch {BATCH}; load average "
          f"{os.getloadavg()[0]:.2f}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(not set)')}, torch "
          f"threads {args.torch_threads or 'default'}", flush=True)
    rates = {(v, lib): [] for v in args.variants for lib in LIBRARIES}
    for round_index in range(args.rounds):
        order = LIBRARIES if round_index % 2 == 0 else LIBRARIES[::-1]
        for variant in args.variants:
            for library in order:
                proc = subprocess.run([sys.executable, __file__, "--worker", library, variant, "--samples",
                                       str(args.samples), "--epochs", str(args.epochs), "--with-contrast",
                                       str(int(contrast))], capture_output=True, text=True, check=False)
                lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
                if proc.returncode or not lines:
                    sys.exit(f"{library} ({variant}) failed:\n{proc.stderr[-3000:]}")
                rates[(variant, library)].append(json.loads(lines[-1])["rate"])
        print(f"round {round_index + 1}/{args.rounds} done (load average {os.getloadavg()[0]:.2f})", flush=True)
    print(f"\ntraining samples/s, median of {args.rounds} rounds (each run the median of {args.epochs - 1} epochs)")
    print(f"{'variant':8} {'cnnkit':>10} {'keras':>10}  cnnkit/keras (ratio of the medians; each round's own ratio)")
    for variant in args.variants:
        ours, theirs = rates[(variant, "cnnkit")], rates[(variant, "keras")]
        ratio = statistics.median(ours) / statistics.median(theirs)
        rounds = ", ".join(f"{a:.0f}/{b:.0f} = {a / b:.2f}x" for a, b in zip(ours, theirs))
        print(f"{variant:8} {statistics.median(ours):10.0f} {statistics.median(theirs):10.0f}  {ratio:12.2f}   "
              f"rounds {rounds}")
        print(f"RATIO {variant} cnnkit/keras {ratio:.4f}")


if __name__ == "__main__":
    main()
