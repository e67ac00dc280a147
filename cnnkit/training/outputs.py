"""compile's per-output arguments: a loss, loss weight or metric list for each of the model's outputs.

Keras accepts one value shared by every output, a list in output order, or a {output name: value} dict.

Example:
    >>> per_output({"age": "mse"}, ["class", "age"], "loss")
    [None, 'mse']
"""


def per_output(value, names, what):
    """One entry per model output from a single value (shared by all outputs), a list, or a {name: value} dict."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"compile: {what} names outputs {unknown} that the model does not have: {names}.")
        return [value.get(name) for name in names]
    if len(names) == 1:
        if what == "loss_weights" and isinstance(value, (list, tuple)) and len(value) != 1:  # Keras's words
            raise ValueError(f"`loss_weights` must match the number of losses, got 1 losses and {len(value)} "
                             "weights.")
        return [value[0] if isinstance(value, (list, tuple)) and what == "loss_weights" else value]
    if isinstance(value, (list, tuple)) and what != "metrics":
        if len(value) != len(names):
            raise ValueError(f"compile: {what} has {len(value)} entries for a model with {len(names)} outputs "
                             f"{names}.")
        return list(value)
    if what == "metrics" and value and all(isinstance(v, (list, tuple)) for v in value):
        return per_output(list(value), names, "metric lists")
    return [value] * len(names)


def metric_specs(metrics, names):
    """compile's `metrics` (or `weighted_metrics`) as one list of metric specs per output."""
    specs = per_output(metrics if isinstance(metrics, dict) else list(metrics or []), names, "metrics")
    return [list(m) if isinstance(m, (list, tuple)) else ([] if m is None else [m]) for m in specs]
