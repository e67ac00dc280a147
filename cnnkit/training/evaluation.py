"""`EvaluationMethods`: `evaluate` and `predict` on the trainer (inference mode, no weight updates)."""

import numpy as np
import torch

from cnnkit import config
from cnnkit.registry import check_kwargs
from cnnkit.training import checks
from cnnkit.training import data_adapter
from cnnkit.training import precision
from cnnkit.training import strategies


class EvaluationMethods:
    """Keras's `evaluate` and `predict`, and the evaluation pass `fit` runs on its validation data. Mixed into
    `Trainer`; uses its `_conform`, `_labels`, `_forward`, `_loss_and_track`, `_to_device` and callbacks."""

    def test_step(self, data):
        """Keras's `test_step`: the loss and metrics of a batch `data` ((x, y) or (x, y, sample_weight) on the
        device) in inference mode; returns the logs. Override it to customise `evaluate` and validation."""
        self._test_batch(*data_adapter.unpack(data))
        return self._logs()

    def _test_batch(self, x, y, sample_weight=None):
        """cnnkit's own evaluation step on a batch (already on the device); the metrics are updated."""
        outputs = self._forward(x, training=False)
        self._loss_and_track(y, outputs, sample_weight)

    def _run_evaluation(self, data, device, callbacks, strategy, run=None):
        """One pass over `data` in inference mode with the test hooks, each batch through `run` (default: a new
        `custom_steps.StepRunner`); returns the logs (sorted keys)."""
        run = run or self._step_runner("test")
        self.reset_metrics()
        was_training = self.training
        self.eval()
        callbacks.on_test_begin()
        step = -1
        for step, (bx, by, bsw) in enumerate(data.epoch()):
            callbacks.on_test_batch_begin(step)
            with torch.inference_mode():
                logs = run(*self._to_device(bx, by, bsw, device))
            callbacks.on_test_batch_end(step, logs)
        self.train(was_training)
        if step < 0:
            raise checks.no_batch("the data", "evaluate")
        strategy.reduce_metrics(self)
        logs = run.logs()
        callbacks.on_test_end(logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        """Loss and metrics over the data, in inference mode: `steps` batches, or (steps=None) the whole data,
        also when its length is unknown (an infinite dataset needs `steps`).

        Returns:
            The loss (no metrics), else [loss, *per-output losses, *metrics] (Keras's order), or with
            return_dict=True a {name: value} dict.
        """
        check_kwargs("evaluate()", kwargs, ("x", "y", "batch_size", "verbose", "sample_weight", "steps",
                                                "callbacks", "return_dict"))
        self._require_compiled("evaluate")
        verbose = checks.verbose(verbose)
        data = data_adapter.make(self._conform(x), self._labels(y), sample_weight, batch_size, False, steps)
        checks.not_empty(data, "x", "evaluate")
        checks.labels_once(self, data)
        device = self._prepare_device()
        strategy = strategies.for_environment()
        data = strategy.shard(data, self)
        run = self._step_runner("test")
        self._run_evaluation(data, device, self._callback_list(callbacks, verbose, 1, data.steps, strategy), strategy,
                             run)
        return self._run_logs_out(run, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for `x` (arrays, or an iterator/DataLoader whose batches hold x first), in inference mode: `steps`
        batches, or (steps=None) the whole data, also when its length is unknown (an infinite dataset needs `steps`).

        Returns:
            A numpy array of shape (samples, *output_shape[1:]), or a list of them for several outputs.
        """
        verbose = checks.verbose(verbose)
        data = data_adapter.make(self._conform(x), None, None, batch_size, False, steps, what="x", every_row=True)
        device = self._device() if self.built and any(True for _ in self.parameters()) else config.get_device()
        if device.type == "cpu":
            config.reuse_large_allocations()
        callback_list = self._callback_list(callbacks, verbose, 1, data.steps,
                                            strategies.for_environment(collective=False))
        chunks = None
        was_training = self.training
        self.eval()
        callback_list.on_predict_begin()
        for step, (bx, _, _) in enumerate(data.epoch()):
            callback_list.on_predict_batch_begin(step)
            with torch.inference_mode():
                bx, _, _ = self._to_device(bx, None, None, device)
                outputs = [precision.to_numpy(o) for o in self._forward(bx, training=False)]
            if chunks is None:
                chunks = [[] for _ in outputs]
            for chunk, output in zip(chunks, outputs):
                chunk.append(output)
            callback_list.on_predict_batch_end(step, {"outputs": outputs if len(outputs) > 1 else outputs[0]})
        callback_list.on_predict_end()
        self.train(was_training)
        if chunks is None:
            raise ValueError("predict: x has no samples.")
        results = [np.concatenate(c) for c in chunks]
        return results if len(results) > 1 else results[0]
