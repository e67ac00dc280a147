"""Interrupted runs: BackupAndRestore resumes exactly (shuffle, dropout, augmentation) and removes only its own
files; temporary files of killed atomic writes are cleaned up by the next save to the same place. The oracle of a
resumed run is the same run uninterrupted."""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

import cnnkit
from cnnkit.preprocessing.image import ImageDataGenerator
from cnnkit.utils import io

class _Crash(Exception):
    pass


def _run(backup=None, crash_at=None, seed=0, iterator=False, epochs=4):
    """A new model (from fixed initial weights; `seed` sets the global generators before it is built, as a new
    process would) trained with shuffle=True, dropout and Adam, on arrays or an augmenting image iterator."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 5, 5, 1)).astype(np.float32)
    y = rng.integers(0, 2, 20)
    cnnkit.utils.set_random_seed(seed)
    model = cnnkit.Sequential([cnnkit.Input((5, 5, 1)), cnnkit.layers.Flatten(), cnnkit.layers.Dropout(0.3),
                               cnnkit.layers.Dense(2, activation="softmax")])
    init = np.random.default_rng(1)
    model.set_weights([init.normal(size=w.shape).astype(np.float32) * 0.3 for w in model.get_weights()])
    model.compile(optimizer=cnnkit.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    seen = []

    def on_epoch_begin(epoch, logs):
        seen.append(epoch)
        if epoch == crash_at:
            raise _Crash()

    callbacks = [cnnkit.callbacks.LambdaCallback(on_epoch_begin=on_epoch_begin)] + ([backup] if backup else [])
    if iterator:  # seed=None: the iterator draws its seed from numpy's global generator, different in a new run
        flow = ImageDataGenerator(rotation_range=30, width_shift_range=0.2).flow(x, y, batch_size=6, shuffle=True)
        model.fit(flow, epochs=epochs, verbose=0, callbacks=callbacks)
    else:
        model.fit(x, y, batch_size=6, shuffle=True, epochs=epochs, verbose=0, callbacks=callbacks)
    return model.get_weights(), seen


@pytest.mark.parametrize("iterator", [False, True], ids=["arrays", "image-iterator"])
def test_resumed_run_ends_exactly_where_the_uninterrupted_run_ends(tmp_path, iterator):
    reference, _ = _run(iterator=iterator)
    backup = cnnkit.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(_Crash):
        _run(backup, crash_at=2, iterator=iterator)
    weights, seen = _run(cnnkit.callbacks.BackupAndRestore(str(tmp_path / "backup")), seed=7, iterator=iterator)
    assert seen == [2, 3]
    for a, b in zip(weights, reference):
        np.testing.assert_array_equal(a, b)
    assert not (tmp_path / "backup").exists()  # made by the callback, removed at the end


def test_backup_keeps_the_users_files_and_folder(tmp_path):
    folder = tmp_path / "project"
    (folder / "data").mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    (folder / "backup.h5.bkp.old").write_text("mine too")
    backup = cnnkit.callbacks.BackupAndRestore(str(folder), double_checkpoint=True)
    with pytest.raises(_Crash):
        _run(backup, crash_at=2)
    assert {"backup.h5", "backup.h5.bkp"} <= set(os.listdir(folder))
    _run(cnnkit.callbacks.BackupAndRestore(str(folder), double_checkpoint=True), seed=3)
    assert sorted(os.listdir(folder)) == ["backup.h5.bkp.old", "data", "notes.txt"]
    assert (folder / "notes.txt").read_text() == "mine"


def test_unreadable_backup_falls_back_to_the_previous_one(tmp_path):
    """double_checkpoint as in Keras: when the latest backup cannot be read, the one before it is used."""
    folder = tmp_path / "backup"
    backup = cnnkit.callbacks.BackupAndRestore(str(folder), double_checkpoint=True, delete_checkpoint=False)
    with pytest.raises(_Crash):
        _run(backup, crash_at=3)
    (folder / "backup.h5").write_bytes(b"truncated")
    _, seen = _run(cnnkit.callbacks.BackupAndRestore(str(folder), double_checkpoint=True))
    assert seen == [2, 3]  # the previous backup is the end of epoch 1 (0-based)


def test_backup_with_a_damaged_random_state_names_the_file(tmp_path):
    folder = tmp_path / "backup"
    with pytest.raises(_Crash):
        _run(cnnkit.callbacks.BackupAndRestore(str(folder)), crash_at=1)
    with h5py.File(folder / "backup.h5", "a") as f:
        del f["random_state/torch"]
        f["random_state/torch"] = np.zeros(3, np.uint8)
    with pytest.raises(ValueError, match="backup.h5.*random_state/torch"):
        _run(cnnkit.callbacks.BackupAndRestore(str(folder)))


# ---- temporary files of killed atomic writes ------------------------------------------------------------------

_WRITER = """
import importlib.util, os, sys, time
spec = importlib.util.spec_from_file_location("io_module", sys.argv[2])  # cnnkit/utils/io.py alone: a fast start
io_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(io_module)
with io_module.atomic_path(sys.argv[1]) as tmp:
    with open(tmp, "wb") as f:
        f.write(b"half a checkpoint")
    print(os.path.basename(tmp), flush=True)
    time.sleep(60)
"""


def _start_writer(target):
    """A process in the middle of an atomic write of `target`; returns it and its temporary file's name."""
    process = subprocess.Popen([sys.executable, "-c", _WRITER, str(target), io.__file__], stdout=subprocess.PIPE,
                               text=True)
    return process, process.stdout.readline().strip()


def test_next_save_removes_temporaries_of_killed_writers_only(tmp_path):
    target = tmp_path / "model.weights.h5"
    killed, killed_tmp = _start_writer(target)
    live, live_tmp = _start_writer(target)
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        old = tmp_path / ".model.weights.h5.0123abcd.tmp"  # an older cnnkit's name (no writer): by age
        old.write_bytes(b"x")
        os.utime(old, (time.time() - io.STALE_AFTER - 60,) * 2)
        recent = tmp_path / ".model.weights.h5.4567cdef.tmp"
        recent.write_bytes(b"x")
        other = tmp_path / ".other.h5.89abcdef.tmp"  # another target's: never touched
        other.write_bytes(b"x")
        os.utime(other, (0, 0))
        assert {killed_tmp, live_tmp} <= set(os.listdir(tmp_path))
        model = cnnkit.Sequential([cnnkit.Input((2,)), cnnkit.layers.Dense(1)])
        model.save_weights(str(target))
        left = set(os.listdir(tmp_path))
        assert killed_tmp not in left and old.name not in left
        assert {live_tmp, recent.name, other.name, target.name} <= left  # a running writer's file stays
    finally:
        live.kill()
        live.wait(10)
