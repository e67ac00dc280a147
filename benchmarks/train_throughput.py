"""Training throughput, side by side: cnnkit `fit` vs a hand-written PyTorch loop vs Keras 3 `fit` (TensorFlow).

Run from the repository root (in the project's venv):

    python benchmarks/train_throughput.py            # 3 workloads x 4 configurations, 3 rounds (~6-8 min)
    python benchmarks/train_throughput.py --quick    # 2 rounds, fewer samples
    python benchmarks/train_throughput.py --workloads mnist --rounds 5
    python benchmarks/train_throughput.py --device cuda --policy mixed_float16   # GPU mode (default with CUDA)

Workloads (the seeds' models, random data of the right shape, the seeds' batch sizes and optimizers):
    mnist  conv 32/64/64 (3x3 relu) + 2 max-pools, dense 64, softmax 10 on 28x28x1; batch 64, rmsprop
    lenet  the seeds' LeNet (5x5 tanh convs 6/16, 2x2 average pools, dense 120/84/10) on 28x28x1; batch 32, sgd
    cifar  the mnist stack on 32x32x3 (seed 003's functional model); batch 32, adam

Configurations:
    cnnkit       model.compile(...) + model.fit(x, y, batch_size, epochs, verbose=0) on NHWC numpy arrays
    torch-nchw   a hand-written nn.Module and loop (shuffled index per epoch, x[idx] -> torch -> permute +
                 contiguous to NCHW, forward, cross-entropy on logits, zero_grad, backward, torch.optim step)
    torch-cl     the same loop with the module and batches in torch.channels_last memory format
    keras        Keras 3 on TensorFlow: model.fit(x, y, batch_size, epochs, verbose=0)

Method: every (workload, configuration) run is its own Python process (so the frameworks never share threads or
caches), started one at a time; a round runs each configuration once, in an order rotated every round. A run trains
`--epochs` epochs and reports samples/s for each epoch after the first (warm-up); its figure is the median of those.
The table shows the median over rounds and the ratios of those medians, cnnkit / best torch loop and cnnkit / Keras;
then the paired ratios: each round's own ratio (its runs minutes apart) and their median, which show the spread. The
machine is shared and noisy: compare ratios from one run, not absolute numbers across runs.

GPU mode (`--device cuda`, the default when CUDA is available): cnnkit and the torch loops train on the GPU (torch
batches copied with non_blocking=True); Keras is left out (tensorflow-cpu has no GPU). `--policy mixed_float16` or
`mixed_bfloat16`: cnnkit's global dtype policy, torch.autocast (+ GradScaler for float16) in the torch loops.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

WORKLOADS = {
    "mnist": {"shape": (28, 28, 1), "batch": 64, "optimizer": "rmsprop"},
    "lenet": {"shape": (28, 28, 1), "batch": 32, "optimizer": "sgd"},
    "cifar": {"shape": (32, 32, 3), "batch": 32, "optimizer": "adam"},
}
CONFIGS = ["cnnkit", "torch-nchw", "torch-cl", "keras"]


def make_data(workload, samples):
    rng = np.random.default_rng(0)
    x = rng.random((samples, *WORKLOADS[workload]["shape"]), dtype=np.float32)
    y = rng.integers(0, 10, size=samples)
    return x, y


def build_layers(lib, workload):
    """The workload's layers in the Keras API (cnnkit and Keras share it)."""
    L = lib.layers
    if workload == "lenet":
        return [L.Input(shape=WORKLOADS[workload]["shape"]),
                L.Conv2D(6, (5, 5), padding="same", activation="tanh"), L.AveragePooling2D((2, 2)),
                L.Conv2D(16, (5, 5), activation="tanh"), L.AveragePooling2D((2, 2)), L.Flatten(),
                L.Dense(120, activation="tanh"), L.Dense(84, activation="tanh"), L.Dense(10, activation="softmax")]
    return [L.Input(shape=WORKLOADS[workload]["shape"]),
            L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
            L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
            L.Conv2D(64, (3, 3), activation="relu"), L.Flatten(),
            L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")]


def training_flops(workload):
    """Floating-point operations of one training sample (a multiply-add is 2): each convolution and dense layer
    once forward, once for its weight gradient and once for its input gradient (not for the first layer, whose
    input needs none); pooling, activations and the optimizer are left out (they are memory-bound)."""
    side, _, channels = WORKLOADS[workload]["shape"]
    if workload == "lenet":  # (output side, filters, kernel, input channels) per conv; then the dense layers
        convs, dense = [(side, 6, 5, channels), (side // 2 - 4, 16, 5, 6)], [(400, 120), (120, 84), (84, 10)]
    else:
        sides = [side - 2, (side - 2) // 2 - 2, ((side - 2) // 2 - 2) // 2 - 2]
        convs = [(sides[0], 32, 3, channels), (sides[1], 64, 3, 32), (sides[2], 64, 3, 64)]
        dense = [(64 * sides[2] ** 2, 64), (64, 10)]
    forward = [2 * s * s * f * k * k * c for s, f, k, c in convs] + [2 * i * o for i, o in dense]
    return sum(3 * f for f in forward) - forward[0]


def matmul_peak():
    """This machine's float32 matrix-multiply rate (GFLOP/s): torch, 2048x2048 matrices, best of 10, with torch's
    default threads (as the training runs)."""
    import torch  # noqa: PLC0415
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    best = float("inf")
    for _ in range(12):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * 2048 ** 3 / best / 1e9


def run_framework(lib, workload, x, y, epochs):
    if lib.__name__ == "cnnkit":
        lib.config.set_device(os.environ.get("BENCH_DEVICE", "cpu"))
        lib.mixed_precision.set_global_policy(os.environ.get("BENCH_POLICY", "float32"))
    model = lib.Sequential(build_layers(lib, workload))
    model.compile(optimizer=WORKLOADS[workload]["optimizer"], loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    times = []

    class EpochTimer(lib.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(x, y, batch_size=WORKLOADS[workload]["batch"], epochs=epochs, verbose=0, callbacks=[EpochTimer()])
    return times


def torch_module(workload):
    import torch.nn as nn  # noqa: PLC0415
    channels = WORKLOADS[workload]["shape"][-1]
    if workload == "lenet":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
                             nn.AvgPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84),
                             nn.Tanh(), nn.Linear(84, 10))
    side = WORKLOADS[workload]["shape"][0]
    final = ((side - 2) // 2 - 2) // 2 - 2
    return nn.Sequential(nn.Conv2d(channels, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(64 * final * final, 64), nn.ReLU(), nn.Linear(64, 10))


def run_torch(workload, x, y, epochs, channels_last):
    import torch  # noqa: PLC0415
    import torch.nn.functional as F  # noqa: PLC0415
    net = torch_module(workload)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    device = torch.device(os.environ.get("BENCH_DEVICE", "cpu"))
    net = net.to(device, memory_format=memory_format)
    dtype = {"mixed_float16": torch.float16, "mixed_bfloat16": torch.bfloat16}.get(os.environ.get("BENCH_POLICY"))
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    name = WORKLOADS[workload]["optimizer"]
    optimizer = {"rmsprop": lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-7),
                 "sgd": lambda p: torch.optim.SGD(p, lr=0.01),
                 "adam": lambda p: torch.optim.Adam(p, lr=1e-3, eps=1e-7)}[name](net.parameters())
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    batch = WORKLOADS[workload]["batch"]
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            index = order[i:i + batch]
            xb = xt[index].permute(0, 3, 1, 2).contiguous(memory_format=memory_format)
            xb, yb = xb.to(device, non_blocking=True), yt[index].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                logits = net(xb)
            loss = F.cross_entropy(logits.float(), yb)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        float(loss)  # wait for the last step, as fit does at the end of an epoch
        times.append(time.perf_counter() - start)
    return times


def worker(config, workload, samples, epochs):
    x, y = make_data(workload, samples)
    if config == "keras":
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras  # noqa: PLC0415
        times = run_framework(keras, workload, x, y, epochs)
    elif config == "cnnkit":
        import cnnkit  # noqa: PLC0415
        times = run_framework(cnnkit, workload, x, y, epochs)
    else:
        times = run_torch(workload, x, y, epochs, channels_last=config == "torch-cl")
    rates = [samples / t for t in times[1:]]
    print(json.dumps({"rate": statistics.median(rates)}))


def print_paired(results, workloads, configs, rounds):
    """Each round's ratio cnnkit / Keras and cnnkit / the round's best torch loop, and their medians."""
    print("\npaired (for the spread; the RATIO lines are the ratios of the medians above): each round's ratio, then "
          "their median")
    for workload in workloads:
        by_round = [{c: results[(workload, c)][r] for c in configs} for r in range(rounds)]
        others = [("torch", lambda row: max((row[c] for c in configs if c.startswith("torch")), default=None)),
                  ("keras", lambda row: row.get("keras"))]
        for name, other in others:
            pairs = [row["cnnkit"] / other(row) for row in by_round if other(row)]
            if pairs:
                print(f"{workload:8} cnnkit/{name:6} median {statistics.median(pairs):5.2f}x   rounds "
                      + ", ".join(f"{p:.2f}x" for p in pairs))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--configs", nargs="+", default=CONFIGS, choices=CONFIGS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run; the first is warm-up")
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--quick", action="store_true", help="2 rounds, 3 epochs, 1024 samples")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--policy", choices=("float32", "mixed_float16", "mixed_bfloat16"), default="float32")
    parser.add_argument("--worker", nargs=2, metavar=("CONFIG", "WORKLOAD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.epochs, args.samples = 2, 3, 1024
    if args.device == "auto":
        import torch  # noqa: PLC0415
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    os.environ["BENCH_DEVICE"], os.environ["BENCH_POLICY"] = args.device, args.policy  # read by the workers
    if args.device == "cuda" and "keras" in args.configs and not args.worker:
        print("keras: left out on the GPU (tensorflow-cpu is installed: TensorFlow has no GPU here)")
        args.configs = [c for c in args.configs if c != "keras"]
    if args.worker:
        if args.worker[0] == "matmul":
            print(json.dumps({"rate": matmul_peak()}))
            return
        worker(args.worker[0], args.worker[1], args.samples, args.epochs)
        return
    results = {(w, c): [] for w in args.workloads for c in args.configs}
    for round_index in range(args.rounds):
        for workload in args.workloads:
            order = args.configs[round_index % len(args.configs):] + args.configs[:round_index % len(args.configs)]
            for config in order:
                proc = subprocess.run([sys.executable, __file__, "--worker", config, workload, "--samples",
                                       str(args.samples), "--epochs", str(args.epochs)], capture_output=True,
                                      text=True, check=False)
                lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
                if proc.returncode or not lines:
                    sys.exit(f"{config} on {workload} failed:\n{proc.stderr[-3000:]}")
                results[(workload, config)].append(json.loads(lines[-1])["rate"])
        if args.device == "cpu":
            proc = subprocess.run([sys.executable, __file__, "--worker", "matmul", "-"], capture_output=True,
                                  text=True, check=True)
            results.setdefault("matmul", []).append(json.loads(proc.stdout.splitlines()[-1])["rate"])
        print(f"round {round_index + 1}/{args.rounds} done (load average {os.getloadavg()[0]:.2f})", flush=True)
    print(f"\ndevice {args.device}, policy {args.policy}")
    print(f"training samples/s, median of {args.rounds} rounds (each the median of {args.epochs - 1} epochs)")
    print(f"{'workload':8} " + " ".join(f"{c:>11}" for c in args.configs) + "  cnnkit/torch  cnnkit/keras")
    for workload in args.workloads:
        rates = {c: statistics.median(results[(workload, c)]) for c in args.configs}
        torch_best = max((rates[c] for c in args.configs if c.startswith("torch")), default=float("nan"))
        ours, keras = rates.get("cnnkit", float("nan")), rates.get("keras", float("nan"))
        print(f"{workload:8} " + " ".join(f"{rates[c]:11.0f}" for c in args.configs)
              + f"  {ours / torch_best:12.2f}  {ours / keras:12.2f}")
        print(f"RATIO {workload} cnnkit/torch {ours / torch_best:.4f}")
        print(f"RATIO {workload} cnnkit/keras {ours / keras:.4f}")
    if "cnnkit" in args.configs:
        print_paired(results, args.workloads, args.configs, args.rounds)
    if "matmul" in results:
        peak = max(results["matmul"])
        print(f"\nFLOP rate (convolutions and dense layers, forward + both gradients) against this machine's measured "
              f"float32 matrix-multiply peak, {peak:.0f} GFLOP/s (torch, 2048x2048, best over the rounds):")
        for workload in args.workloads:
            flops = training_flops(workload)
            cells = [f"{c} {statistics.median(results[(workload, c)]) * flops / 1e9:.0f} GFLOP/s "
                     f"({statistics.median(results[(workload, c)]) * flops / 1e9 / peak:.0%})" for c in args.configs]
            print(f"{workload:8} {flops / 1e6:.1f} MFLOP/sample: " + ", ".join(cells))


if __name__ == "__main__":
    main()
