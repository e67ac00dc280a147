"""The learning-rate range test (Leslie Smith, 2015; fastai's `lr_find`): train for a few steps while the learning
rate grows exponentially, record the loss of each step, and suggest a learning rate where the loss falls fastest.

It runs on a copy of the compiled model, so the model's weights and optimizer state are untouched.

Example:
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> found = lr_find(model, x_train, y_train, batch_size=32)
    >>> found.suggestion          # e.g. 0.0021
    >>> found.plot("lr_find.png")  # loss against learning rate (log scale), the suggestion marked
"""

import copy
import dataclasses
import math

import numpy as np

from cnnkit.ops.arguments import is_int
from cnnkit.ops.arguments import is_real


@dataclasses.dataclass
class LRFinderResult:
    """What `lr_find` measured.

    Attributes:
        learning_rates: the learning rate of each step (growing exponentially).
        losses: each step's training loss (the batch's loss before its update).
        smoothed: the losses smoothed by an exponential moving average (bias-corrected), what the suggestion uses.
        suggestion: the learning rate where the smoothed loss falls fastest (steepest negative slope against
            log(learning rate)) before its minimum.
        min_loss_learning_rate: the learning rate of the smallest smoothed loss (a tenth of it is another common
            choice).
    """

    learning_rates: list
    losses: list
    smoothed: list
    suggestion: float
    min_loss_learning_rate: float

    def plot(self, path=None):
        """Loss against learning rate (log scale) with the suggestion marked; needs matplotlib."""
        from cnnkit.visualization.history import plot_lr_find  # noqa: PLC0415 (matplotlib: optional)

        return plot_lr_find(self, path=path)


def _batches(x, y, batch_size):
    """Endless (x, y) batches: from arrays (shuffled each pass) or from a Keras-style iterator / iterable."""
    if y is not None or isinstance(x, np.ndarray):
        x, y = np.asarray(x), None if y is None else np.asarray(y)
        if y is None or len(x) != len(y):
            raise ValueError(f"lr_find: x and y must be arrays of the same length. Received: {len(x)} images and "
                             f"{None if y is None else len(y)} labels")
        rng = np.random.default_rng(0)
        while True:
            order = rng.permutation(len(x))
            for start in range(0, len(x), batch_size):
                take = order[start:start + batch_size]
                yield x[take], y[take]
    while True:
        count = 0
        for batch in x:
            count += 1
            yield batch[0], batch[1]
        if not count:
            raise ValueError("lr_find: the data gave no batches.")


def _suggest(rates, smoothed):
    lowest = int(np.argmin(smoothed))
    if lowest < 2:
        return rates[lowest], rates[lowest]
    slopes = np.gradient(np.asarray(smoothed[:lowest + 1]), np.log(rates[:lowest + 1]))
    return float(rates[int(np.argmin(slopes))]), float(rates[lowest])


def lr_find(model, x, y=None, batch_size=32, start_lr=1e-7, end_lr=10.0, steps=100, diverge=4.0, beta=0.98):
    """The learning-rate range test on a compiled model.

    Args:
        model: a compiled model (its optimizer and loss are used; the model itself is not changed).
        x: images (numpy array, with `y`), or a Keras-style iterator / iterable of (x, y) batches (a folder
            iterator, a `cnnkit.data.Dataset`).
        y: labels when `x` is an array.
        batch_size: batch size for arrays.
        start_lr, end_lr: the learning rates of the first and the last step.
        steps: how many training steps (the learning rate grows by (end_lr / start_lr) ** (1 / (steps - 1)) each).
        diverge: stop early when the smoothed loss exceeds this multiple of its minimum.
        beta: smoothing of the loss (exponential moving average).

    Returns:
        An `LRFinderResult`: learning rates, losses, the suggestion; `.plot()` draws the curve.

    Raises:
        ValueError: the model is not compiled, or an argument is out of range.
    """
    if getattr(model, "optimizer", None) is None:
        raise ValueError("lr_find: compile the model first (model.compile(optimizer=..., loss=...)).")
    if not is_int(steps) or steps < 2:
        raise ValueError(f"lr_find: steps must be an int >= 2. Received: steps={steps!r}")
    if not (is_real(start_lr) and is_real(end_lr) and 0 < start_lr < end_lr):
        raise ValueError(f"lr_find: need 0 < start_lr < end_lr. Received: start_lr={start_lr!r}, end_lr={end_lr!r}")
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"lr_find: batch_size must be a positive int. Received: batch_size={batch_size!r}")
    trial = copy.deepcopy(model)  # the model, its optimizer state and metrics stay as they are
    factor = (end_lr / start_lr) ** (1 / (steps - 1))
    rates, losses, smoothed = [], [], []
    average = 0.0
    batches = _batches(x, y, int(batch_size))
    for step in range(steps):
        rate = start_lr * factor ** step
        trial.optimizer.learning_rate = rate
        xb, yb = next(batches)
        logs = trial.train_on_batch(xb, yb, return_dict=True)
        loss = float(logs["loss"])
        if not math.isfinite(loss):
            break
        average = beta * average + (1 - beta) * loss
        rates.append(rate)
        losses.append(loss)
        smoothed.append(average / (1 - beta ** (step + 1)))
        if step > 0 and smoothed[-1] > diverge * min(smoothed):
            break
    if len(rates) < 2:
        raise ValueError(f"lr_find: the loss was not finite from the first steps (learning rate {start_lr:g}); try "
                         "a smaller start_lr.")
    suggestion, lowest = _suggest(rates, smoothed)
    return LRFinderResult(rates, losses, smoothed, suggestion, lowest)
