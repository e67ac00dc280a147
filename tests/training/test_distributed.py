"""Distributed data parallel training: 2 processes (torchrun, gloo on CPU) against 1 process with the same global
batch and seed. The oracle is cnnkit's own single-process `fit`, whose numbers other tests check against Keras:
the same final weights (within float tolerance), the same logs on every process, one set of files."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cnnkit.data import write_image_folder
from cnnkit.preprocessing.image import ImageDataGenerator
from cnnkit.training import distributed

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import distributed_job  # noqa: E402


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def _torchrun(args, cwd):
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           *args], capture_output=True, text=True, env=_env(), cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """21 random 8x8 grayscale PNGs in 3 class folders."""
    rng = np.random.default_rng(5)
    root = str(tmp_path_factory.mktemp("images") / "data")
    write_image_folder(rng.integers(0, 256, (21, 8, 8, 1)).astype("uint8"), np.arange(21) % 3, root)
    return root


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory, image_dir):
    out = str(tmp_path_factory.mktemp("ddp"))
    proc = _torchrun([os.path.join(HERE, "distributed_job.py"), out, image_dir], cwd=out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout


@pytest.mark.parametrize("kind", ["arrays", "directory"])
def test_two_processes_train_as_one(kind, two_processes, image_dir, tmp_path):
    out, stdout = two_processes
    folder = os.path.join(out, kind)
    ranks = [np.load(os.path.join(folder, f"rank{r}.npz")) for r in (0, 1)]
    logs = [json.load(open(os.path.join(folder, f"rank{r}.json"))) for r in (0, 1)]
    weights, single_logs = distributed_job.run(kind, str(tmp_path), image_dir)  # one process, seed 0

    for i, expected in enumerate(weights):
        np.testing.assert_allclose(ranks[0][f"arr_{i}"], expected, rtol=0, atol=1e-5)
        np.testing.assert_array_equal(ranks[1][f"arr_{i}"], ranks[0][f"arr_{i}"])
    assert logs[0] == logs[1]  # identical on both processes (so callbacks decide the same everywhere)
    assert logs[0].keys() == single_logs.keys()
    for key, values in single_logs.items():
        np.testing.assert_allclose(logs[0][key], values, rtol=1e-5, err_msg=key)

    # one checkpoint and one log, written by process 0, and no temporary files left; a user callback with
    # chief_only = True ran on process 0 only, an ordinary one on both
    files = ["best.weights.h5", "log.csv", "rank0.json", "rank0.npz", "rank1.json", "rank1.npz"]
    if kind == "arrays":
        files += ["chief_0.txt", "every_0.txt", "every_1.txt"] + (["tb"] if os.path.isdir(os.path.join(folder, "tb"))
                                                                   else [])
    assert sorted(os.listdir(folder)) == sorted(files)
    rows = list(csv.DictReader(open(os.path.join(folder, "log.csv"))))
    assert [float(r["val_loss"]) for r in rows] == pytest.approx(logs[0]["val_loss"], rel=1e-12)
    epochs = len(logs[0]["loss"])
    assert stdout.count(f"Epoch 1/{epochs}") == 1  # only process 0 prints progress


def test_directory_iterator_parts_are_slices_of_the_batch(image_dir):
    """A sharded iterator yields exactly its part of each batch of the unsharded one, augmentations included;
    a part with no sample holds the batch's first sample."""
    def flow(**kw):
        gen = ImageDataGenerator(rescale=1 / 255, horizontal_flip=True, rotation_range=30, noise_std=5.0)
        return gen.flow_from_directory(image_dir, target_size=(8, 8), color_mode="grayscale", class_mode="sparse",
                                       batch_size=5, seed=7, workers=1, **kw)
    whole, parts = flow(), [flow(), flow()]
    for r, part in enumerate(parts):
        part.set_shard(r, 2)
    for i in range(len(whole)):
        x, y = whole[i]
        (x0, y0), (x1, y1) = parts[0][i], parts[1][i]
        if len(x) == 1:  # the last batch: process 1 has no sample of its own
            np.testing.assert_allclose(x1, x, atol=1e-5)
            x1, y1 = x1[:0], y1[:0]
        np.testing.assert_allclose(np.concatenate([x0, x1]), x, atol=1e-5)
        np.testing.assert_array_equal(np.concatenate([y0, y1]), y)
        assert len(x0) == (len(x) + 1) // 2


