"""Inference throughput, side by side: cnnkit vs hand-written PyTorch vs Keras 3 (TensorFlow backend).

Run from the repository root (in the project's venv):

    python benchmarks/inference.py            # full run: 4096 images per workload, up to 7 rounds, ~2.5-3.5 min
    python benchmarks/inference.py --quick    # short run: 1024 images, up to 5 rounds, ~1 min budget
    python benchmarks/inference.py --help     # subsets of workloads/configurations, thread count, budget, ...
    python benchmarks/inference.py --device cuda   # GPU mode (the default when CUDA is available): cnnkit and the
                                                   # torch modules on the GPU; Keras stays on the CPU (tensorflow-cpu)

Workloads (the models of the seed notebooks, batch 64, random images in [0, 1)):
    mnist  Sequential: Conv2D(32, 3, relu) on 28x28x1, MaxPooling2D(2), Conv2D(64, 3, relu), MaxPooling2D(2),
           Conv2D(64, 3, relu), Flatten, Dense(64, relu), Dense(10, softmax)      (seed 002)
    cifar  the same stack as a functional Model on 32x32x3                        (seed 003)

Configurations (each runs the whole NHWC float32 numpy array in batches of 64 and returns a numpy array):
    cnnkit          `model.predict(x, batch_size=64, verbose=0)` (verbose=0 as for Keras: no progress output)
    torch-nchw      a hand-written nn.Module (conv -> relu -> maxpool, as a PyTorch user writes it) under
                    `torch.inference_mode()`; per batch `torch.from_numpy(x[i:i+64]).permute(0, 3, 1, 2).contiguous()`,
                    the conversion a user with NHWC numpy data needs
    torch-nchw-pre  the same module, the data converted to NCHW (`.permute(0, 3, 1, 2).contiguous()`) once, before
                    timing: the best case for NCHW torch, no per-batch conversion timed
    torch-cl        the same module after `.to(memory_format=torch.channels_last)`; each batch is
                    `torch.from_numpy(...).permute(0, 3, 1, 2)`, which is already channels_last memory (no copy)
    keras-predict   Keras 3 / TensorFlow `model.predict(x, batch_size=64, verbose=0)`
    keras-call      `model(x[i:i+64], training=False)` in a Python loop, `.numpy()` per batch
The "best hand-written torch" figure is the fastest of the three torch variants and the Keras figure the faster of
the two Keras ones (all are printed). Note for mnist: with one input channel, `.contiguous()` on the permuted
batch is a no-op (a size-1 axis makes the NHWC strides count as contiguous), so the "nchw" torch variants run
with channels_last-like input strides there too and oneDNN picks channels_last for the whole network.

Same weights everywhere: the Keras model is the source (Keras init, then biases set to small random values and
kernels scaled by 1.5 so the outputs are not all ~0.1); cnnkit gets them with `set_weights`; the torch module
gets conv kernels transposed (kh, kw, in, out) -> (out, in, kh, kw), Dense kernels transposed, and fc1's input
axis reordered from Keras's (h, w, c) flatten order to torch.flatten's (c, h, w). Before any timing every
configuration's output on the first 1024 images is compared with Keras's `predict` output; the script stops if
any max abs difference is >= 1e-4.

Method (the machine is a shared 2-core VM, noisy: other jobs come and go):
- Processes: the configurations run in two long-lived worker processes (multiprocessing 'spawn'): one imports
  only torch + cnnkit and runs cnnkit and the hand-written modules, the other imports only Keras/TensorFlow.
  The coordinator drives them strictly one at a time over pipes (the idle worker sits in a blocking pipe read,
  using no CPU). So the two frameworks never compete for the 2 cores, neither has the other's thread pools and
  oneDNN/MKL/OpenMP runtimes in its address space, and each keeps its threads, primitive caches and allocator
  warm from round to round. cnnkit and the hand-written torch modules share one process on purpose (same
  libtorch, same threads, same allocator: a like-for-like comparison). `--single-process` runs everything in
  this one process instead, to check that the choice does not change the picture.
- Threads: torch gets as many intra-op threads as the process may use cores (`os.sched_getaffinity`; change
  with `--torch-threads`); TensorFlow keeps its defaults.
- Warm-up: one untimed pass per configuration on the first 1024 images (it is also the correctness check);
  `--warmup N` adds N - 1 full untimed passes.
- Rounds: then up to R rounds (default 7; 5 with --quick); in each round every configuration runs one full pass
  over the n images, the order rotated by one each round (A B C D E F, B C D E F A, ...) so each sees the same
  background load on average and none always follows the same neighbour. `gc.collect()` precedes every timed
  pass. Rounds stop early (never below 3) when the next one would overrun the time budget (`--budget`), so a
  busy machine gives fewer rounds instead of a much longer run.
- Pass size: 4096 images by default because Keras's `predict` has a fixed cost of roughly 80 ms per call here
  (one-batch predict ~97 ms vs ~14 ms per batch in steady state), which would weigh too much on short passes.
- Load: with more runnable jobs than cores, torch's OpenMP regions (2 threads) lose much more than TensorFlow's
  thread pool (a descheduled thread stalls each parallel op), which hurts cnnkit and hand-written torch alike
  against Keras; `--torch-threads 1` shows the size of that effect. The load average is printed per table.
- Figures: images/s = n / median pass time over the rounds; the table also shows the best and worst round, and
  the ratios cnnkit / best torch and cnnkit / best Keras from the medians (and, in brackets, from the best
  rounds, which estimate the speed with the least interference).
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

BATCH = 64
TOL = 1e-4
CHECK_IMAGES = 1024  # images in the correctness / warm-up pass
WORKLOADS = {"mnist": (28, 28, 1), "cifar": (32, 32, 3)}
TORCH_CONFIGS = ("cnnkit", "torch-nchw", "torch-nchw-pre", "torch-cl")
KERAS_CONFIGS = ("keras-predict", "keras-call")
CONFIGS = TORCH_CONFIGS + KERAS_CONFIGS


def make_data(workload, n, seed):
    """The benchmark images: NHWC float32 in [0, 1), identical in every process for the same seed."""
    import numpy as np
    return np.random.default_rng(seed).random((n, *WORKLOADS[workload]), dtype=np.float32)


def cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class _quiet_stderr:
    """Sends file descriptor 2 to /dev/null for the duration (C++ log lines bypass sys.stderr)."""

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        return False


# ---- Keras / TensorFlow worker ------------------------------------------------------------------------------

def build_model(layers, models, workload):
    """The workload's model in the Keras API, for Keras and for cnnkit (same code, either library)."""
    shape = WORKLOADS[workload]
    if workload == "mnist":  # seed 002: Sequential
        model = models.Sequential([
            layers.Input(shape=shape),
            layers.Conv2D(filters=32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(filters=64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(filters=64, kernel_size=(3, 3), activation="relu"),
            layers.Flatten(),
            layers.Dense(units=64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ])
    else:  # seed 003: functional
        input_layer = layers.Input(shape=shape)
        x = layers.Conv2D(32, (3, 3), activation="relu")(input_layer)
        x = layers.MaxPooling2D((2, 2))(x)
        x = layers.Conv2D(64, (3, 3), activation="relu")(x)
        x = layers.MaxPooling2D((2, 2))(x)
        x = layers.Conv2D(64, (3, 3), activation="relu")(x)
        x = layers.Flatten()(x)
        x = layers.Dense(64, activation="relu")(x)
        output_layer = layers.Dense(10, activation="softmax")(x)
        model = models.Model(inputs=input_layer, outputs=output_layer)
    return model


class KerasWorker:
    """Builds the Keras models (the source of the shared weights) and runs keras-predict / keras-call."""

    def __init__(self, threads=None):
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with _quiet_stderr():  # TF's C++ start-up banners (oneDNN notice, absl warning)
            import keras
            import tensorflow as tf
            tf.constant(0.0) + 1.0  # TF prints more of them on first use
        self.keras, self.tf = keras, tf
        keras.utils.set_random_seed(0)
        self.models, self.data = {}, {}

    def info(self):
        return f"keras {self.keras.__version__}, tensorflow {self.tf.__version__} (default threads)"

    def _build(self, workload):
        from keras import layers, models
        return build_model(layers, models, workload)

    def setup(self, workload, n, seed, weights=None):
        import numpy as np
        model = self._build(workload)
        # Keras initialises biases to zero and its glorot kernels give near-uniform softmax outputs on random
        # images: make the biases non-zero and the kernels a bit larger, so the correctness check would catch a
        # wrong bias, kernel transpose or flatten order.
        rng = np.random.default_rng(seed + 1)
        model.set_weights([w * 1.5 if w.ndim > 1 else 0.05 * rng.standard_normal(w.shape).astype(w.dtype)
                           for w in model.get_weights()])
        self.models[workload] = model
        self.data[workload] = make_data(workload, n, seed)
        return model.get_weights()

    def run(self, workload, config, limit=None):
        import numpy as np
        model, x = self.models[workload], self.data[workload][:limit]
        gc.collect()
        start = time.perf_counter()
        if config == "keras-predict":
            out = model.predict(x, batch_size=BATCH, verbose=0)
        elif config == "keras-call":
            out = np.concatenate([model(x[i:i + BATCH], training=False).numpy() for i in range(0, len(x), BATCH)])
        else:
            raise ValueError(config)
        return time.perf_counter() - start, out


# ---- torch worker: cnnkit and the hand-written modules ------------------------------------------------------

def _torch_module_class():
    import torch
    from torch import nn

    class SmallConvNet(nn.Module):
        """What a PyTorch user writes for the seed convnet: NCHW, conv -> relu -> maxpool, softmax at the end."""

        def __init__(self, in_channels, flat_features):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, 32, 3)
            self.conv2 = nn.Conv2d(32, 64, 3)
            self.conv3 = nn.Conv2d(64, 64, 3)
            self.pool = nn.MaxPool2d(2)
            self.relu = nn.ReLU()
            self.fc1 = nn.Linear(flat_features, 64)
            self.fc2 = nn.Linear(64, 10)

        def forward(self, x):
            x = self.pool(self.relu(self.conv1(x)))
            x = self.pool(self.relu(self.conv2(x)))
            x = self.relu(self.conv3(x))
            x = torch.flatten(x, 1)
            x = self.relu(self.fc1(x))
            return torch.softmax(self.fc2(x), dim=1)

    return SmallConvNet


class TorchWorker:
    """Runs cnnkit predict and the hand-written torch module (NCHW and channels_last) on the Keras weights."""

    def __init__(self, threads=None):
        import torch
        self.torch = torch
        torch.set_num_threads(threads or cpu_count())
        self.device = torch.device(os.environ.get("BENCH_DEVICE", "cpu"))
        import cnnkit
        cnnkit.config.set_device(self.device)
        self.models, self.data = {}, {}

    def info(self):
        import cnnkit
        t = self.torch
        return (f"torch {t.__version__} on {self.device} ({t.get_num_threads()} threads, "
                f"mkldnn={t.backends.mkldnn.enabled}), "
                f"cnnkit {cnnkit.__version__} from {os.path.dirname(cnnkit.__file__)}")

    def _build_cnnkit(self, workload):
        from cnnkit import layers, models
        return build_model(layers, models, workload)

    def _build_torch(self, workload, weights):
        """The hand-written module with the Keras weights: conv kernels (kh, kw, in, out) -> (out, in, kh, kw);
        Dense kernels (in, out) -> (out, in); fc1's input axis reordered from Keras's (h, w, c) flatten order
        to torch.flatten's (c, h, w)."""
        import numpy as np
        torch = self.torch
        h, w, c = WORKLOADS[workload]
        for _ in range(2):
            h, w = (h - 2) // 2, (w - 2) // 2
        h, w = h - 2, w - 2  # after conv3
        module = _torch_module_class()(c, h * w * 64)
        k1, b1, k2, b2, k3, b3, d1, e1, d2, e2 = weights
        fc1 = d1.reshape(h, w, 64, 64).transpose(2, 0, 1, 3).reshape(h * w * 64, 64)
        with torch.no_grad():
            for conv, k, b in ((module.conv1, k1, b1), (module.conv2, k2, b2), (module.conv3, k3, b3)):
                conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1))))
                conv.bias.copy_(torch.from_numpy(b))
            module.fc1.weight.copy_(torch.from_numpy(np.ascontiguousarray(fc1.T)))
            module.fc1.bias.copy_(torch.from_numpy(e1))
            module.fc2.weight.copy_(torch.from_numpy(np.ascontiguousarray(d2.T)))
            module.fc2.bias.copy_(torch.from_numpy(e2))
        return module.eval()

    def setup(self, workload, n, seed, weights):
        import copy
        torch = self.torch
        kit = self._build_cnnkit(workload)
        kit.set_weights(weights)
        nchw = self._build_torch(workload, weights).to(self.device)
        cl = copy.deepcopy(nchw).to(memory_format=torch.channels_last)
        x = make_data(workload, n, seed)
        x_nchw = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(self.device)
        self.models[workload] = {"cnnkit": kit, "nchw": nchw, "cl": cl}
        self.data[workload] = {"x": x, "x_nchw": x_nchw}
        return None

    def run(self, workload, config, limit=None):
        torch = self.torch
        models, data = self.models[workload], self.data[workload]
        x = data["x"][:limit]
        n = len(x)
        gc.collect()
        start = time.perf_counter()
        if config == "cnnkit":
            out = models["cnnkit"].predict(x, batch_size=BATCH, verbose=0)
        elif config == "torch-nchw":
            module, outs = models["nchw"], []
            with torch.inference_mode():
                for i in range(0, n, BATCH):
                    xb = torch.from_numpy(x[i:i + BATCH]).permute(0, 3, 1, 2).contiguous()
                    outs.append(module(xb.to(self.device, non_blocking=True)))
                out = torch.cat(outs).cpu().numpy()
        elif config == "torch-nchw-pre":
            module, x_nchw, outs = models["nchw"], data["x_nchw"][:limit], []
            with torch.inference_mode():
                for i in range(0, n, BATCH):
                    outs.append(module(x_nchw[i:i + BATCH]))
                out = torch.cat(outs).cpu().numpy()
        elif config == "torch-cl":
            module, outs = models["cl"], []
            with torch.inference_mode():
                for i in range(0, n, BATCH):
                    xb = torch.from_numpy(x[i:i + BATCH]).permute(0, 3, 1, 2)  # channels_last memory already
                    xb = xb.to(self.device, non_blocking=True)
                    outs.append(module(xb.contiguous(memory_format=torch.channels_last)))
                out = torch.cat(outs).cpu().numpy()
        else:
            raise ValueError(config)
        return time.perf_counter() - start, out


