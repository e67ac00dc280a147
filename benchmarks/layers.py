"""Forward+backward throughput of three small blocks: cnnkit vs Keras 3 (TensorFlow) vs hand-written torch.nn.

Run from the repository root (in the project's venv):

    python benchmarks/layers.py            # 16 steps a pass, up to 7 rounds, ~4 minutes budget
    python benchmarks/layers.py --quick    # 4 steps a pass, up to 5 rounds, ~1 minute budget
    python benchmarks/layers.py --blocks separable --configs cnnkit,torch

Blocks (batch 32, random NHWC float32 inputs, Keras's default initialisers, then every weight randomised):
    transpose  16x16x64 -> Conv2DTranspose(32, 3, strides=2, padding='same', relu)
               -> Conv2DTranspose(16, 3, strides=2, padding='same')                        (decoder / GAN style)
    depthwise  32x32x64 -> DepthwiseConv2D(3, padding='same') -> BatchNormalization -> Activation('relu6')
               -> Conv2D(128, 1)                                                            (MobileNet style)
    separable  32x32x64 -> SeparableConv2D(128, 3, padding='same', relu)
               -> SeparableConv2D(128, 3, padding='same')                                   (Xception style)

One step: forward with training=True (batch statistics in BatchNormalization), then the backward pass from a
fixed gradient of the output (a random tensor, the same for every configuration, as `output_gradients`), which
gives the gradients of every trainable weight; no optimizer update. The output gradient is given rather than
taken from a loss so that the ratios measure the blocks' layers, not how each framework computes a loss (an eager
`mean(y ** 2)` and its gradient are three more passes over the output, fused away by `tf.function`).
Configurations:
    cnnkit      the block as a cnnkit Sequential model, called on a torch tensor in Keras layout (NHWC) with
                training=True, `y.backward(gradient)` (gradients set to None before each step)
    torch       a hand-written torch.nn module with the same weights, module and input in channels_last memory
                (the input is the permuted NHWC array, no copy), the same backward. Its transposed
                convolutions are `nn.ConvTranspose2d(padding=0)` cropped with `F.pad(y, [0, -1, 0, -1])`:
                TensorFlow's 'same' alignment, which torch's `padding=1, output_padding=1` does not give
    torch-pad1  transpose block only: the idiomatic torch module (`padding=1, output_padding=1`, no crop), whose
                outputs are TensorFlow's shifted by one pixel (checked for shape only): the cost of the alignment
    keras       Keras 3 / TensorFlow: a `tf.function` step, `GradientTape` over `model.trainable_variables`
                (what `fit` runs on a CPU: no XLA)

Before timing, each configuration's output and loss (mean(output ** 2)) on the batch are compared with Keras's
(max abs difference <= 1e-4 x max(1, largest |output|)); the script stops on a mismatch.

Method (as `inference.py`, whose worker plumbing it uses): torch + cnnkit in one worker process, TensorFlow in
another, driven one at a time over pipes; one untimed step per configuration (the correctness check) and, except
with --quick, one untimed pass; then rounds, each running every configuration once for `steps` steps in an order
rotated each round; samples/s = 32 x steps / the median pass time. Rounds stop early (never below 3) to keep to
the budget. The ratios are cnnkit / keras and cnnkit / torch from the medians (best-round ratios in brackets).

OpenMP: torch's CPU kernels run in OpenMP parallel regions whose idle threads spin by default. On a machine
whose cores other processes also use, a descheduled thread then stalls every region and torch (cnnkit and the
hand-written modules alike) can run several times slower, while TensorFlow's thread pool does not suffer so;
`--omp-wait-policy passive` (OMP_WAIT_POLICY=PASSIVE) shows the size of that effect, and `--torch-threads 1`
removes it.
"""

import argparse
import gc
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from inference import Local  # noqa: E402 (benchmarks/ is this script's directory)
from inference import Remote  # noqa: E402
from inference import _quiet_stderr  # noqa: E402
from inference import cpu_count  # noqa: E402

BATCH = 32
TOL = 1e-4
SHAPES = {"transpose": (16, 16, 64), "depthwise": (32, 32, 64), "separable": (32, 32, 64)}
TORCH_CONFIGS = ("cnnkit", "torch", "torch-pad1")
CONFIGS = ("cnnkit", "torch", "torch-pad1", "keras")