def test_array_iterator_parts_are_slices_of_the_batch(rng):
    x = rng.random((7, 6, 6, 3)).astype("float32") * 255
    gen = ImageDataGenerator(rotation_range=40, zoom_range=0.2, channel_shift_range=10)
    whole = gen.flow(x, np.arange(7), batch_size=3, seed=1)
    parts = [gen.flow(x, np.arange(7), batch_size=3, seed=1) for _ in range(2)]
    for r, part in enumerate(parts):
        part.set_shard(r, 2)
    for i in range(2):  # batches of 3: parts of 2 and 1
        np.testing.assert_allclose(np.concatenate([parts[0][i][0], parts[1][i][0]]), whole[i][0], atol=1e-4)


def test_set_shard_checks_its_arguments(rng):
    flow = ImageDataGenerator().flow(rng.random((4, 2, 2, 1)), batch_size=2)
    with pytest.raises(ValueError, match="rank must be below world_size. Received: rank=2, world_size=2"):
        flow.set_shard(2, 2)
    with pytest.raises(ValueError, match="rank must be a non-negative int"):
        flow.set_shard(-1, 2)


def test_environment_errors_are_clear(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE must be an int .* Received: WORLD_SIZE='two'"):
        distributed.init()
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="RANK, MASTER_ADDR, MASTER_PORT not set: start the script with torchrun"):
        distributed.init()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.init() is False and distributed.is_chief()


