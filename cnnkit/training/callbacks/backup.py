"""BackupAndRestore: a killed run resumes from the last finished epoch, with its weights, optimizer state and the
random state that makes the following epochs, so it ends where the uninterrupted run ends."""

import contextlib
import os
import shutil

import h5py

from cnnkit.training import distributed
from cnnkit.training.callbacks import random_state
from cnnkit.training.callbacks.callback import Callback
from cnnkit.training.callbacks.callback import check_save_freq


def _unreadable(path, err):
    return ValueError(f"BackupAndRestore: the backup file {path!r} cannot be read ({type(err).__name__}: {err}). "
                      "Delete it to train from the start.")


class BackupAndRestore(Callback):
    """Saves weights, optimizer state, the epoch and the random state to `backup_dir` after each epoch (or every
    `save_freq` batches); when `fit` starts again with the same callback and a backup exists, it restores them and
    continues from the next epoch.

    A run resumed from an end-of-epoch backup ends exactly where the uninterrupted run would have (same weights to
    the bit on the same machine), also with `shuffle=True`, dropout and augmentation: the backup holds torch's,
    numpy's and Python's global random generators and the epoch and seed of cnnkit's image iterators passed to
    `fit`. A backup made mid-epoch (`save_freq` a number) restarts that epoch, as Keras does, with the sample order
    the epoch had. The backup is `backup_dir/backup.h5` (and `backup.h5.bkp` with `double_checkpoint`); at the end
    of a finished run (`delete_checkpoint=True`) only those files are removed, and `backup_dir` itself only when
    this callback created it and it is empty (Keras deletes the whole folder).

    Args:
        backup_dir: folder for the backup (created when needed).
        save_freq: 'epoch' or a number of batches.
        double_checkpoint: also keep the previous backup, used when the latest cannot be read.
        delete_checkpoint: remove the backup when training finishes normally (default True).

    Under torchrun every process restores from the backup and process 0 alone writes (and deletes) it.

    Example:
        >>> backup = BackupAndRestore("runs/backup")
        >>> model.fit(x, y, epochs=10, callbacks=[backup])  # killed at epoch 4; run it again: epochs 5-10 follow
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError(f"BackupAndRestore: backup_dir is required. Received: backup_dir={backup_dir!r}")
        self.save_freq = check_save_freq("BackupAndRestore", save_freq)
        self.backup_dir, self.delete_checkpoint = os.fspath(backup_dir), delete_checkpoint
        self.double_checkpoint = double_checkpoint
        self.path = os.path.join(self.backup_dir, "backup.h5")
        self.previous_path = self.path + ".bkp"
        self._epoch, self._batches = 0, 0
        self._epoch_start_state = None  # the random state at the start of the epoch (for mid-epoch backups)
        self._created_dir = None  # whether backup_dir was made by this callback (kept in the backup)

    def on_train_begin(self, logs=None):
        self._batches = 0
        if not os.path.exists(self.path):
            return
        try:
            self._load(self.path)
        except (OSError, KeyError, ValueError) as err:
            if not os.path.exists(self.previous_path):
                raise _unreadable(self.path, err) from None
            try:
                self._load(self.previous_path)  # the latest backup is unreadable: use the one before
            except (OSError, KeyError, ValueError) as previous_err:
                raise _unreadable(self.previous_path, previous_err) from None

    def _load(self, path):
        from cnnkit.models import saving  # noqa: PLC0415 (callbacks sit below models)
        with h5py.File(path, "r") as f:
            saving.read_keras3(f["model"], self.model, path)
            saving.read_optimizer(f, self.model)
            epoch, finished = int(f.attrs["epoch"]), bool(f.attrs["epoch_finished"])
            if self._created_dir is None and "created_dir" in f.attrs:
                self._created_dir = bool(f.attrs["created_dir"])
            if "random_state" in f:  # older backups have none
                random_state.restore(f["random_state"], self._data_sources(), path)
        self.model._resume_epoch = epoch + 1 if finished else epoch

    def _data_sources(self):
        """fit's x and validation_data (weak references kept by fit), for their epoch state."""
        return [None if ref is None else ref() for ref in getattr(self.model, "_fit_inputs", ()) or ()]

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self.save_freq != "epoch":
            self._epoch_start_state = random_state.capture(self._data_sources())

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches += 1
            if self._batches % self.save_freq == 0:
                self._save(self._epoch, finished=False)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, finished=True)

    def _save(self, epoch, finished):
        if not distributed.is_chief():
            return
        from cnnkit.models import saving  # noqa: PLC0415
        from cnnkit.utils.io import atomic_path  # noqa: PLC0415
        if self._created_dir is None:
            self._created_dir = not os.path.isdir(self.backup_dir)
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self.path):
            with atomic_path(self.previous_path) as tmp:
                shutil.copyfile(self.path, tmp)
        # a finished epoch continues with the state of now; a mid-epoch backup restarts its epoch
        state = random_state.capture(self._data_sources()) if finished else self._epoch_start_state
        with atomic_path(self.path) as tmp, h5py.File(tmp, "w") as f:
            saving.write_keras3(f.create_group("model"), self.model)
            saving.write_optimizer(f, self.model)
            f.attrs["epoch"] = epoch
            f.attrs["epoch_finished"] = finished
            f.attrs["created_dir"] = self._created_dir
            if state is not None:
                random_state.write(f.create_group("random_state"), state)

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint or not distributed.is_chief():
            return
        from cnnkit.utils.io import remove_stale_temporaries  # noqa: PLC0415
        for path in (self.path, self.previous_path):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            remove_stale_temporaries(path)
        if self._created_dir:
            with contextlib.suppress(OSError):  # not empty (the user's files, another writer's): kept
                os.rmdir(self.backup_dir)
        self._created_dir = None
