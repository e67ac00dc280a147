"""`MetricLogs`: the trainer's metric objects and the logs made from them (Keras 3's names and orders)."""

from cnnkit import metrics as metrics_module
from cnnkit.metrics.base import log_value


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
        self._loss_tracker = metrics_module.Mean(name="loss")
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

    def reset_metrics(self):
        if self._metrics is None:
            return
        for metric in [self._loss_tracker, *self._output_loss_trackers, *(m for _, m, _, _ in self._metrics)]:
            metric.reset_state()

    def _metric_logs(self):
        """The current results: loss, the per-output losses, then the metrics in compile order."""
        if self._metrics is None:
            return {}
        logs = {"loss": self._loss_tracker.result()}
        for tracker in self._output_loss_trackers:
            logs[tracker.name] = tracker.result()
        for _, metric, _, name in self._metrics:
            result = log_value(metric.result())  # a Keras-style metric may give a tensor, a Variable or a dict
            if isinstance(result, dict):
                logs.update(result)
            else:
                logs[name] = result
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

    def _logs_out(self, return_dict):
        if return_dict:
            return self._logs()
        values = self._results_in_order()
        return values[0] if len(values) == 1 else values