# ---- process plumbing ---------------------------------------------------------------------------------------

def _make_worker(worker, threads):
    """A worker from its name here ('keras', 'torch') or from a worker class (other benchmarks reuse the
    plumbing with their own classes, defined at the top level of their module so the child can import them)."""
    return {"keras": KerasWorker, "torch": TorchWorker}.get(worker, worker)(threads)


def _serve(worker_name, conn, threads):
    worker = _make_worker(worker_name, threads)
    while True:
        method, args = conn.recv()
        if method == "stop":
            break
        try:
            conn.send(("ok", getattr(worker, method)(*args)))
        except Exception as err:  # report, keep serving
            import traceback
            conn.send(("error", f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))
    conn.close()


class Remote:
    """A worker in its own process; `call(method, *args)` runs one method there and waits for the result.
    `worker_name`: 'keras', 'torch' or a worker class."""

    def __init__(self, worker_name, threads=None):
        import multiprocessing as mp
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(worker_name, child, threads), daemon=True)
        self.process.start()
        child.close()

    def call(self, method, *args):
        self.conn.send((method, args))
        status, value = self.conn.recv()
        if status == "error":
            raise RuntimeError(value)
        return value

    def close(self):
        try:
            self.conn.send(("stop", ()))
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout=10)


class Local:
    """The same interface, in this process (--single-process)."""

    def __init__(self, worker_name, threads=None):
        self.worker = _make_worker(worker_name, threads)

    def call(self, method, *args):
        return getattr(self.worker, method)(*args)

    def close(self):
        pass


