"""ProgbarLogger: Keras's progress display, drawn with tqdm.

verbose=1: a bar per epoch (and per evaluate / predict call) with the step count, the time left (ETA) and time per
step, and the running metrics (read at most a few times a second, so the display costs no per-step device syncs).
While an epoch runs the bar is fitted to the terminal's width; when it ends, the bar is replaced by the whole final
line (`3/3 ━━━━━━━━━━━━━━━━━━━━ 1s 12ms/step - accuracy: 0.5000 - loss: 0.6931 - val_accuracy: ...`), which
wraps rather than being cut, as Keras prints it (also in a terminal that reports 0 columns).
verbose=2: one line per epoch, as Keras: `3/3 - 0s - 12ms/step - accuracy: 0.5000 - loss: 0.6931`.
As in Keras, 'Epoch i/n' lines are printed only when there is more than one epoch, and validation inside `fit` is
silent; when the number of steps is unknown (data of unknown length), the first epoch shows `12/Unknown` and the
count seen by its end is the total of the later ones.
"""

import shutil
import sys
import time

import numpy as np
from tqdm.std import tqdm  # text bar (also live in Jupyter, which renders '\r'); no ipywidgets needed

from cnnkit.training.callbacks.callback import Callback

REFRESH_SECONDS = 0.25
KNOWN_FORMAT = "{n_fmt}/{total_fmt} {bar:20}{keras}"
UNKNOWN_FORMAT = "{n:7d}/Unknown{keras}"  # Keras's `%7d/Unknown`
BAR_WIDTH = 20


class _Bar(tqdm):
    """tqdm's bar with Keras's text after it (tqdm's own postfix would add ', ')."""

    text = ""

    @property
    def format_dict(self):
        values = super().format_dict
        values["keras"] = self.text
        return values


def terminal_columns():
    """The terminal's width, or 80 when it reports none (0 columns in some pseudo-terminals and CI runners)."""
    return shutil.get_terminal_size(fallback=(80, 24)).columns or 80


def format_eta(seconds):
    """Keras's ETA: '5s', '2:05', '1:02:05'."""
    if seconds > 3600:
        return "%d:%02d:%02d" % (seconds // 3600, (seconds % 3600) // 60, seconds % 60)
    if seconds > 60:
        return "%d:%02d" % (seconds // 60, seconds % 60)
    return "%ds" % seconds


def format_logs(logs):
    """'k: v' pairs with 4 decimals; a metric whose result is an array (F1Score(average=None), several
    thresholds) shows its mean, as Keras's Progbar."""
    return " - ".join(f"{k}: {float(np.mean(v)):.4f}" for k, v in logs.items())


def _per_step(seconds, steps):
    per = seconds / max(steps, 1)
    if per >= 1:
        return f"{per:.0f}s/step"
    if per >= 1e-3:
        return f"{per * 1e3:.0f}ms/step"
    return f"{per * 1e6:.0f}us/step"


class ProgbarLogger(Callback):
    """Prints progress; `fit`, `evaluate` and `predict` add one for verbose=1 or 2."""

    chief_only = True

    def __init__(self, verbose=None):
        super().__init__()
        self._given_verbose = verbose
        self.verbose = 1 if verbose is None else verbose
        self.bar = None
        self._in_fit = False
        self._active = False
        self.target = None

    def set_params(self, params):
        super().set_params(params)
        self.target = params.get("steps")  # None: unknown, learned at the end of the first epoch (as Keras)
        if self._given_verbose is None:  # as Keras's ProgbarLogger(): follow fit/evaluate/predict's verbose
            verbose = params.get("verbose", 1)
            self.verbose = 1 if verbose == "auto" else verbose

    # ---- fit ---------------------------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._in_fit = True  # validation runs inside fit print nothing

    def on_epoch_begin(self, epoch, logs=None):
        epochs = self.params.get("epochs", 1)
        if epochs > 1:
            print(f"Epoch {epoch + 1}/{epochs}", file=sys.stdout, flush=True)
        self._start()

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    def on_train_end(self, logs=None):
        self._close()
        self._in_fit = False

    # ---- evaluate / predict ------------------------------------------------------------------------------

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._start()

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._start()

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)  # the outputs are not shown

    def on_predict_end(self, logs=None):
        self._finish(None)

    # ---- drawing -----------------------------------------------------------------------------------------

    def _start(self):
        self._close()
        self.steps = self.target
        self.start = time.perf_counter()
        self.last_refresh = 0.0
        self.seen = 0
        self._active = True
        if self.verbose == 1:
            self.bar = _Bar(total=self.steps, file=sys.stdout, ascii=" ━", ncols=terminal_columns(), leave=False,
                            bar_format=KNOWN_FORMAT if self.steps is not None else UNKNOWN_FORMAT)

    def _update(self, batch, logs):
        self.seen = batch + 1
        if self.bar is None:
            return
        now = time.perf_counter()
        if now - self.last_refresh >= REFRESH_SECONDS or (self.steps and self.seen >= self.steps):
            self.last_refresh = now
            elapsed = now - self.start
            if self.steps:
                clock = format_eta(elapsed / self.seen * max(self.steps - self.seen, 0))
            else:
                clock = f"{elapsed:.0f}s"
            postfix = f" {clock} {_per_step(elapsed, self.seen)}"
            if logs:
                postfix += " - " + format_logs(logs)
            self.bar.text = postfix
            self.bar.n = self.seen
            self.bar.ncols = terminal_columns()  # follows a resized terminal
            self.bar.refresh()

    def _finish(self, logs):
        if not self._active:
            return
        self._active = False
        if self.target is None:  # Keras: the steps seen become the total
            self.target = self.seen
        elapsed = time.perf_counter() - self.start
        metrics = f" - {format_logs(logs)}" if logs else ""
        if self.bar is not None:  # the bar gives way to the whole final line, which may wrap
            self._close()
            done = "━" * BAR_WIDTH
            print(f"{self.seen}/{self.seen} {done} {elapsed:.0f}s {_per_step(elapsed, self.seen)}{metrics}",
                  file=sys.stdout, flush=True)
        elif self.verbose == 2:
            steps = self.steps if self.steps is not None else self.seen
            print(f"{self.seen}/{steps} - {elapsed:.0f}s - {_per_step(elapsed, self.seen)}{metrics}", flush=True)

    def _close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
