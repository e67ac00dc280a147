"""Every benchmark in benchmarks/, one after another, and one table of their headline ratios.

Run from the repository root (in the project's venv):

    python benchmarks/run_all.py --quick      # small settings: every script runs, about 10 minutes on 2 cores
    python benchmarks/run_all.py              # the scripts' default settings (about 1.5 hours on 2 cores)
    python benchmarks/run_all.py --quick --only train_throughput,transfer

Each script runs as its own subprocess (one at a time, its output kept in --log-dir when given) and prints its
ratios as machine-readable lines besides its own tables:

    RATIO <workload> <comparison> <value>        e.g.  RATIO mnist cnnkit/keras 1.3214

The table has one row per such line: benchmark, workload, comparison, ratio (> 1 means the first is faster, except
the `...-loss-drift` rows of mixed_precision, a relative loss difference). A script that fails, times out or prints
no ratio gives one row with its error instead; the other scripts still run. The CPU model (lscpu) and the load
average before and after are printed with the table: ratios from a busy machine are not worth much.
"""

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

#: script -> (quick arguments, full arguments); the order is the order they run in.
BENCHMARKS = {
    "train_throughput": (["--rounds", "1", "--epochs", "2", "--samples", "512"], []),
    "inference": (["--quick", "--n", "512", "--budget", "30"], []),
    "data_pipeline": (["--rounds", "1", "--epochs", "2"], []),
    "transfer": (["--quick", "--tasks", "infer,train,e2e"], ["--tasks", "infer,train,e2e"]),
    "mixed_precision": (["--quick"], []),
    "layers": (["--quick", "--budget", "30"], []),
    "applications": (["--quick", "--models", "MobileNetV2,EfficientNetB0", "--samples", "16", "--configs",
                      "cnnkit,keras"], []),
    "augmentation": (["--rounds", "1", "--samples", "256", "--epochs", "2"], []),
}

RATIO_LINE = re.compile(r"^RATIO\s+(\S+)\s+(\S+)\s+(\S+)\s*$")


def parse_ratios(text):
    """[(workload, comparison, value)] from a script's output: its `RATIO workload comparison value` lines.

    Other lines are ignored; a value that is not a number (Python's float syntax, `nan` included) skips the line.

    Example:
        >>> parse_ratios("table...\\nRATIO mnist cnnkit/keras 1.32\\n")
        [('mnist', 'cnnkit/keras', 1.32)]
    """
    rows = []
    for line in text.splitlines():
        match = RATIO_LINE.match(line.strip())
        if match:
            try:
                rows.append((match[1], match[2], float(match[3])))
            except ValueError:
                continue
    return rows


def last_error_line(text):
    """The last non-empty line of a failed script's output (its exception, usually), for the table."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:160] if lines else "(no output)"


def run_one(name, args, timeout, log_dir=None):
    """Run benchmarks/NAME.py with ARGS: (rows, seconds); a failure is one row (name, '-', error, None)."""
    start = time.perf_counter()
    cmd = [sys.executable, os.path.join(HERE, name + ".py"), *args]
    # its own session, so that on a timeout its worker processes are stopped with it (the whole process group)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(HERE), start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        err, code = f"timed out after {timeout:.0f} s", None
    except BaseException:  # Ctrl-C: stop the script's processes too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    seconds = time.perf_counter() - start
    if log_dir:
        with open(os.path.join(log_dir, name + ".log"), "w") as f:
            f.write(f"$ {' '.join(cmd)}\n{out}\n--- stderr ---\n{err}\n")
    rows = parse_ratios(out)
    if code != 0:
        rows.append(("-", "error", f"exit {code}: {last_error_line(err or out)}" if code is not None else err))
    elif not rows:
        rows.append(("-", "error", f"no RATIO lines: {last_error_line(err or out)}"))
    return rows, seconds


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown CPU"
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")),
                "unknown CPU")


def format_table(results):
    """The table: results is [(benchmark, seconds, [(workload, comparison, value or error text)])]."""
    lines = [f"{'benchmark':24} {'workload':24} {'comparison':30} {'ratio':>8}"]
    for name, seconds, rows in results:
        for i, (workload, comparison, value) in enumerate(rows):
            label = f"{name} ({seconds:.0f} s)" if i == 0 else ""
            cell = f"{value:8.2f}" if isinstance(value, float) else f"  {value}"
            lines.append(f"{label:24} {workload:24} {comparison:30} {cell}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small settings (about 10 minutes on 2 cores)")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help="comma-separated subset of: " + ",".join(BENCHMARKS))
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per script before it is stopped and reported as an error "
                             "(default 600 with --quick, 7200 without)")
    parser.add_argument("--log-dir", default=None, help="folder for each script's full output (NAME.log)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
    timeout = args.timeout or (600.0 if args.quick else 7200.0)
    if args.log_dir:
        os.makedirs(args.log_dir, exist_ok=True)
    load_before = os.getloadavg()
    print(f"CPU: {cpu_model()}; {os.cpu_count()} logical CPUs; {'quick' if args.quick else 'default'} settings; "
          f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}", flush=True)
    started = time.perf_counter()
    results = []
    for name in names:
        quick, full = BENCHMARKS[name]
        rows, seconds = run_one(name, quick if args.quick else full, timeout, args.log_dir)
        print(f"{name}: {seconds:.0f} s, {sum(r[1] != 'error' for r in rows)} ratios", flush=True)
        results.append((name, seconds, rows))
    load_after = os.getloadavg()
    print("\n" + format_table(results))
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average after {load_after[0]:.2f} "
          f"{load_after[1]:.2f} {load_after[2]:.2f} (1, 5, 15 min); > 1 means cnnkit (the first named) is faster")
    return 0 if all(r[1] != "error" for _, _, rows in results for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