def block_layers(L, block):
    """The block's layers in the Keras API (`L` is keras.layers or cnnkit.layers)."""
    if block == "transpose":
        return [L.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu"),
                L.Conv2DTranspose(16, 3, strides=2, padding="same")]
    if block == "depthwise":
        return [L.DepthwiseConv2D(3, padding="same"), L.BatchNormalization(), L.Activation("relu6"),
                L.Conv2D(128, 1)]
    return [L.SeparableConv2D(128, 3, padding="same", activation="relu"), L.SeparableConv2D(128, 3, padding="same")]


def build_model(lib, block):
    return lib.models.Sequential([lib.layers.Input(shape=SHAPES[block]), *block_layers(lib.layers, block)])


def make_data(block, seed):
    import numpy as np
    return np.random.default_rng(seed).standard_normal((BATCH, *SHAPES[block]), dtype=np.float32)


OUTPUT_SHAPES = {"transpose": (64, 64, 16), "depthwise": (32, 32, 128), "separable": (32, 32, 128)}


def make_output_gradient(block, seed):
    """The fixed gradient of the block's output (NHWC) every configuration's backward pass starts from."""
    import numpy as np
    return np.random.default_rng(seed + 7).standard_normal((BATCH, *OUTPUT_SHAPES[block]), dtype=np.float32)


class KerasWorker:
    """Builds the Keras blocks (the source of the shared weights) and times the TensorFlow steps."""

    def __init__(self, threads=None):
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with _quiet_stderr():
            import keras
            import tensorflow as tf
            tf.constant(0.0) + 1.0
        self.keras, self.tf = keras, tf
        keras.utils.set_random_seed(0)
        self.steps, self.data = {}, {}

    def info(self):
        return f"keras {self.keras.__version__}, tensorflow {self.tf.__version__} (default threads)"

    def setup(self, block, seed):
        import numpy as np
        tf = self.tf
        model = build_model(self.keras, block)
        rng = np.random.default_rng(seed + 1)  # biases and BatchNormalization's parameters non-trivial
        model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) if w.ndim == 1 else
                           w + 0.05 * rng.standard_normal(w.shape).astype(w.dtype) for w in model.get_weights()])
        variables = model.trainable_variables

        @tf.function
        def step(x, gradient):
            with tf.GradientTape() as tape:
                y = model(x, training=True)
            return y, tape.gradient(y, variables, output_gradients=gradient)

        self.steps[block] = step
        self.data[block] = (tf.constant(make_data(block, seed)), tf.constant(make_output_gradient(block, seed)))
        return model.get_weights()

    def run(self, block, config, steps):
        step, (x, gradient) = self.steps[block], self.data[block]
        gc.collect()
        start = time.perf_counter()
        for _ in range(steps):
            y, _ = step(x, gradient)  # CPU ops run synchronously: the step has finished when this returns
        elapsed = time.perf_counter() - start
        y = y.numpy()
        return elapsed, (y, float((y.astype("float64") ** 2).mean()))