# ---- coordinator --------------------------------------------------------------------------------------------

def check_outputs(workload, outputs, reference, count):
    import numpy as np
    print(f"  correctness ({workload}, {count} images, max abs diff vs keras-predict, tolerance {TOL:g}):")
    bad = []
    for config, out in outputs.items():
        if out.shape != reference.shape:
            bad.append(config)
            print(f"    {config:<16} shape {out.shape} != {reference.shape}")
            continue
        diff = float(np.max(np.abs(out.astype(np.float64) - reference)))
        print(f"    {config:<16} {diff:.2e}{'' if diff < TOL else '   <-- MISMATCH'}")
        if not diff < TOL:
            bad.append(config)
    if bad:
        raise SystemExit(f"outputs disagree for {workload}: {bad}; not timing.")


def bench_workload(workload, configs, workers, args, deadline):
    """Correctness check, warm-up, then interleaved timed rounds until `rounds` or `deadline` (min 3 rounds)."""
    n = args.n
    weights = workers["keras"].call("setup", workload, n, args.seed)
    workers["torch"].call("setup", workload, n, args.seed, weights)
    owner = {c: ("torch" if c in TORCH_CONFIGS else "keras") for c in configs}

    outputs = {}
    check_n = min(n, CHECK_IMAGES)
    for config in configs:  # first pass: correctness check + warm-up (on the first CHECK_IMAGES images)
        _, outputs[config] = workers[owner[config]].call("run", workload, config, check_n)
    reference = outputs["keras-predict"] if "keras-predict" in outputs else \
        workers["keras"].call("run", workload, "keras-predict", check_n)[1]
    check_outputs(workload, outputs, reference.astype("float64"), check_n)
    for _ in range(args.warmup - 1):
        for config in configs:
            workers[owner[config]].call("run", workload, config)

    times = {c: [] for c in configs}
    for r in range(args.rounds):
        round_start = time.perf_counter()
        order = configs[r % len(configs):] + configs[:r % len(configs)]
        for config in order:
            seconds, _ = workers[owner[config]].call("run", workload, config)
            times[config].append(seconds)
        last_round = time.perf_counter() - round_start
        if r + 1 >= 3 and time.perf_counter() + last_round > deadline:
            break
    return times


