"""Learning curves: `plot_history(history)` draws each logged quantity with its `val_` twin, per epoch;
`plot_lr_find(result)` the learning-rate finder's loss curve."""

import math

import numpy as np

from cnnkit.registry import did_you_mean
from cnnkit.visualization import _mpl


def _history_dict(history):
    """The {name: [value per epoch]} dict of a History (cnnkit's or Keras's) or of a plain dict."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise TypeError("plot_history expects a History (what fit returns) or its .history dict. Received: "
                        f"{type(history).__name__}")
    return {str(key): np.asarray(values, dtype=np.float64).reshape(-1) for key, values in logs.items()}


def _quantities(logs, metrics):
    """The panel names: 'loss' first, then the other metrics in logged order (a val_-only key gets its own)."""
    if metrics is None:
        names = []
        for key in logs:
            base = key[4:] if key.startswith("val_") else key
            if base not in names:
                names.append(base)
        return sorted(names, key=lambda name: name != "loss")
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names:
        raise ValueError("plot_history: metrics is empty; give metric names or None (every logged quantity).")
    available = sorted({key[4:] if key.startswith("val_") else key for key in logs})
    chosen = []
    for name in names:
        base = name[4:] if isinstance(name, str) and name.startswith("val_") and name[4:] in available else name
        if base not in available:
            raise ValueError(f"plot_history: the history has no metric '{name}'.{did_you_mean(name, available)} "
                             f"Logged: {available}.")
        if base not in chosen:
            chosen.append(base)
    return chosen


def _validation_epochs(n_train, n_val):
    """Epoch numbers of the validation values: every epoch, or every k-th (`validation_freq=k`) when fewer."""
    if n_train == 0 or n_val == n_train:
        return np.arange(1, n_val + 1)
    if n_val < n_train and n_train % n_val == 0:
        step = n_train // n_val
        return np.arange(step, n_train + 1, step)
    return np.arange(1, n_val + 1)


def plot_history(history, metrics=None, path=None, to_file=None):
    """Plots learning curves: one panel per quantity, training and validation values per epoch.

    Args:
        history: the `History` returned by `fit` (cnnkit's or Keras's), or its `.history` dict.
        metrics: a metric name or list of names to plot (with or without 'val_'); None plots every logged
            quantity, loss first.
        path: file to save the figure to ('.png', '.svg', '.pdf'; parent folders are created), or None.
        to_file: alias of `path`.

    Returns:
        The matplotlib Figure: one Axes per quantity, titled with its name, x = epoch 1..n, the training curve
        labelled 'training' and its `val_` twin 'validation'.

    Raises:
        ValueError: a metric the history does not have (with a suggestion), or an empty history.

    Example:
        >>> history = model.fit(x, y, epochs=5, validation_split=0.2)
        >>> fig = plot_history(history, path="curves.png")   # or history.plot()
    """
    logs = _history_dict(history)
    if not any(len(values) for values in logs.values()):
        raise ValueError("plot_history: the history is empty (fit has not run an epoch yet).")
    names = _quantities(logs, metrics)
    plt = _mpl.pyplot()
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415 (matplotlib is imported on demand)

    cols = min(len(names), 3)
    rows = math.ceil(len(names) / cols)
    fig = plt.figure(figsize=(4.5 * cols, 3.5 * rows))
    for index, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, index + 1)
        train, val = logs.get(name), logs.get("val_" + name)
        n_train = 0 if train is None else len(train)
        if train is not None:
            ax.plot(np.arange(1, n_train + 1), train, marker="o" if n_train < 30 else None, label="training")
        if val is not None:
            ax.plot(_validation_epochs(n_train, len(val)), val, marker="o" if len(val) < 30 else None,
                    label="validation")
        ax.set_title(name)
        ax.set_xlabel("Epoch")
        ax.set_ylabel(name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _mpl.finish(fig, path, to_file)


def plot_lr_find(result, path=None, to_file=None):
    """Draws a learning-rate range test (`cnnkit.training.lr_finder.lr_find`): the loss of each step and its
    smoothed curve against the learning rate (log scale), with the suggested learning rate marked.

    Args:
        result: an `LRFinderResult`.
        path: file to save the figure to, or None. to_file: alias of `path`.

    Returns:
        The matplotlib Figure (one Axes; the suggestion is the vertical line labelled 'suggestion').

    Example:
        >>> plot_lr_find(lr_find(model, x, y), path="lr_find.png")
    """
    plt = _mpl.pyplot()
    fig = plt.figure(figsize=(6.0, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(result.learning_rates, result.losses, alpha=0.35, label="loss")
    ax.plot(result.learning_rates, result.smoothed, label="smoothed")
    ax.axvline(result.suggestion, color="tab:red", linestyle="--", label=f"suggestion {result.suggestion:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("Learning rate")
    ax.set_ylabel("Loss")
    ax.set_title("Learning-rate finder")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _mpl.finish(fig, path, to_file)
