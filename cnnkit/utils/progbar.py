"""`Progbar`: Keras's `keras.utils.Progbar`, a text progress bar for custom loops (the bar `fit` prints is
`cnnkit.training.callbacks`' own)."""

import math
import os
import sys
import time

import numpy as np


def _format_value(avg):
    return f" {avg:.4f}" if abs(avg) > 1e-3 else f" {avg:.4e}"


def _format_time(time_per_unit, unit_name):
    if time_per_unit >= 1 or time_per_unit == 0:
        return f" {time_per_unit:.0f}s/{unit_name}"
    if time_per_unit >= 1e-3:
        return f" {time_per_unit * 1e3:.0f}ms/{unit_name}"
    return f" {time_per_unit * 1e6:.0f}us/{unit_name}"


class Progbar:
    """Displays a progress bar, as Keras's: values named in `stateful_metrics` are shown as given, the others
    averaged over the steps seen (weighted by the steps each update covers).

    Args:
        target: total number of steps expected, None if unknown.
        width: the bar's width in characters.
        verbose: 0 (silent), 1 (a bar redrawn in place), 2 (one line when `target` is reached).
        interval: minimum seconds between redraws (verbose=1).
        stateful_metrics: names of values shown as is (not averaged); give this or `stateless_metrics`.
        stateless_metrics: names of values averaged (all others shown as is).
        unit_name: what a step is called ('step', 'sample').

    Example:
        >>> bar = Progbar(target=10, verbose=2)
        >>> for step in range(1, 11):
        ...     bar.update(step, values=[("loss", 1.0 / step)])
        10/10 - 0s - 2us/step - loss: 0.2929
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None, stateless_metrics=None,
                 unit_name="step"):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Only one of `stateful_metrics` or `stateless_metrics` can be provided. "
                             "`stateful_metrics` is used to make metrics stateless by default (with an exclusion "
                             "list), while `stateless_metrics` is used to make metrics stateful by default (with an "
                             "exclusion list).")
        if target is not None and (not isinstance(target, (int, np.integer)) or target < 0):
            raise ValueError(f"Progbar: target must be a non-negative int or None. Received: target={target!r}")
        if verbose not in (0, 1, 2):
            raise ValueError(f"Progbar: verbose must be 0, 1 or 2. Received: verbose={verbose!r}")
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        self.stateful_metrics = set(stateful_metrics or ()) if stateless_metrics is None else None
        self.stateless_metrics = None if stateless_metrics is None else set(stateless_metrics)
        self._dynamic_display = ((hasattr(sys.stdout, "isatty") and sys.stdout.isatty())
                                 or "ipykernel" in sys.modules or "posix" in sys.modules
                                 or "PYCHARM_HOSTED" in os.environ)
        self._seen_so_far = 0
        self._values = {}  # name -> [sum of value * steps, steps]
        self._values_order = []
        self._start = time.time()
        self._last_update = 0
        self._time_after_first_step = None
        self._prev_total_width = 0

    def _averaged(self, name):
        if self.stateful_metrics is not None:
            return name not in self.stateful_metrics
        return name in self.stateless_metrics

    def value(self, name):
        """The value the bar shows for `name` (the running average, or the latest value of a stateful one)."""
        total, count = self._values[name]
        if not isinstance(total, float):
            total = np.mean(total)
        return total / max(1, count)

    def update(self, current, values=None, finalize=None):
        """Moves the bar to step `current`.

        Args:
            current: the index of the current step.
            values: list of (name, value_for_last_step) pairs.
            finalize: whether this is the last update; default `current >= target`.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or []:
            if name not in self._values_order:
                self._values_order.append(name)
            if self._averaged(name) and not finalize:
                base = max(current - self._seen_so_far, 1)
                if name not in self._values:
                    self._values[name] = [value * base, base]
                else:
                    self._values[name][0] += value * base
                    self._values[name][1] += base
            else:
                self._values[name] = [value, 1]
        self._seen_so_far = current
        now = time.time()
        time_per_unit = self._step_duration(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._draw(current, now, time_per_unit, finalize)
        elif self.verbose == 2 and finalize and self.target:
            digits = int(math.log10(self.target)) + 1
            info = f"{current:{digits}d}/{self.target} - {now - self._start:.0f}s"
            info += f" -{_format_time(time_per_unit, self.unit_name)}"
            for name in self._values_order:
                avg = self.value(name)  # Keras's one-line form compares the signed value (not its magnitude)
                info += f" - {name}:" + (f" {avg:.4f}" if avg > 1e-3 else f" {avg:.4e}")
            sys.stdout.write(info + "\n")
            sys.stdout.flush()
        self._last_update = now

    def _draw(self, current, now, time_per_unit, finalize):
        message = ("\b" * self._prev_total_width + "\r") if self._dynamic_display else "\n"
        special = 0
        if self.target:
            digits = int(math.log10(self.target)) + 1
            bar = f"\x1b[1m{current:{digits}d}/{self.target}\x1b[0m "
            special += 8
            filled = int(self.width * float(current) / self.target)
            if filled > 0:
                bar += f"\33[32m{'━' * filled}\x1b[0m"
                special += 9
            bar += f"\33[37m{'━' * (self.width - filled)}\x1b[0m"
            special += 9
        else:
            bar = f"{current:7d}/Unknown"
        if self.target and not finalize:
            eta = time_per_unit * (self.target - current)
            if eta > 3600:
                eta_text = f"{int(eta // 3600)}:{int((eta % 3600) // 60):02d}:{int(eta % 60):02d}"
            elif eta > 60:
                eta_text = f"{int(eta // 60)}:{int(eta % 60):02d}"
            else:
                eta_text = f"{int(eta)}s"
            info = f" \x1b[1m{eta_text}\x1b[0m"
        else:
            info = f" \x1b[1m{now - self._start:.0f}s\x1b[0m"
        special += 8
        info += _format_time(time_per_unit, self.unit_name)
        for name in self._values_order:
            info += f" - {name}:{_format_value(self.value(name))}"
        total_width = len(bar) + len(info) - special
        message += bar + info + " " * max(0, self._prev_total_width - total_width)
        if finalize:
            message += "\n"
        sys.stdout.write(message)
        sys.stdout.flush()
        self._prev_total_width = total_width

    def add(self, n, values=None):
        """Advances the bar by `n` steps."""
        self.update(self._seen_so_far + n, values)

    def _step_duration(self, current, now):
        """Seconds per step, leaving out the first step once there are more."""
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_unit