def test_cli_train_nproc_2(image_dir, tmp_path):
    out = str(tmp_path / "run")
    proc = subprocess.run([sys.executable, "-m", "cnnkit.cli", "train", image_dir, "--nproc", "2", "--epochs", "2",
                           "--img-size", "28", "--batch-size", "5", "--out", out, "--verbose", "2"],
                          capture_output=True, text=True, env=_env(), cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(os.listdir(out)) == ["history.csv", "labels.json", "model.keras", "report.html"]
    assert proc.stdout.count("Epoch 1/2") == 1 and proc.stdout.count("best validation accuracy") == 1
    assert len(list(csv.DictReader(open(os.path.join(out, "history.csv"))))) == 2


def _processes_mentioning(text):
    """pids of the running processes whose command line contains `text`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


_SAVING_WORKER = """
import os, signal, sys, time
def stop(signum, frame):
    time.sleep(1.0)  # saving
    open(os.path.join(sys.argv[1], "saved" + os.environ["RANK"]), "w").close()
    print("worker", os.environ["RANK"], "saved", flush=True)
    sys.exit(130)
signal.signal(signal.SIGINT, stop)
open(os.path.join(sys.argv[1], "ready" + os.environ["RANK"]), "w").close()
time.sleep(120)
"""

_PARENT = """
import sys
from cnnkit.training.interrupts import run_forwarding_stops
status = run_forwarding_stops([sys.executable, "-m", "cnnkit.training.launcher", "--standalone",
                               "--nproc_per_node=2", sys.argv[1], sys.argv[2]], notice="parent: stopping")
print("parent status", status, flush=True)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_reaches_every_worker_once_and_returns_after_they_saved(tmp_path):
    """What `cnnkit train --nproc 2` runs (`launch`: `run_forwarding_stops` around `cnnkit.training.launcher`), with
    workers that take a second to save when SIGINT reaches them: Ctrl-C in a terminal (SIGINT to the foreground
    process group) makes the command return 130 only once both have saved, with no traceback and no process of the
    run left (before, the launcher was SIGKILLed a quarter of a second after Ctrl-C and the workers, in sessions of
    their own, went on after the prompt came back). That each `cnnkit train` process saves the best model and the
    report on SIGINT is tested in tests/test_cli_train.py."""
    worker = tmp_path / "worker.py"
    worker.write_text(_SAVING_WORKER)
    proc = subprocess.Popen([sys.executable, "-c", _PARENT, str(worker), str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env(), cwd=str(tmp_path),
                            start_new_session=True)  # its own group: the test's "terminal"
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready{rank}").exists() for rank in (0, 1)):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0][-3000:]
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0 and output.rstrip().endswith("parent status 130"), output[-3000:]
    assert "parent: stopping" in output and "Traceback" not in output, output[-3000:]
    assert all((tmp_path / f"saved{rank}").exists() for rank in (0, 1))
    assert output.count("saved") == 2
    assert _processes_mentioning(str(worker)) == []


def test_launcher_ends_a_worker_error_with_its_status_and_one_line(tmp_path):
    """`cnnkit.training.launcher` (what `cnnkit train --nproc` runs): a worker that exits with status 2 after its own
    message gives status 2 and one line naming the process, not torch's ChildFailedError traceback."""
    script = tmp_path / "fail.py"
    script.write_text("import sys\nprint('worker: error: the images are too small', file=sys.stderr)\nsys.exit(2)\n")
    proc = subprocess.run([sys.executable, "-m", "cnnkit.training.launcher", "--standalone", "--nproc_per_node=2",
                           str(script)], capture_output=True, text=True, env=_env(), cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "worker: error: the images are too small" in proc.stderr and "Traceback" not in proc.stderr
    assert re.search(r"cnnkit: training process [01] exited with status 2", proc.stderr)


def test_cli_train_nproc_checks_the_folder_first(tmp_path, capsys):
    from cnnkit import cli  # noqa: PLC0415
    assert cli.main(["train", str(tmp_path / "missing"), "--nproc", "2"]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_tensorboard_two_processes_one_set_of_files(two_processes):
    """TensorBoard under torchrun: process 0 alone writes, one event file per run, holding the logs every process
    ended with (summed over both processes' parts)."""
    pytest.importorskip("tensorboard")
    from test_tensorboard import read_logs  # noqa: PLC0415
    out, _ = two_processes
    folder = os.path.join(out, "arrays")
    logs = json.load(open(os.path.join(folder, "rank0.json")))
    board = os.path.join(folder, "tb")
    assert sorted(os.listdir(board)) == ["train", "validation"]
    for run in ("train", "validation"):
        assert len(os.listdir(os.path.join(board, run))) == 1, run
    found = read_logs(board)
    for name, values in logs.items():
        if name == "evaluate":
            continue
        run, tag = ("validation", f"epoch_{name[4:]}") if name.startswith("val_") else ("train", f"epoch_{name}")
        assert found[run][tag] == [(epoch, pytest.approx(v, rel=1e-6)) for epoch, v in enumerate(values)], tag
    assert [s for s, _ in found["train"]["batch_loss"]] == list(range(2, 16, 2))  # 5 batches an epoch, 3 epochs
    assert "sequential/conv2d/kernel/histogram" in found["train"]


def test_strategy_filters_chief_only_callbacks(monkeypatch, tmp_path):
    """On a process other than 0 the strategy drops the callbacks that declare chief_only (cnnkit's writers and
    printers, a user's own) and silences the others; on process 0 it keeps them all. One process: SingleProcess."""
    from cnnkit import callbacks  # noqa: PLC0415
    from cnnkit.training import strategies  # noqa: PLC0415

    class Samples(callbacks.Callback):
        chief_only = True

    assert isinstance(strategies.for_environment(), strategies.SingleProcess)
    given = [callbacks.ModelCheckpoint(str(tmp_path / "m.keras")), callbacks.CSVLogger(str(tmp_path / "log.csv")),
             callbacks.TensorBoard.__new__(callbacks.TensorBoard),  # not built: torch's writer imports TensorFlow
             callbacks.ProgbarLogger(), Samples(),
             callbacks.EarlyStopping(verbose=1), callbacks.History(), callbacks.BackupAndRestore(str(tmp_path))]
    for rank in (0, 1):
        monkeypatch.setattr(strategies.dist, "get_world_size", lambda: 2)
        monkeypatch.setattr(strategies.dist, "get_rank", lambda rank=rank: rank)
        kept, verbose = strategies.DataParallel().callbacks(list(given), 2)
        if rank == 0:
            assert kept == given and verbose == 2
        else:
            assert kept == given[5:] and verbose == 0 and given[5].verbose == 0


def test_backup_written_by_the_chief_only(monkeypatch, rng, tmp_path):
    """BackupAndRestore runs on every process (each restores) but only process 0 writes the backup."""
    from cnnkit import callbacks  # noqa: PLC0415
    from cnnkit.training import distributed as process  # noqa: PLC0415

    model = distributed_job.model_for((8, 8, 1))
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = rng.random((4, 8, 8, 1), dtype=np.float32), np.arange(4) % 3
    monkeypatch.setattr(process, "is_chief", lambda: False)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.BackupAndRestore(str(tmp_path / "b"),
                                                                               delete_checkpoint=False)])
    assert not (tmp_path / "b").exists() and "_strategy" not in model.__dict__
    monkeypatch.setattr(process, "is_chief", lambda: True)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.BackupAndRestore(str(tmp_path / "b"),
                                                                               delete_checkpoint=False)])
    assert os.listdir(tmp_path / "b") == ["backup.h5"]


def test_predict_joins_no_process_group(monkeypatch, capsys):
    """predict under torchrun is per process (maybe called on process 0 alone): it must not wait for the others."""
    from cnnkit.training import strategies  # noqa: PLC0415
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    strategy = strategies.for_environment(collective=False)
    assert isinstance(strategy, strategies.PerProcess) and not strategy.is_chief
    model = distributed_job.model_for((8, 8, 1))
    assert model.predict(np.zeros((2, 8, 8, 1), "float32"), verbose=1).shape == (2, 3)  # no hang
    captured = capsys.readouterr()
    assert "1/1" not in captured.out + captured.err  # the progress bar is process 0's
