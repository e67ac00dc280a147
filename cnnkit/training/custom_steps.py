"""A model's own `train_step(data)` / `test_step(data)` (Keras's "customizing what happens in fit()"), run by
`fit`, `evaluate` and the `*_on_batch` methods.

A subclass of `cnnkit.Model` may override `train_step(self, data)` and `test_step(self, data)` as in Keras 3 (the
PyTorch-backend guide's code runs unchanged): `data` is what the data gives for a batch, `(x, y)` or
`(x, y, sample_weight)` (or `(x,)` without labels), as torch tensors on the model's device, and the step returns
a dict of logs. Inside, the model's Keras 3 API is available: `self(x, training=True)`, `self.zero_grad()`,
`self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)`, `self.optimizer.apply(gradients,
self.trainable_weights)` (a weight's `.value` is the weight itself, so `v.value.grad` is its gradient),
`self.metrics` (the loss tracker named 'loss', the compiled metrics as one 'compile_metrics' object whose
`result()` is a dict, then metrics the model holds as attributes) and `self.get_metrics_result()`.

As in Keras: a returned dict may nest dicts (flattened into the logs) and hold tensors (read as floats); metrics
are reset at the start of every epoch and evaluation; an epoch's logs are `get_metrics_result()` when its keys
are those of the last step's logs, else the last step's logs; `compile()` needs no loss for such a model.

Example:
    >>> class MyModel(cnnkit.Model):
    ...     def train_step(self, data):
    ...         x, y = data
    ...         self.zero_grad()
    ...         y_pred = self(x, training=True)
    ...         loss = self.compute_loss(y=y, y_pred=y_pred)
    ...         loss.backward()
    ...         with torch.no_grad():
    ...             self.optimizer.apply([v.value.grad for v in self.trainable_weights], self.trainable_weights)
    ...         for metric in self.metrics:
    ...             metric.update_state(loss) if metric.name == "loss" else metric.update_state(y, y_pred)
    ...         return {m.name: m.result() for m in self.metrics}
"""

from cnnkit.metrics.base import Metric
from cnnkit.metrics.base import log_value
from cnnkit.training.callbacks.callback import LazyLogs


def pack(x, y, sample_weight):
    """Keras's `pack_x_y_sample_weight`: (x,), (x, y) or (x, y, sample_weight)."""
    if y is None:
        return (x,)
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def pythonify_logs(logs):
    """A step's returned logs as Keras hands them on: nested dicts flattened, tensors and numbers as floats (values
    that are neither kept as they are), keys sorted."""
    result = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            result.update(pythonify_logs(value))
            continue
        value = log_value(value)  # a scalar tensor or Variable as a float, an array as a float32 array
        try:
            result[key] = float(value)
        except (TypeError, ValueError):
            result[key] = value
    return result


class CompileMetrics:
    """The metrics given to `compile` as one object, as Keras's `CompileMetrics` (named 'compile_metrics', the
    second entry of `model.metrics`): `update_state(y, y_pred, sample_weight=None)` updates all of them (building
    them from the shapes on the first call), `result()` is a {log name: value} dict."""

    name = "compile_metrics"

    def __init__(self, model):
        self._model = model

    @property
    def metrics(self):
        """The metric objects (empty before the first update)."""
        return self._model.compiled_metric_objects()

    def update_state(self, y, y_pred, sample_weight=None):
        self._model.update_compiled_metrics(y, y_pred, sample_weight)

    def result(self):
        return self._model.compiled_metric_results()

    def reset_state(self):
        for metric in self.metrics:
            metric.reset_state()


def attribute_metrics(model, own):
    """The Metric objects held as the model's attributes, in assignment order (Keras tracks them), except `own`
    (the trainer's loss trackers)."""
    skip = {id(m) for m in own}
    return [value for value in vars(model).values() if isinstance(value, Metric) and id(value) not in skip]


def flatten_in_order(model, logs):
    """Keras's `_flatten_metrics_in_order`: the values of `logs` in the order of `model.metrics` (a compile-metrics
    object contributing its metrics' names), then the other keys sorted; one value alone is returned bare."""
    names = []
    for metric in model.metrics:
        if isinstance(metric, CompileMetrics):
            names += list(metric.result())
        else:
            names.append(metric.name)
    results = [logs[name] for name in names if name in logs]
    results += [logs[key] for key in sorted(logs) if key not in names]
    return results[0] if len(results) == 1 else results


class StepRunner:
    """Runs one batch for `fit` / `evaluate`: cnnkit's own step, or the model's `train_step` / `test_step` override
    on packed data.

    Args:
        step: the bound override (`model.train_step` or `model.test_step`), or None for cnnkit's own step.
        default: cnnkit's own step, a callable (x, y, sample_weight).
        logs: the trainer's logs of its own step (a callable), read lazily per batch.
        metrics_result: the model's `get_metrics_result`.
    """

    def __init__(self, step, default, logs, metrics_result):
        self.step, self.default, self.own_logs, self.metrics_result = step, default, logs, metrics_result
        self.last = {}

    @property
    def custom(self):
        return self.step is not None

    def __call__(self, x, y, sample_weight):
        """Runs the batch; returns its logs (for the batch callbacks)."""
        if self.step is None:
            self.default(x, y, sample_weight)
            return LazyLogs(self.own_logs)
        self.last = pythonify_logs(self.step(pack(x, y, sample_weight)))
        return dict(self.last)

    def logs(self):
        """The logs after the last batch (an epoch's or an evaluation's), as Keras: the metrics' results, or the last
        step's own logs when their keys differ."""
        if self.step is None:
            return self.own_logs()
        results = self.metrics_result()
        return results if set(results) == set(self.last) else dict(self.last)
