"""BackupAndRestore: a killed run resumes from the last finished epoch, with its weights and optimizer state."""

import os
import shutil

import h5py

from cnnkit.training import distributed
from cnnkit.training.callbacks.callback import Callback
from cnnkit.training.callbacks.callback import check_save_freq


def _unreadable(path, err):
    return ValueError(f"BackupAndRestore: the backup file {path!r} cannot be read ({type(err).__name__}: {err}). "
                      "Delete it to train from the start.")


class BackupAndRestore(Callback):
    """Saves weights, optimizer state and the epoch to `backup_dir` after each epoch (or every `save_freq` batches);
    when `fit` starts again with the same callback and a backup exists, it restores them and continues from the
    next epoch.

    Args:
        backup_dir: folder for the backup (created when needed).
        save_freq: 'epoch' or a number of batches.
        double_checkpoint: also keep the previous backup, used when the latest cannot be read.
        delete_checkpoint: remove the backup when training finishes normally (default True).

    Under torchrun every process restores from the backup and process 0 alone writes (and deletes) it.
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir is required.")
        self.save_freq = check_save_freq("BackupAndRestore", save_freq)
        self.backup_dir, self.delete_checkpoint = os.fspath(backup_dir), delete_checkpoint
        self.double_checkpoint = double_checkpoint
        self.path = os.path.join(self.backup_dir, "backup.h5")
        self.previous_path = self.path + ".bkp"
        self._epoch, self._batches = 0, 0

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
        self.model._resume_epoch = epoch + 1 if finished else epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

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
        if self.double_checkpoint and os.path.exists(self.path):
            shutil.copyfile(self.path, self.previous_path)
        with atomic_path(self.path) as tmp, h5py.File(tmp, "w") as f:
            saving.write_keras3(f.create_group("model"), self.model)
            saving.write_optimizer(f, self.model)
            f.attrs["epoch"] = epoch
            f.attrs["epoch_finished"] = finished

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and distributed.is_chief() and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir, ignore_errors=True)
