"""Callback base class (Keras's hooks), CallbackList, History, LambdaCallback, TerminateOnNaN.

Batch-level `logs` are lazy: reading them computes the running metric values (a device sync); callbacks that
never read them cost nothing per step.
"""

import collections.abc
import math

from cnnkit.registry import did_you_mean


class LazyLogs(collections.abc.MutableMapping):
    """A dict of logs computed on first access by `compute()` (callbacks may add keys, as with Keras's dicts)."""

    def __init__(self, compute):
        self._compute, self._values = compute, None

    def _get(self):
        if self._values is None:
            self._values = self._compute()
        return self._values

    def __getitem__(self, key):
        return self._get()[key]

    def __setitem__(self, key, value):
        self._get()[key] = value

    def __delitem__(self, key):
        del self._get()[key]

    def __iter__(self):
        return iter(self._get())

    def __len__(self):
        return len(self._get())


def check_save_freq(owner, save_freq):
    """Returns `save_freq` if it is 'epoch' or a positive int (a number of batches), else raises ValueError."""
    if save_freq != "epoch" and (not isinstance(save_freq, int) or isinstance(save_freq, bool) or save_freq < 1):
        raise ValueError(f"{owner}: save_freq must be 'epoch' or a positive int. Received: save_freq={save_freq!r}")
    return save_freq


class Callback:
    """Base class: override any of the `on_*` hooks. `self.model` and `self.params` are set by `fit`.

    Attributes:
        chief_only: class attribute; True for a callback that prints or writes files (ModelCheckpoint, CSVLogger,
            TensorBoard, ...): under distributed training (`torchrun`) it runs on process 0 only. False (the
            default): it runs on every process, which all see the same epoch logs.

    Example:
        >>> class SaveSamples(cnnkit.callbacks.Callback):
        ...     chief_only = True   # one copy of the files, written by process 0
        ...     def on_epoch_end(self, epoch, logs=None):
        ...         np.save(f'samples_{epoch}.npy', self.model.predict(x[:8], verbose=0))
    """

    chief_only = False

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        """Keras's older name for `on_train_batch_begin` (which calls it unless overridden)."""

    def on_batch_end(self, batch, logs=None):
        """Keras's older name for `on_train_batch_end` (which calls it unless overridden)."""

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


class CallbackList(Callback):
    """Calls each hook on every callback in order."""

    def __init__(self, callbacks=None, model=None, params=None):
        super().__init__()
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be cnnkit Callback instances. Received: {cb!r}")
        if model is not None:
            self.set_model(model)
        if params is not None:
            self.set_params(params)

    def set_model(self, model):
        self.model = model
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params):
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    def _call(self, hook, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs)


class History(Callback):
    """Records the epoch logs: `history.history['loss']`, `['val_accuracy']`, ...; `history.epoch` lists epochs."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self

    def _last(self):
        return ", ".join(f"{key} {values[-1]:.4f}" for key, values in sorted(self.history.items()) if values)

    def __repr__(self):
        epochs = len(self.epoch)
        last = f"; last epoch: {self._last()}" if epochs else ""
        return f"<History: {epochs} epoch{'s' * (epochs != 1)}{last}>"

    def _repr_html_(self):
        """A notebook shows the last epoch's metrics (and the number of epochs)."""
        if not self.epoch:
            return "<p>History: no epochs yet</p>"
        cells = "".join(f"<tr><td>{key}</td><td style='text-align:right'>{values[-1]:.4f}</td>"
                        f"<td style='text-align:right'>{min(values):.4f} .. {max(values):.4f}</td></tr>"
                        for key, values in sorted(self.history.items()) if values)
        return (f"<div><b>History: {len(self.epoch)} epochs</b><table><thead><tr><th>metric</th><th>last</th>"
                f"<th>range</th></tr></thead><tbody>{cells}</tbody></table></div>")

    def plot(self, metrics=None, path=None):
        """Learning curves: each metric with its val_ twin (needs matplotlib)."""
        from cnnkit.visualization.history import plot_history  # noqa: PLC0415 (matplotlib: optional, imported late)
        return plot_history(self, metrics=metrics, path=path)


class LambdaCallback(Callback):
    """A callback from functions: on_epoch_begin(epoch, logs), on_epoch_end(epoch, logs), on_train_begin(logs),
    on_train_end(logs), on_train_batch_begin(batch, logs), on_train_batch_end(batch, logs), and, as keywords, any
    other hook (on_batch_end, on_test_begin, ...)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        hooks = [name for name in dir(Callback) if name.startswith("on_")]
        for hook, fn in given.items():
            if hook not in hooks:
                raise TypeError(f"LambdaCallback got an unknown hook '{hook}'.{did_you_mean(hook, hooks)}")
            if fn is not None:
                setattr(self, hook, fn)


class TerminateOnNaN(Callback):
    """Stops training when the loss becomes NaN or infinite (checked after each batch, as in Keras).

    Args:
        raise_error: raise a RuntimeError at once instead of stopping gracefully (the other callbacks'
            `on_train_end` then does not run, so e.g. a BackupAndRestore backup is kept).
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                                   "Terminating training immediately.")
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
