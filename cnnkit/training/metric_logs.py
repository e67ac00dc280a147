"""`MetricLogs`: the trainer's metric objects and the logs made from them (Keras 3's names and orders)."""

import torch

from cnnkit import metrics as metrics_module
from cnnkit.metrics.base import log_value
from cnnkit.ops.logits import carry_logits
from cnnkit.training import custom_steps


def _add_result(logs, name, result):
    """Puts a metric's `result()` into `logs` under `name` as the logs hold it (`log_value`); a dict result (Keras
    lets `result()` return one) is merged in item by item."""
    result = log_value(result)
    if isinstance(result, dict):
        logs.update(result)
    else:
        logs[name] = result


class MetricLogs:
    """Builds the compiled metrics on the first batch and turns their results into Keras's logs and lists.

    Mixed into `Trainer`; uses its `_metric_specs`, `_weighted_specs` and `_output_names()`.
    """

    def _build_metrics(self, ys, outputs):
        """Creates the metric objects (on the first batch, when the label and output shapes are known).

        Log names follow Keras 3: a metric's own name ('accuracy', 'acc', 'mae', ...); with several outputs
        '<output>_<name>'; a weighted metric whose name is taken gets 'weighted_' before its name; any other
        repeat gets '_1', '_2', ...
        """
        names = self._output_names()
        multi = len(names) > 1
        self.loss_tracker()  # kept if a custom train_step already updated it
        self._output_loss_trackers = [metrics_module.Mean(name=f"{n}_loss") for n in names] if multi else []
        self._metrics = []  # (output index, metric, weighted by sample_weight, log name)
        taken = {}
        for weighted, all_specs in ((False, self._metric_specs), (True, self._weighted_specs)):
            for index, (specs, y, out) in enumerate(zip(all_specs, ys, outputs)):
                prefix = f"{names[index]}_" if multi else ""
                for spec in specs:
                    metric = metrics_module.get(spec, tuple(y.shape), tuple(out.shape))
                    name = prefix + metric.name
                    if name in taken and weighted:
                        name = f"{prefix}weighted_{metric.name}"
                    if name in taken:
                        taken[name] += 1
                        name = f"{name}_{taken[name] - 1}"
                    taken.setdefault(name, 1)
                    self._metrics.append((index, metric, weighted, name))

    def compiled_metric(self, name):
        """The metric object logged as `name` ('loss', 'accuracy', '<output>_precision', ...; a metric's own name
        too), or None before the metrics are built (on the first batch) or when no compiled metric has that name."""
        if getattr(self, "_metrics", None) is None:
            return None
        for tracker in (self._loss_tracker, *self._output_loss_trackers):
            if name == tracker.name:
                return tracker
        for _, metric, _, log_name in self._metrics:
            if name in (metric.name, log_name):
                return metric
        return None

    def loss_tracker(self):
        """The Mean metric named 'loss' (`model.metrics[0]`), made on first use."""
        if getattr(self, "_loss_tracker", None) is None:
            self._loss_tracker = metrics_module.Mean(name="loss")
        return self._loss_tracker

    def _own_trackers(self):
        return [getattr(self, "_loss_tracker", None), *getattr(self, "_output_loss_trackers", ())]

    @property
    def metrics(self):
        """Keras 3's `model.metrics`: once compiled, the loss tracker ('loss') and the compiled metrics as one
        `CompileMetrics` object ('compile_metrics'), the per-output loss trackers (several outputs), then the
        Metric objects held as the model's attributes (a custom train_step's trackers), in assignment order."""
        found = []
        if getattr(self, "compiled", False):
            found.append(self.loss_tracker())
            if any(self._metric_specs) or any(self._weighted_specs):  # Keras: only when compile was given metrics
                found.append(custom_steps.CompileMetrics(self))
            found += list(getattr(self, "_output_loss_trackers", None) or [])
        return found + custom_steps.attribute_metrics(self, self._own_trackers())

    def get_metrics_result(self):
        """Keras's: every metric of `model.metrics` by name (a dict result merged in), as Python floats."""
        logs = {}
        for metric in self.metrics:
            _add_result(logs, metric.name, metric.result())
        return custom_steps.pythonify_logs(logs)

    def compiled_metric_objects(self):
        """The compiled metric objects (empty before they are built on the first batch)."""
        return [metric for _, metric, _, _ in getattr(self, "_metrics", None) or []]

    def compiled_metric_results(self):
        """{log name: result} of the compiled metrics (`CompileMetrics.result()`)."""
        logs = {}
        for _, metric, _, name in getattr(self, "_metrics", None) or []:
            _add_result(logs, name, metric.result())
        return logs

    def update_compiled_metrics(self, y, y_pred, sample_weight=None):
        """Updates the compiled metrics with a batch's labels and outputs (Keras layout; lists for several outputs),
        building them on the first call; `CompileMetrics.update_state`."""
        ys = list(y) if isinstance(y, (list, tuple)) else [y]
        outputs = list(y_pred) if isinstance(y_pred, (list, tuple)) else [y_pred]
        if getattr(self, "_metrics", None) is None:
            self._build_metrics(ys, outputs)
        detached = [carry_logits(o.detach(), o, torch.Tensor.detach) for o in outputs]  # metrics see the logits too
        with torch.no_grad():
            for index, metric, weighted, _ in self._metrics:
                metric.update_state(ys[index], detached[index], sample_weight if weighted else None)

    def reset_metrics(self):
        """Resets every metric of `model.metrics` (the compiled ones and a custom step's own)."""
        for metric in [*self._own_trackers(), *self.compiled_metric_objects(), *self.metrics]:
            if metric is not None:
                metric.reset_state()

    def _metric_logs(self):
        """The current results: loss, the per-output losses, then the metrics in compile order."""
        if self._metrics is None:
            return {}
        logs = {"loss": self._loss_tracker.result()}
        for tracker in self._output_loss_trackers:
            logs[tracker.name] = tracker.result()
        logs.update(self.compiled_metric_results())  # a Keras-style metric may give a tensor, a Variable or a dict
        for metric in custom_steps.attribute_metrics(self, self._own_trackers()):  # Keras logs them too
            _add_result(logs, metric.name, metric.result())
        return logs

    def _logs(self):
        """The current results as Keras 3 hands them to callbacks and History: keys in sorted order."""
        return dict(sorted(self._metric_logs().items()))

    def _results_in_order(self):
        """evaluate()'s list, in Keras 3's order: loss, the per-output losses, the metrics in compile order for
        one output; with several outputs Keras lists the (output-prefixed) metrics sorted by name."""
        logs = self._metric_logs()
        if not self._output_loss_trackers:
            return list(logs.values())
        first = ["loss", *(t.name for t in self._output_loss_trackers)]
        return [logs[k] for k in first] + [logs[k] for k in sorted(logs) if k not in first]

    @property
    def metrics_names(self):
        if getattr(self, "_metrics", None) is None:
            return ["loss"]
        return ["loss", *(t.name for t in self._output_loss_trackers), *(name for *_, name in self._metrics)]

    def _run_logs_out(self, run, return_dict):
        """What evaluate / train_on_batch / test_on_batch return after `run` (a `custom_steps.StepRunner`): as
        `_logs_out` for cnnkit's own step; for an override, its logs as a dict or in the order of `model.metrics`."""
        if not run.custom:
            return self._logs_out(return_dict)
        logs = run.logs()
        return logs if return_dict else custom_steps.flatten_in_order(self, logs)

    def _logs_out(self, return_dict):
        if return_dict:
            return self._logs()
        values = self._results_in_order()
        return values[0] if len(values) == 1 else values
