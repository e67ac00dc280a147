"""Killed jobs: a process iterating a folder iterator with decoding worker processes, a script running `fit` and
`cnnkit train`, each in a subprocess, get SIGKILL or SIGTERM. No worker may outlive its parent (checked in /proc),
the parent's stdout/stderr pipe must reach EOF (nobody else holds it), the shared-memory segments must go, and
SIGTERM must end `fit` like Ctrl-C: the best checkpoint kept, exit status 143."""

import csv
import os
import select
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import cnnkit
from cnnkit.models import load_model

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; fork workers are Linux's")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(cnnkit.__file__)))
DEADLINE = 10.0  # seconds the workers and the pipe get after the parent ends (about 1 s on a quiet machine)


def _image_folder(root, per_class=6, size=12):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        os.makedirs(os.path.join(root, name))
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
                os.path.join(root, name, f"{i}.png"))
    return str(root)


def _stat(pid):
    """(state, parent pid) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def _descendants(pid):
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _stat(int(name))
            if stat is not None:
                parents.setdefault(stat[1], []).append(int(name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _running(pid):
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def _start(script, *args, cwd=None):
    """Starts `python -c script args` with stdout and stderr on one pipe; returns it once it printed 'ready'."""
    process = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, cwd=cwd, env={**os.environ, "PYTHONPATH": ROOT})
    output = b""
    deadline = time.monotonic() + 120
    while b"ready" not in output:
        ready, _, _ = select.select([process.stdout], [], [], 1)
        chunk = os.read(process.stdout.fileno(), 65536) if ready else b""
        if (ready and not chunk) or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the script did not get ready: {output.decode(errors='replace')}")
        output += chunk
    return process, output


def _end(process, signum):
    """Sends `signum`; returns (exit status, the rest of the output, seconds from the process's exit until its
    pipe reached EOF, or None when it did not within a minute)."""
    start = time.monotonic()
    process.send_signal(signum)
    output, exited = b"", None
    while time.monotonic() - start < 60:
        ready, _, _ = select.select([process.stdout], [], [], 0.05)
        if exited is None and process.poll() is not None:
            exited = time.monotonic()
        if ready:
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                status = process.wait(10)
                return status, output.decode(errors="replace"), time.monotonic() - (exited or time.monotonic())
            output += chunk
    return process.wait(10), output.decode(errors="replace"), None


def _assert_gone(pids):
    deadline = time.monotonic() + DEADLINE
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p in pids if _running(p)]
    for pid in left:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes {left} outlived their parent"


_ITERATE = """
import sys, threading
from cnnkit.preprocessing.image import ImageDataGenerator
made = []
def make():
    made.append(ImageDataGenerator(rotation_range=10).flow_from_directory(
        sys.argv[1], target_size=(12, 12), batch_size=4, workers=2, use_multiprocessing=True))
if sys.argv[2] == "thread":  # workers forked by a thread that has ended: only the parent-pid watch applies
    thread = threading.Thread(target=make); thread.start(); thread.join()
else:
    make()
flow = made[0]
next(flow)
print("ready", flush=True)
while True:
    next(flow)
