"""ProgbarLogger: Keras's progress display, drawn with tqdm.

verbose=1: a bar per epoch with step count, elapsed time and time per step, and the running metrics (read at most
a few times a second, so the display costs no per-step device syncs). verbose=2: one line per epoch.
"""

import sys
import time

from tqdm.auto import tqdm

from cnnkit.training.callbacks.callback import Callback

REFRESH_SECONDS = 0.25


def format_logs(logs):
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


def _per_step(seconds, steps):
    per = seconds / max(steps, 1)
    return f"{per * 1000:.0f}ms/step" if per < 1 else f"{per:.1f}s/step"


class ProgbarLogger(Callback):
    """Prints training progress; created by `fit` for verbose=1 or 2."""

    def __init__(self, verbose=1):
        super().__init__()
        self.verbose = verbose
        self.bar = None

    def on_epoch_begin(self, epoch, logs=None):
        epochs = self.params.get("epochs", 1)
        self.steps = self.params.get("steps")
        self.start = time.perf_counter()
        self.last_refresh = 0.0
        self.seen = 0
        if self.verbose == 1:
            print(f"Epoch {epoch + 1}/{epochs}", file=sys.stdout, flush=True)
            self.bar = tqdm(total=self.steps, file=sys.stdout, ascii=" ━", dynamic_ncols=True, leave=True,
                            bar_format="{n_fmt}/{total_fmt} {bar:20} {elapsed}{postfix}")

    def on_train_batch_end(self, batch, logs=None):
        self.seen = batch + 1
        if self.bar is None:
            return
        now = time.perf_counter()
        if now - self.last_refresh >= REFRESH_SECONDS or (self.steps and self.seen >= self.steps):
            self.last_refresh = now
            postfix = _per_step(now - self.start, self.seen)
            if logs:
                postfix += " - " + format_logs(logs)
            self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.n = self.seen
            self.bar.refresh()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self.start
        text = f"{elapsed:.0f}s {_per_step(elapsed, self.seen)}" + (f" - {format_logs(logs)}" if logs else "")
        if self.bar is not None:
            self.bar.n = self.seen
            self.bar.set_postfix_str(text.split(" ", 1)[1], refresh=False)
            self.bar.close()
            self.bar = None
        elif self.verbose == 2:
            epochs = self.params.get("epochs", 1)
            print(f"Epoch {epoch + 1}/{epochs}\n{self.seen}/{self.steps} - {text}", flush=True)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
