"""ResNet50 training steps under float32 and mixed_bfloat16 in ONE process, interleaved, with torch.profiler tables.

`mixed_precision.py` runs each configuration in its own process one after the other, so on a shared machine a
burst of load lands on one side only. This script builds every configuration first, then times one step of each in
turn (ABCABC...), `--rounds` times, and prints each one's median step time and the median of the per-round ratios
(the figure to quote on a busy machine, with the load average printed beside it), and cnnkit's per-step losses
under both policies (same initial weights, same batches) with their largest relative difference. `--profile` then records one
step of each with torch.profiler and prints the top entries by self CPU time (the tables in benchmarks/README.md).

Configurations: `cnnkit-float32` and `cnnkit-mixed_bfloat16` (`ResNet50(weights=None)` built under each global
policy, `train_on_batch`, SGD), and `torch-autocast` (the hand-written torch.nn ResNet50 of `mixed_precision.py`,
channels_last, its forward under `torch.autocast('cpu', dtype=torch.bfloat16)`, SGD).

    python benchmarks/mixed_precision_profile.py                          # 224x224, batch 16, 5 rounds
    python benchmarks/mixed_precision_profile.py --size 112 --rounds 7 --profile --threads 1
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


def cnnkit_step(policy, batches, classes):
    import cnnkit  # noqa: PLC0415
    from cnnkit.applications import ResNet50  # noqa: PLC0415

    cnnkit.utils.set_random_seed(0)
    cnnkit.mixed_precision.set_global_policy(policy)
    model = ResNet50(weights=None, input_shape=batches[0][0].shape[1:], classes=classes)
    cnnkit.mixed_precision.set_global_policy("float32")
    model.compile(cnnkit.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    return lambda i: float(model.train_on_batch(*batches[i]))


def torch_step(batches, classes):
    import torch  # noqa: PLC0415

    from mixed_precision import torch_resnet50  # noqa: PLC0415

    torch.manual_seed(0)
    module = torch_resnet50(classes).to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(module.parameters(), lr=0.01)
    def step(i):
        bx, by = torch.from_numpy(batches[i][0]).permute(0, 3, 1, 2), torch.from_numpy(batches[i][1])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = module(bx)
        loss = torch.nn.functional.cross_entropy(logits.float(), by)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def profile_table(step, rows):
    """Markdown table of one step's top `rows` ops by self CPU time."""
    from torch.profiler import ProfilerActivity  # noqa: PLC0415
    from torch.profiler import profile  # noqa: PLC0415

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step(-1)
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events)
    lines = [f"| op | calls | self ms | % |", "|---|---|---|---|"]
    lines += [f"| `{e.key}` | {e.count} | {e.self_cpu_time_total / 1e3:.0f} | {100 * e.self_cpu_time_total / total:.1f} |"
              for e in events[:rows]]
    return "\n".join(lines) + f"\n\ntotal self CPU time {total / 1e3:.0f} ms"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (one step of each configuration)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--configs", nargs="+", default=["cnnkit-float32", "cnnkit-mixed_bfloat16", "torch-autocast"],
                        choices=["cnnkit-float32", "cnnkit-mixed_bfloat16", "torch-autocast"])
    parser.add_argument("--profile", action="store_true", help="print each configuration's profile table")
    parser.add_argument("--rows", type=int, default=12)
    args = parser.parse_args()
    import torch  # noqa: PLC0415

    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    batches = [(rng.random((args.batch, args.size, args.size, 3), dtype=np.float32),
                rng.integers(0, args.classes, args.batch)) for _ in range(args.warmup + args.rounds + 1)]
    steps = {name: (torch_step(batches, args.classes) if name == "torch-autocast"
                    else cnnkit_step(name.split("-", 1)[1], batches, args.classes)) for name in args.configs}
    print(f"ResNet50 training steps {args.size}x{args.size}, batch {args.batch}, {torch.get_num_threads()} threads; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    times = {name: [] for name in steps}
    losses = {name: [] for name in steps}
    for round_ in range(args.warmup + args.rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            losses[name].append(step(round_))
            if round_ >= args.warmup:
                times[name].append(time.perf_counter() - start)
    for name, ts in times.items():
        print(f"{name:24s} median {statistics.median(ts):.3f} s/step  {[round(t, 3) for t in ts]}")
    base = times.get("cnnkit-float32")
    for name, ts in times.items():
        if base and name != "cnnkit-float32":
            ratio = statistics.median(b / t for b, t in zip(base, ts))
            print(f"float32 / {name}: {ratio:.3f}x (median of per-round ratios)")
            print(f"RATIO resnet50-interleaved float32/{name} {ratio:.4f}")
    if "cnnkit-float32" in losses and "cnnkit-mixed_bfloat16" in losses:  # same initial weights, same batch
        drift = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(losses["cnnkit-mixed_bfloat16"],
                                                                    losses["cnnkit-float32"]))
        print(f"losses float32 {[round(v, 4) for v in losses['cnnkit-float32']]}, mixed_bfloat16 "
              f"{[round(v, 4) for v in losses['cnnkit-mixed_bfloat16']]}: largest relative difference {drift:.2%}")
        print(f"RATIO resnet50-interleaved mixed_bfloat16-loss-drift {drift:.4f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.profile:
        for name, step in steps.items():
            print(f"\n### {name}\n\n{profile_table(step, args.rows)}", flush=True)


if __name__ == "__main__":
    main()