def report(workload, times, n):
    rate = {c: n / statistics.median(t) for c, t in times.items()}
    best = {c: n / min(t) for c, t in times.items()}
    rounds = len(next(iter(times.values())))
    print(f"\n  {workload}: {n} images, batch {BATCH}, {rounds} interleaved rounds; load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"    {'configuration':<16} {'images/s':>9} {'ms/batch':>9}   {'best':>6}  {'worst':>6}  "
          "(images/s over rounds)")
    for config, t in times.items():
        ms = statistics.median(t) / (n / BATCH) * 1e3
        print(f"    {config:<16} {rate[config]:>9.0f} {ms:>9.2f}   {best[config]:>6.0f}  {n / max(t):>6.0f}")
    ratios = {}
    torch_best = max((c for c in rate if c in TORCH_CONFIGS and c != "cnnkit"), key=rate.get, default=None)
    keras_best = max((c for c in rate if c in KERAS_CONFIGS), key=rate.get, default=None)
    if "cnnkit" in rate:
        for label, other in (("best hand-written torch", torch_best), ("Keras", keras_best)):
            if other is not None:
                ratios[label] = (rate["cnnkit"] / rate[other], other)
                best_other = max((c for c in best if owner_group(c) == owner_group(other) and c != "cnnkit"),
                                 key=best.get)
                print(f"    cnnkit / {label} ({other}): {ratios[label][0]:.2f}x   "
                      f"[best-round figures: {best['cnnkit'] / best[best_other]:.2f}x vs {best_other}]")
                print(f"RATIO {workload} cnnkit/{owner_group(other)} {ratios[label][0]:.4f}")
    return rate, ratios