"""


@pytest.mark.parametrize("signum,forked_by", [(signal.SIGKILL, "main"), (signal.SIGTERM, "thread")],
                         ids=["sigkill", "sigterm-workers-forked-by-a-thread"])
def test_decoding_workers_die_with_their_parent(tmp_path, signum, forked_by):
    folder = _image_folder(tmp_path / "images")
    shm_before = set(os.listdir("/dev/shm"))
    process, _ = _start(_ITERATE, folder, forked_by)
    children = _descendants(process.pid)
    segments = set(os.listdir("/dev/shm")) - shm_before
    assert len(children) >= 2 and segments  # two workers (and multiprocessing's resource tracker); the slots
    status, _, eof_after = _end(process, signum)
    assert status == -signum
    _assert_gone(children)
    assert eof_after is not None and eof_after < DEADLINE  # a supervisor reading the pipe is not left hanging
    deadline = time.monotonic() + DEADLINE
    while segments & set(os.listdir("/dev/shm")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not segments & set(os.listdir("/dev/shm"))


_FIT = """
import os, sys, time
import numpy as np
import cnnkit
folder = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.normal(size=(32, 4)).astype("float32"); y = (x[:, 0] > 0).astype("float32")
model = cnnkit.Sequential([cnnkit.Input((4,)), cnnkit.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="sgd", loss="binary_crossentropy")
class Ready(cnnkit.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 2:
            print("ready", flush=True)
        if epoch >= 2:
            time.sleep(0.05)
callbacks = [cnnkit.callbacks.ModelCheckpoint(os.path.join(folder, "best.keras"), save_best_only=True),
             cnnkit.callbacks.CSVLogger(os.path.join(folder, "history.csv")), Ready()]
try:
    model.fit(x, y, validation_split=0.25, epochs=100000, verbose=0, callbacks=callbacks)
finally:
    print("finally ran", flush=True)
"""


def test_sigterm_stops_fit_like_ctrl_c_and_keeps_the_best_checkpoint(tmp_path):
    process, _ = _start(_FIT, str(tmp_path))
    status, output, eof_after = _end(process, signal.SIGTERM)
    assert status == 143 and eof_after is not None  # SystemExit(143): no traceback, the shell's status for SIGTERM
    assert "finally ran" in output and "Traceback" not in output
    rows = list(csv.DictReader(open(tmp_path / "history.csv")))
    assert len(rows) >= 3
    model = load_model(str(tmp_path / "best.keras"))  # a whole, loadable checkpoint
    assert model.count_params() == 5
    assert sorted(os.listdir(tmp_path)) == ["best.keras", "history.csv"]  # no temporary file left


def test_sigterm_stops_cnnkit_train_keeping_the_best_model(tmp_path):
    folder = _image_folder(tmp_path / "images", per_class=10, size=28)
    out = tmp_path / "run"
    script = ("import sys, threading, os, time\n"
              "from cnnkit import cli\n"
              "def watch():\n"
              "    while not os.path.exists(os.path.join(sys.argv[2], 'model.keras')): time.sleep(0.02)\n"
              "    print('ready', flush=True)\n"
              "threading.Thread(target=watch, daemon=True).start()\n"
              "sys.exit(cli.main(['train', sys.argv[1], '--epochs', '1000', '--out', sys.argv[2], '--verbose', '0',"
              " '--batch-size', '4', '--augment', 'rotate']))\n")
    process, _ = _start(script, folder, str(out))
    children = _descendants(process.pid)
    status, output, eof_after = _end(process, signal.SIGTERM)
    assert status == 143, output
    assert f"Interrupted: the best model so far is in {out / 'model.keras'}" in output
    _assert_gone(children)
    assert eof_after is not None and eof_after < DEADLINE
    assert load_model(str(out / "model.keras")).output_shape == (None, 2)
    assert sorted(os.listdir(out)) == ["history.csv", "labels.json", "model.keras", "report.html"]  # report too


def _sigterm_self():
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(2)
    return "survived"


def test_a_worker_forked_inside_fit_dies_of_sigterm_instead_of_interrupting_the_parent():
    """fit turns SIGTERM into an interrupt; a decoding worker forked while fit runs must not inherit that (it would
    send the interrupt back to the parent as its task's result)."""
    import concurrent.futures  # noqa: PLC0415
    import multiprocessing  # noqa: PLC0415

    from cnnkit.data import workers  # noqa: PLC0415
    from cnnkit.training.interrupts import sigterm_as_interrupt  # noqa: PLC0415

    with sigterm_as_interrupt():
        pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"),
                                                      initializer=workers._worker_init, initargs=(os.getpid(),))
        try:
            with pytest.raises(concurrent.futures.process.BrokenProcessPool):  # the worker died, the parent lives
                pool.submit(_sigterm_self).result(timeout=60)
        finally:
            pool.shutdown()


_PARENT = """
import sys
from cnnkit.training.interrupts import run_forwarding_stops
child = ("import signal, sys, time\\n"
         "def stop(signum, frame):\\n"
         "    print('child got', signum, flush=True)\\n"
         "    time.sleep(float(sys.argv[1]))\\n"  # saving
         "    print('child saved', flush=True)\\n"
         "    sys.exit(0)\\n"
         "signal.signal(signal.SIGINT, stop)\\n"
         "signal.signal(signal.SIGTERM, stop)\\n"
         "print('child ready', flush=True)\\n"
         "time.sleep(60)\\n")
status = run_forwarding_stops([sys.executable, "-c", child, sys.argv[1]], notice="parent: stopping")
print("parent status", status, flush=True)
"""


def _start_parent(save_seconds):
    proc = subprocess.Popen([sys.executable, "-c", _PARENT, str(save_seconds)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.stdout.readline().strip() == "child ready"
    return proc


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_run_forwarding_stops_passes_one_stop_on_and_waits_for_the_child(signum):
    """A stop sent to the whole group (as a terminal's Ctrl-C): the child, in its own session, gets it once, from the
    parent, and the parent returns 128 + the signal only after the child has finished saving."""
    proc = _start_parent(save_seconds=1.0)
    os.killpg(proc.pid, signum)
    out = proc.communicate(timeout=30)[0].splitlines()
    assert out == ["parent: stopping", f"child got {int(signum)}", "child saved", f"parent status {128 + signum}"]


def test_run_forwarding_stops_second_stop_kills_the_child_at_once():
    proc = _start_parent(save_seconds=60.0)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.stdout.readline().strip() == "parent: stopping"
    assert proc.stdout.readline().strip() == "child got 2"
    start = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out = proc.communicate(timeout=30)[0].splitlines()
    assert out == ["parent status 130"] and time.monotonic() - start < 10