def _torch_modules(block, weights, pad1=False):
    """The hand-written torch module of `block` with the Keras weights (conversions written out here)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a))

    class Transpose(nn.Module):
        def __init__(self):
            super().__init__()
            extra = dict(padding=1, output_padding=1) if pad1 else {}
            self.up1 = nn.ConvTranspose2d(64, 32, 3, stride=2, **extra)
            self.up2 = nn.ConvTranspose2d(32, 16, 3, stride=2, **extra)

        def crop(self, y):  # TensorFlow's 'same' for kernel 3, stride 2: the full output less its last row/column
            return y if pad1 else F.pad(y, [0, -1, 0, -1])

        def forward(self, x):
            return self.crop(self.up2(torch.relu(self.crop(self.up1(x)))))

    class Depthwise(nn.Module):
        def __init__(self):
            super().__init__()
            self.dw = nn.Conv2d(64, 64, 3, padding=1, groups=64)
            self.bn = nn.BatchNorm2d(64, eps=1e-3, momentum=0.01)  # Keras's epsilon and momentum 0.99
            self.pw = nn.Conv2d(64, 128, 1)

        def forward(self, x):
            return self.pw(F.relu6(self.bn(self.dw(x))))

    class Separable(nn.Module):
        def __init__(self):
            super().__init__()
            self.dw1 = nn.Conv2d(64, 64, 3, padding=1, groups=64, bias=False)
            self.pw1 = nn.Conv2d(64, 128, 1)
            self.dw2 = nn.Conv2d(128, 128, 3, padding=1, groups=128, bias=False)
            self.pw2 = nn.Conv2d(128, 128, 1)

        def forward(self, x):
            return self.pw2(self.dw2(torch.relu(self.pw1(self.dw1(x)))))

    module = {"transpose": Transpose, "depthwise": Depthwise, "separable": Separable}[block]()
    conv = lambda k: t(k.transpose(3, 2, 0, 1))  # noqa: E731 (kh, kw, a, b) -> (b, a, kh, kw)
    depthwise = lambda k: t(k.transpose(2, 3, 0, 1).reshape(-1, 1, *k.shape[:2]))  # noqa: E731 (kh, kw, c, m)
    if block == "transpose":  # Keras (kh, kw, out, in) -> torch (in, out, kh, kw)
        k1, b1, k2, b2 = weights
        values = [conv(k1), t(b1), conv(k2), t(b2)]
    elif block == "depthwise":
        k, b, gamma, beta, mean, var, pk, pb = weights
        values = [depthwise(k), t(b), t(gamma), t(beta), conv(pk), t(pb)]
        module.bn.running_mean.copy_(t(mean))
        module.bn.running_var.copy_(t(var))
    else:
        d1, p1, b1, d2, p2, b2 = weights
        values = [depthwise(d1), conv(p1), t(b1), depthwise(d2), conv(p2), t(b2)]
    with torch.no_grad():
        for parameter, value in zip(module.parameters(), values):
            parameter.copy_(value)
    return module.to(memory_format=torch.channels_last)


class TorchWorker:
    """Times cnnkit and the hand-written torch modules on the Keras weights."""

    def __init__(self, threads=None):
        import torch
        self.torch = torch
        torch.set_num_threads(threads or cpu_count())
        self.models, self.data = {}, {}

    def info(self):
        import cnnkit
        t = self.torch
        return (f"torch {t.__version__} ({t.get_num_threads()} threads), cnnkit from "
                f"{os.path.dirname(cnnkit.__file__)}")

    def setup(self, block, seed, weights):
        import cnnkit
        torch = self.torch
        kit = build_model(cnnkit, block)
        kit.set_weights(weights)
        models = {"cnnkit": kit, "torch": _torch_modules(block, weights)}
        if block == "transpose":
            models["torch-pad1"] = _torch_modules(block, weights, pad1=True)
        x = torch.from_numpy(make_data(block, seed))
        gradient = torch.from_numpy(make_output_gradient(block, seed))
        self.models[block] = models
        # the torch modules take and give channels_last NCHW views of the NHWC arrays (no copy)
        self.data[block] = {"cnnkit": (x, gradient), "torch": (x.permute(0, 3, 1, 2), gradient.permute(0, 3, 1, 2))}

    def configs(self, block):
        return list(self.models[block])

    def run(self, block, config, steps):
        torch = self.torch
        model = self.models[block][config]
        x, gradient = self.data[block]["cnnkit" if config == "cnnkit" else "torch"]
        parameters = list(model.parameters())
        gc.collect()
        start = time.perf_counter()
        for _ in range(steps):
            for p in parameters:
                p.grad = None
            y = model(x, training=True) if config == "cnnkit" else model.train()(x)
            y.backward(gradient)
        elapsed = time.perf_counter() - start
        y = y.detach()
        y = (y if config == "cnnkit" else y.permute(0, 2, 3, 1)).numpy()
        return elapsed, (y, float((y.astype("float64") ** 2).mean()))


def check_outputs(block, outputs, reference):
    import numpy as np
    want, want_loss = reference
    scale = max(1.0, float(np.abs(want).max()))
    print(f"  correctness ({block}: max abs difference of the output vs keras, tolerance {TOL:g} x {scale:.2f}):")
    bad = []
    for config, (out, loss) in outputs.items():
        if out.shape != want.shape:
            bad.append(config)
            print(f"    {config:<11} shape {out.shape} != {want.shape}")
            continue
        if config == "torch-pad1":
            print(f"    {config:<11} shape {out.shape} (aligned one pixel off TensorFlow: values not compared)")
            continue
        diff = float(np.abs(out.astype(np.float64) - want).max())
        ok = diff <= TOL * scale and abs(loss - want_loss) <= TOL * max(1.0, abs(want_loss))
        print(f"    {config:<11} {diff:.2e}   loss {loss:.6f} vs {want_loss:.6f}{'' if ok else '   <-- MISMATCH'}")
        if not ok:
            bad.append(config)
    if bad:
        raise SystemExit(f"outputs disagree for {block}: {bad}; not timing.")


def bench_block(block, configs, workers, args, deadline):
    weights = workers["keras"].call("setup", block, args.seed)
    workers["torch"].call("setup", block, args.seed, weights)
    available = workers["torch"].call("configs", block) + ["keras"]
    configs = [c for c in configs if c in available]
    owner = {c: "torch" if c in TORCH_CONFIGS else "keras" for c in configs}
    outputs = {c: workers[owner[c]].call("run", block, c, 1)[1] for c in configs}  # check + first warm-up
    reference = outputs.pop("keras") if "keras" in outputs else workers["keras"].call("run", block, "keras", 1)[1]
    check_outputs(block, outputs, reference)
    if not args.quick:  # a warm-up pass at full length (allocator, oneDNN primitive caches)
        for config in configs:
            workers[owner[config]].call("run", block, config, args.steps)
    times = {c: [] for c in configs}
    for r in range(args.rounds):
        round_start = time.perf_counter()
        for config in configs[r % len(configs):] + configs[:r % len(configs)]:
            times[config].append(workers[owner[config]].call("run", block, config, args.steps)[0])
        if r + 1 >= 3 and time.perf_counter() + (time.perf_counter() - round_start) > deadline:
            break
    return times


def report(block, times, steps):
    samples = BATCH * steps
    rate = {c: samples / statistics.median(t) for c, t in times.items()}
    best = {c: samples / min(t) for c, t in times.items()}
    rounds = len(next(iter(times.values())))
    print(f"\n  {block} {SHAPES[block]}: batch {BATCH}, {steps} steps a pass, {rounds} rounds; load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"    {'configuration':<13} {'samples/s':>9} {'ms/step':>8}   {'best':>6}  {'worst':>6}")
    for config, t in times.items():
        print(f"    {config:<13} {rate[config]:>9.0f} {statistics.median(t) / steps * 1e3:>8.1f}   "
              f"{best[config]:>6.0f}  {samples / max(t):>6.0f}")
    ratios = {}
    for other in ("keras", "torch"):
        if "cnnkit" in rate and other in rate:
            ratios[other] = rate["cnnkit"] / rate[other]
            print(f"    cnnkit / {other}: {ratios[other]:.2f}x   [best rounds: {best['cnnkit'] / best[other]:.2f}x]")
            print(f"RATIO {block} cnnkit/{other} {ratios[other]:.4f}")
    return rate, ratios


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 steps a pass, up to 5 rounds, 60 s budget")
    parser.add_argument("--steps", type=int, default=None, help="steps per timed pass (default 16; 4 with --quick)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds at most (default 7; 5 with --quick)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds for the whole run; rounds stop early (at least 3) (default 240; 60 with --quick)")
    parser.add_argument("--blocks", default=",".join(SHAPES), help="comma-separated subset of: " + ",".join(SHAPES))
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset of: " + ",".join(CONFIGS))
    parser.add_argument("--torch-threads", type=int, default=None, help="torch threads (default: usable cores)")
    parser.add_argument("--single-process", action="store_true", help="run torch and TF in this one process")
    parser.add_argument("--omp-wait-policy", choices=("default", "passive", "active"), default="default",
                        help="OMP_WAIT_POLICY for the torch worker (set before torch is imported); 'passive' makes "
                             "idle OpenMP threads sleep instead of spinning, which matters on a shared machine")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.omp_wait_policy != "default":
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()  # inherited by the spawned workers
    args.steps = args.steps or (4 if args.quick else 16)
    args.rounds = args.rounds or (5 if args.quick else 7)
    args.budget = args.budget or (60.0 if args.quick else 240.0)
    blocks = [b.strip() for b in args.blocks.split(",") if b.strip()]
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for names, allowed in ((blocks, SHAPES), (configs, CONFIGS)):
        unknown = [n for n in names if n not in allowed]
        if unknown:
            parser.error(f"unknown {unknown}; choose from {list(allowed)}")

    started = time.perf_counter()
    kind = Local if args.single_process else Remote
    workers = {"keras": kind(KerasWorker), "torch": kind(TorchWorker, args.torch_threads)}
    summary = {}
    try:
        print(f"layer-block benchmark (forward + backward): {cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.2f}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(not set)')}")
        print(f"  {workers['torch'].call('info')}")
        print(f"  {workers['keras'].call('info')}")
        for i, block in enumerate(blocks):
            remaining = started + args.budget - time.perf_counter()
            deadline = time.perf_counter() + remaining / (len(blocks) - i)
            summary[block] = report(block, bench_block(block, configs, workers, args, deadline), args.steps)
    finally:
        for worker in workers.values():
            worker.close()
    print("\nsummary (samples/s, medians):")
    for block, (rate, ratios) in summary.items():
        parts = "; ".join(f"cnnkit / {other} {value:.2f}x" for other, value in ratios.items())
        rates = ", ".join(f"{c} {r:.0f}" for c, r in rate.items())
        print(f"  {block}: {rates}; {parts}")
    print(f"total time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