def owner_group(config):
    return "keras" if config in KERAS_CONFIGS else "torch"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1024 images, up to 5 rounds, 60 s budget")
    parser.add_argument("--n", type=int, default=None, help="images per workload (default 4096; 1024 with --quick)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds at most (default 7; 5 with --quick)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed passes per config, the first being the correctness check (default 1)")
    parser.add_argument("--workloads", default="mnist,cifar", help="comma-separated subset of: mnist,cifar")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset of: " + ",".join(CONFIGS))
    parser.add_argument("--single-process", action="store_true", help="run torch and TF in this one process")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds for the whole run: rounds stop early (at least 3) to stay within it "
                             "(default 150; 60 with --quick)")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch intra-op threads (default: the number of usable cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where cnnkit and the torch modules run (auto: CUDA when available)")
    args = parser.parse_args(argv)
    if args.device == "auto":
        import torch
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    os.environ["BENCH_DEVICE"] = args.device  # read by the torch worker
    if args.device == "cuda":
        global TOL
        TOL = 2e-3  # TF32 convolutions and matmuls on the GPU against Keras's float32 on the CPU
        print("GPU mode: cnnkit and torch on CUDA; Keras on the CPU (tensorflow-cpu has no GPU)")
    args.n = args.n or (1024 if args.quick else 4096)
    args.rounds = args.rounds or (5 if args.quick else 7)
    args.budget = args.budget or (60.0 if args.quick else 150.0)
    args.warmup = max(1, args.warmup if args.warmup is not None else 1)
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for name, allowed in ((workloads, WORKLOADS), (configs, CONFIGS)):
        unknown = [x for x in name if x not in allowed]
        if unknown:
            parser.error(f"unknown {unknown}; choose from {list(allowed)}")

    started = time.perf_counter()
    kind = Local if args.single_process else Remote
    workers = {"keras": kind("keras"), "torch": kind("torch", args.torch_threads)}
    try:
        print(f"inference benchmark: {'one process' if args.single_process else 'torch and TF worker processes'}, "
              f"{cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
        print(f"  {workers['torch'].call('info')}")
        print(f"  {workers['keras'].call('info')}")
        summary = {}
        for i, workload in enumerate(workloads):
            remaining = started + args.budget - time.perf_counter()
            deadline = time.perf_counter() + remaining / (len(workloads) - i)
            times = bench_workload(workload, configs, workers, args, deadline)
            summary[workload] = report(workload, times, args.n)
    finally:
        for worker in workers.values():
            worker.close()
    print("\nsummary (images/s, median):")
    for workload, (rate, ratios) in summary.items():
        parts = "; ".join(f"cnnkit / {label} ({other}) {value:.2f}x" for label, (value, other) in ratios.items())
        print(f"  {workload}: cnnkit {rate.get('cnnkit', float('nan')):.0f} img/s; {parts}")
    print(f"total time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
